//! Per-instance statistics of the parallel subsystem (`--stats`, the C API).

use super::device::{DeviceInfo, DeviceKind};
use super::errno::Errno;
use super::kernel::KernelEngine;
use super::placement::model::Reason;
use std::collections::VecDeque;
use std::time::Duration;

/// How many recent calls and fallback reasons are kept.
pub const RECENT_CALLS: usize = 256;

/// Usage of one device by one instance.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceUsage {
    /// The device.
    pub device: DeviceInfo,
    /// `parallel_exec` calls it ran (including ones that trapped).
    pub calls: u64,
    /// Iterations it ran (of calls that succeeded).
    pub iterations: u64,
    /// Time spent in its `exec`.
    pub run_time: Duration,
    /// The kernel engine of its last call (SEQUENTIAL and CPU devices).
    pub engine: Option<KernelEngine>,
}

/// Usage of one kernel by one instance, per device (the end of `--stats`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelUsage {
    /// The kernel's content hash.
    pub kernel_hash: u64,
    /// Calls (with iterations), all outcomes.
    pub calls: u64,
    /// Per device index: calls and their run time.
    pub per_device: Vec<(usize, u64, Duration)>,
    /// Bytes copied between devices for its calls.
    pub copied_bytes: u64,
    /// The device and reason of its last call.
    pub last: Option<(usize, Reason)>,
}

/// Most kernels [`ParallelStats::kernels`] keeps apart.
pub const KERNELS_KEPT: usize = 64;

/// One `parallel_exec` call that reached a device (or had zero iterations).
#[derive(Clone, Debug, PartialEq)]
pub struct CallRecord {
    /// The device that ran it (after any fallback).
    pub device: DeviceKind,
    /// Its index in the runtime.
    pub device_index: usize,
    /// The kernel's content hash.
    pub kernel_hash: u64,
    /// Number of iterations asked for.
    pub num_iterations: u32,
    /// The kernel engine that ran it on a SEQUENTIAL or CPU device (`Jit`
    /// or `Interpreter`); `None` on a GPU device.
    pub engine: Option<KernelEngine>,
    /// Whether the kernel came from the cache.
    pub cache_hit: bool,
    /// Time spent loading/compiling the kernel (zero on a hit).
    pub compile_time: Duration,
    /// Time spent running (device `exec`, including worker setup).
    pub run_time: Duration,
    /// Time spent preparing workers (part of `run_time`).
    pub setup_time: Duration,
    /// Time spent copying buffers to the device that ran it (part of
    /// `run_time`; the adaptive policy's moves and a fallback's copies).
    pub copy_time: Duration,
    /// Bytes copied between devices for it.
    pub copied_bytes: u64,
    /// Workers that ran iterations.
    pub workers: usize,
    /// Whether workers cached from an earlier call were reused.
    pub reused_workers: bool,
    /// Why the call fell back to the CPU device, if it did.
    pub fallback: Option<String>,
    /// Why it ran where it ran (the device policy's reason).
    pub reason: Reason,
    /// The adaptive policy's estimates when it chose: (device index, ms
    /// including copies, `None` when unknown or the device could not run
    /// it now). Empty under the `hint` policy.
    pub estimates: Vec<(usize, Option<f64>)>,
    /// The code returned to the guest.
    pub errno: Errno,
}

/// Statistics of one instance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParallelStats {
    /// `parallel_exec` calls, all outcomes included.
    pub calls: u64,
    /// Calls that returned an error.
    pub failed_calls: u64,
    /// Iterations run by successful calls.
    pub iterations: u64,
    /// Per device: calls, iterations, time.
    pub per_device: Vec<DeviceUsage>,
    /// Kernel cache hits.
    pub cache_hits: u64,
    /// Kernel cache misses (compilations).
    pub cache_misses: u64,
    /// Time spent loading/compiling kernels.
    pub compile_time: Duration,
    /// Time spent running kernels (including worker setup).
    pub run_time: Duration,
    /// Time spent building workers (part of `run_time`).
    pub setup_time: Duration,
    /// Calls that fell back from a GPU to the CPU device.
    pub fallbacks: u64,
    /// The reasons of the most recent fallbacks.
    pub fallback_reasons: VecDeque<String>,
    /// The most recent calls (at most [`RECENT_CALLS`]).
    pub recent_calls: VecDeque<CallRecord>,
    /// Per kernel (the first [`KERNELS_KEPT`] kernels called): devices
    /// used, calls, times.
    pub kernels: Vec<KernelUsage>,
    /// Buffers created.
    pub buffers: u64,
    /// Bytes of buffers created.
    pub buffer_bytes: u64,
}

