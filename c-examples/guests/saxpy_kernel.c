/* saxpy kernel: y[i] = a * x[i] + y[i]; iteration `it` handles elements
 * [it * block_size, (it + 1) * block_size). Buffers: params, x (in), y (out). */
#include "wasi_parallel_kernel.h"
#include "params.h"

WP_KERNEL(WP_BUF(const struct saxpy_params, p), WP_BUF(const float, x), WP_BUF(float, y))
{
    uint32_t n = p->n, begin, end;
    if (n > x_len / sizeof(float)) n = x_len / sizeof(float);
    if (n > y_len / sizeof(float)) n = y_len / sizeof(float);
    wp_block_range(WP_ITER, WP_BLOCK, n, &begin, &end);
    const float a = p->a;
    for (uint32_t i = begin; i < end; i++)
        y[i] = a * x[i] + y[i];
}
