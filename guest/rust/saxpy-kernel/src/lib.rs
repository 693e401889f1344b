//! saxpy as a wasi-parallel kernel: `y[i] = a * x[i] + y[i]`.
//!
//! Buffers: `params` (`[a: f32]`) and `x` (f32) in, `y` (f32, read-write)
//! out. Iteration `id` handles elements `[id * block_size, (id + 1) *
//! block_size)` of `y`.
#![no_std]

use wasi_parallel_guest::kernel::{block, buffer, buffer_mut};

/// The kernel ABI's entry point (see `wasi_parallel_guest::kernel`).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn kernel(
    id: u32,
    _num_iterations: u32,
    block_size: u32,
    params_ptr: u32,
    params_len: u32,
    x_ptr: u32,
    x_len: u32,
    y_ptr: u32,
    y_len: u32,
) {
    // SAFETY: the runtime passes these (ptr, len) pairs for this call's
    // buffers; iterations write disjoint blocks of `y`.
    let (params, x, y) = unsafe {
        (
            buffer::<f32>(params_ptr, params_len),
            buffer::<f32>(x_ptr, x_len),
            buffer_mut::<f32>(y_ptr, y_len),
        )
    };
    let Some(&a) = params.first() else { return };
    let r = block(id, block_size, y.len().min(x.len()));
    for (yi, xi) in y[r.clone()].iter_mut().zip(&x[r]) {
        *yi += a * *xi;
    }
}

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
