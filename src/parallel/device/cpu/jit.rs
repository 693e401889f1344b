//! The JIT kernel engine: kernels compiled to native code by Cranelift
//! through `wasmtime` (feature `jit`, x86_64 and aarch64).
//!
//! Memory: the loader turns the kernel's memory import into memory 0
//! defined by the module ([`loader::define_memory`]); the engine is
//! configured with a custom memory creator (`WindowCreator`) that hands
//! wasmtime the worker's window (`shm::map_window`: private `[0, R)`, then the
//! call's buffers mapped shared from their memfds) as that memory. The
//! window is passed through a thread-local slot filled just before the
//! worker is instantiated (the creator gets no store context), and is owned
//! by the memory, so it is unmapped when the worker's `Store` drops.
//!
//! Bounds checks, two ways ([`BoundsChecks`], chosen per runtime):
//! - `Explicit` (the library's default): no signal handlers
//!   (`signals_based_traps(false)`), no reservation and no guard pages, so
//!   every access is bounds-checked in the compiled code against the
//!   memory's length, and every trap (out of bounds, division by zero,
//!   unreachable, stack overflow, fuel) is raised by a libcall.
//! - `GuardPages` (opt-in; the CLI's default): each memory is followed by
//!   `PROT_NONE` address space up to 4 GiB + [`GUARD_BYTES`] from its base,
//!   so no 32-bit address plus a static offset below the guard can leave
//!   the reservation, and Cranelift emits no bounds check at all; an
//!   out-of-bounds access faults and wasmtime's signal handlers (installed
//!   process-wide when the first such engine is created, chaining to the
//!   handlers that were there before) turn the fault into the same trap.
//!   Each worker memory then costs 4 GiB of address space (not memory).
//!
//! Either way a trap comes back as a `wasmtime::Trap` with the same
//! message. The memory never moves or grows (`memory.grow` returns -1, as
//! on the interpreter, whose memory has `max = min`).
//!
//! Cancellation (interrupts, deadlines: [`crate::parallel::cancel`]): with
//! `interruptible`, the engine uses epoch interruption; a ticker thread
//! bumps the epoch every millisecond while any compiled kernel runs, and
//! each worker's store calls [`Cancel::check`] when its epoch deadline is
//! reached (at a function entry or loop header), ending the iteration with
//! `StopError` when it fired. Between iterations the check is direct.

use super::batches::{self, BatchEnd, RangeLoop};
use super::{CallArgs, KernelWorker, RunError};
use crate::parallel::cancel::{Cancel, Stop};
use crate::parallel::device::shm::{map_window, Memfd, Window};
use crate::parallel::errno::{ParError, ParResult};
use crate::parallel::kernel::layout::Layout;
use crate::parallel::kernel::{loader, BoundsChecks};
use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use wasmtime::{
    Config, Engine, Func, InstancePre, LinearMemory, Linker, MemoryCreator, MemoryType, Module,
    OptLevel, Store, Trap, UpdateDeadline, ValRaw,
};

thread_local! {
    /// The window (and its visible size) the next memory created on this
    /// thread must use; filled by [`JitWorker::build`] around instantiation.
    static NEXT_WINDOW: RefCell<Option<(Window, usize)>> = const { RefCell::new(None) };
}

/// The guard region after the 4 GiB reservation (wasmtime's default on
/// 64-bit hosts): accesses whose static offset plus size fit in it need no
/// check; larger offsets (rare) keep an explicit one.
pub const GUARD_BYTES: u64 = 32 << 20;

/// A kernel memory over a window this value owns. `size` bytes are
/// visible; `capacity` bytes may become visible (equal for memory 0).
/// `guarded`: the bytes past `size` are `PROT_NONE` (guard pages), so a
/// growth must open them.
struct WindowMemory {
    window: Window,
    size: usize,
    capacity: usize,
    guarded: bool,
}

// SAFETY: the window is plain memory owned by this value; `&WindowMemory`
// only reads `size`/`capacity` and the base address, which never change
// while shared (only `grow_to`, through `&mut`, changes `size`).
unsafe impl Sync for WindowMemory {}

// SAFETY: `as_ptr` is the start of a mapping of at least `capacity` bytes
// (readable and writable, or in a guarded window `PROT_NONE` past `size`
// until `grow_to` opens them) that stays mapped (never moves) until this
// value drops; a guarded window also covers wasmtime's reservation and
// guard after the base (checked in `new_memory`); `byte_size <=
// byte_capacity`; bytes past the old size are zero when `grow_to` exposes
// them (fresh anonymous pages, never written because they were out of
// bounds).
unsafe impl LinearMemory for WindowMemory {
    fn byte_size(&self) -> usize {
        self.size
    }
    fn byte_capacity(&self) -> usize {
        self.capacity
    }
    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.capacity {
            anyhow::bail!("kernel memory cannot grow past {} bytes", self.capacity);
        }
        if self.guarded && new_size > self.size {
            self.window
                .open(self.size as u64, new_size as u64)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        }
        self.size = new_size;
        Ok(())
    }
    fn as_ptr(&self) -> *mut u8 {
        self.window.as_ptr()
    }
}

