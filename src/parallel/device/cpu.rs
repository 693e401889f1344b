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
//! - Each worker owns a contiguous block of a call's iterations (the same
//!   block in every call), takes chunks from its front and, once it is
//!   empty, steals from the back of the others' (`cpu/schedule.rs`); one
//!   worker takes the whole range. The first trap stops the others and its
//!   message is returned.
//! - After a call that could use several workers, the pool threads spin
//!   for a moment (100 us) before they sleep, so the next call hands them work
//!   without a wake-up (`cpu/linger.rs`), as OpenMP's threads do between
//!   parallel regions.
//! - The calling thread is the first worker. A call whose work, at the time
//!   per iteration the calling thread measured in the set's last call, is
//!   smaller than what sharing it would save runs on it alone: waking the
//!   others would cost more than they save. What a hand-off costs is
//!   measured (how much longer calls with every worker took than an even
//!   split of their work; at first `SMALL_CALL_NS / 2`).

use super::shm::Memfd;
use super::{Device, DeviceBuffer, DeviceInfo, DeviceKind, DeviceSession, ExecRequest, ExecStats};
use crate::parallel::cancel::{Cancel, Stop};
use crate::parallel::errno::{ParError, ParResult};
use crate::parallel::kernel::layout::{Layout, PerBuffer};
use crate::parallel::kernel::Kernel;
use std::any::Any;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod batches;
mod interp;
#[cfg(wp_jit)]
pub mod jit;
mod linger;
pub(crate) mod runner;
mod schedule;
#[cfg(wp_jit)]
mod unroll;

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
    /// Whether the calling thread runs one worker's share of a call (on
    /// unless `WASI_PARALLEL_CPU_CALLER_WORKS=0`, for measuring it).
    caller_works: bool,
    /// What handing a call to the other workers costs, in ns: a moving
    /// average of how much longer calls with every worker took than their
    /// work split evenly (see [`small_call`]).
    hand_off_ns: AtomicU64,
    /// Pool threads that spin for a moment after a shared call, so the
    /// next call hands them work without waking them ([`linger`]).
    linger: Option<Arc<linger::Linger>>,
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
            caller_works: true,
            hand_off_ns: AtomicU64::new(SMALL_CALL_NS / 2),
            linger: None,
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
            caller_works: std::env::var("WASI_PARALLEL_CPU_CALLER_WORKS").as_deref() != Ok("0"),
            hand_off_ns: AtomicU64::new(SMALL_CALL_NS / 2),
            // The calling thread is one worker: the others are pool threads.
            linger: (threads > 1).then(|| linger::Linger::new(threads - 1, None)),
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

/// The arguments every iteration of one call shares.
pub(crate) struct CallArgs<'a> {
    /// `num_iterations` passed to the kernel.
    pub num_iterations: u32,
    /// `block_size` passed to the kernel.
    pub block_size: u32,
    /// Fuel budget of each iteration, if any.
    pub fuel: Option<u64>,
    /// What stops the call early (interrupt, deadlines).
    pub cancel: &'a Cancel,
}

/// One worker of a kernel engine: an instance of the kernel over its own
/// window (private `[0, R)`, then the call's buffers shared), used by one
/// thread at a time, reused for every iteration it runs and across calls.
pub(crate) trait KernelWorker: Send {
    /// Runs `range` one iteration after another; stops at the first trap
    /// (its message), when `call.cancel` fires (checked before each
    /// iteration and, by the engine, inside a long one), or, without error,
    /// once `stop` is set.
    fn run_range(
        &mut self,
        call: &CallArgs<'_>,
        range: Range<u32>,
        stop: &AtomicBool,
    ) -> Result<(), RunError>;
}

/// Why an iteration did not finish.
pub(crate) enum RunError {
    /// It trapped (the message says how).
    Trap(String),
    /// [`Cancel`] fired (at iteration `.1`).
    Stopped(Stop, u32),
}

/// The message of an iteration that ran out of fuel (both engines).
fn out_of_fuel(iteration: u32, fuel: Option<u64>) -> String {
    format!(
        "iteration {iteration} ran out of fuel (budget {} per iteration)",
        fuel.unwrap_or(0)
    )
}

