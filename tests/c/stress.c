/* C API stress under sanitizers (scripts/sanitize.sh): create and destroy
 * configs, engines, modules and instances many times (WP_STRESS_ITERS,
 * default 1000), run a wasi-parallel kernel and check its result every few
 * rounds, and call every entry point with NULL and garbage arguments,
 * checking that each returns the documented error instead of crashing.
 * Exit status 0 when every check passed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi_parallel.h>

static int failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "FAIL: %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* Expects success; frees and reports an error. */
static int ok(wp_error_t *e, const char *what) {
  if (e) {
    fprintf(stderr, "FAIL: %s: %d: %s\n", what, (int)wp_error_code(e),
            wp_error_message(e));
    wp_error_delete(e);
    failures++;
    return 0;
  }
  return 1;
}

/* Expects an error with `code` (or any error when code < 0), frees it. */
static void err(wp_error_t *e, int code, const char *what) {
  if (!e) {
    fprintf(stderr, "FAIL: %s: succeeded, expected error %d\n", what, code);
    failures++;
    return;
  }
  const char *msg = wp_error_message(e);
  if (!msg || (code >= 0 && (int)wp_error_code(e) != code)) {
    fprintf(stderr, "FAIL: %s: error %d (%s), expected %d\n", what,
            (int)wp_error_code(e), msg ? msg : "(null)", code);
    failures++;
  }
  wp_error_delete(e);
}

static wp_val_t i32v(int32_t x) {
  wp_val_t v;
  memset(&v, 0, sizeof v);
  v.kind = WP_VAL_I32;
  v.of.i32 = x;
  return v;
}

#include "parallel_guest.h"
#define GUEST PARALLEL_GUEST_WAT


enum { N = 64 };

/* Runs the guest's kernel on `hint`: out[i] = 2 * in[i] + i. */
static void run_kernel(wp_instance_t *inst, int32_t hint, uint32_t seed) {
  uint8_t in[N * 4], out[N * 4];
  for (int i = 0; i < N; i++) {
    uint32_t v = seed * 2654435761u + (uint32_t)i;
    memcpy(in + 4 * i, &v, 4);
  }
  if (!ok(wp_instance_memory_write(inst, 1024, in, sizeof in), "write in"))
    return;
  wp_val_t args[2] = {i32v(N), i32v(hint)}, r;
  if (!ok(wp_instance_call(inst, "run", args, 2, &r, 1), "run"))
    return;
  CHECK(r.kind == WP_VAL_I32 && r.of.i32 == 0);
  if (!ok(wp_instance_memory_read(inst, 2048, out, sizeof out), "read out"))
    return;
  for (int i = 0; i < N; i++) {
    uint32_t a, b;
    memcpy(&a, in + 4 * i, 4);
    memcpy(&b, out + 4 * i, 4);
    CHECK(b == 2 * a + (uint32_t)i);
  }
  /* A bad wasi-parallel call is an error code for the guest, not a trap. */
  if (ok(wp_instance_call(inst, "bad", NULL, 0, &r, 1), "bad"))
    CHECK(r.of.i32 == 2 /* invalid_handle */);
}

