// wasi_parallel.hpp: the C++17 API of libwasi_parallel, header-only, over
// the C API of wasi_parallel.h (in the style of wasmtime's wasmtime.hh).
//
//   wasi_parallel::Engine engine(wasi_parallel::Config().threads(4));
//   wasi_parallel::Module module = wasi_parallel::Module::from_file(engine, "guest.wasm");
//   wasi_parallel::InstanceConfig ic;
//   ic.arg("guest").native("env", "add", [&](int32_t a, int32_t b) { return a + b; });
//   wasi_parallel::Instance inst(module, ic);
//   int64_t r = inst.call<int64_t>("run", 1000, 42);
//
// - Every handle class (Config, Engine, Module, InstanceConfig, Instance) owns
//   its C handle (RAII), is movable and not copyable. A moved-from object is
//   empty: using it throws Error(WP_ERROR_INVALID_ARGUMENT).
// - Errors are thrown as wasi_parallel::Error (the stable code, the trap
//   kind, the exit code of proc_exit, the message). The try_* functions
//   return a Result<T> instead of throwing.
// - Natives are any C++ callable (lambdas with captures included) whose
//   parameters are int32_t/uint32_t ('i'), int64_t/uint64_t ('I'), float
//   ('f'), double ('F') or const char * ('$', a checked NUL-terminated guest
//   string), optionally preceded by a `wasi_parallel::Caller &` (guest
//   memory), returning void or one of the numeric types. An exception thrown
//   by the callable is caught in the trampoline and becomes a guest trap
//   (WP_TRAP_HOST with the exception's what()): nothing unwinds through the
//   runtime.
// - Threading as in the C API: Engine and Module are thread-safe; an Instance
//   is used by one thread at a time. See docs/c-api.md.
#ifndef WASI_PARALLEL_HPP
#define WASI_PARALLEL_HPP

#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "wasi_parallel.h"

namespace wasi_parallel {

/// The stable error codes (the values of wp_error_code_t).
enum class ErrorCode : int {
  Ok = WP_ERROR_OK,
  InvalidArgument = WP_ERROR_INVALID_ARGUMENT,
  InvalidModule = WP_ERROR_INVALID_MODULE,
  Link = WP_ERROR_LINK,
  Trap = WP_ERROR_TRAP,
  Exit = WP_ERROR_EXIT,
  NotFound = WP_ERROR_NOT_FOUND,
  TypeMismatch = WP_ERROR_TYPE_MISMATCH,
  OutOfBounds = WP_ERROR_OUT_OF_BOUNDS,
  Io = WP_ERROR_IO,
  ResourceExhausted = WP_ERROR_RESOURCE_EXHAUSTED,
  Wasi = WP_ERROR_WASI,
  Internal = WP_ERROR_INTERNAL,
};

/// Why a guest trapped (the values of wp_trap_kind_t).
enum class TrapKind : int {
  None = WP_TRAP_NONE,
  Unreachable = WP_TRAP_UNREACHABLE,
  MemoryOutOfBounds = WP_TRAP_MEMORY_OUT_OF_BOUNDS,
  TableOutOfBounds = WP_TRAP_TABLE_OUT_OF_BOUNDS,
  IndirectCallToNull = WP_TRAP_INDIRECT_CALL_TO_NULL,
  IntegerDivisionByZero = WP_TRAP_INTEGER_DIVISION_BY_ZERO,
  IntegerOverflow = WP_TRAP_INTEGER_OVERFLOW,
  BadConversionToInteger = WP_TRAP_BAD_CONVERSION_TO_INTEGER,
  StackOverflow = WP_TRAP_STACK_OVERFLOW,
  BadSignature = WP_TRAP_BAD_SIGNATURE,
  OutOfFuel = WP_TRAP_OUT_OF_FUEL,
  GrowthOperationLimited = WP_TRAP_GROWTH_OPERATION_LIMITED,
  Host = WP_TRAP_HOST,
  OutOfSystemMemory = WP_TRAP_OUT_OF_SYSTEM_MEMORY,
};

/// A device kind (the ABI's device_kind).
enum class DeviceKind : int32_t {
  Sequential = WP_DEVICE_SEQUENTIAL,
  Cpu = WP_DEVICE_CPU,
  DiscreteGpu = WP_DEVICE_DISCRETE_GPU,
  IntegratedGpu = WP_DEVICE_INTEGRATED_GPU,
};

/// A guest stream and where it goes.
enum class Stream : int32_t { Stdin = WP_STDIO_STDIN, Stdout = WP_STDIO_STDOUT, Stderr = WP_STDIO_STDERR };
enum class StdioMode : int32_t { Inherit = WP_STDIO_MODE_INHERIT, Null = WP_STDIO_MODE_NULL, Capture = WP_STDIO_MODE_CAPTURE };

/// A wasm value type.
enum class ValKind : uint8_t {
  I32 = WP_VAL_I32,
  I64 = WP_VAL_I64,
  F32 = WP_VAL_F32,
  F64 = WP_VAL_F64,
  Unsupported = WP_VAL_UNSUPPORTED,
};

/// An error of the runtime: thrown by the throwing API, held by Result<T>.
class Error : public std::exception {
 public:
  Error(ErrorCode code, std::string message, TrapKind trap = TrapKind::None,
        std::optional<int32_t> exit_code = std::nullopt)
      : code_(code), trap_(trap), exit_code_(exit_code), message_(std::move(message)) {}

