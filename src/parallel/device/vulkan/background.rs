//! Pipelines built in the background: the adaptive policy asks a Vulkan
//! device whether it could run a kernel now ([`Builds::status`]); when the
//! pipeline is not built yet and the policy's build budget allows a build,
//! the request is queued for one builder thread per device and the call
//! runs elsewhere meanwhile. The logical device itself is created there
//! too when the policy first asks ([`Builds::make_device`]), followed by
//! the pipeline of the kernel that asked.
//!
//! Deferred start: a queued request is handed to the builder thread only
//! by [`Builds::start_queued`], which the runtime calls when a call has
//! returned, so the call that asked for a build (the first call of a new
//! kernel, often) has the cores to itself; later calls run while the build
//! goes on. Each build's wall time (warm-up included) is reported back
//! there too, for the build budget's expected cost. A kernel whose build fails (the translator or
//! the driver declines it) is remembered with the reason and never queued
//! again. After a build, the builder dispatches the new pipeline once
//! with nothing to do (`Gpu::warm_up`): llvmpipe compiles a shader at its
//! first dispatch, and that compile belongs off the calls as well. The
//! kernel is `Ready` only after that.
//!
//! The thread runs at the process's priority while a build is within
//! `DEMOTE_AFTER` (4) times its expected cost (the build budget's estimate)
//! and at the lowest (nice 19) once it overruns that, until it ends
//! (`Builds::demote_overrun`, checked after each call). A demoted thread
//! then retires, and the next call starts a fresh builder (which inherits
//! the calling thread's priority) on the same queue: raising a thread's
//! priority back needs `CAP_SYS_NICE` or `RLIMIT_NICE`, so without them
//! every later build would have run at nice 19. The builder is started on
//! the first request and joined when the device is dropped: queued builds
//! are then skipped, and a build in progress finishes first (a driver
//! cannot stop a pipeline build, and tearing the device down under it is
//! not safe).

use super::gpu::{Gpu, Variant};
use crate::parallel::device::MeasuredBuild;
use crate::parallel::errno::ParError;
use crate::parallel::kernel::Kernel;
use crate::parallel::placement::model::{BuildEstimate, Status};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What identifies one pipeline.
type BuildKey = (u64, usize, Variant);

/// The logical device as the builder thread sees it (shared with the
/// `VulkanDevice`).
pub type SharedGpu = Arc<OnceLock<Result<Gpu, String>>>;

/// Makes the logical device (on the builder thread, the first time).
pub type MakeGpu = Box<dyn FnOnce() -> Result<Gpu, String> + Send>;

/// The pipeline to build right after the logical device is made: the
/// call's parameters that pick the variant.
pub struct FollowUp {
    /// The kernel.
    pub kernel: Arc<Kernel>,
    /// Its call's buffer count.
    pub num_buffers: usize,
    /// Its call's iterations.
    pub num_iterations: u32,
    /// Its call's block size.
    pub block_size: u32,
    /// Whether the call is fuel-limited.
    pub fuel: bool,
}

enum Job {
    /// Create the logical device, then build one pipeline.
    Device(MakeGpu, Option<FollowUp>),
    /// Build one pipeline.
    Pipeline {
        kernel: Arc<Kernel>,
        num_buffers: usize,
        variant: Variant,
    },
}

#[derive(Default)]
struct Progress {
    /// Queued or being built.
    building: HashSet<BuildKey>,
    /// Builds that failed, with the reason.
    failed: HashMap<BuildKey, String>,
    /// Builds finished since the device was made (for tests and stats).
    finished: u64,
    /// Builds finished since [`Builds::start_queued`] last took them.
    measured: Vec<MeasuredBuild>,
    /// The logical device is being created on the builder thread.
    making_device: bool,
    /// The device is being dropped: queued builds are skipped.
    closing: bool,
}

