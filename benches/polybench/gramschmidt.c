/* gramschmidt: QR decomposition by modified Gram-Schmidt (PolyBench/C 4.2
 * linear-algebra/solvers). Per column k: Q[:,k] = A[:,k] / R[k][k]
 * parallel over the rows, then R[k][j] and the update of A[:,j] parallel
 * over the columns j > k; the iteration of column k+1 also computes the
 * next norm R[k+1][k+1] (same sum order as the sequential loop). */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define M PB_SIZE(20, 200, 1000)
#define N PB_SIZE(30, 240, 1200)

static inline void gs_norm(int k, double (*A)[N], double (*R)[N])
{
    double nrm = 0.0;
    for (int i = 0; i < M; i++) nrm += A[i][k] * A[i][k];
    R[k][k] = PB_SQRT(nrm);
}

PB_KERNEL(gs_norm0, PB_BUF(double, a), PB_BUF(double, r))
{
    PB_2D(double, A, N, a);
    PB_2D(double, R, N, r);
    if (pb_it == 0) gs_norm(0, A, R);
}

PB_KERNEL(gs_q, PB_BUF(const int32_t, st), PB_BUF(double, q), PB_BUF(const double, a),
          PB_BUF(const double, r))
{
    PB_2D(double, Q, N, q);
    PB_2D(const double, A, N, a);
    PB_2D(const double, R, N, r);
    const int k = st[0];
    PB_ROWS(i, 0, M) Q[i][k] = A[i][k] / R[k][k];
}

PB_KERNEL(gs_r, PB_BUF(const int32_t, st), PB_BUF(double, a), PB_BUF(double, r),
          PB_BUF(const double, q))
{
    PB_2D(double, A, N, a);
    PB_2D(double, R, N, r);
    PB_2D(const double, Q, N, q);
    const int k = st[0];
    PB_ROWS(j, k + 1, N)
    {
        R[k][j] = 0.0;
        for (int i = 0; i < M; i++) R[k][j] += Q[i][k] * A[i][j];
        for (int i = 0; i < M; i++) A[i][j] = A[i][j] - Q[i][k] * R[k][j];
        if (j == k + 1) gs_norm(j, A, R);
    }
}

#if PB_HOST
enum { A_, R_, Q_, NARR };
static pb_buf arrays[NARR] = {
    [A_] = PB_F64ARR("A", M * N, PB_RW),
    [R_] = PB_F64ARR("R", N * N, PB_RW),
    [Q_] = PB_F64ARR("Q", M * N, PB_RW),
};

static void init(pb_buf *x)
{
    PB_2D(double, A, N, x[A_].host);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            A[i][j] = ((double)((i * j) % M) / M) * 100 + 10 + (i == j ? 50 : 0);
    memset(x[R_].host, 0, x[R_].bytes);
    memset(x[Q_].host, 0, x[Q_].bytes);
}

static void run(pb_ctx *c, pb_buf *x)
{
    PB_EXEC(c, gs_norm0, 1, &x[A_], &x[R_]);
    for (int k = 0; k < N; k++) {
        PB_SET_STEP(c, k, 0);
        PB_EXEC(c, gs_q, M, PB_STEPBUF(c), &x[Q_], &x[A_], &x[R_]);
        if (k + 1 < N) PB_EXEC(c, gs_r, N - k - 1, PB_STEPBUF(c), &x[A_], &x[R_], &x[Q_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "gramschmidt", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
