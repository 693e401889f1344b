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

static const char GUEST[] =
    "(module\n"
    "  (import \"wasi_ephemeral_parallel\" \"get_device\" (func $get_device (param i32 i32) (result i32)))\n"
    "  (import \"wasi_ephemeral_parallel\" \"create_buffer\" (func $create_buffer (param i32 i32 i32 i32) (result i32)))\n"
    "  (import \"wasi_ephemeral_parallel\" \"write_buffer\" (func $write_buffer (param i32 i32 i32) (result i32)))\n"
    "  (import \"wasi_ephemeral_parallel\" \"read_buffer\" (func $read_buffer (param i32 i32 i32) (result i32)))\n"
    "  (import \"wasi_ephemeral_parallel\" \"parallel_exec\"\n"
    "    (func $parallel_exec (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (data (i32.const 4096) \"\\00\\61\\73\\6d\\01\\00\\00\\00\\01\\0b\\01\\60\\07\\7f\\7f\\7f\\7f\\7f\\7f\\7f\\00\\02\\0c\\01\\00\\06\\6d\\65\\6d\\6f\\72\\79\\02\\00\\01\\03\\02\\01\\00\\07\\0a\\01\\06\\6b\\65\\72\\6e\\65\\6c\\00\\00\\0a\\23\\01\\21\\01\\01\\7f\\20\\00\\41\\02\\74\\21\\07\\20\\05\\20\\07\\6a\\20\\03\\20\\07\\6a\\28\\02\\00\\41\\02\\6c\\20\\00\\6a\\36\\02\\00\\0b\")\n"
    "  ;; handles: 0 device, 4 input buffer, 8 output buffer\n"
    "  (func (export \"run\") (param $n i32) (param $hint i32) (result i32)\n"
    "    (local $r i32) (local $bytes i32)\n"
    "    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))\n"
    "    (if (local.tee $r (call $get_device (local.get $hint) (i32.const 0)))\n"
    "      (then (return (local.get $r))))\n"
    "    (if (local.tee $r (call $create_buffer (i32.load (i32.const 0)) (local.get $bytes) (i32.const 0) (i32.const 4)))\n"
    "      (then (return (local.get $r))))\n"
    "    (if (local.tee $r (call $create_buffer (i32.load (i32.const 0)) (local.get $bytes) (i32.const 1) (i32.const 8)))\n"
    "      (then (return (local.get $r))))\n"
    "    (if (local.tee $r (call $write_buffer (i32.const 1024) (local.get $bytes) (i32.load (i32.const 4))))\n"
    "      (then (return (local.get $r))))\n"
    "    (if (local.tee $r (call $parallel_exec (i32.load (i32.const 0)) (i32.const 4096) (i32.const 88)\n"
    "                          (local.get $n) (i32.const 1) (i32.const 4) (i32.const 1) (i32.const 8) (i32.const 1)))\n"
    "      (then (return (local.get $r))))\n"
    "    (call $read_buffer (i32.load (i32.const 8)) (i32.const 2048) (local.get $bytes)))\n"
    "  (func (export \"bad\") (result i32)\n"
    "    (call $create_buffer (i32.const 12345) (i32.const 16) (i32.const 0) (i32.const 12))))\n";

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
