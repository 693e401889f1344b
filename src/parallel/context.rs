//! The per-instance state of wasi-parallel, and the one place where every
//! guest pointer, length, enum value and handle is validated. A validated
//! `parallel_exec` goes to `ParallelRuntime::dispatch` (`dispatch.rs`).
//!
//! Each method takes the guest's memory as `&mut [u8]` plus the raw `i32`
//! arguments of the import and returns the raw `par_errno`, so it can be
//! tested without wasmi and is shared by every device. Errors are values:
//! nothing here panics on guest input or traps the guest; the message of the
//! last error is kept for the host.

use super::cancel::{Cancel, Deadline, InterruptState, Stop};
use super::device::{DeviceKind, DeviceSession};
use super::dispatch::Call;
use super::errno::{Errno, ParError, ParResult};
use super::handles::{BufferAccess, BufferEntry, Entry, HandleTable};
use super::kernel::cache::RecentKernels;
use super::placement::residency::Copies;
use super::stats::ParallelStats;
use super::trace::{Trace, TraceArg};
use super::{DevicePolicy, ParallelRuntime};
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

/// The wasi-parallel state of one guest instance.
pub struct ParallelContext {
    runtime: Arc<ParallelRuntime>,
    handles: HandleTable,
    device_handles: Vec<Option<u32>>,
    sessions: Vec<DeviceSession>,
    /// The kernels this instance ran last (the cache's fast path).
    recent_kernels: RecentKernels,
    /// The last `parallel_exec`'s buffer handles (its vector, reused).
    ids: Vec<u32>,
    buffer_bytes: u64,
    buffer_count: usize,
    last_error: Option<String>,
    stats: ParallelStats,
    interrupt: Arc<InterruptState>,
    call_deadline: Option<Deadline>,
    trace: Option<Trace>,
}

/// The byte range `[ptr, ptr+len)` of guest memory, or `out_of_bounds`.
fn guest_range(mem_len: usize, ptr: i32, len: u64, what: &str) -> ParResult<Range<usize>> {
    let start = ptr as u32 as u64;
    let end = start + len;
    if end > mem_len as u64 {
        return Err(ParError::out_of_bounds(format!(
            "{what} [{start}, {end}) is outside guest memory of {mem_len} bytes"
        )));
    }
    Ok(start as usize..end as usize)
}

fn write_u32(mem: &mut [u8], ptr: i32, value: u32, what: &str) -> ParResult<()> {
    let r = guest_range(mem.len(), ptr, 4, what)?;
    mem[r].copy_from_slice(&value.to_le_bytes());
    Ok(())
}

impl ParallelContext {
    /// A fresh context (no handles) on `runtime`.
    pub fn new(runtime: Arc<ParallelRuntime>) -> ParallelContext {
        let n = runtime.device_count();
        ParallelContext {
            runtime,
            handles: HandleTable::default(),
            device_handles: vec![None; n],
            sessions: (0..n).map(|_| None).collect(),
            recent_kernels: RecentKernels::default(),
            ids: Vec::new(),
            buffer_bytes: 0,
            buffer_count: 0,
            last_error: None,
            stats: ParallelStats::default(),
            interrupt: InterruptState::new(),
            call_deadline: None,
            trace: None,
        }
    }

    /// The interrupt state kernels of this context poll (shared with the
    /// instance's interrupt handles).
    pub fn interrupt_state(&self) -> &Arc<InterruptState> {
        &self.interrupt
    }

    /// Uses `state` as this context's interrupt state (the instance's).
    pub fn set_interrupt_state(&mut self, state: Arc<InterruptState>) {
        self.interrupt = state;
    }

    /// Sets the deadline of the guest call in progress (`None`: none);
    /// kernels it runs stop at it too.
    pub fn set_call_deadline(&mut self, deadline: Option<Deadline>) {
        self.call_deadline = deadline;
    }

    /// Why the guest call in progress must stop, if it must: an interrupt
    /// or its passed deadline (polled by the instance between fuel slices
    /// and at host calls).
    pub fn guest_stop(&self) -> Option<Stop> {
        if self.interrupt.is_interrupted() {
            return Some(Stop::Interrupted);
        }
        let d = self.call_deadline?;
        (std::time::Instant::now() >= d.at).then_some(Stop::CallDeadline(d.limit))
    }

    /// The runtime this context runs on.
    pub fn runtime(&self) -> &Arc<ParallelRuntime> {
        &self.runtime
    }

    /// The message of the last error, if any call failed so far.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// A snapshot of this instance's statistics.
    pub fn stats(&self) -> ParallelStats {
        self.stats.clone()
    }

    /// Clears the statistics.
    pub fn reset_stats(&mut self) {
        self.stats = ParallelStats::default();
    }

