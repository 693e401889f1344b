//! wasi-parallel: the host side of the `wasi_ephemeral_parallel` imports.
//!
//! - [`ParallelConfig`]: threads, device policy, kernel fuel, GPU fallback, limits.
//! - [`ParallelRuntime`]: engine-wide (share it with `Arc`): the devices, the
//!   kernel compilers (interpreter, JIT), and the bounded kernel cache.
//! - [`ParallelContext`]: per guest instance: handle tables, last error,
//!   statistics, cached workers; the one place where guest arguments are
//!   validated.
//! - [`trace::Trace`]: an optional timeline of an instance's calls
//!   (Chrome/Perfetto JSON).
//! - [`api::add_to_linker`]: defines the five imports on a `wasmi::Linker`.
//!
//! The contract (signatures, enums, error codes, kernel ABI, memory layout)
//! is the project's ABI document; the module docs of [`kernel::layout`],
//! [`kernel::loader`] and [`device::cpu`] say how it is implemented.

pub mod api;
pub mod cancel;
pub mod context;
pub mod device;
mod dispatch;
pub mod errno;
pub mod handles;
pub mod kernel;
mod persist;
pub mod placement;
pub mod stats;
pub mod trace;

pub use cancel::{Cancel, InterruptState, Stop};
pub use context::ParallelContext;
pub use device::{Device, DeviceInfo, DeviceKind};
pub use errno::{Errno, ParError, ParResult};
pub use handles::BufferAccess;
pub use placement::DevicePolicy;
pub use stats::ParallelStats;

use device::cpu::CpuDevice;
use kernel::cache::KernelCache;
use kernel::KernelCompilers;
pub use kernel::{BoundsChecks, KernelEngine};
use persist::warn;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Most worker threads the CPU device may be configured with
/// ([`ParallelConfig::threads`]); more is a configuration error when the
/// engine is made. Each worker is an OS thread with an 8 MiB stack, made
/// when the engine is: 4096 of them took 8 s before the first kernel ran.
pub const MAX_THREADS: usize = 1024;

/// The CLI's default pipeline cache directory
/// ([`ParallelConfig::pipeline_cache_dir`]): `$XDG_CACHE_HOME/wasi-parallel`, else
/// `$HOME/.cache/wasi-parallel`; `None` when neither variable is set.
pub fn default_pipeline_cache_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty());
    if let Some(x) = xdg {
        return Some(PathBuf::from(x).join("wasi-parallel"));
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
    Some(PathBuf::from(home).join(".cache").join("wasi-parallel"))
}

