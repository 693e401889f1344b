/* syrk: C = alpha A A^T + beta C, lower triangle (PolyBench/C 4.2
 * linear-algebra/blas), parallel over the rows of C. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define M PB_SIZE(20, 200, 1000)
#define N PB_SIZE(30, 240, 1200)
#define ALPHA 1.5
#define BETA 1.2

PB_KERNEL(syrk_rows, PB_BUF(double, c), PB_BUF(const double, a))
{
    PB_2D(double, C, N, c);
    PB_2D(const double, A, M, a);
    PB_ROWS(i, 0, N)
    {
        for (int j = 0; j <= i; j++) C[i][j] *= BETA;
        for (int k = 0; k < M; k++)
            for (int j = 0; j <= i; j++) C[i][j] += ALPHA * A[i][k] * A[j][k];
    }
}

#if PB_HOST
enum { C_, A_, NARR };
static pb_buf arrays[NARR] = {
    [C_] = PB_F64ARR("C", N * N, PB_RW),
    [A_] = PB_F64ARR("A", N * M, PB_RO),
};

static void init(pb_buf *x)
{
    PB_2D(double, C, N, x[C_].host);
    PB_2D(double, A, M, x[A_].host);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) A[i][j] = (double)((i * j + 1) % N) / N;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) C[i][j] = (double)((i * j + 2) % M) / M;
}

static void run(pb_ctx *c, pb_buf *x) { PB_EXEC(c, syrk_rows, N, &x[C_], &x[A_]); }

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "syrk", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