/// A worker for `kernel` on the engine it was compiled for. Its
/// instantiation (data segments, a start function) gets `fuel`, the budget
/// of one iteration, when there is one, so that a start function that never
/// returns cannot hang the call (fuzz/README.md, finding 6).
fn build_worker(
    kernel: &Kernel,
    layout: &Layout,
    memfds: &[&Memfd],
    fuel: Option<u64>,
) -> ParResult<Box<dyn KernelWorker>> {
    #[cfg(wp_jit)]
    if let Some(jit) = &kernel.jit {
        return Ok(Box::new(jit::JitWorker::build(jit, layout, memfds, fuel)?));
    }
    Ok(Box::new(interp::InterpWorker::build(
        kernel, layout, memfds, fuel,
    )?))
}

/// One slot of a worker set.
type Slot = Option<Box<dyn KernelWorker>>;

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

/// Workers for one key, and what their calls cost.
struct WorkerSet {
    key: SessionKey,
    slots: Vec<Slot>,
    /// Picoseconds per iteration the calling thread measured on its share
    /// of the last call (workers being built included), when it measured.
    /// (Picoseconds: one-element iterations take under a nanosecond, and
    /// whole nanoseconds rounded them to 0, "no work", so such calls ran
    /// alone for good.)
    iteration_ps: Option<u64>,
    /// Which way this set's calls run faster, measured per size class
    /// (iterations rounded up to a power of two): see [`Split`].
    splits: [Split; 33],
}

/// The size class of a call of `n` iterations (the bit length of `n`).
fn size_class(n: u32) -> usize {
    (u32::BITS - n.leading_zeros()) as usize
}

/// Per worker set: the wall time per iteration of its calls on the
/// calling thread alone and of its calls with every worker (ps, see
/// [`Split::observe`]), and
/// calls since the way not chosen was last tried, for one size class of
/// calls (a call's fixed costs weigh differently at different sizes: LU's
/// steps shrink from 400 rows to 1). Sharing a call can be
/// slower than running it alone for more than the hand-off: workers that
/// write the same cache lines (gramschmidt's R row, one column of a
/// row-major matrix per iteration: 4x slower on 2 threads than on 1 in
/// a VM). So a set whose calls are small enough (under [`TRY_ALONE_NS`]
/// alone) tries both ways and keeps the faster, re-trying the other every
/// [`RETRY_SPLIT`] calls. Calls that run alone because the hand-off costs
/// more than sharing saves ([`small_call`]) share every
/// [`RETRY_SMALL`]th time, so the hand-off estimate is measured again.
#[derive(Default)]
struct Split {
    alone_ps: Option<u64>,
    shared_ps: Option<u64>,
    since_try: u32,
    small_calls: u32,
}

/// Calls whose work alone is estimated above this always use every
/// worker: trying one alone would cost more than a hand-off can.
const TRY_ALONE_NS: u64 = 1_000_000;
/// How often the way not chosen is tried again.
const RETRY_SPLIT: u32 = 32;
/// How often a call too small to share (by the hand-off estimate) shares
/// anyway, to measure the hand-off again (which only shared calls do).
const RETRY_SMALL: u32 = 64;

/// The least work of a chunk when several workers share a call (ps, at
/// the last measured time per iteration): each chunk is an entry into the
/// kernel engine, ~0.1-0.15 us, and a chunk smaller than this only
/// balances the load at the end of a call.
const CHUNK_PS: u64 = 3_000_000;

impl Split {
    /// Whether a call of `work_ns` of work at the caller's last measured
    /// rate runs alone (the hand-off rule aside).
    fn alone(&mut self, work_ns: u64, small: bool) -> bool {
        if small {
            self.small_calls += 1;
            if self.small_calls >= RETRY_SMALL {
                self.small_calls = 0;
                return false;
            }
            return true;
        }
        if work_ns > TRY_ALONE_NS {
            return false;
        }
        let (Some(a), Some(s)) = (self.alone_ps, self.shared_ps) else {
            // Shared measured, alone not yet: try it.
            return self.shared_ps.is_some();
        };
        let alone_faster = a <= s;
        self.since_try += 1;
        if self.since_try >= RETRY_SPLIT {
            self.since_try = 0;
            return !alone_faster;
        }
        alone_faster
    }