/// The background builds of one device.
#[derive(Default)]
pub struct Builds {
    progress: Arc<Mutex<Progress>>,
    worker: Mutex<Option<(Sender<Job>, JoinHandle<()>)>>,
    /// Requests not handed to the builder thread yet.
    queued: Mutex<Vec<Job>>,
    /// Set when a request is queued or a build finished: `start_queued`
    /// has something to do (a lock-free check on every call otherwise).
    attention: Arc<AtomicBool>,
    /// The builder thread's priority state, for demoting a build that
    /// overruns its expected cost ([`Builds::start_queued`]).
    priority: Arc<BuilderPriority>,
    /// The queue's receiving end, left by a builder thread that retired
    /// after a demoted build, for the next one.
    retired: Arc<Mutex<Option<Receiver<Job>>>>,
}

/// The builder thread's id and its current build's start.
#[derive(Default)]
struct BuilderPriority {
    /// Linux thread id of the builder (0 until it runs).
    tid: AtomicI32,
    /// The nice value of the thread that started the builder (a guest's
    /// thread: what the process runs at), which the builder's nice values
    /// are relative to. (Linux keeps a nice value per thread: a demoted
    /// builder asking for its own would get 19.)
    base: AtomicI32,
    /// When the build in progress started (ns after [`epoch`]; 0: none).
    started_ns: AtomicU64,
    /// The code size of the kernel being built (bytes), which its expected
    /// cost grows with.
    code_bytes: AtomicU64,
    /// The build in progress was demoted.
    demoted: AtomicBool,
}

/// The process-wide zero of `BuilderPriority::started_ns`.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    (epoch().elapsed().as_nanos() as u64).max(1)
}

impl Builds {
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        // Plain sets: usable after a panic elsewhere.
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `gpu` can run `kernel` with `variant` now; if its pipeline
    /// is neither built nor failed, queues the build and answers `Building`
    /// when `may_build`, else answers `Unbuilt`.
    pub fn status(
        &self,
        gpu: &Gpu,
        kernel: &Arc<Kernel>,
        num_buffers: usize,
        variant: Variant,
        may_build: bool,
    ) -> Status {
        let key = (kernel.hash, num_buffers, variant);
        {
            let mut p = self.progress();
            // Still building or warming up (see `build`), even when the
            // pipeline itself is already in the device's cache.
            if p.building.contains(&key) {
                return Status::Building;
            }
            // A failed warm-up leaves a built pipeline behind: still declined.
            if let Some(why) = p.failed.get(&key) {
                return Status::Declined(why.clone());
            }
            if gpu.has_pipeline(&kernel.bytes, kernel.hash, num_buffers, variant) {
                return Status::Ready;
            }
            if !may_build {
                return Status::Unbuilt;
            }
            p.building.insert(key);
        }
        self.queue(Job::Pipeline {
            kernel: kernel.clone(),
            num_buffers,
            variant,
        });
        Status::Building
    }

    /// Queues the creation of the logical device on the builder thread
    /// (once), then the build of `then`, so that the call asking does not
    /// wait for them; `Building` meanwhile.
    pub fn make_device(&self, make: MakeGpu, then: Option<FollowUp>) -> Status {
        {
            let mut p = self.progress();
            if p.making_device {
                return Status::Building;
            }
            p.making_device = true;
        }
        self.queue(Job::Device(make, then));
        Status::Building
    }

    fn queue(&self, job: Job) {
        self.queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(job);
        self.attention.store(true, Ordering::Release);
    }

    /// Hands the queued requests to the builder thread (starting it the
    /// first time), and returns the wall times of the builds finished
    /// since the last call, each with its kernel's code size. Called after
    /// each adaptive call has returned.
    pub fn start_queued(
        &self,
        shared: &SharedGpu,
        expected: Option<BuildEstimate>,
    ) -> Vec<MeasuredBuild> {
        let bytes = self.priority.code_bytes.load(Ordering::Relaxed);
        self.demote_overrun(expected.map(|e| e.for_code(bytes)));
        self.replace_retired(shared);
        if !self.attention.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        let jobs = std::mem::take(&mut *self.queued.lock().unwrap_or_else(|p| p.into_inner()));
        for job in jobs {
            let pipeline = match &job {
                Job::Pipeline {
                    kernel,
                    num_buffers,
                    variant,
                } => Some((kernel.hash, *num_buffers, *variant)),
                Job::Device(..) => None,
            };
            if let Err(why) = self.send(shared, job) {
                let mut p = self.progress();
                match pipeline {
                    Some(key) => {
                        p.building.remove(&key);
                        p.failed.insert(key, why);
                    }
                    None => {
                        // The policy sees the device as declined from now on.
                        let _ = shared.set(Err(why));
                        p.making_device = false;
                    }
                }
            }
        }
        std::mem::take(&mut self.progress().measured)
    }

