/* The most common shape of a C kernel with a small private array: a 16-bin
 * histogram in a local array of the kernel itself, a leaf, indexed by
 * values read from a buffer. From -O1 on, clang gives the leaf its frame
 * below __stack_pointer (`global.get; i32.const 64; i32.sub; local.tee`)
 * and never sets the global.
 * Buffers: in u32[n] (in), out u32[num_iterations] (out). */
#include "wasi_parallel_kernel.h"

WP_KERNEL(WP_BUF(const uint32_t, in), WP_BUF(uint32_t, out))
{
    uint32_t n = in_len / 4;
    uint32_t bins[16] = {0};
    for (uint32_t j = 0; j < 64; j++)
        bins[in[(WP_ITER * 64 + j) % n] & 15] += j + 1;
    uint32_t acc = 0;
    for (uint32_t b = 0; b < 16; b++)
        acc = acc * 31 + bins[in[(WP_ITER + b) % n] & 15];
    out[WP_ITER] = acc;
}
