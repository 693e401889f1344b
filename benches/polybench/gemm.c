/* gemm: C = alpha * A * B + beta * C (PolyBench/C 4.2 linear-algebra/blas).
 * Parallel over the rows of C. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define NI PB_SIZE(20, 200, 1000)
#define NJ PB_SIZE(25, 220, 1100)
#define NK PB_SIZE(30, 240, 1200)
#define ALPHA 1.5
#define BETA 1.2

PB_KERNEL(gemm_rows, PB_BUF(double, c), PB_BUF(const double, a), PB_BUF(const double, b))
{
    PB_2D(double, C, NJ, c);
    PB_2D(const double, A, NK, a);
    PB_2D(const double, B, NJ, b);
    PB_ROWS(i, 0, NI)
    {
        for (int j = 0; j < NJ; j++) C[i][j] *= BETA;
        for (int k = 0; k < NK; k++)
            for (int j = 0; j < NJ; j++) C[i][j] += ALPHA * A[i][k] * B[k][j];
    }
}

#if PB_HOST
enum { C_, A_, B_, NARR };
static pb_buf arrays[NARR] = {
    [C_] = PB_F64ARR("C", NI * NJ, PB_RW),
    [A_] = PB_F64ARR("A", NI * NK, PB_RO),
    [B_] = PB_F64ARR("B", NK * NJ, PB_RO),
};

static void init(pb_buf *x)
{
    PB_2D(double, C, NJ, x[C_].host);
    PB_2D(double, A, NK, x[A_].host);
    PB_2D(double, B, NJ, x[B_].host);
    for (int i = 0; i < NI; i++)
        for (int j = 0; j < NJ; j++) C[i][j] = (double)((i * j + 1) % NI) / NI;
    for (int i = 0; i < NI; i++)
        for (int k = 0; k < NK; k++) A[i][k] = (double)(i * (k + 1) % NK) / NK;
    for (int k = 0; k < NK; k++)
        for (int j = 0; j < NJ; j++) B[k][j] = (double)(k * (j + 2) % NJ) / NJ;
}

static void run(pb_ctx *c, pb_buf *x) { PB_EXEC(c, gemm_rows, NI, &x[C_], &x[A_], &x[B_]); }

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "gemm", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
