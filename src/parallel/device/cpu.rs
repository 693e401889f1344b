//! The CPU device (a rayon thread pool) and, with one worker on the calling
//! thread, the SEQUENTIAL device.
//!
//! - A buffer is a memfd (zero-filled, page-rounded).
//! - A worker is one wasmi `Store` + `Instance` of the kernel over its own
//!   window: private `[0, R)` (the kernel's data segments, its shadow stack)
//!   followed by the call's buffers mapped shared, so buffers cost their size
//!   once however many workers there are.
//! - Workers are reused for every iteration of a call and kept in the
//!   instance's session for later calls with the same kernel and buffer list
//!   (up to 4 such sets per instance, least recently used dropped). A trap
//!   discards them: the kernel's private state may be inconsistent after it.
//!   So a kernel's private region and globals persist across the iterations
//!   a worker runs and across calls; kernels must not rely on either.
//! - Iterations are handed out dynamically in chunks from an atomic counter;
//!   the first trap stops the others and its message is returned.

use super::shm::{build_window, Memfd, Window};
use super::{Device, DeviceBuffer, DeviceInfo, DeviceKind, DeviceSession, ExecRequest, ExecStats};
use crate::parallel::cancel::{call_in_slices, Cancel, SlicedError, Stop};
use crate::parallel::errno::{ParError, ParResult};
use crate::parallel::kernel::layout::Layout;
use crate::parallel::kernel::Kernel;
use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmi::{Func, Instance, Memory, MemoryType, Store, Val};

/// A buffer of a CPU-family device.
#[derive(Debug)]
pub struct CpuBuffer {
    id: u64,
    size: u64,
    device: usize,
    memfd: Arc<Memfd>,
}

impl DeviceBuffer for CpuBuffer {
    fn size(&self) -> u64 {
        self.size
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The CPU device, or the SEQUENTIAL device when it has no pool.
pub struct CpuDevice {
    info: DeviceInfo,
    pool: Option<rayon::ThreadPool>,
    threads: usize,
    /// The pool's threads, joined when the device is dropped (see `Drop`).
    joins: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

impl CpuDevice {
    /// The SEQUENTIAL device (one worker, on the calling thread).
    pub fn sequential(index: usize) -> CpuDevice {
        CpuDevice {
            info: DeviceInfo {
                kind: DeviceKind::Sequential,
                name: "sequential".to_string(),
                index,
            },
            pool: None,
            threads: 1,
            joins: Arc::default(),
        }
    }

    /// The CPU device with `threads` workers (0 = available cores).
    pub fn new(index: usize, threads: usize) -> ParResult<CpuDevice> {
        let threads = if threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            threads
        };
        let joins: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>> = Arc::default();
        let keep = joins.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            // Like a main thread: the interpreter runs kernels on these.
            .stack_size(8 << 20)
            // rayon detaches its threads; keep their handles so that dropping
            // the device (the engine) waits until they are gone.
            .spawn_handler(move |t| {
                let mut b =
                    std::thread::Builder::new().name(format!("wasi-parallel-cpu-{}", t.index()));
                if let Some(size) = t.stack_size() {
                    b = b.stack_size(size);
                }
                let h = b.spawn(move || t.run())?;
                keep.lock().unwrap_or_else(|p| p.into_inner()).push(h);
                Ok(())
            })
            .build()
            .map_err(|e| {
                ParError::device_error(format!("cannot start the CPU thread pool: {e}"))
            })?;
        Ok(CpuDevice {
            info: DeviceInfo {
                kind: DeviceKind::Cpu,
                name: format!("cpu ({threads} threads)"),
                index,
            },
            pool: Some(pool),
            threads,
            joins,
        })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn buffer<'a>(&self, b: &'a dyn DeviceBuffer) -> ParResult<&'a CpuBuffer> {
        match b.as_any().downcast_ref::<CpuBuffer>() {
            Some(c) if c.device == self.info.index => Ok(c),
            _ => Err(ParError::invalid_handle("buffer belongs to another device")),
        }
    }
}

impl Drop for CpuDevice {
    /// Stops the pool and joins its threads, so that deleting an engine
    /// really releases them: no thread (nor its stack and thread-locals)
    /// outlives the engine, which matters to an embedder that unloads the
    /// library, and to leak checkers (valgrind saw them "possibly lost").
    /// Nothing can be running on the pool here: every exec holds the
    /// runtime, hence this device, until it returns.
    fn drop(&mut self) {
        let Some(pool) = self.pool.take() else {
            return;
        };
        // Dropped on one of its own threads (the last reference released by
        // a worker): joining would wait for itself; let them end detached.
        let on_worker = pool.current_thread_index().is_some();
        drop(pool);
        if on_worker {
            return;
        }
        let handles = std::mem::take(&mut *self.joins.lock().unwrap_or_else(|p| p.into_inner()));
        for h in handles {
            let _ = h.join();
        }
    }
}

/// One worker: a store and instance of the kernel over its own window.
/// Field order matters: the store (which holds the `&'static mut` slice of the
/// window) is dropped before the window is unmapped.
struct Worker {
    store: Store<()>,
    func: Func,
    params: Vec<Val>,
    _window: Option<Window>,
}

// The worker is built and used on whichever pool thread picks it up.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<Worker>();
};