  /// Takes ownership of a C error (which must not be NULL) and frees it.
  static Error from_c(wp_error_t *err) {
    int32_t code = 0;
    std::optional<int32_t> exit;
    if (wp_error_exit_code(err, &code)) exit = code;
    Error e(static_cast<ErrorCode>(wp_error_code(err)), wp_error_message(err),
            static_cast<TrapKind>(wp_error_trap_kind(err)), exit);
    wp_error_delete(err);
    return e;
  }

  ErrorCode code() const noexcept { return code_; }
  /// For ErrorCode::Trap: why; TrapKind::None otherwise.
  TrapKind trap_kind() const noexcept { return trap_; }
  /// For ErrorCode::Exit (proc_exit inside a call): the exit code.
  std::optional<int32_t> exit_code() const noexcept { return exit_code_; }
  const std::string &message() const noexcept { return message_; }
  const char *what() const noexcept override { return message_.c_str(); }

 private:
  ErrorCode code_;
  TrapKind trap_;
  std::optional<int32_t> exit_code_;
  std::string message_;
};

/// A value or an Error, for the non-throwing try_* functions.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  /// The value; throws the Error if there is none.
  T &unwrap() & {
    if (!ok()) throw std::get<1>(v_);
    return std::get<0>(v_);
  }
  T unwrap() && {
    if (!ok()) throw std::get<1>(v_);
    return std::move(std::get<0>(v_));
  }
  /// The error (only when !ok()).
  const Error &err() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}
  bool ok() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  void unwrap() const {
    if (e_) throw *e_;
  }
  const Error &err() const { return *e_; }

 private:
  std::optional<Error> e_;
};

namespace detail {

/// Throws the C error if there is one.
inline void check(wp_error_t *err) {
  if (err) throw Error::from_c(err);
}

template <typename H>
inline H *require(H *handle, const char *what) {
  if (!handle) throw Error(ErrorCode::InvalidArgument, std::string(what) + " is empty (moved from)");
  return handle;
}

/// Runs `f`, turning a thrown Error into a Result.
template <typename F>
auto catching(F &&f) -> Result<decltype(f())> {
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      return Result<void>();
    } else {
      return f();
    }
  } catch (const Error &e) {
    return e;
  }
}

/// A move-only owner of a C handle freed by `Del`.
template <typename T, void (*Del)(T *)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T *p) : p_(p) {}
  Handle(Handle &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Handle &operator=(Handle &&o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Handle(const Handle &) = delete;
  Handle &operator=(const Handle &) = delete;
  ~Handle() { reset(); }
  T *get() const noexcept { return p_; }
  void reset() noexcept {
    if (p_) Del(p_);
    p_ = nullptr;
  }

 private:
  T *p_ = nullptr;
};

inline wp_val_t make_val(ValKind kind) {
  wp_val_t v;
  std::memset(&v, 0, sizeof v);
  v.kind = static_cast<wp_val_kind_t>(kind);
  return v;
}

/// An arithmetic C++ argument as a value of the parameter kind `kind`.
template <typename A>
wp_val_t to_val(ValKind kind, A a) {
  static_assert(std::is_arithmetic_v<A>, "call arguments must be integers or floating-point numbers");
  wp_val_t v = make_val(kind);
  if (kind == ValKind::F32) {
    v.of.f32 = static_cast<float>(a);
    return v;
  }
  if (kind == ValKind::F64) {
    v.of.f64 = static_cast<double>(a);
    return v;
  }
  if constexpr (std::is_integral_v<A>) {
    if (kind == ValKind::I32) {
      v.of.i32 = static_cast<int32_t>(a);
      return v;
    }
    if (kind == ValKind::I64) {
      v.of.i64 = static_cast<int64_t>(a);
      return v;
    }
    throw Error(ErrorCode::TypeMismatch, "a parameter of a type C cannot pass");
  } else {
    throw Error(ErrorCode::TypeMismatch, "a floating-point argument for an integer parameter");
  }
}

template <typename T>
constexpr ValKind kind_of() {
  if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, uint32_t>) return ValKind::I32;
  else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>) return ValKind::I64;
  else if constexpr (std::is_same_v<T, float>) return ValKind::F32;
  else if constexpr (std::is_same_v<T, double>) return ValKind::F64;
  else return ValKind::Unsupported;
}

