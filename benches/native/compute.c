/* Native twin of the compute kernel of benches/gpu_vs_interpreter.rs:
 * out[i] = x after 1000 steps of x = x*x*0.25 + c (f32), c = (i & 1023) * 0.001,
 * for i < 65536. Timed three ways (best of REPS):
 *   - "kernel": the kernel as a separate, not inlined function called once per
 *     iteration, as wasi-parallel calls it: 1 thread and OpenMP (dynamic
 *     schedule, 64 iterations per chunk); this is the reference of the
 *     issue's "≥50% of native OpenMP C" target;
 *   - "inlined 1t": the kernel inlined into the loop over i, which lets the
 *     compiler interleave or vectorize independent iterations.
 * Build with -ffp-contract=off so the float results match wasm's.
 * Output: `compute kernel_1t_ms kernel_omp_ms inlined_1t_ms` (plus '#' lines).
 * usage: compute [reps] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define N (1u << 16)
#define STEPS 1000u

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline float step_all(uint32_t i)
{
    float c = (float)(i & 1023u) * 0.001f, x = 0.0f;
    uint32_t k = 0;
    do {
        x = x * x * 0.25f + c;
        k++;
    } while (k < STEPS);
    return x;
}

__attribute__((noinline)) static void kernel(uint32_t i, float *out)
{
    out[i] = step_all(i);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    float *out = malloc(N * sizeof(float));
    double k1 = 1e30, komp = 1e30, inl = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now_ms();
        for (uint32_t i = 0; i < N; i++) kernel(i, out);
        t = now_ms() - t;
        if (t < k1) k1 = t;
        t = now_ms();
#pragma omp parallel for schedule(dynamic, 64)
        for (uint32_t i = 0; i < N; i++) kernel(i, out);
        t = now_ms() - t;
        if (t < komp) komp = t;
        t = now_ms();
        for (uint32_t i = 0; i < N; i++) out[i] = step_all(i);
        t = now_ms() - t;
        if (t < inl) inl = t;
    }
    /* Keep the results alive; print one as a check value. */
    printf("# compute: out[777] = %.9g\n", out[777]);
    printf("compute %.3f %.3f %.3f\n", k1, komp, inl);
    free(out);
    return 0;
}
