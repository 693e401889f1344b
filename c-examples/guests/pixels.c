/* pixels guest: a kernel written with WebAssembly SIMD intrinsics
 * (pixels_kernel.c, built with -msimd128) on a wasi-parallel device, checked
 * against the same arithmetic written lane by lane in plain C.
 * usage: pixels.wasm [chunks=65536] [device=cpu] [reps=1]
 * Prints one result line; exit 0 = verified, 1 = mismatch, 2 = API error. */
#include <string.h>

#include "common.h"
#include "params.h"
#include "pixels_kernel.h" /* pixels_kernel[], pixels_kernel_len */

/* What the kernel computes for one chunk, one lane at a time. */
static void pixels_ref(const struct pixels_params *p, const uint8_t *src, uint8_t *dst, float *sum)
{
    float lane[4] = {0, 0, 0, 0};
    for (int i = 0; i < 16; i++) {
        uint16_t x = (uint16_t)((uint16_t)src[i] * (uint16_t)p->gain) >> 6; /* i16x8.mul, shr_u */
        uint32_t y = (uint32_t)x + (uint16_t)p->bias;                        /* add_sat_u */
        int16_t z = (int16_t)(y > 0xffff ? 0xffff : y);                      /* as i16 lanes */
        dst[i] = (uint8_t)(z < 0 ? 0 : z > 255 ? 255 : z);                   /* narrow_i16x8_u */
    }
    /* f0..f3 hold bytes 0-3, 4-7, 8-11, 12-15; lane j adds f0[j] + f1[j] and f2[j] + f3[j] */
    for (int j = 0; j < 4; j++)
        lane[j] = (((float)src[j] + (float)src[4 + j]) + ((float)src[8 + j] + (float)src[12 + j])) *
                  p->scale;
    *sum = (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

int main(int argc, char **argv)
{
    const uint32_t chunks = arg_u32(argc, argv, 1, 1u << 16);
    const wp_device_kind_t hint = arg_device(argc, argv, 2);
    const uint32_t reps = arg_u32(argc, argv, 3, 1);
    if (chunks > UINT32_MAX / 16) { fprintf(stderr, "chunks too large\n"); return 64; }
    const uint32_t bytes = chunks * 16;
    /* a GPU gets one chunk per invocation, a CPU 256 per iteration */
    const uint32_t block = hint_is_gpu(hint) ? 1 : 256;

    struct pixels_params params = {.chunks = chunks, .gain = 77, .bias = 9, .scale = 1.0f / 16};
    uint8_t *src = xmalloc(bytes), *dst = xmalloc(bytes), *want = xmalloc(bytes);
    float *sums = xmalloc(chunks * sizeof(float)), *want_sums = xmalloc(chunks * sizeof(float));
    uint32_t seed = 12345;
    for (uint32_t i = 0; i < bytes; i++) src[i] = (uint8_t)rng_next(&seed);

    wp_device_t dev;
    wp_buffer_t bp, bs, bd, bsum;
    WP_TRY(wp_get_device(hint, &dev));
    WP_TRY(wp_create_buffer(dev, sizeof params, WP_BUFFER_READ, &bp));
    WP_TRY(wp_create_buffer(dev, bytes, WP_BUFFER_READ, &bs));
    WP_TRY(wp_create_buffer(dev, bytes, WP_BUFFER_WRITE, &bd));
    WP_TRY(wp_create_buffer(dev, chunks * sizeof(float), WP_BUFFER_WRITE, &bsum));
    WP_TRY(wp_write_buffer(&params, sizeof params, bp));
    WP_TRY(wp_write_buffer(src, bytes, bs));

    const wp_buffer_t in[] = {bp, bs}, out[] = {bd, bsum};
    const uint32_t iters = (chunks + block - 1) / block;
    double best = 1e300;
    for (uint32_t r = 0; r < reps; r++) {
        double t0 = now_ms();
        WP_TRY(wp_parallel_exec(dev, pixels_kernel, pixels_kernel_len, iters, block, in, 2, out, 2));
        double t = now_ms() - t0;
        if (t < best) best = t;
    }
    WP_TRY(wp_read_buffer(bd, dst, bytes));
    WP_TRY(wp_read_buffer(bsum, sums, chunks * sizeof(float)));

    uint32_t bad = 0, first_bad = 0;
    for (uint32_t c = 0; c < chunks; c++) {
        pixels_ref(&params, src + 16 * c, want + 16 * c, &want_sums[c]);
        if (memcmp(dst + 16 * c, want + 16 * c, 16) != 0 ||
            memcmp(&sums[c], &want_sums[c], sizeof(float)) != 0) {
            if (bad++ == 0) first_bad = c;
        }
    }
    uint32_t sum = checksum(dst, bytes) ^ checksum(sums, chunks * sizeof(float));
    printf("pixels: chunks=%u device=%s iterations=%u block=%u exec_ms=%.3f checksum=0x%08x %s\n",
           chunks, wp_device_kind_name(hint), iters, block, best, sum, bad ? "MISMATCH" : "OK");
    if (bad) {
        fprintf(stderr, "pixels: %u of %u chunks differ; first at %u (sum %g, want %g)\n", bad,
                chunks, first_bad, sums[first_bad], want_sums[first_bad]);
        return 1;
    }
    return 0;
}
