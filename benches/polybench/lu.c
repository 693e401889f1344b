/* lu: LU decomposition in place, no pivoting (PolyBench/C 4.2
 * linear-algebra/solvers). Right-looking: at step k every row i > k divides
 * its column-k element by the pivot and updates its row, in parallel. Each
 * element gets the same subtractions in the same order (k ascending) and
 * the same division as in the sequential row-by-row loop, so the result
 * equals it bit for bit. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define N PB_SIZE(40, 400, 2000)

/* step[0] = k: rows k+1 .. N-1 */
PB_KERNEL(lu_step, PB_BUF(const int32_t, st), PB_BUF(double, a))
{
    PB_2D(double, A, N, a);
    const int k = st[0];
    PB_ROWS(i, k + 1, N)
    {
        A[i][k] /= A[k][k];
        for (int j = k + 1; j < N; j++) A[i][j] -= A[i][k] * A[k][j];
    }
}

#if PB_HOST
enum { A_, NARR };
static pb_buf arrays[NARR] = {[A_] = PB_F64ARR("A", N * N, PB_RW)};

/* diagonally dominant: no pivoting needed */
static void init(pb_buf *x)
{
    PB_2D(double, A, N, x[A_].host);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) A[i][j] = (double)((i * j + 1) % N) / ((double)N * N);
        A[i][i] = 2.0 + (double)(i % 3) / 3;
    }
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int k = 0; k < N - 1; k++) {
        PB_SET_STEP(c, k, 0);
        PB_EXEC(c, lu_step, N - 1 - k, PB_STEPBUF(c), &x[A_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "lu", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
