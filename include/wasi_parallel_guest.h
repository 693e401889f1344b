/*
 * wasi_parallel_guest.h - guest-side SDK for wasi-parallel
 * (import module "wasi_ephemeral_parallel"), as implemented by
 * libwasi_parallel.
 *
 * A guest is an ordinary wasm32-wasi program (clang --target=wasm32-wasi).
 * It offloads a "parallel for" to a device:
 *
 *   1. wp_get_device()     pick a device (the kind is only a hint),
 *   2. wp_create_buffer()  allocate zero-filled device buffers,
 *   3. wp_write_buffer()   copy inputs from guest memory into buffers,
 *   4. wp_parallel_exec()  run a kernel (wasm module bytes) for
 *                          iterations 0 .. num_iterations-1,
 *   5. wp_read_buffer()    copy results back into guest memory.
 *
 * Every call returns a wp_errno_t (WP_SUCCESS == 0). An error never stops the
 * guest; handles are written through out-pointers only on success.
 * A kernel is embedded as a byte array, usually a header made by
 * `wasi-parallel embed kernel.wasm --name my_kernel > my_kernel.h` or by the
 * CMake function wasi_parallel_add_kernel() (cmake/WasiParallelGuest.cmake).
 *
 * Minimal use:
 *
 *   #include "wasi_parallel_guest.h"
 *   #include "saxpy_kernel.h"          // static const unsigned char saxpy_kernel[]
 *
 *   wp_device_t dev;
 *   wp_buffer_t x, y;
 *   WP_TRY(wp_get_device(WP_DEVICE_CPU, &dev));
 *   WP_TRY(wp_create_buffer(dev, n * 4, WP_BUFFER_READ, &x));
 *   WP_TRY(wp_create_buffer(dev, n * 4, WP_BUFFER_READ_WRITE, &y));
 *   WP_TRY(wp_write_buffer(xs, n * 4, x));
 *   WP_TRY(wp_write_buffer(ys, n * 4, y));
 *   WP_TRY(wp_parallel_exec(dev, saxpy_kernel, saxpy_kernel_len,
 *                           num_iterations, block_size, &x, 1, &y, 1));
 *   WP_TRY(wp_read_buffer(y, ys, n * 4));
 *
 * The declarations compile natively too (without the import attributes), so
 * a host-side test can link a native implementation of the five functions.
 */
#ifndef WASI_PARALLEL_GUEST_H
#define WASI_PARALLEL_GUEST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- handles and enums (all 32-bit, as in the wasm ABI) ---------------- */

/** Device handle, per guest instance. */
typedef uint32_t wp_device_t;
/** Buffer handle, per guest instance; a buffer belongs to one device. */
typedef uint32_t wp_buffer_t;
/** Result of every call: one of the WP_* error codes below. */
typedef int32_t wp_errno_t;
/** Device kind: one of WP_DEVICE_*. */
typedef uint32_t wp_device_kind_t;
/** How kernels use a buffer: one of WP_BUFFER_*. */
typedef uint32_t wp_buffer_access_t;

/* device_kind (witx tag order). The kind passed to wp_get_device is a hint:
 * an absent kind falls back to the best available device (GPU -> CPU), and
 * the host configuration may force a kind. */
enum {
    WP_DEVICE_SEQUENTIAL = 0,     /* iterations one after another, calling thread */
    WP_DEVICE_CPU = 1,            /* iterations on a thread pool */
    WP_DEVICE_DISCRETE_GPU = 2,   /* Vulkan device */
    WP_DEVICE_INTEGRATED_GPU = 3, /* Vulkan device */
};

/* buffer_access_kind: how kernels use the buffer. A kernel writing a
 * WP_BUFFER_READ buffer gets unspecified results for that buffer. */
enum {
    WP_BUFFER_READ = 0,
    WP_BUFFER_WRITE = 1,
    WP_BUFFER_READ_WRITE = 2,
};

