//! wasi-parallel micro benchmarks: `cargo bench --bench parallel`.
//!
//! Prints the overhead of an empty one-iteration `parallel_exec` with a
//! cached kernel (through the real wasmi import glue) on SEQUENTIAL and CPU,
//! and a compute-bound kernel on SEQUENTIAL and CPU with 1, 2, ... threads.

// The shared helpers of tests/all; this bench uses only some of them.
#[allow(dead_code)]
#[path = "../tests/all/parallel_util.rs"]
mod parallel_util;

use parallel_util::*;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn empty_call_overhead(hint: i32, threads: usize) -> Duration {
    let rt = runtime_threads(threads);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(hint).unwrap();
    let k = wat("spin"); // block_size 0: returns at once
    g.poke(KERNEL, &k);
    let args = [dev as i32, KERNEL, k.len() as i32, 1, 0, 0, 0, 0, 0];
    let f = g.instance.get_func(&g.store, "parallel_exec").unwrap();
    let params: Vec<wasmi::Val> = args.iter().map(|a| wasmi::Val::I32(*a)).collect();
    let mut out = [wasmi::Val::I32(0)];
    let mut samples = Vec::new();
    for _ in 0..5 {
        let n = 20_000;
        let t = Instant::now();
        for _ in 0..n {
            f.call(&mut g.store, &params, &mut out).unwrap();
        }
        samples.push(t.elapsed() / n);
        assert_eq!(out[0].i32(), Some(0));
    }
    median(samples)
}

/// User + system CPU time of the whole process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Best wall time of 5 compute-bound calls, the CPU time / wall time of
/// that call (how many cores it really got) and its CPU time.
fn compute(hint: i32, threads: usize, iterations: u32, steps: u32) -> (Duration, f64, Duration) {
    let rt = runtime_threads(threads);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(hint).unwrap();
    let out = g.create_buffer(dev, iterations * 4, WRITE).unwrap();
    let k = wat("compute");
    // warm: compile + build workers
    assert_eq!(g.exec(dev, &k, iterations, steps, &[], &[out]), 0);
    let mut samples = Vec::new();
    let mut cores_used = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..5 {
        let c = cpu_time();
        let t = Instant::now();
        assert_eq!(g.exec(dev, &k, iterations, steps, &[], &[out]), 0);
        let wall = t.elapsed();
        samples.push(wall);
        let used = cpu_time() - c;
        cpu.push(used);
        cores_used.push(used.as_secs_f64() / wall.as_secs_f64());
    }
    let got = bytes_to_u32s(&g.read_buffer(out, iterations as usize * 4).unwrap());
    for (i, v) in got.iter().enumerate().step_by(7) {
        assert_eq!(*v, compute_ref(i as u32, steps));
    }
    // The fastest run is the best estimate on a machine others share.
    let best = (0..samples.len()).min_by_key(|i| samples[*i]).unwrap();
    (samples[best], cores_used[best], cpu[best])
}

/// First call (compile + build workers), a call with a new buffer set
/// (build workers), and a cached call, for a 16 MiB buffer on `threads`.
fn setup_costs(threads: usize) -> (Duration, Duration, Duration) {
    let rt = runtime_threads(threads);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    let k = wat("touch");
    let size = 16u32 << 20;
    let data = vec![1u8; size as usize];
    let a = g.buffer_with(dev, &data, READ);
    let b = g.buffer_with(dev, &data, READ);
    let out = g.create_buffer(dev, 4 * 64, WRITE).unwrap();
    let mut time = |buf| {
        let t = Instant::now();
        assert_eq!(g.exec(dev, &k, 64, 0, &[buf], &[out]), 0);
        t.elapsed()
    };
    let first = time(a);
    let new_set = time(b);
    let cached = time(b);
    eprintln!(
        "(worker setup summed over workers and calls: {:.2} ms)",
        g.ctx().stats().setup_time.as_secs_f64() * 1e3
    );
    (first, new_set, cached)
}

fn main() {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("wasi-parallel bench ({cores} cores)");
    let seq = empty_call_overhead(SEQUENTIAL, 1);
    let cpu = empty_call_overhead(CPU, cores);
    println!(
        "empty 1-iteration parallel_exec, cached kernel: SEQUENTIAL {:.2} us, CPU {:.2} us",
        seq.as_secs_f64() * 1e6,
        cpu.as_secs_f64() * 1e6
    );
    let (first, new_set, cached) = setup_costs(cores);
    println!(
        "16 MiB input buffer (written by the guest), 64 iterations touching every page, CPU {cores} threads: first call {:.2} ms, new buffer set {:.2} ms, cached {:.2} ms",
        first.as_secs_f64() * 1e3,
        new_set.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e3
    );
    let (iters, steps) = (64u32, 400_000u32);
    let (s, _, _) = compute(SEQUENTIAL, 1, iters, steps);
    println!(
        "compute kernel ({iters} iterations x {steps} steps): SEQUENTIAL {:.1} ms",
        s.as_secs_f64() * 1e3
    );
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut one = None;
    let mut threads = 1;
    while threads <= cores.max(2) {
        let (t, used, cpu) = compute(CPU, threads, iters, steps);
        let base = *one.get_or_insert(t);
        println!(
            "compute kernel: CPU {threads} thread(s) {:.1} ms, speedup vs 1 thread {:.2}x (CPU time {:.1} ms, cores actually used {used:.2})",
            t.as_secs_f64() * 1e3,
            base.as_secs_f64() / t.as_secs_f64(),
            cpu.as_secs_f64() * 1e3
        );
        threads *= 2;
    }
}
