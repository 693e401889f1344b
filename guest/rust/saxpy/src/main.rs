//! A Rust guest: `y = a * x + y` on a wasi-parallel device, with the kernel
//! written in Rust too (saxpy-kernel, embedded at build time).
//!
//!   wasi-parallel run saxpy.wasm [N=100000] [sequential|cpu|gpu|igpu]
//!
//! Checks the device's result against the same loop run here in the guest
//! and exits 0 when they agree (exactly on CPU devices; within 1e-6 relative
//! on a GPU, which may fuse the multiply-add).

use std::process::ExitCode;
use wasi_parallel_guest::{parallel_exec, Access, Device, DeviceKind, Error};

/// The kernel module's bytes.
static KERNEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/saxpy_kernel.wasm"));

fn run(n: usize, hint: DeviceKind) -> Result<(Vec<f32>, Vec<f32>), Error> {
    let a = 2.5f32;
    let x: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 * 0.5).collect();
    let mut y: Vec<f32> = (0..n).map(|i| 1000.0 - (i % 777) as f32).collect();
    let expected: Vec<f32> = x.iter().zip(&y).map(|(x, y)| a * x + y).collect();

    let dev = Device::get(hint)?;
    let params = dev.buffer_from(&[a], Access::Read)?;
    let xb = dev.buffer_from(&x, Access::Read)?;
    let yb = dev.buffer_from(&y, Access::ReadWrite)?;
    // A GPU wants many short iterations, a CPU pool a few long ones.
    let block = if matches!(hint, DeviceKind::DiscreteGpu | DeviceKind::IntegratedGpu) {
        64
    } else {
        n.div_ceil(64).max(1)
    };
    let iterations = n.div_ceil(block) as u32;
    parallel_exec(
        &dev,
        KERNEL,
        iterations,
        block as u32,
        &[&params, &xb],
        &[&yb],
    )?;
    yb.read_into(&mut y)?;
    Ok((y, expected))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let hint = match args.get(2).map(|s| DeviceKind::parse(s)) {
        None => DeviceKind::Cpu,
        Some(Some(k)) => k,
        Some(None) => {
            eprintln!("usage: saxpy.wasm [N] [sequential|cpu|gpu|igpu]");
            return ExitCode::from(64);
        }
    };
    let (y, expected) = match run(n, hint) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("saxpy (rust): {e}");
            return ExitCode::from(2);
        }
    };
    let bad = y
        .iter()
        .zip(&expected)
        .filter(|(g, w)| (*g - *w).abs() > 1e-6 * w.abs().max(1.0))
        .count();
    let checksum = y.iter().fold(0u32, |h, v| h.rotate_left(5) ^ v.to_bits());
    println!(
        "saxpy (rust): n={n} hint={hint:?} kernel={} bytes checksum=0x{checksum:08x} {}",
        KERNEL.len(),
        if bad == 0 {
            "OK".to_string()
        } else {
            format!("MISMATCH ({bad} elements)")
        }
    );
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
