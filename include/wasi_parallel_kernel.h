/*
 * wasi_parallel_kernel.h - for authors of wasi-parallel kernels written in C.
 *
 * A kernel is a complete, tiny WebAssembly module that the runtime runs once
 * per iteration of a "parallel for" (see ABI.md section 2 / docs of
 * libwasi_parallel). It must
 *   - import exactly one memory and nothing else,
 *   - export a function `kernel(iteration_id, num_iterations, block_size,
 *     ptr_0, len_0, ptr_1, len_1, ...)` with no result: one (ptr, len) pair per
 *     buffer, input buffers first, then output buffers, in list order.
 *
 * Build a C kernel like this (what cmake/WasiParallelGuest.cmake and
 * c-examples/guests/build.sh do):
 *
 *   clang --target=wasm32 -nostdlib -ffreestanding -O2 \
 *     -Wl,--no-entry -Wl,--import-memory -Wl,--export=kernel \
 *     -Wl,--stack-first -Wl,-z,stack-size=32768 -Wl,--initial-memory=65536 \
 *     -I<sdk>/include my_kernel.c -o my_kernel.wasm
 *
 * Memory seen by the kernel: [0, R) is the kernel's own region (R = the
 * imported memory's minimum, 64 KiB with the flags above). With
 * --stack-first the clang shadow stack sits at [0, 32 KiB) and grows down, so
 * a stack overflow runs below address 0 and traps instead of silently
 * corrupting data; the kernel's static data (constant tables, ...) follows
 * the stack. Buffers are placed at or above R, 16-byte aligned. Each CPU
 * worker has its own private [0, R); buffer bytes are shared by all workers.
 * The kernel cannot see the guest's memory, only its buffers.
 *
 * Writing a kernel:
 *
 *   #include "wasi_parallel_kernel.h"
 *
 *   WP_KERNEL(WP_BUF(const float, x), WP_BUF(float, y))
 *   {
 *       uint32_t begin, end;
 *       wp_block_range(WP_ITER, WP_BLOCK, y_len / sizeof(float), &begin, &end);
 *       for (uint32_t i = begin; i < end; i++) y[i] += x[i];
 *   }
 *
 * Inside the body, WP_ITER, WP_NUM_ITERS and WP_BLOCK name the first three
 * parameters. Buffer pointers are plain C pointers (a wasm32 pointer is the
 * i32 offset the runtime passes), lengths are in bytes.
 *
 * The same source also compiles natively (gcc/clang for the host): then
 * WP_KERNEL defines an ordinary C function named WP_KERNEL_NAME (default
 * `kernel`; pass -DWP_KERNEL_NAME=my_name to link several kernels into one
 * native program). The project uses that to test kernels natively and for
 * the native benchmark references.
 *
 * There is no libc: only the freestanding headers (stdint.h, stddef.h,
 * stdbool.h, float.h, limits.h) and the helpers below. Floating point:
 * __builtin_sqrtf, __builtin_fabsf, __builtin_floorf, __builtin_ceilf,
 * __builtin_truncf, __builtin_fminf/fmaxf map to single wasm instructions.
 */
#ifndef WASI_PARALLEL_KERNEL_H
#define WASI_PARALLEL_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef WP_KERNEL_NAME
#define WP_KERNEL_NAME kernel
#endif

/* Names of the three leading kernel parameters, for use inside the body. */
#define WP_ITER      wp_iteration_id
#define WP_NUM_ITERS wp_num_iterations
#define WP_BLOCK     wp_block_size

/* One buffer parameter pair: `T *name, uint32_t name_len` (length in bytes). */
#define WP_BUF(T, name) T *name, __attribute__((unused)) uint32_t name##_len

#ifdef __cplusplus
#define WP_KERNEL_LINKAGE extern "C"
#else
#define WP_KERNEL_LINKAGE
#endif
#if defined(__wasm__)
#define WP_KERNEL_ATTRS                                                       \
    WP_KERNEL_LINKAGE __attribute__((export_name("kernel"), visibility("default")))
#else
#define WP_KERNEL_ATTRS WP_KERNEL_LINKAGE
#endif

/*
 * WP_KERNEL(buffers...) { body }
 * Declares the kernel entry point with the three leading parameters of the
 * ABI followed by the given buffer parameters (use WP_BUF for each).
 * WP_KERNEL_NOBUF() declares a kernel without buffers.
 */
#define WP_KERNEL(...)                                                        \
    WP_KERNEL_ATTRS void WP_KERNEL_NAME(WP_KERNEL_LEADING_PARAMS, __VA_ARGS__)
#define WP_KERNEL_NOBUF() WP_KERNEL_ATTRS void WP_KERNEL_NAME(WP_KERNEL_LEADING_PARAMS)
#define WP_KERNEL_LEADING_PARAMS                                              \
    __attribute__((unused)) uint32_t WP_ITER,                                 \
        __attribute__((unused)) uint32_t WP_NUM_ITERS,                        \
        __attribute__((unused)) uint32_t WP_BLOCK

/*
 * The usual work split: iteration `iter` handles elements
 * [iter * block, min((iter + 1) * block, total)). Sets *begin == *end when
 * the iteration has nothing to do (also for block == 0). 32-bit arithmetic
 * only (no i64 in the kernel), overflow-safe.
 */
static inline void wp_block_range(uint32_t iter, uint32_t block, uint32_t total,
                                  uint32_t *begin, uint32_t *end)
{
    if (block == 0 || iter > total / block) {
        *begin = *end = total;
        return;
    }
    uint32_t b = iter * block; /* <= total, no overflow */
    *begin = b;
    *end = (total - b < block) ? total : b + block;
}

/* Whether count_a * count_b elements of elem_size bytes fit in len bytes
 * (32-bit arithmetic, no overflow). */
static inline int wp_fits(uint32_t count_a, uint32_t count_b, uint32_t elem_size, uint32_t len)
{
    if (count_a == 0 || count_b == 0) return 1;
    if (elem_size == 0) return 1;
    return count_b <= len / elem_size / count_a;
}

/* Stop the iteration with a trap (the parallel_exec call returns kernel_trap). */
#define wp_trap() __builtin_trap()

#if defined(__wasm__) && !defined(WP_KERNEL_NO_MEMFUNCS)
/*
 * clang lowers struct copies and array initialisers (`int bins[256] = {0};`)
 * to calls of memset/memcpy/memmove even with -nostdlib. Kernels have no libc,
 * so the header provides small weak versions (no_builtin keeps clang from
 * turning their loops back into calls to themselves). Define
 * WP_KERNEL_NO_MEMFUNCS to supply your own.
 */
__attribute__((weak, no_builtin("memset"))) void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    /* Plain loops even at -O3: vectorised and unrolled copies of them,
     * inlined at every call, made GPU drivers compile for minutes. */
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
    for (; n && ((uintptr_t)d & 3); n--) *d++ = (unsigned char)c;
    uint32_t w = (unsigned char)c * 0x01010101u;
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
    for (; n >= 4; n -= 4, d += 4) *(uint32_t *)d = w;
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
    while (n--) *d++ = (unsigned char)c;
    return dst;
}
__attribute__((weak, no_builtin("memcpy"))) void *memcpy(void *__restrict dst,
                                                          const void *__restrict src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    while (n--) *d++ = *s++;
    return dst;
}
__attribute__((weak, no_builtin("memmove"))) void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* WASI_PARALLEL_KERNEL_H */
