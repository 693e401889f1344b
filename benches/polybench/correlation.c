/* correlation: the correlation matrix of N samples of M variables
 * (PolyBench/C 4.2 datamining). Mean and standard deviation parallel over
 * the variables, normalisation over the samples, the matrix over its rows. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define M PB_SIZE(28, 240, 1200)
#define N PB_SIZE(32, 260, 1400)
#define FLOAT_N ((double)N)
#define EPS 0.1

PB_KERNEL(corr_stats, PB_BUF(double, mean), PB_BUF(double, stddev), PB_BUF(const double, d))
{
    PB_2D(const double, data, M, d);
    PB_ROWS(j, 0, M)
    {
        mean[j] = 0.0;
        for (int i = 0; i < N; i++) mean[j] += data[i][j];
        mean[j] /= FLOAT_N;
        stddev[j] = 0.0;
        for (int i = 0; i < N; i++)
            stddev[j] += (data[i][j] - mean[j]) * (data[i][j] - mean[j]);
        stddev[j] /= FLOAT_N;
        stddev[j] = PB_SQRT(stddev[j]);
        /* avoid dividing by a near-zero deviation */
        stddev[j] = stddev[j] <= EPS ? 1.0 : stddev[j];
    }
}

PB_KERNEL(corr_center, PB_BUF(double, d), PB_BUF(const double, mean), PB_BUF(const double, stddev))
{
    PB_2D(double, data, M, d);
    PB_ROWS(i, 0, N)
    for (int j = 0; j < M; j++) {
        data[i][j] -= mean[j];
        data[i][j] /= PB_SQRT(FLOAT_N) * stddev[j];
    }
}

PB_KERNEL(corr_matrix, PB_BUF(double, c), PB_BUF(const double, d))
{
    PB_2D(double, corr, M, c);
    PB_2D(const double, data, M, d);
    PB_ROWS(i, 0, M)
    {
        corr[i][i] = 1.0;
        for (int j = i + 1; j < M; j++) {
            corr[i][j] = 0.0;
            for (int k = 0; k < N; k++) corr[i][j] += data[k][i] * data[k][j];
            corr[j][i] = corr[i][j];
        }
    }
}

#if PB_HOST
enum { DATA_, CORR_, MEAN_, STD_, NARR };
static pb_buf arrays[NARR] = {
    [DATA_] = PB_F64ARR("data", N * M, PB_RW), [CORR_] = PB_F64ARR("corr", M * M, PB_RW),
    [MEAN_] = PB_F64ARR("mean", M, PB_RW),     [STD_] = PB_F64ARR("stddev", M, PB_RW),
};

static void init(pb_buf *x)
{
    PB_2D(double, data, M, x[DATA_].host);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) data[i][j] = (double)(i * j) / M + i + (j % 3) * 0.125;
    for (int i = CORR_; i < NARR; i++) memset(x[i].host, 0, x[i].bytes);
}

static void run(pb_ctx *c, pb_buf *x)
{
    PB_EXEC(c, corr_stats, M, &x[MEAN_], &x[STD_], &x[DATA_]);
    PB_EXEC(c, corr_center, N, &x[DATA_], &x[MEAN_], &x[STD_]);
    PB_EXEC(c, corr_matrix, M, &x[CORR_], &x[DATA_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "correlation", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
