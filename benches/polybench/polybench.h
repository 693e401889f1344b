/*
 * polybench.h - the one header shared by the PolyBench/C 4.2 kernels of
 * this directory, written for wasi-parallel (see README.md here).
 *
 * Every benchmark is ONE C file that is compiled three ways:
 *
 *   kernel build  clang --target=wasm32 -DPB_KERNEL_BUILD -DPB_IS_<name>=1
 *                 one wasm kernel module per PB_KERNEL(<name>, ...) in the
 *                 file: that function is exported as `kernel`, the driver
 *                 and the other kernels are left out;
 *   guest build   clang --target=wasm32-wasi -include <bench>_kernels.h
 *                 (the embedded kernel modules, `<name>_wasm[]`): the guest
 *                 runs the file's driver with every PB_EXEC offloaded through
 *                 wp_parallel_exec, then (unless told not to) the same
 *                 driver again with every PB_EXEC a plain sequential loop
 *                 over the same kernel functions compiled into the guest,
 *                 and compares the two results bit for bit;
 *   native twin   gcc -O2 [-fopenmp]: the same driver with every PB_EXEC an
 *                 OpenMP `parallel for` (schedule(static)) over the same
 *                 kernel functions.
 *
 * So the three builds run the same kernel source in the same order: the
 * guest's device result, its in-guest reference and the native twin agree
 * bit for bit wherever the device computes IEEE arithmetic exactly (the
 * checksum printed by each is FNV-1a over every array).
 *
 * A kernel iteration handles `block` consecutive rows (PB_ROWS); the driver
 * passes the number of rows to PB_EXEC and the iteration count follows
 * from the block size (default 1: one row per iteration, like an OpenMP
 * `parallel for` over the rows).
 *
 * Scalars that change between calls (the time step, the pivot column) go
 * to the kernels in the context's `step` buffer (PB_SET_STEP), since a
 * kernel sees only its buffers.
 */
#ifndef POLYBENCH_WP_H
#define POLYBENCH_WP_H

#include <stdint.h>

/* ---- dataset sizes -------------------------------------------------- */
/* -DPB_MINI / -DPB_MEDIUM / -DPB_LARGE override the benchmark's default
 * (PB_BENCH_DATASET, defined by the benchmark before including this). */
#define PB_DS_MINI 0
#define PB_DS_MEDIUM 1
#define PB_DS_LARGE 2
#if defined(PB_MINI)
#define PB_DATASET PB_DS_MINI
#elif defined(PB_MEDIUM)
#define PB_DATASET PB_DS_MEDIUM
#elif defined(PB_LARGE)
#define PB_DATASET PB_DS_LARGE
#elif defined(PB_BENCH_DATASET)
#define PB_DATASET PB_BENCH_DATASET
#else
#define PB_DATASET PB_DS_MEDIUM
#endif
/* PB_SIZE(mini, medium, large): the size of the selected dataset. */
#define PB_SIZE(a, b, c) (PB_DATASET == PB_DS_MINI ? (a) : PB_DATASET == PB_DS_MEDIUM ? (b) : (c))
#define PB_DATASET_NAME                                                                            \
    (PB_DATASET == PB_DS_MINI ? "MINI" : PB_DATASET == PB_DS_MEDIUM ? "MEDIUM" : "LARGE")

/* ---- preprocessor helpers ------------------------------------------- */
#define PB_CAT_(a, b) a##b
#define PB_CAT(a, b) PB_CAT_(a, b)
#define PB_2ND_(a, b, ...) b
#define PB_2ND(...) PB_2ND_(__VA_ARGS__, 0, 0)
#define PB_PROBE_1 ~, 1
/* 1 when -DPB_IS_<name>=1 was given (the kernel being built), else 0. */
#define PB_SELECTED(name) PB_2ND(PB_CAT(PB_PROBE_, PB_CAT(PB_IS_, name)))