/// Configuration of a [`ParallelRuntime`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParallelConfig {
    /// Worker threads of the CPU device; 0 = the available cores (default).
    /// At most [`MAX_THREADS`].
    pub threads: usize,
    /// How calls are placed on devices (default: adaptive, by measured
    /// cost; `Hint` honours the guest's hint; `Force` one kind).
    pub device_policy: DevicePolicy,
    /// The adaptive policy's build budget (docs/wasi-parallel.md 2.6): a
    /// GPU builds a kernel's pipeline only once the kernel's calls have
    /// taken, in all, as long as its build on that device is expected to
    /// take: scaled by its code size from the builds measured there
    /// (`placement::model::build_units`), this prior (for a kernel of up
    /// to 64 bytes of code) before the first one (default 50 ms, [`placement::model::DEFAULT_BUILD_PRIOR`]).
    /// `None` turns the budget off: a GPU starts building a kernel after
    /// its first call, whatever the kernel costs.
    pub gpu_build_budget: Option<Duration>,
    /// Fuel budget of each kernel iteration; an iteration that exceeds it
    /// traps (`kernel_trap`). Default: `None` (unlimited, no metering cost).
    pub kernel_fuel: Option<u64>,
    /// Wall-clock limit of each `parallel_exec` (`None`: unlimited, the
    /// default). A call that runs longer is stopped (between iterations,
    /// interpreter fuel slices or Vulkan dispatch chunks) and returns
    /// `kernel_trap`; the guest goes on.
    pub kernel_timeout: Option<Duration>,
    /// Make a running kernel iteration interruptible (default false): the
    /// interpreter meters kernels in fuel slices, the JIT adds an epoch
    /// check at every loop head and call, so that an interrupt or the
    /// guest call's deadline is noticed inside one long iteration. Off,
    /// kernels stop only between iterations (an interrupt still lands
    /// there), unless `kernel_fuel` or `kernel_timeout` is set, which turn
    /// on what they need. Off by default because it is not cheap on tight
    /// loops: +20-50% on the interpreter, +40-160% on the JIT
    /// (`cargo bench --bench jit_options`, BENCHMARKS.md).
    pub interruptible: bool,
    /// Run a kernel the GPU cannot run on the CPU device instead of
    /// returning `unsupported` (default: true).
    pub gpu_fallback: bool,
    /// Most bytes of buffers one instance may create (default 1 GiB).
    pub max_buffer_bytes: u64,
    /// Most buffers one instance may create (default 4096).
    pub max_buffers: usize,
    /// Largest kernel module in bytes (default 16 MiB).
    pub max_kernel_size: usize,
    /// Compiled kernels kept in the cache (default 64; least recently used
    /// evicted).
    pub kernel_cache_entries: usize,
    /// Which Vulkan device to use: an index into the ranked list, a name
    /// substring, or `none` for no GPU device (default: unset, then the
    /// environment variable `WASI_PARALLEL_VULKAN_DEVICE`, else all devices
    /// found).
    pub vulkan_device: Option<String>,
    /// Let llvmpipe (lavapipe) run kernels with loops nested more than one
    /// deep (default true). Its loop limiter (65535 loop iterations per SIMD
    /// vector of invocations, all loops together) is detected in every loop
    /// and such a call becomes `unsupported` (then the CPU device reruns
    /// it); `false` restores the older conservative gate that sends every
    /// kernel with nested loops to the CPU device on CPU-type Vulkan devices.
    pub vulkan_llvmpipe_nested_loops: bool,
    /// How the SEQUENTIAL and CPU devices run kernels (default `Auto`: the
    /// JIT where it is compiled in, else the interpreter). Also what runs
    /// the kernels a GPU device declines.
    pub kernel_engine: KernelEngine,
    /// Directory where Vulkan devices keep their pipeline cache across
    /// runs (default: none, nothing is written; the CLI uses
    /// `$XDG_CACHE_HOME/wasi-parallel`). One file per device and driver
    /// version; a corrupt or foreign file is ignored with a warning and
    /// rewritten.
    pub pipeline_cache_dir: Option<std::path::PathBuf>,
    /// Directory where the adaptive policy keeps its measurements across
    /// runs (the placement history, `placement-history.txt`; default:
    /// none, every run starts from nothing; the CLI uses the pipeline
    /// cache's directory). Read when the runtime is made, written when it
    /// is dropped; a file that does not parse is ignored with a warning
    /// and rewritten. See [`placement::history`] and docs/wasi-parallel.md
    /// 2.6.
    pub placement_history_dir: Option<std::path::PathBuf>,
    /// How JIT-compiled kernels stay in bounds (default `Auto`: the
    /// environment variable `WASI_PARALLEL_BOUNDS_CHECKS`, else explicit
    /// checks). `GuardPages` installs process-wide signal handlers: see
    /// [`BoundsChecks::GuardPages`] before choosing it in a host that
    /// handles SIGSEGV itself. The CLI uses guard pages.
    pub bounds_checks: BoundsChecks,
}

impl ParallelConfig {
    /// Checks the settings that have bounds: `threads` at most
    /// [`MAX_THREADS`], `kernel_timeout` not zero, `max_kernel_size` and
    /// `kernel_cache_entries` not zero. The message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.threads > MAX_THREADS {
            return Err(format!(
                "threads: {} exceeds the limit of {MAX_THREADS} CPU worker threads",
                self.threads
            ));
        }
        if self.kernel_timeout == Some(Duration::ZERO) {
            return Err("kernel timeout: must be more than 0 seconds (None: no limit)".into());
        }
        if self.max_kernel_size == 0 {
            return Err("max kernel size: must be more than 0 bytes".into());
        }
        if self.kernel_cache_entries == 0 {
            return Err("kernel cache entries: must be at least 1".into());
        }
        Ok(())
    }
}

