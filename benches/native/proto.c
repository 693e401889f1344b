/* Native twins of the prototype's two benchmarks (tests/wat/nstream.wat and
 * tests/wat/sum.wat), as the CPU device runs them: one call per iteration.
 *   nstream: a[j] = a[j] + (b[j] + 3 c[j]) over 8Mi f32, 8 iterations of 1Mi
 *            (the prototype's 32 MiB buffers split over 8 "threads");
 *   sum:     2 iterations, each counting an i32 from 1 to 100M + i.
 * gcc folds sum's empty counting loop into its closed form; an empty asm
 * barrier keeps one add, one compare and one branch per round, which is
 * what the wasm kernel does (and what a JIT without loop optimisations
 * runs). Build with -ffp-contract=off so nstream's floats match wasm's.
 * Output: `nstream 1t_ms omp_ms` and `sum 1t_ms omp_ms` (plus '#' lines).
 * usage: proto [reps] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ELEMS (8u << 20)
#define NS_ITERS 8u
#define SUM_N 100000000u

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) static void nstream(uint32_t i, uint32_t bs, float *a, const float *b,
                                              const float *c)
{
    for (uint32_t j = i * bs; j < (i + 1) * bs; j++) a[j] = a[j] + (b[j] + 3.0f * c[j]);
}

__attribute__((noinline)) static void sum(uint32_t i, uint32_t bs, int32_t *out)
{
    int32_t k = 0, end = (int32_t)(bs + i);
    do {
        k++;
        __asm__ volatile("" : "+r"(k));
    } while (k < end);
    out[i] = k;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    float *a = malloc(ELEMS * sizeof(float)), *b = malloc(ELEMS * sizeof(float)),
          *c = malloc(ELEMS * sizeof(float));
    int32_t out[2];
    for (uint32_t j = 0; j < ELEMS; j++) {
        a[j] = (float)(j % 1000);
        b[j] = (float)(j % 7) * 0.5f;
        c[j] = (float)(j % 13) * 0.25f;
    }
    double ns1 = 1e30, nsp = 1e30, s1 = 1e30, sp = 1e30, t;
    const uint32_t bs = ELEMS / NS_ITERS;
    for (int r = 0; r < reps; r++) {
        t = now_ms();
        for (uint32_t i = 0; i < NS_ITERS; i++) nstream(i, bs, a, b, c);
        t = now_ms() - t;
        if (t < ns1) ns1 = t;
        t = now_ms();
#pragma omp parallel for schedule(static)
        for (uint32_t i = 0; i < NS_ITERS; i++) nstream(i, bs, a, b, c);
        t = now_ms() - t;
        if (t < nsp) nsp = t;
        t = now_ms();
        for (uint32_t i = 0; i < 2; i++) sum(i, SUM_N, out);
        t = now_ms() - t;
        if (t < s1) s1 = t;
        t = now_ms();
#pragma omp parallel for schedule(static)
        for (uint32_t i = 0; i < 2; i++) sum(i, SUM_N, out);
        t = now_ms() - t;
        if (t < sp) sp = t;
    }
    if (out[0] != (int32_t)SUM_N || out[1] != (int32_t)SUM_N + 1) {
        fprintf(stderr, "proto: sum gave %d %d\n", out[0], out[1]);
        return 1;
    }
    printf("# nstream a[777] = %.9g after %d passes\n", a[777], 2 * reps);
    printf("nstream %.3f %.3f\n", ns1, nsp);
    printf("sum %.3f %.3f\n", s1, sp);
    free(a);
    free(b);
    free(c);
    return 0;
}
