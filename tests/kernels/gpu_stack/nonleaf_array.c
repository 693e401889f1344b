/* Local arrays with dynamic indices in a non-leaf kernel (its frame is set
 * with global.set: the array's address escapes into a helper) and in a leaf
 * helper below it (a frame below the caller's lowered stack pointer,
 * without global.set).
 * Buffers: in u32[n] (in), out u32[num_iterations * 2] (out). */
#include "wasi_parallel_kernel.h"

/* Leaf: its own 16-bin array, indexed by the data. */
__attribute__((noinline)) static uint32_t leaf_hist(const uint32_t *in, uint32_t n, uint32_t seed)
{
    uint32_t bins[16] = {0};
    for (uint32_t j = 0; j < 48; j++)
        bins[in[(seed + j * 7) % n] & 15] += j ^ seed;
    uint32_t acc = 0;
    for (uint32_t b = 0; b < 16; b++)
        acc = acc * 33 + bins[(acc ^ b) & 15];
    return acc;
}

/* Reads the caller's array at data-dependent places. */
__attribute__((noinline)) static uint32_t pick(const uint32_t *a, const uint32_t *in, uint32_t n,
                                               uint32_t k)
{
    uint32_t s = 0;
    for (uint32_t j = 0; j < 8; j++)
        s += a[in[(k + j) % n] % 24] * (j + 1);
    return s;
}

WP_KERNEL(WP_BUF(const uint32_t, in), WP_BUF(uint32_t, out))
{
    uint32_t n = in_len / 4;
    uint32_t a[24];
    for (uint32_t j = 0; j < 24; j++)
        a[j] = in[(WP_ITER + j) % n] * (j + 3);
    a[in[WP_ITER % n] % 24] ^= WP_ITER;
    out[2 * WP_ITER] = pick(a, in, n, WP_ITER);
    out[2 * WP_ITER + 1] = leaf_hist(in, n, WP_ITER) + a[(WP_ITER * 5) % 24];
}
