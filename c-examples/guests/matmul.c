/* matmul guest: C = A * B for square f32 matrices on a wasi-parallel device.
 * usage: matmul.wasm [n=256] [device=cpu] [reps=1]
 * Exit 0 = verified, 1 = mismatch, 2 = API error. */
#include <math.h>

#include "common.h"
#include "matmul_kernel.h" /* matmul_kernel[], matmul_kernel_len */
#include "params.h"

#define ROWS_PER_ITERATION 4 /* on a CPU; 1 on a GPU */

int main(int argc, char **argv)
{
    const uint32_t n = arg_u32(argc, argv, 1, 256);
    const wp_device_kind_t hint = arg_device(argc, argv, 2);
    const uint32_t reps = arg_u32(argc, argv, 3, 1);
    if (n > 8192) { fprintf(stderr, "n must be <= 8192\n"); return 64; }
    const struct matmul_params p = {.n = n, .m = n, .k = n};
    const uint32_t bytes = n * n * sizeof(float);

    float *a = xmalloc(bytes), *b = xmalloc(bytes), *c = xmalloc(bytes);
    uint32_t seed = 42;
    for (uint32_t i = 0; i < n * n; i++) {
        a[i] = (float)(rng_next(&seed) % 2001) / 1000.0f - 1.0f; /* [-1, 1] */
        b[i] = (float)(rng_next(&seed) % 2001) / 1000.0f - 1.0f;
    }

    wp_device_t dev;
    wp_buffer_t bp, ba, bb, bc;
    WP_TRY(wp_get_device(hint, &dev));
    WP_TRY(wp_create_buffer(dev, sizeof p, WP_BUFFER_READ, &bp));
    WP_TRY(wp_create_buffer(dev, bytes, WP_BUFFER_READ, &ba));
    WP_TRY(wp_create_buffer(dev, bytes, WP_BUFFER_READ, &bb));
    WP_TRY(wp_create_buffer(dev, bytes, WP_BUFFER_WRITE, &bc));
    WP_TRY(wp_write_buffer(&p, sizeof p, bp));
    WP_TRY(wp_write_buffer(a, bytes, ba));
    WP_TRY(wp_write_buffer(b, bytes, bb));

    const wp_buffer_t in[] = {bp, ba, bb};
    const uint32_t rows = hint_is_gpu(hint) ? 1 : ROWS_PER_ITERATION;
    const uint32_t iters = (n + rows - 1) / rows;
    double best = 1e300;
    for (uint32_t r = 0; r < reps; r++) {
        double t0 = now_ms();
        WP_TRY(wp_parallel_exec(dev, matmul_kernel, matmul_kernel_len, iters,
                                rows, in, 3, &bc, 1));
        double t = now_ms() - t0;
        if (t < best) best = t;
    }
    WP_TRY(wp_read_buffer(bc, c, bytes));

    /* reference in plain C (naive i-j-k dot products in double); the tolerance
     * covers float rounding of n-term sums of products in [-1, 1] */
    uint32_t bad = 0, first_bad = 0;
    double first_want = 0, max_err = 0;
    const double tol = 1e-5 * n + 1e-5;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++) {
            double want = 0;
            for (uint32_t k = 0; k < n; k++) want += (double)a[i * n + k] * b[k * n + j];
            double err = fabs(c[i * n + j] - want);
            if (err > max_err) max_err = err;
            if (!(err <= tol) && bad++ == 0) {
                first_bad = i * n + j;
                first_want = want;
            }
        }
    printf("matmul: %ux%u device=%s iterations=%u block=%u exec_ms=%.3f gflops=%.3f "
           "max_abs_err=%.2e checksum=0x%08x %s\n",
           n, n, wp_device_kind_name(hint), iters, rows, best,
           2.0 * n * n * n / (best * 1e6), max_err, checksum(c, bytes), bad ? "MISMATCH" : "OK");
    if (bad) {
        fprintf(stderr, "matmul: %u of %u elements off; first C[%u][%u] = %g, want %g\n", bad,
                n * n, first_bad / n, first_bad % n, c[first_bad], first_want);
        return 1;
    }
    return 0;
}
