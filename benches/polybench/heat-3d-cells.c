/* heat-3d-cells: heat-3d written GPU-style, one element per iteration
 * (PB_CELLS over the (i, j*N+k) grid; not one of PolyBench's 30: a
 * variant for issue 23's "one element per iteration" target). Same
 * arithmetic, same result as heat-3d. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define TSTEPS PB_SIZE(20, 100, 500)
#define N PB_SIZE(10, 40, 120)

PB_KERNEL(heat_cell, PB_BUF(double, outb), PB_BUF(const double, inb))
{
    PB_3D(double, B, N, N, outb);
    PB_3D(const double, A, N, N, inb);
    /* cells (i, jk) of (N-2) x (N-2)^2: j = 1 + jk / (N-2), k = 1 + jk % (N-2) */
    PB_CELLS(i, jk, 1, N - 1, 0, (N - 2) * (N - 2))
    {
        const int j = 1 + jk / (N - 2), k = 1 + jk % (N - 2);
        B[i][j][k] = 0.125 * (A[i + 1][j][k] - 2.0 * A[i][j][k] + A[i - 1][j][k]) +
                     0.125 * (A[i][j + 1][k] - 2.0 * A[i][j][k] + A[i][j - 1][k]) +
                     0.125 * (A[i][j][k + 1] - 2.0 * A[i][j][k] + A[i][j][k - 1]) + A[i][j][k];
    }
}

#if PB_HOST
enum { A_, B_, NARR };
static pb_buf arrays[NARR] = {
    [A_] = PB_F64ARR("A", N * N * N, PB_RW),
    [B_] = PB_F64ARR("B", N * N * N, PB_RW),
};

static void init(pb_buf *x)
{
    PB_3D(double, A, N, N, x[A_].host);
    PB_3D(double, B, N, N, x[B_].host);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            for (int k = 0; k < N; k++) A[i][j][k] = B[i][j][k] = (double)(i + j + (N - k)) * 10 / N;
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int t = 1; t <= TSTEPS; t++) {
        PB_EXEC(c, heat_cell, (N - 2) * (N - 2) * (N - 2), &x[B_], &x[A_]);
        PB_EXEC(c, heat_cell, (N - 2) * (N - 2) * (N - 2), &x[A_], &x[B_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "heat-3d-cells", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
