//! One kernel call once `ParallelContext` validated the guest's arguments:
//! kernel cache lookup (decode, check and compile on a miss), the buffers'
//! layout, the placement (which device runs it: [`super::placement`]), the
//! buffers made resident there, the device's exec, the CPU rerun when a GPU
//! declines the kernel, and the call's statistics.

use super::cancel::Cancel;
use super::device::{DeviceBuffer, DeviceSession, ExecRequest, ExecStats};
use super::errno::{Errno, ParResult};
use super::handles::{BufferAccess, HandleTable};
use super::kernel::cache::{CacheOutcome, RecentKernels};
use super::kernel::layout::{Layout, PerBuffer};
use super::kernel::{Kernel, KernelEngine};
use super::placement::model::{Candidate, Key, Plan, Reason, Status};
use super::placement::residency::Move;
use super::placement::{Decision, DevicePolicy};
use super::stats::{CallRecord, ParallelStats};
use super::ParallelRuntime;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A validated `parallel_exec`: device index, kernel bytes and buffers are
/// this instance's and in range.
pub(crate) struct Call<'a> {
    /// Index of the device the guest named.
    pub device: usize,
    /// The kernel module's bytes (in guest memory).
    pub kernel: &'a [u8],
    pub num_iterations: u32,
    pub block_size: u32,
    /// Every occurrence's handle, inputs then outputs; each a buffer of
    /// `device` in the instance's handle table.
    pub buffers: &'a [u32],
    /// The instance's interrupt flag and the deadlines (see `cancel`).
    pub cancel: &'a Cancel,
}

/// A call's kernel and buffers, ready for a device.
struct Prepared<'a> {
    call: &'a Call<'a>,
    kernel: Arc<Kernel>,
    layout: Layout,
    /// The handle of each placement (each buffer once).
    unique: PerBuffer<u32>,
}

/// What running on one device produced.
struct Ran {
    result: ParResult<ExecStats>,
    /// The copies made to run there.
    moves: Vec<Move>,
    /// Time of the device's `exec` (measured only for the adaptive
    /// policy's model, zero otherwise: a clock read costs ~40 ns in a VM).
    exec_time: Duration,
    /// When it returned.
    ended: Instant,
}