/// Wasmtime's creator of every memory a kernel defines: memory 0 gets the
/// window waiting in `NEXT_WINDOW`; any further memory (multi-memory
/// kernels) is private to the worker: zero pages reserved up to its maximum
/// (at most 4 GiB of address space, committed only when touched).
struct WindowCreator;

// SAFETY: the memories returned satisfy `LinearMemory`'s contract (above)
// and the engine's promise to the compiled code: with explicit bounds
// checks no reservation or guard is promised (`memory_reservation(0)`,
// `memory_guard_size(0)`); with guard pages every memory's window covers
// `max(capacity, reservation) + guard` bytes from its base, all of it
// mapped (`PROT_NONE` past the visible size), which is the range
// wasmtime's compiled code may touch and its signal handler attributes
// to this memory.
unsafe impl MemoryCreator for WindowCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let four_gib = usize::try_from(1u64 << 32).unwrap_or(usize::MAX);
        let reserved = reserved_size_in_bytes.unwrap_or(0);
        let guarded = reserved > 0 || guard_size_in_bytes > 0;
        if let Some((window, size)) = NEXT_WINDOW.with(|w| w.borrow_mut().take()) {
            if size < minimum {
                return Err(format!(
                    "kernel memory needs {minimum} bytes, its window has {size}"
                ));
            }
            let span = size.max(reserved).saturating_add(guard_size_in_bytes);
            if window.len() < span {
                return Err(format!(
                    "kernel memory window spans {} bytes, the engine needs {span}",
                    window.len()
                ));
            }
            return Ok(Box::new(WindowMemory {
                window,
                size,
                capacity: size,
                guarded,
            }));
        }
        let capacity = maximum.unwrap_or(four_gib).min(four_gib).max(minimum);
        let window = if guarded {
            let span = capacity.max(reserved).saturating_add(guard_size_in_bytes);
            Window::private_guarded(minimum as u64, span as u64)
        } else {
            Window::private(capacity as u64)
        }
        .map_err(|e| e.message)?;
        Ok(Box::new(WindowMemory {
            window,
            size: minimum,
            capacity,
            guarded,
        }))
    }
}

/// Bumps the engine's epoch every millisecond while at least one compiled
/// kernel runs (so an epoch deadline lets a worker poll its [`Cancel`]);
/// parked otherwise. Its thread ends and is joined when the compiler drops.
struct Ticker {
    engine: Engine,
    /// (kernels running, shutting down)
    state: Mutex<(usize, bool)>,
    wake: Condvar,
}

impl Ticker {
    fn start(engine: Engine) -> ParResult<(Arc<Ticker>, std::thread::JoinHandle<()>)> {
        let t = Arc::new(Ticker {
            engine,
            state: Mutex::new((0, false)),
            wake: Condvar::new(),
        });
        let me = t.clone();
        let h = std::thread::Builder::new()
            .name("wasi-parallel-epoch".into())
            .spawn(move || me.run())
            .map_err(|e| {
                ParError::device_error(format!("cannot start the JIT's epoch ticker: {e}"))
            })?;
        Ok((t, h))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, bool)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        let mut st = self.lock();
        loop {
            if st.1 {
                return;
            }
            if st.0 == 0 {
                st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            drop(st);
            std::thread::sleep(Duration::from_millis(1));
            self.engine.increment_epoch();
            st = self.lock();
        }
    }

    fn enter(&self) {
        let mut st = self.lock();
        st.0 += 1;
        if st.0 == 1 {
            self.wake.notify_one();
        }
    }

    fn leave(&self) {
        self.lock().0 -= 1;
    }
}

/// The engine-wide compiler: one wasmtime `Engine` configured for kernels.
pub struct JitCompiler {
    engine: Engine,
    linker: Linker<Option<Cancel>>,
    /// Whether kernels run through the generated range loop ([`super::runner`]);
    /// on unless `WASI_PARALLEL_JIT_RANGE_LOOP=0` (for measuring its
    /// effect).
    range_loop: bool,
    /// Whether simple counted loops are unrolled before compiling
    /// ([`super::unroll`]): not with fuel metering, nor with
    /// `WASI_PARALLEL_JIT_UNROLL=0`.
    unroll: bool,
    ticker: Option<(Arc<Ticker>, Option<std::thread::JoinHandle<()>>)>,
    /// Address space each worker window reserves from its base (0 with
    /// explicit bounds checks).
    span: u64,
}

impl std::fmt::Debug for JitCompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JitCompiler")
    }
}

impl Drop for JitCompiler {
    fn drop(&mut self) {
        if let Some((t, h)) = &mut self.ticker {
            t.lock().1 = true;
            t.wake.notify_one();
            if let Some(h) = h.take() {
                let _ = h.join();
            }
        }
    }
}

