/* 2mm: D = alpha * A * B * C + beta * D (PolyBench/C 4.2 linear-algebra/kernels).
 * Two kernels, each parallel over the rows of its product. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define NI PB_SIZE(16, 180, 800)
#define NJ PB_SIZE(18, 190, 900)
#define NK PB_SIZE(22, 210, 1100)
#define NL PB_SIZE(24, 220, 1200)
#define ALPHA 1.5
#define BETA 1.2

/* tmp = alpha * A * B */
PB_KERNEL(mm2_tmp, PB_BUF(double, tmp), PB_BUF(const double, a), PB_BUF(const double, b))
{
    PB_2D(double, T, NJ, tmp);
    PB_2D(const double, A, NK, a);
    PB_2D(const double, B, NJ, b);
    PB_ROWS(i, 0, NI)
    for (int j = 0; j < NJ; j++) {
        T[i][j] = 0.0;
        for (int k = 0; k < NK; ++k) T[i][j] += ALPHA * A[i][k] * B[k][j];
    }
}

/* D = beta * D + tmp * C */
PB_KERNEL(mm2_d, PB_BUF(double, d), PB_BUF(const double, tmp), PB_BUF(const double, c))
{
    PB_2D(double, D, NL, d);
    PB_2D(const double, T, NJ, tmp);
    PB_2D(const double, C, NL, c);
    PB_ROWS(i, 0, NI)
    for (int j = 0; j < NL; j++) {
        D[i][j] *= BETA;
        for (int k = 0; k < NJ; ++k) D[i][j] += T[i][k] * C[k][j];
    }
}

#if PB_HOST
enum { TMP_, D_, A_, B_, C_, NARR };
static pb_buf arrays[NARR] = {
    [TMP_] = PB_F64ARR("tmp", NI * NJ, PB_RW), [D_] = PB_F64ARR("D", NI * NL, PB_RW),
    [A_] = PB_F64ARR("A", NI * NK, PB_RO),     [B_] = PB_F64ARR("B", NK * NJ, PB_RO),
    [C_] = PB_F64ARR("C", NJ * NL, PB_RO),
};

static void init(pb_buf *x)
{
    PB_2D(double, A, NK, x[A_].host);
    PB_2D(double, B, NJ, x[B_].host);
    PB_2D(double, C, NL, x[C_].host);
    PB_2D(double, D, NL, x[D_].host);
    memset(x[TMP_].host, 0, x[TMP_].bytes);
    for (int i = 0; i < NI; i++)
        for (int j = 0; j < NK; j++) A[i][j] = (double)((i * j + 1) % NI) / NI;
    for (int i = 0; i < NK; i++)
        for (int j = 0; j < NJ; j++) B[i][j] = (double)(i * (j + 1) % NJ) / NJ;
    for (int i = 0; i < NJ; i++)
        for (int j = 0; j < NL; j++) C[i][j] = (double)((i * (j + 3) + 1) % NL) / NL;
    for (int i = 0; i < NI; i++)
        for (int j = 0; j < NL; j++) D[i][j] = (double)(i * (j + 2) % NK) / NK;
}

static void run(pb_ctx *c, pb_buf *x)
{
    PB_EXEC(c, mm2_tmp, NI, &x[TMP_], &x[A_], &x[B_]);
    PB_EXEC(c, mm2_d, NI, &x[D_], &x[TMP_], &x[C_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "2mm", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
