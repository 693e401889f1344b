/* demo guest: the Mandelbrot set as text art, computed by a kernel that the
 * guest hands to a wasi-parallel device. The kernel is a separate wasm module
 * (mandelbrot_kernel.c), embedded here as bytes.
 * usage: demo.wasm [device=cpu] [columns=78] [runs=1]
 *   runs > 1: the kernel runs that many times; the time printed is the best
 *   of them (a warm call: kernel compiled, workers or GPU pipeline ready),
 *   the first call's time is printed too.
 *   wasi-parallel run demo.wasm            # CPU thread pool
 *   wasi-parallel run demo.wasm sequential
 * Exit 0 = the device's picture matches the guest's own computation. */
#include <string.h>

#include "common.h"
#include "mandelbrot_kernel.h" /* mandelbrot_kernel[], mandelbrot_kernel_len */
#include "params.h"

int main(int argc, char **argv)
{
    const wp_device_kind_t hint = arg_device(argc, argv, 1);
    const uint32_t cols = arg_u32(argc, argv, 2, 78), rows = cols * 5 / 13;
    const uint32_t runs = arg_u32(argc, argv, 3, 1);
    const struct mandelbrot_params p = {
        .width = cols, .height = rows, .max_iter = 200,
        .x0 = -2.2f, .y0 = -1.2f, .dx = 3.0f / cols, .dy = 2.4f / rows,
    };
    const uint32_t bytes = cols * rows * sizeof(uint32_t);
    uint32_t *counts = xmalloc(bytes);

    /* 1. a device, 2. buffers, 3. inputs, 4. run one iteration per row, 5. results */
    wp_device_t dev;
    wp_buffer_t params, image;
    WP_TRY(wp_get_device(hint, &dev));
    WP_TRY(wp_create_buffer(dev, sizeof p, WP_BUFFER_READ, &params));
    WP_TRY(wp_create_buffer(dev, bytes, WP_BUFFER_WRITE, &image));
    WP_TRY(wp_write_buffer(&p, sizeof p, params));
    double ms = 0, first_ms = 0;
    for (uint32_t run = 0; run < (runs ? runs : 1); run++) {
        double t0 = now_ms();
        WP_TRY(wp_parallel_exec(dev, mandelbrot_kernel, mandelbrot_kernel_len,
                                /*num_iterations=*/rows, /*block_size=*/1, &params, 1, &image, 1));
        double t = now_ms() - t0;
        if (run == 0) first_ms = ms = t;
        if (t < ms) ms = t;
    }
    WP_TRY(wp_read_buffer(image, counts, bytes));

    /* inside the set: '@'; outside: a shade by log2 of the escape count */
    static const char shades[] = " .,:-=+*#%";
    for (uint32_t y = 0; y < rows; y++) {
        char line[1024];
        uint32_t x;
        for (x = 0; x < cols && x < sizeof line - 1; x++) {
            uint32_t k = counts[y * cols + x], level = 0;
            while ((k >>= 1) != 0 && level < sizeof shades - 2) level++;
            line[x] = counts[y * cols + x] >= p.max_iter ? '@' : shades[level];
        }
        line[x] = 0;
        printf("%s\n", line);
    }

    /* check one row against the same loop run right here in the guest */
    uint32_t y = rows / 2, bad = 0;
    for (uint32_t x = 0; x < cols; x++) {
        float cr = p.x0 + (float)x * p.dx, ci = p.y0 + (float)y * p.dy, zr = 0, zi = 0;
        uint32_t k = 0;
        while (k < p.max_iter && zr * zr + zi * zi <= 4.0f) {
            float t = zr * zr - zi * zi + cr;
            zi = 2.0f * zr * zi + ci;
            zr = t;
            k++;
        }
        bad += k != counts[y * cols + x];
    }
    /* exact on CPU devices; a GPU that fuses multiply-adds may flip a pixel */
    const int ok = bad * 50 <= cols;
    printf("demo: %u kernel iterations (one per row) on a '%s' device in %.2f ms "
           "(first of %u calls %.2f ms); checksum=0x%08x; row check: %u of %u differ, %s\n",
           rows, wp_device_kind_name(hint), ms, runs ? runs : 1, first_ms,
           checksum(counts, bytes), bad, cols, ok ? "OK" : "MISMATCH");
    free(counts);
    return ok ? 0 : 1;
}