inline const char *kind_name(ValKind k) {
  switch (k) {
    case ValKind::I32: return "i32";
    case ValKind::I64: return "i64";
    case ValKind::F32: return "f32";
    case ValKind::F64: return "f64";
    default: return "unsupported";
  }
}

/// A result value as `T` (whose kind must match exactly).
template <typename T>
T from_val(const wp_val_t &v) {
  constexpr ValKind want = kind_of<T>();
  static_assert(want != ValKind::Unsupported, "call results are int32_t, uint32_t, int64_t, uint64_t, float or double");
  if (static_cast<ValKind>(v.kind) != want)
    throw Error(ErrorCode::TypeMismatch, std::string("the result is ") + kind_name(static_cast<ValKind>(v.kind)) +
                                             ", not " + kind_name(want));
  if constexpr (want == ValKind::I32) return static_cast<T>(v.of.i32);
  else if constexpr (want == ValKind::I64) return static_cast<T>(v.of.i64);
  else if constexpr (want == ValKind::F32) return v.of.f32;
  else return v.of.f64;
}

template <typename T>
struct is_tuple : std::false_type {};
template <typename... Ts>
struct is_tuple<std::tuple<Ts...>> : std::true_type {};

}  // namespace detail

/// A wasm value (tagged), for the untyped Instance::call_vals.
struct Val {
  wp_val_t raw;
  static Val i32(int32_t x) { Val v{detail::make_val(ValKind::I32)}; v.raw.of.i32 = x; return v; }
  static Val i64(int64_t x) { Val v{detail::make_val(ValKind::I64)}; v.raw.of.i64 = x; return v; }
  static Val f32(float x) { Val v{detail::make_val(ValKind::F32)}; v.raw.of.f32 = x; return v; }
  static Val f64(double x) { Val v{detail::make_val(ValKind::F64)}; v.raw.of.f64 = x; return v; }
  ValKind kind() const noexcept { return static_cast<ValKind>(raw.kind); }
  template <typename T>
  T get() const { return detail::from_val<T>(raw); }
};

/// An export's parameter and result types.
struct FuncType {
  std::vector<ValKind> params;
  std::vector<ValKind> results;
};

/// One device of an engine (a value: the name is copied).
struct DeviceInfo {
  uint32_t index;
  DeviceKind kind;
  std::string name;
};

/// An instance's use of wasi-parallel (a value).
struct ParallelStats {
  uint64_t calls, failed_calls, iterations, cache_hits, cache_misses;
  std::chrono::nanoseconds compile_time, run_time, setup_time;
  uint64_t fallbacks, buffers, buffer_bytes;
  /// The device of the most recent call that reached one, if any.
  std::optional<uint32_t> last_device_index;
  std::optional<DeviceKind> last_device_kind;
};

/// An instance's use of one device (a value).
struct DeviceStats {
  uint64_t calls, iterations;
  std::chrono::nanoseconds run_time;
};

