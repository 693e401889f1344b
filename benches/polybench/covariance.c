/* covariance: the covariance matrix of N samples of M variables
 * (PolyBench/C 4.2 datamining). Mean parallel over the variables,
 * centring over the samples, the matrix over its rows. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define M PB_SIZE(28, 240, 1200)
#define N PB_SIZE(32, 260, 1400)
#define FLOAT_N ((double)N)

PB_KERNEL(cov_mean, PB_BUF(double, mean), PB_BUF(const double, d))
{
    PB_2D(const double, data, M, d);
    PB_ROWS(j, 0, M)
    {
        mean[j] = 0.0;
        for (int i = 0; i < N; i++) mean[j] += data[i][j];
        mean[j] /= FLOAT_N;
    }
}

PB_KERNEL(cov_center, PB_BUF(double, d), PB_BUF(const double, mean))
{
    PB_2D(double, data, M, d);
    PB_ROWS(i, 0, N)
    for (int j = 0; j < M; j++) data[i][j] -= mean[j];
}

PB_KERNEL(cov_matrix, PB_BUF(double, c), PB_BUF(const double, d))
{
    PB_2D(double, cov, M, c);
    PB_2D(const double, data, M, d);
    PB_ROWS(i, 0, M)
    for (int j = i; j < M; j++) {
        cov[i][j] = 0.0;
        for (int k = 0; k < N; k++) cov[i][j] += data[k][i] * data[k][j];
        cov[i][j] /= (FLOAT_N - 1.0);
        cov[j][i] = cov[i][j];
    }
}

#if PB_HOST
enum { DATA_, COV_, MEAN_, NARR };
static pb_buf arrays[NARR] = {
    [DATA_] = PB_F64ARR("data", N * M, PB_RW),
    [COV_] = PB_F64ARR("cov", M * M, PB_RW),
    [MEAN_] = PB_F64ARR("mean", M, PB_RW),
};

static void init(pb_buf *x)
{
    PB_2D(double, data, M, x[DATA_].host);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) data[i][j] = ((double)i * j) / M;
    memset(x[COV_].host, 0, x[COV_].bytes);
    memset(x[MEAN_].host, 0, x[MEAN_].bytes);
}

static void run(pb_ctx *c, pb_buf *x)
{
    PB_EXEC(c, cov_mean, M, &x[MEAN_], &x[DATA_]);
    PB_EXEC(c, cov_center, N, &x[DATA_], &x[MEAN_]);
    PB_EXEC(c, cov_matrix, M, &x[COV_], &x[DATA_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "covariance", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
