/* A watchdog thread that stops a runaway guest, and a per-call deadline.
 *
 *   watchdog [ROUNDS]
 *
 * 1. The main thread calls `spin` (a guest loop that never ends); a watchdog
 *    thread waits up to 100 ms for the call to finish, then calls
 *    wp_interrupt() on the instance's interrupt handle. The call returns
 *    WP_ERROR_TRAP of kind WP_TRAP_INTERRUPTED; the instance is used again.
 * 2. The same with wp_config_set_timeout(config, 0.1): no thread needed.
 * 3. ROUNDS (default 200, or $WP_STRESS_ITERS) short calls, each raced by
 *    an interrupt at a varying delay: every call either completes with the
 *    right result or is interrupted (the sanitizer script runs this under
 *    ASan and valgrind).
 * 4. The handle outlives the instance: wp_interrupt then returns false.
 *
 * $WP_WATCHDOG_MAX_MS (default 100) is how late a stop may come (the
 * sanitizer script raises it under valgrind).
 */
#include "example.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

static const char GUEST[] =
    "(module\n"
    "  (memory (export \"memory\") 1)\n"
    "  (func (export \"spin\") (loop $l (br $l)))\n"
    "  ;; sum of i*i for i < n (wrapping)\n"
    "  (func (export \"work\") (param $n i32) (result i32)\n"
    "    (local $i i32) (local $s i32)\n"
    "    (block $d (loop $l\n"
    "      (br_if $d (i32.ge_u (local.get $i) (local.get $n)))\n"
    "      (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $i))))\n"
    "      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n"
    "      (br $l)))\n"
    "    (local.get $s)))\n";

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The watchdog: waits until `done` is set or `limit_ms` passed; then
 * interrupts the instance. */
struct watchdog {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  double limit_ms;
  wp_interrupt_handle_t *handle;
  int fired;
  double fired_at;
};