impl ParallelStats {
    pub(crate) fn record(&mut self, rec: CallRecord, iterations_run: u64, devices: &[DeviceInfo]) {
        self.calls += 1;
        if rec.errno != Errno::Success {
            self.failed_calls += 1;
        }
        self.iterations += iterations_run;
        self.run_time += rec.run_time;
        if let Some(reason) = &rec.fallback {
            self.fallbacks += 1;
            if self.fallback_reasons.len() == RECENT_CALLS {
                self.fallback_reasons.pop_front();
            }
            self.fallback_reasons.push_back(reason.clone());
        }
        if let Some(info) = devices.get(rec.device_index) {
            let usage = match self
                .per_device
                .iter_mut()
                .position(|u| u.device.index == info.index)
            {
                Some(i) => &mut self.per_device[i],
                None => {
                    self.per_device.push(DeviceUsage {
                        device: info.clone(),
                        calls: 0,
                        iterations: 0,
                        run_time: Duration::ZERO,
                        engine: None,
                    });
                    self.per_device.last_mut().expect("pushed")
                }
            };
            usage.calls += 1;
            usage.iterations += iterations_run;
            usage.run_time += rec.run_time;
            if rec.engine.is_some() {
                usage.engine = rec.engine;
            }
        }
        if rec.num_iterations > 0 {
            self.record_kernel(&rec);
        }
        if self.recent_calls.len() == RECENT_CALLS {
            self.recent_calls.pop_front();
        }
        self.recent_calls.push_back(rec);
    }

    fn record_kernel(&mut self, rec: &CallRecord) {
        let i = match self
            .kernels
            .iter()
            .position(|k| k.kernel_hash == rec.kernel_hash)
        {
            Some(i) => i,
            None if self.kernels.len() < KERNELS_KEPT => {
                self.kernels.push(KernelUsage {
                    kernel_hash: rec.kernel_hash,
                    ..Default::default()
                });
                self.kernels.len() - 1
            }
            None => return,
        };
        let k = &mut self.kernels[i];
        k.calls += 1;
        k.copied_bytes += rec.copied_bytes;
        k.last = Some((rec.device_index, rec.reason));
        match k.per_device.iter_mut().find(|d| d.0 == rec.device_index) {
            Some(d) => {
                d.1 += 1;
                d.2 += rec.run_time;
            }
            None => k.per_device.push((rec.device_index, 1, rec.run_time)),
        }
    }

    /// One line per recent call: device, reason, estimates, times.
    pub fn call_lines(&self, devices: &[DeviceInfo]) -> String {
        use std::fmt::Write;
        let name = |d: usize| devices.get(d).map_or("?", |i| i.name.as_str());
        let first = self.calls - self.recent_calls.len() as u64;
        let mut s = String::new();
        for (n, r) in self.recent_calls.iter().enumerate() {
            let _ = write!(
                s,
                "  call {}: kernel {:016x}, {} iterations -> device {} [{}] ({}",
                first + n as u64 + 1,
                r.kernel_hash,
                r.num_iterations,
                r.device_index,
                name(r.device_index),
                r.reason.name()
            );
            for (d, e) in &r.estimates {
                match e {
                    Some(ms) => {
                        let _ = write!(s, "; {} est {ms:.3} ms", name(*d));
                    }
                    None => {
                        let _ = write!(s, "; {} est -", name(*d));
                    }
                }
            }
            let _ = writeln!(
                s,
                "), run {:.3} ms, copies {} B in {:.3} ms, {}",
                r.run_time.as_secs_f64() * 1e3,
                r.copied_bytes,
                r.copy_time.as_secs_f64() * 1e3,
                r.errno.name()
            );
        }
        s
    }

    /// One line per kernel: calls and mean time per device, where its last
    /// call ran and why, and why a device declined it (from `placer`).
    pub fn kernel_lines(
        &self,
        devices: &[DeviceInfo],
        placer: &crate::parallel::placement::Placer,
    ) -> String {
        use std::fmt::Write;
        let name = |d: usize| devices.get(d).map_or("?", |i| i.name.as_str());
        let mut s = String::new();
        for k in &self.kernels {
            let _ = write!(s, "  kernel {:016x}: {} calls", k.kernel_hash, k.calls);
            for (d, calls, t) in &k.per_device {
                let _ = write!(
                    s,
                    "; {}: {calls} calls, {:.3} ms/call",
                    name(*d),
                    t.as_secs_f64() * 1e3 / *calls as f64
                );
            }
            if let Some((d, why)) = k.last {
                let _ = write!(s, "; last on {} ({})", name(d), why.name());
            }
            let _ = write!(s, "; copies {} B", k.copied_bytes);
            for d in devices {
                if let Some(why) = placer.declined(k.kernel_hash, d.index) {
                    let _ = write!(s, "; declined by {}: {why}", d.name);
                }
            }
            let _ = writeln!(s);
        }
        s
    }

    /// A multi-line summary for people (what `--stats` prints).
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "wasi-parallel: {} calls ({} failed), {} iterations, kernel cache {} hits / {} misses, compile {:.3} ms, run {:.3} ms (setup {:.3} ms), {} fallbacks",
            self.calls,
            self.failed_calls,
            self.iterations,
            self.cache_hits,
            self.cache_misses,
            self.compile_time.as_secs_f64() * 1e3,
            self.run_time.as_secs_f64() * 1e3,
            self.setup_time.as_secs_f64() * 1e3,
            self.fallbacks
        );
        for u in &self.per_device {
            let engine = u
                .engine
                .map(|e| format!(" {}", e.name()))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  device {} [{}]{engine}: {} calls, {} iterations, {:.3} ms",
                u.device.index,
                u.device.name,
                u.calls,
                u.iterations,
                u.run_time.as_secs_f64() * 1e3
            );
        }
        for r in &self.fallback_reasons {
            let _ = writeln!(s, "  fallback: {r}");
        }
        s
    }
}
