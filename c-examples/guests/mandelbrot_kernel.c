/* mandelbrot kernel: escape-time iteration counts, `block_size` rows per
 * iteration. Buffers: params (in), counts u32[width * height] (out). */
#include "wasi_parallel_kernel.h"
#include "params.h"

WP_KERNEL(WP_BUF(const struct mandelbrot_params, p), WP_BUF(uint32_t, counts))
{
    const uint32_t w = p->width, max_iter = p->max_iter;
    uint32_t h = p->height, row_begin, row_end;
    if (w == 0) return;
    if (h > counts_len / sizeof(uint32_t) / w) h = counts_len / sizeof(uint32_t) / w;
    wp_block_range(WP_ITER, WP_BLOCK, h, &row_begin, &row_end);
    for (uint32_t row = row_begin; row < row_end; row++) {
        const float ci = p->y0 + (float)row * p->dy;
        for (uint32_t col = 0; col < w; col++) {
            const float cr = p->x0 + (float)col * p->dx;
            float zr = 0.0f, zi = 0.0f;
            uint32_t k = 0;
            while (k < max_iter && zr * zr + zi * zi <= 4.0f) {
                float t = zr * zr - zi * zi + cr;
                zi = 2.0f * zr * zi + ci;
                zr = t;
                k++;
            }
            counts[row * w + col] = k;
        }
    }
}
