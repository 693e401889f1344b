//! Kernel loading from arbitrary bytes and from wasm-smith modules shaped
//! like kernels, end to end through `parallel_exec` on the SEQUENTIAL and CPU
//! devices (kernel fuel bounds every iteration). Oracles: the answer is
//! `invalid_kernel` (exactly when the loader or wasmi rejects the bytes), a
//! run (`success`), `kernel_trap` or `resource_exhausted`, never a panic;
//! both devices give the same code, and with one iteration the same output.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use wasi_parallel::parallel::kernel::loader;

use common::MAX_KERNEL;

/// Runs `kernel` on device kind `hint` with `nbuf` buffers filled from
/// `fill`; returns the code, the buffers' contents afterwards and the last
/// error's message.
fn run(kernel: &[u8], hint: i32, nbuf: usize, iters: u32, fill: &[u8]) -> (i32, Vec<u8>, String) {
    let o = common::exec_kernel(common::runtime(), hint, kernel, nbuf, iters, fill);
    (o.code, o.buffers, o.message)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(smith) = bool::arbitrary(&mut u) else {
        return;
    };
    let iters: u32 = u.int_in_range(0..=3).unwrap_or(1);
    let (kernel, nbuf) = if smith {
        match common::kernel_module(&mut u) {
            Ok(k) => k,
            Err(_) => return,
        }
    } else {
        let n = u.int_in_range(0..=3).unwrap_or(0);
        (u.take_rest().to_vec(), n)
    };
    if kernel.len() > MAX_KERNEL {
        return;
    }
    let loaded = loader::load(&kernel);
    let fill: Vec<u8> = kernel.iter().rev().copied().take(64).collect();
    let (seq, seq_out, seq_msg) = run(&kernel, 0, nbuf, iters, &fill);
    assert!(
        matches!(seq, 0 | 4 | 5 | 6),
        "sequential: code {seq}: {seq_msg}"
    );
    if loaded.is_err() {
        assert_eq!(seq, 4, "loader rejects but the call says {seq}: {seq_msg}");
    }
    let (cpu, cpu_out, cpu_msg) = run(&kernel, 1, nbuf, iters, &fill);
    assert_eq!(seq, cpu, "sequential: {seq_msg} / cpu: {cpu_msg}");
    if iters == 1 && seq == 0 {
        assert_eq!(seq_out, cpu_out, "one iteration, different results");
    }
});