#define PB_NARGS(...) PB_NARGS_(__VA_ARGS__, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define PB_NARGS_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, n, ...) n
#define PB_MAP1(f, a) f(a)
#define PB_MAP2(f, a, ...) f(a), PB_MAP1(f, __VA_ARGS__)
#define PB_MAP3(f, a, ...) f(a), PB_MAP2(f, __VA_ARGS__)
#define PB_MAP4(f, a, ...) f(a), PB_MAP3(f, __VA_ARGS__)
#define PB_MAP5(f, a, ...) f(a), PB_MAP4(f, __VA_ARGS__)
#define PB_MAP6(f, a, ...) f(a), PB_MAP5(f, __VA_ARGS__)
#define PB_MAP7(f, a, ...) f(a), PB_MAP6(f, __VA_ARGS__)
#define PB_MAP8(f, a, ...) f(a), PB_MAP7(f, __VA_ARGS__)
#define PB_MAP9(f, a, ...) f(a), PB_MAP8(f, __VA_ARGS__)
#define PB_MAP10(f, a, ...) f(a), PB_MAP9(f, __VA_ARGS__)
#define PB_MAP(f, ...) PB_CAT(PB_MAP, PB_NARGS(__VA_ARGS__))(f, __VA_ARGS__)

/* ---- kernels -------------------------------------------------------- */
#if defined(PB_KERNEL_BUILD)
/* weak memset/memcpy: clang turns zeroing loops into calls (no libc here) */
#include "wasi_parallel_kernel.h"
#define PB_KATTR_1 __attribute__((export_name("kernel"), visibility("default")))
#define PB_KATTR_0 static __attribute__((unused))
#define PB_KATTR(name) PB_CAT(PB_KATTR_, PB_SELECTED(name))
#define PB_HOST 0
/* The loop over an iteration's rows (cells) runs `block size` times, once
 * by default: vectorizing or unrolling it only adds run-time alias checks
 * and remainder code that a one-row iteration always skips (jacobi-1d's
 * iteration: 33 instructions with them; BENCHMARKS.md). Loops inside a row
 * are vectorized as before. The native twins' gcc -O2 leaves this loop
 * scalar and not unrolled too (it needs run-time alias checks). */
#define PB_ROW_LOOP _Pragma("clang loop vectorize(disable) interleave(disable) unroll(disable)")
#else
#define PB_KATTR(name) static __attribute__((unused))
#define PB_HOST 1
#define PB_ROW_LOOP
#endif

/* PB_KERNEL(name, PB_BUF(T, p), ...) { body }: a kernel over rows. */
#define PB_KERNEL(name, ...)                                                                       \
    PB_KATTR(name)                                                                                 \
    void name(uint32_t pb_it, __attribute__((unused)) uint32_t pb_nit,                        \
              __attribute__((unused)) uint32_t pb_bs, __VA_ARGS__)
