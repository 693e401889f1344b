/* ludcmp: solve A x = b by LU decomposition (PolyBench/C 4.2
 * linear-algebra/solvers). The decomposition as in lu.c (right-looking, one
 * parallel kernel per pivot, same per-element order as the sequential
 * loop); the forward and backward substitutions are chains through every
 * element, sequential in OpenMP versions too: one one-iteration kernel. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define N PB_SIZE(40, 400, 2000)

PB_KERNEL(ludcmp_step, PB_BUF(const int32_t, st), PB_BUF(double, a))
{
    PB_2D(double, A, N, a);
    const int k = st[0];
    PB_ROWS(i, k + 1, N)
    {
        double w = A[i][k];
        A[i][k] = w / A[k][k];
        for (int j = k + 1; j < N; j++) A[i][j] -= A[i][k] * A[k][j];
    }
}

PB_KERNEL(ludcmp_solve, PB_BUF(double, x), PB_BUF(double, y), PB_BUF(const double, a),
          PB_BUF(const double, b))
{
    PB_2D(const double, A, N, a);
    if (pb_it != 0) return;
    for (int i = 0; i < N; i++) {
        double w = b[i];
        for (int j = 0; j < i; j++) w -= A[i][j] * y[j];
        y[i] = w;
    }
    for (int i = N - 1; i >= 0; i--) {
        double w = y[i];
        for (int j = i + 1; j < N; j++) w -= A[i][j] * x[j];
        x[i] = w / A[i][i];
    }
}

#if PB_HOST
enum { A_, X_, Y_, B_, NARR };
static pb_buf arrays[NARR] = {
    [A_] = PB_F64ARR("A", N * N, PB_RW), [X_] = PB_F64ARR("x", N, PB_RW),
    [Y_] = PB_F64ARR("y", N, PB_RW),     [B_] = PB_F64ARR("b", N, PB_RO),
};

static void init(pb_buf *v)
{
    PB_2D(double, A, N, v[A_].host);
    double *b = v[B_].host;
    const double fn = N;
    for (int i = 0; i < N; i++) {
        b[i] = (i + 1) / fn / 2.0 + 4;
        for (int j = 0; j < N; j++) A[i][j] = (double)((i * (j + 2) + 1) % N) / (fn * fn);
        A[i][i] = 1.5 + (double)(i % 4) / 4;
    }
    memset(v[X_].host, 0, v[X_].bytes);
    memset(v[Y_].host, 0, v[Y_].bytes);
}

static void run(pb_ctx *c, pb_buf *v)
{
    for (int k = 0; k < N - 1; k++) {
        PB_SET_STEP(c, k, 0);
        PB_EXEC(c, ludcmp_step, N - 1 - k, PB_STEPBUF(c), &v[A_]);
    }
    PB_EXEC(c, ludcmp_solve, 1, &v[X_], &v[Y_], &v[A_], &v[B_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "ludcmp", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
