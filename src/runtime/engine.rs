//! The engine: a configured wasmi engine plus the engine-wide wasi-parallel runtime.
//!
//! An [`Engine`] is cheap to clone (shared inside) and may be used from any
//! thread. There is no process-global state: two engines are independent.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// Engine configuration: guest limits plus the wasi-parallel device settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Fuel budget of every guest call (`None`: unlimited).
    pub fuel: Option<u64>,
    /// Wall-clock limit of every guest call (`None`: unlimited, the
    /// default). A call that runs longer traps with
    /// [`crate::TrapKind::Interrupted`], and so do the kernels it runs; see
    /// [`crate::InterruptHandle`] for when it is noticed.
    pub timeout: Option<Duration>,
    /// Meter the guest's fuel so that an interrupt is noticed inside guest
    /// code, between fuel slices (default true). Off, guest code is metered
    /// only with `fuel` or `timeout`, and an interrupt is otherwise noticed
    /// only at the guest's next host call (or between the iterations of a
    /// kernel it runs): metering costs 15-20% of compute-bound guest code
    /// in a release build (`cargo bench --bench limits_cost`). Kernels have
    /// their own switch, [`crate::parallel::ParallelConfig::interruptible`]
    /// (default false: an interrupt stops kernels between iterations).
    pub interruptible: bool,
    /// Maximum linear memory of a guest, in 64 KiB pages (`None`: the wasm32 limit).
    pub max_memory_pages: Option<u32>,
    /// Maximum size of a module accepted by [`crate::Module::new`], in bytes.
    pub max_module_bytes: usize,
    /// Devices, thread count, kernel limits and fuel of wasi-parallel.
    pub parallel: crate::parallel::ParallelConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            fuel: None,
            timeout: None,
            interruptible: true,
            max_memory_pages: None,
            max_module_bytes: 256 << 20,
            parallel: Default::default(),
        }
    }
}

impl Config {
    /// Checks the settings that have bounds (a zero timeout, more than
    /// 65536 memory pages, a zero module size, and those of
    /// [`crate::parallel::ParallelConfig::validate`], e.g. at most
    /// [`crate::parallel::MAX_THREADS`] CPU threads). Called by
    /// [`Engine::new`].
    pub fn validate(&self) -> Result<()> {
        if self.timeout == Some(Duration::ZERO) {
            return Err(Error::invalid_argument(
                "timeout: must be more than 0 seconds (None: no limit)",
            ));
        }
        if self.max_memory_pages.is_some_and(|p| p > 65536) {
            return Err(Error::invalid_argument(
                "max memory pages: more than the wasm32 limit of 65536",
            ));
        }
        if self.max_module_bytes == 0 {
            return Err(Error::invalid_argument(
                "max module bytes: must be more than 0",
            ));
        }
        self.parallel.validate().map_err(Error::invalid_argument)
    }
}

struct EngineInner {
    wasmi: wasmi::Engine,
    config: Config,
    parallel: Arc<crate::parallel::ParallelRuntime>,
}

/// A configured runtime shared by modules and instances.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl Engine {
    /// Creates an engine; starts the CPU thread pool and discovers devices.
    ///
    /// Errors: `InvalidArgument` for a setting out of its bounds (see
    /// [`Config::validate`]), `Internal` when the devices cannot be set up.
    pub fn new(config: Config) -> Result<Self> {
        config.validate()?;
        let mut wc = wasmi::Config::default();
        // Metered guest calls run in fuel slices, so that interrupts and
        // deadlines are noticed inside guest code (see `runtime::interrupt`).
        let metered = config.interruptible || config.fuel.is_some() || config.timeout.is_some();
        wc.consume_fuel(metered);
        // wasmi translates a function at its first call by default and
        // charges the translation to the fuel of the call in progress; when
        // a slice runs out there, the error it returns cannot be resumed
        // (unlike running out inside code), so a metered guest traps with
        // "all fuel consumed" at random, far below any budget (a directory
        // listing under --timeout did every time). Metered engines translate
        // every function when the module is compiled instead.
        if metered {
            wc.compilation_mode(wasmi::CompilationMode::Eager);
        }
        let mut pc = config.parallel.clone();
        // A call's deadline must reach inside the kernels it runs too.
        pc.interruptible |= config.timeout.is_some();
        let parallel = crate::parallel::ParallelRuntime::new(pc).map_err(|e| {
            use crate::parallel::errno::Errno;
            let code = match e.errno {
                // A setting the host cannot honour (guard pages on a 32-bit
                // host, a bad WASI_PARALLEL_BOUNDS_CHECKS value) is the
                // caller's to change.
                Errno::InvalidArgument | Errno::Unsupported => crate::ErrorCode::InvalidArgument,
                Errno::ResourceExhausted => crate::ErrorCode::ResourceExhausted,
                _ => crate::ErrorCode::Internal,
            };
            crate::Error::new(code, e.to_string())
        })?;
        Ok(Self {
            inner: Arc::new(EngineInner {
                wasmi: wasmi::Engine::new(&wc),
                config,
                parallel: Arc::new(parallel),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn wasmi(&self) -> &wasmi::Engine {
        &self.inner.wasmi
    }

    /// The engine-wide wasi-parallel runtime (devices, kernel cache).
    pub fn parallel(&self) -> &Arc<crate::parallel::ParallelRuntime> {
        &self.inner.parallel
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish()
    }
}
