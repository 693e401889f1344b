/* nussinov: RNA secondary structure by dynamic programming (PolyBench/C 4.2
 * medley), int. A cell (i, j) needs only cells of smaller j - i, so the
 * anti-diagonals d = j - i run in order and the cells of one diagonal in
 * parallel; max of ints is exact, so the table equals the sequential one. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define N PB_SIZE(60, 500, 2500)
#define MATCH(b1, b2) (((b1) + (b2)) == 3 ? 1 : 0)
#define MAX(a, b) ((a) >= (b) ? (a) : (b))

/* step[0] = d: cells (i, i + d) for i < N - d */
PB_KERNEL(nussinov_diag, PB_BUF(const int32_t, st), PB_BUF(int32_t, t), PB_BUF(const int32_t, seq))
{
    PB_2D(int32_t, table, N, t);
    const int d = st[0];
    PB_ROWS(i, 0, N - d)
    {
        const int j = i + d;
        int v = table[i][j];
        if (j - 1 >= 0) v = MAX(v, table[i][j - 1]);
        if (i + 1 < N) v = MAX(v, table[i + 1][j]);
        if (j - 1 >= 0 && i + 1 < N) {
            if (i < j - 1)
                v = MAX(v, table[i + 1][j - 1] + MATCH(seq[i], seq[j]));
            else
                v = MAX(v, table[i + 1][j - 1]);
        }
        for (int k = i + 1; k < j; k++) v = MAX(v, table[i][k] + table[k + 1][j]);
        table[i][j] = v;
    }
}

#if PB_HOST
enum { TABLE_, SEQ_, NARR };
static pb_buf arrays[NARR] = {
    [TABLE_] = PB_I32ARR("table", N * N, PB_RW),
    [SEQ_] = PB_I32ARR("seq", N, PB_RO),
};

static void init(pb_buf *x)
{
    int32_t *seq = x[SEQ_].host;
    for (int i = 0; i < N; i++) seq[i] = (i + 1) % 4; /* bases 0..3 */
    memset(x[TABLE_].host, 0, x[TABLE_].bytes);
}

static void run(pb_ctx *c, pb_buf *x)
{
    for (int d = 1; d < N; d++) {
        PB_SET_STEP(c, d, 0);
        PB_EXEC(c, nussinov_diag, N - d, PB_STEPBUF(c), &x[TABLE_], &x[SEQ_]);
    }
}

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "nussinov", arrays, NARR, init, run, PB_TOL_EXACT);
}
#endif