/// Engine settings (wp_config_t). Setters chain and throw on a bad value.
class Config {
 public:
  Config() : h_(wp_config_new()) {
    if (!h_.get()) throw Error(ErrorCode::Internal, "wp_config_new failed");
  }
  Config &threads(uint32_t n) { return set(wp_config_set_threads, n); }
  /// Force `get_device` to return `kind`, whatever the guest's hint.
  Config &force_device(DeviceKind kind) {
    detail::check(wp_config_set_device_policy(raw(), WP_DEVICE_POLICY_FORCE, static_cast<wp_device_kind_t>(kind)));
    return *this;
  }
  /// The default: the host places each CPU- or GPU-hinted call on the
  /// device measured fastest for that kernel and size.
  Config &adaptive_device() {
    detail::check(wp_config_set_device_policy(raw(), WP_DEVICE_POLICY_ADAPTIVE, WP_DEVICE_CPU));
    return *this;
  }
  /// The same as adaptive_device() (its older name).
  Config &auto_device() { return adaptive_device(); }
  /// Honour the guest's hint: every call runs on the device it got.
  Config &hint_device() {
    detail::check(wp_config_set_device_policy(raw(), WP_DEVICE_POLICY_HINT, WP_DEVICE_CPU));
    return *this;
  }
  /// Keep the Vulkan pipeline cache in `dir` across runs.
  Config &pipeline_cache_dir(const std::string &dir) {
    detail::check(wp_config_set_pipeline_cache_dir(raw(), dir.c_str()));
    return *this;
  }
  Config &gpu_fallback(bool on) { return set(wp_config_set_gpu_fallback, on); }
  Config &fuel(uint64_t fuel) { return set(wp_config_set_fuel, fuel); }
  Config &kernel_fuel(uint64_t fuel) { return set(wp_config_set_kernel_fuel, fuel); }
  Config &max_memory_pages(uint32_t pages) { return set(wp_config_set_max_memory_pages, pages); }
  Config &max_module_bytes(size_t bytes) { return set(wp_config_set_max_module_bytes, bytes); }
  Config &max_buffer_bytes(uint64_t bytes) { return set(wp_config_set_max_buffer_bytes, bytes); }
  Config &max_buffers(size_t n) { return set(wp_config_set_max_buffers, n); }
  Config &max_kernel_size(size_t bytes) { return set(wp_config_set_max_kernel_size, bytes); }
  Config &kernel_cache_entries(size_t n) { return set(wp_config_set_kernel_cache_entries, n); }
  /// The C handle (still owned by this object).
  wp_config_t *raw() const { return detail::require(h_.get(), "Config"); }

 private:
  template <typename F, typename V>
  Config &set(F f, V v) {
    detail::check(f(raw(), v));
    return *this;
  }
  detail::Handle<wp_config_t, wp_config_delete> h_;
};

/// The runtime: interpreter, devices, kernel cache (wp_engine_t).
class Engine {
 public:
  /// An engine with the default settings.
  Engine() : h_(make(nullptr)) {}
  /// An engine with `config`'s settings (copied).
  explicit Engine(const Config &config) : h_(make(config.raw())) {}
  static Result<Engine> try_new(const Config &config) {
    return detail::catching([&] { return Engine(config); });
  }
  /// The devices (SEQUENTIAL and CPU always, then any GPUs).
  std::vector<DeviceInfo> devices() const {
    size_t n = 0;
    detail::check(wp_engine_device_count(raw(), &n));
    std::vector<DeviceInfo> out;
    out.reserve(n);
    for (size_t i = 0; i < n; i++) {
      wp_device_info_t info;
      detail::check(wp_engine_device_info(raw(), i, &info));
      out.push_back(DeviceInfo{info.index, static_cast<DeviceKind>(info.kind), info.name ? info.name : ""});
    }
    return out;
  }
  size_t cpu_threads() const {
    size_t n = 0;
    detail::check(wp_engine_cpu_threads(raw(), &n));
    return n;
  }
  wp_engine_t *raw() const { return detail::require(h_.get(), "Engine"); }

 private:
  using Handle = detail::Handle<wp_engine_t, wp_engine_delete>;
  static Handle make(const wp_config_t *config) {
    wp_engine_t *e = nullptr;
    detail::check(wp_engine_new(config, &e));
    return Handle(e);
  }
  Handle h_;
};

/// A validated, compiled module (wp_module_t).
class Module {
 public:
  /// Compiles wasm bytes or WAT text.
  Module(const Engine &engine, const void *bytes, size_t len) {
    wp_module_t *m = nullptr;
    detail::check(wp_module_new(engine.raw(), static_cast<const uint8_t *>(bytes), len, &m));
    h_ = Handle(m);
  }
  Module(const Engine &engine, const std::vector<uint8_t> &bytes) : Module(engine, bytes.data(), bytes.size()) {}
  Module(const Engine &engine, const std::string &wat_or_wasm) : Module(engine, wat_or_wasm.data(), wat_or_wasm.size()) {}
  static Module from_file(const Engine &engine, const std::string &path) {
    wp_module_t *m = nullptr;
    detail::check(wp_module_from_file(engine.raw(), path.c_str(), &m));
    return Module(m);
  }
  static Result<Module> try_from_file(const Engine &engine, const std::string &path) {
    return detail::catching([&] { return from_file(engine, path); });
  }
  wp_module_t *raw() const { return detail::require(h_.get(), "Module"); }

