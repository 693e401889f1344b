/* abi_conformance.c - a guest that checks a wasi-parallel host against the
 * project's ABI document (sections 1-3) from the guest side: every import,
 * every error code a guest can provoke, the kernel ABI and memory layout,
 * isolation, and that the guest goes on after every error.
 *
 * usage: abi_conformance.wasm [device=cpu] [fuel]
 *   `fuel`: also run a kernel that never returns (start the runner with a
 *   kernel fuel budget, e.g. --kernel-fuel 1000000, or this hangs).
 * Prints TAP-like lines `ok N - ...` / `not ok N - ...`; exit 0 when all pass.
 * The kernels are the WAT files of tests/wat, embedded by tests/guests/build.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasi_parallel_guest.h"

#include "data_and_global.h"
#include "empty.h"
#include "invalid_imports_func.h"
#include "iota.h"
#include "layout_report.h"
#include "private_region.h"
#include "scan_marker.h"
#include "scan_marker_2.h"
#include "spin_forever.h"
#include "trap_on_3.h"
#include "vector_add.h"

#define MARKER 0x5EC2E7EDu
/* an address far outside the guest's memory */
#define BAD_PTR ((void *)(uintptr_t)0xFFFFFFF0u)

static int tests, failures;

static void check(int cond, const char *what)
{
    tests++;
    if (!cond) failures++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tests, what);
}

/* check that `call` returned `want` */
#define EXPECT(call, want, what)                                                         \
    do {                                                                                 \
        wp_errno_t got_ = (call);                                                        \
        if (got_ != (want))                                                              \
            printf("# %s: got %d (%s), want %d (%s)\n", what, (int)got_,                 \
                   wp_errno_name(got_), (int)(want), wp_errno_name(want));               \
        check(got_ == (want), what);                                                     \
    } while (0)

