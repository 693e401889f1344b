//! A guest instance: a wasmi store with its WASI context and its
//! wasi-parallel context, plus the instantiated module.
//!
//! An [`Instance`] is `Send` (it can move between threads) but not `Sync`:
//! one thread calls into it at a time.

use std::sync::Arc;

use wasmi::{CallHook, Store, StoreLimits, StoreLimitsBuilder, Val, ValType};

use crate::error::{link_error, Error, ErrorCode, Result};
use crate::parallel::cancel::{Deadline, InterruptState};
use crate::parallel::ParallelContext;
use crate::runtime::interrupt::{call_sliced, GuestStopped, InterruptHandle};
use crate::runtime::natives::{checked_range, Natives};
use crate::runtime::types::describe_func;
use crate::runtime::wasi::WasiConfig;
use crate::runtime::Module;

/// Per-instance state reachable from host functions.
pub struct HostState {
    pub(crate) wasi: wasi_common::WasiCtx,
    pub(crate) parallel: ParallelContext,
    limits: StoreLimits,
}

/// Everything an instance is created with.
#[derive(Clone, Default)]
pub struct InstanceConfig {
    pub wasi: WasiConfig,
    pub natives: Natives,
    /// Write a Chrome/Perfetto trace of the guest's wasi-parallel calls to
    /// this file ([`crate::parallel::trace`]): created by [`Instance::new`],
    /// written by [`Instance::finish_trace`] or when the instance is dropped.
    pub trace: Option<std::path::PathBuf>,
}

/// An instantiated guest module.
pub struct Instance {
    module: Module,
    store: Store<HostState>,
    instance: wasmi::Instance,
    interrupt: Arc<InterruptState>,
    /// Fuel left after the last call (`None`: no budget configured).
    fuel_left: Option<u64>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("module", &self.module)
            .finish()
    }
}

