/* fdtd-2d-cells: fdtd-2d written GPU-style, one element per iteration
 * (PB_CELLS; not one of PolyBench's 30: a variant for issue 23's "one
 * element per iteration" target). Same arithmetic, same result as
 * fdtd-2d: per time step ey and ex (one cell of each per iteration, both
 * read only hz), then hz. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define TMAX PB_SIZE(20, 100, 500)
#define NX PB_SIZE(20, 200, 1000)
#define NY PB_SIZE(30, 240, 1200)

/* step[0] = t */
PB_KERNEL(fdtd_e_cell, PB_BUF(const int32_t, st), PB_BUF(double, exb), PB_BUF(double, eyb),
          PB_BUF(const double, hzb), PB_BUF(const double, fict))
{
    PB_2D(double, ex, NY, exb);
    PB_2D(double, ey, NY, eyb);
    PB_2D(const double, hz, NY, hzb);
    const int t = st[0];
    PB_CELLS(i, j, 0, NX, 0, NY)
    {
        if (i == 0)
            ey[0][j] = fict[t];
        else
            ey[i][j] = ey[i][j] - 0.5 * (hz[i][j] - hz[i - 1][j]);
        if (j > 0) ex[i][j] = ex[i][j] - 0.5 * (hz[i][j] - hz[i][j - 1]);
    }
}

PB_KERNEL(fdtd_h_cell, PB_BUF(double, hzb), PB_BUF(const double, exb), PB_BUF(const double, eyb))
{
    PB_2D(double, hz, NY, hzb);
    PB_2D(const double, ex, NY, exb);
    PB_2D(const double, ey, NY, eyb);
    PB_CELLS(i, j, 0, NX - 1, 0, NY - 1)
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
        PB_EXEC(c, fdtd_e_cell, NX * NY, PB_STEPBUF(c), &x[EX_], &x[EY_], &x[HZ_], &x[FICT_]);
        PB_EXEC(c, fdtd_h_cell, (NX - 1) * (NY - 1), &x[HZ_], &x[EX_], &x[EY_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "fdtd-2d-cells", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
