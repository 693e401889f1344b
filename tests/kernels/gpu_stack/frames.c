/* Local arrays of several sizes, a struct passed by pointer, nested helpers
 * with their own frames, a pointer into the stack passed to a helper and
 * compared, and calls through function pointers (call_indirect).
 * Buffers: in u32[n] (in), out u32[num_iterations * 8] (out). */
#include "wasi_parallel_kernel.h"

struct acc {
    uint32_t sum;
    uint32_t x;
    uint8_t small[6];
    uint16_t h;
};

/* Keeps its own frame even at -O2 (the array's address escapes). */
__attribute__((noinline)) static void fill(uint32_t *a, uint32_t n, uint32_t seed)
{
    for (uint32_t i = 0; i < n; i++)
        a[i] = seed * (i + 1) ^ (i << 3);
}

__attribute__((noinline)) static uint32_t sum_bytes(const uint8_t *p, uint32_t n)
{
    uint32_t s = 0;
    for (uint32_t i = 0; i < n; i++)
        s = s * 31 + p[i];
    return s;
}

__attribute__((noinline)) static void update(struct acc *a, const uint32_t *v, uint32_t n)
{
    uint8_t local[37];
    for (uint32_t i = 0; i < n; i++) {
        a->sum += v[i];
        a->x ^= v[i] << (i & 7);
        a->small[i % 6] += (uint8_t)v[i];
        local[i % 37] = (uint8_t)(v[i] >> 3);
    }
    a->h = (uint16_t)sum_bytes(local, n < 37 ? n : 37);
}

/* Nested helpers, each with a frame: depth 3 below the kernel. */
__attribute__((noinline)) static uint32_t level3(uint32_t seed)
{
    uint32_t big[300];
    fill(big, 300, seed);
    return sum_bytes((const uint8_t *)big, sizeof big);
}

__attribute__((noinline)) static uint32_t level2(uint32_t seed)
{
    uint16_t mid[50];
    for (uint32_t i = 0; i < 50; i++)
        mid[i] = (uint16_t)(seed + i * 7);
    return level3(seed ^ mid[seed % 50]) + sum_bytes((const uint8_t *)mid, 99);
}

/* A pointer into the caller's frame, compared with others of the same frame. */
__attribute__((noinline)) static uint32_t where(const uint32_t *p, const uint32_t *base,
                                                const uint32_t *end)
{
    return (p >= base && p < end) ? (uint32_t)(p - base) : 0xFFFFFFFFu;
}

typedef uint32_t (*op_fn)(uint32_t);
__attribute__((noinline)) static uint32_t op_a(uint32_t x) { return x * 3 + 1; }
__attribute__((noinline)) static uint32_t op_b(uint32_t x) { return (x >> 2) ^ 0x5A5A; }
__attribute__((noinline)) static uint32_t op_c(uint32_t x)
{
    uint32_t t[5] = {x, x + 1, x + 2, x + 3, x + 4};
    return sum_bytes((const uint8_t *)t, sizeof t);
}
static op_fn const ops[3] = {op_a, op_b, op_c};

WP_KERNEL(WP_BUF(const uint32_t, in), WP_BUF(uint32_t, out))
{
    uint32_t n = in_len / 4;
    uint32_t v = in[WP_ITER % n];
    uint32_t a8[8];
    uint32_t a100[100];
    struct acc acc = {0};
    fill(a8, 8, v);
    fill(a100, 100, v + 1);
    update(&acc, a100, 100);
    update(&acc, a8, 8);
    uint32_t *o = out + WP_ITER * 8;
    o[0] = acc.sum ^ acc.x;
    o[1] = sum_bytes(acc.small, 6) + acc.h;
    o[2] = level2(v);
    o[3] = where(&a100[v % 100], a100, a100 + 100);
    o[4] = where(&a8[3], a100, a100 + 100) ^ where(&a8[v % 8], a8, a8 + 8);
    o[5] = ops[v % 3](v);
    o[6] = ops[(v >> 4) % 3](o[5]);
    o[7] = a100[v % 100] + a8[v % 8];
}
