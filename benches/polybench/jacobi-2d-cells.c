/* jacobi-2d-cells: jacobi-2d written GPU-style, one element per iteration
 * (PB_CELLS; not one of PolyBench's 30: a variant for issue 23's "one
 * element per iteration" target). Same arithmetic, same result as
 * jacobi-2d. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define TSTEPS PB_SIZE(20, 100, 500)
#define N PB_SIZE(30, 250, 1300)

PB_KERNEL(jacobi2d_cell, PB_BUF(double, bb), PB_BUF(const double, ab))
{
    PB_2D(double, B, N, bb);
    PB_2D(const double, A, N, ab);
    PB_CELLS(i, j, 1, N - 1, 1, N - 1)
    B[i][j] = 0.2 * (A[i][j] + A[i][j - 1] + A[i][1 + j] + A[1 + i][j] + A[i - 1][j]);
}

#if PB_HOST
enum { A_, B_, NARR };
static pb_buf arrays[NARR] = {
    [A_] = PB_F64ARR("A", N * N, PB_RW),
    [B_] = PB_F64ARR("B", N * N, PB_RW),
};

static void init(pb_buf *x)
{
    PB_2D(double, A, N, x[A_].host);
    PB_2D(double, B, N, x[B_].host);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            A[i][j] = ((double)i * (j + 2) + 2) / N;
            B[i][j] = ((double)i * (j + 3) + 3) / N;
        }
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int t = 0; t < TSTEPS; t++) {
        PB_EXEC(c, jacobi2d_cell, (N - 2) * (N - 2), &x[B_], &x[A_]);
        PB_EXEC(c, jacobi2d_cell, (N - 2) * (N - 2), &x[A_], &x[B_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "jacobi-2d-cells", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
