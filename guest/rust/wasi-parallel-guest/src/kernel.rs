//! Helpers for kernels written in Rust.
//!
//! A kernel crate is `#![no_std]`, `crate-type = ["cdylib"]`, built for
//! `wasm32-unknown-unknown` with an imported memory (link arguments
//! `--import-memory`, a small stack and initial memory: see
//! `saxpy-kernel/build.rs`), and exports
//!
//! ```ignore
//! #[no_mangle]
//! pub extern "C" fn kernel(iteration_id: u32, num_iterations: u32, block_size: u32,
//!                          ptr_0: u32, len_0: u32, /* one pair per buffer */) { ... }
//! ```
//!
//! The runtime maps buffer `i` at `ptr_i` (16-byte aligned) with `len_i`
//! bytes; [`buffer`] and [`buffer_mut`] view it as a slice. Iterations may
//! run at the same time on different threads (CPU device) or GPU
//! invocations: each must write only its own elements.

use crate::Plain;

/// The buffer at `(ptr, len)` as a slice of `T` (whole elements only).
///
/// # Safety
/// `(ptr, len)` must be a buffer pair the runtime passed to this call of
/// `kernel`, and no other live reference may overlap it mutably.
pub unsafe fn buffer<'a, T: Plain>(ptr: u32, len: u32) -> &'a [T] {
    // SAFETY: the caller guarantees the runtime mapped `len` bytes at `ptr`,
    // aligned to 16 (>= align_of::<T>() for every Plain type).
    unsafe {
        core::slice::from_raw_parts(
            ptr as usize as *const T,
            len as usize / core::mem::size_of::<T>(),
        )
    }
}

/// The buffer at `(ptr, len)` as a mutable slice of `T`.
///
/// # Safety
/// As [`buffer`]; also, iterations running at the same time must not write
/// the same elements (split the work by `iteration_id`).
pub unsafe fn buffer_mut<'a, T: Plain>(ptr: u32, len: u32) -> &'a mut [T] {
    // SAFETY: as in `buffer`; exclusivity is the caller's promise.
    unsafe {
        core::slice::from_raw_parts_mut(
            ptr as usize as *mut T,
            len as usize / core::mem::size_of::<T>(),
        )
    }
}

/// The element range `[id * block_size, min((id + 1) * block_size, n))`
/// of iteration `id` (empty past the end).
pub fn block(id: u32, block_size: u32, n: usize) -> core::ops::Range<usize> {
    let start = (id as usize).saturating_mul(block_size as usize).min(n);
    let end = start.saturating_add(block_size as usize).min(n);
    start..end
}
