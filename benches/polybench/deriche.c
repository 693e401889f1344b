/* deriche: Deriche's recursive edge-detection filter on a W x H float image
 * (PolyBench/C 4.2 medley). Horizontal pass parallel over the rows (the
 * causal and anti-causal recursions of a row in one iteration), sum over the
 * rows, vertical pass parallel over the columns, sum again. The filter's
 * coefficients are computed once by the driver with pb_exp (the same
 * operations in every build) and passed in a buffer. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define W PB_SIZE(64, 720, 4096)
#define H PB_SIZE(64, 480, 2160)

/* co: a1..a8, b1, b2, c1, c2 */
PB_KERNEL(deriche_rows, PB_BUF(float, y1b), PB_BUF(float, y2b), PB_BUF(const float, in),
          PB_BUF(const float, co))
{
    PB_2D(float, y1, H, y1b);
    PB_2D(float, y2, H, y2b);
    PB_2D(const float, imgIn, H, in);
    const float a1 = co[0], a2 = co[1], a3 = co[2], a4 = co[3], b1 = co[8], b2 = co[9];
    PB_ROWS(i, 0, W)
    {
        float ym1 = 0.0f, ym2 = 0.0f, xm1 = 0.0f;
        for (int j = 0; j < H; j++) {
            y1[i][j] = a1 * imgIn[i][j] + a2 * xm1 + b1 * ym1 + b2 * ym2;
            xm1 = imgIn[i][j];
            ym2 = ym1;
            ym1 = y1[i][j];
        }
        float yp1 = 0.0f, yp2 = 0.0f, xp1 = 0.0f, xp2 = 0.0f;
        for (int j = H - 1; j >= 0; j--) {
            y2[i][j] = a3 * xp1 + a4 * xp2 + b1 * yp1 + b2 * yp2;
            xp2 = xp1;
            xp1 = imgIn[i][j];
            yp2 = yp1;
            yp1 = y2[i][j];
        }
    }
}

/* step[0] = 0: out = c1 (y1 + y2); 1: c2 */
PB_KERNEL(deriche_sum, PB_BUF(const int32_t, st), PB_BUF(float, out), PB_BUF(const float, y1b),
          PB_BUF(const float, y2b), PB_BUF(const float, co))
{
    PB_2D(float, imgOut, H, out);
    PB_2D(const float, y1, H, y1b);
    PB_2D(const float, y2, H, y2b);
    const float c = co[10 + st[0]];
    PB_ROWS(i, 0, W)
    for (int j = 0; j < H; j++) imgOut[i][j] = c * (y1[i][j] + y2[i][j]);
}

PB_KERNEL(deriche_cols, PB_BUF(float, y1b), PB_BUF(float, y2b), PB_BUF(const float, out),
          PB_BUF(const float, co))
{
    PB_2D(float, y1, H, y1b);
    PB_2D(float, y2, H, y2b);
    PB_2D(const float, imgOut, H, out);
    const float a5 = co[4], a6 = co[5], a7 = co[6], a8 = co[7], b1 = co[8], b2 = co[9];
    PB_ROWS(j, 0, H)
    {
        float tm1 = 0.0f, ym1 = 0.0f, ym2 = 0.0f;
        for (int i = 0; i < W; i++) {
            y1[i][j] = a5 * imgOut[i][j] + a6 * tm1 + b1 * ym1 + b2 * ym2;
            tm1 = imgOut[i][j];
            ym2 = ym1;
            ym1 = y1[i][j];
        }
        float tp1 = 0.0f, tp2 = 0.0f, yp1 = 0.0f, yp2 = 0.0f;
        for (int i = W - 1; i >= 0; i--) {
            y2[i][j] = a7 * tp1 + a8 * tp2 + b1 * yp1 + b2 * yp2;
            tp2 = tp1;
            tp1 = imgOut[i][j];
            yp2 = yp1;
            yp1 = y2[i][j];
        }
    }
}

#if PB_HOST
enum { OUT_, Y1_, Y2_, IN_, CO_, NARR };
static pb_buf arrays[NARR] = {
    [OUT_] = PB_F32ARR("imgOut", W * H, PB_RW), [Y1_] = PB_F32ARR("y1", W * H, PB_RW),
    [Y2_] = PB_F32ARR("y2", W * H, PB_RW),      [IN_] = PB_F32ARR("imgIn", W * H, PB_RO),
    [CO_] = PB_F32ARR("coefficients", 12, PB_RO),
};

static void init(pb_buf *x)
{
    PB_2D(float, imgIn, H, x[IN_].host);
    for (int i = 0; i < W; i++)
        for (int j = 0; j < H; j++) imgIn[i][j] = (float)((313 * i + 991 * j) % 65536) / 65535.0f;
    for (int i = OUT_; i <= Y2_; i++) memset(x[i].host, 0, x[i].bytes);
    const float alpha = 0.25f; /* the filter's parameter */
    const float ea = (float)pb_exp(-alpha), e2a = (float)pb_exp(-2.0 * alpha);
    const float k = (1.0f - ea) * (1.0f - ea) / (1.0f + 2.0f * alpha * ea - e2a);
    float *co = x[CO_].host;
    co[0] = co[4] = k;                         /* a1, a5 */
    co[1] = co[5] = k * ea * (alpha - 1.0f);   /* a2, a6 */
    co[2] = co[6] = k * ea * (alpha + 1.0f);   /* a3, a7 */
    co[3] = co[7] = -k * e2a;                  /* a4, a8 */
    co[8] = (float)pb_exp(-alpha * 0.6931471805599453); /* b1 = 2^-alpha */
    co[9] = -e2a;                              /* b2 */
    co[10] = co[11] = 1.0f;                    /* c1, c2 */
}

static void run(pb_ctx *c, pb_buf *x)
{
    PB_EXEC(c, deriche_rows, W, &x[Y1_], &x[Y2_], &x[IN_], &x[CO_]);
    PB_SET_STEP(c, 0, 0);
    PB_EXEC(c, deriche_sum, W, PB_STEPBUF(c), &x[OUT_], &x[Y1_], &x[Y2_], &x[CO_]);
    PB_EXEC(c, deriche_cols, H, &x[Y1_], &x[Y2_], &x[OUT_], &x[CO_]);
    PB_SET_STEP(c, 1, 0);
    PB_EXEC(c, deriche_sum, W, PB_STEPBUF(c), &x[OUT_], &x[Y1_], &x[Y2_], &x[CO_]);
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "deriche", arrays, NARR, init, run, PB_TOL_F32);
}
#endif
