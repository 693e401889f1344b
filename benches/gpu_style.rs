//! The Vulkan device against the CPU device on GPU-style kernels (one
//! element per iteration, block size 1: the shape a kernel written for a
//! GPU has), in one run: `cargo bench --bench gpu_style` (release).
//!
//! Kernels: Mandelbrot with one pixel per iteration (512x384 and 256x192,
//! 1000 steps; the cost per pixel varies a lot) and the f32 compute kernel
//! (`tests/wat/compute_f32.wat`, 192Ki items x 1000 steps, the same cost
//! for every item). Prints, per kernel, the best of RUNS (default 5) device
//! `exec` calls after a warm-up on the Vulkan device and on the CPU device
//! (JIT where compiled in, every core), and their ratio: a change that
//! makes the Vulkan device slower (translator, dispatch, chunking) shows as
//! a smaller ratio, whatever the machine's speed. Issue 24: splitting the
//! 512x384 call into three dispatch chunks cost lavapipe 45% on 2 cores.
//! Results are checked (Mandelbrot: at most 0.1% of the pixels may differ
//! from the Rust reference on the GPU, whose float rounding may fuse).
//! On a shared machine give the run its own higher-priority scheduling
//! group (BENCHMARKS.md, "GPU-style kernels"): a lavapipe call that gets
//! one core of two hides the loss this bench is for.

#[path = "common/exec.rs"]
mod exec;
#[allow(dead_code)]
#[path = "../tests/all/parallel_util.rs"]
mod parallel_util;

use parallel_util::*;
use std::sync::Arc;
use std::time::Duration;
use wasi_parallel::parallel::{KernelEngine, ParallelConfig, ParallelRuntime};

/// One pixel per iteration: counts[i] = escape steps of pixel i (row i / w,
/// column i % w). Buffers: params (w, h, max_iter: u32; x0, y0, dx, dy:
/// f32), counts (u32 per pixel).
const MANDELBROT: &str = r#"(module (memory (import "" "memory") 1)
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $pp i32) (param $lp i32) (param $pc i32) (param $lc i32)
    (local $w i32) (local $row i32) (local $max i32) (local $k i32)
    (local $cr f32) (local $ci f32) (local $zr f32) (local $zi f32)
    (local $zr2 f32) (local $zi2 f32)
    (local.set $w (i32.load (local.get $pp)))
    (if (i32.or (i32.eqz (local.get $w))
          (i32.ge_u (local.get $i) (i32.mul (local.get $w) (i32.load offset=4 (local.get $pp)))))
      (then (return)))
    (local.set $max (i32.load offset=8 (local.get $pp)))
    (local.set $row (i32.div_u (local.get $i) (local.get $w)))
    (local.set $ci (f32.add (f32.load offset=16 (local.get $pp))
      (f32.mul (f32.convert_i32_u (local.get $row)) (f32.load offset=24 (local.get $pp)))))
    (local.set $cr (f32.add (f32.load offset=12 (local.get $pp))
      (f32.mul (f32.convert_i32_u (i32.sub (local.get $i) (i32.mul (local.get $row) (local.get $w))))
        (f32.load offset=20 (local.get $pp)))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $max)))
        (local.set $zr2 (f32.mul (local.get $zr) (local.get $zr)))
        (local.set $zi2 (f32.mul (local.get $zi) (local.get $zi)))
        (br_if $done (i32.eqz (f32.le (f32.add (local.get $zr2) (local.get $zi2)) (f32.const 4))))
        (local.set $zi (f32.add (f32.mul (f32.add (local.get $zr) (local.get $zr)) (local.get $zi))
          (local.get $ci)))
        (local.set $zr (f32.add (f32.sub (local.get $zr2) (local.get $zi2)) (local.get $cr)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l)))
    (i32.store (i32.add (local.get $pc) (i32.shl (local.get $i) (i32.const 2))) (local.get $k))))"#;

fn mandelbrot_params(w: u32, h: u32, max_iter: u32) -> Vec<u8> {
    let mut p = u32s_to_bytes(&[w, h, max_iter]);
    p.extend(f32s_to_bytes(&[-2.2, -1.0, 3.0 / w as f32, 2.0 / h as f32]));
    p
}

fn mandelbrot_ref(w: u32, h: u32, max_iter: u32) -> Vec<u32> {
    let (x0, y0, dx, dy) = (-2.2f32, -1.0f32, 3.0 / w as f32, 2.0 / h as f32);
    (0..w * h)
        .map(|i| {
            let (ci, cr) = (y0 + (i / w) as f32 * dy, x0 + (i % w) as f32 * dx);
            let (mut zr, mut zi, mut k) = (0f32, 0f32, 0);
            while k < max_iter {
                let (zr2, zi2) = (zr * zr, zi * zi);
                // As the kernel: stop unless |z|^2 <= 4 (NaN stops).
                if (zr2 + zi2).partial_cmp(&4.0).is_none_or(|o| o.is_gt()) {
                    break;
                }
                zi = (zr + zr) * zi + ci;
                zr = (zr2 - zi2) + cr;
                k += 1;
            }
            k
        })
        .collect()
}

