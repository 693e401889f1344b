/* adi: alternating direction implicit solver of a 2-D heat equation
 * (PolyBench/C 4.2 stencils). Per time step a column sweep and a row sweep,
 * each parallel over the lines it solves (a tridiagonal system each). */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define TSTEPS PB_SIZE(20, 100, 500)
#define N PB_SIZE(20, 200, 1000)

#define ADI_COEFFS                                                                                 \
    const double DX = 1.0 / (double)N, DY = 1.0 / (double)N, DT = 1.0 / (double)TSTEPS;          \
    const double B1 = 2.0, B2 = 1.0;                                                               \
    const double mul1 = B1 * DT / (DX * DX), mul2 = B2 * DT / (DY * DY);                           \
    const double a = -mul1 / 2.0, b = 1.0 + mul1, c = a;                                           \
    const double d = -mul2 / 2.0, e = 1.0 + mul2, f = d;

PB_KERNEL(adi_col, PB_BUF(double, vb), PB_BUF(double, pb), PB_BUF(double, qb),
          PB_BUF(const double, ub))
{
    PB_2D(double, v, N, vb);
    PB_2D(double, p, N, pb);
    PB_2D(double, q, N, qb);
    PB_2D(const double, u, N, ub);
    ADI_COEFFS
    (void)e;
    PB_ROWS(i, 1, N - 1)
    {
        v[0][i] = 1.0;
        p[i][0] = 0.0;
        q[i][0] = v[0][i];
        for (int j = 1; j < N - 1; j++) {
            p[i][j] = -c / (a * p[i][j - 1] + b);
            q[i][j] = (-d * u[j][i - 1] + (1.0 + 2.0 * d) * u[j][i] - f * u[j][i + 1] -
                       a * q[i][j - 1]) /
                      (a * p[i][j - 1] + b);
        }
        v[N - 1][i] = 1.0;
        for (int j = N - 2; j >= 1; j--) v[j][i] = p[i][j] * v[j + 1][i] + q[i][j];
    }
}

PB_KERNEL(adi_row, PB_BUF(double, ub), PB_BUF(double, pb), PB_BUF(double, qb),
          PB_BUF(const double, vb))
{
    PB_2D(double, u, N, ub);
    PB_2D(double, p, N, pb);
    PB_2D(double, q, N, qb);
    PB_2D(const double, v, N, vb);
    ADI_COEFFS
    (void)b;
    PB_ROWS(i, 1, N - 1)
    {
        u[i][0] = 1.0;
        p[i][0] = 0.0;
        q[i][0] = u[i][0];
        for (int j = 1; j < N - 1; j++) {
            p[i][j] = -f / (d * p[i][j - 1] + e);
            q[i][j] = (-a * v[i - 1][j] + (1.0 + 2.0 * a) * v[i][j] - c * v[i + 1][j] -
                       d * q[i][j - 1]) /
                      (d * p[i][j - 1] + e);
        }
        u[i][N - 1] = 1.0;
        for (int j = N - 2; j >= 1; j--) u[i][j] = p[i][j] * u[i][j + 1] + q[i][j];
    }
}

#if PB_HOST
enum { U_, V_, P_, Q_, NARR };
static pb_buf arrays[NARR] = {
    [U_] = PB_F64ARR("u", N * N, PB_RW), [V_] = PB_F64ARR("v", N * N, PB_RW),
    [P_] = PB_F64ARR("p", N * N, PB_RW), [Q_] = PB_F64ARR("q", N * N, PB_RW),
};

static void init(pb_buf *x)
{
    PB_2D(double, u, N, x[U_].host);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) u[i][j] = (double)(i + N - j) / N;
    for (int i = V_; i < NARR; i++) memset(x[i].host, 0, x[i].bytes);
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int t = 1; t <= TSTEPS; t++) {
        PB_EXEC(c, adi_col, N - 2, &x[V_], &x[P_], &x[Q_], &x[U_]);
        PB_EXEC(c, adi_row, N - 2, &x[U_], &x[P_], &x[Q_], &x[V_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "adi", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