impl JitCompiler {
    /// A compiler for kernels; `fuel` turns on fuel metering (it changes
    /// the generated code, so it is per engine like the interpreter's);
    /// `interruptible` turns on epoch interruption (a running iteration
    /// polls the call's [`Cancel`] about every millisecond); `bounds` says
    /// how accesses are kept in bounds (module docs).
    pub fn new(
        fuel: bool,
        interruptible: bool,
        canonicalize_nans: bool,
        bounds: BoundsChecks,
    ) -> ParResult<JitCompiler> {
        let guard_pages = bounds.or_env()? == BoundsChecks::GuardPages;
        if guard_pages && usize::BITS < 64 {
            return Err(ParError::unsupported(
                "guard-page bounds checks need a 64-bit host (4 GiB of address space per kernel memory)",
            ));
        }
        let (reservation, guard) = if guard_pages {
            (1u64 << 32, GUARD_BYTES)
        } else {
            (0, 0)
        };
        let mut c = Config::new();
        c.signals_based_traps(guard_pages)
            .memory_reservation(reservation)
            .memory_guard_size(guard)
            .memory_reservation_for_growth(0)
            .guard_before_linear_memory(false)
            .memory_may_move(false)
            // Custom memories cannot take copy-on-write images (wasmtime
            // issue #10740); data segments are copied at instantiation.
            .memory_init_cow(false)
            .with_host_memory(Arc::new(WindowCreator))
            .consume_fuel(fuel)
            .epoch_interruption(interruptible)
            .wasm_backtrace(false)
            // The same kernels as the interpreter: fixed-width SIMD, no
            // relaxed SIMD (refused before this engine sees a kernel).
            .wasm_relaxed_simd(false)
            .wasm_simd(true)
            .cranelift_opt_level(OptLevel::Speed)
            .cranelift_nan_canonicalization(canonicalize_nans);
        let engine = Engine::new(&c)
            .map_err(|e| ParError::device_error(format!("cannot set up the JIT: {e:#}")))?;
        let linker = Linker::new(&engine);
        let ticker = if interruptible {
            let (t, h) = Ticker::start(engine.clone())?;
            Some((t, Some(h)))
        } else {
            None
        };
        let range_loop = std::env::var("WASI_PARALLEL_JIT_RANGE_LOOP").as_deref() != Ok("0");
        Ok(JitCompiler {
            engine,
            linker,
            range_loop,
            unroll: !fuel && super::unroll::enabled_by_env(),
            ticker,
            span: if guard_pages { reservation + guard } else { 0 },
        })
    }

    /// Whether kernels should be compiled with the range loops
    /// (`runner::add_range_loop`, which `Kernel::compile` adds once for
    /// both engines).
    pub fn range_loop(&self) -> bool {
        self.range_loop
    }

    /// Compiles a kernel: `rewritten` as the loader returns it, with the
    /// range loops where they could be added (without them, an unexpected
    /// module shape, every iteration enters the compiled code on its own).
    pub fn compile(&self, rewritten: &[u8]) -> ParResult<JitKernel> {
        let t = std::time::Instant::now();
        let bytes = loader::define_memory(rewritten)?;
        let (bytes, unrolled_loops) = if self.unroll {
            super::unroll::unroll_loops(&bytes)
        } else {
            (std::borrow::Cow::Borrowed(&bytes[..]), 0)
        };
        let module = Module::from_binary(&self.engine, &bytes).map_err(|e| {
            ParError::invalid_kernel(format!("the JIT cannot compile the kernel: {e:#}"))
        })?;
        let pre = self.linker.instantiate_pre(&module).map_err(|e| {
            ParError::invalid_kernel(format!("the JIT cannot link the kernel: {e:#}"))
        })?;
        Ok(JitKernel {
            pre,
            ticker: self.ticker.as_ref().map(|(t, _)| t.clone()),
            span: self.span,
            compile_time: t.elapsed(),
            unrolled_loops,
        })
    }
}

/// What an epoch-deadline callback returns when the call's [`Cancel`]
/// fired: the iteration ends with this error.
#[derive(Debug)]
struct StopError(Stop);

impl std::fmt::Display for StopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.describe())
    }
}

impl std::error::Error for StopError {}

/// A kernel compiled to native code, ready to instantiate per worker.
pub struct JitKernel {
    pre: InstancePre<Option<Cancel>>,
    ticker: Option<Arc<Ticker>>,
    /// The compiler's span: the address space each window reserves.
    span: u64,
    /// How long the JIT took (part of the kernel's compile time).
    pub compile_time: Duration,
    /// How many loops the unrolling pass (`cpu/unroll.rs`) unrolled.
    pub unrolled_loops: usize,
}