    /// Demotes the builder thread to the lowest priority when the build in
    /// progress has run longer than [`DEMOTE_AFTER`] times its `expected`
    /// cost (checked after each call): the build budget paid for about that much of the cores, and a
    /// build that needs far more (matmul's 0.5 s on lavapipe after a 50 ms
    /// prior) would otherwise take it from every call until it ends.
    fn demote_overrun(&self, expected: Option<Duration>) {
        let pr = &self.priority;
        let started = pr.started_ns.load(Ordering::Relaxed);
        let Some(expected) = expected else { return };
        if started == 0 || pr.demoted.load(Ordering::Relaxed) {
            return;
        }
        let limit = (expected.as_nanos() as f64 * DEMOTE_AFTER) as u64;
        if now_ns().saturating_sub(started) > limit {
            pr.demoted.store(true, Ordering::Relaxed);
            set_nice(pr.tid.load(Ordering::Relaxed), 19);
        }
    }

    /// Builds finished so far (successful or not).
    pub fn finished(&self) -> u64 {
        self.progress().finished
    }

    /// Whether the device or a pipeline is being made or queued.
    pub fn busy(&self) -> bool {
        let p = self.progress();
        p.making_device || !p.building.is_empty()
    }

    /// Starts a fresh builder thread on the queue a retired one left (see
    /// the module docs), if one did.
    fn replace_retired(&self, shared: &SharedGpu) {
        let Some(rx) = self
            .retired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let mut worker = self.worker.lock().unwrap_or_else(|p| p.into_inner());
        let Some((tx, old)) = worker.take() else {
            return; // dropped meanwhile: nothing to build for
        };
        // It has left its loop: the join is short.
        let _ = old.join();
        match self.spawn(shared, rx) {
            Ok(handle) => *worker = Some((tx, handle)),
            Err(why) => {
                // Nothing builds from now on: what is queued, and later
                // requests, fail with the reason.
                drop(tx);
                let mut p = self.progress();
                let keys: Vec<BuildKey> = p.building.drain().collect();
                for key in keys {
                    p.failed.insert(key, why.clone());
                }
            }
        }
    }

    fn send(&self, shared: &SharedGpu, job: Job) -> Result<(), String> {
        let mut worker = self.worker.lock().unwrap_or_else(|p| p.into_inner());
        if worker.is_none() {
            let (tx, rx) = channel::<Job>();
            let handle = self.spawn(shared, rx)?;
            *worker = Some((tx, handle));
        }
        let (tx, _) = worker.as_ref().expect("started above");
        tx.send(job)
            .map_err(|_| "the pipeline builder thread is gone".to_string())
    }

    /// Starts a builder thread taking jobs from `rx`, at the calling
    /// thread's priority (the base its demotion is relative to).
    fn spawn(&self, shared: &SharedGpu, rx: Receiver<Job>) -> Result<JoinHandle<()>, String> {
        let shared = shared.clone();
        let progress = self.progress.clone();
        let attention = self.attention.clone();
        let priority = self.priority.clone();
        let retired = self.retired.clone();
        priority.base.store(current_nice(), Ordering::Relaxed);
        priority.demoted.store(false, Ordering::Relaxed);
        std::thread::Builder::new()
            .name("wasi-parallel-vk-build".into())
            .spawn(move || {
                priority.tid.store(own_tid(), Ordering::Relaxed);
                set_nice(own_tid(), priority.base_nice());
                while let Ok(job) = rx.recv() {
                    run_job(&shared, &progress, &priority, job);
                    attention.store(true, Ordering::Release);
                    if priority.demoted.load(Ordering::Relaxed) {
                        // Retire: the next call starts a fresh builder at
                        // the base priority on this queue.
                        *retired.lock().unwrap_or_else(|p| p.into_inner()) = Some(rx);
                        return;
                    }
                }
            })
            .map_err(|e| format!("cannot start the pipeline builder thread: {e}"))
    }
}