impl Instance {
    /// Instantiates `module` with WASI, wasi-parallel and the given natives.
    ///
    /// Errors: `Link` naming `module.field` and both types for an unresolved
    /// or mistyped import; `Trap` if the module's start function traps;
    /// `Io`/`Wasi` if the WASI setup fails (e.g. a preopen does not exist).
    pub fn new(module: &Module, config: &InstanceConfig) -> Result<Self> {
        let engine = module.engine();
        let wasi = config.wasi.build()?;
        let mut limits = StoreLimitsBuilder::new().instances(1).memories(1).tables(4);
        if let Some(pages) = engine.config().max_memory_pages {
            // Saturating: 65536 pages * 64 KiB overflows a 32-bit usize (it
            // wrapped to a limit of 0 bytes on armv7).
            limits = limits.memory_size((pages as usize).saturating_mul(65536));
        }
        let interrupt = InterruptState::new();
        let mut parallel = ParallelContext::new(engine.parallel().clone());
        parallel.set_interrupt_state(interrupt.clone());
        if let Some(path) = &config.trace {
            let trace = crate::parallel::trace::Trace::create(path).map_err(|e| {
                Error::new(
                    ErrorCode::Io,
                    format!("cannot create the trace file {}: {e}", path.display()),
                )
            })?;
            parallel.set_trace(trace);
        }
        let state = HostState {
            wasi,
            parallel,
            limits: limits.build(),
        };
        let mut store = Store::new(engine.wasmi(), state);
        store.limiter(|s| &mut s.limits);
        // Every host call is a check point: a guest stopped while inside a
        // `parallel_exec` traps as soon as it returns (after the kernel's
        // `kernel_trap` was recorded), before running anything else.
        store.call_hook(|s: &mut HostState, hook| match hook {
            CallHook::CallingHost | CallHook::ReturningFromHost => match s.parallel.guest_stop() {
                Some(stop) => Err(wasmi::Error::host(GuestStopped(stop))),
                None => Ok(()),
            },
            _ => Ok(()),
        });
        // A metered engine's calls run in slices; the start function runs in
        // one piece, with the configured budget or without limit. (Without
        // metering this is an error we ignore.)
        let _ = store.set_fuel(engine.config().fuel.unwrap_or(u64::MAX));

        let mut linker = wasmi::Linker::<HostState>::new(engine.wasmi());
        config.natives.add_to_linker(&mut linker)?;
        wasmi_wasi::add_to_linker(&mut linker, |s: &mut HostState| &mut s.wasi)
            .map_err(|e| Error::internal(format!("cannot add WASI: {e}")))?;
        crate::parallel::api::add_to_linker(&mut linker, |s: &mut HostState| &mut s.parallel)
            .map_err(|e| Error::internal(format!("cannot add wasi-parallel: {e}")))?;

        let instance = linker
            .instantiate_and_start(&mut store, module.wasmi())
            .map_err(|e| {
                use wasmi::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::Linker(_) | ErrorKind::Instantiation(_) => link_error(&e),
                    _ => Error::from_execution(e),
                }
            })?;
        let fuel_left = engine.config().fuel.map(|_| store.get_fuel().unwrap_or(0));
        Ok(Self {
            module: module.clone(),
            store,
            instance,
            interrupt,
            fuel_left,
        })
    }

    /// A handle that stops this instance's guest call from any thread (see
    /// [`InterruptHandle`]).
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle::new(self.interrupt.clone())
    }

    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The parameter and result types of export `name`, if it is a function.
    pub fn func_type(&self, name: &str) -> Option<(Vec<ValType>, Vec<ValType>)> {
        let f = self.instance.get_func(&self.store, name)?;
        let ty = f.ty(&self.store);
        Some((ty.params().to_vec(), ty.results().to_vec()))
    }

    /// Calls export `name` with `args`, returning its results.
    ///
    /// Errors: `NotFound` (no such function), `TypeMismatch` (wrong argument
    /// count or types), `Trap` (with a [`crate::TrapKind`]; `Interrupted`
    /// when an [`InterruptHandle`] or the configured timeout stopped it),
    /// `Exit` (the guest called `proc_exit`; see [`Error::exit_code`]).
    pub fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>> {
        let func = self.instance.get_func(&self.store, name).ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                format!("the module exports no function `{name}`"),
            )
        })?;
        let ty = func.ty(&self.store);
        let given: Vec<ValType> = args.iter().map(Val::ty).collect();
        if given != ty.params() {
            return Err(Error::new(
                ErrorCode::TypeMismatch,
                format!(
                    "`{name}` has type {} but was called with ({})",
                    describe_func(&ty),
                    given
                        .iter()
                        .map(|t| crate::runtime::types::val_type_name(*t))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let mut results: Vec<Val> = ty
            .results()
            .iter()
            .map(|t| Val::default_for_ty(*t))
            .collect();
        let config = self.module.engine().config();
        let budget = config.fuel;
        let deadline = config.timeout.and_then(Deadline::after);
        self.store.data_mut().parallel.set_call_deadline(deadline);
        self.interrupt.begin_call();
        let (r, left) = call_sliced(&mut self.store, func, args, &mut results, budget, |s| {
            s.parallel.guest_stop()
        });
        self.interrupt.end_call();
        self.store.data_mut().parallel.set_call_deadline(None);
        self.fuel_left = left;
        r.map(|_| results)
    }

    /// Runs a WASI command (`_start`) and returns its exit code: 0 when
    /// `_start` returns, the `proc_exit` code otherwise. Traps are errors.
    pub fn run_start(&mut self) -> Result<i32> {
        match self.call("_start", &[]) {
            Ok(_) => Ok(0),
            Err(e) => match e.exit_code() {
                Some(code) => Ok(code),
                None => Err(e),
            },
        }
    }

    fn memory(&self) -> Result<wasmi::Memory> {
        crate::runtime::memory_alias::instance_memory(&self.instance, &self.store)
            .ok_or_else(|| Error::new(ErrorCode::NotFound, "the module has no memory"))
    }

    /// Size of the guest's memory in bytes (its export `memory`, else its
    /// default memory).
    pub fn memory_size(&self) -> Result<usize> {
        Ok(self.memory()?.data(&self.store).len())
    }

    /// Copies `out.len()` bytes from guest memory at `offset`.
    pub fn read_memory(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        let data = self.memory()?.data(&self.store);
        let r = checked_range(data.len(), offset, out.len() as u64)?;
        out.copy_from_slice(&data[r]);
        Ok(())
    }

    /// Copies `bytes` into guest memory at `offset`.
    pub fn write_memory(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let mem = self.memory()?;
        let data = mem.data_mut(&mut self.store);
        let r = checked_range(data.len(), offset, bytes.len() as u64)?;
        data[r].copy_from_slice(bytes);
        Ok(())
    }

    /// Fuel left after the last call (`None` when fuel is not metered).
    pub fn fuel_remaining(&self) -> Option<u64> {
        self.fuel_left
    }

    /// Writes the trace file of [`InstanceConfig::trace`] now (also done
    /// when the instance is dropped, where an error cannot be reported).
    /// No-op without a trace.
    pub fn finish_trace(&mut self) -> Result<()> {
        let ctx = &mut self.store.data_mut().parallel;
        let path = ctx.trace().map(|t| t.path().display().to_string());
        ctx.write_trace().map_err(|e| {
            Error::new(
                ErrorCode::Io,
                format!(
                    "cannot write the trace file {}: {e}",
                    path.unwrap_or_default()
                ),
            )
        })
    }

    /// The wasi-parallel state of this instance (stats, last error).
    pub fn parallel(&self) -> &ParallelContext {
        &self.store.data().parallel
    }
}
