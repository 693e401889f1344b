//! `wp_config_t` (engine settings), its setters and the device policy.

use super::error::{guard, wp_error_t};
use super::kind::{
    bounds_checks_from_c, device_kind_from_c, kernel_engine_from_c, wp_bounds_checks_t,
    wp_device_kind_t, wp_kernel_engine_t,
};
use super::{c_str, non_null_mut};
use crate::error::{Error, Result};
use crate::parallel::DevicePolicy;
use crate::runtime::Config;
use std::ffi::c_char;
use std::time::Duration;

/// How the host places a guest's calls on devices.
pub type wp_device_policy_t = i32;
/// The default: the host places each call of a CPU- or GPU-hinted device on
/// the device measured fastest for that kernel and size (the CPU device or
/// a Vulkan device); buffers follow the calls.
pub const WP_DEVICE_POLICY_ADAPTIVE: wp_device_policy_t = 0;
/// The same as `WP_DEVICE_POLICY_ADAPTIVE` (its older name).
pub const WP_DEVICE_POLICY_AUTO: wp_device_policy_t = 0;
/// Always return the device of the given kind, whatever the hint.
pub const WP_DEVICE_POLICY_FORCE: wp_device_policy_t = 1;
/// Honour the guest's hint (a missing GPU falls back to the CPU device);
/// every call runs on the device the guest got.
pub const WP_DEVICE_POLICY_HINT: wp_device_policy_t = 2;
/// For testing: like `ADAPTIVE`, but each call of a kernel runs on the next
/// device in turn (the CPU device, then each Vulkan device), so buffers
/// move at every call; results must not change.
pub const WP_DEVICE_POLICY_ROTATE: wp_device_policy_t = 3;

/// Engine settings: guest limits and the wasi-parallel device settings.
///
/// Created with `wp_config_new`, freed with `wp_config_delete`. A config is
/// copied by `wp_engine_new`, so it may be freed or reused afterwards. Not
/// thread-safe: one thread changes a config at a time.
pub struct wp_config_t {
    pub(crate) config: Config,
}

/// A new config with the defaults (no fuel limit, wasm32 memory limit, CPU
/// threads = available cores, device policy ADAPTIVE, GPU fallback on, 1 GiB /
/// 4096 buffers per instance, 16 MiB kernels, 64 cached kernels).
///
/// Ownership: the caller owns the result; free it with `wp_config_delete`.
/// Returns NULL only if allocation fails. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_config_new() -> *mut wp_config_t {
    super::catch(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(wp_config_t {
            config: Config::default(),
        }))
    })
}

/// Frees a config. `NULL` is allowed.
///
/// Ownership: takes `config`. Thread-safety: not while another thread uses it.
#[no_mangle]
pub extern "C" fn wp_config_delete(config: *mut wp_config_t) {
    super::delete_box(config)
}

fn with_config(
    config: *mut wp_config_t,
    f: impl FnOnce(&mut Config) -> Result<()>,
) -> *mut wp_error_t {
    guard(|| f(&mut non_null_mut(config, "config")?.config))
}

/// Sets the worker threads of the CPU device; 0 means the available cores.
/// At most `WP_MAX_THREADS` (1024): each is an OS thread made when the
/// engine is.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config or more than
/// `WP_MAX_THREADS` threads (the config is then unchanged). Ownership:
/// borrows `config`; the caller owns a returned error. Thread-safety: one
/// thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_threads(config: *mut wp_config_t, threads: u32) -> *mut wp_error_t {
    with_config(config, |c| {
        if threads as usize > crate::parallel::MAX_THREADS {
            return Err(Error::invalid_argument(format!(
                "threads: {threads} exceeds the limit of {} CPU worker threads",
                crate::parallel::MAX_THREADS
            )));
        }
        c.parallel.threads = threads as usize;
        Ok(())
    })
}

/// Most CPU worker threads an engine may have (`wp_config_set_threads`).
pub const WP_MAX_THREADS: u32 = 1024;
const _: () = assert!(WP_MAX_THREADS as usize == crate::parallel::MAX_THREADS);

/// A wall-clock limit in seconds from C: 0 = none; negative, NaN, infinite
/// or unrepresentable values are errors.
fn seconds(what: &str, secs: f64) -> Result<Option<Duration>> {
    if secs == 0.0 {
        return Ok(None);
    }
    if secs.is_nan() || secs <= 0.0 {
        return Err(Error::invalid_argument(format!(
            "{what}: {secs} is not a positive number of seconds"
        )));
    }
    Duration::try_from_secs_f64(secs)
        .map(Some)
        .map_err(|_| Error::invalid_argument(format!("{what}: {secs} s is too large")))
}

