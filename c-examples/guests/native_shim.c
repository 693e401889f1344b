/* native_shim.c - a native stand-in for the five wasi-parallel imports, for
 * testing a guest and its kernel before (or without) the wasm runtime.
 *
 * Build a guest natively together with its kernel compiled as a plain C
 * function (the kernel header makes WP_KERNEL an ordinary function `kernel`):
 *   cc -I include -I c-examples/guests -I OUTDIR c-examples/guests/saxpy.c \
 *      c-examples/guests/saxpy_kernel.c c-examples/guests/native_shim.c -lm
 * wp_parallel_exec ignores the kernel bytes (it only checks the wasm magic)
 * and calls the linked native `kernel` once per iteration, in reverse order
 * (to catch kernels that depend on iteration order), on several threads when
 * built with -fopenmp. Buffers are separate heap blocks of exactly their size,
 * so -fsanitize=address catches a kernel reading or writing past a buffer.
 * Argument checks follow ABI.md section 3 where they can be done natively. */
#include <stdlib.h>
#include <string.h>

#include "wasi_parallel_guest.h"

#define MAX_BUFFERS 1024
#define MAX_KERNEL_BUFFERS 8

struct buffer {
    unsigned char *data;
    uint32_t size;
    wp_device_t device;
};
static struct buffer buffers[MAX_BUFFERS + 1]; /* handle 0 unused */
static uint32_t num_buffers;

/* the native kernel linked into this program: called through a pointer of
 * the right arity (pointers and u32 lengths, as in the wasm ABI) */
extern void kernel(void);
typedef uint32_t u32;
typedef void *p;

static int device_ok(wp_device_t d) { return d >= 1 && d <= 4; }

wp_errno_t wp_get_device(wp_device_kind_t hint, wp_device_t *out_device)
{
    if (hint > WP_DEVICE_INTEGRATED_GPU) return WP_INVALID_ARGUMENT;
    if (!out_device) return WP_OUT_OF_BOUNDS;
    *out_device = hint + 1;
    return WP_SUCCESS;
}

wp_errno_t wp_create_buffer(wp_device_t device, uint32_t size, wp_buffer_access_t access,
                            wp_buffer_t *out_buffer)
{
    if (!device_ok(device)) return WP_INVALID_HANDLE;
    if (access > WP_BUFFER_READ_WRITE) return WP_INVALID_ARGUMENT;
    if (!out_buffer) return WP_OUT_OF_BOUNDS;
    if (num_buffers == MAX_BUFFERS) return WP_RESOURCE_EXHAUSTED;
    unsigned char *data = calloc(size ? size : 1, 1);
    if (!data) return WP_RESOURCE_EXHAUSTED;
    num_buffers++;
    buffers[num_buffers] = (struct buffer){data, size, device};
    *out_buffer = num_buffers;
    return WP_SUCCESS;
}

static struct buffer *lookup(wp_buffer_t b)
{
    return b >= 1 && b <= num_buffers ? &buffers[b] : NULL;
}

wp_errno_t wp_write_buffer(const void *data, uint32_t data_len, wp_buffer_t buffer)
{
    struct buffer *b = lookup(buffer);
    if (!b) return WP_INVALID_HANDLE;
    if (data_len > b->size || (!data && data_len)) return WP_OUT_OF_BOUNDS;
    memcpy(b->data, data, data_len);
    return WP_SUCCESS;
}

wp_errno_t wp_read_buffer(wp_buffer_t buffer, void *data, uint32_t data_len)
{
    struct buffer *b = lookup(buffer);
    if (!b) return WP_INVALID_HANDLE;
    if (data_len > b->size || (!data && data_len)) return WP_OUT_OF_BOUNDS;
    memcpy(data, b->data, data_len);
    return WP_SUCCESS;
}

wp_errno_t wp_parallel_exec(wp_device_t device, const void *kernel_bytes, uint32_t kernel_len,
                            uint32_t num_iterations, uint32_t block_size,
                            const wp_buffer_t *in_buffers, uint32_t in_buffers_len,
                            const wp_buffer_t *out_buffers, uint32_t out_buffers_len)
{
    if (!device_ok(device)) return WP_INVALID_HANDLE;
    if (kernel_len < 8 || memcmp(kernel_bytes, "\0asm\1\0\0\0", 8) != 0) return WP_INVALID_KERNEL;
    const uint32_t nb = in_buffers_len + out_buffers_len;
    if (nb > MAX_KERNEL_BUFFERS) return WP_INVALID_KERNEL;
    p ptr[MAX_KERNEL_BUFFERS] = {0};
    u32 len[MAX_KERNEL_BUFFERS] = {0};
    for (uint32_t i = 0; i < nb; i++) {
        wp_buffer_t h = i < in_buffers_len ? in_buffers[i] : out_buffers[i - in_buffers_len];
        struct buffer *b = lookup(h);
        if (!b || b->device != device) return WP_INVALID_HANDLE;
        ptr[i] = b->data;
        len[i] = b->size;
    }
    void (*k)(void) = kernel;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t r = (int64_t)num_iterations - 1; r >= 0; r--) {
        const u32 it = (u32)r, n = num_iterations, bs = block_size;
        switch (nb) {
        case 0: ((void (*)(u32, u32, u32))k)(it, n, bs); break;
        case 1: ((void (*)(u32, u32, u32, p, u32))k)(it, n, bs, ptr[0], len[0]); break;
        case 2:
            ((void (*)(u32, u32, u32, p, u32, p, u32))k)(it, n, bs, ptr[0], len[0], ptr[1], len[1]);
            break;
        case 3:
            ((void (*)(u32, u32, u32, p, u32, p, u32, p, u32))k)(it, n, bs, ptr[0], len[0], ptr[1],
                                                                 len[1], ptr[2], len[2]);
            break;
        case 4:
            ((void (*)(u32, u32, u32, p, u32, p, u32, p, u32, p, u32))k)(
                it, n, bs, ptr[0], len[0], ptr[1], len[1], ptr[2], len[2], ptr[3], len[3]);
            break;
        default: /* 5..8 buffers: pass 8 pairs, the kernel ignores the rest (SysV/AAPCS) */
            ((void (*)(u32, u32, u32, p, u32, p, u32, p, u32, p, u32, p, u32, p, u32, p, u32, p,
                       u32))k)(it, n, bs, ptr[0], len[0], ptr[1], len[1], ptr[2], len[2], ptr[3],
                               len[3], ptr[4], len[4], ptr[5], len[5], ptr[6], len[6], ptr[7],
                               len[7]);
            break;
        }
    }
    return WP_SUCCESS;
}
