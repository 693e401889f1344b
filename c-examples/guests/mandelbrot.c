/* mandelbrot guest: computes the Mandelbrot set on a wasi-parallel device and
 * writes it as a colour PPM image (opens in any image viewer; `-` skips it).
 * usage: mandelbrot.wasm [width=512] [device=cpu] [reps=1] [out=mandelbrot.ppm]
 * The default output is relative, so run with a preopened directory, e.g.
 *   wasi-parallel run --dir . mandelbrot.wasm
 * Exit 0 = verified, 1 = mismatch, 2 = API error, 4 = cannot write image. */
#include <math.h>
#include <string.h>

#include "common.h"
#include "mandelbrot_kernel.h" /* mandelbrot_kernel[], mandelbrot_kernel_len */
#include "params.h"

#define ROWS_PER_ITERATION 4 /* on a CPU; 1 on a GPU */
#define MAX_ITER 256

/* the same computation as the kernel, in plain C */
static uint32_t escape_count(const struct mandelbrot_params *p, uint32_t row, uint32_t col)
{
    const float ci = p->y0 + (float)row * p->dy, cr = p->x0 + (float)col * p->dx;
    float zr = 0.0f, zi = 0.0f;
    uint32_t k = 0;
    while (k < p->max_iter && zr * zr + zi * zi <= 4.0f) {
        float t = zr * zr - zi * zi + cr;
        zi = 2.0f * zr * zi + ci;
        zr = t;
        k++;
    }
    return k;
}

static int write_ppm(const char *path, const uint32_t *counts, uint32_t w, uint32_t h,
                     uint32_t max_iter)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fprintf(f, "P6\n%u %u\n255\n", w, h);
    unsigned char *line = xmalloc((size_t)w * 3);
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            uint32_t k = counts[y * w + x];
            double t = k >= max_iter ? 0.0 : sqrt((double)k / max_iter); /* inside: black */
            line[3 * x + 0] = (unsigned char)(9.0 * (1 - t) * t * t * t * 255);
            line[3 * x + 1] = (unsigned char)(15.0 * (1 - t) * (1 - t) * t * t * 255);
            line[3 * x + 2] = (unsigned char)(8.5 * (1 - t) * (1 - t) * (1 - t) * t * 255);
        }
        fwrite(line, 3, w, f);
    }
    free(line);
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const uint32_t w = arg_u32(argc, argv, 1, 512), h = w * 2 / 3;
    const wp_device_kind_t hint = arg_device(argc, argv, 2);
    const uint32_t reps = arg_u32(argc, argv, 3, 1);
    const char *out_path = argc > 4 ? argv[4] : "mandelbrot.ppm";
    if (w < 3 || w > 16384) { fprintf(stderr, "width must be 3..16384\n"); return 64; }
    const uint32_t bytes = w * h * sizeof(uint32_t);

    /* the region x in [-2.2, 0.8], y in [-1, 1] */
    const struct mandelbrot_params p = {
        .width = w, .height = h, .max_iter = MAX_ITER,
        .x0 = -2.2f, .y0 = -1.0f, .dx = 3.0f / w, .dy = 2.0f / h,
    };
    uint32_t *counts = xmalloc(bytes);

    wp_device_t dev;
    wp_buffer_t bp, bc;
    WP_TRY(wp_get_device(hint, &dev));
    WP_TRY(wp_create_buffer(dev, sizeof p, WP_BUFFER_READ, &bp));
    WP_TRY(wp_create_buffer(dev, bytes, WP_BUFFER_WRITE, &bc));
    WP_TRY(wp_write_buffer(&p, sizeof p, bp));

    const uint32_t rows = hint_is_gpu(hint) ? 1 : ROWS_PER_ITERATION;
    const uint32_t iters = (h + rows - 1) / rows;
    double best = 1e300;
    for (uint32_t r = 0; r < reps; r++) {
        double t0 = now_ms();
        WP_TRY(wp_parallel_exec(dev, mandelbrot_kernel, mandelbrot_kernel_len, iters,
                                rows, &bp, 1, &bc, 1));
        double t = now_ms() - t0;
        if (t < best) best = t;
    }
    WP_TRY(wp_read_buffer(bc, counts, bytes));

    /* verify every pixel; a few may differ on a GPU whose float rounding is
     * not bit-exact (fused multiply-add), so allow 0.1% of the pixels */
    uint32_t bad = 0;
    uint64_t inside = 0;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            bad += counts[y * w + x] != escape_count(&p, y, x);
            inside += counts[y * w + x] >= MAX_ITER;
        }
    const int ok = bad <= (uint64_t)w * h / 1000;
    printf("mandelbrot: %ux%u max_iter=%u device=%s iterations=%u block=%u exec_ms=%.3f "
           "inside=%llu differing=%u checksum=0x%08x %s\n",
           w, h, MAX_ITER, wp_device_kind_name(hint), iters, rows, best,
           (unsigned long long)inside, bad, checksum(counts, bytes), ok ? "OK" : "MISMATCH");
    if (!ok) return 1;

    if (strcmp(out_path, "-") != 0) {
        if (write_ppm(out_path, counts, w, h, MAX_ITER) != 0) {
            fprintf(stderr, "mandelbrot: cannot write '%s' (is its directory preopened, "
                            "e.g. --dir .?)\n", out_path);
            return 4;
        }
        printf("mandelbrot: wrote %s\n", out_path);
    }
    free(counts);
    return 0;
}
