//! Interpreter vs JIT kernel engines on the SEQUENTIAL/CPU devices:
//! `cargo bench --bench kernel_engines` (release). Prints, per kernel, the
//! best of a few `exec` calls (kernel compiled and workers built by a
//! warm-up call) on each engine with 1 and 2 CPU threads and on the Vulkan
//! device (when there is one; a kernel it declines says so), the compile
//! time of each kernel (cache miss) per engine, and the cost of a cached
//! one-iteration call through the wasm import. Best-of-N, because the
//! machine may be shared. `benches/examples.sh` runs it after the example
//! guests, with `NATIVE=` (the output of `benches/native/run.sh`, for the
//! native columns) and `ROWS_ONLY=1` (no table header), so that both make
//! one table. `ENGINES=jit` (or `interpreter`) keeps one engine and
//! `ONLY=nstream,sum` the cases of those keys (for A/B runs: e.g. the
//! same binary with and without `WASI_PARALLEL_JIT_UNROLL=0`).
//!
//! Kernels: the f32 compute kernel (`tests/wat/compute_f32.wat`, twin of
//! `benches/native/compute.c`; 64Ki
//! items x 1000 steps), `tests/wat/compute.wat` (u32, 64 x 400k steps), and
//! the prototype's two benchmarks: nstream (`tests/wat/nstream.wat`, 8Mi
//! f32 in 8 iterations of 1Mi) and sum (`tests/wat/sum.wat`, 2 iterations
//! each counting an i32 to 100M); their native twins are in
//! `benches/native/proto.c`. Every result is checked against a Rust
//! reference.

#[path = "common/exec.rs"]
mod exec;
#[allow(dead_code)]
#[path = "../tests/all/parallel_util.rs"]
mod parallel_util;

use exec::time_exec;
use parallel_util::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_parallel::parallel::kernel::Kernel;
use wasi_parallel::parallel::{KernelEngine, ParallelConfig, ParallelRuntime};

/// Whether kernels run interruptible (`INTERRUPTIBLE=1`: the library's
/// default, fuel slices on the interpreter and epoch checks on the JIT) or
/// not (the default here: what the CLI runs, as `benches/examples.sh`
/// measures the example guests; `benches/jit_options.rs` and
/// `benches/limits_cost.rs` give what interruptibility costs).
fn interruptible() -> bool {
    std::env::var("INTERRUPTIBLE").is_ok_and(|v| v == "1")
}

fn config(engine: KernelEngine, threads: usize) -> ParallelConfig {
    ParallelConfig {
        threads,
        kernel_engine: engine,
        max_buffer_bytes: 1 << 31,
        interruptible: interruptible(),
        ..ParallelConfig::default()
    }
}

