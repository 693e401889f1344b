/* common.h - small helpers shared by the example guests (argument parsing,
 * timing, checksums). Not part of the SDK. */
#ifndef EXAMPLE_COMMON_H
#define EXAMPLE_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "wasi_parallel_guest.h"

/* argv[idx] as an unsigned number, or `def` when absent; exits on garbage. */
static inline uint32_t arg_u32(int argc, char **argv, int idx, uint32_t def)
{
    if (idx >= argc) return def;
    char *end;
    unsigned long v = strtoul(argv[idx], &end, 0);
    if (*argv[idx] == 0 || *end != 0 || v == 0 || v > 0xffffffffUL) {
        fprintf(stderr, "bad number '%s' (argument %d)\n", argv[idx], idx);
        exit(64);
    }
    return (uint32_t)v;
}

/* argv[idx] as a device hint (sequential|seq|cpu|gpu|igpu|0..3), default cpu. */
static inline wp_device_kind_t arg_device(int argc, char **argv, int idx)
{
    wp_device_kind_t kind = WP_DEVICE_CPU;
    if (idx < argc && wp_parse_device_kind(argv[idx], &kind) != 0) {
        fprintf(stderr, "bad device '%s': use sequential, cpu, gpu or igpu\n", argv[idx]);
        exit(64);
    }
    return kind;
}

/* Whether the hint asks for a GPU. The examples then split the work finer:
 * a GPU wants many short iterations (thousands of invocations, each within
 * what a driver allows one invocation to loop), a CPU few long ones. */
static inline int hint_is_gpu(wp_device_kind_t kind)
{
    return kind == WP_DEVICE_DISCRETE_GPU || kind == WP_DEVICE_INTEGRATED_GPU;
}

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* FNV-1a over bytes: the checksum printed by every example. */
static inline uint32_t checksum(const void *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Deterministic pseudo-random numbers (xorshift32), same on every platform. */
static inline uint32_t rng_next(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static inline void *xmalloc(size_t n)
{
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(3);
    }
    return p;
}

#endif