/* par_errno: error codes returned by every call. */
enum {
    WP_SUCCESS = 0,
    /** An enum value out of range or a malformed argument. */
    WP_INVALID_ARGUMENT = 1,
    /** Unknown, stale or foreign device/buffer handle, or a buffer of another device. */
    WP_INVALID_HANDLE = 2,
    /** A guest pointer range outside guest memory, or a length larger than the buffer. */
    WP_OUT_OF_BOUNDS = 3,
    /** Kernel bytes that do not decode/validate or do not follow the kernel ABI. */
    WP_INVALID_KERNEL = 4,
    /** An iteration trapped or ran out of fuel; buffer contents are then unspecified. */
    WP_KERNEL_TRAP = 5,
    /** A configured limit or device memory is exceeded. */
    WP_RESOURCE_EXHAUSTED = 6,
    /** The device failed (e.g. Vulkan device lost). */
    WP_DEVICE_ERROR = 7,
    /** The device cannot run this kernel and fallback is switched off. */
    WP_UNSUPPORTED = 8,
};

/* ---- the five imports -------------------------------------------------- */

#if defined(__wasm__)
#define WP_IMPORT(name)                                                       \
    __attribute__((import_module("wasi_ephemeral_parallel"), import_name(name)))
#else
#define WP_IMPORT(name)
#endif

/**
 * Get a device of (preferably) kind `hint` and write its handle to *out_device.
 * Always succeeds for a valid kind; WP_INVALID_ARGUMENT for hint > 3,
 * WP_OUT_OF_BOUNDS if out_device is not in guest memory.
 */
WP_IMPORT("get_device")
wp_errno_t wp_get_device(wp_device_kind_t hint, wp_device_t *out_device);

/**
 * Create a zero-filled buffer of `size` bytes on `device`, used by kernels as
 * `access`; write its handle to *out_buffer. The contents persist across
 * wp_parallel_exec calls. WP_RESOURCE_EXHAUSTED when a host limit is hit.
 */
WP_IMPORT("create_buffer")
wp_errno_t wp_create_buffer(wp_device_t device, uint32_t size,
                            wp_buffer_access_t access, wp_buffer_t *out_buffer);

/**
 * Copy `data_len` bytes from guest memory at `data` into the start of
 * `buffer`. data_len larger than the buffer is WP_OUT_OF_BOUNDS and changes
 * nothing.
 */
WP_IMPORT("write_buffer")
wp_errno_t wp_write_buffer(const void *data, uint32_t data_len, wp_buffer_t buffer);

/**
 * Copy the first `data_len` bytes of `buffer` into guest memory at `data`.
 * data_len larger than the buffer is WP_OUT_OF_BOUNDS and changes nothing.
 */
WP_IMPORT("read_buffer")
wp_errno_t wp_read_buffer(wp_buffer_t buffer, void *data, uint32_t data_len);

/**
 * Run the kernel module `kernel[0 .. kernel_len)` for iteration ids
 * 0 .. num_iterations-1 on `device` and return when all finished.
 * `block_size` is passed to the kernel unchanged. The kernel gets one
 * (ptr, len) pair per buffer: in_buffers first, then out_buffers, in order.
 * All buffers must belong to `device`; a buffer listed twice is mapped once.
 * num_iterations == 0 succeeds without running anything.
 * Errors: WP_INVALID_KERNEL (bad module / ABI / buffer count),
 * WP_KERNEL_TRAP (an iteration trapped), WP_INVALID_HANDLE, WP_OUT_OF_BOUNDS,
 * WP_RESOURCE_EXHAUSTED, WP_DEVICE_ERROR, WP_UNSUPPORTED.
 */
WP_IMPORT("parallel_exec")
wp_errno_t wp_parallel_exec(wp_device_t device, const void *kernel, uint32_t kernel_len,
                            uint32_t num_iterations, uint32_t block_size,
                            const wp_buffer_t *in_buffers, uint32_t in_buffers_len,
                            const wp_buffer_t *out_buffers, uint32_t out_buffers_len);

#undef WP_IMPORT

/* ---- small helpers ----------------------------------------------------- */

/** The ABI name of an error code ("success", "invalid_handle", ...). */
static inline const char *wp_errno_name(wp_errno_t e)
{
    switch (e) {
    case WP_SUCCESS: return "success";
    case WP_INVALID_ARGUMENT: return "invalid_argument";
    case WP_INVALID_HANDLE: return "invalid_handle";
    case WP_OUT_OF_BOUNDS: return "out_of_bounds";
    case WP_INVALID_KERNEL: return "invalid_kernel";
    case WP_KERNEL_TRAP: return "kernel_trap";
    case WP_RESOURCE_EXHAUSTED: return "resource_exhausted";
    case WP_DEVICE_ERROR: return "device_error";
    case WP_UNSUPPORTED: return "unsupported";
    default: return "unknown";
    }
}

