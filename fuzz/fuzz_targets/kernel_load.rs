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
use wasi_parallel::parallel::ParallelContext;

const MEM: usize = 4 << 16;
const DEV_OUT: i32 = 0;
const BUF_OUT: i32 = 4;
const HANDLES: i32 = 64;
const DATA: usize = 1024;
const KERNEL: usize = 65536;
const BUF_SIZE: usize = 256;

/// Runs `kernel` on device kind `hint` with `nbuf` buffers filled from
/// `fill`; returns the code and the buffers' contents afterwards.
fn run(kernel: &[u8], hint: i32, nbuf: usize, iters: u32, fill: &[u8]) -> (i32, Vec<u8>, String) {
    let mut ctx = ParallelContext::new(common::runtime());
    let mut mem = vec![0u8; MEM];
    assert_eq!(ctx.get_device(&mut mem, hint, DEV_OUT), 0);
    let dev = i32::from_le_bytes(mem[0..4].try_into().unwrap());
    let mut handles = Vec::new();
    for i in 0..nbuf {
        assert_eq!(
            ctx.create_buffer(&mut mem, dev, BUF_SIZE as i32, 2, BUF_OUT),
            0,
            "{:?}",
            ctx.last_error()
        );
        let h = u32::from_le_bytes(mem[4..8].try_into().unwrap());
        for (j, b) in mem[DATA..DATA + BUF_SIZE].iter_mut().enumerate() {
            *b = fill
                .get((i * BUF_SIZE + j) % fill.len().max(1))
                .copied()
                .unwrap_or(j as u8);
        }
        assert_eq!(
            ctx.write_buffer(&mut mem, DATA as i32, BUF_SIZE as i32, h as i32),
            0
        );
        let at = HANDLES as usize + 4 * i;
        mem[at..at + 4].copy_from_slice(&h.to_le_bytes());
        handles.push(h);
    }
    let klen = kernel.len().min(MEM - KERNEL);
    mem[KERNEL..KERNEL + klen].copy_from_slice(&kernel[..klen]);
    let nin = nbuf / 2;
    let code = ctx.parallel_exec(
        &mut mem,
        dev,
        KERNEL as i32,
        kernel.len() as i32,
        iters as i32,
        1,
        HANDLES,
        nin as i32,
        HANDLES + 4 * nin as i32,
        (nbuf - nin) as i32,
    );
    let msg = ctx.last_error().unwrap_or("").to_string();
    let mut out = Vec::new();
    for h in handles {
        assert_eq!(
            ctx.read_buffer(&mut mem, h as i32, DATA as i32, BUF_SIZE as i32),
            0
        );
        out.extend_from_slice(&mem[DATA..DATA + BUF_SIZE]);
    }
    (code, out, msg)
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
    if kernel.len() > MEM - KERNEL {
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
