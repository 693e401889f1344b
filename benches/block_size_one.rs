//! The cost per iteration of one-element-per-iteration kernels (block size
//! 1, the natural shape of a kernel that must also run on a GPU) on the
//! SEQUENTIAL and CPU devices: `cargo bench --bench block_size_one`
//! (release). Two kernels over 4Mi iterations: an empty one (its time is
//! all per-iteration cost) and one storing one u32 (`buf[i] = i`, checked),
//! next to the same store loop in plain Rust. Prints ns per iteration, best
//! of RUNS (default 5) calls after a warm-up, for each engine and thread
//! count, with the JIT's generated range loop (the default) and without it
//! (`WASI_PARALLEL_JIT_RANGE_LOOP=0`, set here per runtime).
//! `ITERS` changes the iteration count.

#[allow(dead_code)]
#[path = "../tests/all/parallel_util.rs"]
mod parallel_util;

use parallel_util::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_parallel::parallel::device::{DeviceBuffer, ExecRequest};
use wasi_parallel::parallel::kernel::layout::Layout;
use wasi_parallel::parallel::kernel::Kernel;
use wasi_parallel::parallel::{KernelEngine, ParallelConfig};

const EMPTY: &str = r#"(module (memory (import "" "memory") 1)
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)))"#;
const ONE_STORE: &str = r#"(module (memory (import "" "memory") 1)
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $i))))"#;

/// Best exec time of `runs` calls after a warm-up, and the buffer after.
fn time(
    engine: KernelEngine,
    threads: usize,
    sequential: bool,
    wasm: &[u8],
    n: u32,
    runs: usize,
) -> (Duration, Vec<u8>) {
    let rt = runtime(ParallelConfig {
        threads,
        kernel_engine: engine,
        max_buffer_bytes: 1 << 31,
        ..ParallelConfig::default()
    });
    let kernel = Arc::new(Kernel::compile(rt.kernel_engine(), wasm, n as u64).expect("kernel"));
    let device = rt.device(if sequential { 0 } else { 1 }).expect("device");
    let bytes = n as u64 * 4;
    let buf = device.create_buffer(bytes).unwrap();
    let occ: Vec<&dyn DeviceBuffer> = vec![&*buf];
    let layout = Layout::compute(kernel.private_size, &[(0, bytes)]).unwrap();
    let never = wasi_parallel::parallel::Cancel::never();
    let req = ExecRequest {
        kernel: &kernel,
        num_iterations: n,
        block_size: 1,
        buffers: &occ,
        layout: &layout,
        fuel: None,
        read_only: &[],
        cancel: &never,
    };
    let mut session = None;
    device.exec(&mut session, &req).expect("exec");
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        device.exec(&mut session, &req).expect("exec");
        best = best.min(t.elapsed());
    }
    let mut out = vec![0u8; bytes as usize];
    device.read(&*buf, &mut out).unwrap();
    (best, out)
}

fn ns(d: Duration, n: u32) -> f64 {
    d.as_secs_f64() * 1e9 / n as f64
}

fn main() {
    let n: u32 = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4 << 20);
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let want: Vec<u8> = (0..n).flat_map(|i| i.to_le_bytes()).collect();

    // The store loop in plain Rust, one thread: the kernel's own work.
    let mut native = vec![0u32; n as usize];
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        for (i, x) in native.iter_mut().enumerate() {
            *x = std::hint::black_box(i as u32);
        }
        best = best.min(t.elapsed());
    }
    let native_ns = ns(best, n);
    println!(
        "block size 1, {n} iterations, best of {runs}; native Rust store loop: {native_ns:.2} ns/iteration"
    );
    println!("| engine | device | range loop | empty kernel ns/iteration | one-store ns/iteration | one-store minus native |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut engines = vec![(KernelEngine::Interpreter, "interpreter", None)];
    if KernelEngine::jit_available() {
        engines.push((KernelEngine::Jit, "JIT", Some(false)));
        engines.push((KernelEngine::Jit, "JIT", Some(true)));
    }
    let empty = wat::parse_str(EMPTY).unwrap();
    let store = wat::parse_str(ONE_STORE).unwrap();
    for (engine, name, range_loop) in engines {
        // Read when the JIT compiler is built (per runtime), before any thread.
        if let Some(on) = range_loop {
            std::env::set_var("WASI_PARALLEL_JIT_RANGE_LOOP", if on { "1" } else { "0" });
        }
        for (label, threads, sequential) in [
            ("SEQUENTIAL", 1, true),
            ("CPU 1 thread", 1, false),
            ("CPU 2 threads", 2, false),
        ] {
            let (e, _) = time(engine, threads, sequential, &empty, n, runs);
            let (s, out) = time(engine, threads, sequential, &store, n, runs);
            assert!(out == want, "{name} {label}: wrong stores");
            let (e, s) = (ns(e, n), ns(s, n));
            // Per thread: 2 threads share the iterations.
            let own = native_ns / threads as f64;
            println!(
                "| {name} | {label} | {} | {e:.2} | {s:.2} | {:.2} |",
                match range_loop {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "-",
                },
                s - own
            );
        }
    }
}