impl Default for ParallelConfig {
    fn default() -> Self {
        ParallelConfig {
            threads: 0,
            device_policy: DevicePolicy::Adaptive,
            gpu_build_budget: Some(placement::model::DEFAULT_BUILD_PRIOR),
            kernel_fuel: None,
            kernel_timeout: None,
            interruptible: false,
            gpu_fallback: true,
            max_buffer_bytes: 1 << 30,
            max_buffers: 4096,
            max_kernel_size: 16 << 20,
            kernel_cache_entries: 64,
            vulkan_device: None,
            vulkan_llvmpipe_nested_loops: true,
            kernel_engine: KernelEngine::Auto,
            pipeline_cache_dir: None,
            placement_history_dir: None,
            bounds_checks: BoundsChecks::Auto,
        }
    }
}

/// The engine-wide wasi-parallel runtime: devices, kernel engine, kernel cache.
pub struct ParallelRuntime {
    config: ParallelConfig,
    engine: KernelCompilers,
    devices: Vec<Arc<dyn Device>>,
    infos: Vec<DeviceInfo>,
    sequential: usize,
    cpu: usize,
    cache: KernelCache,
    placer: placement::Placer,
}

impl Drop for ParallelRuntime {
    /// Writes the placement history, when there is a directory for it.
    fn drop(&mut self) {
        let Some(dir) = self.config.placement_history_dir.clone() else {
            return;
        };
        // Nothing measured, nothing remembered: nothing to write.
        let h = self.placer.history(&self.identities());
        if h == placement::history::History::default() {
            return;
        }
        if let Err(why) = h.save(&dir) {
            warn(&format!("placement history not written: {why}"));
        }
    }
}

impl std::fmt::Debug for ParallelRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelRuntime")
            .field("config", &self.config)
            .field("devices", &self.infos)
            .finish()
    }
}

impl ParallelRuntime {
    /// A runtime with the SEQUENTIAL and CPU devices, plus the Vulkan
    /// devices found (feature `vulkan`; none when there is no loader or
    /// driver; [`ParallelConfig::vulkan_device`] or the environment variable
    /// `WASI_PARALLEL_VULKAN_DEVICE` picks one).
    pub fn new(config: ParallelConfig) -> ParResult<ParallelRuntime> {
        #[cfg(feature = "vulkan")]
        {
            let selector = config.vulkan_device.clone();
            let nested = config.vulkan_llvmpipe_nested_loops;
            let cache_dir = config.pipeline_cache_dir.clone();
            Self::with_devices(config, |first| {
                device::vulkan::discover_configured(
                    first,
                    selector.as_deref(),
                    nested,
                    device::vulkan::stack_storage_from_env(),
                    cache_dir.as_deref(),
                )
            })
        }
        #[cfg(not(feature = "vulkan"))]
        Self::with_devices(config, |_| Vec::new())
    }

    /// A runtime with the SEQUENTIAL and CPU devices plus those `extra`
    /// returns (e.g. Vulkan devices); `extra` gets the index the first of
    /// them will have and must number them consecutively from there.
    pub fn with_devices(
        config: ParallelConfig,
        extra: impl FnOnce(usize) -> Vec<Arc<dyn Device>>,
    ) -> ParResult<ParallelRuntime> {
        config.validate().map_err(ParError::invalid_argument)?;
        // Metered kernels run in fuel slices on the interpreter (epochs on
        // the JIT), so that interrupts and deadlines are seen inside a long
        // iteration (`cancel::FUEL_SLICE`).
        let engine = KernelCompilers::new(
            config.kernel_engine,
            config.kernel_fuel.is_some(),
            config.interruptible || config.kernel_timeout.is_some(),
            config.bounds_checks,
        )?;
        let mut devices: Vec<Arc<dyn Device>> = vec![
            Arc::new(device::sequential::new_sequential_device(0)),
            Arc::new(CpuDevice::new(1, config.threads)?),
        ];
        devices.extend(extra(devices.len()));
        if devices.len() > placement::residency::MAX_DEVICES {
            return Err(ParError::device_error(format!(
                "{} devices; at most {} are supported",
                devices.len(),
                placement::residency::MAX_DEVICES
            )));
        }
        let infos: Vec<DeviceInfo> = devices.iter().map(|d| d.info().clone()).collect();
        for (i, info) in infos.iter().enumerate() {
            if info.index != i {
                return Err(ParError::device_error(format!(
                    "device {} reports index {} but is number {i}",
                    info.name, info.index
                )));
            }
        }
        let runtime = ParallelRuntime {
            placer: placement::Placer::new(config.gpu_build_budget),
            cache: KernelCache::new(config.kernel_cache_entries),
            config,
            engine,
            devices,
            infos,
            sequential: 0,
            cpu: 1,
        };
        if let Some(dir) = &runtime.config.placement_history_dir {
            match placement::history::History::load(dir) {
                Ok(h) => runtime.placer.seed(h, runtime.identities()),
                Err(why) => warn(&format!(
                    "placement history ignored (rewritten at the end of the run): {why}"
                )),
            }
        }
        Ok(runtime)
    }