/* Every entry point with NULL and garbage arguments. */
static void null_and_garbage(wp_engine_t *engine, wp_module_t *module,
                             wp_instance_t *inst) {
  static const uint8_t garbage[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00,
                                    0x00, 0x01, 0xff, 0xff, 0xff, 0x7f, 0x60};
  static const char bad_utf8[] = {(char)0xff, (char)0xfe, 'x', 0};
  wp_engine_t *e2 = (wp_engine_t *)0x1;
  wp_module_t *m2 = (wp_module_t *)0x1;
  wp_instance_t *i2 = (wp_instance_t *)0x1;
  wp_val_t r, args[2] = {i32v(1), i32v(1)};
  uint8_t buf[64];
  uint64_t u64;
  size_t sz;
  int32_t code;

  /* errors and deletes */
  CHECK(wp_error_code(NULL) == WP_ERROR_OK);
  CHECK(wp_error_message(NULL) != NULL && wp_error_message(NULL)[0] == 0);
  CHECK(wp_error_trap_kind(NULL) == WP_TRAP_NONE);
  CHECK(!wp_error_exit_code(NULL, &code));
  CHECK(!wp_error_exit_code(NULL, NULL));
  wp_error_delete(NULL);
  wp_config_delete(NULL);
  wp_engine_delete(NULL);
  wp_module_delete(NULL);
  wp_instance_delete(NULL);
  wp_instance_config_delete(NULL);

  /* config */
  err(wp_config_set_threads(NULL, 1), WP_ERROR_INVALID_ARGUMENT, "threads NULL");
  err(wp_config_set_fuel(NULL, 1), WP_ERROR_INVALID_ARGUMENT, "fuel NULL");
  err(wp_config_set_kernel_fuel(NULL, 1), WP_ERROR_INVALID_ARGUMENT, "kfuel NULL");
  err(wp_config_set_max_buffers(NULL, 1), WP_ERROR_INVALID_ARGUMENT, "max_buffers NULL");
  err(wp_config_set_max_buffer_bytes(NULL, 1), WP_ERROR_INVALID_ARGUMENT, "max_buffer_bytes NULL");
  err(wp_config_set_max_kernel_size(NULL, 1), WP_ERROR_INVALID_ARGUMENT, "max_kernel_size NULL");
  err(wp_config_set_kernel_cache_entries(NULL, 1), WP_ERROR_INVALID_ARGUMENT, "cache NULL");
  err(wp_config_set_max_memory_pages(NULL, 1), WP_ERROR_INVALID_ARGUMENT, "pages NULL");
  err(wp_config_set_max_module_bytes(NULL, 1), WP_ERROR_INVALID_ARGUMENT, "module bytes NULL");
  err(wp_config_set_gpu_fallback(NULL, 1), WP_ERROR_INVALID_ARGUMENT, "fallback NULL");
  err(wp_config_set_device_policy(NULL, 0, 0), WP_ERROR_INVALID_ARGUMENT, "policy NULL");
  wp_config_t *cfg = wp_config_new();
  CHECK(cfg != NULL);
  err(wp_config_set_device_policy(cfg, 77, 0), WP_ERROR_INVALID_ARGUMENT, "policy 77");
  err(wp_config_set_device_policy(cfg, WP_DEVICE_POLICY_FORCE, 9), WP_ERROR_INVALID_ARGUMENT, "kind 9");
  err(wp_config_set_device_policy(cfg, -1, -1), WP_ERROR_INVALID_ARGUMENT, "policy -1");
  CHECK(wp_config_set_device_policy(cfg, WP_DEVICE_POLICY_HINT, 0) == NULL);
  CHECK(wp_config_set_device_policy(cfg, WP_DEVICE_POLICY_ROTATE, 0) == NULL);
  CHECK(wp_config_set_device_policy(cfg, WP_DEVICE_POLICY_ADAPTIVE, 0) == NULL);
  err(wp_config_set_pipeline_cache_dir(NULL, "/tmp"), WP_ERROR_INVALID_ARGUMENT, "cache dir config NULL");
  err(wp_config_set_pipeline_cache_dir(cfg, ""), WP_ERROR_INVALID_ARGUMENT, "cache dir empty");
  err(wp_config_set_pipeline_cache_dir(cfg, "\xff\xfe"), WP_ERROR_INVALID_ARGUMENT, "cache dir not UTF-8");
  CHECK(wp_config_set_pipeline_cache_dir(cfg, NULL) == NULL);
  CHECK(wp_config_set_pipeline_cache_dir(cfg, "/tmp/wp-stress-cache") == NULL);
  err(wp_config_set_placement_history_dir(NULL, "/tmp"), WP_ERROR_INVALID_ARGUMENT, "history dir config NULL");
  err(wp_config_set_placement_history_dir(cfg, ""), WP_ERROR_INVALID_ARGUMENT, "history dir empty");
  err(wp_config_set_placement_history_dir(cfg, "\xff\xfe"), WP_ERROR_INVALID_ARGUMENT, "history dir not UTF-8");
  CHECK(wp_config_set_placement_history_dir(cfg, NULL) == NULL);
  CHECK(wp_config_set_placement_history_dir(cfg, "/tmp/wp-stress-history") == NULL);
  err(wp_config_set_max_memory_pages(cfg, 70000), -1, "pages 70000");
  err(wp_config_set_bounds_checks(NULL, WP_BOUNDS_CHECKS_EXPLICIT), WP_ERROR_INVALID_ARGUMENT, "bounds NULL");
  err(wp_config_set_bounds_checks(cfg, 3), WP_ERROR_INVALID_ARGUMENT, "bounds 3");
  err(wp_config_set_bounds_checks(cfg, -1), WP_ERROR_INVALID_ARGUMENT, "bounds -1");
  CHECK(wp_config_set_bounds_checks(cfg, WP_BOUNDS_CHECKS_AUTO) == NULL);
  CHECK(wp_config_set_bounds_checks(cfg, WP_BOUNDS_CHECKS_EXPLICIT) == NULL);
  CHECK(wp_config_set_bounds_checks(cfg, WP_BOUNDS_CHECKS_GUARD_PAGES) == NULL);
  err(wp_config_set_gpu_build_budget(NULL, 0.05), WP_ERROR_INVALID_ARGUMENT, "budget NULL");
  err(wp_config_set_gpu_build_budget(cfg, -1.0), WP_ERROR_INVALID_ARGUMENT, "budget -1");
  err(wp_config_set_gpu_build_budget(cfg, 0.0 / 0.0), WP_ERROR_INVALID_ARGUMENT, "budget NaN");
  err(wp_config_set_gpu_build_budget(cfg, 1e300), WP_ERROR_INVALID_ARGUMENT, "budget huge");
  CHECK(wp_config_set_gpu_build_budget(cfg, 0.0) == NULL);
  CHECK(wp_config_set_gpu_build_budget(cfg, 0.25) == NULL);
  wp_config_delete(cfg);

  /* engine */
  err(wp_engine_new(NULL, NULL), WP_ERROR_INVALID_ARGUMENT, "engine_new out NULL");
  err(wp_engine_device_count(NULL, &sz), WP_ERROR_INVALID_ARGUMENT, "device_count NULL");
  err(wp_engine_device_count(engine, NULL), WP_ERROR_INVALID_ARGUMENT, "device_count out NULL");
  err(wp_engine_device_info(engine, 999, NULL), WP_ERROR_INVALID_ARGUMENT, "device_info out NULL");
  {
    wp_device_info_t info;
    err(wp_engine_device_info(engine, 999, &info), -1, "device_info 999");
    err(wp_engine_device_info(engine, (size_t)-1, &info), -1, "device_info -1");
  }
  err(wp_engine_cpu_threads(NULL, &sz), WP_ERROR_INVALID_ARGUMENT, "cpu_threads NULL");

  /* module */
  err(wp_module_new(NULL, garbage, sizeof garbage, &m2), WP_ERROR_INVALID_ARGUMENT, "module engine NULL");
  err(wp_module_new(engine, NULL, 10, &m2), WP_ERROR_INVALID_ARGUMENT, "module bytes NULL");
  err(wp_module_new(engine, garbage, sizeof garbage, NULL), WP_ERROR_INVALID_ARGUMENT, "module out NULL");
  err(wp_module_new(engine, garbage, sizeof garbage, &m2), WP_ERROR_INVALID_MODULE, "module garbage");
  err(wp_module_new(engine, garbage, 4, &m2), WP_ERROR_INVALID_MODULE, "module truncated");
  err(wp_module_new(engine, (const uint8_t *)"(module (func", 13, &m2), WP_ERROR_INVALID_MODULE, "module bad wat");
  err(wp_module_new(engine, garbage, 0, &m2), -1, "module empty");
  err(wp_module_new(engine, garbage, (size_t)-1, &m2), -1, "module len SIZE_MAX");
  CHECK(m2 == (wp_module_t *)0x1);
  err(wp_module_from_file(engine, NULL, &m2), WP_ERROR_INVALID_ARGUMENT, "from_file NULL");
  err(wp_module_from_file(engine, "/nonexistent/x.wasm", &m2), -1, "from_file missing");
  err(wp_module_from_file(engine, bad_utf8, &m2), -1, "from_file bad utf8");
  err(wp_module_from_file(NULL, "/nonexistent/x.wasm", &m2), WP_ERROR_INVALID_ARGUMENT, "from_file engine NULL");

  /* instance config */
  err(wp_instance_config_add_arg(NULL, "x"), WP_ERROR_INVALID_ARGUMENT, "add_arg NULL");
  wp_instance_config_t *ic = wp_instance_config_new();
  err(wp_instance_config_add_arg(ic, NULL), WP_ERROR_INVALID_ARGUMENT, "add_arg arg NULL");
  err(wp_instance_config_add_arg(ic, bad_utf8), WP_ERROR_INVALID_ARGUMENT, "add_arg bad utf8");
  err(wp_instance_config_add_env(ic, NULL, "v"), WP_ERROR_INVALID_ARGUMENT, "add_env NULL");
  err(wp_instance_config_add_env(ic, "k", NULL), WP_ERROR_INVALID_ARGUMENT, "add_env value NULL");
  err(wp_instance_config_add_preopen(ic, NULL, "/g"), WP_ERROR_INVALID_ARGUMENT, "preopen NULL");
  err(wp_instance_config_set_stdio(ic, 99, WP_STDIO_MODE_NULL), WP_ERROR_INVALID_ARGUMENT, "stdio 99");
  err(wp_instance_config_set_stdio(ic, WP_STDIO_STDOUT, 99), WP_ERROR_INVALID_ARGUMENT, "stdio mode 99");
  err(wp_instance_config_set_stdin_bytes(ic, NULL, 5), WP_ERROR_INVALID_ARGUMENT, "stdin NULL");
  err(wp_instance_config_register_natives(ic, "env", NULL, 3), WP_ERROR_INVALID_ARGUMENT, "natives NULL");
  ok(wp_instance_config_add_preopen(ic, "/nonexistent/dir/xyz", "/g"), "preopen (checked at instantiation)");
  err(wp_instance_new(module, ic, &i2), -1, "instance with missing preopen");
  CHECK(i2 == (wp_instance_t *)0x1);
  wp_instance_config_delete(ic);

  /* instance */
  err(wp_instance_new(NULL, NULL, &i2), WP_ERROR_INVALID_ARGUMENT, "instance module NULL");
  err(wp_instance_new(module, NULL, NULL), WP_ERROR_INVALID_ARGUMENT, "instance out NULL");
  err(wp_instance_call(NULL, "run", args, 2, &r, 1), WP_ERROR_INVALID_ARGUMENT, "call NULL");
  err(wp_instance_call(inst, NULL, args, 2, &r, 1), WP_ERROR_INVALID_ARGUMENT, "call name NULL");
  err(wp_instance_call(inst, bad_utf8, args, 2, &r, 1), -1, "call bad utf8");
  err(wp_instance_call(inst, "nope", args, 2, &r, 1), WP_ERROR_NOT_FOUND, "call missing");
  err(wp_instance_call(inst, "memory", NULL, 0, &r, 1), -1, "call a memory");
  err(wp_instance_call(inst, "run", NULL, 2, &r, 1), WP_ERROR_INVALID_ARGUMENT, "call args NULL");
  err(wp_instance_call(inst, "run", args, 2, NULL, 1), WP_ERROR_INVALID_ARGUMENT, "call results NULL");
  err(wp_instance_call(inst, "run", args, 1, &r, 1), WP_ERROR_TYPE_MISMATCH, "call 1 arg");
  err(wp_instance_call(inst, "run", args, 2, &r, 0), -1, "call no room for results");
  {
    wp_val_t bad[2] = {i32v(1), i32v(1)};
    bad[1].kind = 200; /* no such kind */
    err(wp_instance_call(inst, "run", bad, 2, &r, 1), -1, "call bad val kind");
    bad[1].kind = WP_VAL_F64;
    err(wp_instance_call(inst, "run", bad, 2, &r, 1), WP_ERROR_TYPE_MISMATCH, "call f64 for i32");
  }
  err(wp_instance_run_start(NULL, &code), WP_ERROR_INVALID_ARGUMENT, "run_start NULL");
  err(wp_instance_run_start(inst, &code), -1, "run_start without _start");
  err(wp_instance_memory_size(NULL, &u64), WP_ERROR_INVALID_ARGUMENT, "memory_size NULL");
  err(wp_instance_memory_size(inst, NULL), WP_ERROR_INVALID_ARGUMENT, "memory_size out NULL");
  err(wp_instance_memory_read(inst, 0, NULL, 16), WP_ERROR_INVALID_ARGUMENT, "read NULL");
  err(wp_instance_memory_read(inst, 65536 - 8, buf, 16), WP_ERROR_OUT_OF_BOUNDS, "read past end");
  err(wp_instance_memory_read(inst, UINT64_MAX - 4, buf, 16), WP_ERROR_OUT_OF_BOUNDS, "read offset overflow");
  err(wp_instance_memory_write(inst, UINT64_MAX, buf, 1), WP_ERROR_OUT_OF_BOUNDS, "write offset max");
  err(wp_instance_memory_write(inst, 0, NULL, 4), WP_ERROR_INVALID_ARGUMENT, "write NULL");
  err(wp_instance_memory_write(inst, 0, buf, (size_t)-1), -1, "write len SIZE_MAX");
  ok(wp_instance_memory_read(inst, 0, NULL, 0), "read 0 bytes at NULL");
  err(wp_instance_captured_output(inst, 99, buf, sizeof buf, &sz), -1, "captured 99");
  err(wp_instance_captured_output(NULL, WP_STDIO_STDOUT, buf, sizeof buf, &sz), WP_ERROR_INVALID_ARGUMENT, "captured NULL");
  err(wp_instance_clear_captured_output(NULL, WP_STDIO_STDOUT), WP_ERROR_INVALID_ARGUMENT, "clear NULL");
  err(wp_instance_fuel_remaining(NULL, &u64), WP_ERROR_INVALID_ARGUMENT, "fuel NULL");
  err(wp_instance_func_type(NULL, "run", NULL, 0, &sz, NULL, 0, &sz), WP_ERROR_INVALID_ARGUMENT, "func_type NULL");
  err(wp_instance_func_type(inst, NULL, NULL, 0, &sz, NULL, 0, &sz), WP_ERROR_INVALID_ARGUMENT, "func_type name NULL");
  err(wp_instance_func_type(inst, "nope", NULL, 0, &sz, NULL, 0, &sz), WP_ERROR_NOT_FOUND, "func_type missing");
  {
    wp_error_t *e = wp_instance_func_type(inst, "run", NULL, 0, &sz, NULL, 0, &sz);
    wp_error_delete(e); /* either answer is fine with no room; no crash */
  }
  err(wp_instance_parallel_stats(NULL, NULL), WP_ERROR_INVALID_ARGUMENT, "stats NULL");
  err(wp_instance_parallel_stats(inst, NULL), WP_ERROR_INVALID_ARGUMENT, "stats out NULL");
  {
    wp_device_stats_t ds;
    err(wp_instance_parallel_device_stats(inst, 999, &ds), -1, "device_stats 999");
  }
  err(wp_instance_parallel_last_error(NULL, (char *)buf, sizeof buf, &sz), WP_ERROR_INVALID_ARGUMENT, "last_error NULL");
  err(wp_instance_parallel_last_error(inst, NULL, 8, &sz), WP_ERROR_INVALID_ARGUMENT, "last_error buf NULL");
  {
    wp_error_t *e = wp_instance_parallel_last_error(inst, (char *)buf, 1, &sz);
    wp_error_delete(e); /* truncation or error: no overflow (ASan checks) */
  }

  /* natives' execution environment, outside any call */
  CHECK(wp_exec_env_get_attachment(NULL) == NULL);
  CHECK(wp_exec_env_memory(NULL, &sz) == NULL);
  CHECK(wp_exec_env_memory(NULL, NULL) == NULL);
  CHECK(!wp_exec_env_validate_app_addr(NULL, 0, 4));
  CHECK(wp_exec_env_app_to_native(NULL, 0, 4) == NULL);
  CHECK(!wp_exec_env_native_to_app(NULL, buf, &u64));
  wp_exec_env_set_exception(NULL, "x");
  wp_exec_env_set_exception(NULL, NULL);
  (void)e2;
}

