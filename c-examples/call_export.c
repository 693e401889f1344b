/* Call exported functions with arguments, read results, access guest
 * memory, and tell a trap from an error. */
#include "example.h"

static const char GUEST[] =
    "(module\n"
    "  (memory (export \"memory\") 1)\n"
    "  (func (export \"add\") (param i32 i32) (result i32)\n"
    "    (i32.add (local.get 0) (local.get 1)))\n"
    "  (func (export \"scale\") (param i64 f64) (result f64)\n"
    "    (f64.mul (f64.convert_i64_s (local.get 0)) (local.get 1)))\n"
    "  (func (export \"sum_bytes\") (param $p i32) (param $n i32) (result i32)\n"
    "    (local $s i32)\n"
    "    (block $done (loop $l\n"
    "      (br_if $done (i32.eqz (local.get $n)))\n"
    "      (local.set $s (i32.add (local.get $s) (i32.load8_u (local.get $p))))\n"
    "      (local.set $p (i32.add (local.get $p) (i32.const 1)))\n"
    "      (local.set $n (i32.sub (local.get $n) (i32.const 1)))\n"
    "      (br $l)))\n"
    "    (local.get $s))\n"
    "  (func (export \"div\") (param i32 i32) (result i32)\n"
    "    (i32.div_s (local.get 0) (local.get 1))))\n";

int main(void) {
  wp_engine_t *engine = NULL;
  wp_check(wp_engine_new(NULL, &engine), "engine");
  wp_module_t *module = NULL;
  wp_check(wp_module_new(engine, (const uint8_t *)GUEST, strlen(GUEST), &module), "module");
  wp_instance_t *inst = NULL;
  wp_check(wp_instance_new(module, NULL, &inst), "instance");

  /* add(40, 2) */
  wp_val_t args[2] = {wp_i32(40), wp_i32(2)};
  wp_val_t res[1];
  wp_check(wp_instance_call(inst, "add", args, 2, res, 1), "add");
  EXPECT(res[0].kind == WP_VAL_I32 && res[0].of.i32 == 42);

  /* scale(3, 1.5): other value kinds */
  wp_val_t sargs[2];
  memset(sargs, 0, sizeof sargs);
  sargs[0].kind = WP_VAL_I64;
  sargs[0].of.i64 = 3;
  sargs[1].kind = WP_VAL_F64;
  sargs[1].of.f64 = 1.5;
  wp_check(wp_instance_call(inst, "scale", sargs, 2, res, 1), "scale");
  EXPECT(res[0].kind == WP_VAL_F64 && res[0].of.f64 == 4.5);

  /* The signature of an export. */
  wp_val_kind_t params[4], results[4];
  size_t np = 0, nr = 0;
  wp_check(wp_instance_func_type(inst, "scale", params, 4, &np, results, 4, &nr), "func_type");
  EXPECT(np == 2 && nr == 1 && params[0] == WP_VAL_I64 && params[1] == WP_VAL_F64 &&
         results[0] == WP_VAL_F64);

  /* Pass data through guest memory. */
  const uint8_t data[5] = {1, 2, 3, 4, 5};
  wp_check(wp_instance_memory_write(inst, 1000, data, sizeof data), "memory_write");
  wp_val_t margs[2] = {wp_i32(1000), wp_i32(5)};
  wp_check(wp_instance_call(inst, "sum_bytes", margs, 2, res, 1), "sum_bytes");
  EXPECT(res[0].of.i32 == 15);
  uint8_t back[5];
  wp_check(wp_instance_memory_read(inst, 1000, back, sizeof back), "memory_read");
  EXPECT(memcmp(back, data, sizeof data) == 0);

  /* Out of bounds: an error, nothing written. */
  wp_error_t *err = wp_instance_memory_write(inst, 65534, data, sizeof data);
  EXPECT(wp_error_code(err) == WP_ERROR_OUT_OF_BOUNDS);
  printf("out of bounds: %s\n", wp_error_message(err));
  wp_error_delete(err);

  /* A trap: error code TRAP with a trap kind; the instance stays usable. */
  wp_val_t dargs[2] = {wp_i32(1), wp_i32(0)};
  err = wp_instance_call(inst, "div", dargs, 2, res, 1);
  EXPECT(wp_error_code(err) == WP_ERROR_TRAP);
  EXPECT(wp_error_trap_kind(err) == WP_TRAP_INTEGER_DIVISION_BY_ZERO);
  int32_t code;
  EXPECT(!wp_error_exit_code(err, &code)); /* a trap is not an exit */
  printf("trap: %s\n", wp_error_message(err));
  wp_error_delete(err);
  dargs[0] = wp_i32(9);
  dargs[1] = wp_i32(3);
  wp_check(wp_instance_call(inst, "div", dargs, 2, res, 1), "div");
  EXPECT(res[0].of.i32 == 3);

  /* Wrong use: not found, type mismatch, NULL. */
  err = wp_instance_call(inst, "nope", NULL, 0, NULL, 0);
  EXPECT(wp_error_code(err) == WP_ERROR_NOT_FOUND);
  wp_error_delete(err);
  err = wp_instance_call(inst, "add", args, 1, res, 1);
  EXPECT(wp_error_code(err) == WP_ERROR_TYPE_MISMATCH);
  wp_error_delete(err);
  err = wp_instance_call(NULL, "add", args, 2, res, 1);
  EXPECT(wp_error_code(err) == WP_ERROR_INVALID_ARGUMENT);
  wp_error_delete(err);

  wp_instance_delete(inst);
  wp_module_delete(module);
  wp_engine_delete(engine);
  printf("call_export: OK\n");
  return 0;
}