/// Wall-clock limit of every guest call (`wp_instance_call`,
/// `wp_instance_run_start`) in seconds (decimals allowed); a call that runs
/// longer traps with `WP_TRAP_INTERRUPTED`, its kernels included. 0 = none
/// (the default). Noticed within a few milliseconds of guest code, between
/// kernel iterations and Vulkan dispatch chunks; not inside a blocking host
/// function.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config, a negative, NaN or
/// infinite value. Ownership: borrows `config`. Thread-safety: one thread
/// per config.
#[no_mangle]
pub extern "C" fn wp_config_set_timeout(config: *mut wp_config_t, seconds: f64) -> *mut wp_error_t {
    with_config(config, |c| {
        c.timeout = self::seconds("timeout", seconds)?;
        Ok(())
    })
}

/// Whether `wp_interrupt` reaches inside guest code and inside one long
/// kernel iteration. By default it reaches inside guest code (the guest is
/// fuel-metered: 15-20% of compute-bound guest code) and stops kernels
/// between iterations (no cost). `true` also makes one long kernel
/// iteration interruptible (fuel slices on the interpreter, epoch checks
/// on the JIT: +20-160% on tight kernel loops); `false` turns guest
/// metering off too, and an interrupt is then noticed only at the guest's
/// next host call and between kernel iterations (a guest spinning in its
/// own code is not stopped). A fuel budget or a timeout meters what it
/// needs whatever this says.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config. Ownership: borrows
/// `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_interruptible(
    config: *mut wp_config_t,
    enabled: bool,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.interruptible = enabled;
        c.parallel.interruptible = enabled;
        Ok(())
    })
}

/// Wall-clock limit of each `parallel_exec` in seconds (decimals allowed):
/// a kernel call that runs longer is stopped and the guest gets
/// `kernel_trap`, then goes on. 0 = none (the default).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config, a negative, NaN or
/// infinite value. Ownership: borrows `config`. Thread-safety: one thread
/// per config.
#[no_mangle]
pub extern "C" fn wp_config_set_kernel_timeout(
    config: *mut wp_config_t,
    seconds: f64,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.parallel.kernel_timeout = self::seconds("kernel timeout", seconds)?;
        Ok(())
    })
}

/// The adaptive policy's GPU build budget in seconds (decimals allowed;
/// default 0.05): a Vulkan device builds a kernel's pipeline only once the
/// kernel's calls have taken, in all, as long as its build on that device
/// is expected to take (scaled by the kernel's code size from the builds
/// measured there; this value, for a kernel of up to 64 bytes of code,
/// before the first one), so a kernel whose calls are short never pays for
/// a build it cannot earn back. 0 turns the budget off: a GPU starts
/// building a kernel after its first call. Only the adaptive policy uses
/// it (docs/wasi-parallel.md 2.6).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config, a negative, NaN or
/// infinite value. Ownership: borrows `config`. Thread-safety: one thread
/// per config.
#[no_mangle]
pub extern "C" fn wp_config_set_gpu_build_budget(
    config: *mut wp_config_t,
    seconds: f64,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.parallel.gpu_build_budget = self::seconds("GPU build budget", seconds)?;
        Ok(())
    })
}

/// Sets the device policy (`kind` is ignored except with `FORCE`):
/// - `WP_DEVICE_POLICY_ADAPTIVE` (the default; `WP_DEVICE_POLICY_AUTO` is
///   the same value): the host places each call of a CPU- or GPU-hinted
///   device on the CPU device or a Vulkan device by measured cost per
///   kernel and size; buffers follow the calls. A SEQUENTIAL hint stays
///   sequential.
/// - `WP_DEVICE_POLICY_HINT`: `get_device` honours the guest's hint (a
///   missing GPU: the CPU device) and every call runs there.
/// - `WP_DEVICE_POLICY_FORCE`: `get_device` returns the device of `kind` (a
///   `WP_DEVICE_*` value) whatever the hint (a missing GPU: the CPU device).
/// - `WP_DEVICE_POLICY_ROTATE`: for testing, each call on the next device
///   in turn.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config, an unknown policy or
/// kind. Ownership: borrows `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_device_policy(
    config: *mut wp_config_t,
    policy: wp_device_policy_t,
    kind: wp_device_kind_t,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.parallel.device_policy = match policy {
            WP_DEVICE_POLICY_ADAPTIVE => DevicePolicy::Adaptive,
            WP_DEVICE_POLICY_HINT => DevicePolicy::Hint,
            WP_DEVICE_POLICY_ROTATE => DevicePolicy::Rotate,
            WP_DEVICE_POLICY_FORCE => DevicePolicy::Force(device_kind_from_c(kind)?),
            other => {
                return Err(Error::invalid_argument(format!(
                    "unknown device policy {other}"
                )))
            }
        };
        Ok(())
    })
}

