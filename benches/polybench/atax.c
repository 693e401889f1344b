/* atax: y = A^T (A x) (PolyBench/C 4.2 linear-algebra/kernels).
 * tmp = A x parallel over the rows of A, y = A^T tmp parallel over y;
 * each y[j] adds its terms in the order of the sequential loop. */
#define PB_BENCH_DATASET PB_DS_LARGE
#include "polybench.h"

#define M PB_SIZE(38, 390, 1900)
#define N PB_SIZE(42, 410, 2100)

PB_KERNEL(atax_tmp, PB_BUF(double, tmp), PB_BUF(const double, a), PB_BUF(const double, x))
{
    PB_2D(const double, A, N, a);
    PB_ROWS(i, 0, M)
    {
        tmp[i] = 0.0;
        for (int j = 0; j < N; j++) tmp[i] = tmp[i] + A[i][j] * x[j];
    }
}

PB_KERNEL(atax_y, PB_BUF(double, y), PB_BUF(const double, a), PB_BUF(const double, tmp))
{
    PB_2D(const double, A, N, a);
    PB_ROWS(j, 0, N)
    {
        y[j] = 0.0;
        for (int i = 0; i < M; i++) y[j] = y[j] + A[i][j] * tmp[i];
    }
}

#if PB_HOST
enum { Y_, TMP_, A_, X_, NARR };
static pb_buf arrays[NARR] = {
    [Y_] = PB_F64ARR("y", N, PB_RW),
    [TMP_] = PB_F64ARR("tmp", M, PB_RW),
    [A_] = PB_F64ARR("A", M * N, PB_RO),
    [X_] = PB_F64ARR("x", N, PB_RO),
};

static void init(pb_buf *b)
{
    PB_2D(double, A, N, b[A_].host);
    double *x = b[X_].host;
    for (int i = 0; i < N; i++) x[i] = 1 + (i / (double)N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) A[i][j] = (double)((i + j) % N) / (5 * M);
    memset(b[Y_].host, 0, b[Y_].bytes);
    memset(b[TMP_].host, 0, b[TMP_].bytes);
}

static void run(pb_ctx *c, pb_buf *b)
{
    PB_EXEC(c, atax_tmp, M, &b[TMP_], &b[A_], &b[X_]);
    PB_EXEC(c, atax_y, N, &b[Y_], &b[A_], &b[TMP_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "atax", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
