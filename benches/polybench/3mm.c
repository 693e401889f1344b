/* 3mm: G = (A * B) * (C * D) (PolyBench/C 4.2 linear-algebra/kernels).
 * Three matrix products, each parallel over its rows. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define NI PB_SIZE(16, 180, 800)
#define NJ PB_SIZE(18, 190, 900)
#define NK PB_SIZE(20, 200, 1000)
#define NL PB_SIZE(22, 210, 1100)
#define NM PB_SIZE(24, 220, 1200)

/* E = A * B (NI x NJ) */
PB_KERNEL(mm3_e, PB_BUF(double, e), PB_BUF(const double, a), PB_BUF(const double, b))
{
    PB_2D(double, E, NJ, e);
    PB_2D(const double, A, NK, a);
    PB_2D(const double, B, NJ, b);
    PB_ROWS(i, 0, NI)
    for (int j = 0; j < NJ; j++) {
        E[i][j] = 0.0;
        for (int k = 0; k < NK; ++k) E[i][j] += A[i][k] * B[k][j];
    }
}

/* F = C * D (NJ x NL) */
PB_KERNEL(mm3_f, PB_BUF(double, f), PB_BUF(const double, c), PB_BUF(const double, d))
{
    PB_2D(double, F, NL, f);
    PB_2D(const double, C, NM, c);
    PB_2D(const double, D, NL, d);
    PB_ROWS(i, 0, NJ)
    for (int j = 0; j < NL; j++) {
        F[i][j] = 0.0;
        for (int k = 0; k < NM; ++k) F[i][j] += C[i][k] * D[k][j];
    }
}

/* G = E * F (NI x NL) */
PB_KERNEL(mm3_g, PB_BUF(double, g), PB_BUF(const double, e), PB_BUF(const double, f))
{
    PB_2D(double, G, NL, g);
    PB_2D(const double, E, NJ, e);
    PB_2D(const double, F, NL, f);
    PB_ROWS(i, 0, NI)
    for (int j = 0; j < NL; j++) {
        G[i][j] = 0.0;
        for (int k = 0; k < NJ; ++k) G[i][j] += E[i][k] * F[k][j];
    }
}

#if PB_HOST
enum { E_, F_, G_, A_, B_, C_, D_, NARR };
static pb_buf arrays[NARR] = {
    [E_] = PB_F64ARR("E", NI * NJ, PB_RW), [F_] = PB_F64ARR("F", NJ * NL, PB_RW),
    [G_] = PB_F64ARR("G", NI * NL, PB_RW), [A_] = PB_F64ARR("A", NI * NK, PB_RO),
    [B_] = PB_F64ARR("B", NK * NJ, PB_RO), [C_] = PB_F64ARR("C", NJ * NM, PB_RO),
    [D_] = PB_F64ARR("D", NM * NL, PB_RO),
};

static void init(pb_buf *x)
{
    PB_2D(double, A, NK, x[A_].host);
    PB_2D(double, B, NJ, x[B_].host);
    PB_2D(double, C, NM, x[C_].host);
    PB_2D(double, D, NL, x[D_].host);
    for (int i = E_; i <= G_; i++) memset(x[i].host, 0, x[i].bytes);
    for (int i = 0; i < NI; i++)
        for (int j = 0; j < NK; j++) A[i][j] = (double)((i * j + 1) % NI) / (5 * NI);
    for (int i = 0; i < NK; i++)
        for (int j = 0; j < NJ; j++) B[i][j] = (double)((i * (j + 1) + 2) % NJ) / (5 * NJ);
    for (int i = 0; i < NJ; i++)
        for (int j = 0; j < NM; j++) C[i][j] = (double)(i * (j + 3) % NL) / (5 * NL);
    for (int i = 0; i < NM; i++)
        for (int j = 0; j < NL; j++) D[i][j] = (double)((i * (j + 2) + 2) % NK) / (5 * NK);
}

static void run(pb_ctx *c, pb_buf *x)
{
    PB_EXEC(c, mm3_e, NI, &x[E_], &x[A_], &x[B_]);
    PB_EXEC(c, mm3_f, NJ, &x[F_], &x[C_], &x[D_]);
    PB_EXEC(c, mm3_g, NI, &x[G_], &x[E_], &x[F_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "3mm", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
