/* gemver: A += u1 v1^T + u2 v2^T; x += beta A^T y + z; w += alpha A x
 * (PolyBench/C 4.2 linear-algebra/blas). Three kernels, each parallel over
 * rows or elements (x += z is done by the x kernel after its sum). */
#define PB_BENCH_DATASET PB_DS_LARGE
#include "polybench.h"

#define N PB_SIZE(40, 400, 2000)
#define ALPHA 1.5
#define BETA 1.2

PB_KERNEL(gemver_a, PB_BUF(double, a), PB_BUF(const double, u1), PB_BUF(const double, v1),
          PB_BUF(const double, u2), PB_BUF(const double, v2))
{
    PB_2D(double, A, N, a);
    PB_ROWS(i, 0, N)
    for (int j = 0; j < N; j++) A[i][j] = A[i][j] + u1[i] * v1[j] + u2[i] * v2[j];
}

PB_KERNEL(gemver_x, PB_BUF(double, x), PB_BUF(const double, a), PB_BUF(const double, y),
          PB_BUF(const double, z))
{
    PB_2D(const double, A, N, a);
    PB_ROWS(i, 0, N)
    {
        for (int j = 0; j < N; j++) x[i] = x[i] + BETA * A[j][i] * y[j];
        x[i] = x[i] + z[i];
    }
}

PB_KERNEL(gemver_w, PB_BUF(double, w), PB_BUF(const double, a), PB_BUF(const double, x))
{
    PB_2D(const double, A, N, a);
    PB_ROWS(i, 0, N)
    for (int j = 0; j < N; j++) w[i] = w[i] + ALPHA * A[i][j] * x[j];
}

#if PB_HOST
enum { A_, X_, W_, U1_, V1_, U2_, V2_, Y_, Z_, NARR };
static pb_buf arrays[NARR] = {
    [A_] = PB_F64ARR("A", N * N, PB_RW), [X_] = PB_F64ARR("x", N, PB_RW),
    [W_] = PB_F64ARR("w", N, PB_RW),     [U1_] = PB_F64ARR("u1", N, PB_RO),
    [V1_] = PB_F64ARR("v1", N, PB_RO),   [U2_] = PB_F64ARR("u2", N, PB_RO),
    [V2_] = PB_F64ARR("v2", N, PB_RO),   [Y_] = PB_F64ARR("y", N, PB_RO),
    [Z_] = PB_F64ARR("z", N, PB_RO),
};

static void init(pb_buf *b)
{
    PB_2D(double, A, N, b[A_].host);
    double *u1 = b[U1_].host, *u2 = b[U2_].host, *v1 = b[V1_].host, *v2 = b[V2_].host;
    double *y = b[Y_].host, *z = b[Z_].host, *x = b[X_].host, *w = b[W_].host;
    const double fn = N;
    for (int i = 0; i < N; i++) {
        u1[i] = i;
        u2[i] = ((i + 1) / fn) / 2.0;
        v1[i] = ((i + 1) / fn) / 4.0;
        v2[i] = ((i + 1) / fn) / 6.0;
        y[i] = ((i + 1) / fn) / 8.0;
        z[i] = ((i + 1) / fn) / 9.0;
        x[i] = 0.0;
        w[i] = 0.0;
        for (int j = 0; j < N; j++) A[i][j] = (double)(i * j % N) / N;
    }
}

static void run(pb_ctx *c, pb_buf *b)
{
    PB_EXEC(c, gemver_a, N, &b[A_], &b[U1_], &b[V1_], &b[U2_], &b[V2_]);
    PB_EXEC(c, gemver_x, N, &b[X_], &b[A_], &b[Y_], &b[Z_]);
    PB_EXEC(c, gemver_w, N, &b[W_], &b[A_], &b[X_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "gemver", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