impl ParallelRuntime {
    /// Runs `call` where the placement sends it, making its buffers
    /// resident there, and records it in `stats`. `sessions` are the
    /// instance's device sessions, by device index.
    pub(crate) fn dispatch(
        &self,
        call: &Call<'_>,
        handles: &mut HandleTable,
        sessions: &mut [DeviceSession],
        recent: &mut RecentKernels,
        stats: &mut ParallelStats,
    ) -> ParResult<()> {
        let (kernel, cache_hit, compile_time) = self.load_kernel(call.kernel, recent, stats)?;
        kernel.check_buffer_count(call.buffers.len())?;
        let keyed: PerBuffer<(u32, u64)> = call
            .buffers
            .iter()
            .map(|&h| (h, handles.buffer(h).expect("validated").copies.size()))
            .collect();
        let layout = Layout::compute(kernel.private_size, &keyed)?;
        let unique = layout
            .placements
            .iter()
            .map(|p| call.buffers[p.first_occurrence])
            .collect();
        let p = Prepared {
            call,
            kernel,
            layout,
            unique,
        };
        let mut record = CallRecord {
            device: self.devices[call.device].info().kind,
            device_index: call.device,
            engine: self.engine_of(call.device, &p.kernel),
            kernel_hash: p.kernel.hash,
            num_iterations: call.num_iterations,
            cache_hit,
            compile_time: if cache_hit {
                Duration::ZERO
            } else {
                compile_time
            },
            run_time: Duration::ZERO,
            setup_time: Duration::ZERO,
            copy_time: Duration::ZERO,
            copied_bytes: 0,
            workers: 0,
            reused_workers: false,
            fallback: None,
            reason: Reason::Hint,
            estimates: Vec::new(),
            errno: Errno::Success,
        };
        if call.num_iterations == 0 {
            stats.record(record, 0, &self.infos);
            return Ok(());
        }

        let t = Instant::now();
        let (decision, key, unbuilt) = self.place(&p, handles);
        record.reason = decision.reason;
        record.estimates = decision.estimates.clone();
        let d = decision.device;
        let timed = key.is_some();
        let mut ran = self.run_on(d, &p, handles, &mut sessions[d], timed);
        let mut ran_on = d;
        if let Err(e) = &ran.result {
            let dev = self.devices[d].info();
            // The adaptive policy also reruns on the CPU device a call the
            // GPU had no memory for (not for good: a later call may fit) or
            // lost the device in (for good, for this kernel).
            let adaptive = key.is_some() && d != self.cpu;
            let full = adaptive && e.errno == Errno::ResourceExhausted;
            let lost = adaptive && e.errno == Errno::DeviceError;
            if (e.errno == Errno::Unsupported || full || lost) && dev.kind.is_gpu() {
                let why = format!("{} cannot run this kernel: {}", dev.name, e.message);
                if !full {
                    self.placer.decline(p.kernel.hash, d, e.message.clone());
                }
                if key.is_some() || self.config.gpu_fallback {
                    record.fallback = Some(why);
                    if key.is_some() {
                        record.reason = Reason::Declined;
                    }
                    let before = ran.moves;
                    ran = self.run_on(self.cpu, &p, handles, &mut sessions[self.cpu], timed);
                    ran.moves.extend(before);
                    ran_on = self.cpu;
                }
            }
        }
        record.run_time = ran.ended.saturating_duration_since(t);
        record.device = self.devices[ran_on].info().kind;
        record.device_index = ran_on;
        record.engine = self.engine_of(ran_on, &p.kernel);
        record.copy_time = ran.moves.iter().map(|m| m.time).sum();
        record.copied_bytes = ran.moves.iter().map(|m| m.bytes).sum();
        self.placer.observe_copies(&ran.moves);
        match &ran.result {
            Ok(s) => {
                record.workers = s.workers;
                record.setup_time = s.setup_time;
                record.reused_workers = s.reused_workers;
                stats.setup_time += s.setup_time;
                if let Some(key) = key {
                    // The model learns the device's own time (one-time
                    // setup such as worker instantiation or a pipeline
                    // build excluded) and the call's total.
                    let run = ran.exec_time.saturating_sub(s.setup_time);
                    self.placer
                        .observe(key, ran_on, run, run + record.copy_time);
                }
            }
            Err(e) => record.errno = e.errno,
        }
        if key.is_some() {
            // The build budget is checked again now that this call is
            // counted: a kernel whose calls just reached a GPU's expected
            // build cost asks for the build at once (a heavy kernel after
            // its first call), not at its next call.
            // A GPU that builds on the host's cores builds at the next call,
            // which waits for it (`build_and_wait`).
            for &d in &unbuilt {
                let waits =
                    self.devices[d].shares_host_cores() && self.placer.build_estimate(d).is_some();
                if !waits
                    && self
                        .placer
                        .gate(p.kernel.hash, p.kernel.code_bytes, d)
                        .may_build
                {
                    let _ = self.devices[d].prepare(
                        &p.kernel,
                        call.buffers.len(),
                        call.num_iterations,
                        call.block_size,
                        self.config.kernel_fuel.is_some(),
                        true,
                    );
                }
            }
            self.start_queued_builds();
        }
        let done = if ran.result.is_ok() {
            call.num_iterations as u64
        } else {
            0
        };
        stats.record(record, done, &self.infos);
        ran.result.map(|_| ())
    }

    /// Where the call runs: the adaptive policy's choice among the CPU
    /// device and the GPUs (with the model's key), or the device the guest
    /// named; and the GPUs that have not built the kernel and were not
    /// asked to (the build budget: `Unbuilt`).
    fn place(
        &self,
        p: &Prepared<'_>,
        handles: &HandleTable,
    ) -> (Decision, Option<Key>, Vec<usize>) {
        let call = p.call;
        if !self.adaptive_for(call.device) {
            return (Decision::fixed(call.device), None, Vec::new());
        }
        let buffers: Vec<_> = p
            .unique
            .iter()
            .map(|&h| &handles.buffer(h).expect("validated").copies)
            .collect();
        let bytes = buffers.iter().map(|c| c.size()).sum();
        let key = Key::new(p.kernel.hash, call.num_iterations, bytes);
        let rotate = self.config.device_policy == DevicePolicy::Rotate;
        let gpus = self.infos.iter().filter(|i| i.kind.is_gpu());
        let candidates = std::iter::once(self.cpu)
            .chain(gpus.map(|i| i.index))
            .map(|d| {
                let (declined, status) = if d == self.cpu {
                    (None, Status::Ready)
                } else {
                    let gate = self.placer.gate(p.kernel.hash, p.kernel.code_bytes, d);
                    let status = match &gate.declined {
                        Some(why) => Status::Declined(why.clone()),
                        None if rotate => self.prepare_on(d, p, true),
                        None => self.prepare_planned(d, p, key, gate.may_build),
                    };
                    (gate.declined, status)
                };
                if let (Status::Declined(why), None) = (&status, &declined) {
                    self.placer.decline(p.kernel.hash, d, why.clone());
                }
                let copy_ns = buffers
                    .iter()
                    .filter(|c| !c.is_valid_on(d))
                    .map(|c| {
                        self.placer
                            .copy_estimate(c.source_for(self.cpu), d, c.size())
                    })
                    .sum();
                Candidate {
                    device: d,
                    status,
                    copy_ns,
                }
            })
            .collect::<Vec<_>>();
        let unbuilt = candidates
            .iter()
            .filter(|c| c.status == Status::Unbuilt)
            .map(|c| c.device)
            .collect();
        (
            self.placer.decide(key, candidates, rotate),
            Some(key),
            unbuilt,
        )
    }