#define EXEC(dev, k, iters, bs, in, nin, out, nout)                                      \
    wp_parallel_exec(dev, k, k##_len, iters, bs, in, nin, out, nout)

/* kept in the guest's own memory only: a kernel must never see it */
static volatile uint32_t guest_secret[4] = {MARKER, MARKER, MARKER, MARKER};

static wp_buffer_t buffer(wp_device_t dev, uint32_t size, wp_buffer_access_t access)
{
    wp_buffer_t b = 0;
    wp_errno_t e = wp_create_buffer(dev, size, access, &b);
    if (e != WP_SUCCESS) {
        printf("Bail out! create_buffer(%u) failed: %s\n", size, wp_errno_name(e));
        exit(2);
    }
    return b;
}

int main(int argc, char **argv)
{
    wp_device_kind_t hint = WP_DEVICE_CPU;
    if (argc > 1 && wp_parse_device_kind(argv[1], &hint) != 0) {
        fprintf(stderr, "usage: abi_conformance.wasm [device] [fuel]\n");
        return 64;
    }
    const int with_fuel = argc > 2 && strcmp(argv[2], "fuel") == 0;
    uint32_t words[64];

    /* ---- get_device ---- */
    wp_device_t dev = 0, dev_of[4] = {0};
    for (uint32_t k = 0; k <= WP_DEVICE_INTEGRATED_GPU; k++)
        EXPECT(wp_get_device(k, &dev_of[k]), WP_SUCCESS, "get_device succeeds for every kind");
    EXPECT(wp_get_device(4, &dev), WP_INVALID_ARGUMENT, "get_device(4) is invalid_argument");
    EXPECT(wp_get_device(0xFFFFFFFFu, &dev), WP_INVALID_ARGUMENT,
           "get_device(-1) is invalid_argument");
    EXPECT(wp_get_device(WP_DEVICE_CPU, BAD_PTR), WP_OUT_OF_BOUNDS,
           "get_device with out_device outside memory is out_of_bounds");
    EXPECT(wp_get_device(hint, &dev), WP_SUCCESS, "get_device(hint)");

    /* ---- create_buffer ---- */
    wp_buffer_t b = 0;
    EXPECT(wp_create_buffer(dev + 1000, 16, WP_BUFFER_READ, &b), WP_INVALID_HANDLE,
           "create_buffer on an unknown device is invalid_handle");
    EXPECT(wp_create_buffer(dev, 16, 3, &b), WP_INVALID_ARGUMENT,
           "create_buffer with access 3 is invalid_argument");
    EXPECT(wp_create_buffer(dev, 16, WP_BUFFER_READ, BAD_PTR), WP_OUT_OF_BOUNDS,
           "create_buffer with out_buffer outside memory is out_of_bounds");
    wp_buffer_t small = buffer(dev, 64, WP_BUFFER_READ_WRITE);
    memset(words, 0xAB, sizeof words);
    EXPECT(wp_read_buffer(small, words, 64), WP_SUCCESS, "read_buffer of a new buffer");
    int zero = 1;
    for (int i = 0; i < 16; i++) zero &= words[i] == 0;
    check(zero, "a new buffer is zero-filled");

    /* ---- write_buffer / read_buffer ---- */
    for (uint32_t i = 0; i < 16; i++) words[i] = 100 + i;
    EXPECT(wp_write_buffer(words, 64, small), WP_SUCCESS, "write_buffer of the full size");
    uint32_t other[17];
    memset(other, 0x5A, sizeof other);
    EXPECT(wp_write_buffer(other, 65, small), WP_OUT_OF_BOUNDS,
           "write_buffer longer than the buffer is out_of_bounds");
    EXPECT(wp_write_buffer(BAD_PTR, 8, small), WP_OUT_OF_BOUNDS,
           "write_buffer from outside guest memory is out_of_bounds");
    EXPECT(wp_write_buffer(words, 8, 0xDEADBEEFu), WP_INVALID_HANDLE,
           "write_buffer to a forged handle is invalid_handle");
    EXPECT(wp_read_buffer(small, other, 65), WP_OUT_OF_BOUNDS,
           "read_buffer longer than the buffer is out_of_bounds");
    EXPECT(wp_read_buffer(small, BAD_PTR, 8), WP_OUT_OF_BOUNDS,
           "read_buffer into outside guest memory is out_of_bounds");
    EXPECT(wp_read_buffer(0xDEADBEEFu, other, 8), WP_INVALID_HANDLE,
           "read_buffer of a forged handle is invalid_handle");
    memset(other, 0, sizeof other);
    EXPECT(wp_read_buffer(small, other, 64), WP_SUCCESS, "read_buffer after the failed calls");
    check(memcmp(other, words, 64) == 0, "failed writes changed nothing");
    memset(other, 0, sizeof other);
    EXPECT(wp_read_buffer(small, other, 12), WP_SUCCESS, "read_buffer of a prefix");
    check(other[0] == 100 && other[2] == 102 && other[3] == 0, "the prefix read is exact");

    /* ---- parallel_exec: argument errors ---- */
    wp_buffer_t out = buffer(dev, 16 * 4, WP_BUFFER_WRITE);
    static const unsigned char garbage[] = "not a wasm module";
    EXPECT(wp_parallel_exec(dev, garbage, sizeof garbage, 1, 1, NULL, 0, &out, 1),
           WP_INVALID_KERNEL, "garbage kernel bytes are invalid_kernel");
    EXPECT(wp_parallel_exec(dev, iota, 20, 1, 1, NULL, 0, &out, 1), WP_INVALID_KERNEL,
           "a truncated kernel is invalid_kernel");
    EXPECT(wp_parallel_exec(dev, iota, 8, 1, 1, NULL, 0, &out, 1), WP_INVALID_KERNEL,
           "an empty module (no kernel export) is invalid_kernel");
    wp_buffer_t two[2] = {small, out};
    EXPECT(EXEC(dev, iota, 1, 1, NULL, 0, two, 2), WP_INVALID_KERNEL,
           "a kernel with params for 1 buffer given 2 buffers is invalid_kernel");
    EXPECT(EXEC(dev, iota, 1, 1, NULL, 0, NULL, 0), WP_INVALID_KERNEL,
           "a kernel with params for 1 buffer given 0 buffers is invalid_kernel");
    EXPECT(EXEC(dev, invalid_imports_func, 1, 1, NULL, 0, NULL, 0), WP_INVALID_KERNEL,
           "a kernel importing a function is invalid_kernel");
    EXPECT(wp_parallel_exec(dev, BAD_PTR, 100, 1, 1, NULL, 0, &out, 1), WP_OUT_OF_BOUNDS,
           "kernel bytes outside guest memory are out_of_bounds");
    EXPECT(EXEC(dev, iota, 1, 1, NULL, 0, (const wp_buffer_t *)BAD_PTR, 1), WP_OUT_OF_BOUNDS,
           "a buffer list outside guest memory is out_of_bounds");
    wp_buffer_t forged = 0xDEADBEEFu;
    EXPECT(EXEC(dev, iota, 1, 1, NULL, 0, &forged, 1), WP_INVALID_HANDLE,
           "a forged buffer handle in the list is invalid_handle");
    EXPECT(EXEC(dev + 1000, iota, 1, 1, NULL, 0, &out, 1), WP_INVALID_HANDLE,
           "an unknown device is invalid_handle");
    if (dev_of[WP_DEVICE_SEQUENTIAL] != dev_of[WP_DEVICE_CPU]) {
        wp_buffer_t seq_buf = buffer(dev_of[WP_DEVICE_SEQUENTIAL], 64, WP_BUFFER_WRITE);
        EXPECT(EXEC(dev_of[WP_DEVICE_CPU], iota, 1, 1, NULL, 0, &seq_buf, 1), WP_INVALID_HANDLE,
               "a buffer of another device is invalid_handle");
    } else {
        printf("# skipped: SEQUENTIAL and CPU hints gave the same device (forced device?)\n");
    }

    /* ---- parallel_exec: semantics ---- */
    memset(words, 0xFF, 64);
    EXPECT(wp_write_buffer(words, 64, out), WP_SUCCESS, "fill out with 0xff");
    EXPECT(EXEC(dev, iota, 0, 1, NULL, 0, &out, 1), WP_SUCCESS,
           "num_iterations == 0 succeeds");
    EXPECT(wp_read_buffer(out, words, 64), WP_SUCCESS, "read out");
    check(words[0] == 0xFFFFFFFFu, "num_iterations == 0 runs nothing");
    EXPECT(EXEC(dev, iota, 16, 1, NULL, 0, &out, 1), WP_SUCCESS, "iota, 16 iterations");
    EXPECT(wp_read_buffer(out, words, 64), WP_SUCCESS, "read out");
    int iota_ok = 1;
    for (uint32_t i = 0; i < 16; i++) iota_ok &= words[i] == i;
    check(iota_ok, "every iteration ran once with its id: out[i] == i");

    /* vector_add over 10 elements, block_size 3 -> 4 iterations */
    wp_buffer_t va = buffer(dev, 40, WP_BUFFER_READ), vb = buffer(dev, 40, WP_BUFFER_READ);
    wp_buffer_t vc = buffer(dev, 40, WP_BUFFER_READ_WRITE), vd = buffer(dev, 40, WP_BUFFER_WRITE);
    uint32_t a[10], bb[10], c[10];
    for (uint32_t i = 0; i < 10; i++) a[i] = i * 1000, bb[i] = i + 7;
    wp_write_buffer(a, 40, va);
    wp_write_buffer(bb, 40, vb);
    wp_buffer_t ab[2] = {va, vb};
    EXPECT(EXEC(dev, vector_add, 4, 3, ab, 2, &vc, 1), WP_SUCCESS, "vector_add, block_size 3");
    wp_buffer_t cc[2] = {vc, vc};
    EXPECT(EXEC(dev, vector_add, 4, 3, cc, 2, &vd, 1), WP_SUCCESS,
           "vector_add reading the previous call's output (listed twice)");
    EXPECT(wp_read_buffer(vd, c, 40), WP_SUCCESS, "read d");
    int add_ok = 1;
    for (uint32_t i = 0; i < 10; i++) add_ok &= c[i] == 2 * (a[i] + bb[i]);
    check(add_ok, "buffers persist across calls: d == 2 * (a + b)");

    /* traps */
    EXPECT(EXEC(dev, trap_on_3, 8, 1, NULL, 0, &out, 1), WP_KERNEL_TRAP,
           "an iteration executing unreachable gives kernel_trap");
    EXPECT(EXEC(dev, trap_on_3, 3, 1, NULL, 0, &out, 1), WP_SUCCESS,
           "the same kernel without the trapping iteration succeeds");
    EXPECT(EXEC(dev, iota, 16, 1, NULL, 0, &out, 1), WP_SUCCESS, "a call after a trap works");
    if (with_fuel)
        EXPECT(EXEC(dev, spin_forever, 2, 1, NULL, 0, NULL, 0), WP_KERNEL_TRAP,
               "a kernel that never returns runs out of kernel fuel: kernel_trap");
    EXPECT(EXEC(dev, empty, 1, 1, NULL, 0, NULL, 0), WP_SUCCESS, "a kernel without buffers");

    /* layout: R = 65536 for these kernels; buffers at >= R, 16-aligned */
    wp_buffer_t lay_a = buffer(dev, 100, WP_BUFFER_READ), lay_out = buffer(dev, 20, WP_BUFFER_WRITE);
    EXPECT(EXEC(dev, layout_report, 1, 1, &lay_a, 1, &lay_out, 1), WP_SUCCESS, "layout_report");
    EXPECT(wp_read_buffer(lay_out, words, 20), WP_SUCCESS, "read layout");
    printf("# layout: a at %u (len %u), out at %u (len %u), memory %u pages\n", words[0],
           words[1], words[2], words[3], words[4]);
    check(words[0] >= 65536 && words[2] >= 65536, "buffers lie at or above R");
    check(words[0] % 16 == 0 && words[2] % 16 == 0, "buffers are 16-byte aligned");
    check(words[1] == 100 && words[3] == 20, "lengths are the buffer sizes");
    check(words[0] + 100 <= words[2] || words[2] + 20 <= words[0], "buffers do not overlap");
    check((uint64_t)words[4] * 65536 >= (uint64_t)words[0] + 100 &&
              (uint64_t)words[4] * 65536 >= (uint64_t)words[2] + 20,
          "memory.size covers both buffers");
    wp_buffer_t twice[2] = {lay_out, lay_out};
    EXPECT(EXEC(dev, layout_report, 1, 1, twice, 1, twice + 1, 1), WP_SUCCESS,
           "layout_report with one buffer listed twice");
    EXPECT(wp_read_buffer(lay_out, words, 20), WP_SUCCESS, "read layout");
    check(words[0] == words[2] && words[1] == words[3],
          "a buffer listed twice gets the same (ptr, len)");

    /* isolation */
    wp_buffer_t scan_out = buffer(dev, 8, WP_BUFFER_WRITE);
    EXPECT(EXEC(dev, scan_marker, 1, 1, NULL, 0, &scan_out, 1), WP_SUCCESS, "scan_marker");
    EXPECT(wp_read_buffer(scan_out, words, 8), WP_SUCCESS, "read scan result");
    check(words[0] == 0 && guest_secret[0] == MARKER,
          "a kernel cannot find a marker kept in guest memory");
    wp_buffer_t handed = buffer(dev, 16, WP_BUFFER_READ);
    EXPECT(wp_write_buffer((const void *)guest_secret, 16, handed), WP_SUCCESS,
           "hand the marker over in a buffer");
    EXPECT(EXEC(dev, scan_marker_2, 1, 1, &handed, 1, &scan_out, 1), WP_SUCCESS, "scan_marker_2");
    EXPECT(wp_read_buffer(scan_out, words, 8), WP_SUCCESS, "read scan result");
    check(words[0] == 4 && words[1] >= 65536, "the kernel finds the handed-over marker (4 hits)");

    /* private [0, R) per worker, data segments and globals */
    wp_buffer_t flags = buffer(dev, 64 * 4, WP_BUFFER_WRITE);
    EXPECT(EXEC(dev, private_region, 64, 1, NULL, 0, &flags, 1), WP_SUCCESS,
           "private_region: no iteration saw another one's write to [0, R)");
    EXPECT(wp_read_buffer(flags, words, 64 * 4), WP_SUCCESS, "read flags");
    int all_ran = 1;
    for (int i = 0; i < 64; i++) all_ran &= words[i] == 1;
    check(all_ran, "private_region: all 64 iterations ran");
    static const uint8_t table[8] = {11, 22, 33, 44, 55, 66, 77, 88};
    EXPECT(EXEC(dev, data_and_global, 64, 1, NULL, 0, &flags, 1), WP_SUCCESS, "data_and_global");
    EXPECT(wp_read_buffer(flags, words, 64 * 4), WP_SUCCESS, "read data_and_global");
    int data_ok = 1;
    for (int i = 0; i < 64; i++) data_ok &= (words[i] & 0xff) == table[i % 8] && (words[i] >> 8) >= 1;
    check(data_ok, "data segments are applied and globals work in every worker");

    printf("1..%d\n# %d of %d checks failed (device hint %s)\n", tests, failures, tests,
           wp_device_kind_name(hint));
    return failures ? 1 : 0;
}
