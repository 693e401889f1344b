/* heat-3d: 3-D heat equation, Jacobi-style with two arrays (PolyBench/C 4.2
 * stencils). Per time step A -> B and B -> A, each parallel over the
 * i-planes. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define TSTEPS PB_SIZE(20, 100, 500)
#define N PB_SIZE(10, 40, 120)

PB_KERNEL(heat_step, PB_BUF(double, outb), PB_BUF(const double, inb))
{
    PB_3D(double, B, N, N, outb);
    PB_3D(const double, A, N, N, inb);
    PB_ROWS(i, 1, N - 1)
    for (int j = 1; j < N - 1; j++)
        for (int k = 1; k < N - 1; k++)
            B[i][j][k] = 0.125 * (A[i + 1][j][k] - 2.0 * A[i][j][k] + A[i - 1][j][k]) +
                         0.125 * (A[i][j + 1][k] - 2.0 * A[i][j][k] + A[i][j - 1][k]) +
                         0.125 * (A[i][j][k + 1] - 2.0 * A[i][j][k] + A[i][j][k - 1]) + A[i][j][k];
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
        PB_EXEC(c, heat_step, N - 2, &x[B_], &x[A_]);
        PB_EXEC(c, heat_step, N - 2, &x[A_], &x[B_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "heat-3d", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