/// One job on the builder thread.
fn run_job(shared: &SharedGpu, progress: &Mutex<Progress>, priority: &BuilderPriority, job: Job) {
    let next = match job {
        Job::Device(make, then) => {
            // `get_or_init`: a caller that needs the device meanwhile waits
            // for this one.
            let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = shared.get_or_init(make);
            }));
            if made.is_err() {
                let _ = shared.set(Err("creating the Vulkan device panicked".into()));
            }
            follow_up(shared, progress, then)
        }
        Job::Pipeline {
            kernel,
            num_buffers,
            variant,
        } => {
            let mut p = progress.lock().unwrap_or_else(|p| p.into_inner());
            if p.closing {
                p.building.remove(&(kernel.hash, num_buffers, variant));
                None
            } else {
                Some((kernel, num_buffers, variant))
            }
        }
    };
    if let Some((kernel, num_buffers, variant)) = next {
        build(shared, progress, priority, kernel, num_buffers, variant);
    }
}

/// How much nicer than the process the builder thread runs while its build
/// is within [`DEMOTE_AFTER`] times its expected cost: not at all. The
/// build budget decided the build is worth that much of the cores, and the
/// sooner it ends the sooner calls move (at +5, compute's build took 2-3 of
/// its 76 ms calls; on lavapipe the build runs on the cores the calls use).
const BASE_NICE: i32 = 0;

/// A build running longer than this many times its expected cost drops to
/// the lowest priority (nice 19) until it ends: it keeps going while the
/// cores are idle, and stops taking them from the calls. Over the placement
/// bench (5 runs each, idle): the whole run 1.29x of the best device's
/// run at a constant +5, 1.23x with 0 and this (3x: 1.31x, 2x: 1.23x over
/// 2 runs, no demotion: 1.245x over 2; BENCHMARKS.md).
const DEMOTE_AFTER: f64 = 4.0;

