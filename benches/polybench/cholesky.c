/* cholesky: A = L L^T in place, lower triangle (PolyBench/C 4.2
 * linear-algebra/solvers). Column-by-column: at step j every row i > j
 * finishes its element L[i][j] in parallel, subtracting the products in the
 * same order (k ascending) as the sequential row-by-row loop, so the result
 * is the sequential one bit for bit; the iteration of row j+1 then also
 * finishes that row's diagonal, which needs only row j+1 itself. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define N PB_SIZE(40, 400, 2000)

/* step[0] = j (-1 for the first diagonal): rows j+1 .. N-1 */
PB_KERNEL(cholesky_col, PB_BUF(const int32_t, st), PB_BUF(double, a))
{
    PB_2D(double, A, N, a);
    const int j = st[0];
    PB_ROWS(i, j + 1, N)
    {
        if (j >= 0) {
            for (int k = 0; k < j; k++) A[i][j] -= A[i][k] * A[j][k];
            A[i][j] /= A[j][j];
        }
        if (i == j + 1) {
            for (int k = 0; k < i; k++) A[i][i] -= A[i][k] * A[i][k];
            A[i][i] = PB_SQRT(A[i][i]);
        }
    }
}

#if PB_HOST
enum { A_, NARR };
static pb_buf arrays[NARR] = {[A_] = PB_F64ARR("A", N * N, PB_RW)};

/* symmetric and diagonally dominant, so positive definite */
static void init(pb_buf *x)
{
    PB_2D(double, A, N, x[A_].host);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) A[i][j] = (double)((i + j) % 7 + 1) / (7.0 * N);
        A[i][i] = 2.0 + (double)(i % 5) / 5;
    }
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int j = -1; j < N - 1; j++) {
        PB_SET_STEP(c, j, 0);
        PB_EXEC(c, cholesky_col, N - 1 - j, PB_STEPBUF(c), &x[A_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "cholesky", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
