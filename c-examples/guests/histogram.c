/* histogram guest: 256-bin histogram of n pseudo-random bytes. Each kernel
 * iteration counts its block into private bins (a local array in the kernel)
 * and writes one partial histogram; the guest adds the partials up.
 * usage: histogram.wasm [n=4194304] [device=cpu] [reps=1]
 * Exit 0 = verified, 1 = mismatch, 2 = API error. */
#include <string.h>

#include "common.h"
#include "histogram_kernel.h" /* histogram_kernel[], histogram_kernel_len */
#include "params.h"

#define BLOCK 65536 /* bytes per iteration */

int main(int argc, char **argv)
{
    const uint32_t n = arg_u32(argc, argv, 1, 4u << 20);
    const wp_device_kind_t hint = arg_device(argc, argv, 2);
    const uint32_t reps = arg_u32(argc, argv, 3, 1);
    const uint32_t iters = n / BLOCK + (n % BLOCK != 0);
    const uint32_t partial_bytes = iters * HISTOGRAM_BINS * sizeof(uint32_t);

    /* skewed data so the histogram has a shape: sum of two random bytes / 2 */
    uint8_t *data = xmalloc(n);
    uint32_t seed = 12345;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = rng_next(&seed);
        data[i] = (uint8_t)(((r & 0xff) + ((r >> 8) & 0xff)) / 2);
    }
    uint32_t *partial = xmalloc(partial_bytes);

    wp_device_t dev;
    wp_buffer_t bd, bh;
    WP_TRY(wp_get_device(hint, &dev));
    WP_TRY(wp_create_buffer(dev, n, WP_BUFFER_READ, &bd));
    WP_TRY(wp_create_buffer(dev, partial_bytes, WP_BUFFER_WRITE, &bh));
    WP_TRY(wp_write_buffer(data, n, bd));

    double best = 1e300;
    for (uint32_t r = 0; r < reps; r++) {
        double t0 = now_ms();
        WP_TRY(wp_parallel_exec(dev, histogram_kernel, histogram_kernel_len, iters, BLOCK,
                                &bd, 1, &bh, 1));
        double t = now_ms() - t0;
        if (t < best) best = t;
    }
    WP_TRY(wp_read_buffer(bh, partial, partial_bytes));

    uint32_t hist[HISTOGRAM_BINS] = {0}, want[HISTOGRAM_BINS] = {0};
    for (uint32_t i = 0; i < iters; i++)
        for (uint32_t b = 0; b < HISTOGRAM_BINS; b++)
            hist[b] += partial[i * HISTOGRAM_BINS + b];
    for (uint32_t i = 0; i < n; i++) /* reference in plain C */
        want[data[i]]++;
    const int ok = memcmp(hist, want, sizeof hist) == 0;
    uint32_t peak = 0;
    for (uint32_t b = 1; b < HISTOGRAM_BINS; b++)
        if (hist[b] > hist[peak]) peak = b;

    printf("histogram: n=%u device=%s iterations=%u block=%u exec_ms=%.3f peak_bin=%u "
           "peak_count=%u checksum=0x%08x %s\n",
           n, wp_device_kind_name(hint), iters, BLOCK, best, peak, hist[peak],
           checksum(hist, sizeof hist), ok ? "OK" : "MISMATCH");
    if (!ok) {
        for (uint32_t b = 0; b < HISTOGRAM_BINS; b++)
            if (hist[b] != want[b]) {
                fprintf(stderr, "histogram: bin %u: got %u want %u\n", b, hist[b], want[b]);
                break;
            }
        return 1;
    }
    return 0;
}