 private:
  using Handle = detail::Handle<wp_module_t, wp_module_delete>;
  explicit Module(wp_module_t *m) : h_(m) {}
  Handle h_;
};

/// Guest memory access inside a native (valid only during the call).
class Caller {
 public:
  explicit Caller(wp_exec_env_t *env) : env_(env) {}
  /// The guest's memory bytes (empty if it exports none).
  uint8_t *memory(size_t *size) const { return wp_exec_env_memory(env_, size); }
  /// A checked host pointer to guest range [offset, offset+len), or throws
  /// (which traps the guest).
  void *ptr(uint32_t offset, uint32_t len) const {
    void *p = wp_exec_env_app_to_native(env_, offset, len);
    if (!p) throw Error(ErrorCode::OutOfBounds, "guest range [" + std::to_string(offset) + ", +" + std::to_string(len) + ") is outside guest memory");
    return p;
  }
  wp_exec_env_t *raw() const noexcept { return env_; }

 private:
  wp_exec_env_t *env_;
};

namespace detail {

template <typename T>
constexpr char letter() {
  using U = std::remove_cv_t<std::remove_reference_t<T>>;
  if constexpr (std::is_same_v<U, int32_t> || std::is_same_v<U, uint32_t>) return 'i';
  else if constexpr (std::is_same_v<U, int64_t> || std::is_same_v<U, uint64_t>) return 'I';
  else if constexpr (std::is_same_v<U, float>) return 'f';
  else if constexpr (std::is_same_v<U, double>) return 'F';
  else if constexpr (std::is_same_v<U, const char *>) return '$';
  else {
    static_assert(sizeof(U) == 0, "native parameters/results: int32_t, uint32_t, int64_t, uint64_t, float, double, const char*");
    return '?';
  }
}

template <typename T>
T from_slot(uint64_t s) {
  using U = std::remove_cv_t<std::remove_reference_t<T>>;
  if constexpr (std::is_same_v<U, const char *>) return reinterpret_cast<const char *>(static_cast<uintptr_t>(s));
  else if constexpr (std::is_same_v<U, float>) {
    uint32_t bits = static_cast<uint32_t>(s);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  } else if constexpr (std::is_same_v<U, double>) {
    double f;
    std::memcpy(&f, &s, sizeof f);
    return f;
  } else if constexpr (sizeof(U) == 4) return static_cast<U>(static_cast<uint32_t>(s));
  else return static_cast<U>(s);
}

template <typename T>
uint64_t to_slot(T v) {
  if constexpr (std::is_same_v<T, float>) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return bits;
  } else if constexpr (std::is_same_v<T, double>) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return bits;
  } else if constexpr (sizeof(T) == 4) return static_cast<uint32_t>(v);
  else return static_cast<uint64_t>(v);
}

/// The parameter and result types of a callable's operator().
template <typename T>
struct fn_traits : fn_traits<decltype(&T::operator())> {};
template <typename R, typename... A>
struct fn_traits<R (*)(A...)> {
  using ret = R;
  using args = std::tuple<A...>;
};
template <typename C, typename R, typename... A>
struct fn_traits<R (C::*)(A...)> : fn_traits<R (*)(A...)> {};
template <typename C, typename R, typename... A>
struct fn_traits<R (C::*)(A...) const> : fn_traits<R (*)(A...)> {};
template <typename C, typename R, typename... A>
struct fn_traits<R (C::*)(A...) noexcept> : fn_traits<R (*)(A...)> {};
template <typename C, typename R, typename... A>
struct fn_traits<R (C::*)(A...) const noexcept> : fn_traits<R (*)(A...)> {};

/// One registered callable; the runtime gets `trampoline` and `this`.
struct NativeBase {
  virtual ~NativeBase() = default;
  std::string module, name, signature;
};

