/* trisolv: x = L^-1 b, L lower triangular (PolyBench/C 4.2
 * linear-algebra/solvers). Column-oriented: at step j, x[j] = w[j] / L[j][j]
 * is final and every row i > j subtracts L[i][j] * x[j] from its partial
 * sum w[i], in parallel. Each x[i] gets the subtractions in the order of
 * the sequential loop (j ascending), so the result is the same bit for
 * bit; every iteration recomputes the same x[j] rather than wait for it. */
#define PB_BENCH_DATASET PB_DS_LARGE
#include "polybench.h"

#define N PB_SIZE(40, 400, 2000)

/* step[0] = j: rows j .. N-1 */
PB_KERNEL(trisolv_col, PB_BUF(const int32_t, st), PB_BUF(double, x), PB_BUF(double, w),
          PB_BUF(const double, l))
{
    PB_2D(const double, L, N, l);
    const int j = st[0];
    PB_ROWS(i, j, N)
    {
        const double xj = w[j] / L[j][j];
        if (i == j)
            x[j] = xj;
        else
            w[i] -= L[i][j] * xj;
    }
}

#if PB_HOST
enum { X_, W_, L_, NARR };
static pb_buf arrays[NARR] = {
    [X_] = PB_F64ARR("x", N, PB_RW),
    [W_] = PB_F64ARR("w", N, PB_RW),
    [L_] = PB_F64ARR("L", N * N, PB_RO),
};

static void init(pb_buf *v)
{
    PB_2D(double, L, N, v[L_].host);
    double *w = v[W_].host; /* starts as b */
    for (int i = 0; i < N; i++) {
        w[i] = (double)(i % 17) / 4 - 2;
        for (int j = 0; j <= i; j++) L[i][j] = (double)((i + N - j + 1) % 11) / (2.0 * N);
        L[i][i] = 1.0 + (double)(i % 5) / 10;
        for (int j = i + 1; j < N; j++) L[i][j] = 0;
    }
    memset(v[X_].host, 0, v[X_].bytes);
}

static void run(pb_ctx *c, pb_buf *v)
{
    for (int j = 0; j < N; j++) {
        PB_SET_STEP(c, j, 0);
        PB_EXEC(c, trisolv_col, N - j, PB_STEPBUF(c), &v[X_], &v[W_], &v[L_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "trisolv", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
