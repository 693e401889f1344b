/* matmul kernel (f32, row-major): C = A * B with A n x k, B k x m;
 * `block_size` rows of C per iteration, i-k-j loop order.
 * Buffers: params, A, B (in), C (out). */
#include "wasi_parallel_kernel.h"
#include "params.h"

WP_KERNEL(WP_BUF(const struct matmul_params, p), WP_BUF(const float, a),
          WP_BUF(const float, b), WP_BUF(float, c))
{
    const uint32_t n = p->n, m = p->m, k = p->k;
    if (!wp_fits(n, k, sizeof(float), a_len) || !wp_fits(k, m, sizeof(float), b_len) ||
        !wp_fits(n, m, sizeof(float), c_len))
        wp_trap(); /* buffers smaller than the parameters say */
    uint32_t row_begin, row_end;
    wp_block_range(WP_ITER, WP_BLOCK, n, &row_begin, &row_end);
    for (uint32_t i = row_begin; i < row_end; i++) {
        float *crow = c + i * m;
        for (uint32_t j = 0; j < m; j++)
            crow[j] = 0.0f;
        for (uint32_t kk = 0; kk < k; kk++) {
            const float aik = a[i * k + kk];
            const float *brow = b + kk * m;
            for (uint32_t j = 0; j < m; j++)
                crow[j] += aik * brow[j];
        }
    }
}
