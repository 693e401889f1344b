/* Run a WASI command from C: arguments, environment, a preopened directory,
 * captured stdout, and the exit code of proc_exit.
 *
 *   run_wasi                 runs the embedded guest and checks what it did
 *   run_wasi GUEST.wasm ARGS runs a real WASI program (inherited stdio, the
 *                            current directory preopened as "."), exits with
 *                            its exit code
 */
#include "example.h"
#include <unistd.h>

/* Writes a greeting to stdout, the value of $GREETING to /data/out.txt, and
 * exits with argc. */
static const char GUEST[] =
    "(module\n"
    "  (import \"wasi_snapshot_preview1\" \"fd_write\" (func $fd_write (param i32 i32 i32 i32) (result i32)))\n"
    "  (import \"wasi_snapshot_preview1\" \"path_open\"\n"
    "    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))\n"
    "  (import \"wasi_snapshot_preview1\" \"args_sizes_get\" (func $args_sizes (param i32 i32) (result i32)))\n"
    "  (import \"wasi_snapshot_preview1\" \"environ_sizes_get\" (func $env_sizes (param i32 i32) (result i32)))\n"
    "  (import \"wasi_snapshot_preview1\" \"environ_get\" (func $env_get (param i32 i32) (result i32)))\n"
    "  (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $exit (param i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (data (i32.const 100) \"hello from wasi\\n\")\n"
    "  (data (i32.const 200) \"out.txt\")\n"
    "  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)\n"
    "    (i32.store (i32.const 0) (local.get $ptr))\n"
    "    (i32.store (i32.const 4) (local.get $len))\n"
    "    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))\n"
    "  (func (export \"_start\") (local $fd i32) (local $p i32)\n"
    "    (drop (call $write (i32.const 1) (i32.const 100) (i32.const 16)))\n"
    "    ;; the first environment variable, \"GREETING=...\": its value into the file\n"
    "    (drop (call $env_sizes (i32.const 16) (i32.const 20)))\n"
    "    (drop (call $env_get (i32.const 300) (i32.const 400)))\n"
    "    (local.set $p (i32.add (i32.load (i32.const 300)) (i32.const 9)))\n"
    "    (if (i32.ne (call $path_open (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 7)\n"
    "                  (i32.const 9) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 24))\n"
    "                (i32.const 0))\n"
    "      (then (call $exit (i32.const 100))))\n"
    "    (drop (call $write (i32.load (i32.const 24)) (local.get $p)\n"
    "      (i32.sub (i32.add (i32.const 400) (i32.load (i32.const 20))) (i32.add (local.get $p) (i32.const 1)))))\n"
    "    (drop (call $args_sizes (i32.const 32) (i32.const 36)))\n"
    "    (call $exit (i32.load (i32.const 32)))))\n";

static int run_file(int argc, char **argv) {
  wp_engine_t *engine = NULL;
  wp_check(wp_engine_new(NULL, &engine), "engine");
  wp_module_t *module = NULL;
  wp_check(wp_module_from_file(engine, argv[1], &module), argv[1]);
  wp_instance_config_t *cfg = wp_instance_config_new();
  for (int i = 1; i < argc; i++) wp_check(wp_instance_config_add_arg(cfg, argv[i]), "arg");
  wp_check(wp_instance_config_add_preopen(cfg, ".", "."), "preopen");
  wp_instance_t *inst = NULL;
  wp_check(wp_instance_new(module, cfg, &inst), "instantiate");
  int32_t code = 0;
  wp_error_t *err = wp_instance_run_start(inst, &code);
  if (err) {
    fprintf(stderr, "run_wasi: %s (trap kind %d)\n", wp_error_message(err),
            (int)wp_error_trap_kind(err));
    wp_error_delete(err);
    code = 134;
  }
  wp_instance_delete(inst);
  wp_instance_config_delete(cfg);
  wp_module_delete(module);
  wp_engine_delete(engine);
  return code;
}

int main(int argc, char **argv) {
  if (argc > 1) return run_file(argc, argv);

  char dir[] = "/tmp/wp-run-wasi-XXXXXX";
  EXPECT(mkdtemp(dir) != NULL);

  wp_config_t *config = wp_config_new();
  wp_check(wp_config_set_fuel(config, 10000000), "fuel");
  wp_engine_t *engine = NULL;
  wp_check(wp_engine_new(config, &engine), "engine");
  wp_config_delete(config); /* the engine keeps a copy */

  wp_module_t *module = NULL;
  wp_check(wp_module_new(engine, (const uint8_t *)GUEST, strlen(GUEST), &module), "module");

  wp_instance_config_t *cfg = wp_instance_config_new();
  const char *args[] = {"guest", "a", "b c"};
  for (int i = 0; i < 3; i++) wp_check(wp_instance_config_add_arg(cfg, args[i]), "arg");
  wp_check(wp_instance_config_add_env(cfg, "GREETING", "written by the guest"), "env");
  wp_check(wp_instance_config_add_preopen(cfg, dir, "/data"), "preopen");
  wp_check(wp_instance_config_set_stdio(cfg, WP_STDIO_STDOUT, WP_STDIO_MODE_CAPTURE), "stdio");

  wp_instance_t *inst = NULL;
  wp_check(wp_instance_new(module, cfg, &inst), "instantiate");
  int32_t code = -1;
  wp_check(wp_instance_run_start(inst, &code), "_start");
  printf("guest exit code: %d\n", code);
  EXPECT(code == 3); /* argc */

  char out[64];
  size_t len = 0;
  wp_check(wp_instance_captured_output(inst, WP_STDIO_STDOUT, (uint8_t *)out, sizeof out - 1, &len),
           "captured");
  out[len < sizeof out - 1 ? len : sizeof out - 1] = 0;
  printf("guest stdout: %s", out);
  EXPECT(strcmp(out, "hello from wasi\n") == 0);

  char path[128];
  snprintf(path, sizeof path, "%s/out.txt", dir);
  FILE *f = fopen(path, "r");
  EXPECT(f != NULL);
  char line[64] = {0};
  EXPECT(fgets(line, sizeof line, f) != NULL);
  fclose(f);
  printf("file written by the guest: %s\n", line);
  EXPECT(strcmp(line, "written by the guest") == 0);
  unlink(path);
  rmdir(dir);

  /* A preopen that does not exist fails at instantiation. */
  wp_instance_config_t *bad = wp_instance_config_new();
  wp_check(wp_instance_config_add_preopen(bad, "/nonexistent/dir", "/data"), "preopen");
  wp_instance_t *none = NULL;
  wp_error_t *err = wp_instance_new(module, bad, &none);
  EXPECT(wp_error_code(err) == WP_ERROR_IO && none == NULL);
  wp_error_delete(err);
  wp_instance_config_delete(bad);

  wp_instance_delete(inst);
  wp_instance_config_delete(cfg);
  wp_module_delete(module);
  wp_engine_delete(engine);
  printf("run_wasi: OK\n");
  return 0;
}
