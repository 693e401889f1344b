/* syr2k: C = alpha A B^T + alpha B A^T + beta C, lower triangle
 * (PolyBench/C 4.2 linear-algebra/blas), parallel over the rows of C. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define M PB_SIZE(20, 200, 1000)
#define N PB_SIZE(30, 240, 1200)
#define ALPHA 1.5
#define BETA 1.2

PB_KERNEL(syr2k_rows, PB_BUF(double, c), PB_BUF(const double, a), PB_BUF(const double, b))
{
    PB_2D(double, C, N, c);
    PB_2D(const double, A, M, a);
    PB_2D(const double, B, M, b);
    PB_ROWS(i, 0, N)
    {
        for (int j = 0; j <= i; j++) C[i][j] *= BETA;
        for (int k = 0; k < M; k++)
            for (int j = 0; j <= i; j++)
                C[i][j] += A[j][k] * ALPHA * B[i][k] + B[j][k] * ALPHA * A[i][k];
    }
}

#if PB_HOST
enum { C_, A_, B_, NARR };
static pb_buf arrays[NARR] = {
    [C_] = PB_F64ARR("C", N * N, PB_RW),
    [A_] = PB_F64ARR("A", N * M, PB_RO),
    [B_] = PB_F64ARR("B", N * M, PB_RO),
};

static void init(pb_buf *x)
{
    PB_2D(double, C, N, x[C_].host);
    PB_2D(double, A, M, x[A_].host);
    PB_2D(double, B, M, x[B_].host);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) {
            A[i][j] = (double)((i * j + 1) % N) / N;
            B[i][j] = (double)((i * j + 2) % M) / M;
        }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) C[i][j] = (double)((i * j + 3) % N) / M;
}

static void run(pb_ctx *c, pb_buf *x) { PB_EXEC(c, syr2k_rows, N, &x[C_], &x[A_], &x[B_]); }

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "syr2k", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
