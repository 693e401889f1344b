/* seidel-2d: 2-D Gauss-Seidel stencil, in place (PolyBench/C 4.2 stencils).
 * Every point reads its already-updated upper and left neighbours, so one
 * sweep is a chain through the whole grid: OpenMP versions leave it
 * sequential, and so does this one (one one-iteration kernel per time
 * step; a wavefront would need about 3N calls per step, see README.md). */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define TSTEPS PB_SIZE(20, 100, 500)
#define N PB_SIZE(40, 400, 2000)

PB_KERNEL(seidel_sweep, PB_BUF(double, ab))
{
    PB_2D(double, A, N, ab);
    if (pb_it != 0) return;
    for (int i = 1; i <= N - 2; i++)
        for (int j = 1; j <= N - 2; j++)
            A[i][j] = (A[i - 1][j - 1] + A[i - 1][j] + A[i - 1][j + 1] + A[i][j - 1] + A[i][j] +
                       A[i][j + 1] + A[i + 1][j - 1] + A[i + 1][j] + A[i + 1][j + 1]) /
                      9.0;
}

#if PB_HOST
enum { A_, NARR };
static pb_buf arrays[NARR] = {[A_] = PB_F64ARR("A", N * N, PB_RW)};

static void init(pb_buf *x)
{
    PB_2D(double, A, N, x[A_].host);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) A[i][j] = ((double)i * (j + 2) + 2) / N;
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int t = 0; t < TSTEPS; t++) PB_EXEC(c, seidel_sweep, 1, &x[A_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "seidel-2d", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
