/* Shared helpers of the C examples: fail loudly, exit non-zero. */
#ifndef WP_EXAMPLE_H
#define WP_EXAMPLE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi_parallel.h>

/* Aborts the example with the error's code and message if `err` is set. */
static inline void wp_check(wp_error_t *err, const char *what) {
  if (err) {
    fprintf(stderr, "FAIL: %s: error %d: %s\n", what, (int)wp_error_code(err),
            wp_error_message(err));
    wp_error_delete(err);
    exit(1);
  }
}

#define EXPECT(cond)                                                          \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "FAIL: %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
      exit(1);                                                                \
    }                                                                         \
  } while (0)

static inline wp_val_t wp_i32(int32_t x) {
  wp_val_t v;
  memset(&v, 0, sizeof v);
  v.kind = WP_VAL_I32;
  v.of.i32 = x;
  return v;
}
#endif
