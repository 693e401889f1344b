// The C++ API (wasi_parallel.hpp): RAII handles, typed calls, natives from
// lambdas (a throwing one becomes a guest trap), errors as exceptions and as
// Result values, devices and statistics as value types.
//
//   cpp_host [auto|sequential|cpu|gpu]
#include <wasi_parallel.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "parallel_guest.h"

namespace wp = wasi_parallel;

#define EXPECT(cond)                                                     \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "FAIL: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::exit(1);                                                      \
    }                                                                    \
  } while (0)
#define FAIL(msg)                                         \
  do {                                                    \
    std::fprintf(stderr, "FAIL: %s:%d: %s\n", __FILE__, __LINE__, msg); \
    std::exit(1);                                         \
  } while (0)

static const char NATIVE_GUEST[] = R"((module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (import "env" "scale" (func $scale (param i64 f64) (result f64)))
  (import "env" "log" (func $log (param i32 i32)))
  (import "env" "check" (func $check (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from the guest\00")
  (func (export "sum") (param $a i32) (param $b i32) (result i32)
    (call $add (local.get $a) (local.get $b)))
  (func (export "run") (param $n i64) (param $k i32) (result i64)
    (i64.add (local.get $n) (i64.extend_i32_s (local.get $k))))
  (func (export "scaled") (param $x i64) (result f64)
    (call $scale (local.get $x) (f64.const 0.5)))
  (func (export "greet") (call $log (i32.const 16) (i32.const 3)))
  (func (export "checked") (param $x i32) (result i32)
    (i32.add (call $check (local.get $x)) (i32.const 1)))
  (func (export "pair") (result i32 f32) (i32.const 7) (f32.const 1.5))
  (func (export "divide") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1))))
)";

static void natives_and_calls() {
  wp::Engine engine;
  wp::Module module(engine, std::string(NATIVE_GUEST));

  int calls = 0;
  std::string logged;
  wp::InstanceConfig ic;
  ic.native("env", "add", [&calls](int32_t a, int32_t b) {
      calls++;
      return a + b;
    })
      .native("env", "scale", [](int64_t x, double f) { return static_cast<double>(x) * f; })
      .native("env", "log", [&logged](wp::Caller &caller, int32_t ptr, int32_t level) {
        // A guest string through the checked memory view.
        const char *s = static_cast<const char *>(caller.ptr(static_cast<uint32_t>(ptr), 1));
        logged = "[" + std::to_string(level) + "] " + s;
      })
      .native("env", "check", [](int32_t x) -> int32_t {
        if (x < 0) throw std::invalid_argument("negative input " + std::to_string(x));
        if (x == 0) throw 42;  // not a std::exception: still a trap
        return x * 10;
      });
  wp::Instance inst(module, ic);

  // Typed calls: arguments converted to the parameter types, results checked.
  EXPECT(inst.call<int32_t>("sum", 2, 40) == 42 && calls == 1);
  EXPECT(inst.call<int64_t>("run", 1000, 42) == 1042);
  EXPECT(inst.call<double>("scaled", 9) == 4.5);
  inst.call("greet");
  EXPECT(logged == "[3] hello from the guest");
  auto [a, b] = inst.call<std::tuple<int32_t, float>>("pair");
  EXPECT(a == 7 && b == 1.5f);
  EXPECT(inst.call<int32_t>("checked", 4) == 41);
  std::printf("typed calls: sum=42 run=1042 scaled=4.5 log=\"%s\"\n", logged.c_str());

  // A C++ exception in a native lambda becomes a guest trap, not a crash.
  try {
    inst.call<int32_t>("checked", -3);
    FAIL("the native's exception did not stop the guest");
  } catch (const wp::Error &e) {
    EXPECT(e.code() == wp::ErrorCode::Trap && e.trap_kind() == wp::TrapKind::Host);
    EXPECT(std::string(e.what()).find("negative input -3") != std::string::npos);
    std::printf("native exception -> trap: %s\n", e.what());
  }
  auto r = inst.try_call<int32_t>("checked", 0);
  EXPECT(!r.ok() && r.err().trap_kind() == wp::TrapKind::Host);
  std::printf("non-std exception -> trap: %s\n", r.err().what());
  // The instance is still usable after the traps.
  EXPECT(inst.call<int32_t>("checked", 1) == 11);

  // Errors carry the stable code and trap kind; Result<T> instead of throwing.
  auto div = inst.try_call<int32_t>("divide", 1, 0);
  EXPECT(!div && div.err().code() == wp::ErrorCode::Trap &&
         div.err().trap_kind() == wp::TrapKind::IntegerDivisionByZero);
  EXPECT(inst.try_call<int32_t>("divide", 9, 3).unwrap() == 3);
  EXPECT(inst.try_call<int32_t>("nope").err().code() == wp::ErrorCode::NotFound);
  EXPECT(inst.try_call<int32_t>("sum", 1).err().code() == wp::ErrorCode::TypeMismatch);
  EXPECT(inst.try_call<int64_t>("sum", 1, 2).err().code() == wp::ErrorCode::TypeMismatch);
  try {
    wp::Module bad(engine, std::string("(module (func (result i32)))"));
    FAIL("an invalid module was accepted");
  } catch (const wp::Error &e) {
    EXPECT(e.code() == wp::ErrorCode::InvalidModule);
  }
  // A missing import names it.
  auto missing = wp::Instance::try_new(module, wp::InstanceConfig());
  EXPECT(!missing.ok() && missing.err().code() == wp::ErrorCode::Link);
  std::printf("errors: %s\n", missing.err().what());

  // Move semantics: the moved-from handle is empty and says so.
  wp::Instance moved = std::move(inst);
  EXPECT(moved.call<int32_t>("sum", 1, 1) == 2);
  try {
    inst.call<int32_t>("sum", 1, 1);  // NOLINT(bugprone-use-after-move): on purpose
    FAIL("a moved-from instance was usable");
  } catch (const wp::Error &e) {
    EXPECT(e.code() == wp::ErrorCode::InvalidArgument);
  }
}

