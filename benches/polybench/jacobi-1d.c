/* jacobi-1d: 1-D Jacobi stencil (PolyBench/C 4.2 stencils). Per time step
 * A -> B and B -> A, parallel over the elements: with the default block of
 * 1 this is the one-element-per-iteration kernel (a GPU's natural shape). */
#define PB_BENCH_DATASET PB_DS_LARGE
#include "polybench.h"

#define TSTEPS PB_SIZE(20, 100, 500)
#define N PB_SIZE(30, 400, 2000)

PB_KERNEL(jacobi1d_step, PB_BUF(double, b), PB_BUF(const double, a))
{
    PB_ROWS(i, 1, N - 1) b[i] = 0.33333 * (a[i - 1] + a[i] + a[i + 1]);
}

#if PB_HOST
enum { A_, B_, NARR };
static pb_buf arrays[NARR] = {
    [A_] = PB_F64ARR("A", N, PB_RW),
    [B_] = PB_F64ARR("B", N, PB_RW),
};

static void init(pb_buf *x)
{
    double *A = x[A_].host, *B = x[B_].host;
    for (int i = 0; i < N; i++) {
        A[i] = ((double)i + 2) / N;
        B[i] = ((double)i + 3) / N;
    }
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int t = 0; t < TSTEPS; t++) {
        PB_EXEC(c, jacobi1d_step, N - 2, &x[B_], &x[A_]);
        PB_EXEC(c, jacobi1d_step, N - 2, &x[A_], &x[B_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "jacobi-1d", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