    /// Records a call's wall time per iteration for its way: the lower of
    /// the new time and 1.25x the old one, so one call slowed by something
    /// else (a wake-up, another process) cannot decide the next
    /// [`RETRY_SPLIT`] calls on its own, while a way that really got
    /// slower is believed within a few calls. (With the last time alone,
    /// fdtd-2d-cells on 2 threads ran alone at 24.7 ms in one process and
    /// shared at 15.7 ms in the next.)
    fn observe(&mut self, alone: bool, wall_ps_per_iteration: u64) {
        let slot = if alone {
            &mut self.alone_ps
        } else {
            &mut self.shared_ps
        };
        *slot = Some(match *slot {
            Some(old) => wall_ps_per_iteration.min(old.saturating_add(old / 4)),
            None => wall_ps_per_iteration,
        });
    }
}

/// A call whose work (iterations times the measured time of one) is
/// below this runs on the calling thread alone, even with more workers,
/// until the device has measured what a hand-off costs (see
/// [`small_call`]): waking another worker and waiting for it to finish
/// costs about as much (10-20 us on a loaded 2-core VM; BENCHMARKS.md,
/// "Where the CPU device's time goes", item 3), and PolyBench's
/// one-element-per-iteration steps (jacobi-1d, durbin, trisolv) were 2-3x
/// slower on 2 threads than on 1 for it.
const SMALL_CALL_NS: u64 = 20_000;

/// Whether a call of `work_ns` (its iterations at the measured time of
/// one) runs faster on the calling thread alone than on `workers` workers
/// whose hand-off costs `hand_off_ns`: alone it takes `work_ns`, shared
/// `work_ns / workers + hand_off_ns`. With the initial hand-off estimate
/// (`SMALL_CALL_NS / 2`) and two workers that is "under `SMALL_CALL_NS`";
/// where waking a worker costs more (an idle VM's sleeping vCPU), the
/// bound follows.
fn small_call(work_ns: u64, workers: u64, hand_off_ns: u64) -> bool {
    let workers = workers.max(1);
    work_ns - work_ns / workers < hand_off_ns
}

/// The hand-off estimate after a call with `workers` workers took
/// `wall_ns` for `work_ns` of work, from the excess over an even split:
/// halfway down to a lower excess, up by at most a quarter towards a
/// higher one. Slow to rise, because a high estimate makes calls run alone
/// (`small_call`), and calls that run alone do not measure the hand-off
/// (one outlier, a call descheduled for a millisecond, once kept every
/// call under ~250 us of work alone); quick to fall, because a hand-off
/// that got cheaper (a pool thread still spinning) should be used at once.
fn next_hand_off(old: u64, wall_ns: u64, work_ns: u64, workers: u64) -> u64 {
    let excess = wall_ns.saturating_sub(work_ns / workers.max(1));
    if excess <= old {
        (old + excess) / 2
    } else {
        excess.min(old.saturating_add(old / 4).max(1_000))
    }
}