/// One worker: a wasmtime store and instance of the compiled kernel whose
/// memory 0 is the worker's window (owned by the store, through the memory).
pub(super) struct JitWorker {
    store: Store<Option<Cancel>>,
    ticker: Option<Arc<Ticker>>,
    func: Func,
    /// The generated range loop and its block size 1 copy, when the kernel
    /// has them ([`super::runner`]).
    range_loop: Option<(Func, Option<Func>)>,
    /// How many iterations the next range-loop call runs (grows while calls
    /// are short, so cancellation is still polled every few microseconds).
    batch: u32,
    /// `(ptr, len)` of each buffer occurrence.
    buffer_params: Vec<i32>,
}

impl JitWorker {
    pub(super) fn build(
        kernel: &JitKernel,
        layout: &Layout,
        memfds: &[&Memfd],
        fuel: Option<u64>,
    ) -> ParResult<JitWorker> {
        let window = map_window(layout, memfds, kernel.span)?;
        let size = usize::try_from(layout.total_size)
            .map_err(|_| ParError::resource_exhausted("kernel memory too large for this host"))?;
        let mut store = Store::new(kernel.pre.module().engine(), None);
        if kernel.ticker.is_some() {
            // At each epoch deadline: stop if the call's cancel fired, else
            // go on for another epoch.
            store.epoch_deadline_callback(|ctx| match ctx.data().as_ref().map(Cancel::check) {
                Some(Err(stop)) => Err(StopError(stop).into()),
                _ => Ok(UpdateDeadline::Continue(1)),
            });
        }
        // Instantiation (data segments, a start function) gets one
        // iteration's budget when fuel metering is on (unlimited without a
        // budget); each iteration resets it. When it is off this is an
        // error we ignore.
        let _ = store.set_fuel(fuel.unwrap_or(u64::MAX));
        NEXT_WINDOW.with(|w| *w.borrow_mut() = Some((window, size)));
        let instance = kernel.pre.instantiate(&mut store);
        // Not taken if instantiation failed before creating the memory.
        NEXT_WINDOW.with(|w| w.borrow_mut().take());
        let instance = instance.map_err(|e| {
            ParError::kernel_trap(format!("kernel instantiation failed: {}", trap_text(&e)))
        })?;
        let func = instance
            .get_func(&mut store, "kernel")
            .ok_or_else(|| ParError::invalid_kernel("kernel exports no function `kernel`"))?;
        let buffer_params: Vec<i32> = layout
            .params()
            .flat_map(|(ptr, len)| [ptr as i32, len as i32])
            .collect();
        // What makes `call_unchecked` below sound: the function takes
        // exactly that many i32 params and returns nothing.
        let ty = func.ty(&store);
        let ok = ty.results().len() == 0
            && ty.params().len() == 3 + buffer_params.len()
            && ty.params().all(|p| matches!(p, wasmtime::ValType::I32));
        if !ok {
            return Err(ParError::invalid_kernel(
                "function `kernel` does not take (i32 x 3, i32 pairs per buffer)",
            ));
        }
        // Their params: first, end, then the kernel's after the iteration.
        let loop_params = ty.params().len() + 1;
        let range_loop = batches::find_loops(|name| {
            instance
                .get_func(&mut store, name)
                .filter(|f| f.ty(&store).params().len() == loop_params)
        });
        Ok(JitWorker {
            store,
            ticker: kernel.ticker.clone(),
            func,
            range_loop,
            batch: 1,
            buffer_params,
        })
    }
}

/// The message of a wasmtime error: the trap's description when it is one.
fn trap_text(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<Trap>() {
        Some(t) => t.to_string(),
        None => format!("{e:#}"),
    }
}

impl KernelWorker for JitWorker {
    fn run_range(
        &mut self,
        call: &CallArgs<'_>,
        range: Range<u32>,
        stop: &AtomicBool,
    ) -> Result<(), RunError> {
        if let Some(t) = &self.ticker {
            *self.store.data_mut() = Some(call.cancel.clone());
            t.enter();
        }
        let r = match self.range_loop {
            // Fuel is a budget per iteration: only the per-iteration path
            // resets it before each one.
            Some(_) if call.fuel.is_none() => batches::run_batches(self, call, range, stop),
            _ => self.run_iterations(call, range, stop),
        };
        if let Some(t) = &self.ticker {
            t.leave();
        }
        r
    }
}

/// Range-loop params (4 + 2 per buffer) passed from a stack array.
const STACK_PARAMS: usize = 36;

