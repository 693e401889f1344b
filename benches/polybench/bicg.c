/* bicg: s = A^T r, q = A p (PolyBench/C 4.2 linear-algebra/kernels), the
 * BiCG sub-kernel. s parallel over its elements, q over the rows of A. */
#define PB_BENCH_DATASET PB_DS_LARGE
#include "polybench.h"

#define M PB_SIZE(38, 390, 1900)
#define N PB_SIZE(42, 410, 2100)

PB_KERNEL(bicg_s, PB_BUF(double, s), PB_BUF(const double, a), PB_BUF(const double, r))
{
    PB_2D(const double, A, M, a);
    PB_ROWS(j, 0, M)
    {
        s[j] = 0;
        for (int i = 0; i < N; i++) s[j] = s[j] + r[i] * A[i][j];
    }
}

PB_KERNEL(bicg_q, PB_BUF(double, q), PB_BUF(const double, a), PB_BUF(const double, p))
{
    PB_2D(const double, A, M, a);
    PB_ROWS(i, 0, N)
    {
        q[i] = 0.0;
        for (int j = 0; j < M; j++) q[i] = q[i] + A[i][j] * p[j];
    }
}

#if PB_HOST
enum { S_, Q_, A_, R_, P_, NARR };
static pb_buf arrays[NARR] = {
    [S_] = PB_F64ARR("s", M, PB_RW), [Q_] = PB_F64ARR("q", N, PB_RW),
    [A_] = PB_F64ARR("A", N * M, PB_RO), [R_] = PB_F64ARR("r", N, PB_RO),
    [P_] = PB_F64ARR("p", M, PB_RO),
};

static void init(pb_buf *b)
{
    PB_2D(double, A, M, b[A_].host);
    double *r = b[R_].host, *p = b[P_].host;
    for (int i = 0; i < M; i++) p[i] = (double)(i % M) / M;
    for (int i = 0; i < N; i++) {
        r[i] = (double)(i % N) / N;
        for (int j = 0; j < M; j++) A[i][j] = (double)(i * (j + 1) % N) / N;
    }
    memset(b[S_].host, 0, b[S_].bytes);
    memset(b[Q_].host, 0, b[Q_].bytes);
}

static void run(pb_ctx *c, pb_buf *b)
{
    PB_EXEC(c, bicg_s, M, &b[S_], &b[A_], &b[R_]);
    PB_EXEC(c, bicg_q, N, &b[Q_], &b[A_], &b[P_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "bicg", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