    /// Device `d`'s [`Device::prepare`](super::device::Device::prepare)
    /// for this call; a build it asks for is queued, and started after the
    /// call (`start_queued_builds`).
    fn prepare_on(&self, d: usize, p: &Prepared<'_>, may_build: bool) -> Status {
        self.devices[d].prepare(
            &p.kernel,
            p.call.buffers.len(),
            p.call.num_iterations,
            p.call.block_size,
            self.config.kernel_fuel.is_some(),
            may_build,
        )
    }

    /// The status of GPU `d` for an adaptive call of `key`: what the
    /// placement history plans for a kernel it has not built
    /// ([`Placer::plan`](super::placement::Placer::plan)), else the build
    /// budget's `may_build`. On a GPU that builds on the host's cores, a
    /// build that starts here is waited for (`build_and_wait`).
    fn prepare_planned(&self, d: usize, p: &Prepared<'_>, key: Key, may_build: bool) -> Status {
        let status = self.prepare_on(d, p, false);
        if status != Status::Unbuilt {
            return status;
        }
        let dev = &self.devices[d];
        match self.placer.plan(key, self.cpu, d, dev.shares_host_cores()) {
            Plan::Budget if may_build && dev.shares_host_cores() => self.build_and_wait(d, p),
            Plan::Budget if may_build => self.prepare_on(d, p, true),
            Plan::Budget => Status::Unbuilt,
            Plan::Never => Status::Skipped,
            Plan::Background => self.prepare_on(d, p, true),
            Plan::Wait => self.build_and_wait(d, p),
        }
    }

    /// A build on a GPU that builds on the host's cores (lavapipe), which
    /// the build budget allows or the placement history says pays: started
    /// now, and the call waits for it, at most
    /// [`WAIT_FOR_BUILD`](super::placement::model::WAIT_FOR_BUILD) times
    /// its expected cost (the budget's estimate for the kernel's size, or
    /// the build the history remembers if longer). A build still running
    /// then goes on in the background and the call runs on the CPU device.
    /// Beside the CPU device's calls such a build takes 1.7-2.5x as long
    /// and slows the calls too. Without a budget (every build starts after
    /// a kernel's first call, however short), nothing waits.
    fn build_and_wait(&self, d: usize, p: &Prepared<'_>) -> Status {
        let status = self.prepare_on(d, p, true);
        let k = &p.kernel;
        let expected = self.placer.build_estimate(d).map(|e| {
            let remembered = self.placer.remembered_build(k.hash, d);
            e.for_code(k.code_bytes).max(remembered.unwrap_or_default())
        });
        let (Status::Building, Some(expected)) = (&status, expected) else {
            return status;
        };
        let limit = expected.mul_f64(super::placement::model::WAIT_FOR_BUILD);
        self.start_queued_builds();
        let t = Instant::now();
        while self.devices[d].building() && t.elapsed() < limit {
            std::thread::sleep(Duration::from_micros(200));
        }
        self.prepare_on(d, p, false)
    }

    /// After an adaptive call has returned: starts the GPU builds it (or a
    /// call beside it) queued, and gives the build budget the times of the
    /// builds that finished.
    fn start_queued_builds(&self) {
        for i in self.infos.iter().filter(|i| i.kind.is_gpu()) {
            let expected = self.placer.build_estimate(i.index);
            for b in self.devices[i.index].start_queued_builds(expected) {
                self.placer
                    .observe_build(i.index, b.took, b.kernel, b.code_bytes);
            }
        }
    }