impl RangeLoop for JitWorker {
    fn call_loop(&mut self, call: &CallArgs<'_>, range: Range<u32>) -> BatchEnd {
        let Some(loops) = self.range_loop else {
            unreachable!("run_batches is only called with a range loop");
        };
        let run = batches::pick(loops, call.block_size);
        // The params on the stack when they fit (no allocation per batch).
        let len = 4 + self.buffer_params.len();
        let mut stack = [ValRaw::i32(0); STACK_PARAMS];
        let mut heap = Vec::new();
        let raw: &mut [ValRaw] = if len <= STACK_PARAMS {
            &mut stack[..len]
        } else {
            heap.resize(len, ValRaw::i32(0));
            &mut heap
        };
        raw[0] = ValRaw::i32(range.start as i32);
        raw[1] = ValRaw::i32(range.end as i32);
        raw[2] = ValRaw::i32(call.num_iterations as i32);
        raw[3] = ValRaw::i32(call.block_size as i32);
        for (r, &v) in raw[4..].iter_mut().zip(&self.buffer_params) {
            *r = ValRaw::i32(v);
        }
        if self.ticker.is_some() {
            self.store.set_epoch_deadline(1);
        }
        // SAFETY: `run` belongs to `store` and takes exactly these i32
        // params (the kernel's, checked in `build`, plus first and end: its
        // param count was checked there too); it returns nothing.
        match unsafe { run.call_unchecked(&mut self.store, &mut *raw) } {
            Ok(()) => BatchEnd::Done,
            Err(e) => match e.downcast_ref::<StopError>() {
                Some(StopError(s)) => BatchEnd::Stopped(*s),
                None => BatchEnd::Trapped(trap_text(&e)),
            },
        }
    }

    fn batch(&mut self) -> &mut u32 {
        &mut self.batch
    }

    fn run_iterations(
        &mut self,
        call: &CallArgs<'_>,
        range: Range<u32>,
        stop: &AtomicBool,
    ) -> Result<(), RunError> {
        let mut raw: Vec<ValRaw> = Vec::with_capacity(3 + self.buffer_params.len());
        let first = range.start;
        for iteration in range {
            call.cancel
                .check_between(iteration, iteration == first)
                .map_err(|s| RunError::Stopped(s, iteration))?;
            raw.clear();
            raw.push(ValRaw::i32(iteration as i32));
            raw.push(ValRaw::i32(call.num_iterations as i32));
            raw.push(ValRaw::i32(call.block_size as i32));
            raw.extend(self.buffer_params.iter().map(|&v| ValRaw::i32(v)));
            if let Some(f) = call.fuel {
                self.store
                    .set_fuel(f)
                    .map_err(|e| RunError::Trap(format!("cannot set kernel fuel: {e}")))?;
            }
            if self.ticker.is_some() {
                self.store.set_epoch_deadline(1);
            }
            // SAFETY: `func` belongs to `store`, and `raw` holds exactly its
            // params, all i32 (checked in `build`); it returns nothing.
            let r = unsafe { self.func.call_unchecked(&mut self.store, &mut raw[..]) };
            if let Err(e) = r {
                if let Some(StopError(s)) = e.downcast_ref::<StopError>() {
                    return Err(RunError::Stopped(*s, iteration));
                }
                return Err(RunError::Trap(match e.downcast_ref::<Trap>() {
                    Some(Trap::OutOfFuel) => super::out_of_fuel(iteration, call.fuel),
                    _ => format!("iteration {iteration} trapped: {}", trap_text(&e)),
                }));
            }
            // Wasmtime checks fuel only at function entries and loop
            // headers: a loop-free stretch may overrun the budget without
            // trapping. Such an iteration ran out of fuel too (it is
            // reported after it ran; buffers are unspecified after a trap).
            if call.fuel.is_some() && self.store.get_fuel().unwrap_or(0) == 0 {
                return Err(RunError::Trap(super::out_of_fuel(iteration, call.fuel)));
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The memory route: a kernel's stores land in the shared memfd pages,
    //! `[0, R)` is private to each worker, traps come back as messages.
    use super::*;
    use crate::parallel::kernel::loader;

    /// Every test runs with both kinds of bounds checks.
    const MODES: [BoundsChecks; 2] = [BoundsChecks::Explicit, BoundsChecks::GuardPages];

    /// As `Kernel::compile` compiles for the JIT: with the range loops.
    fn compile(compiler: &JitCompiler, wat: &str) -> JitKernel {
        let shape = loader::load(&wat::parse_str(wat).unwrap()).unwrap();
        let looped = super::super::runner::add_range_loop(&shape.rewritten).unwrap();
        compiler.compile(&looped).unwrap()
    }

    fn never() -> &'static Cancel {
        Box::leak(Box::new(Cancel::never()))
    }

    fn call(n: u32, block: u32) -> CallArgs<'static> {
        CallArgs {
            num_iterations: n,
            block_size: block,
            fuel: None,
            cancel: never(),
        }
    }

    /// The trap message of a run that must trap.
    fn trap(r: Result<(), RunError>) -> String {
        match r {
            Err(RunError::Trap(m)) => m,
            Err(RunError::Stopped(s, i)) => panic!("stopped at {i}: {s:?}"),
            Ok(()) => panic!("no trap"),
        }
    }

    /// Iteration 0 writes a marker into its private word 0 and 0x2222 into
    /// buf[0]; iteration 1 copies its private word 0 into buf[1], buf[0]
    /// into buf[2] and `memory.size` into buf[3].
    const PROBE: &str = r#"(module (memory (import "" "memory") 1 1 shared)
      (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
        (if (i32.eqz (local.get $i))
          (then (i32.store (i32.const 0) (i32.const 0x1111))
                (i32.store (local.get $p) (i32.const 0x2222)))
          (else (i32.store offset=4 (local.get $p) (i32.load (i32.const 0)))
                (i32.store offset=8 (local.get $p) (i32.load (local.get $p)))
                (i32.store offset=12 (local.get $p) (memory.size))))))"#;

