//! Device kinds: `wp_device_kind_t` (the ABI's `device_kind`), named by the
//! config's device policy and by the parallel API's device descriptions,
//! and its conversion to [`DeviceKind`]; likewise the kernel engines
//! (`wp_kernel_engine_t`: the config, the engine and the statistics). (Its own module so that neither
//! `config` nor `parallel` imports the other; named so that cbindgen emits
//! the constants where the header always had them.)

use crate::error::{Error, Result};
use crate::parallel::{BoundsChecks, DeviceKind, KernelEngine};

/// A device kind (a `WP_DEVICE_*` value; the ABI's `device_kind`).
pub type wp_device_kind_t = i32;
/// Iterations one after another on the calling thread.
pub const WP_DEVICE_SEQUENTIAL: wp_device_kind_t = 0;
/// Iterations on the CPU thread pool.
pub const WP_DEVICE_CPU: wp_device_kind_t = 1;
/// A discrete GPU.
pub const WP_DEVICE_DISCRETE_GPU: wp_device_kind_t = 2;
/// An integrated GPU.
pub const WP_DEVICE_INTEGRATED_GPU: wp_device_kind_t = 3;

/// A `WP_DEVICE_*` value as a device kind.
pub(crate) fn device_kind_from_c(kind: wp_device_kind_t) -> Result<DeviceKind> {
    DeviceKind::from_raw(kind)
        .ok_or_else(|| Error::invalid_argument(format!("unknown device kind {kind}")))
}

/// How the SEQUENTIAL and CPU devices run kernels (a `WP_KERNEL_ENGINE_*` value).
pub type wp_kernel_engine_t = i32;
/// The JIT where this build has it (feature `jit` on x86_64/aarch64), else
/// the interpreter (the default).
pub const WP_KERNEL_ENGINE_AUTO: wp_kernel_engine_t = 0;
/// Kernels compiled to native code by Cranelift (through wasmtime).
pub const WP_KERNEL_ENGINE_JIT: wp_kernel_engine_t = 1;
/// Kernels run by the wasmi interpreter.
pub const WP_KERNEL_ENGINE_INTERPRETER: wp_kernel_engine_t = 2;

/// A `WP_KERNEL_ENGINE_*` value as a kernel engine.
pub(crate) fn kernel_engine_from_c(engine: wp_kernel_engine_t) -> Result<KernelEngine> {
    Ok(match engine {
        WP_KERNEL_ENGINE_AUTO => KernelEngine::Auto,
        WP_KERNEL_ENGINE_JIT => KernelEngine::Jit,
        WP_KERNEL_ENGINE_INTERPRETER => KernelEngine::Interpreter,
        other => {
            return Err(Error::invalid_argument(format!(
                "unknown kernel engine {other}"
            )))
        }
    })
}

/// A kernel engine as its `WP_KERNEL_ENGINE_*` value.
pub(crate) fn kernel_engine_to_c(engine: KernelEngine) -> wp_kernel_engine_t {
    match engine {
        KernelEngine::Auto => WP_KERNEL_ENGINE_AUTO,
        KernelEngine::Jit => WP_KERNEL_ENGINE_JIT,
        KernelEngine::Interpreter => WP_KERNEL_ENGINE_INTERPRETER,
    }
}

/// How JIT-compiled kernels stay in bounds (a `WP_BOUNDS_CHECKS_*` value).
pub type wp_bounds_checks_t = i32;
/// The environment variable `WASI_PARALLEL_BOUNDS_CHECKS` (`explicit`,
/// `guard-pages`), else explicit checks (the default).
pub const WP_BOUNDS_CHECKS_AUTO: wp_bounds_checks_t = 0;
/// A check before every memory access in the compiled kernel; no signal
/// handler is installed.
pub const WP_BOUNDS_CHECKS_EXPLICIT: wp_bounds_checks_t = 1;
/// No checks in the compiled kernel: guard pages after each kernel memory
/// and wasmtime's signal handlers (SIGSEGV, SIGBUS, SIGILL, SIGFPE),
/// installed for the whole process, turn an out-of-bounds access into a
/// kernel trap. Faster on memory-heavy kernels; 64-bit hosts only.
pub const WP_BOUNDS_CHECKS_GUARD_PAGES: wp_bounds_checks_t = 2;

/// A `WP_BOUNDS_CHECKS_*` value as bounds checks.
pub(crate) fn bounds_checks_from_c(v: wp_bounds_checks_t) -> Result<BoundsChecks> {
    Ok(match v {
        WP_BOUNDS_CHECKS_AUTO => BoundsChecks::Auto,
        WP_BOUNDS_CHECKS_EXPLICIT => BoundsChecks::Explicit,
        WP_BOUNDS_CHECKS_GUARD_PAGES => BoundsChecks::GuardPages,
        other => {
            return Err(Error::invalid_argument(format!(
                "unknown bounds checks setting {other}"
            )))
        }
    })
}