template <typename F>
struct Native final : NativeBase {
  F f;
  using traits = fn_traits<std::decay_t<F>>;
  using Args = typename traits::args;
  using Ret = typename traits::ret;
  static constexpr bool with_caller =
      std::tuple_size_v<Args> > 0 &&
      std::is_same_v<std::remove_cv_t<std::remove_reference_t<std::tuple_element_t<0, Args>>>, Caller>;
  static constexpr size_t first = with_caller ? 1 : 0;
  static constexpr size_t nparams = std::tuple_size_v<Args> - first;

  explicit Native(F fn) : f(std::move(fn)) {
    signature = "(";
    params_sig(std::make_index_sequence<nparams>{});
    signature += ")";
    if constexpr (!std::is_void_v<Ret>) signature += letter<Ret>();
  }
  template <size_t... I>
  void params_sig(std::index_sequence<I...>) {
    ((signature += letter<std::tuple_element_t<I + first, Args>>()), ...);
  }
  template <size_t... I>
  void invoke(wp_exec_env_t *env, uint64_t *args, std::index_sequence<I...>) {
    Caller caller(env);
    auto call = [&]() -> decltype(auto) {
      if constexpr (with_caller)
        return f(caller, from_slot<std::tuple_element_t<I + first, Args>>(args[I])...);
      else {
        (void)caller;
        return f(from_slot<std::tuple_element_t<I + first, Args>>(args[I])...);
      }
    };
    if constexpr (std::is_void_v<Ret>) call();
    else args[0] = to_slot<Ret>(call());
  }
  /// The C entry point: never lets an exception out (it becomes a trap).
  static void trampoline(wp_exec_env_t *env, uint64_t *args) noexcept {
    auto *self = static_cast<Native *>(wp_exec_env_get_attachment(env));
    try {
      self->invoke(env, args, std::make_index_sequence<nparams>{});
    } catch (const std::exception &e) {
      wp_exec_env_set_exception(env, e.what());
    } catch (...) {
      wp_exec_env_set_exception(env, "a C++ native threw an exception that is not a std::exception");
    }
  }
};

using Natives = std::vector<std::unique_ptr<NativeBase>>;

}  // namespace detail

/// How to instantiate a module: WASI args, env, preopens, stdio, natives.
class InstanceConfig {
 public:
  InstanceConfig() : h_(wp_instance_config_new()), natives_(std::make_shared<detail::Natives>()) {
    if (!h_.get()) throw Error(ErrorCode::Internal, "wp_instance_config_new failed");
  }
  /// Appends to argv (the first one is argv[0]).
  InstanceConfig &arg(const std::string &a) {
    detail::check(wp_instance_config_add_arg(raw(), a.c_str()));
    return *this;
  }
  InstanceConfig &env(const std::string &key, const std::string &value) {
    detail::check(wp_instance_config_add_env(raw(), key.c_str(), value.c_str()));
    return *this;
  }
  InstanceConfig &preopen(const std::string &host, const std::string &guest) {
    detail::check(wp_instance_config_add_preopen(raw(), host.c_str(), guest.c_str()));
    return *this;
  }
  InstanceConfig &stdio(Stream s, StdioMode m) {
    detail::check(wp_instance_config_set_stdio(raw(), static_cast<wp_stdio_stream_t>(s), static_cast<wp_stdio_mode_t>(m)));
    return *this;
  }
  InstanceConfig &stdin_bytes(const std::string &data) {
    detail::check(wp_instance_config_set_stdin_bytes(raw(), reinterpret_cast<const uint8_t *>(data.data()), data.size()));
    return *this;
  }
  /// Record the guest's wasi-parallel calls into a Chrome/Perfetto trace
  /// file at `path` (written by Instance::write_trace and when the
  /// instance is destroyed).
  InstanceConfig &trace_file(const std::string &path) {
    detail::check(wp_instance_config_set_trace_file(raw(), path.c_str()));
    return *this;
  }
  /// Registers callable `f` as import `module.name`; its signature comes
  /// from its parameter and result types (see the top of this header). The
  /// callable is kept alive by this config and every instance made with it.
  template <typename F>
  InstanceConfig &native(const std::string &module, const std::string &name, F &&f) {
    auto n = std::make_unique<detail::Native<std::decay_t<F>>>(std::forward<F>(f));
    n->module = module;
    n->name = name;
    wp_native_symbol_t sym;
    sym.symbol = n->name.c_str();
    sym.func_ptr = &detail::Native<std::decay_t<F>>::trampoline;
    sym.signature = n->signature.c_str();
    sym.attachment = n.get();
    detail::check(wp_instance_config_register_natives(raw(), module.c_str(), &sym, 1));
    natives_->push_back(std::move(n));
    return *this;
  }
  wp_instance_config_t *raw() const { return detail::require(h_.get(), "InstanceConfig"); }
  /// The callables registered so far (shared with the instances).
  const std::shared_ptr<detail::Natives> &natives() const noexcept { return natives_; }