    /// Records a timeline of this context's calls into `trace` from now on.
    pub fn set_trace(&mut self, trace: Trace) {
        self.trace = Some(trace);
    }

    /// The timeline, if one is being recorded.
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }

    /// Writes the timeline's file now (no-op without one).
    pub fn write_trace(&mut self) -> std::io::Result<()> {
        self.trace.as_mut().map_or(Ok(()), Trace::write)
    }

    /// Records the span of an import call that started at `start`.
    fn trace_call(
        &mut self,
        name: &'static str,
        cat: &'static str,
        start: Instant,
        code: i32,
        mut args: Vec<(&'static str, TraceArg)>,
    ) {
        let dur = start.elapsed();
        let Some(trace) = self.trace.as_mut() else {
            return;
        };
        let errno = Errno::from_code(code).map_or("unknown", Errno::name);
        args.push(("errno", errno.into()));
        if code != 0 {
            if let Some(e) = &self.last_error {
                args.push(("error", e.as_str().into()));
            }
        }
        trace.span(name, cat, start, dur, args);
    }

    /// The name of the device a buffer handle belongs to (for the trace).
    fn buffer_device_name(&self, buffer: i32) -> TraceArg {
        match self.handles.buffer(buffer as u32) {
            Some(b) => self.runtime.device_at(b.device).info().name.as_str().into(),
            None => TraceArg::Str(String::new()),
        }
    }

    /// Replaces the last error message (used by the import glue).
    pub fn set_last_error(&mut self, message: String) {
        self.last_error = Some(one_line(&message));
    }

    /// Turns a result into the raw code, keeping the message of an error.
    fn finish(&mut self, what: &str, r: ParResult<()>) -> i32 {
        match r {
            Ok(()) => Errno::Success.code(),
            Err(e) => {
                let code = e.errno.code();
                self.last_error = Some(one_line(&format!("{what}: {}: {}", e.errno, e.message)));
                code
            }
        }
    }

    /// `get_device(hint, out_device)`.
    pub fn get_device(&mut self, mem: &mut [u8], hint: i32, out_device: i32) -> i32 {
        let t = Instant::now();
        let r = self.get_device_inner(mem, hint, out_device);
        let code = self.finish("get_device", r);
        if self.trace.is_some() {
            let args = vec![("hint", hint.into())];
            self.trace_call("get_device", "wasi-parallel", t, code, args);
        }
        code
    }

    fn get_device_inner(&mut self, mem: &mut [u8], hint: i32, out: i32) -> ParResult<()> {
        let hint = DeviceKind::from_raw(hint).ok_or_else(|| {
            ParError::invalid_argument(format!("device_kind {hint} is not 0..=3"))
        })?;
        guest_range(mem.len(), out, 4, "out_device")?;
        let wanted = match self.runtime.config().device_policy {
            DevicePolicy::Adaptive | DevicePolicy::Hint | DevicePolicy::Rotate => hint,
            DevicePolicy::Force(kind) => kind,
        };
        let index = self.runtime.pick_device(wanted);
        let handle = match self.device_handles[index] {
            Some(h) => h,
            None => {
                let h = self.handles.insert(Entry::Device(index));
                self.device_handles[index] = Some(h);
                h
            }
        };
        write_u32(mem, out, handle, "out_device")
    }

    /// `create_buffer(device, size, access, out_buffer)`.
    pub fn create_buffer(
        &mut self,
        mem: &mut [u8],
        device: i32,
        size: i32,
        access: i32,
        out_buffer: i32,
    ) -> i32 {
        let t = Instant::now();
        let r = self.create_buffer_inner(mem, device, size, access, out_buffer);
        let code = self.finish("create_buffer", r);
        if self.trace.is_some() {
            let access = BufferAccess::from_raw(access).map_or("invalid", |a| match a {
                BufferAccess::Read => "read",
                BufferAccess::Write => "write",
                BufferAccess::ReadWrite => "read_write",
            });
            let args = vec![("bytes", (size as u32).into()), ("access", access.into())];
            self.trace_call("create_buffer", "wasi-parallel", t, code, args);
        }
        code
    }

    fn create_buffer_inner(
        &mut self,
        mem: &mut [u8],
        device: i32,
        size: i32,
        access: i32,
        out: i32,
    ) -> ParResult<()> {
        let index = self.handles.device(device as u32).ok_or_else(|| {
            ParError::invalid_handle(format!(
                "{} is not a device handle of this instance",
                device as u32
            ))
        })?;
        let access = BufferAccess::from_raw(access).ok_or_else(|| {
            ParError::invalid_argument(format!("buffer_access_kind {access} is not 0..=2"))
        })?;
        guest_range(mem.len(), out, 4, "out_buffer")?;
        let size = size as u32 as u64;
        let cfg = self.runtime.config();
        if self.buffer_count >= cfg.max_buffers {
            return Err(ParError::resource_exhausted(format!(
                "at most {} buffers per instance",
                cfg.max_buffers
            )));
        }
        if self.buffer_bytes + size > cfg.max_buffer_bytes {
            return Err(ParError::resource_exhausted(format!(
                "buffers of this instance would take {} bytes, the limit is {}",
                self.buffer_bytes + size,
                cfg.max_buffer_bytes
            )));
        }
        // Where the first copy lives: the device itself, or host memory
        // (the CPU device) when the adaptive policy places its calls.
        let home = self.runtime.home_device(index);
        let storage = self.runtime.device_at(home).create_buffer(size)?;
        let copies = Copies::new(home, storage, self.runtime.device_count());
        let h = self.handles.insert(Entry::Buffer(BufferEntry {
            device: index,
            access,
            copies,
        }));
        self.buffer_count += 1;
        self.buffer_bytes += size;
        self.stats.buffers += 1;
        self.stats.buffer_bytes += size;
        write_u32(mem, out, h, "out_buffer")
    }

    fn buffer_entry(&self, handle: i32) -> ParResult<&BufferEntry> {
        self.handles.buffer(handle as u32).ok_or_else(|| {
            ParError::invalid_handle(format!(
                "{} is not a buffer handle of this instance",
                handle as u32
            ))
        })
    }

    /// `write_buffer(data_ptr, data_len, buffer)`.
    pub fn write_buffer(
        &mut self,
        mem: &mut [u8],
        data_ptr: i32,
        data_len: i32,
        buffer: i32,
    ) -> i32 {
        let t = self.trace.is_some().then(Instant::now);
        let r = self.write_buffer_inner(mem, data_ptr, data_len, buffer);
        let code = self.finish("write_buffer", r);
        if let Some(t) = t {
            let args = vec![
                ("buffer", (buffer as u32).into()),
                ("bytes", (data_len as u32).into()),
                ("device", self.buffer_device_name(buffer)),
            ];
            self.trace_call("write_buffer", "transfer", t, code, args);
        }
        code
    }

    /// The buffer and guest range of a `write_buffer`/`read_buffer`: `len`
    /// may not exceed the buffer, `[ptr, ptr+len)` must lie in guest memory.
    fn transfer(
        &self,
        mem_len: usize,
        buffer: i32,
        ptr: i32,
        len: i32,
    ) -> ParResult<(&BufferEntry, Range<usize>)> {
        let b = self.buffer_entry(buffer)?;
        let len = len as u32 as u64;
        if len > b.copies.size() {
            return Err(ParError::out_of_bounds(format!(
                "data_len {len} is larger than the buffer ({} bytes)",
                b.copies.size()
            )));
        }
        Ok((b, guest_range(mem_len, ptr, len, "data")?))
    }

    fn write_buffer_inner(&mut self, mem: &[u8], ptr: i32, len: i32, buffer: i32) -> ParResult<()> {
        let (_, r) = self.transfer(mem.len(), buffer, ptr, len)?;
        let b = self
            .handles
            .buffer_mut(buffer as u32)
            .expect("transfer() found the buffer");
        b.copies.write(&self.runtime.devices, &mem[r])
    }

    /// `read_buffer(buffer, data_ptr, data_len)`.
    pub fn read_buffer(
        &mut self,
        mem: &mut [u8],
        buffer: i32,
        data_ptr: i32,
        data_len: i32,
    ) -> i32 {
        let t = self.trace.is_some().then(Instant::now);
        let r = self.read_buffer_inner(mem, buffer, data_ptr, data_len);
        let code = self.finish("read_buffer", r);
        if let Some(t) = t {
            let args = vec![
                ("buffer", (buffer as u32).into()),
                ("bytes", (data_len as u32).into()),
                ("device", self.buffer_device_name(buffer)),
            ];
            self.trace_call("read_buffer", "transfer", t, code, args);
        }
        code
    }

    fn read_buffer_inner(
        &mut self,
        mem: &mut [u8],
        buffer: i32,
        ptr: i32,
        len: i32,
    ) -> ParResult<()> {
        let (b, r) = self.transfer(mem.len(), buffer, ptr, len)?;
        b.copies
            .read(&self.runtime.devices, self.runtime.cpu, &mut mem[r])
    }

    /// `parallel_exec(device, kernel_ptr, kernel_len, num_iterations, block_size,
    /// in_buffers_ptr, in_buffers_len, out_buffers_ptr, out_buffers_len)`.
    #[allow(clippy::too_many_arguments)]
    pub fn parallel_exec(
        &mut self,
        mem: &mut [u8],
        device: i32,
        kernel_ptr: i32,
        kernel_len: i32,
        num_iterations: i32,
        block_size: i32,
        in_buffers_ptr: i32,
        in_buffers_len: i32,
        out_buffers_ptr: i32,
        out_buffers_len: i32,
    ) -> i32 {
        // The clock only for the trace (a read costs ~40 ns in a VM).
        let t = self.trace.is_some().then(Instant::now);
        let calls_before = self.stats.calls;
        let r = self.parallel_exec_inner(
            mem,
            device,
            kernel_ptr,
            kernel_len,
            num_iterations as u32,
            block_size as u32,
            in_buffers_ptr,
            in_buffers_len,
            out_buffers_ptr,
            out_buffers_len,
        );
        let code = self.finish("parallel_exec", r);
        // A call that reached a device (or had no iterations) left a
        // record; one refused before (a bad pointer, handle or kernel) is
        // still a call, and a failed one.
        let recorded = self.stats.calls > calls_before;
        if !recorded {
            self.stats.calls += 1;
            if code != 0 {
                self.stats.failed_calls += 1;
            }
        }
        if let (Some(trace), Some(t)) = (self.trace.as_mut(), t) {
            let record = recorded.then(|| self.stats.recent_calls.back()).flatten();
            super::trace::exec_events(
                trace,
                t,
                t.elapsed(),
                code,
                num_iterations as u32,
                block_size as u32,
                record,
                &self.runtime.infos,
                self.last_error.as_deref(),
            );
        }
        code
    }

    fn read_handles(
        mem: &[u8],
        ptr: i32,
        len: i32,
        what: &str,
        out: &mut Vec<u32>,
    ) -> ParResult<()> {
        let r = guest_range(mem.len(), ptr, (len as u32 as u64) * 4, what)?;
        out.extend(
            mem[r]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn parallel_exec_inner(
        &mut self,
        mem: &[u8],
        device: i32,
        kernel_ptr: i32,
        kernel_len: i32,
        num_iterations: u32,
        block_size: u32,
        in_ptr: i32,
        in_len: i32,
        out_ptr: i32,
        out_len: i32,
    ) -> ParResult<()> {
        let runtime = self.runtime.clone();
        let index = self.handles.device(device as u32).ok_or_else(|| {
            ParError::invalid_handle(format!(
                "{} is not a device handle of this instance",
                device as u32
            ))
        })?;
        let kernel_len = kernel_len as u32 as u64;
        let kr = guest_range(mem.len(), kernel_ptr, kernel_len, "kernel")?;
        if kernel_len > runtime.config().max_kernel_size as u64 {
            return Err(ParError::resource_exhausted(format!(
                "kernel of {kernel_len} bytes exceeds the limit of {}",
                runtime.config().max_kernel_size
            )));
        }
        // The handle list's vector is kept between calls (no allocation).
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        let r = self.exec_with(
            &runtime,
            index,
            mem,
            &mut ids,
            kr,
            (num_iterations, block_size),
            (in_ptr, in_len),
            (out_ptr, out_len),
        );
        self.ids = ids;
        r
    }

    /// The rest of [`Self::parallel_exec_inner`], with the handle list's
    /// vector (empty) and the kernel's range in `mem`.
    #[allow(clippy::too_many_arguments)]
    fn exec_with(
        &mut self,
        runtime: &ParallelRuntime,
        index: usize,
        mem: &[u8],
        ids: &mut Vec<u32>,
        kr: Range<usize>,
        (num_iterations, block_size): (u32, u32),
        (in_ptr, in_len): (i32, i32),
        (out_ptr, out_len): (i32, i32),
    ) -> ParResult<()> {
        Self::read_handles(mem, in_ptr, in_len, "in_buffers", ids)?;
        Self::read_handles(mem, out_ptr, out_len, "out_buffers", ids)?;
        for &h in ids.iter() {
            let b = self.handles.buffer(h).ok_or_else(|| {
                ParError::invalid_handle(format!("{h} is not a buffer handle of this instance"))
            })?;
            if b.device != index {
                return Err(ParError::invalid_handle(format!(
                    "buffer {h} belongs to device {}, not to device {}",
                    runtime.device_at(b.device).info().name,
                    runtime.device_at(index).info().name
                )));
            }
        }

        let call = Call {
            device: index,
            kernel: &mem[kr],
            num_iterations,
            block_size,
            buffers: ids,
            cancel: &Cancel::new(
                self.interrupt.clone(),
                self.call_deadline,
                runtime.config().kernel_timeout.and_then(Deadline::after),
            ),
        };
        runtime.dispatch(
            &call,
            &mut self.handles,
            &mut self.sessions,
            &mut self.recent_kernels,
            &mut self.stats,
        )
    }
}

/// `message` on one line: a library's multi-line text (wasmparser prints a
/// bad magic number as a pretty list of bytes) has each run of whitespace
/// with a line break made one space, so `--stats` and the C API's last
/// error stay one line.
fn one_line(message: &str) -> String {
    if !message.contains('\n') {
        return message.to_string();
    }
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
