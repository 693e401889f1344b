/* fdtd-2d: 2-D finite-difference time-domain electromagnetics (PolyBench/C
 * 4.2 stencils). Per time step: ey and ex together, parallel over the rows
 * (both read only hz), then hz, parallel over the rows. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define TMAX PB_SIZE(20, 100, 500)
#define NX PB_SIZE(20, 200, 1000)
#define NY PB_SIZE(30, 240, 1200)

/* step[0] = t */
PB_KERNEL(fdtd_e, PB_BUF(const int32_t, st), PB_BUF(double, exb), PB_BUF(double, eyb),
          PB_BUF(const double, hzb), PB_BUF(const double, fict))
{
    PB_2D(double, ex, NY, exb);
    PB_2D(double, ey, NY, eyb);
    PB_2D(const double, hz, NY, hzb);
    const int t = st[0];
    PB_ROWS(i, 0, NX)
    {
        if (i == 0)
            for (int j = 0; j < NY; j++) ey[0][j] = fict[t];
        else
            for (int j = 0; j < NY; j++) ey[i][j] = ey[i][j] - 0.5 * (hz[i][j] - hz[i - 1][j]);
        for (int j = 1; j < NY; j++) ex[i][j] = ex[i][j] - 0.5 * (hz[i][j] - hz[i][j - 1]);
    }
}

PB_KERNEL(fdtd_h, PB_BUF(double, hzb), PB_BUF(const double, exb), PB_BUF(const double, eyb))
{
    PB_2D(double, hz, NY, hzb);
    PB_2D(const double, ex, NY, exb);
    PB_2D(const double, ey, NY, eyb);
    PB_ROWS(i, 0, NX - 1)
    for (int j = 0; j < NY - 1; j++)
        hz[i][j] = hz[i][j] - 0.7 * (ex[i][j + 1] - ex[i][j] + ey[i + 1][j] - ey[i][j]);
}

#if PB_HOST
enum { EX_, EY_, HZ_, FICT_, NARR };
static pb_buf arrays[NARR] = {
    [EX_] = PB_F64ARR("ex", NX * NY, PB_RW),
    [EY_] = PB_F64ARR("ey", NX * NY, PB_RW),
    [HZ_] = PB_F64ARR("hz", NX * NY, PB_RW),
    [FICT_] = PB_F64ARR("fict", TMAX, PB_RO),
};

static void init(pb_buf *x)
{
    PB_2D(double, ex, NY, x[EX_].host);
    PB_2D(double, ey, NY, x[EY_].host);
    PB_2D(double, hz, NY, x[HZ_].host);
    double *fict = x[FICT_].host;
    for (int i = 0; i < TMAX; i++) fict[i] = (double)i;
    for (int i = 0; i < NX; i++)
        for (int j = 0; j < NY; j++) {
            ex[i][j] = ((double)i * (j + 1)) / NX;
            ey[i][j] = ((double)i * (j + 2)) / NY;
            hz[i][j] = ((double)i * (j + 3)) / NX;
        }
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int t = 0; t < TMAX; t++) {
        PB_SET_STEP(c, t, 0);
        PB_EXEC(c, fdtd_e, NX, PB_STEPBUF(c), &x[EX_], &x[EY_], &x[HZ_], &x[FICT_]);
        PB_EXEC(c, fdtd_h, NX - 1, &x[HZ_], &x[EX_], &x[EY_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "fdtd-2d", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