 private:
  detail::Handle<wp_instance_config_t, wp_instance_config_delete> h_;
  std::shared_ptr<detail::Natives> natives_;
};

/// A guest instance (wp_instance_t): used by one thread at a time.
class Instance {
 public:
  /// Instantiates `module` (runs its start function, not `_start`).
  Instance(const Module &module, const InstanceConfig &config) : natives_(config.natives()) {
    wp_instance_t *i = nullptr;
    detail::check(wp_instance_new(module.raw(), config.raw(), &i));
    h_ = Handle(i);
  }
  /// Instantiates with an empty config.
  explicit Instance(const Module &module) {
    wp_instance_t *i = nullptr;
    detail::check(wp_instance_new(module.raw(), nullptr, &i));
    h_ = Handle(i);
  }
  static Result<Instance> try_new(const Module &module, const InstanceConfig &config) {
    return detail::catching([&] { return Instance(module, config); });
  }

  /// Runs `_start`: the exit code (0 when it returns, else proc_exit's).
  /// A trap throws.
  int32_t run_start() {
    int32_t code = 0;
    detail::check(wp_instance_run_start(raw(), &code));
    return code;
  }

  /// The signature of export `name`.
  FuncType func_type(const std::string &name) const {
    size_t np = 0, nr = 0;
    detail::check(wp_instance_func_type(raw(), name.c_str(), nullptr, 0, &np, nullptr, 0, &nr));
    std::vector<wp_val_kind_t> p(np), r(nr);
    detail::check(wp_instance_func_type(raw(), name.c_str(), p.data(), np, &np, r.data(), nr, &nr));
    FuncType t;
    for (auto k : p) t.params.push_back(static_cast<ValKind>(k));
    for (auto k : r) t.results.push_back(static_cast<ValKind>(k));
    return t;
  }

  /// Calls export `name` with untyped values; returns all results.
  std::vector<Val> call_vals(const std::string &name, const std::vector<Val> &args) {
    FuncType t = func_type(name);
    std::vector<wp_val_t> in, out(t.results.size());
    for (const Val &v : args) in.push_back(v.raw);
    detail::check(wp_instance_call(raw(), name.c_str(), in.data(), in.size(), out.data(), out.size()));
    std::vector<Val> res;
    for (const auto &v : out) res.push_back(Val{v});
    return res;
  }

  /// Typed call: `call<int64_t>("run", 1000, 42)`. Each argument is
  /// converted to its parameter's type (integers to i32/i64/f32/f64,
  /// floating-point to f32/f64); R is void, one of int32_t, uint32_t,
  /// int64_t, uint64_t, float, double, or a std::tuple of them.
  template <typename R = void, typename... A>
  R call(const std::string &name, A... args) {
    FuncType t = func_type(name);
    if (t.params.size() != sizeof...(A))
      throw Error(ErrorCode::TypeMismatch, "`" + name + "` takes " + std::to_string(t.params.size()) +
                                               " argument(s), " + std::to_string(sizeof...(A)) + " given");
    std::vector<wp_val_t> in;
    in.reserve(sizeof...(A));
    size_t i = 0;
    ((in.push_back(detail::to_val(t.params[i], args)), i++), ...);
    (void)i;
    std::vector<wp_val_t> out(t.results.size());
    detail::check(wp_instance_call(raw(), name.c_str(), in.data(), in.size(), out.data(), out.size()));
    return results<R>(name, out);
  }

  /// Like call<R>, but returns the error instead of throwing it.
  template <typename R = void, typename... A>
  Result<R> try_call(const std::string &name, A... args) {
    return detail::catching([&]() -> R { return call<R>(name, args...); });
  }

  /// Guest memory (the exported `memory`).
  uint64_t memory_size() const {
    uint64_t n = 0;
    detail::check(wp_instance_memory_size(raw(), &n));
    return n;
  }
  void memory_read(uint64_t offset, void *out, size_t len) const {
    detail::check(wp_instance_memory_read(raw(), offset, static_cast<uint8_t *>(out), len));
  }
  void memory_write(uint64_t offset, const void *data, size_t len) {
    detail::check(wp_instance_memory_write(raw(), offset, static_cast<const uint8_t *>(data), len));
  }