static void *watchdog_main(void *arg) {
  struct watchdog *w = arg;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  /* 64-bit arithmetic: 5 s in ns does not fit a 32-bit `long` (armv7). */
  long long ns = until.tv_nsec + (long long)(w->limit_ms * 1e6);
  until.tv_sec += (time_t)(ns / 1000000000LL);
  until.tv_nsec = (long)(ns % 1000000000LL);
  pthread_mutex_lock(&w->lock);
  int rc = 0;
  /* 0: signalled or a spurious wakeup; ETIMEDOUT (or any error): stop
   * waiting, never spin while holding the lock. */
  while (!w->done && rc == 0) rc = pthread_cond_timedwait(&w->cond, &w->lock, &until);
  if (!w->done) {
    w->fired_at = now_ms();
    w->fired = wp_interrupt(w->handle);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

/* Calls `name` with a watchdog of `limit_ms`; returns the error (or NULL). */
static wp_error_t *call_watched(wp_instance_t *inst, wp_interrupt_handle_t *h, const char *name,
                                wp_val_t *args, size_t nargs, wp_val_t *res, double limit_ms,
                                double *latency_ms) {
  struct watchdog w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, limit_ms, h, 0, 0};
  pthread_t t;
  EXPECT(pthread_create(&t, NULL, watchdog_main, &w) == 0);
  wp_error_t *err = wp_instance_call(inst, name, args, nargs, res, 1);
  double returned = now_ms();
  pthread_mutex_lock(&w.lock);
  w.done = 1;
  pthread_cond_signal(&w.cond);
  pthread_mutex_unlock(&w.lock);
  pthread_join(t, NULL);
  if (latency_ms) *latency_ms = w.fired ? returned - w.fired_at : 0;
  return err;
}

static int is_interrupted(wp_error_t *err) {
  return err && wp_error_code(err) == WP_ERROR_TRAP &&
         wp_error_trap_kind(err) == WP_TRAP_INTERRUPTED;
}

static int32_t expected_work(int32_t n) {
  uint32_t s = 0;
  for (uint32_t i = 0; i < (uint32_t)n; i++) s += i * i;
  return (int32_t)s;
}

struct racer {
  wp_interrupt_handle_t *handle;
  long delay_us;
};

static void *racer_main(void *arg) {
  struct racer *r = arg;
  struct timespec d = {0, r->delay_us * 1000L};
  nanosleep(&d, NULL);
  wp_interrupt(r->handle);
  return NULL;
}

int main(int argc, char **argv) {
  const char *env = getenv("WP_STRESS_ITERS");
  int rounds = argc > 1 ? atoi(argv[1]) : env ? atoi(env) : 200;
  /* How late a stop may be, in ms (valgrind runs everything ~50x slower). */
  const char *slack = getenv("WP_WATCHDOG_MAX_MS");
  double max_ms = slack ? atof(slack) : 100;

  wp_engine_t *engine = NULL;
  wp_check(wp_engine_new(NULL, &engine), "engine");
  wp_module_t *module = NULL;
  wp_check(wp_module_new(engine, (const uint8_t *)GUEST, strlen(GUEST), &module), "module");
  wp_instance_t *inst = NULL;
  wp_check(wp_instance_new(module, NULL, &inst), "instantiate");
  wp_interrupt_handle_t *handle = NULL;
  wp_check(wp_instance_interrupt_handle(inst, &handle), "interrupt handle");

  /* 1. A watchdog thread stops a guest that never returns. */
  wp_val_t r;
  double latency = 0;
  wp_error_t *err = call_watched(inst, handle, "spin", NULL, 0, &r, 100, &latency);
  EXPECT(is_interrupted(err));
  printf("spin: %s (stopped %.1f ms after the interrupt)\n", wp_error_message(err), latency);
  EXPECT(latency < max_ms);
  wp_error_delete(err);
  /* The instance is usable again; an idle interrupt does nothing. */
  wp_val_t n = wp_i32(1000);
  err = call_watched(inst, handle, "work", &n, 1, &r, 5000, NULL);
  wp_check(err, "work after the interrupt");
  EXPECT(r.of.i32 == expected_work(1000));
  EXPECT(!wp_interrupt(handle));

  /* 2. A deadline per call: no watchdog thread needed. */
  wp_config_t *config = wp_config_new();
  wp_check(wp_config_set_timeout(config, 0.1), "timeout");
  wp_error_t *bad = wp_config_set_timeout(config, -1); /* an error, config unchanged */
  EXPECT(bad != NULL && wp_error_code(bad) == WP_ERROR_INVALID_ARGUMENT);
  wp_error_delete(bad);
  wp_engine_t *timed_engine = NULL;
  wp_check(wp_engine_new(config, &timed_engine), "timed engine");
  wp_config_delete(config);
  wp_module_t *timed_module = NULL;
  wp_check(wp_module_new(timed_engine, (const uint8_t *)GUEST, strlen(GUEST), &timed_module),
           "timed module");
  wp_instance_t *timed = NULL;
  wp_check(wp_instance_new(timed_module, NULL, &timed), "timed instance");
  double t0 = now_ms();
  err = wp_instance_call(timed, "spin", NULL, 0, &r, 1);
  double took = now_ms() - t0;
  EXPECT(is_interrupted(err));
  printf("spin with a 0.1 s timeout: %s (%.0f ms)\n", wp_error_message(err), took);
  EXPECT(took >= 100 && took < 100 + 10 * max_ms);
  wp_error_delete(err);
  wp_instance_delete(timed);
  wp_module_delete(timed_module);
  wp_engine_delete(timed_engine);

  /* 3. Interrupts racing with calls that complete. */
  int completed = 0, stopped = 0;
  for (int i = 0; i < rounds; i++) {
    struct racer rc = {handle, (i * 7919L) % 300};
    pthread_t t;
    EXPECT(pthread_create(&t, NULL, racer_main, &rc) == 0);
    wp_val_t arg = wp_i32(20000 + (i % 7) * 40000);
    err = wp_instance_call(inst, "work", &arg, 1, &r, 1);
    if (err) {
      EXPECT(is_interrupted(err));
      stopped++;
      wp_error_delete(err);
    } else {
      EXPECT(r.of.i32 == expected_work(arg.of.i32));
      completed++;
    }
    pthread_join(t, NULL);
  }
  printf("racing: %d rounds, %d completed, %d interrupted\n", rounds, completed, stopped);

  /* 4. The handle outlives the instance. */
  wp_instance_delete(inst);
  EXPECT(!wp_interrupt(handle));
  wp_interrupt_handle_delete(handle);
  wp_module_delete(module);
  wp_engine_delete(engine);
  printf("watchdog: OK\n");
  return 0;
}
