//! Timing one kernel on one device through the `Device` trait, shared by
//! the benches that compare devices (`kernel_engines`, `gpu_style`).

use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_parallel::parallel::device::{DeviceBuffer, ExecRequest};
use wasi_parallel::parallel::kernel::layout::Layout;
use wasi_parallel::parallel::kernel::Kernel;
use wasi_parallel::parallel::ParallelRuntime;

/// Best time of `runs` execs after a warm-up; returns it and the buffers.
pub fn time_exec(
    rt: &ParallelRuntime,
    dev: usize,
    wasm: &[u8],
    n: u32,
    block: u32,
    inputs: &[Vec<u8>],
    runs: usize,
) -> Result<(Duration, Vec<Vec<u8>>), String> {
    // Keyed by the bytes (FNV-1a): the Vulkan device remembers declined
    // kernels by this hash.
    let hash = wasm.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    let kernel = Arc::new(Kernel::compile(rt.kernel_engine(), wasm, hash).expect("kernel"));
    let device = rt.device(dev).expect("device");
    let bufs: Vec<Box<dyn DeviceBuffer>> = inputs
        .iter()
        .map(|d| {
            let b = device.create_buffer(d.len() as u64).unwrap();
            device.write(&*b, d).unwrap();
            b
        })
        .collect();
    let occ: Vec<&dyn DeviceBuffer> = bufs.iter().map(|b| &**b).collect();
    let keyed: Vec<(usize, u64)> = inputs
        .iter()
        .enumerate()
        .map(|(i, d)| (i, d.len() as u64))
        .collect();
    let layout = Layout::compute(kernel.private_size, &keyed).unwrap();
    let mut session = None;
    let never = wasi_parallel::parallel::Cancel::never();
    let req = ExecRequest {
        kernel: &kernel,
        num_iterations: n,
        block_size: block,
        buffers: &occ,
        layout: &layout,
        fuel: None,
        read_only: &[],
        cancel: &never,
    };
    // The first call builds the workers (on Vulkan: compiles the pipeline,
    // or declines the kernel); its result is what is checked.
    device.exec(&mut session, &req).map_err(|e| e.to_string())?;
    let out: Vec<Vec<u8>> = bufs
        .iter()
        .zip(inputs)
        .map(|(b, d)| {
            let mut v = vec![0u8; d.len()];
            device.read(&**b, &mut v).unwrap();
            v
        })
        .collect();
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        device.exec(&mut session, &req).expect("exec");
        best = best.min(t.elapsed());
    }
    Ok((best, out))
}