    /// What names each device in the placement history (by index): the
    /// device's own identity, and for the CPU device also how it runs
    /// kernels (engine, bounds checks, metering), which changes its costs.
    fn identities(&self) -> Vec<String> {
        let c = &self.config;
        let engine = match c.kernel_engine.or_env() {
            Ok(KernelEngine::Auto) if KernelEngine::jit_available() => KernelEngine::Jit,
            Ok(KernelEngine::Auto) => KernelEngine::Interpreter,
            Ok(e) => e,
            Err(_) => c.kernel_engine,
        };
        let metered = c.kernel_fuel.is_some() || c.kernel_timeout.is_some() || c.interruptible;
        self.devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let id = d.identity();
                if i == self.cpu || i == self.sequential {
                    format!(
                        "{id} engine={engine:?} bounds={:?} metered={metered}",
                        c.bounds_checks.or_env().unwrap_or(c.bounds_checks)
                    )
                } else {
                    id
                }
            })
            .collect()
    }

    /// Whether calls on device `index` are placed by the adaptive policy:
    /// the policy is adaptive, `index` is the CPU device or a GPU, and
    /// there is a GPU to choose from.
    pub(crate) fn adaptive_for(&self, index: usize) -> bool {
        matches!(
            self.config.device_policy,
            DevicePolicy::Adaptive | DevicePolicy::Rotate
        ) && index != self.sequential
            && self.infos.iter().any(|d| d.kind.is_gpu())
    }

    /// Where a new buffer of device `index` gets its first copy: host
    /// memory (the CPU device) when its calls are placed adaptively, else
    /// the device itself.
    pub(crate) fn home_device(&self, index: usize) -> usize {
        if self.adaptive_for(index) {
            self.cpu
        } else {
            index
        }
    }

    /// The adaptive policy's cost model.
    pub fn placer(&self) -> &placement::Placer {
        &self.placer
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &ParallelConfig {
        &self.config
    }

    /// The devices, in index order.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.infos.clone()
    }

    /// Number of devices (device indices are `0..device_count()`).
    pub(crate) fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// The device at `index`, an index this runtime handed out (from
    /// [`Self::pick_device`] or a device handle); panics on any other.
    pub(crate) fn device_at(&self, index: usize) -> &dyn Device {
        &*self.devices[index]
    }

    /// The device with `index`.
    pub fn device(&self, index: usize) -> Option<&Arc<dyn Device>> {
        self.devices.get(index)
    }

    /// The compilers kernels are compiled with (what
    /// [`kernel::Kernel::compile`] takes).
    pub fn kernel_engine(&self) -> &KernelCompilers {
        &self.engine
    }

    /// The engine the SEQUENTIAL and CPU devices run kernels on (`Jit` or
    /// `Interpreter`, never `Auto`).
    pub fn kernel_engine_kind(&self) -> KernelEngine {
        self.engine.engine()
    }

    /// The kernel cache.
    pub fn kernel_cache(&self) -> &KernelCache {
        &self.cache
    }

    /// Number of CPU worker threads.
    pub fn cpu_threads(&self) -> usize {
        match self.config.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }

    /// The device `get_device` returns for `kind`: that kind if present; for
    /// a GPU kind the other GPU kind, then the CPU device.
    pub fn pick_device(&self, kind: DeviceKind) -> usize {
        match kind {
            DeviceKind::Sequential => self.sequential,
            DeviceKind::Cpu => self.cpu,
            gpu => {
                let exact = self.infos.iter().find(|d| d.kind == gpu);
                let any = self.infos.iter().find(|d| d.kind.is_gpu());
                exact.or(any).map(|d| d.index).unwrap_or(self.cpu)
            }
        }
    }
}

// The runtime is shared by all instances and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ParallelRuntime>();
    fn assert_send<T: Send>() {}
    assert_send::<ParallelContext>();
};
