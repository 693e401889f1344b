//! wasi-parallel from C: the devices of an engine, and the statistics and
//! last error of an instance.

use std::ffi::c_char;

use super::engine::wp_engine_t;
use super::error::{guard, wp_error_t};
use super::instance::wp_instance_t;
use super::kind::wp_device_kind_t;
use super::{copy_text, non_null, non_null_mut, write_out};
use crate::error::Error;

/// Description of one device of an engine. Plain data.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct wp_device_info_t {
    /// Its index (0 .. count-1).
    pub index: u32,
    /// Its kind.
    pub kind: wp_device_kind_t,
    /// A name for people (NUL-terminated). Owned by the engine: valid until
    /// `wp_engine_delete`.
    pub name: *const c_char,
}

/// Statistics of one instance's use of wasi-parallel. Plain data; times in
/// nanoseconds.
#[repr(C)]
#[derive(Copy, Clone, Default)]
pub struct wp_parallel_stats_t {
    /// `parallel_exec` calls, all outcomes included.
    pub calls: u64,
    /// Calls that returned an error to the guest.
    pub failed_calls: u64,
    /// Iterations run by successful calls.
    pub iterations: u64,
    /// Kernel cache hits.
    pub cache_hits: u64,
    /// Kernel cache misses (compilations).
    pub cache_misses: u64,
    /// Time spent loading and compiling kernels.
    pub compile_ns: u64,
    /// Time spent running kernels (including worker setup).
    pub run_ns: u64,
    /// Time spent preparing workers (part of `run_ns`).
    pub setup_ns: u64,
    /// Calls that fell back from a GPU to the CPU device.
    pub fallbacks: u64,
    /// Buffers created.
    pub buffers: u64,
    /// Bytes of buffers created.
    pub buffer_bytes: u64,
    /// The device index of the most recent call that reached a device, or -1.
    pub last_device_index: i32,
    /// The kind of that device, or -1.
    pub last_device_kind: wp_device_kind_t,
}

/// One instance's use of one device. Plain data; times in nanoseconds.
#[repr(C)]
#[derive(Copy, Clone, Default)]
pub struct wp_device_stats_t {
    /// Calls the device ran (including ones that trapped).
    pub calls: u64,
    /// Iterations it ran (of calls that succeeded).
    pub iterations: u64,
    /// Time spent in the device.
    pub run_ns: u64,
}

fn ns(d: std::time::Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// Stores the number of devices of `engine` in `*count` (SEQUENTIAL and CPU
/// always; GPUs when found).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers). Ownership: borrows
/// both. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_engine_device_count(
    engine: *const wp_engine_t,
    count: *mut usize,
) -> *mut wp_error_t {
    guard(|| {
        let e = non_null(engine, "engine")?;
        non_null_mut(count, "count")?;
        write_out(count, e.devices.len(), "count")
    })
}

/// Describes device `index` of `engine` in `*info`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers), `WP_ERROR_NOT_FOUND`
/// (index out of range). Ownership: borrows both; `info->name` belongs to
/// the engine. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_engine_device_info(
    engine: *const wp_engine_t,
    index: usize,
    info: *mut wp_device_info_t,
) -> *mut wp_error_t {
    guard(|| {
        let e = non_null(engine, "engine")?;
        non_null_mut(info, "info")?;
        let (d, name) = e.devices.get(index).ok_or_else(|| {
            Error::new(
                crate::ErrorCode::NotFound,
                format!("no device {index} (the engine has {})", e.devices.len()),
            )
        })?;
        let value = wp_device_info_t {
            index: d.index as u32,
            kind: d.kind as i32,
            name: name.as_ptr(),
        };
        write_out(info, value, "info")
    })
}

/// Stores the number of worker threads of the CPU device in `*threads`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers). Ownership: borrows
/// both. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_engine_cpu_threads(
    engine: *const wp_engine_t,
    threads: *mut usize,
) -> *mut wp_error_t {
    guard(|| {
        let e = non_null(engine, "engine")?;
        non_null_mut(threads, "threads")?;
        write_out(threads, e.engine.parallel().cpu_threads(), "threads")
    })
}

/// Stores a snapshot of the instance's wasi-parallel statistics in `*stats`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers). Ownership: borrows
/// both. Thread-safety: one thread per instance.
#[no_mangle]
pub extern "C" fn wp_instance_parallel_stats(
    instance: *const wp_instance_t,
    stats: *mut wp_parallel_stats_t,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null(instance, "instance")?;
        non_null_mut(stats, "stats")?;
        let s = inst.instance.parallel().stats();
        let last = s.recent_calls.back();
        let value = wp_parallel_stats_t {
            calls: s.calls,
            failed_calls: s.failed_calls,
            iterations: s.iterations,
            cache_hits: s.cache_hits,
            cache_misses: s.cache_misses,
            compile_ns: ns(s.compile_time),
            run_ns: ns(s.run_time),
            setup_ns: ns(s.setup_time),
            fallbacks: s.fallbacks,
            buffers: s.buffers,
            buffer_bytes: s.buffer_bytes,
            last_device_index: last.map_or(-1, |c| c.device_index as i32),
            last_device_kind: last.map_or(-1, |c| c.device as i32),
        };
        write_out(stats, value, "stats")
    })
}

/// Stores the instance's use of device `device_index` in `*stats` (all zero
/// for a device it never used).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers), `WP_ERROR_NOT_FOUND`
/// (no such device). Ownership: borrows both. Thread-safety: one thread per
/// instance.
#[no_mangle]
pub extern "C" fn wp_instance_parallel_device_stats(
    instance: *const wp_instance_t,
    device_index: usize,
    stats: *mut wp_device_stats_t,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null(instance, "instance")?;
        non_null_mut(stats, "stats")?;
        let ctx = inst.instance.parallel();
        let count = ctx.runtime().devices().len();
        if device_index >= count {
            return Err(Error::new(
                crate::ErrorCode::NotFound,
                format!("no device {device_index} (the engine has {count})"),
            ));
        }
        let s = ctx.stats();
        let value = s
            .per_device
            .iter()
            .find(|u| u.device.index == device_index)
            .map_or_else(wp_device_stats_t::default, |u| wp_device_stats_t {
                calls: u.calls,
                iterations: u.iterations,
                run_ns: ns(u.run_time),
            });
        write_out(stats, value, "stats")
    })
}

/// Copies the message of the instance's last wasi-parallel error (the
/// reason behind the last non-zero `par_errno` a guest got) into `buf` as a
/// NUL-terminated string (truncated to `cap - 1` bytes; `buf` may be NULL
/// when `cap` is 0) and stores its full length in `*len` (0: no error yet).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers). Ownership: borrows
/// all. Thread-safety: one thread per instance.
#[no_mangle]
pub extern "C" fn wp_instance_parallel_last_error(
    instance: *const wp_instance_t,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null(instance, "instance")?;
        let msg = inst.instance.parallel().last_error().unwrap_or("");
        copy_text(msg.as_bytes(), buf, cap, len)
    })
}
