/* params.h - parameter blocks shared by the example guests and their kernels.
 * A kernel gets only buffers, so scalars travel in a small read buffer.
 * Plain 32-bit fields only: the layout is identical in the wasm32 guest, the
 * wasm32 kernel and a native build. */
#ifndef EXAMPLE_PARAMS_H
#define EXAMPLE_PARAMS_H
#include <stdint.h>

/* saxpy: y[i] = a * x[i] + y[i] for i < n */
struct saxpy_params {
    float a;
    uint32_t n;
};

/* mandelbrot: out[row * width + col] = escape iteration count (max_iter = inside)
 * for c = (x0 + col * dx) + i (y0 + row * dy); block_size = rows per iteration */
struct mandelbrot_params {
    uint32_t width, height, max_iter;
    float x0, y0, dx, dy;
};

/* matmul: C[n x m] = A[n x k] * B[k x m], row-major f32;
 * block_size = rows of C per iteration */
struct matmul_params {
    uint32_t n, m, k;
};

/* histogram: 256 bins over bytes; iteration i counts bytes
 * [i * block_size, (i + 1) * block_size) into partial[i * 256 .. i * 256 + 255] */
#define HISTOGRAM_BINS 256

/* pixels (written with wasm SIMD intrinsics): for each byte p of src,
 * dst = narrow_u8(sat_add_u16(((u16)p * gain) >> 6, bias)), and for each
 * 16-byte chunk c, sums[c] = scale * (sum of its 16 source bytes as f32,
 * added in the order of pixels_ref below); block_size = chunks per iteration */
struct pixels_params {
    uint32_t chunks; /* 16-byte chunks in src/dst */
    uint32_t gain;   /* 0..65535, used modulo 2^16 like i16x8.mul */
    uint32_t bias;   /* 0..65535 */
    float scale;
};

#endif
