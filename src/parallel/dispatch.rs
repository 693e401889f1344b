//! One kernel call once `ParallelContext` validated the guest's arguments:
//! kernel cache lookup (decode, check and compile on a miss), the buffers'
//! layout, the device's exec, the GPU -> CPU fallback when the GPU declines
//! the kernel, and the call's statistics.

use super::cancel::Cancel;
use super::device::{DeviceBuffer, DeviceSession, ExecRequest, ExecStats};
use super::errno::{Errno, ParResult};
use super::handles::{BufferAccess, BufferEntry};
use super::kernel::cache::CacheOutcome;
use super::kernel::layout::Layout;
use super::kernel::Kernel;
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
    /// Every occurrence, inputs then outputs; all on `device`.
    pub buffers: &'a [&'a BufferEntry],
    /// The instance's interrupt flag and the deadlines (see `cancel`).
    pub cancel: &'a Cancel,
}

impl ParallelRuntime {
    /// Runs `call` on its device (falling back to the CPU device when a GPU
    /// declines the kernel and the config allows it) and records it in
    /// `stats`. `session` is the instance's session of the device.
    pub(crate) fn dispatch(
        &self,
        call: &Call<'_>,
        session: &mut DeviceSession,
        stats: &mut ParallelStats,
    ) -> ParResult<()> {
        let index = call.device;
        let buffers = call.buffers;
        let num_iterations = call.num_iterations;
        let (kernel, cache_hit, compile_time) = self.load_kernel(call.kernel, stats)?;
        kernel.check_buffer_count(buffers.len())?;
        let keyed: Vec<(*const BufferEntry, u64)> = buffers
            .iter()
            .map(|b| (*b as *const BufferEntry, b.storage.size()))
            .collect();
        let layout = Layout::compute(kernel.private_size, &keyed)?;

        let mut record = CallRecord {
            device: self.devices[index].info().kind,
            device_index: index,
            num_iterations,
            cache_hit,
            compile_time: if cache_hit {
                Duration::ZERO
            } else {
                compile_time
            },
            run_time: Duration::ZERO,
            workers: 0,
            reused_workers: false,
            fallback: None,
            errno: Errno::Success,
        };
        if num_iterations == 0 {
            stats.record(record, 0, &self.infos);
            return Ok(());
        }

        let storages: Vec<&dyn DeviceBuffer> = buffers.iter().map(|b| &*b.storage).collect();
        let read_only: Vec<bool> = buffers
            .iter()
            .map(|b| b.access == BufferAccess::Read)
            .collect();
        let req = ExecRequest {
            kernel: &kernel,
            num_iterations,
            block_size: call.block_size,
            buffers: &storages,
            layout: &layout,
            fuel: self.config.kernel_fuel,
            read_only: &read_only,
            cancel: call.cancel,
        };
        let t = Instant::now();
        let result = self.exec_with_fallback(call, session, &req, &mut record);
        record.run_time = t.elapsed();
        match &result {
            Ok(s) => {
                record.workers = s.workers;
                record.reused_workers = s.reused_workers;
                stats.setup_time += s.setup_time;
            }
            Err(e) => record.errno = e.errno,
        }
        let ran = if result.is_ok() {
            num_iterations as u64
        } else {
            0
        };
        stats.record(record, ran, &self.infos);
        result.map(|_| ())
    }

    /// The compiled kernel for `bytes` from the kernel cache (compiled on a
    /// miss), whether it was a hit, and how long the lookup took; counts the
    /// hit or miss in `stats`.
    fn load_kernel(
        &self,
        bytes: &[u8],
        stats: &mut ParallelStats,
    ) -> ParResult<(Arc<Kernel>, bool, Duration)> {
        let t = Instant::now();
        let loaded = self.cache.get_or_compile(&self.engine, bytes);
        let compile_time = t.elapsed();
        let (kernel, outcome) = loaded?;
        let cache_hit = outcome == CacheOutcome::Hit;
        if cache_hit {
            stats.cache_hits += 1;
        } else {
            stats.cache_misses += 1;
            stats.compile_time += compile_time;
        }
        Ok((kernel, cache_hit, compile_time))
    }

    /// `req` on the call's device; when a GPU declines the kernel
    /// (`unsupported`) and the config allows it, on the CPU device instead
    /// (noted in `record`).
    fn exec_with_fallback(
        &self,
        call: &Call<'_>,
        session: &mut DeviceSession,
        req: &ExecRequest<'_>,
        record: &mut CallRecord,
    ) -> ParResult<ExecStats> {
        let index = call.device;
        let result = self.devices[index].exec(session, req);
        if let Err(e) = &result {
            let dev = self.devices[index].info();
            if e.errno == Errno::Unsupported && dev.kind.is_gpu() && self.config.gpu_fallback {
                let reason = format!("{} cannot run this kernel: {}", dev.name, e.message);
                record.fallback = Some(reason);
                record.device = self.devices[self.cpu].info().kind;
                record.device_index = self.cpu;
                // A throwaway session: the temporary buffers are new every
                // time, so cached workers would only pin their pages.
                return self.fallback_exec(&mut None, index, call.buffers, req);
            }
        }
        result
    }

    /// Runs `req` on the CPU device over copies of `buffers` (which live on
    /// device `from`), then copies back every buffer not declared `read`.
    fn fallback_exec(
        &self,
        session: &mut DeviceSession,
        from: usize,
        buffers: &[&BufferEntry],
        req: &ExecRequest<'_>,
    ) -> ParResult<ExecStats> {
        let src = &self.devices[from];
        let cpu = &self.devices[self.cpu];
        let mut temps: Vec<Box<dyn DeviceBuffer>> = Vec::new();
        let mut scratch = Vec::new();
        for p in &req.layout.placements {
            let b = buffers[p.first_occurrence];
            let t = cpu.create_buffer(p.len)?;
            scratch.resize(p.len as usize, 0);
            src.read(&*b.storage, &mut scratch)?;
            cpu.write(&*t, &scratch)?;
            temps.push(t);
        }
        let occ: Vec<&dyn DeviceBuffer> =
            req.layout.occurrence.iter().map(|&p| &*temps[p]).collect();
        let stats = cpu.exec(
            session,
            &ExecRequest {
                buffers: &occ,
                ..*req
            },
        )?;
        for (p, t) in req.layout.placements.iter().zip(&temps) {
            let b = buffers[p.first_occurrence];
            if b.access == BufferAccess::Read {
                continue;
            }
            scratch.resize(p.len as usize, 0);
            cpu.read(&**t, &mut scratch)?;
            src.write(&*b.storage, &scratch)?;
        }
        Ok(stats)
    }
}
