/* durbin: Levinson-Durbin recursion for a Toeplitz system (PolyBench/C 4.2
 * linear-algebra/solvers). Per step k: the scalar part (the sum, alpha,
 * beta: a reduction that keeps its sequential order) in a one-iteration
 * kernel, then z = y + alpha * reverse(y) and y = z in parallel. */
#define PB_BENCH_DATASET PB_DS_LARGE
#include "polybench.h"

#define N PB_SIZE(40, 400, 2000)

/* s[0] = alpha, s[1] = beta; step[0] = k */
PB_KERNEL(durbin_scalar, PB_BUF(const int32_t, st), PB_BUF(double, s), PB_BUF(const double, r),
          PB_BUF(const double, y))
{
    const int k = st[0];
    if (pb_it != 0) return;
    double alpha = s[0], beta = s[1], sum = 0.0;
    beta = (1 - alpha * alpha) * beta;
    for (int i = 0; i < k; i++) sum += r[k - i - 1] * y[i];
    alpha = -(r[k] + sum) / beta;
    s[0] = alpha;
    s[1] = beta;
}

PB_KERNEL(durbin_z, PB_BUF(const int32_t, st), PB_BUF(double, z), PB_BUF(const double, s),
          PB_BUF(const double, y))
{
    const int k = st[0];
    PB_ROWS(i, 0, k) z[i] = y[i] + s[0] * y[k - i - 1];
}

PB_KERNEL(durbin_y, PB_BUF(const int32_t, st), PB_BUF(double, y), PB_BUF(const double, s),
          PB_BUF(const double, z))
{
    const int k = st[0];
    PB_ROWS(i, 0, k + 1) y[i] = i < k ? z[i] : s[0];
}

#if PB_HOST
enum { Y_, Z_, S_, R_, NARR };
static pb_buf arrays[NARR] = {
    [Y_] = PB_F64ARR("y", N, PB_RW), [Z_] = PB_F64ARR("z", N, PB_RW),
    [S_] = PB_F64ARR("alpha,beta", 2, PB_RW), [R_] = PB_F64ARR("r", N, PB_RO),
};

/* r[k] = 0.5^(k+1) (scaled): the autocorrelation of a stable process */
static void init(pb_buf *x)
{
    double *r = x[R_].host, *y = x[Y_].host, *s = x[S_].host;
    double v = 0.5;
    for (int i = 0; i < N; i++) {
        r[i] = v * (1 + (double)(i % 3) / 8);
        v *= 0.5;
    }
    memset(x[Z_].host, 0, x[Z_].bytes);
    memset(y, 0, x[Y_].bytes);
    y[0] = -r[0];
    s[0] = -r[0]; /* alpha */
    s[1] = 1.0;   /* beta */
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int k = 1; k < N; k++) {
        PB_SET_STEP(c, k, 0);
        PB_EXEC(c, durbin_scalar, 1, PB_STEPBUF(c), &x[S_], &x[R_], &x[Y_]);
        PB_EXEC(c, durbin_z, k, PB_STEPBUF(c), &x[Z_], &x[S_], &x[Y_]);
        PB_EXEC(c, durbin_y, k + 1, PB_STEPBUF(c), &x[Y_], &x[S_], &x[Z_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "durbin", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