/** A human-readable description of an error code. */
static inline const char *wp_strerror(wp_errno_t e)
{
    switch (e) {
    case WP_SUCCESS: return "success";
    case WP_INVALID_ARGUMENT: return "invalid argument: an enum value out of range or a malformed argument";
    case WP_INVALID_HANDLE: return "invalid handle: unknown, stale or foreign device/buffer handle";
    case WP_OUT_OF_BOUNDS: return "out of bounds: guest pointer range outside memory or length larger than the buffer";
    case WP_INVALID_KERNEL: return "invalid kernel: the module does not validate or does not follow the kernel ABI";
    case WP_KERNEL_TRAP: return "kernel trap: an iteration trapped or ran out of fuel";
    case WP_RESOURCE_EXHAUSTED: return "resource exhausted: a host limit or device memory was exceeded";
    case WP_DEVICE_ERROR: return "device error: the device failed";
    case WP_UNSUPPORTED: return "unsupported: the device cannot run this kernel and fallback is off";
    default: return "unknown error code";
    }
}

/** The ABI name of a device kind ("sequential", "cpu", ...). */
static inline const char *wp_device_kind_name(wp_device_kind_t k)
{
    switch (k) {
    case WP_DEVICE_SEQUENTIAL: return "sequential";
    case WP_DEVICE_CPU: return "cpu";
    case WP_DEVICE_DISCRETE_GPU: return "discrete_gpu";
    case WP_DEVICE_INTEGRATED_GPU: return "integrated_gpu";
    default: return "unknown";
    }
}

/**
 * Parse a device hint as given on a command line: "sequential"/"seq",
 * "cpu", "gpu"/"discrete_gpu", "igpu"/"integrated_gpu" or a number 0..3.
 * Returns 0 and sets *out on success, -1 otherwise.
 */
static inline int wp_parse_device_kind(const char *s, wp_device_kind_t *out)
{
    static const struct { const char *name; wp_device_kind_t kind; } names[] = {
        {"sequential", WP_DEVICE_SEQUENTIAL}, {"seq", WP_DEVICE_SEQUENTIAL},
        {"0", WP_DEVICE_SEQUENTIAL},          {"cpu", WP_DEVICE_CPU},
        {"1", WP_DEVICE_CPU},                 {"discrete_gpu", WP_DEVICE_DISCRETE_GPU},
        {"gpu", WP_DEVICE_DISCRETE_GPU},      {"2", WP_DEVICE_DISCRETE_GPU},
        {"integrated_gpu", WP_DEVICE_INTEGRATED_GPU},
        {"igpu", WP_DEVICE_INTEGRATED_GPU},   {"3", WP_DEVICE_INTEGRATED_GPU},
    };
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *a = s, *b = names[i].name;
        while (*a && *a == *b) { a++; b++; }
        if (*a == 0 && *b == 0) { *out = names[i].kind; return 0; }
    }
    return -1;
}

/**
 * WP_TRY(call): evaluate a wasi-parallel call; on an error, print
 * "<file>:<line>: <call> failed: error <code> (<name>): <description>" to
 * stderr and exit with status 2. Needs <stdio.h> and <stdlib.h>. Define
 * WP_TRY yourself before including this header for other behaviour.
 */
#ifdef __FILE_NAME__
#define WP_TRY_FILE_ __FILE_NAME__
#else
#define WP_TRY_FILE_ __FILE__
#endif
#ifndef WP_TRY
#define WP_TRY(call)                                                          \
    do {                                                                      \
        wp_errno_t wp_try_err_ = (call);                                      \
        if (wp_try_err_ != WP_SUCCESS) {                                      \
            fprintf(stderr, "%s:%d: %s failed: error %d (%s): %s\n",          \
                    WP_TRY_FILE_, __LINE__, #call, (int)wp_try_err_,          \
                    wp_errno_name(wp_try_err_), wp_strerror(wp_try_err_));    \
            exit(2);                                                          \
        }                                                                     \
    } while (0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* WASI_PARALLEL_GUEST_H */
