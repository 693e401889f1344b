/* floyd-warshall: all-pairs shortest paths (PolyBench/C 4.2 medley), int.
 * Per intermediate vertex k, parallel over the rows: row k and column k do
 * not change during step k (path[k][k] > 0), so the rows are independent. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define N PB_SIZE(60, 500, 2800)

PB_KERNEL(fw_step, PB_BUF(const int32_t, st), PB_BUF(int32_t, p))
{
    PB_2D(int32_t, path, N, p);
    const int k = st[0];
    PB_ROWS(i, 0, N)
    for (int j = 0; j < N; j++)
        path[i][j] =
            path[i][j] < path[i][k] + path[k][j] ? path[i][j] : path[i][k] + path[k][j];
}

#if PB_HOST
enum { PATH_, NARR };
static pb_buf arrays[NARR] = {[PATH_] = PB_I32ARR("path", N * N, PB_RW)};

static void init(pb_buf *x)
{
    PB_2D(int32_t, path, N, x[PATH_].host);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            path[i][j] = i * j % 7 + 1;
            if ((i + j) % 13 == 0 || (i + j) % 7 == 0 || (i + j) % 11 == 0) path[i][j] = 999;
        }
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int k = 0; k < N; k++) {
        PB_SET_STEP(c, k, 0);
        PB_EXEC(c, fw_step, N, PB_STEPBUF(c), &x[PATH_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "floyd-warshall", arrays, NARR, init, run, PB_TOL_EXACT);
}
#endif
