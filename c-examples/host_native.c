/* Register host natives WAMR-style and call them from a guest.
 *
 * Signature letters: i i32, I i64, f f32, F f64, * pointer (checked and
 * translated), ~ byte length of the preceding pointer, $ NUL-terminated
 * string. Raw convention: void fn(wp_exec_env_t *env, uint64_t *args), the
 * result goes to args[0]. */
#include "example.h"

typedef struct {
  int calls;
  char last_message[64];
} host_state_t;

/* env.log(msg: $, level: i) -> i : remembers the message, returns its length. */
static void host_log(wp_exec_env_t *env, uint64_t *args) {
  host_state_t *st = (host_state_t *)wp_exec_env_get_attachment(env);
  const char *msg = (const char *)wp_slot_ptr(args[0]);
  int32_t level = wp_slot_i32(args[1]);
  st->calls++;
  snprintf(st->last_message, sizeof st->last_message, "[%d] %s", level, msg);
  args[0] = wp_i32_slot((int32_t)strlen(msg));
}

/* env.checksum(buf: *, len: ~) -> I : a 64-bit FNV-1a hash of the bytes. */
static void host_checksum(wp_exec_env_t *env, uint64_t *args) {
  const uint8_t *buf = (const uint8_t *)wp_slot_ptr(args[0]);
  uint32_t len = (uint32_t)args[1];
  uint64_t h = 1469598103934665603ULL;
  for (uint32_t i = 0; i < len; i++) h = (h ^ buf[i]) * 1099511628211ULL;
  ((host_state_t *)wp_exec_env_get_attachment(env))->calls++;
  args[0] = wp_i64_slot((int64_t)h);
}

/* env.lerp(a: f, b: f, t: F) -> F */
static void host_lerp(wp_exec_env_t *env, uint64_t *args) {
  (void)env;
  double a = wp_slot_f32(args[0]), b = wp_slot_f32(args[1]), t = wp_slot_f64(args[2]);
  args[0] = wp_f64_slot(a + (b - a) * t);
}

/* env.deny(code: i) : aborts the guest with a host trap. */
static void host_deny(wp_exec_env_t *env, uint64_t *args) {
  char msg[64];
  snprintf(msg, sizeof msg, "access denied (code %d)", wp_slot_i32(args[0]));
  wp_exec_env_set_exception(env, msg);
}

static const char GUEST[] =
    "(module\n"
    "  (import \"env\" \"log\" (func $log (param i32 i32) (result i32)))\n"
    "  (import \"env\" \"checksum\" (func $checksum (param i32 i32) (result i64)))\n"
    "  (import \"env\" \"lerp\" (func $lerp (param f32 f32 f64) (result f64)))\n"
    "  (import \"env\" \"deny\" (func $deny (param i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (data (i32.const 16) \"hello host\\00\")\n"
    "  (data (i32.const 64) \"abc\")\n"
    "  (func (export \"say_hello\") (result i32) (call $log (i32.const 16) (i32.const 2)))\n"
    "  (func (export \"hash\") (result i64) (call $checksum (i32.const 64) (i32.const 3)))\n"
    "  (func (export \"hash_oob\") (result i64) (call $checksum (i32.const 65530) (i32.const 100)))\n"
    "  (func (export \"mid\") (result f64) (call $lerp (f32.const 2) (f32.const 4) (f64.const 0.25)))\n"
    "  (func (export \"forbidden\") (call $deny (i32.const 7))))\n";

static int64_t call_i64(wp_instance_t *inst, const char *name) {
  wp_val_t r;
  wp_check(wp_instance_call(inst, name, NULL, 0, &r, 1), name);
  EXPECT(r.kind == WP_VAL_I64);
  return r.of.i64;
}

int main(void) {
  host_state_t state = {0, ""};
  wp_native_symbol_t natives[] = {
      {"log", host_log, "($i)i", &state},
      {"checksum", host_checksum, "(*~)I", &state},
      {"lerp", host_lerp, "(ffF)F", NULL},
      {"deny", host_deny, "(i)", NULL},
  };

  wp_engine_t *engine = NULL;
  wp_check(wp_engine_new(NULL, &engine), "engine");
  wp_module_t *module = NULL;
  wp_check(wp_module_new(engine, (const uint8_t *)GUEST, strlen(GUEST), &module), "module");
  wp_instance_config_t *cfg = wp_instance_config_new();
  wp_check(wp_instance_config_register_natives(cfg, "env", natives, sizeof natives / sizeof natives[0]),
           "register natives");
  wp_instance_t *inst = NULL;
  wp_check(wp_instance_new(module, cfg, &inst), "instantiate");

  wp_val_t r;
  wp_check(wp_instance_call(inst, "say_hello", NULL, 0, &r, 1), "say_hello");
  EXPECT(r.of.i32 == 10 && state.calls == 1);
  printf("native saw: %s\n", state.last_message);
  EXPECT(strcmp(state.last_message, "[2] hello host") == 0);

  uint64_t h = (uint64_t)call_i64(inst, "hash");
  printf("checksum of \"abc\": %016llx\n", (unsigned long long)h);
  EXPECT(h == 0xe16801510db89efdULL); /* FNV-1a("abc") */
  EXPECT(state.calls == 2);

  wp_check(wp_instance_call(inst, "mid", NULL, 0, &r, 1), "mid");
  EXPECT(r.kind == WP_VAL_F64 && r.of.f64 == 2.5);

  /* A pointer range outside guest memory traps before the native runs. */
  wp_error_t *err = wp_instance_call(inst, "hash_oob", NULL, 0, &r, 1);
  EXPECT(wp_error_code(err) == WP_ERROR_TRAP && wp_error_trap_kind(err) == WP_TRAP_HOST);
  printf("bad pointer: %s\n", wp_error_message(err));
  wp_error_delete(err);
  EXPECT(state.calls == 2);

  /* The native raises an exception: the guest stops with the message. */
  err = wp_instance_call(inst, "forbidden", NULL, 0, NULL, 0);
  EXPECT(wp_error_code(err) == WP_ERROR_TRAP && wp_error_trap_kind(err) == WP_TRAP_HOST);
  EXPECT(strstr(wp_error_message(err), "access denied (code 7)") != NULL);
  printf("exception: %s\n", wp_error_message(err));
  wp_error_delete(err);

  /* A bad signature is refused at registration, naming the native. */
  wp_native_symbol_t bad = {"oops", host_deny, "(i~)", NULL};
  err = wp_instance_config_register_natives(cfg, "env", &bad, 1);
  EXPECT(wp_error_code(err) == WP_ERROR_INVALID_ARGUMENT);
  printf("bad signature: %s\n", wp_error_message(err));
  wp_error_delete(err);

  /* Without the natives, instantiation names the missing import. */
  wp_instance_t *none = NULL;
  err = wp_instance_new(module, NULL, &none);
  EXPECT(wp_error_code(err) == WP_ERROR_LINK && strstr(wp_error_message(err), "env.log"));
  printf("missing import: %s\n", wp_error_message(err));
  wp_error_delete(err);

  wp_instance_delete(inst);
  wp_instance_config_delete(cfg);
  wp_module_delete(module);
  wp_engine_delete(engine);
  printf("host_native: OK\n");
  return 0;
}