struct CpuSession {
    /// `sets[0]` is the one in use. Boxed: a set is about 1.4 KiB (its
    /// splits), and a stencil that swaps two buffers each call moves the
    /// other set to the front every call.
    #[allow(clippy::vec_box)]
    sets: Vec<Box<WorkerSet>>,
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
    /// The call's buffers, by occurrence.
    buffers: &'a [&'a CpuBuffer],
    block_size: u32,
    num_iterations: u32,
    fuel: Option<u64>,
    cancel: &'a Cancel,
    /// Which worker runs which iterations.
    blocks: schedule::Blocks,
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
    /// Returns how many iterations it ran.
    fn work(&self, w: usize, slot: &mut Slot) -> u64 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.work_inner(w, slot)));
        r.unwrap_or_else(|_| {
            *slot = None;
            self.fail(ParError::device_error("a CPU worker panicked"));
            0
        })
    }

    /// Runs chunks of iterations on `slot`'s worker (building it if needed),
    /// worker `w`'s block first, until none are left or some iteration
    /// failed. On failure the worker is discarded. Returns how many
    /// iterations it ran.
    fn work_inner(&self, w: usize, slot: &mut Slot) -> u64 {
        if slot.is_none() {
            let t = Instant::now();
            // Each placement's memfd (only here: most calls reuse workers).
            let memfds: Vec<&Memfd> = self
                .layout
                .placements
                .iter()
                .map(|p| &*self.buffers[p.first_occurrence].memfd)
                .collect();
            match build_worker(self.kernel, self.layout, &memfds, self.fuel) {
                Ok(w) => *slot = Some(w),
                Err(e) => {
                    self.fail(e);
                    return 0;
                }
            }
            self.setup_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        let worker = slot.as_mut().expect("built");
        let args = CallArgs {
            num_iterations: self.num_iterations,
            block_size: self.block_size,
            fuel: self.fuel,
            cancel: self.cancel,
        };
        let mut done = 0;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return done;
            }
            let Some(Range { start, end }) = self.blocks.grab(w) else {
                return done;
            };
            match worker.run_range(&args, start as u32..end as u32, &self.stop) {
                Ok(()) => done += end - start,
                Err(RunError::Trap(msg)) => {
                    *slot = None;
                    self.fail(ParError::kernel_trap(msg));
                    return done;
                }
                Err(RunError::Stopped(stop, i)) => {
                    // Stopped mid-iteration: its private state is as
                    // unknown as after a trap.
                    *slot = None;
                    self.fail(ParError::kernel_trap(format!(
                        "stopped at iteration {i}: {}",
                        stop.describe()
                    )));
                    return done;
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
        let mut buffers = PerBuffer::<&CpuBuffer>::with_capacity(req.buffers.len());
        for b in req.buffers {
            buffers.push(self.buffer(*b)?);
        }
        let n = req.num_iterations;
        if n == 0 {
            return Ok(ExecStats::default());
        }
        let session = CpuSession::from(session);
        let same = |k: &SessionKey| {
            k.kernel == req.kernel.id && k.buffers.iter().copied().eq(buffers.iter().map(|b| b.id))
        };
        let reused = match session.sets.iter().position(|s| same(&s.key)) {
            Some(i) => {
                session.sets[..=i].rotate_right(1);
                true
            }
            None => {
                let key = SessionKey {
                    kernel: req.kernel.id,
                    buffers: buffers.iter().map(|b| b.id).collect(),
                };
                session.sets.truncate(WORKER_SETS - 1);
                session.sets.insert(
                    0,
                    Box::new(WorkerSet {
                        key,
                        slots: Vec::new(),
                        iteration_ps: None,
                        splits: std::array::from_fn(|_| Split::default()),
                    }),
                );
                false
            }
        };
        let set = &mut session.sets[0];
        let most = (self.threads as u64).min(n as u64) as usize;
        // The calling thread measures its share when it may work with others
        // (not for one iteration: nothing to share).
        let measure = self.pool.is_some() && most > 1 && self.caller_works;
        let hand_off = self.hand_off_ns.load(Ordering::Relaxed);
        let small = measure
            && set.iteration_ps.is_some_and(|ps| {
                let work = ps.saturating_mul(n as u64) / 1000;
                let small = small_call(work, most as u64, hand_off);
                set.splits[size_class(n)].alone(work, small)
            });
        let nworkers = if small { 1 } else { most };
        // The call's wall time, for the split and hand-off estimates (a
        // clock read only where the calling thread measures).
        let started = measure.then(Instant::now);
        let workers = &mut set.slots;
        if workers.len() < nworkers {
            workers.resize_with(nworkers, || None);
        }
        // One worker takes the whole range at once: chunks only balance
        // the load between workers, and each costs an entry into the
        // engine (and a clock read on the JIT), about 0.15 us: with 32
        // fixed chunks per worker that was most of the cost of a small call
        // (BENCHMARKS.md, "Where the CPU device's time goes", item 3).
        // Several workers take chunks of their blocks (`schedule`) of at
        // least CHUNK_PS of work at the last measured rate.
        let min_chunk = match set.iteration_ps {
            _ if nworkers == 1 => n as u64,
            Some(ps) => CHUNK_PS / ps.max(1),
            None => 1,
        };
        let state = CallState {
            kernel: req.kernel,
            layout: req.layout,
            buffers: &buffers,
            block_size: req.block_size,
            num_iterations: n,
            fuel: req.fuel,
            cancel: req.cancel,
            blocks: schedule::Blocks::new(n, nworkers, min_chunk),
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
            setup_nanos: AtomicU64::new(0),
        };
        let mut caller = None;
        let timed = |slot: &mut Slot| {
            let t = Instant::now();
            let done = state.work(0, slot);
            (done > 0).then(|| (t.elapsed().as_nanos() as u64).saturating_mul(1000) / done)
        };
        match (&self.pool, nworkers) {
            (Some(pool), w) if w > 1 && self.caller_works => {
                // The calling thread is the first worker: one hand-off
                // fewer per call (the guest's thread would only wait), so
                // many small calls cost less (BENCHMARKS.md, "PolyBench").
                // Pool threads still spinning after the last shared call
                // take their share directly (`linger`); the others are
                // woken through rayon.
                let state = &state;
                let (first, rest) = workers[..nworkers].split_first_mut().expect("w > 1");
                let linger = self.linger.as_deref();
                caller = share(pool, linger, state, 1, rest, || timed(first));
            }
            (Some(pool), w) if w > 1 => {
                let state = &state;
                pool.scope(|s| spawn_all(s, state, 0, &mut workers[..nworkers], || ()));
            }
            // One worker: run on the calling thread (no hand-off cost).
            _ if measure => caller = timed(&mut workers[0]),
            _ => {
                state.work(0, &mut workers[0]);
            }
        }
        // Pool threads linger after every call that could have used them,
        // shared or not: a call that ran alone because waking a thread
        // costs more than sharing saves finds them awake next time, and
        // its periodic shared try measures the cheap hand-off, so a burst
        // of small calls can share (as OpenMP's spinning threads do).
        if let (true, Some(pool), Some(l)) = (measure, &self.pool, &self.linger) {
            l.rearm(pool);
        }
        if let (Some(ps), Some(started)) = (caller, started) {
            set.iteration_ps = caller;
            // Learn from calls whose workers were not being built (a
            // one-time cost): which way this size runs faster, and (from
            // shared calls, the caller's time per iteration standing for
            // every worker's) what a hand-off costs.
            if state.setup_nanos.load(Ordering::Relaxed) == 0 {
                let wall = started.elapsed().as_nanos() as u64;
                set.splits[size_class(n)]
                    .observe(nworkers == 1, wall.saturating_mul(1000) / n as u64);
                if nworkers > 1 {
                    let work = ps.saturating_mul(n as u64) / 1000;
                    self.hand_off_ns.store(
                        next_hand_off(hand_off, wall, work, nworkers as u64),
                        Ordering::Relaxed,
                    );
                }
            }
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

/// Runs `rest`'s workers (worker numbers `w`, `w + 1`, ...) on claimed
/// lingerers (nested, so each claim's job is done before this returns)
/// while `here` (the calling thread's share, worker 0) runs. Workers no
/// lingerer takes become jobs of one rayon scope, opened only then: a
/// scope entered from outside the pool costs a futex wake-up when it ends
/// (its latch's condition variable), which was a quarter of the cost of
/// a small shared call.
fn share<R>(
    pool: &rayon::ThreadPool,
    linger: Option<&linger::Linger>,
    state: &CallState<'_>,
    w: usize,
    rest: &mut [Slot],
    here: impl FnOnce() -> R,
) -> R {
    let Some((slot, more)) = rest.split_first_mut() else {
        return here();
    };
    match linger.and_then(|l| l.claim()) {
        Some(claim) => claim.run(
            || {
                state.work(w, slot);
            },
            || share(pool, linger, state, w + 1, more, here),
        ),
        None => pool.in_place_scope(|s| spawn_all(s, state, w, rest, here)),
    }
}

/// Spawns `rest`'s workers (numbers from `w`) as jobs of `scope`, then
/// runs `here`.
fn spawn_all<'s, R>(
    scope: &rayon::Scope<'s>,
    state: &'s CallState<'s>,
    w: usize,
    rest: &'s mut [Slot],
    here: impl FnOnce() -> R,
) -> R {
    for (k, slot) in rest.iter_mut().enumerate() {
        scope.spawn(move |_| {
            state.work(w + k, slot);
        });
    }
    here()
}

#[cfg(test)]
mod tests {
    use super::{
        next_hand_off, small_call, Split, RETRY_SMALL, RETRY_SPLIT, SMALL_CALL_NS, TRY_ALONE_NS,
    };

    #[test]
    fn a_set_tries_running_alone_and_keeps_the_faster_way() {
        let mut s = Split::default();
        // Too small to share by the hand-off estimate: alone, but shared
        // every RETRY_SMALL calls (to measure the hand-off again).
        let small: Vec<bool> = (0..RETRY_SMALL).map(|_| s.alone(1_000, true)).collect();
        assert_eq!(small.iter().filter(|&&a| !a).count(), 1);
        // Nothing measured: every worker (the first call measures that).
        assert!(!s.alone(50_000, false));
        s.observe(false, 800);
        // Shared measured: alone is tried next.
        assert!(s.alone(50_000, false));
        s.observe(true, 400);
        // Alone was faster: it stays, but the shared way is re-tried.
        let tries: Vec<bool> = (0..RETRY_SPLIT).map(|_| s.alone(50_000, false)).collect();
        assert_eq!(tries.iter().filter(|&&a| !a).count(), 1, "{tries:?}");
        // When sharing measures faster, it wins.
        s.observe(false, 100);
        assert!(!s.alone(50_000, false));
        // One slow shared call (a wake-up) raises the shared estimate by
        // at most a quarter: sharing (125) still beats alone (400).
        s.observe(false, 5_000);
        assert!(!s.alone(50_000, false));
        // A way that stays slower is believed after a few calls.
        for _ in 0..8 {
            s.observe(false, 5_000);
        }
        assert!(s.alone(50_000, false));
        // A call too large to try alone always shares.
        s.observe(true, 10);
        assert!(!s.alone(TRY_ALONE_NS + 1, false));
    }

    #[test]
    fn a_call_runs_alone_while_sharing_it_costs_more_than_it_saves() {
        // The initial estimate: two workers, under SMALL_CALL_NS alone.
        let h = SMALL_CALL_NS / 2;
        assert!(small_call(SMALL_CALL_NS - 2, 2, h));
        assert!(!small_call(SMALL_CALL_NS + 2, 2, h));
        // Four workers save 3/4 of the work: the bound is lower.
        assert!(!small_call(SMALL_CALL_NS, 4, h));
        assert!(small_call(h, 4, h));
        // One worker: nothing to share.
        assert!(!small_call(1_000_000, 1, 0));
        // Measured: 50 us of work took 60 us on 2 workers (a 35 us
        // hand-off); after a few such calls the same call runs alone.
        let mut est = h;
        for _ in 0..32 {
            est = next_hand_off(est, 60_000, 50_000, 2);
        }
        assert_eq!(est, 35_000);
        // One outlier (a call descheduled for 1 ms) moves it a quarter.
        assert_eq!(next_hand_off(10_000, 1_000_000, 50_000, 2), 12_500);
        assert!(small_call(50_000, 2, est));
        assert!(!small_call(100_000, 2, est));
        // Calls that split well bring the estimate back down, quickly.
        for _ in 0..8 {
            est = next_hand_off(est, 51_000, 100_000, 2);
        }
        assert!(est < 2_000, "{est}");
        assert!(!small_call(20_000, 2, est));
    }
}
