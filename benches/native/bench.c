/* Native reference timings for the example kernels: the same kernel sources
 * as c-examples/guests/<name>_kernel.c, compiled for the host with -O2 (each as a
 * plain C function, see WP_KERNEL_NAME in wasi_parallel_kernel.h), run over
 * the same iterations with the same sizes and block sizes as the guests'
 * defaults, once on one thread and once with OpenMP (dynamic schedule, one
 * iteration per chunk, like a wasi-parallel CPU device).
 * Output: one line per kernel `name native_1t_ms native_omp_ms` (best of
 * REPS runs, default 5), plus comment lines starting with '#'.
 * usage: bench [reps] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "params.h"

typedef uint32_t u32;
void saxpy_kernel(u32, u32, u32, const struct saxpy_params *, u32, const float *, u32, float *, u32);
void mandelbrot_kernel(u32, u32, u32, const struct mandelbrot_params *, u32, u32 *, u32);
void histogram_kernel(u32, u32, u32, const uint8_t *, u32, u32 *, u32);
void matmul_kernel(u32, u32, u32, const struct matmul_params *, u32, const float *, u32,
                   const float *, u32, float *, u32);

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint32_t checksum(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static uint32_t rng_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static int reps = 5;

/* RUN(iters, call): time `for it in 0..iters: call` on 1 thread and with
 * OpenMP; `reset` runs before each timed run (untimed). */
#define RUN(name, iters, reset, call, out, out_bytes)                                        \
    do {                                                                                     \
        double best1 = 1e300, bestp = 1e300;                                                 \
        uint32_t sum1 = 0, sump = 0;                                                         \
        for (int r = 0; r < reps; r++) {                                                     \
            reset;                                                                           \
            double t0 = now_ms();                                                            \
            for (u32 it = 0; it < (iters); it++) call;                                       \
            double t = now_ms() - t0;                                                        \
            if (t < best1) best1 = t;                                                        \
            sum1 = checksum(out, out_bytes);                                                 \
        }                                                                                    \
        for (int r = 0; r < reps; r++) {                                                     \
            reset;                                                                           \
            double t0 = now_ms();                                                            \
            _Pragma("omp parallel for schedule(dynamic, 1)")                                 \
            for (u32 it = 0; it < (iters); it++) call;                                       \
            double t = now_ms() - t0;                                                        \
            if (t < bestp) bestp = t;                                                        \
            sump = checksum(out, out_bytes);                                                 \
        }                                                                                    \
        printf("%s %.3f %.3f\n", name, best1, bestp);                                        \
        printf("# %s: iterations=%u checksum=0x%08x%s\n", name, (unsigned)(iters), sum1,     \
               sum1 == sump ? "" : " (OpenMP result DIFFERS)");                              \
        if (sum1 != sump) failed = 1;                                                        \
    } while (0)

int main(int argc, char **argv)
{
    if (argc > 1) reps = atoi(argv[1]) > 0 ? atoi(argv[1]) : 5;
    int failed = 0, threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("# native kernels, gcc/clang -O2; best of %d; OpenMP threads: %d\n", reps, threads);
    /* start the OpenMP thread pool before timing anything */
    volatile int warm = 0;
#pragma omp parallel
    warm = 1;
    (void)warm;
    printf("# name native_1t_ms native_omp_ms\n");

    { /* saxpy: n = 1 << 20, 4096 elements per iteration (c-examples/guests/saxpy.c) */
        const u32 n = 1u << 20, block = 4096, iters = (n + block - 1) / block, bytes = n * 4;
        struct saxpy_params p = {.a = 2.5f, .n = n};
        float *x = malloc(bytes), *y0 = malloc(bytes), *y = malloc(bytes);
        for (u32 i = 0; i < n; i++) {
            x[i] = (float)(i % 1000) * 0.001f;
            y0[i] = (float)(i % 17) - 8.0f;
        }
        RUN("saxpy", iters, memcpy(y, y0, bytes),
            saxpy_kernel(it, iters, block, &p, sizeof p, x, bytes, y, bytes), y, bytes);
        free(x), free(y0), free(y);
    }
    { /* mandelbrot: 512 x 341, max_iter 256, 4 rows per iteration */
        const u32 w = 512, h = w * 2 / 3, block = 4, iters = (h + block - 1) / block;
        const u32 bytes = w * h * 4;
        struct mandelbrot_params p = {w, h, 256, -2.2f, -1.0f, 3.0f / w, 2.0f / h};
        u32 *counts = malloc(bytes);
        RUN("mandelbrot", iters, (void)0,
            mandelbrot_kernel(it, iters, block, &p, sizeof p, counts, bytes), counts, bytes);
        free(counts);
    }
    { /* histogram: 4 MiB of bytes, 64 KiB per iteration */
        const u32 n = 4u << 20, block = 65536, iters = n / block + (n % block != 0);
        const u32 pbytes = iters * HISTOGRAM_BINS * 4;
        uint8_t *data = malloc(n);
        u32 *partial = malloc(pbytes), seed = 12345;
        for (u32 i = 0; i < n; i++) {
            u32 r = rng_next(&seed);
            data[i] = (uint8_t)(((r & 0xff) + ((r >> 8) & 0xff)) / 2);
        }
        RUN("histogram", iters, (void)0,
            histogram_kernel(it, iters, block, data, n, partial, pbytes), partial, pbytes);
        free(data), free(partial);
    }
    { /* matmul: 256 x 256 f32, 4 rows per iteration */
        const u32 n = 256, block = 4, iters = (n + block - 1) / block, bytes = n * n * 4;
        struct matmul_params p = {n, n, n};
        float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
        u32 seed = 42;
        for (u32 i = 0; i < n * n; i++) {
            a[i] = (float)(rng_next(&seed) % 2001) / 1000.0f - 1.0f;
            b[i] = (float)(rng_next(&seed) % 2001) / 1000.0f - 1.0f;
        }
        RUN("matmul", iters, (void)0,
            matmul_kernel(it, iters, block, &p, sizeof p, a, bytes, b, bytes, c, bytes), c, bytes);
        free(a), free(b), free(c);
    }
    return failed;
}