    fn read_u32s(fd: &Memfd, n: usize) -> Vec<u32> {
        let mut b = vec![0u8; 4 * n];
        fd.read_at(&mut b, 0).unwrap();
        b.chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// The JIT compiles nstream's loop unrolled (in the kernel and the
    /// range loop), but not with fuel metering, whose count the copies
    /// would change.
    #[test]
    fn loops_are_unrolled_unless_fuel_is_metered() {
        let nstream = include_str!("../../../../tests/wat/nstream.wat");
        for (fuel, want) in [(false, 2), (true, 0)] {
            let compiler = JitCompiler::new(fuel, false, false, BoundsChecks::Explicit).unwrap();
            let want = if super::super::unroll::enabled_by_env() {
                want
            } else {
                0
            };
            assert_eq!(
                compile(&compiler, nstream).unrolled_loops,
                want,
                "fuel {fuel}"
            );
        }
    }

    #[test]
    fn stores_reach_the_shared_buffer_and_private_pages_stay_private() {
        for bounds in MODES {
            stores_reach_the_shared_buffer(bounds);
        }
    }

    fn stores_reach_the_shared_buffer(bounds: BoundsChecks) {
        let compiler = JitCompiler::new(false, false, false, bounds).unwrap();
        let k = compile(&compiler, PROBE);
        let buf = Memfd::new(100).unwrap();
        buf.write_at(&[0xAA; 100], 0).unwrap();
        let layout = Layout::compute(65536, &[(0, 100)]).unwrap();
        let stop = AtomicBool::new(false);
        let mut a = JitWorker::build(&k, &layout, &[&buf], None).unwrap();
        let mut b = JitWorker::build(&k, &layout, &[&buf], None).unwrap();
        a.run_range(&call(2, 1), 0..1, &stop).ok().expect("runs");
        // a's store is in the memfd (the host's view)...
        assert_eq!(read_u32s(&buf, 1), [0x2222]);
        // ...and in b's window; b's private word 0 is still 0
        b.run_range(&call(2, 1), 1..2, &stop).ok().expect("runs");
        assert_eq!(read_u32s(&buf, 4), [0x2222, 0, 0x2222, 2]);
        // a's private word persists in a (a worker keeps its region)
        a.run_range(&call(2, 1), 1..2, &stop).ok().expect("runs");
        assert_eq!(read_u32s(&buf, 2), [0x2222, 0x1111]);
        // bytes past what the kernel wrote are the host's
        let mut rest = [0u8; 84];
        buf.read_at(&mut rest, 16).unwrap();
        assert!(rest.iter().all(|&x| x == 0xAA));
        // a host write shows up in a running worker's window
        buf.write_at(&0x3333u32.to_le_bytes(), 0).unwrap();
        b.run_range(&call(2, 1), 1..2, &stop).ok().expect("runs");
        assert_eq!(read_u32s(&buf, 3)[2], 0x3333);
    }

    #[test]
    fn traps_are_messages_and_bounds_are_the_window() {
        for bounds in MODES {
            traps_are_messages(bounds);
        }
    }

    fn traps_are_messages(bounds: BoundsChecks) {
        let compiler = JitCompiler::new(true, false, false, bounds).unwrap();
        // Loads the word at `block_size`: in bounds up to memory.size - 4.
        let k = compile(
            &compiler,
            r#"(module (memory (import "" "memory") 1)
              (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
                (drop (i32.load (local.get $b)))
                (if (i32.eq (local.get $i) (i32.const 1)) (then (drop (i32.div_u (i32.const 1) (i32.sub (local.get $i) (i32.const 1))))))
                (if (i32.eq (local.get $i) (i32.const 2)) (then unreachable))
                (if (i32.eq (local.get $i) (i32.const 3)) (then (loop $l (br $l))))))"#,
        );
        let buf = Memfd::new(5000).unwrap();
        let layout = Layout::compute(65536, &[(0, 5000)]).unwrap();
        assert_eq!(layout.total_size, 131072);
        let stop = AtomicBool::new(false);
        let mut w = JitWorker::build(&k, &layout, &[&buf], None).unwrap();
        let fuel = |n, b| CallArgs {
            num_iterations: n,
            block_size: b,
            fuel: Some(10_000),
            cancel: never(),
        };
        w.run_range(&fuel(1, 131068), 0..1, &stop)
            .ok()
            .expect("runs");
        let e = trap(w.run_range(&fuel(1, 131069), 0..1, &stop));
        assert!(e.contains("out of bounds"), "{e}");
        let e = trap(w.run_range(&fuel(4, 0), 1..2, &stop));
        assert!(e.contains("divide by zero"), "{e}");
        let e = trap(w.run_range(&fuel(4, 0), 2..3, &stop));
        assert!(e.contains("unreachable"), "{e}");
        let e = trap(w.run_range(&fuel(4, 0), 3..4, &stop));
        assert!(e.contains("out of fuel"), "{e}");
        // the worker still runs after traps
        w.run_range(&fuel(1, 0), 0..1, &stop).ok().expect("runs");
        // a loop-free iteration over a budget of 2 units ran out of fuel
        let tiny = CallArgs {
            num_iterations: 1,
            block_size: 0,
            fuel: Some(2),
            cancel: never(),
        };
        let e = trap(w.run_range(&tiny, 0..1, &stop));
        assert!(e.contains("out of fuel"), "{e}");
    }

