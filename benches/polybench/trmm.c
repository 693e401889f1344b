/* trmm: B = alpha A^T B with A unit lower triangular (PolyBench/C 4.2
 * linear-algebra/blas). Row i reads rows k > i of B before they change, so
 * the parallel loop is over the columns j, each running the i loop in the
 * sequential order. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define M PB_SIZE(20, 200, 1000)
#define N PB_SIZE(30, 240, 1200)
#define ALPHA 1.5

PB_KERNEL(trmm_cols, PB_BUF(double, b), PB_BUF(const double, a))
{
    PB_2D(double, B, N, b);
    PB_2D(const double, A, M, a);
    PB_ROWS(j, 0, N)
    for (int i = 0; i < M; i++) {
        for (int k = i + 1; k < M; k++) B[i][j] += A[k][i] * B[k][j];
        B[i][j] = ALPHA * B[i][j];
    }
}

#if PB_HOST
enum { B_, A_, NARR };
static pb_buf arrays[NARR] = {
    [B_] = PB_F64ARR("B", M * N, PB_RW),
    [A_] = PB_F64ARR("A", M * M, PB_RO),
};

static void init(pb_buf *x)
{
    PB_2D(double, A, M, x[A_].host);
    PB_2D(double, B, N, x[B_].host);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < i; j++) A[i][j] = (double)((i + j) % M) / M;
        A[i][i] = 1.0;
        for (int j = i + 1; j < M; j++) A[i][j] = 0;
        for (int j = 0; j < N; j++) B[i][j] = (double)((N + (i - j)) % N) / N;
    }
}

static void run(pb_ctx *c, pb_buf *x) { PB_EXEC(c, trmm_cols, N, &x[B_], &x[A_]); }

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "trmm", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
