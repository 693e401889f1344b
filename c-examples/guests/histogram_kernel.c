/* histogram kernel: each iteration counts the bytes of its block into 256
 * bins kept in a local array (private to the iteration: it lives on the
 * kernel's shadow stack in [0, R)), then writes them to its own row of the
 * partial-histogram buffer. The guest adds the rows up.
 * Buffers: data u8[n] (in), partial u32[num_iterations * 256] (out). */
#include "wasi_parallel_kernel.h"
#include "params.h"

WP_KERNEL(WP_BUF(const uint8_t, data), WP_BUF(uint32_t, partial))
{
    uint32_t bins[HISTOGRAM_BINS] = {0};
    uint32_t begin, end;
    if (!wp_fits(WP_ITER + 1, HISTOGRAM_BINS, sizeof(uint32_t), partial_len))
        wp_trap(); /* partial buffer too small for this iteration */
    wp_block_range(WP_ITER, WP_BLOCK, data_len, &begin, &end);
    for (uint32_t i = begin; i < end; i++)
        bins[data[i]]++;
    uint32_t *row = partial + WP_ITER * HISTOGRAM_BINS;
    for (uint32_t b = 0; b < HISTOGRAM_BINS; b++)
        row[b] = bins[b];
}
