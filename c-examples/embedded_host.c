/*
 * embedded_host.c: a minimal C host for embedded Linux boards, written
 * against the C API (include/wasi_parallel.h) and linked statically with
 * libwasi_parallel.a. It is both the example scripts/test-cross.sh runs under
 * qemu on aarch64/armv7 and the "minimal host" scripts/footprint.sh measures.
 *
 * usage: embedded_host GUEST [THREADS [N [BLOCK_SIZE [HINT]]]]
 *   GUEST       c-examples/embedded/square_guest.wat (or a .wasm of it)
 *   THREADS     CPU device worker threads (default 2)
 *   N           elements (default 4096), BLOCK_SIZE per iteration (default 64)
 *   HINT        device hint the guest passes to get_device (default 1 = CPU)
 *
 * It calls the guest's export run(N, BLOCK_SIZE, HINT): the guest offloads
 * one kernel through wasi-parallel and checks all N results itself (0 = all
 * correct). The host then checks the statistics (one call, ceil(N/BS)
 * iterations, on the CPU device when HINT is CPU) and prints "ok".
 * Exit status: 0 ok, 1 a check failed, 2 usage, 3 a C API error.
 *
 * Build (native or cross, PREFIX from scripts/cross-build.sh):
 *   $CC -O2 -I$PREFIX/include c-examples/embedded_host.c \
 *       $PREFIX/lib/libwasi_parallel.a -lpthread -ldl -lm -o embedded_host
 */
#include <stdio.h>
#include <stdlib.h>

#include "wasi_parallel.h"

/* Reports and frees `err`; returns 1 if there was an error. */
static int failed(wp_error_t *err, const char *what) {
    if (err == NULL) return 0;
    fprintf(stderr, "embedded_host: %s: %s (code %d)\n", what, wp_error_message(err),
            (int)wp_error_code(err));
    wp_error_delete(err);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 6) {
        fprintf(stderr, "usage: %s GUEST [THREADS [N [BLOCK_SIZE [HINT]]]]\n", argv[0]);
        return 2;
    }
    const char *guest = argv[1];
    unsigned threads = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2;
    int32_t n = argc > 3 ? (int32_t)strtol(argv[3], NULL, 10) : 4096;
    int32_t bs = argc > 4 ? (int32_t)strtol(argv[4], NULL, 10) : 64;
    int32_t hint = argc > 5 ? (int32_t)strtol(argv[5], NULL, 10) : WP_DEVICE_CPU;
    if (n <= 0 || bs <= 0) {
        fprintf(stderr, "embedded_host: N and BLOCK_SIZE must be positive\n");
        return 2;
    }

    int status = 3;
    wp_config_t *config = wp_config_new();
    wp_engine_t *engine = NULL;
    wp_module_t *module = NULL;
    wp_instance_t *instance = NULL;
    if (config == NULL) return 3;
    if (failed(wp_config_set_threads(config, threads), "wp_config_set_threads")) goto out;
    if (failed(wp_engine_new(config, &engine), "wp_engine_new")) goto out;
    if (failed(wp_module_from_file(engine, guest, &module), "wp_module_from_file")) goto out;
    if (failed(wp_instance_new(module, NULL, &instance), "wp_instance_new")) goto out;

    size_t cpu_threads = 0;
    if (failed(wp_engine_cpu_threads(engine, &cpu_threads), "wp_engine_cpu_threads")) goto out;

    wp_val_t args[3] = {
        {.kind = WP_VAL_I32, .of.i32 = n},
        {.kind = WP_VAL_I32, .of.i32 = bs},
        {.kind = WP_VAL_I32, .of.i32 = hint},
    };
    wp_val_t result = {0};
    if (failed(wp_instance_call(instance, "run", args, 3, &result, 1), "call run")) goto out;

    wp_parallel_stats_t st;
    if (failed(wp_instance_parallel_stats(instance, &st), "wp_instance_parallel_stats")) goto out;
    status = 1;
    uint64_t iterations = ((uint64_t)n + (uint64_t)bs - 1) / (uint64_t)bs;
    fprintf(stderr,
            "embedded_host: run(%d, %d, hint %d) = %d; %llu call(s), %llu iterations on device "
            "kind %d, CPU device %zu threads, run %.3f ms\n",
            n, bs, hint, result.of.i32, (unsigned long long)st.calls,
            (unsigned long long)st.iterations, (int)st.last_device_kind, cpu_threads,
            (double)st.run_ns / 1e6);
    if (result.kind != WP_VAL_I32 || result.of.i32 != 0) {
        char msg[256];
        size_t len = 0;
        wp_error_t *e = wp_instance_parallel_last_error(instance, msg, sizeof msg, &len);
        fprintf(stderr, "embedded_host: FAIL: the guest reports %d (last error: %s)\n",
                result.of.i32, e == NULL && len > 0 ? msg : "none");
        wp_error_delete(e);
        goto out;
    }
    if (st.calls != 1 || st.failed_calls != 0 || st.iterations != iterations) {
        fprintf(stderr, "embedded_host: FAIL: expected 1 call of %llu iterations\n",
                (unsigned long long)iterations);
        goto out;
    }
    if (hint == WP_DEVICE_CPU && (st.last_device_kind != WP_DEVICE_CPU || cpu_threads != threads)) {
        fprintf(stderr, "embedded_host: FAIL: expected the CPU device with %u threads\n", threads);
        goto out;
    }
    printf("ok\n");
    status = 0;
out:
    wp_instance_delete(instance);
    wp_module_delete(module);
    wp_engine_delete(engine);
    wp_config_delete(config);
    return status;
}
