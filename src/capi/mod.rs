//! The C API (`include/wasi_parallel.h`, generated from this module by
//! cbindgen): a thin, mechanical layer over the Rust API.
//!
//! One file per concept, like wasmtime's `crates/c-api`:
//! [`error`] (`wp_error_t`), [`engine`] (`wp_config_t`, `wp_engine_t`),
//! [`module`] (`wp_module_t`), [`instance`] (`wp_instance_config_t`,
//! `wp_instance_t`), [`val`] (`wp_val_t`), [`natives`] (WAMR-style host
//! natives, `wp_exec_env_t`), [`parallel`] (devices, statistics) and
//! [`trace`] (a Chrome/Perfetto timeline of an instance's kernel calls) and
//! [`version`] (`wp_version`, the host's check against its header).
//!
//! Conventions every function follows (they are also in the header):
//! - Every fallible function returns `wp_error_t *`: `NULL` on success, else
//!   an error the caller owns and frees with `wp_error_delete`. Results come
//!   back through out-parameters, written only on success.
//! - Every pointer argument is checked for `NULL` (a `NULL` data pointer is
//!   accepted only with a length of 0); a violation is a
//!   `WP_ERROR_INVALID_ARGUMENT` error, never a crash.
//! - No Rust panic ever crosses the boundary: each function catches it and
//!   returns a `WP_ERROR_INTERNAL` error (or a neutral value for the few
//!   functions that return no error).
//! - There is no process-global state: everything hangs off handles.

#![allow(non_camel_case_types)]

pub mod config;
pub mod engine;
pub mod error;
pub mod instance;
pub mod kind;
pub mod module;
pub mod natives;
pub mod parallel;
pub mod trace;
pub mod val;
pub mod version;

use std::ffi::{c_char, CStr};

use crate::error::{Error, Result};

/// A shared reference from a C pointer, or `InvalidArgument` for `NULL`.
///
/// The caller promises (by the C API contract) that a non-NULL pointer
/// points to a live object of type `T` that nobody mutates meanwhile.
pub(crate) fn non_null<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: NULL is rejected by `as_ref`; otherwise the C caller guarantees
    // `p` points to a live, properly aligned `T` (documented per function).
    unsafe { p.as_ref() }.ok_or_else(|| Error::invalid_argument(format!("{what} is NULL")))
}

/// An exclusive reference from a C pointer, or `InvalidArgument` for `NULL`.
pub(crate) fn non_null_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T> {
    // SAFETY: NULL is rejected by `as_mut`; otherwise the C caller guarantees
    // `p` points to a live `T` not used by anyone else during the call.
    unsafe { p.as_mut() }.ok_or_else(|| Error::invalid_argument(format!("{what} is NULL")))
}

/// A UTF-8 string from a NUL-terminated C string.
pub(crate) fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid_argument(format!("{what} is NULL")));
    }
    // SAFETY: not NULL; the C caller guarantees a NUL-terminated string that
    // lives for the duration of the call.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| Error::invalid_argument(format!("{what} is not valid UTF-8")))
}

/// A byte slice from `(ptr, len)`; `ptr` may be NULL only when `len` is 0.
pub(crate) fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid_argument(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid_argument(format!(
            "{what}: length {len} is too large"
        )));
    }
    // SAFETY: not NULL, length checked against isize::MAX; the C caller
    // guarantees `len` readable bytes at `p` for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The checks of [`bytes_mut`] and [`slice()`] for a non-empty `(ptr, len)`:
/// not NULL, and `len` elements of `T` fit in `isize::MAX` bytes.
fn check_slice<T>(is_null: bool, len: usize, what: &str) -> Result<()> {
    if is_null {
        return Err(Error::invalid_argument(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Error::invalid_argument(format!(
            "{what}: length {len} is too large"
        )));
    }
    Ok(())
}

/// A mutable slice from `(ptr, len)`; `ptr` may be NULL only when `len` is 0.
pub(crate) fn bytes_mut<'a, T>(p: *mut T, len: usize, what: &str) -> Result<&'a mut [T]> {
    if len == 0 {
        return Ok(&mut []);
    }
    check_slice::<T>(p.is_null(), len, what)?;
    // SAFETY: not NULL, size bounded; the C caller guarantees `len` writable,
    // initialised elements at `p`, used by nobody else during the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// A read-only slice of `T` from `(ptr, len)`; `ptr` may be NULL only when `len` is 0.
pub(crate) fn slice<'a, T>(p: *const T, len: usize, what: &str) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    check_slice::<T>(p.is_null(), len, what)?;
    // SAFETY: not NULL, size bounded; the C caller guarantees `len` readable
    // elements at `p` for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Copies `text` into a caller buffer of `cap` bytes as a NUL-terminated
/// string (truncated to `cap - 1` bytes) and stores its full length.
pub(crate) fn copy_text(
    text: &[u8],
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> Result<()> {
    let len_out = non_null_mut(len_out, "len_out")?;
    let dst = bytes_mut(buf as *mut u8, cap, "buf")?;
    if let Some(room) = cap.checked_sub(1) {
        let n = text.len().min(room);
        dst[..n].copy_from_slice(&text[..n]);
        dst[n] = 0;
    }
    *len_out = text.len();
    Ok(())
}

/// Copies `data` into a caller buffer of `cap` bytes (truncated) and stores
/// its full length.
pub(crate) fn copy_bytes(data: &[u8], buf: *mut u8, cap: usize, len_out: *mut usize) -> Result<()> {
    let len_out = non_null_mut(len_out, "len_out")?;
    let dst = bytes_mut(buf, cap, "buf")?;
    let n = data.len().min(cap);
    dst[..n].copy_from_slice(&data[..n]);
    *len_out = data.len();
    Ok(())
}

/// Frees a `Box` made by `Box::into_raw`, catching any panic of its drop.
pub(crate) fn delete_box<T>(p: *mut T) {
    if p.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: non-NULL pointers passed to `wp_*_delete` were returned by
        // the matching constructor (`Box::into_raw`) and are freed only once
        // (documented ownership rule of every delete function).
        drop(unsafe { Box::from_raw(p) });
    }));
}

/// Runs `f` with panics caught, for functions that return a plain value.
pub(crate) fn catch<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Stores `value` through the out-pointer `out` (already checked).
pub(crate) fn write_out<T: Copy>(out: *mut T, value: T, what: &str) -> Result<()> {
    *non_null_mut(out, what)? = value;
    Ok(())
}

// The handles promised to be shareable across threads really are.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<engine::wp_engine_t>();
    send_sync::<module::wp_module_t>();
    send_sync::<error::wp_error_t>();
    send_sync::<instance::wp_interrupt_handle_t>();
    send::<instance::wp_instance_t>();
    send::<instance::wp_instance_config_t>();
    send::<config::wp_config_t>();
};
