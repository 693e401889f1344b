/* symm: C = alpha A B + beta C with A symmetric, only its lower triangle
 * read (PolyBench/C 4.2 linear-algebra/blas). Row i of the sequential loop
 * updates rows k < i of C, so the parallel loop is over the columns j: each
 * iteration runs the whole i loop for its column, in the sequential order. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define M PB_SIZE(20, 200, 1000)
#define N PB_SIZE(30, 240, 1200)
#define ALPHA 1.5
#define BETA 1.2

PB_KERNEL(symm_cols, PB_BUF(double, c), PB_BUF(const double, a), PB_BUF(const double, b))
{
    PB_2D(double, C, N, c);
    PB_2D(const double, A, M, a);
    PB_2D(const double, B, N, b);
    PB_ROWS(j, 0, N)
    for (int i = 0; i < M; i++) {
        double temp2 = 0;
        for (int k = 0; k < i; k++) {
            C[k][j] += ALPHA * B[i][j] * A[i][k];
            temp2 += B[k][j] * A[i][k];
        }
        C[i][j] = BETA * C[i][j] + ALPHA * B[i][j] * A[i][i] + ALPHA * temp2;
    }
}

#if PB_HOST
enum { C_, A_, B_, NARR };
static pb_buf arrays[NARR] = {
    [C_] = PB_F64ARR("C", M * N, PB_RW),
    [A_] = PB_F64ARR("A", M * M, PB_RO),
    [B_] = PB_F64ARR("B", M * N, PB_RO),
};

static void init(pb_buf *x)
{
    PB_2D(double, C, N, x[C_].host);
    PB_2D(double, A, M, x[A_].host);
    PB_2D(double, B, N, x[B_].host);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            C[i][j] = (double)((i + j) % 100) / M;
            B[i][j] = (double)((N + i - j) % 100) / M;
        }
    for (int i = 0; i < M; i++) {
        for (int j = 0; j <= i; j++) A[i][j] = (double)((i + j) % 100) / M;
        for (int j = i + 1; j < M; j++) A[i][j] = -999; /* never read */
    }
}

static void run(pb_ctx *c, pb_buf *x) { PB_EXEC(c, symm_cols, N, &x[C_], &x[A_], &x[B_]); }

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "symm", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
