/* doitgen: multi-resolution analysis kernel (PolyBench/C 4.2
 * linear-algebra/kernels): A[r][q][:] = A[r][q][:] * C4, parallel over the
 * (r, q) pairs; each iteration keeps its `sum` row in a local array. */
#define PB_BENCH_DATASET PB_DS_MEDIUM
#include "polybench.h"

#define NQ PB_SIZE(8, 40, 140)
#define NR PB_SIZE(10, 50, 150)
#define NP PB_SIZE(12, 60, 160)

PB_KERNEL(doitgen_rq, PB_BUF(double, a), PB_BUF(const double, c4))
{
    PB_2D(double, A, NP, a); /* row r * NQ + q */
    PB_2D(const double, C4, NP, c4);
    double sum[NP];
    PB_ROWS(rq, 0, NR * NQ)
    {
        for (int p = 0; p < NP; p++) {
            sum[p] = 0.0;
            for (int s = 0; s < NP; s++) sum[p] += A[rq][s] * C4[s][p];
        }
        for (int p = 0; p < NP; p++) A[rq][p] = sum[p];
    }
}

#if PB_HOST
enum { A_, C4_, NARR };
static pb_buf arrays[NARR] = {
    [A_] = PB_F64ARR("A", NR * NQ * NP, PB_RW),
    [C4_] = PB_F64ARR("C4", NP * NP, PB_RO),
};

static void init(pb_buf *b)
{
    PB_3D(double, A, NQ, NP, b[A_].host);
    PB_2D(double, C4, NP, b[C4_].host);
    for (int i = 0; i < NR; i++)
        for (int j = 0; j < NQ; j++)
            for (int k = 0; k < NP; k++) A[i][j][k] = (double)((i * j + k) % NP) / NP;
    for (int i = 0; i < NP; i++)
        for (int j = 0; j < NP; j++) C4[i][j] = (double)(i * j % NP) / NP;
}

static void run(pb_ctx *c, pb_buf *b) { PB_EXEC(c, doitgen_rq, NR * NQ, &b[A_], &b[C4_]); }

int main(int argc, char **argv)
{
    return pb_main(argc, argv, "doitgen", arrays, NARR, init, run, PB_TOL_F64);
}
#endif