/// SEQUENTIAL and CPU only.
fn rt(engine: KernelEngine, threads: usize) -> Arc<ParallelRuntime> {
    runtime(config(engine, threads))
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut engines: Vec<KernelEngine> = if KernelEngine::jit_available() {
        vec![KernelEngine::Interpreter, KernelEngine::Jit]
    } else {
        vec![KernelEngine::Interpreter]
    };
    // `ENGINES=jit` (or `interpreter`) keeps one engine; `ONLY=nstream,sum`
    // keeps the cases whose key (the native table's name) is listed.
    if let Ok(keep) = std::env::var("ENGINES") {
        engines.retain(|e| keep.split(',').any(|k| e.name().starts_with(k)));
    }
    let only = std::env::var("ONLY").ok();
    let picked = |key: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|k| k == key))
    };
    let runs = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);

    // nstream: a += b + 3c, 8Mi f32, 8 iterations of 1Mi (the prototype's
    // 32 MiB buffers over its 8 "threads").
    let elems = 8usize << 20;
    let a: Vec<f32> = (0..elems).map(|i| (i % 1000) as f32).collect();
    let b: Vec<f32> = (0..elems).map(|i| (i % 7) as f32 * 0.5).collect();
    let c: Vec<f32> = (0..elems).map(|i| (i % 13) as f32 * 0.25).collect();
    let nstream_want = f32s_to_bytes(
        &(0..elems)
            .map(|j| a[j] + (b[j] + 3.0 * c[j]))
            .collect::<Vec<_>>(),
    );
    // sum: 2 iterations, each counting an i32 to 100M + i.
    let sum_n: u32 = 100_000_000;
    let sum_want = u32s_to_bytes(&[sum_n, sum_n + 1]);
    // compute (f32, as benches/native/compute.c): 64Ki items x 1000 steps.
    let items = 1u32 << 16;
    let compute_f32_want = f32s_to_bytes(
        &(0..items)
            .map(|i| {
                let c = (i & 1023) as f32 * 0.001;
                let mut x = 0f32;
                for _ in 0..1000 {
                    x = x * x * 0.25 + c;
                }
                x
            })
            .collect::<Vec<_>>(),
    );
    let compute_u32_want =
        u32s_to_bytes(&(0..64).map(|i| compute_ref(i, 400_000)).collect::<Vec<_>>());

    // (row label, key of benches/native/run.sh's output, kernel, iterations,
    // block size, buffers in, expected first buffer out)
    type Case<'a> = (&'a str, &'a str, Vec<u8>, u32, u32, Vec<Vec<u8>>, &'a [u8]);
    let mut cases: Vec<Case<'_>> = vec![
        (
            "compute f32 64Ki x 1000",
            "compute",
            wat("compute_f32"),
            items,
            1,
            vec![vec![0; items as usize * 4]],
            &compute_f32_want,
        ),
        (
            "compute u32 64 x 400k",
            "compute_u32",
            wat("compute"),
            64,
            400_000,
            vec![vec![0; 256]],
            &compute_u32_want,
        ),
        (
            "nstream 8Mi f32 (8 x 1Mi)",
            "nstream",
            wat("nstream"),
            8,
            (elems / 8) as u32,
            vec![f32s_to_bytes(&a), f32s_to_bytes(&b), f32s_to_bytes(&c)],
            &nstream_want,
        ),
        (
            "sum 2 x 100M (i32 count)",
            "sum",
            wat("sum"),
            2,
            sum_n,
            vec![vec![0; 8]],
            &sum_want,
        ),
    ];
    cases.retain(|c| picked(c.1));
    println!("compile time per kernel (cache miss), ms:");
    for (name, _, w, ..) in &cases {
        let mut line = format!("  {name:<26}");
        for &e in &engines {
            let r = rt(e, 1);
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let t = Instant::now();
                Kernel::compile(r.kernel_engine(), w, 1).unwrap();
                best = best.min(t.elapsed());
            }
            line += &format!("  {}: {:.3}", e.name(), best.as_secs_f64() * 1e3);
        }
        println!("{line}");
    }

    // benches/native/run.sh's output (`name 1t_ms omp_ms ...`), if given.
    let native: Vec<(String, String, String)> = std::env::var("NATIVE")
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| (f[0].to_string(), f[1].to_string(), f[2].to_string()))
        })
        .collect();
    // One runtime per engine and thread count, plus the Vulkan device of
    // the first (a GPU device when the runtime found one).
    let cpus: Vec<(KernelEngine, usize, Arc<ParallelRuntime>)> = engines
        .iter()
        .flat_map(|&e| [1, 2].map(|t| (e, t, rt(e, t))))
        .collect();
    // With the devices the runtime finds (Vulkan when there is one).
    let full = Arc::new(ParallelRuntime::new(config(engines[0], 2)).expect("runtime"));
    let gpu = full
        .devices()
        .into_iter()
        .find(|d| d.kind.is_gpu())
        .map(|d| d.index);
    println!(
        "\nms, best of {runs} calls after a warm-up (device exec; kernels {}interruptible; Vulkan: {})",
        if interruptible() { "" } else { "not " },
        gpu.map(|g| full.devices()[g].name.clone())
            .unwrap_or_else(|| "no device".into())
    );
    if std::env::var_os("ROWS_ONLY").is_none() {
        let mut head = "| kernel | native 1t | native OpenMP 2t |".to_string();
        for (e, t, _) in &cpus {
            head += &format!(" {} {t}t |", e.name());
        }
        println!("{head} Vulkan |");
        println!("|{}", " --- |".repeat(cpus.len() + 4));
    }
    for (name, key, w, n, block, inputs, want) in &cases {
        let (n1, nomp) = native
            .iter()
            .find(|(k, ..)| k == key)
            .map(|(_, a, b)| (a.clone(), b.clone()))
            .unwrap_or(("-".into(), "-".into()));
        let mut line = format!("| {name} | {n1} | {nomp} |");
        for (e, _, r) in &cpus {
            let (t, out) = time_exec(r, CPU as usize, w, *n, *block, inputs, runs)
                .unwrap_or_else(|err| panic!("{name} on {}: {err}", e.name()));
            assert_eq!(&out[0][..], *want, "{name} on {}", e.name());
            line += &format!(" {} |", ms(t));
        }
        let vk = match gpu {
            None => "-".to_string(),
            Some(g) => match time_exec(&full, g, w, *n, *block, inputs, runs) {
                Ok((t, out)) => {
                    assert_eq!(&out[0][..], *want, "{name} on Vulkan");
                    ms(t)
                }
                Err(e) => format!("declined ({})", e.chars().take(60).collect::<String>()),
            },
        };
        println!("{line} {vk} |");
    }

    println!("\ncached one-iteration call through the wasm import (µs, median of 5 x 20000):");
    for &e in &engines {
        for hint in [SEQUENTIAL, CPU] {
            let r = rt(e, 2);
            let mut g = Guest::new(&r);
            let dev = g.get_device(hint).unwrap();
            let k = wat("spin");
            g.poke(KERNEL, &k);
            let args = [dev as i32, KERNEL, k.len() as i32, 1, 0, 0, 0, 0, 0];
            let mut samples = Vec::new();
            for _ in 0..5 {
                let n = 20_000;
                let t = Instant::now();
                for _ in 0..n {
                    assert_eq!(g.call("parallel_exec", &args), 0);
                }
                samples.push(t.elapsed() / n);
            }
            samples.sort();
            let dev_name = if hint == SEQUENTIAL {
                "SEQUENTIAL"
            } else {
                "CPU"
            };
            println!(
                "  {} {dev_name}: {:.2}",
                e.name(),
                samples[2].as_secs_f64() * 1e6
            );
        }
    }
}
