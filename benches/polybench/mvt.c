/* mvt: x1 += A y1, x2 += A^T y2 (PolyBench/C 4.2 linear-algebra/kernels).
 * Two kernels, each parallel over its vector's elements. */
#define PB_BENCH_DATASET PB_DS_LARGE
#include "polybench.h"

#define N PB_SIZE(40, 400, 2000)

PB_KERNEL(mvt_x1, PB_BUF(double, x1), PB_BUF(const double, a), PB_BUF(const double, y1))
{
    PB_2D(const double, A, N, a);
    PB_ROWS(i, 0, N)
    for (int j = 0; j < N; j++) x1[i] = x1[i] + A[i][j] * y1[j];
}

PB_KERNEL(mvt_x2, PB_BUF(double, x2), PB_BUF(const double, a), PB_BUF(const double, y2))
{
    PB_2D(const double, A, N, a);
    PB_ROWS(i, 0, N)
    for (int j = 0; j < N; j++) x2[i] = x2[i] + A[j][i] * y2[j];
}

#if PB_HOST
enum { X1_, X2_, A_, Y1_, Y2_, NARR };
static pb_buf arrays[NARR] = {
    [X1_] = PB_F64ARR("x1", N, PB_RW), [X2_] = PB_F64ARR("x2", N, PB_RW),
    [A_] = PB_F64ARR("A", N * N, PB_RO), [Y1_] = PB_F64ARR("y1", N, PB_RO),
    [Y2_] = PB_F64ARR("y2", N, PB_RO),
};

static void init(pb_buf *b)
{
    PB_2D(double, A, N, b[A_].host);
    double *x1 = b[X1_].host, *x2 = b[X2_].host, *y1 = b[Y1_].host, *y2 = b[Y2_].host;
    for (int i = 0; i < N; i++) {
        x1[i] = (double)(i % N) / N;
        x2[i] = (double)((i + 1) % N) / N;
        y1[i] = (double)((i + 3) % N) / N;
        y2[i] = (double)((i + 4) % N) / N;
        for (int j = 0; j < N; j++) A[i][j] = (double)(i * j % N) / N;
    }
}

static void run(pb_ctx *c, pb_buf *b)
{
    PB_EXEC(c, mvt_x1, N, &b[X1_], &b[A_], &b[Y1_]);
    PB_EXEC(c, mvt_x2, N, &b[X2_], &b[A_], &b[Y2_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "mvt", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
