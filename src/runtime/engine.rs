//! The engine: a configured wasmi engine plus the engine-wide wasi-parallel runtime.
//!
//! An [`Engine`] is cheap to clone (shared inside) and may be used from any
//! thread. There is no process-global state: two engines are independent.

use std::sync::Arc;

use crate::error::Result;

/// Engine configuration: guest limits plus the wasi-parallel device settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Fuel budget of every guest call (`None`: unlimited).
    pub fuel: Option<u64>,
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
            max_memory_pages: None,
            max_module_bytes: 256 << 20,
            parallel: Default::default(),
        }
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
    pub fn new(config: Config) -> Result<Self> {
        let mut wc = wasmi::Config::default();
        wc.consume_fuel(config.fuel.is_some());
        let parallel = crate::parallel::ParallelRuntime::new(config.parallel.clone())
            .map_err(|e| crate::Error::new(crate::ErrorCode::Internal, e.to_string()))?;
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