fn compute_f32_ref(items: u32) -> Vec<f32> {
    (0..items)
        .map(|i| {
            let c = (i & 1023) as f32 * 0.001;
            let mut x = 0f32;
            for _ in 0..1000 {
                x = x * x * 0.25 + c;
            }
            x
        })
        .collect()
}

/// Best time of `runs` execs after a warm-up (one element per iteration,
/// block size 1), and the last buffer after the warm-up.
fn time_exec(
    rt: &ParallelRuntime,
    dev: usize,
    wasm: &[u8],
    n: u32,
    inputs: &[Vec<u8>],
    runs: usize,
) -> Result<(Duration, Vec<u8>), String> {
    let (best, mut out) = exec::time_exec(rt, dev, wasm, n, 1, inputs, runs)?;
    Ok((best, out.pop().expect("a buffer")))
}

fn main() {
    let runs = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let engine = if KernelEngine::jit_available() {
        KernelEngine::Jit
    } else {
        KernelEngine::Interpreter
    };
    let config = ParallelConfig {
        threads,
        kernel_engine: engine,
        ..ParallelConfig::default()
    };
    let cpu_rt = runtime(config.clone());
    let full = Arc::new(ParallelRuntime::new(config).expect("runtime"));
    let Some(gpu) = full.devices().into_iter().find(|d| d.kind.is_gpu()) else {
        println!("no Vulkan device: nothing to compare (lavapipe: scripts/setup.sh)");
        return;
    };
    println!(
        "best of {runs} exec calls after a warm-up, ms; Vulkan: {}; CPU: {} engine, {threads} threads",
        gpu.name,
        engine.name()
    );
    println!("| kernel (block size 1) | iterations | Vulkan | CPU | CPU / Vulkan |");
    println!("| --- | --- | --- | --- | --- |");

    let mandel = wat::parse_str(MANDELBROT).expect("mandelbrot wat");
    let compute = wat("compute_f32");
    let items = 3u32 << 16;
    // (label, kernel, iterations, buffers, check of the last buffer)
    type Check = Box<dyn Fn(&[u8]) -> Result<(), String>>;
    type Case<'a> = (String, &'a [u8], u32, Vec<Vec<u8>>, Check);
    let mut cases: Vec<Case<'_>> = Vec::new();
    for (w, h) in [(512u32, 384u32), (256, 192)] {
        let want = mandelbrot_ref(w, h, 1000);
        cases.push((
            format!("mandelbrot {w}x{h} x 1000, one pixel per iteration"),
            &mandel,
            w * h,
            vec![mandelbrot_params(w, h, 1000), vec![0; (w * h * 4) as usize]],
            Box::new(move |out| {
                let bad = bytes_to_u32s(out)
                    .iter()
                    .zip(&want)
                    .filter(|(a, b)| a != b)
                    .count();
                match bad <= want.len() / 1000 {
                    true => Ok(()),
                    false => Err(format!("{bad} of {} pixels differ", want.len())),
                }
            }),
        ));
    }
    let want = f32s_to_bytes(&compute_f32_ref(items));
    cases.push((
        "compute f32 192Ki x 1000, one item per iteration".into(),
        &compute,
        items,
        vec![vec![0; items as usize * 4]],
        Box::new(move |out| match out == &want[..] {
            true => Ok(()),
            false => Err("differs from the reference".into()),
        }),
    ));

    for (name, wasm, n, inputs, check) in &cases {
        let (cpu, out) = time_exec(&cpu_rt, CPU as usize, wasm, *n, inputs, runs)
            .unwrap_or_else(|e| panic!("{name} on the CPU device: {e}"));
        check(&out).unwrap_or_else(|e| panic!("{name} on the CPU device: {e}"));
        let (vk, ratio) = match time_exec(&full, gpu.index, wasm, *n, inputs, runs) {
            Ok((t, out)) => {
                check(&out).unwrap_or_else(|e| panic!("{name} on Vulkan: {e}"));
                (
                    format!("{:.2}", t.as_secs_f64() * 1e3),
                    format!("{:.2}", cpu.as_secs_f64() / t.as_secs_f64()),
                )
            }
            Err(e) => (format!("declined ({e})"), "-".into()),
        };
        println!(
            "| {name} | {n} | {vk} | {:.2} | {ratio} |",
            cpu.as_secs_f64() * 1e3
        );
    }
}