/* One buffer parameter: `T *p` and its length in bytes. */
#define PB_BUF(T, p) T *p, __attribute__((unused)) uint32_t p##_len
/* `T (*name)[cols]` over the buffer pointer p: name[i][j]. */
#define PB_2D(T, name, cols, p) T(*name)[cols] = (T(*)[cols])(void *)(p)
#define PB_3D(T, name, d2, d3, p) T(*name)[d2][d3] = (T(*)[d2][d3])(void *)(p)
/* for (int i = ...) over this iteration's rows of lo .. hi-1 */
#define PB_ROWS(i, lo, hi)                                                                         \
    PB_ROW_LOOP for (int i = (int)(lo) + (int)(pb_it * pb_bs),                                                 \
             i##_end_ = (int)(lo) + (int)((pb_it + 1) * pb_bs) < (int)(hi)                         \
                            ? (int)(lo) + (int)((pb_it + 1) * pb_bs)                               \
                            : (int)(hi);                                                           \
         i < i##_end_; i++)

/* One element per iteration (block size 1), the way a kernel written for a
 * GPU looks: the iteration's cells of the (ihi-ilo) x (jhi-jlo) grid,
 * row-major, each as (i, j) from a division and a remainder (the native
 * twin loops over the same cells with the same arithmetic). The
 * `*-cells.c` benchmarks use it; PB_EXEC gets the number of cells. */
#define PB_CELLS(i, j, ilo, ihi, jlo, jhi)                                                         \
    PB_ROW_LOOP for (int pb_c_ = (int)(pb_it * pb_bs),                                                         \
             pb_ce_ = (int)((pb_it + 1) * pb_bs) < ((ihi) - (ilo)) * ((jhi) - (jlo))                \
                          ? (int)((pb_it + 1) * pb_bs)                                             \
                          : ((ihi) - (ilo)) * ((jhi) - (jlo));                                     \
         pb_c_ < pb_ce_; pb_c_++)                                                                  \
        for (int i = (int)(ilo) + pb_c_ / ((jhi) - (jlo)), j = (int)(jlo) + pb_c_ % ((jhi) - (jlo)), \
                 pb_once_ = 1;                                                                     \
             pb_once_; pb_once_ = 0)

#define PB_SQRT(x) __builtin_sqrt(x)

/* ---- the driver (guest and native twin) ----------------------------- */
#if PB_HOST
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wasi_parallel_guest.h"

enum pb_type { PB_F64, PB_F32, PB_I32 };

/* One array: host memory, its device buffer, and how kernels use it. */
typedef struct pb_buf {
    const char *name;
    enum pb_type type;
    uint32_t bytes;
    uint32_t access; /* WP_BUFFER_READ for arrays no kernel writes */
    void *host;
    wp_buffer_t h;
} pb_buf;

#define PB_ARRAY(nm, ty, ctype, count, acc)                                                        \
    { .name = nm, .type = ty, .bytes = (uint32_t)((count) * sizeof(ctype)), .access = acc }
/* PB_F64ARR("A", N * M, PB_RW) and friends, for the benchmark's array table. */
#define PB_F64ARR(nm, count, acc) PB_ARRAY(nm, PB_F64, double, count, acc)
#define PB_F32ARR(nm, count, acc) PB_ARRAY(nm, PB_F32, float, count, acc)
#define PB_I32ARR(nm, count, acc) PB_ARRAY(nm, PB_I32, int32_t, count, acc)
#define PB_RO WP_BUFFER_READ
#define PB_RW WP_BUFFER_READ_WRITE

typedef struct pb_ctx {
    int on_device; /* PB_EXEC through wp_parallel_exec, else a host loop */
    wp_device_t dev;
    uint32_t block; /* rows per kernel iteration */
    uint32_t calls; /* PB_EXEC calls in one run */
    pb_buf step;    /* int32_t[4]: per-call scalars (PB_SET_STEP) */
    int32_t step_host[4];
} pb_ctx;

static inline void pb_fail(const char *what, wp_errno_t e)
{
    fprintf(stderr, "polybench: %s failed: error %d (%s)\n", what, (int)e, wp_errno_name(e));
    exit(2);
}

/* Sets step[0..1] for the next calls (written to the device buffer). */
static inline void pb_set_step(pb_ctx *c, int32_t a, int32_t b)
{
    c->step_host[0] = a;
    c->step_host[1] = b;
#ifdef __wasm__
    if (c->on_device) {
        wp_errno_t e = wp_write_buffer(c->step_host, sizeof c->step_host, c->step.h);
        if (e) pb_fail("write_buffer(step)", e);
    }
#endif
}
#define PB_SET_STEP(c, a, b) pb_set_step(c, a, b)
#define PB_STEPBUF(c) (&(c)->step)

#define PB_HOSTARG(b) (b)->host, (b)->bytes
#define PB_HANDLE(b) (b)->h

#if defined(_OPENMP)
#define PB_OMP_FOR _Pragma("omp parallel for schedule(static)")
#else
#define PB_OMP_FOR
#endif

/* The host side of PB_EXEC: a loop over the iterations (OpenMP natively). */
#define PB_EXEC_HOST(c, k, rows, ...)                                                              \
    do {                                                                                           \
        const uint32_t pb_bs_ = (c)->block, pb_n_ = ((uint32_t)(rows) + pb_bs_ - 1) / pb_bs_;      \
        PB_OMP_FOR                                                                                 \
        for (uint32_t pb_i_ = 0; pb_i_ < pb_n_; pb_i_++)                                           \
            k(pb_i_, pb_n_, pb_bs_, PB_MAP(PB_HOSTARG, __VA_ARGS__));                              \
    } while (0)

#ifdef __wasm__
static inline void pb_exec_device(pb_ctx *c, const char *name, const unsigned char *wasm,
                                  uint32_t wasm_len, uint32_t rows, const wp_buffer_t *bufs,
                                  uint32_t nbufs)
{
    const uint32_t n = (rows + c->block - 1) / c->block;
    wp_errno_t e = wp_parallel_exec(c->dev, wasm, wasm_len, n, c->block, bufs, nbufs, NULL, 0);
    if (e) pb_fail(name, e);
}
/* PB_EXEC(ctx, kernel, rows, &buf, ...): run `kernel` over `rows` rows. */
#define PB_EXEC(c, k, rows, ...)                                                                   \
    do {                                                                                           \
        (c)->calls++;                                                                              \
        if ((c)->on_device) {                                                                      \
            const wp_buffer_t pb_h_[] = {PB_MAP(PB_HANDLE, __VA_ARGS__)};                          \
            pb_exec_device(c, #k, k##_wasm, k##_wasm_len, (uint32_t)(rows), pb_h_,                 \
                           PB_NARGS(__VA_ARGS__));                                                 \
        } else {                                                                                   \
            PB_EXEC_HOST(c, k, rows, __VA_ARGS__);                                                 \
        }                                                                                          \
    } while (0)
#else
#define PB_EXEC(c, k, rows, ...)                                                                   \
    do {                                                                                           \
        (c)->calls++;                                                                              \
        PB_EXEC_HOST(c, k, rows, __VA_ARGS__);                                                     \
    } while (0)
#endif

static inline double pb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline uint32_t pb_fnv(uint32_t h, const void *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static inline void *pb_alloc(size_t n)
{
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "polybench: out of memory (%zu bytes)\n", n);
        exit(3);
    }
    return p;
}