/// Whether a kernel the GPU cannot run runs on the CPU device instead
/// (true, the default) or fails with the guest error `unsupported` (false).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config. Ownership: borrows
/// `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_gpu_fallback(
    config: *mut wp_config_t,
    enabled: bool,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.parallel.gpu_fallback = enabled;
        Ok(())
    })
}

/// Fuel budget of every guest call (`wp_instance_call`, `wp_instance_run_start`);
/// a call that uses it up traps with `WP_TRAP_OUT_OF_FUEL`. 0 = unlimited
/// (the default; no metering cost).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config. Ownership: borrows
/// `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_fuel(config: *mut wp_config_t, fuel: u64) -> *mut wp_error_t {
    with_config(config, |c| {
        c.fuel = (fuel != 0).then_some(fuel);
        Ok(())
    })
}

/// Fuel budget of each kernel iteration; an iteration that exceeds it traps
/// and `parallel_exec` returns `kernel_trap` to the guest. 0 = unlimited
/// (the default). The unit is each engine's own: the JIT charges about one
/// unit per wasm operator, the interpreter one per instruction of its own
/// register IR (fewer, as it fuses operators), so the same budget lets a
/// kernel run somewhat further on the interpreter.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config. Ownership: borrows
/// `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_kernel_fuel(
    config: *mut wp_config_t,
    fuel: u64,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.parallel.kernel_fuel = (fuel != 0).then_some(fuel);
        Ok(())
    })
}

/// Sets how the SEQUENTIAL and CPU devices run kernels (also the kernels a
/// GPU declines): `WP_KERNEL_ENGINE_AUTO` (the default: the JIT where it is
/// compiled in), `WP_KERNEL_ENGINE_JIT` or `WP_KERNEL_ENGINE_INTERPRETER`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config, an unknown value,
/// or `WP_KERNEL_ENGINE_JIT` in a build without the JIT (no silent
/// fallback; `AUTO` is the setting that falls back). Ownership: borrows
/// `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_kernel_engine(
    config: *mut wp_config_t,
    engine: wp_kernel_engine_t,
) -> *mut wp_error_t {
    with_config(config, |c| {
        let e = kernel_engine_from_c(engine)?;
        e.resolve()
            .map_err(|err| Error::invalid_argument(err.message))?;
        c.parallel.kernel_engine = e;
        Ok(())
    })
}

/// Sets how JIT-compiled kernels stay in bounds: `WP_BOUNDS_CHECKS_AUTO`
/// (the default: the environment variable `WASI_PARALLEL_BOUNDS_CHECKS`,
/// else explicit checks), `WP_BOUNDS_CHECKS_EXPLICIT`, or
/// `WP_BOUNDS_CHECKS_GUARD_PAGES`. Guard pages make memory-heavy kernels
/// faster but install wasmtime's SIGSEGV/SIGBUS/SIGILL/SIGFPE handlers for
/// the whole process when the engine is created (they pass faults that are
/// not a kernel's to the handlers installed before them); a host that
/// installs its own handlers for those signals afterwards must chain to the
/// previous ones. No effect on the interpreter or the GPU.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config or an unknown
/// value; `WP_ERROR_INVALID_ARGUMENT` from `wp_engine_new` for guard pages
/// on a 32-bit host or a bad `WASI_PARALLEL_BOUNDS_CHECKS` value. Ownership: borrows `config`. Thread-safety: one thread per
/// config.
#[no_mangle]
pub extern "C" fn wp_config_set_bounds_checks(
    config: *mut wp_config_t,
    bounds_checks: wp_bounds_checks_t,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.parallel.bounds_checks = bounds_checks_from_c(bounds_checks)?;
        Ok(())
    })
}