static void parallel(const std::string &policy) {
  wp::Config config;
  config.threads(2).kernel_fuel(1000000);
  if (policy == "sequential") config.force_device(wp::DeviceKind::Sequential);
  if (policy == "cpu") config.force_device(wp::DeviceKind::Cpu);
  if (policy == "gpu") config.force_device(wp::DeviceKind::DiscreteGpu);
  wp::Engine engine(config);
  EXPECT(engine.cpu_threads() == 2);
  auto devices = engine.devices();
  EXPECT(devices.size() >= 2 && devices[0].kind == wp::DeviceKind::Sequential &&
         devices[1].kind == wp::DeviceKind::Cpu);
  for (const auto &d : devices) std::printf("device %u: %s\n", d.index, d.name.c_str());

  wp::Module module(engine, std::string(PARALLEL_GUEST_WAT));
  // The timeline of the guest's wasi-parallel calls (Chrome/Perfetto JSON).
  const std::string trace = "cpp_host_trace_" + policy + ".json";
  wp::InstanceConfig ic;
  ic.trace_file(trace);
  wp::Instance inst(module, ic);
  const int n = 256;
  std::vector<int32_t> in(n), out(n);
  for (int i = 0; i < n; i++) in[i] = 3 * i - 7;
  inst.memory_write(1024, in.data(), in.size() * sizeof(int32_t));
  for (int rep = 0; rep < 3; rep++) EXPECT(inst.call<int32_t>("run", n, WP_DEVICE_CPU) == 0);
  inst.memory_read(2048, out.data(), out.size() * sizeof(int32_t));
  for (int i = 0; i < n; i++) EXPECT(out[i] == 2 * in[i] + i);

  wp::ParallelStats st = inst.parallel_stats();
  EXPECT(st.calls == 3 && st.iterations == 3 * n && st.cache_misses == 1 && st.cache_hits == 2);
  EXPECT(st.last_device_index.has_value());
  if (policy == "sequential") EXPECT(st.last_device_kind == wp::DeviceKind::Sequential);
  if (policy == "cpu" || policy == "auto") EXPECT(st.last_device_kind == wp::DeviceKind::Cpu);
  wp::DeviceStats ds = inst.device_stats(*st.last_device_index);
  EXPECT(ds.calls == 3 && ds.iterations == 3 * n);
  EXPECT(!inst.parallel_last_error().has_value());
  EXPECT(inst.call<int32_t>("bad") == 2);  // invalid_handle: the guest goes on
  auto why = inst.parallel_last_error();
  EXPECT(why && why->find("invalid_handle") != std::string::npos);
  inst.write_trace();
  std::ifstream f(trace);
  std::stringstream json;
  json << f.rdbuf();
  EXPECT(json.str().rfind("{\"traceEvents\":[", 0) == 0);
  EXPECT(json.str().find("\"name\":\"parallel_exec\"") != std::string::npos);
  EXPECT(json.str().find("\"name\":\"write_buffer\"") != std::string::npos);
  std::remove(trace.c_str());
  std::printf("parallel (%s): %llu calls, %llu iterations, run %.3f ms; last error: %s\n", policy.c_str(),
              static_cast<unsigned long long>(st.calls), static_cast<unsigned long long>(st.iterations),
              std::chrono::duration<double, std::milli>(st.run_time).count(), why->c_str());
}

int main(int argc, char **argv) {
  try {
    natives_and_calls();
    parallel(argc > 1 ? argv[1] : "auto");
  } catch (const wp::Error &e) {
    std::fprintf(stderr, "FAIL: uncaught error %d: %s\n", static_cast<int>(e.code()), e.what());
    return 1;
  }
  std::printf("cpp_host: OK\n");
  return 0;
}