    /// A trap inside a batch of the range loop names its iteration (the
    /// batch runs again one iteration at a time), with the block size 1
    /// copy and the general loop; a trap that does not happen again (it
    /// depended on what the batch had written) names the batch.
    #[test]
    fn a_trap_in_a_batch_names_its_iteration() {
        let compiler = JitCompiler::new(false, false, false, BoundsChecks::Explicit).unwrap();
        let k = compile(
            &compiler,
            r#"(module (memory (import "" "memory") 1)
              (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
                (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $b))
                (if (i32.eq (local.get $i) (i32.const 37)) (then (unreachable)))))"#,
        );
        let buf = Memfd::new(400).unwrap();
        let layout = Layout::compute(65536, &[(0, 400)]).unwrap();
        for block in [1, 3] {
            let mut w = JitWorker::build(&k, &layout, &[&buf], None).unwrap();
            assert!(w.range_loop.is_some_and(|(_, bs1)| bs1.is_some()));
            w.batch = 64;
            let e = trap(w.run_range(&call(100, block), 0..100, &AtomicBool::new(false)));
            assert!(e.starts_with("iteration 37 trapped:"), "block {block}: {e}");
            assert!(e.contains("unreachable"), "{e}");
            // Iterations before it wrote the block size.
            assert_eq!(read_u32s(&buf, 37), vec![block; 37]);
        }
        // Traps at the 6th iteration this worker runs: in the batch, not
        // when the batch runs again.
        let k = compile(
            &compiler,
            r#"(module (memory (import "" "memory") 1) (global $c (mut i32) (i32.const 0))
              (func (export "kernel") (param i32 i32 i32)
                (global.set $c (i32.add (global.get $c) (i32.const 1)))
                (if (i32.eq (global.get $c) (i32.const 6)) (then (unreachable)))))"#,
        );
        let layout = Layout::compute::<u8>(65536, &[]).unwrap();
        let mut w = JitWorker::build(&k, &layout, &[], None).unwrap();
        w.batch = 64;
        let e = trap(w.run_range(&call(10, 1), 0..10, &AtomicBool::new(false)));
        assert!(e.starts_with("an iteration in 0..10 trapped:"), "{e}");
        assert!(e.contains("unreachable"), "{e}");
    }

    #[test]
    fn stack_overflow_is_a_trap() {
        for bounds in MODES {
            stack_overflow(bounds);
        }
    }

    fn stack_overflow(bounds: BoundsChecks) {
        let compiler = JitCompiler::new(false, false, false, bounds).unwrap();
        let k = compile(
            &compiler,
            r#"(module (memory (import "" "memory") 1)
              (func $f (param i32) (result i32) (i32.add (call $f (local.get 0)) (i32.const 1)))
              (func (export "kernel") (param i32 i32 i32) (drop (call $f (local.get 0)))))"#,
        );
        let layout = Layout::compute::<u8>(65536, &[]).unwrap();
        let mut w = JitWorker::build(&k, &layout, &[], None).unwrap();
        let e = trap(w.run_range(&call(1, 0), 0..1, &AtomicBool::new(false)));
        assert!(e.contains("call stack exhausted"), "{e}");
    }

    #[test]
    fn data_segments_and_a_memory_of_size_zero() {
        for bounds in MODES {
            data_segments_and_size_zero(bounds);
        }
    }

    fn data_segments_and_size_zero(bounds: BoundsChecks) {
        let compiler = JitCompiler::new(false, false, false, bounds).unwrap();
        let k = compile(
            &compiler,
            r#"(module (memory (import "" "memory") 1)
              (data (i32.const 8) "\2a\00\00\00")
              (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
                (i32.store (local.get $p) (i32.load (i32.const 8)))
                (i32.store offset=4 (local.get $p) (memory.grow (i32.const 1)))))"#,
        );
        let buf = Memfd::new(8).unwrap();
        let layout = Layout::compute(65536, &[(0, 8)]).unwrap();
        let mut w = JitWorker::build(&k, &layout, &[&buf], None).unwrap();
        w.run_range(&call(1, 0), 0..1, &AtomicBool::new(false))
            .ok()
            .expect("runs");
        assert_eq!(read_u32s(&buf, 2), [42, u32::MAX]);
        // R = 0 and no buffers: memory of size 0, every access traps
        let k = compile(
            &compiler,
            r#"(module (memory (import "" "memory") 0)
              (func (export "kernel") (param i32 i32 i32) (drop (i32.load8_u (i32.const 0)))))"#,
        );
        let layout = Layout::compute::<u8>(0, &[]).unwrap();
        assert_eq!(layout.total_size, 0);
        let mut w = JitWorker::build(&k, &layout, &[], None).unwrap();
        let e = trap(w.run_range(&call(1, 0), 0..1, &AtomicBool::new(false)));
        assert!(e.contains("out of bounds"), "{e}");
    }

    /// Guard pages: every way out of the window traps (the first byte past
    /// it, the last 32-bit address, offsets inside and beyond the guard,
    /// a wide SIMD load straddling the end), in any worker thread, and the
    /// workers and the process go on; a second memory that grows opens
    /// its new pages. Explicit checks must agree on every case.
    #[test]
    fn every_way_out_of_the_window_traps() {
        // Loads at `block_size` (the address) with the static offset
        // chosen by the iteration.
        const OUT: &str = r#"(module (memory (import "" "memory") 1)
          (memory $m2 1 3)
          (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
            (if (i32.eq (local.get $i) (i32.const 0)) (then (drop (i32.load8_u (local.get $b)))))
            (if (i32.eq (local.get $i) (i32.const 1)) (then (drop (i64.load offset=16 (local.get $b)))))
            (if (i32.eq (local.get $i) (i32.const 2)) (then (drop (i32.load offset=40000000 (local.get $b)))))
            (if (i32.eq (local.get $i) (i32.const 3)) (then (drop (v128.load (local.get $b)))))
            (if (i32.eq (local.get $i) (i32.const 4)) (then (i32.store8 (local.get $b) (i32.const 7))))
            (if (i32.eq (local.get $i) (i32.const 5))
              (then (i32.store (local.get $p) (memory.grow $m2 (i32.const 1)))
                    (i32.store $m2 (i32.const 100000) (i32.const 9))
                    (i32.store offset=4 (local.get $p) (i32.load $m2 (i32.const 100000)))
                    (drop (i32.load $m2 (local.get $b)))))))"#;
        for bounds in MODES {
            let compiler = JitCompiler::new(false, false, false, bounds).unwrap();
            let k = compile(&compiler, OUT);
            // Guard pages: the window reserves 4 GiB + the guard.
            let span = if bounds == BoundsChecks::GuardPages {
                (1 << 32) + GUARD_BYTES
            } else {
                0
            };
            assert_eq!(k.span, span);
            let buf = Memfd::new(8).unwrap();
            let layout = Layout::compute(65536, &[(0, 8)]).unwrap();
            let end = layout.total_size as u32;
            let stop = AtomicBool::new(false);
            let mut w = JitWorker::build(&k, &layout, &[&buf], None).unwrap();
            let at = |addr: u32| CallArgs {
                num_iterations: 6,
                block_size: addr,
                fuel: None,
                cancel: never(),
            };
            let run =
                |w: &mut JitWorker, i: u32, addr: u32| w.run_range(&at(addr), i..i + 1, &stop);
            // in bounds: the last byte, the last 8 bytes, the last 16
            run(&mut w, 0, end - 1).ok().expect("last byte");
            run(&mut w, 1, end - 24).ok().expect("last 8 bytes");
            run(&mut w, 3, end - 16).ok().expect("last 16 bytes");
            run(&mut w, 4, end - 1)
                .ok()
                .expect("store to the last byte");
            let cases = [
                (0, end),
                (0, end + 4096),
                (0, u32::MAX),
                (1, end - 23),
                (1, u32::MAX - 8),
                (2, 0),
                (2, u32::MAX),
                (3, end - 15),
                (4, end),
                (4, 1 << 31),
            ];
            for (i, addr) in cases {
                let e = trap(run(&mut w, i, addr));
                assert!(
                    e.contains("out of bounds"),
                    "{bounds:?} case {i} at {addr}: {e}"
                );
            }
            // The same trap from another thread (wasmtime's handler state is
            // per thread).
            std::thread::scope(|s| {
                s.spawn(|| {
                    let mut w2 = JitWorker::build(&k, &layout, &[&buf], None).unwrap();
                    let e = trap(w2.run_range(&at(end), 0..1, &AtomicBool::new(false)));
                    assert!(e.contains("out of bounds"), "{e}");
                });
            });
            // Growth of the second memory: 1 -> 2 pages, the new page usable.
            run(&mut w, 5, 2 * 65536 - 4).ok().expect("grow and use");
            assert_eq!(read_u32s(&buf, 2), [1, 9]);
            let e = trap(run(&mut w, 5, 3 * 65536 - 2));
            assert!(e.contains("out of bounds"), "{bounds:?}: {e}");
            // the worker still runs after all that
            run(&mut w, 0, 0).ok().expect("runs after traps");
        }
    }
}
