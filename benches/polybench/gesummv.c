/* gesummv: y = alpha A x + beta B x (PolyBench/C 4.2 linear-algebra/blas),
 * parallel over the rows. */
#define PB_BENCH_DATASET PB_DS_LARGE
#include "polybench.h"

#define N PB_SIZE(30, 250, 1300)
#define ALPHA 1.5
#define BETA 1.2

PB_KERNEL(gesummv_rows, PB_BUF(double, y), PB_BUF(double, tmp), PB_BUF(const double, a),
          PB_BUF(const double, b), PB_BUF(const double, x))
{
    PB_2D(const double, A, N, a);
    PB_2D(const double, B, N, b);
    PB_ROWS(i, 0, N)
    {
        tmp[i] = 0.0;
        y[i] = 0.0;
        for (int j = 0; j < N; j++) {
            tmp[i] = A[i][j] * x[j] + tmp[i];
            y[i] = B[i][j] * x[j] + y[i];
        }
        y[i] = ALPHA * tmp[i] + BETA * y[i];
    }
}

#if PB_HOST
enum { Y_, TMP_, A_, B_, X_, NARR };
static pb_buf arrays[NARR] = {
    [Y_] = PB_F64ARR("y", N, PB_RW),     [TMP_] = PB_F64ARR("tmp", N, PB_RW),
    [A_] = PB_F64ARR("A", N * N, PB_RO), [B_] = PB_F64ARR("B", N * N, PB_RO),
    [X_] = PB_F64ARR("x", N, PB_RO),
};

static void init(pb_buf *b)
{
    PB_2D(double, A, N, b[A_].host);
    PB_2D(double, B, N, b[B_].host);
    double *x = b[X_].host;
    for (int i = 0; i < N; i++) {
        x[i] = (double)(i % N) / N;
        for (int j = 0; j < N; j++) {
            A[i][j] = (double)((i * j + 1) % N) / N;
            B[i][j] = (double)((i * j + 2) % N) / N;
        }
    }
    memset(b[Y_].host, 0, b[Y_].bytes);
    memset(b[TMP_].host, 0, b[TMP_].bytes);
}

static void run(pb_ctx *c, pb_buf *b)
{
    PB_EXEC(c, gesummv_rows, N, &b[Y_], &b[TMP_], &b[A_], &b[B_], &b[X_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "gesummv", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