/* Deterministic exp for the few scalar coefficients (deriche): the same
 * operations in every build, unlike libm's exp. Taylor series of
 * exp(x / 2^8), squared 8 times; |x| <= 4 here. */
static inline double pb_exp(double x)
{
    double y = x / 256.0, term = 1.0, sum = 1.0;
    for (int k = 1; k < 20; k++) {
        term = term * y / k;
        sum += term;
    }
    for (int k = 0; k < 8; k++) sum *= sum;
    return sum;
}

typedef void (*pb_init_fn)(pb_buf *arrays);
typedef void (*pb_run_fn)(pb_ctx *c, pb_buf *arrays);

/* Compares array `got` against `want`: 0 when equal bit for bit, else the
 * largest |got - want| / max(1, |want|) (1e300 for an integer mismatch). */
static inline double pb_compare(const pb_buf *got, const pb_buf *want)
{
    if (memcmp(got->host, want->host, got->bytes) == 0) return 0;
    double worst = 1e-300;
    if (got->type == PB_I32) return 1e300;
    uint32_t n = got->bytes / (got->type == PB_F64 ? 8 : 4);
    for (uint32_t i = 0; i < n; i++) {
        double g, w;
        if (got->type == PB_F64) {
            g = ((const double *)got->host)[i];
            w = ((const double *)want->host)[i];
        } else {
            g = ((const float *)got->host)[i];
            w = ((const float *)want->host)[i];
        }
        double scale = w < 0 ? -w : w;
        if (scale < 1) scale = 1;
        double d = g - w;
        if (d < 0) d = -d;
        if (!(d <= 1e300)) return 1e300; /* NaN or inf where the other is not */
        if (d / scale > worst) worst = d / scale;
    }
    return worst;
}

/*
 * The main program of every benchmark:
 *   bench.wasm [device=cpu] [reps=3] [check=1] [block=1]
 * device: the hint (sequential|cpu|gpu|igpu); reps: timed runs, the best
 * is printed; check=0 skips the in-guest reference run (the native twin's
 * checksum is then the check); block: rows per kernel iteration.
 * Exit status: 0 right, 1 wrong result, 2 API error, 64 usage.
 */