/// This thread's Linux thread id (0 elsewhere).
fn own_tid() -> i32 {
    #[cfg(target_os = "linux")]
    // SAFETY: a plain system call without arguments.
    unsafe {
        libc::syscall(libc::SYS_gettid) as i32
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// The calling thread's nice value (0 where it cannot be read).
fn current_nice() -> i32 {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls, no pointers but errno's own location.
    unsafe {
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, 0);
        if *libc::__errno_location() == 0 {
            return nice;
        }
    }
    0
}

/// Sets thread `tid`'s nice value (at most 19); Linux applies
/// `setpriority` to one thread by its id. Nothing for tid 0. Going back
/// down needs `RLIMIT_NICE` or `CAP_SYS_NICE`; without them the call fails
/// and the value stays (so a demoted builder retires instead).
fn set_nice(tid: i32, nice: i32) {
    #[cfg(target_os = "linux")]
    if tid > 0 {
        // SAFETY: a plain system call on a thread id, no pointers; a
        // failure only leaves the priority as it was.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice.min(19));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (tid, nice);
}

impl BuilderPriority {
    /// The builder's nice value within its expected cost.
    fn base_nice(&self) -> i32 {
        self.base.load(Ordering::Relaxed) + BASE_NICE
    }
}

/// After the device was made: ends `making_device` and claims the build
/// of `then`'s pipeline (its key put in `building` under the same lock, so
/// a call that asks meanwhile finds it building), unless it is built,
/// failed, declined or claimed by a call already.
fn follow_up(
    shared: &SharedGpu,
    progress: &Mutex<Progress>,
    then: Option<FollowUp>,
) -> Option<(Arc<Kernel>, usize, Variant)> {
    let mut p = progress.lock().unwrap_or_else(|p| p.into_inner());
    p.making_device = false;
    let (Some(Ok(gpu)), Some(f)) = (shared.get(), then) else {
        return None;
    };
    if p.closing || gpu.check_declined_at(f.kernel.hash, f.block_size).is_err() {
        return None;
    }
    let variant = gpu.variant(f.num_iterations, f.fuel);
    let key = (f.kernel.hash, f.num_buffers, variant);
    if p.building.contains(&key)
        || p.failed.contains_key(&key)
        || gpu.has_pipeline(&f.kernel.bytes, f.kernel.hash, f.num_buffers, variant)
    {
        return None;
    }
    p.building.insert(key);
    Some((f.kernel, f.num_buffers, variant))
}

fn build(
    shared: &SharedGpu,
    progress: &Mutex<Progress>,
    priority: &BuilderPriority,
    kernel: Arc<Kernel>,
    num_buffers: usize,
    variant: Variant,
) {
    let key = (kernel.hash, num_buffers, variant);
    // Timed for `Builds::demote_overrun` (a demoted thread retires after
    // its build, so every build starts at the base priority).
    priority
        .code_bytes
        .store(kernel.code_bytes, Ordering::Relaxed);
    priority.started_ns.store(now_ns(), Ordering::Relaxed);
    let t = Instant::now();
    let mut measured = None;
    let result = match shared.get() {
        Some(Ok(gpu)) => {
            let loaded = crate::spirv::LoadedKernel {
                region_size: kernel.private_size,
                num_buffers: kernel.num_buffer_params,
            };
            // A panic in the translator or the driver wrapper must not
            // take the thread (and every later build) with it.
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                gpu.compile(&kernel.bytes, kernel.hash, num_buffers, variant, &loaded)
            }));
            let result = match built {
                // The first dispatch, so that the driver's own compile
                // (llvmpipe's, at first dispatch) happens here too.
                Ok(Ok((compiled, _))) => {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        gpu.warm_up(&compiled, num_buffers)
                    }))
                    .unwrap_or_else(|_| {
                        Err(ParError::device_error("the warm-up dispatch panicked"))
                    })
                    .map_err(|e| format!("the warm-up dispatch failed: {}", e.message))
                }
                Ok(Err(e)) => Err(e.message),
                Err(_) => Err("the pipeline build panicked".to_string()),
            };
            // What it cost, failed or not (a declined build cost the time
            // it took to decline).
            measured = Some(t.elapsed());
            result
        }
        Some(Err(e)) => Err(e.clone()),
        None => Err("the Vulkan device was never created".to_string()),
    };
    priority.started_ns.store(0, Ordering::Relaxed);
    let mut p = progress.lock().unwrap_or_else(|p| p.into_inner());
    p.building.remove(&key);
    p.finished += 1;
    p.measured.extend(measured.map(|took| MeasuredBuild {
        took,
        kernel: kernel.hash,
        code_bytes: kernel.code_bytes,
    }));
    if let Err(why) = result {
        p.failed.insert(key, why);
    }
}