/// Most linear memory of a guest in 64 KiB pages (at most 65536); growing
/// past it fails (`memory.grow` returns -1). 0 = the wasm32 limit (default).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config or more than 65536
/// pages. Ownership: borrows `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_max_memory_pages(
    config: *mut wp_config_t,
    pages: u32,
) -> *mut wp_error_t {
    with_config(config, |c| {
        if pages > 65536 {
            return Err(Error::invalid_argument(format!(
                "{pages} pages exceed the wasm32 limit of 65536"
            )));
        }
        c.max_memory_pages = (pages != 0).then_some(pages);
        Ok(())
    })
}

/// Largest module `wp_module_new` accepts, in bytes (default 256 MiB).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config or 0. Ownership:
/// borrows `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_max_module_bytes(
    config: *mut wp_config_t,
    bytes: usize,
) -> *mut wp_error_t {
    with_config(config, |c| {
        if bytes == 0 {
            return Err(Error::invalid_argument("max module bytes must be > 0"));
        }
        c.max_module_bytes = bytes;
        Ok(())
    })
}

/// Most bytes of wasi-parallel buffers one instance may create (default
/// 1 GiB); beyond it `create_buffer` returns `resource_exhausted`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config. Ownership: borrows
/// `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_max_buffer_bytes(
    config: *mut wp_config_t,
    bytes: u64,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.parallel.max_buffer_bytes = bytes;
        Ok(())
    })
}

/// Most wasi-parallel buffers one instance may create (default 4096);
/// beyond it `create_buffer` returns `resource_exhausted`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config. Ownership: borrows
/// `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_max_buffers(
    config: *mut wp_config_t,
    count: usize,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.parallel.max_buffers = count;
        Ok(())
    })
}

/// Largest kernel module `parallel_exec` accepts, in bytes (default 16 MiB);
/// a larger one makes `parallel_exec` return `resource_exhausted` to the guest.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config or 0. Ownership:
/// borrows `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_max_kernel_size(
    config: *mut wp_config_t,
    bytes: usize,
) -> *mut wp_error_t {
    with_config(config, |c| {
        if bytes == 0 {
            return Err(Error::invalid_argument("max kernel size must be > 0"));
        }
        c.parallel.max_kernel_size = bytes;
        Ok(())
    })
}

/// Compiled kernels the engine keeps (least recently used evicted; default 64).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config or 0. Ownership:
/// borrows `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_kernel_cache_entries(
    config: *mut wp_config_t,
    entries: usize,
) -> *mut wp_error_t {
    with_config(config, |c| {
        if entries == 0 {
            return Err(Error::invalid_argument("kernel cache entries must be > 0"));
        }
        c.parallel.kernel_cache_entries = entries;
        Ok(())
    })
}

/// Keeps the Vulkan pipeline cache in directory `dir` across runs (created
/// when first written; one file per device and driver version), so a later
/// engine builds the same kernels' GPU pipelines from the driver's cache.
/// NULL turns it off (the default: nothing is read or written). A corrupt
/// or foreign cache file is ignored with a warning on stderr and rewritten.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config, or a `dir` that
/// is empty or not UTF-8. Ownership: borrows both; `dir` is copied.
/// Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_pipeline_cache_dir(
    config: *mut wp_config_t,
    dir: *const c_char,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.parallel.pipeline_cache_dir = optional_dir(dir, "pipeline cache dir")?;
        Ok(())
    })
}

/// A directory setting: NULL is none; empty or not UTF-8 is an error.
fn optional_dir(dir: *const c_char, what: &str) -> Result<Option<std::path::PathBuf>, Error> {
    if dir.is_null() {
        return Ok(None);
    }
    let d = c_str(dir, "dir")?;
    if d.is_empty() {
        return Err(Error::invalid_argument(format!(
            "{what}: empty path (NULL turns it off)"
        )));
    }
    Ok(Some(std::path::PathBuf::from(d)))
}

/// Keeps the adaptive policy's measurements in directory `dir` across
/// engines and runs (the placement history, one file,
/// `placement-history.txt`): read when the engine is made, written when it
/// is deleted. A later engine then places the same kernels from what the
/// earlier one measured: no exploring, no GPU build for a kernel the GPU
/// lost, an immediate build for one it won. NULL turns it off (the
/// default: each engine starts from nothing). A file that does not parse
/// is ignored with a warning on stderr and rewritten.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL config, or a `dir` that
/// is empty or not UTF-8. Ownership: borrows both; `dir` is copied.
/// Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_config_set_placement_history_dir(
    config: *mut wp_config_t,
    dir: *const c_char,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.parallel.placement_history_dir = optional_dir(dir, "placement history dir")?;
        Ok(())
    })
}