impl Worker {
    fn build(
        kernel: &Kernel,
        layout: &Layout,
        memfds: &[&Memfd],
        block_size: u32,
        num_iterations: u32,
    ) -> ParResult<Worker> {
        let engine = kernel.module.engine().clone();
        let pages = layout.total_pages() as u32;
        let (window, (mut store, memory)) = build_window(layout, memfds, |bytes| {
            let mut store = Store::new(&engine, ());
            let ty = MemoryType::new(pages, Some(pages));
            let memory = match bytes {
                Some(b) => Memory::new_static(&mut store, ty, b),
                None => Memory::new(&mut store, ty),
            }
            .map_err(|e| ParError::device_error(format!("cannot create kernel memory: {e}")))?;
            Ok((store, memory))
        })?;
        // Instantiation (data segments, a start function) gets an unlimited
        // budget; each iteration sets its own. (Kernel engines always meter
        // fuel; an engine without metering makes this an error we ignore.)
        let _ = store.set_fuel(u64::MAX);
        let instance = Instance::new(&mut store, &kernel.module, &[memory.into()])
            .map_err(|e| ParError::kernel_trap(format!("kernel instantiation failed: {e}")))?;
        let func = instance
            .get_func(&store, "kernel")
            .ok_or_else(|| ParError::invalid_kernel("kernel exports no function `kernel`"))?;
        let mut params = Vec::with_capacity(3 + 2 * layout.occurrence.len());
        params.push(Val::I32(0));
        params.push(Val::I32(num_iterations as i32));
        params.push(Val::I32(block_size as i32));
        for (ptr, len) in layout.params() {
            params.push(Val::I32(ptr as i32));
            params.push(Val::I32(len as i32));
        }
        Ok(Worker {
            store,
            func,
            params,
            _window: window,
        })
    }

    /// Runs one iteration in fuel slices ([`call_in_slices`]), polling
    /// `cancel` between slices; `fuel` is the iteration's whole budget
    /// (`None`: unlimited).
    fn run(&mut self, iteration: u32, fuel: Option<u64>, cancel: &Cancel) -> Result<(), RunError> {
        self.params[0] = Val::I32(iteration as i32);
        let mut left = fuel.unwrap_or(u64::MAX);
        call_in_slices(
            &mut self.store,
            self.func,
            &self.params,
            &mut [],
            &mut left,
            |_| cancel.check().err(),
        )
        .map_err(|e| match e {
            SlicedError::Stopped(stop) => RunError::Stopped(stop),
            SlicedError::Wasm(e) if e.as_trap_code() == Some(wasmi::TrapCode::OutOfFuel) => {
                RunError::Trap(format!(
                    "iteration {iteration} ran out of fuel (budget {} per iteration)",
                    fuel.unwrap_or(0)
                ))
            }
            SlicedError::Wasm(e) => RunError::Trap(format!("iteration {iteration} trapped: {e}")),
        })
    }
}

/// Why an iteration did not finish.
enum RunError {
    /// It trapped (the message says how).
    Trap(String),
    /// [`Cancel`] fired between two fuel slices.
    Stopped(Stop),
}

/// What identifies reusable workers: same kernel, same buffers in the same
/// order (so the same layout and mappings).
#[derive(PartialEq, Eq, Clone, Debug)]
struct SessionKey {
    kernel: u64,
    buffers: Vec<u64>,
}

/// How many worker sets (kernel + buffer list combinations) an instance
/// keeps, most recently used first.
const WORKER_SETS: usize = 4;

struct CpuSession {
    /// `sets[0]` is the one in use; each holds workers for one key.
    sets: Vec<(SessionKey, Vec<Option<Worker>>)>,
}

impl CpuSession {
    fn from(session: &mut DeviceSession) -> &mut CpuSession {
        let fresh = !matches!(session, Some(s) if s.is::<CpuSession>());
        if fresh {
            *session = Some(Box::new(CpuSession { sets: Vec::new() }));
        }
        session
            .as_mut()
            .and_then(|s| s.downcast_mut::<CpuSession>())
            .expect("session just set")
    }
}

/// Shared state of one call's workers.
struct CallState<'a> {
    kernel: &'a Kernel,
    layout: &'a Layout,
    memfds: &'a [&'a Memfd],
    block_size: u32,
    num_iterations: u32,
    fuel: Option<u64>,
    cancel: &'a Cancel,
    next: AtomicU64,
    chunk: u64,
    stop: AtomicBool,
    error: Mutex<Option<ParError>>,
    setup_nanos: AtomicU64,
}