    /// Makes the call's buffers resident on device `d` and runs it there;
    /// afterwards the copies on `d` of the buffers it may have written are
    /// the only valid ones (not after `unsupported`, `resource_exhausted`
    /// or `device_error`). `timed`: measure the exec's time.
    fn run_on(
        &self,
        d: usize,
        p: &Prepared<'_>,
        handles: &mut HandleTable,
        session: &mut DeviceSession,
        timed: bool,
    ) -> Ran {
        let mut moves = Vec::new();
        let mut scratch = Vec::new();
        for &h in &p.unique {
            let b = handles.buffer_mut(h).expect("validated");
            match b
                .copies
                .make_resident(d, &self.devices, self.cpu, &mut scratch)
            {
                Ok(m) => moves.extend(m),
                Err(e) => {
                    return Ran {
                        result: Err(e),
                        moves,
                        exec_time: Duration::ZERO,
                        ended: Instant::now(),
                    }
                }
            }
        }
        drop(scratch);
        let n = p.call.buffers.len();
        let mut storages: PerBuffer<&dyn DeviceBuffer> = PerBuffer::with_capacity(n);
        let mut read_only: PerBuffer<bool> = PerBuffer::with_capacity(n);
        for &h in p.call.buffers {
            let b = handles.buffer(h).expect("validated");
            storages.push(b.copies.on(d).expect("made resident above"));
            read_only.push(b.access == BufferAccess::Read);
        }
        let req = ExecRequest {
            kernel: &p.kernel,
            num_iterations: p.call.num_iterations,
            block_size: p.call.block_size,
            buffers: &storages,
            layout: &p.layout,
            fuel: self.config.kernel_fuel,
            read_only: &read_only,
            cancel: p.call.cancel,
        };
        let started = timed.then(Instant::now);
        let result = self.devices[d].exec(session, &req);
        let ended = Instant::now();
        // The handles' borrow ends here (a SmallVec's drop counts as a use).
        drop(storages);
        let exec_time = started.map_or(Duration::ZERO, |s| ended.saturating_duration_since(s));
        // `unsupported` and `resource_exhausted` come before the kernel
        // touched the buffers, and after a `device_error` nothing on `d` can
        // be trusted: the copies valid before the call stay the valid ones
        // (a rerun elsewhere starts from them). After anything else (a trap
        // included) the written copies on `d` are the current ones.
        let untouched = matches!(&result, Err(e)
            if matches!(e.errno, Errno::Unsupported | Errno::ResourceExhausted | Errno::DeviceError));
        if !untouched {
            for &h in &p.unique {
                let b = handles.buffer_mut(h).expect("validated");
                if b.access != BufferAccess::Read {
                    b.copies.wrote_on(d);
                }
            }
        }
        Ran {
            result,
            moves,
            exec_time,
            ended,
        }
    }

    /// The kernel engine that runs `kernel` on device `index`: its engine on
    /// SEQUENTIAL and CPU, none on a GPU.
    fn engine_of(&self, index: usize, kernel: &Kernel) -> Option<KernelEngine> {
        (!self.devices[index].info().kind.is_gpu()).then(|| kernel.engine())
    }

    /// The compiled kernel for `bytes`: one the instance ran recently
    /// (`recent`), else from the kernel cache (compiled on a miss); whether
    /// it was a hit, and how long the lookup took; counts the hit or miss
    /// in `stats`.
    fn load_kernel(
        &self,
        bytes: &[u8],
        recent: &mut RecentKernels,
        stats: &mut ParallelStats,
    ) -> ParResult<(Arc<Kernel>, bool, Duration)> {
        if let Some(kernel) = recent.get(bytes) {
            stats.cache_hits += 1;
            return Ok((kernel, true, Duration::ZERO));
        }
        let t = Instant::now();
        let loaded = self.cache.get_or_compile(&self.engine, bytes);
        let compile_time = t.elapsed();
        let (kernel, outcome) = loaded?;
        recent.push(kernel.clone());
        let cache_hit = outcome == CacheOutcome::Hit;
        if cache_hit {
            stats.cache_hits += 1;
        } else {
            stats.cache_misses += 1;
            stats.compile_time += compile_time;
        }
        Ok((kernel, cache_hit, compile_time))
    }
}
