/* A frame larger than the whole 32 KiB stack: with --stack-first the stack
 * pointer wraps below 0 and the first store traps (out of bounds), on the
 * CPU and on the GPU alike. Iterations with in[i] == 0 stay shallow. */
#include "wasi_parallel_kernel.h"

__attribute__((noinline)) static uint32_t deep(uint32_t seed)
{
    volatile uint8_t big[40000];
    for (uint32_t i = 0; i < sizeof big; i += 997)
        big[i] = (uint8_t)(seed + i);
    uint32_t s = 0;
    for (uint32_t i = 0; i < sizeof big; i += 997)
        s += big[i];
    return s;
}

__attribute__((noinline)) static uint32_t shallow(uint32_t seed)
{
    volatile uint32_t small[4] = {seed, seed + 1, seed + 2, seed + 3};
    return small[seed & 3];
}

WP_KERNEL(WP_BUF(const uint32_t, in), WP_BUF(uint32_t, out))
{
    uint32_t v = in[WP_ITER];
    out[WP_ITER] = v ? deep(v) : shallow(WP_ITER);
}
