/* saxpy guest: y = a * x + y on a wasi-parallel device.
 * usage: saxpy.wasm [n=1048576] [device=cpu] [reps=1]
 * Prints one result line; exit 0 = verified, 1 = mismatch, 2 = API error. */
#include <math.h>
#include <string.h>

#include "common.h"
#include "params.h"
#include "saxpy_kernel.h" /* saxpy_kernel[], saxpy_kernel_len */

#define BLOCK 4096 /* elements per iteration */

int main(int argc, char **argv)
{
    const uint32_t n = arg_u32(argc, argv, 1, 1u << 20);
    const wp_device_kind_t hint = arg_device(argc, argv, 2);
    const uint32_t reps = arg_u32(argc, argv, 3, 1);
    if (n > UINT32_MAX / sizeof(float)) { fprintf(stderr, "n too large\n"); return 64; }
    const uint32_t bytes = n * sizeof(float);

    struct saxpy_params params = {.a = 2.5f, .n = n};
    float *x = xmalloc(bytes), *y0 = xmalloc(bytes), *y = xmalloc(bytes);
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (float)(i % 1000) * 0.001f;
        y0[i] = (float)(i % 17) - 8.0f;
    }

    wp_device_t dev;
    wp_buffer_t bp, bx, by;
    WP_TRY(wp_get_device(hint, &dev));
    WP_TRY(wp_create_buffer(dev, sizeof params, WP_BUFFER_READ, &bp));
    WP_TRY(wp_create_buffer(dev, bytes, WP_BUFFER_READ, &bx));
    WP_TRY(wp_create_buffer(dev, bytes, WP_BUFFER_READ_WRITE, &by));
    WP_TRY(wp_write_buffer(&params, sizeof params, bp));
    WP_TRY(wp_write_buffer(x, bytes, bx));

    const wp_buffer_t in[] = {bp, bx}, out[] = {by};
    const uint32_t iters = (n + BLOCK - 1) / BLOCK;
    double best = 1e300;
    for (uint32_t r = 0; r < reps; r++) {
        WP_TRY(wp_write_buffer(y0, bytes, by)); /* fresh y for every repetition */
        double t0 = now_ms();
        WP_TRY(wp_parallel_exec(dev, saxpy_kernel, saxpy_kernel_len, iters, BLOCK, in, 2, out, 1));
        double t = now_ms() - t0;
        if (t < best) best = t;
    }
    WP_TRY(wp_read_buffer(by, y, bytes));

    /* reference in plain C, inside the guest */
    uint32_t bad = 0, first_bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        float want = params.a * x[i] + y0[i];
        if (!(fabsf(y[i] - want) <= 1e-6f * (1.0f + fabsf(want)))) {
            if (bad++ == 0) first_bad = i;
        }
    }
    printf("saxpy: n=%u device=%s iterations=%u block=%u exec_ms=%.3f checksum=0x%08x %s\n", n,
           wp_device_kind_name(hint), iters, BLOCK, best, checksum(y, bytes),
           bad ? "MISMATCH" : "OK");
    if (bad) {
        fprintf(stderr, "saxpy: %u of %u elements differ; first at %u: got %g want %g\n", bad, n,
                first_bad, y[first_bad], params.a * x[first_bad] + y0[first_bad]);
        return 1;
    }
    return 0;
}