impl Drop for Builds {
    fn drop(&mut self) {
        // Queued builds are skipped; one in progress finishes first.
        self.progress().closing = true;
        let worker = self.worker.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some((tx, handle)) = worker.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    //! The builder's priority rule on a real thread (no GPU needed).
    use super::*;

    fn nice_of(tid: i32) -> i32 {
        // SAFETY: a plain system call on a thread id.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) }
    }

    /// A build within 4x its expected cost keeps the base priority; past
    /// it the builder thread drops to nice 19, once; nothing happens
    /// without a budget or without a build in progress.
    #[test]
    fn a_build_that_overruns_its_expected_cost_is_demoted() {
        let builds = Builds::default();
        let pr = builds.priority.clone();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel::<i32>();
        let t = std::thread::spawn(move || {
            set_nice(own_tid(), current_nice() + BASE_NICE);
            tid_tx.send(own_tid()).unwrap();
            let _ = rx.recv();
        });
        let tid = tid_rx.recv().unwrap();
        pr.tid.store(tid, Ordering::Relaxed);
        pr.base.store(current_nice(), Ordering::Relaxed);
        let base = nice_of(tid);
        assert_eq!(base, pr.base_nice());
        let ms = Duration::from_millis(1);
        // No build in progress: nothing.
        builds.demote_overrun(Some(ms));
        assert_eq!(nice_of(tid), base);
        // A build running for 100 ms, expected to cost 50 ms: within 4x.
        pr.started_ns.store(now_ns(), Ordering::Relaxed);
        std::thread::sleep(100 * ms);
        builds.demote_overrun(Some(50 * ms));
        assert_eq!(nice_of(tid), base);
        // Without a budget: never.
        builds.demote_overrun(None);
        assert_eq!(nice_of(tid), base);
        // Expected 20 ms: 100 ms is past 4x.
        builds.demote_overrun(Some(20 * ms));
        assert_eq!(nice_of(tid), 19);
        assert!(pr.demoted.load(Ordering::Relaxed));
        // The level a next build goes back to is still the starter's, not
        // the demoted thread's own 19.
        assert_eq!(pr.base_nice(), base);
        drop(tx);
        t.join().unwrap();
    }

    /// Polls `f` for up to 10 s.
    fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let t = Instant::now();
        while !f() {
            assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A builder thread demoted during its job retires after it; the next
    /// call starts a fresh one at the base priority (a demoted thread
    /// could not go back without CAP_SYS_NICE), which runs what was
    /// queued meanwhile.
    #[test]
    fn a_demoted_builder_retires_and_a_fresh_one_takes_the_queue() {
        use crate::parallel::kernel::{BoundsChecks, KernelCompilers, KernelEngine};
        let builds = Builds::default();
        let shared: SharedGpu = Arc::new(OnceLock::new());
        let pr = builds.priority.clone();
        let base = current_nice();
        let first = Arc::new(AtomicI32::new(0));
        let (pr2, first2) = (pr.clone(), first.clone());
        // The "device" job stands for a build that overran: it is demoted
        // (nice 19) while it runs.
        let make: MakeGpu = Box::new(move || {
            first2.store(own_tid(), Ordering::Relaxed);
            set_nice(own_tid(), 19);
            pr2.demoted.store(true, Ordering::Relaxed);
            Err("no device in this test".into())
        });
        builds.send(&shared, Job::Device(make, None)).unwrap();
        wait_for("the first builder retires", || {
            builds.retired.lock().unwrap().is_some()
        });
        let old = first.load(Ordering::Relaxed);
        assert!(old > 0);
        // A job queued while no builder runs waits in the queue.
        let compilers = KernelCompilers::new(
            KernelEngine::Interpreter,
            false,
            false,
            BoundsChecks::Explicit,
        )
        .unwrap();
        let wasm = wat::parse_str(
            r#"(module (memory (import "" "memory") 1) (func (export "kernel") (param i32 i32 i32)))"#,
        )
        .unwrap();
        let kernel = Arc::new(Kernel::compile(&compilers, &wasm, 7).unwrap());
        let variant = Variant {
            fuel: false,
            workgroup_size: 64,
        };
        let (tx, _) = builds
            .worker
            .lock()
            .unwrap()
            .as_ref()
            .map(|(t, _)| (t.clone(), ()))
            .unwrap();
        tx.send(Job::Pipeline {
            kernel,
            num_buffers: 0,
            variant,
        })
        .unwrap();
        // The next call's `start_queued` starts a fresh builder.
        builds.start_queued(&shared, None);
        assert!(builds.retired.lock().unwrap().is_none());
        wait_for("the queued build ran", || builds.finished() == 1);
        let new = pr.tid.load(Ordering::Relaxed);
        assert_ne!(new, old, "a fresh thread");
        assert_eq!(nice_of(new), base + BASE_NICE);
        assert!(!pr.demoted.load(Ordering::Relaxed));
        // The build failed (no device), and says why.
        let p = builds.progress();
        assert_eq!(p.failed.len(), 1);
        assert!(
            p.failed.values().all(|w| w == "no device in this test"),
            "{:?}",
            p.failed
        );
    }
}