  /// What the guest wrote to a captured stream.
  std::string captured_output(Stream s) const {
    size_t len = 0;
    detail::check(wp_instance_captured_output(raw(), static_cast<wp_stdio_stream_t>(s), nullptr, 0, &len));
    std::string out(len, '\0');
    detail::check(wp_instance_captured_output(raw(), static_cast<wp_stdio_stream_t>(s),
                                              reinterpret_cast<uint8_t *>(out.data()), len, &len));
    out.resize(len);
    return out;
  }

  /// Fuel left after the last call (nullopt when fuel is not metered).
  std::optional<uint64_t> fuel_remaining() const {
    uint64_t f = 0;
    wp_error_t *e = wp_instance_fuel_remaining(raw(), &f);
    if (!e) return f;
    Error err = Error::from_c(e);
    if (err.code() == ErrorCode::NotFound) return std::nullopt;
    throw err;
  }

  ParallelStats parallel_stats() const {
    wp_parallel_stats_t s;
    detail::check(wp_instance_parallel_stats(raw(), &s));
    ParallelStats o;
    o.calls = s.calls;
    o.failed_calls = s.failed_calls;
    o.iterations = s.iterations;
    o.cache_hits = s.cache_hits;
    o.cache_misses = s.cache_misses;
    o.compile_time = std::chrono::nanoseconds(s.compile_ns);
    o.run_time = std::chrono::nanoseconds(s.run_ns);
    o.setup_time = std::chrono::nanoseconds(s.setup_ns);
    o.fallbacks = s.fallbacks;
    o.buffers = s.buffers;
    o.buffer_bytes = s.buffer_bytes;
    if (s.last_device_index >= 0) o.last_device_index = static_cast<uint32_t>(s.last_device_index);
    if (s.last_device_kind >= 0) o.last_device_kind = static_cast<DeviceKind>(s.last_device_kind);
    return o;
  }
  DeviceStats device_stats(size_t device_index) const {
    wp_device_stats_t s;
    detail::check(wp_instance_parallel_device_stats(raw(), device_index, &s));
    return DeviceStats{s.calls, s.iterations, std::chrono::nanoseconds(s.run_ns)};
  }
  /// Why the guest's last wasi-parallel call failed (nullopt: none did).
  std::optional<std::string> parallel_last_error() const {
    size_t len = 0;
    detail::check(wp_instance_parallel_last_error(raw(), nullptr, 0, &len));
    if (len == 0) return std::nullopt;
    std::string out(len + 1, '\0');
    detail::check(wp_instance_parallel_last_error(raw(), out.data(), out.size(), &len));
    out.resize(len);
    return out;
  }

  /// Writes the trace file (InstanceConfig::trace_file) now.
  void write_trace() { detail::check(wp_instance_write_trace(raw())); }

  wp_instance_t *raw() const { return detail::require(h_.get(), "Instance"); }

 private:
  using Handle = detail::Handle<wp_instance_t, wp_instance_delete>;

  template <typename R>
  static R results(const std::string &name, const std::vector<wp_val_t> &out) {
    if constexpr (std::is_void_v<R>) {
      (void)name;
      (void)out;
    } else if constexpr (detail::is_tuple<R>::value) {
      if (out.size() != std::tuple_size_v<R>)
        throw Error(ErrorCode::TypeMismatch, "`" + name + "` returns " + std::to_string(out.size()) + " value(s)");
      return tuple_results<R>(out, std::make_index_sequence<std::tuple_size_v<R>>{});
    } else {
      if (out.size() != 1)
        throw Error(ErrorCode::TypeMismatch, "`" + name + "` returns " + std::to_string(out.size()) + " value(s), not 1");
      return detail::from_val<R>(out[0]);
    }
  }
  template <typename R, size_t... I>
  static R tuple_results(const std::vector<wp_val_t> &out, std::index_sequence<I...>) {
    return R(detail::from_val<std::tuple_element_t<I, R>>(out[I])...);
  }

  Handle h_;
  // Natives' callables live as long as any instance that may call them.
  std::shared_ptr<detail::Natives> natives_;
};

}  // namespace wasi_parallel

#endif  // WASI_PARALLEL_HPP
