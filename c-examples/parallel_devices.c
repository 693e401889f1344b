/* List the devices, then run a guest that offloads a kernel through
 * wasi-parallel, with the device policy, thread count and kernel fuel set
 * from C, and read the instance's statistics.
 *
 *   parallel_devices [auto|sequential|cpu|gpu] [THREADS]
 *
 * The guest (WAT text) is the one of tests/capi-bindgen/guests/parallel_guest.wat:
 * run(n, hint) computes out[i] = 2 * in[i] + i with the kernel embedded in
 * its data segment at 4096; the host writes `in` at 1024, reads `out` at 2048.
 */
#include "example.h"

#include "parallel_guest.h"
#define GUEST PARALLEL_GUEST_WAT

enum { N = 256 }; /* the guest keeps in/out at 1024/2048: at most 256 elements */

static int32_t run(wp_instance_t *inst, int32_t n, int32_t hint) {
  wp_val_t args[2] = {wp_i32(n), wp_i32(hint)}, r;
  wp_check(wp_instance_call(inst, "run", args, 2, &r, 1), "run");
  return r.of.i32;
}

int main(int argc, char **argv) {
  const char *policy = argc > 1 ? argv[1] : "auto";
  unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;

  wp_config_t *config = wp_config_new();
  wp_check(wp_config_set_threads(config, threads), "threads");
  wp_check(wp_config_set_kernel_fuel(config, 1000000), "kernel fuel");
  if (strcmp(policy, "auto") != 0) {
    wp_device_kind_t kind = strcmp(policy, "sequential") == 0 ? WP_DEVICE_SEQUENTIAL
                            : strcmp(policy, "cpu") == 0      ? WP_DEVICE_CPU
                                                              : WP_DEVICE_DISCRETE_GPU;
    wp_check(wp_config_set_device_policy(config, WP_DEVICE_POLICY_FORCE, kind), "policy");
  }
  wp_engine_t *engine = NULL;
  wp_check(wp_engine_new(config, &engine), "engine");
  wp_config_delete(config);

  size_t count = 0, cpu_threads = 0;
  wp_check(wp_engine_device_count(engine, &count), "device count");
  wp_check(wp_engine_cpu_threads(engine, &cpu_threads), "cpu threads");
  EXPECT(count >= 2 && cpu_threads == threads);
  for (size_t i = 0; i < count; i++) {
    wp_device_info_t info;
    wp_check(wp_engine_device_info(engine, i, &info), "device info");
    printf("device %u: kind %d, %s\n", info.index, (int)info.kind, info.name);
  }

  wp_module_t *module = NULL;
  wp_check(wp_module_new(engine, (const uint8_t *)GUEST, strlen(GUEST), &module), "module");
  wp_instance_t *inst = NULL;
  wp_check(wp_instance_new(module, NULL, &inst), "instantiate");

  int32_t in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = 3 * i - 7;
  wp_check(wp_instance_memory_write(inst, 1024, (const uint8_t *)in, sizeof in), "write input");
  for (int rep = 0; rep < 3; rep++) EXPECT(run(inst, N, WP_DEVICE_CPU) == 0);
  wp_check(wp_instance_memory_read(inst, 2048, (uint8_t *)out, sizeof out), "read output");
  for (int i = 0; i < N; i++) EXPECT(out[i] == 2 * in[i] + i);

  wp_parallel_stats_t st;
  wp_check(wp_instance_parallel_stats(inst, &st), "stats");
  printf("calls %llu, iterations %llu, cache %llu hits / %llu misses, compile %.3f ms, run %.3f ms, "
         "last device %d (kind %d)\n",
         (unsigned long long)st.calls, (unsigned long long)st.iterations,
         (unsigned long long)st.cache_hits, (unsigned long long)st.cache_misses,
         st.compile_ns / 1e6, st.run_ns / 1e6, st.last_device_index, (int)st.last_device_kind);
  EXPECT(st.calls == 3 && st.iterations == 3 * N && st.cache_misses == 1 && st.cache_hits == 2);
  if (strcmp(policy, "sequential") == 0) EXPECT(st.last_device_kind == WP_DEVICE_SEQUENTIAL);
  if (strcmp(policy, "cpu") == 0 || strcmp(policy, "auto") == 0)
    EXPECT(st.last_device_kind == WP_DEVICE_CPU);

  /* A bad call: the guest gets an error code and goes on; the host reads why. */
  wp_val_t r;
  wp_check(wp_instance_call(inst, "bad", NULL, 0, &r, 1), "bad");
  EXPECT(r.of.i32 == 2); /* invalid_handle */
  char msg[256];
  size_t len = 0;
  wp_check(wp_instance_parallel_last_error(inst, msg, sizeof msg, &len), "last error");
  printf("last parallel error: %s\n", msg);
  EXPECT(len > 0 && strstr(msg, "invalid_handle") != NULL);

  wp_instance_delete(inst);
  wp_module_delete(module);
  wp_engine_delete(engine);
  printf("parallel_devices: OK\n");
  return 0;
}