int main(void) {
  const char *s = getenv("WP_STRESS_ITERS");
  long iters = s ? atol(s) : 1000;
  for (long i = 0; i < iters; i++) {
    wp_config_t *cfg = wp_config_new();
    ok(wp_config_set_threads(cfg, 1 + (uint32_t)(i % 2)), "threads");
    ok(wp_config_set_kernel_fuel(cfg, 1000000), "kernel fuel");
    ok(wp_config_set_max_buffers(cfg, 8), "max buffers");
    ok(wp_config_set_max_buffer_bytes(cfg, 1 << 20), "max buffer bytes");
    ok(wp_config_set_kernel_cache_entries(cfg, 2), "cache");
    wp_engine_t *engine = NULL;
    if (!ok(wp_engine_new(cfg, &engine), "engine")) {
      wp_config_delete(cfg);
      break;
    }
    wp_config_delete(cfg);
    wp_module_t *module = NULL;
    if (!ok(wp_module_new(engine, (const uint8_t *)GUEST, sizeof GUEST - 1, &module), "module")) {
      wp_engine_delete(engine);
      break;
    }
    wp_instance_config_t *ic = wp_instance_config_new();
    ok(wp_instance_config_add_arg(ic, "stress"), "arg");
    ok(wp_instance_config_add_env(ic, "K", "V"), "env");
    for (int j = 0; j < 2; j++) {
      wp_instance_t *inst = NULL;
      if (!ok(wp_instance_new(module, ic, &inst), "instance"))
        continue;
      if (i % 10 == 0)
        run_kernel(inst, (int32_t)(i / 10 % 2), (uint32_t)(i + j));
      if (i % 100 == 0 && j == 0)
        null_and_garbage(engine, module, inst);
      wp_instance_delete(inst);
    }
    wp_instance_config_delete(ic);
    /* Deletion order varies: the engine first sometimes (documented as allowed). */
    if (i % 2) {
      wp_engine_delete(engine);
      wp_module_delete(module);
    } else {
      wp_module_delete(module);
      wp_engine_delete(engine);
    }
    if (failures)
      break;
  }
  if (failures) {
    fprintf(stderr, "stress: %d failures\n", failures);
    return 1;
  }
  printf("stress: %ld rounds OK\n", iters);
  return 0;
}