impl CallState<'_> {
    fn fail(&self, e: ParError) {
        self.stop.store(true, Ordering::Relaxed);
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    /// [`Self::work_inner`], turning a panic (a bug, never expected) into a
    /// `device_error` instead of unwinding through the guest's host call.
    fn work(&self, slot: &mut Option<Worker>) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.work_inner(slot)));
        if r.is_err() {
            *slot = None;
            self.fail(ParError::device_error("a CPU worker panicked"));
        }
    }

    /// Runs chunks of iterations on `slot`'s worker (building it if needed)
    /// until none are left or some iteration failed. On failure the worker
    /// is discarded.
    fn work_inner(&self, slot: &mut Option<Worker>) {
        if slot.is_none() {
            let t = Instant::now();
            match Worker::build(
                self.kernel,
                self.layout,
                self.memfds,
                self.block_size,
                self.num_iterations,
            ) {
                Ok(w) => *slot = Some(w),
                Err(e) => return self.fail(e),
            }
            self.setup_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        let worker = slot.as_mut().expect("built");
        worker.params[1] = Val::I32(self.num_iterations as i32);
        worker.params[2] = Val::I32(self.block_size as i32);
        let n = self.num_iterations as u64;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            // 64-bit counter: overshooting past `n` can never wrap around.
            let start = self.next.fetch_add(self.chunk, Ordering::Relaxed);
            if start >= n {
                return;
            }
            let end = (start + self.chunk).min(n);
            for i in start..end {
                let stopped = match self.cancel.check() {
                    Err(stop) => Some(stop),
                    Ok(()) => match worker.run(i as u32, self.fuel, self.cancel) {
                        Ok(()) => None,
                        Err(RunError::Stopped(stop)) => Some(stop),
                        Err(RunError::Trap(msg)) => {
                            *slot = None;
                            return self.fail(ParError::kernel_trap(msg));
                        }
                    },
                };
                if let Some(stop) = stopped {
                    // Stopped mid-iteration: its private state is as
                    // unknown as after a trap.
                    *slot = None;
                    return self.fail(ParError::kernel_trap(format!(
                        "stopped at iteration {i}: {}",
                        stop.describe()
                    )));
                }
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
            }
        }
    }
}

impl Device for CpuDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn create_buffer(&self, size: u64) -> ParResult<Box<dyn DeviceBuffer>> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let memfd = Memfd::new(size)?;
        Ok(Box::new(CpuBuffer {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            size,
            device: self.info.index,
            memfd: Arc::new(memfd),
        }))
    }

    fn write(&self, buffer: &dyn DeviceBuffer, data: &[u8]) -> ParResult<()> {
        let b = self.buffer(buffer)?;
        if data.len() as u64 > b.size {
            return Err(ParError::out_of_bounds("data longer than the buffer"));
        }
        b.memfd.write_at(data, 0)
    }

    fn read(&self, buffer: &dyn DeviceBuffer, out: &mut [u8]) -> ParResult<()> {
        let b = self.buffer(buffer)?;
        if out.len() as u64 > b.size {
            return Err(ParError::out_of_bounds("read longer than the buffer"));
        }
        b.memfd.read_at(out, 0)
    }

    fn exec(&self, session: &mut DeviceSession, req: &ExecRequest<'_>) -> ParResult<ExecStats> {
        let mut buffers = Vec::with_capacity(req.buffers.len());
        for b in req.buffers {
            buffers.push(self.buffer(*b)?);
        }
        let memfds: Vec<&Memfd> = req
            .layout
            .placements
            .iter()
            .map(|p| &*buffers[p.first_occurrence].memfd)
            .collect();
        let key = SessionKey {
            kernel: req.kernel.id,
            buffers: buffers.iter().map(|b| b.id).collect(),
        };
        let n = req.num_iterations;
        if n == 0 {
            return Ok(ExecStats::default());
        }
        let session = CpuSession::from(session);
        let reused = match session.sets.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                let set = session.sets.remove(i);
                session.sets.insert(0, set);
                true
            }
            None => {
                session.sets.truncate(WORKER_SETS - 1);
                session.sets.insert(0, (key, Vec::new()));
                false
            }
        };
        let workers = &mut session.sets[0].1;
        let nworkers = (self.threads as u64).min(n as u64) as usize;
        if workers.len() < nworkers {
            workers.resize_with(nworkers, || None);
        }
        let chunk = (n as u64 / (nworkers as u64 * 32)).max(1);
        let state = CallState {
            kernel: req.kernel,
            layout: req.layout,
            memfds: &memfds,
            block_size: req.block_size,
            num_iterations: n,
            fuel: req.fuel,
            cancel: req.cancel,
            next: AtomicU64::new(0),
            chunk,
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
            setup_nanos: AtomicU64::new(0),
        };
        match (&self.pool, nworkers) {
            (Some(pool), w) if w > 1 => {
                let state = &state;
                pool.scope(|s| {
                    for slot in workers[..nworkers].iter_mut() {
                        s.spawn(move |_| state.work(slot));
                    }
                });
            }
            // One worker: run on the calling thread (no hand-off cost).
            _ => state.work(&mut workers[0]),
        }
        if let Some(e) = state.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            // A trapped kernel may have left its private state (e.g. the
            // shadow stack pointer) inconsistent: start afresh next time.
            session.sets.remove(0);
            return Err(e);
        }
        Ok(ExecStats {
            workers: nworkers,
            setup_time: Duration::from_nanos(state.setup_nanos.load(Ordering::Relaxed)),
            reused_workers: reused,
        })
    }
}