static inline int pb_main(int argc, char **argv, const char *name, pb_buf *arrays, int narrays,
                          pb_init_fn init, pb_run_fn run, double tol)
{
    wp_device_kind_t hint = WP_DEVICE_CPU;
#ifdef __wasm__
    if (argc > 1 && wp_parse_device_kind(argv[1], &hint) != 0) {
#else
    (void)hint; /* the native twin takes (and ignores) the device argument */
    if (0) {
#endif
        fprintf(stderr, "usage: %s [sequential|cpu|gpu] [reps] [check 0|1] [block]\n", argv[0]);
        return 64;
    }
    const int reps = argc > 2 ? atoi(argv[2]) : 3;
    const int check = argc > 3 ? atoi(argv[3]) : 1;
    const int block = argc > 4 ? atoi(argv[4]) : 1;
    if (reps < 1 || block < 1) {
        fprintf(stderr, "%s: reps and block must be >= 1\n", name);
        return 64;
    }
    pb_ctx c = {.block = (uint32_t)block};
    c.step = (pb_buf)PB_I32ARR("step", 4, PB_RO);
    c.step.host = c.step_host;
    for (int i = 0; i < narrays; i++) arrays[i].host = pb_alloc(arrays[i].bytes);
#ifdef __wasm__
    c.on_device = 1;
    wp_errno_t e = wp_get_device(hint, &c.dev);
    if (e) pb_fail("get_device", e);
    if ((e = wp_create_buffer(c.dev, c.step.bytes, c.step.access, &c.step.h)))
        pb_fail("create_buffer", e);
    for (int i = 0; i < narrays; i++)
        if ((e = wp_create_buffer(c.dev, arrays[i].bytes, arrays[i].access, &arrays[i].h)))
            pb_fail("create_buffer", e);
    const char *where = wp_device_kind_name(hint);
#else
    const char *where = "native";
#endif
    double best = 1e300;
    for (int r = 0; r < reps; r++) {
        init(arrays);
#ifdef __wasm__
        for (int i = 0; i < narrays; i++)
            if ((e = wp_write_buffer(arrays[i].host, arrays[i].bytes, arrays[i].h)))
                pb_fail("write_buffer", e);
#endif
        c.calls = 0;
        double t0 = pb_now_ms();
        run(&c, arrays);
        double t = pb_now_ms() - t0;
        if (t < best) best = t;
    }
#ifdef __wasm__
    for (int i = 0; i < narrays; i++)
        if (arrays[i].access != WP_BUFFER_READ &&
            (e = wp_read_buffer(arrays[i].h, arrays[i].host, arrays[i].bytes)))
            pb_fail("read_buffer", e);
#endif
    uint32_t sum = 2166136261u;
    for (int i = 0; i < narrays; i++) sum = pb_fnv(sum, arrays[i].host, arrays[i].bytes);

    /* The reference: the same driver, every PB_EXEC a plain loop here. */
    char verdict[64] = "check=skipped";
    int ok = 1;
    if (check && c.on_device) {
        pb_buf ref[16];
        if (narrays > 16) return 64;
        for (int i = 0; i < narrays; i++) {
            ref[i] = arrays[i];
            ref[i].host = pb_alloc(arrays[i].bytes);
        }
        pb_ctx rc = c;
        rc.on_device = 0;
        rc.step.host = rc.step_host; /* its own step values, not c's */
        init(ref);
        run(&rc, ref);
        double worst = 0;
        for (int i = 0; i < narrays; i++) {
            double d = pb_compare(&arrays[i], &ref[i]);
            if (d > worst) worst = d;
            if (d > tol)
                fprintf(stderr, "%s: array %s differs from the reference (max rel err %.3g)\n",
                        name, arrays[i].name, d);
            free(ref[i].host);
        }
        ok = worst <= tol;
        if (worst == 0)
            snprintf(verdict, sizeof verdict, "check=exact");
        else
            snprintf(verdict, sizeof verdict, "check=maxrel:%.3g", worst);
    }
    printf("polybench: name=%s dataset=%s device=%s block=%d calls=%u exec_ms=%.3f "
           "checksum=0x%08x %s %s\n",
           name, PB_DATASET_NAME, where, block, c.calls, best, sum, verdict,
           ok ? "OK" : "MISMATCH");
    return ok ? 0 : 1;
}

/* Tolerances against the reference where a device rounds differently. */
#define PB_TOL_F64 1e-9
#define PB_TOL_F32 1e-4
#define PB_TOL_EXACT 0

#endif /* PB_HOST */
#endif /* POLYBENCH_WP_H */
