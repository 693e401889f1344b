//! Interpreter vs JIT kernel engines on the SEQUENTIAL/CPU devices:
//! `cargo bench --bench kernel_engines` (release). Prints, per kernel, the
//! best of a few `exec` calls (kernel compiled and workers built by a
//! warm-up call) on each engine with 1 and 2 CPU threads, the compile time
//! of each kernel (cache miss) per engine, and the cost of a cached
//! one-iteration call through the wasm import. Best-of-N, because the
//! machine may be shared.
//!
//! Kernels: the prototype-style nstream (`tests/wat/nstream.wat`, 8Mi f32,
//! 64 iterations) and sum (`tests/wat/sum.wat`, 2 iterations counting an
//! i64 to 100M), the f32 compute kernel of `benches/native/compute.c`
//! (64Ki items x 1000 steps), and `tests/wat/compute.wat` (u32, 64 x 400k
//! steps). Results are checked against Rust references.

#[allow(dead_code)]
#[path = "../tests/all/parallel_util.rs"]
mod parallel_util;

use parallel_util::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_parallel::parallel::device::{DeviceBuffer, ExecRequest};
use wasi_parallel::parallel::kernel::layout::Layout;
use wasi_parallel::parallel::kernel::Kernel;
use wasi_parallel::parallel::{KernelEngine, ParallelConfig, ParallelRuntime};

const COMPUTE_F32: &str = r#"(module (import "env" "memory" (memory 1))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $x f32) (local $c f32) (local $k i32)
    (local.set $c (f32.mul (f32.convert_i32_u (i32.and (local.get $i) (i32.const 1023))) (f32.const 0.001)))
    (loop $l
      (local.set $x (f32.add (f32.mul (f32.mul (local.get $x) (local.get $x)) (f32.const 0.25)) (local.get $c)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 1000))))
    (f32.store (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 2))) (local.get $x))))"#;

fn rt(engine: KernelEngine, threads: usize) -> Arc<ParallelRuntime> {
    runtime(ParallelConfig {
        threads,
        kernel_engine: engine,
        max_buffer_bytes: 1 << 31,
        ..ParallelConfig::default()
    })
}

/// Best time of `runs` execs after a warm-up; returns it and the buffers.
fn time_exec(
    rt: &ParallelRuntime,
    dev: usize,
    wasm: &[u8],
    n: u32,
    block: u32,
    inputs: &[Vec<u8>],
    runs: usize,
) -> (Duration, Vec<Vec<u8>>) {
    let kernel = Arc::new(Kernel::compile(rt.kernel_engine(), wasm, 42).expect("kernel"));
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
    // The first call builds the workers; its result is what is checked.
    device.exec(&mut session, &req).expect("exec");
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
    (best, out)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn main() {
    let engines: Vec<KernelEngine> = if KernelEngine::jit_available() {
        vec![KernelEngine::Interpreter, KernelEngine::Jit]
    } else {
        vec![KernelEngine::Interpreter]
    };
    let runs = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);

    // nstream: a += b + 3c, 8Mi f32, 64 iterations.
    let elems = 8usize << 20;
    let a: Vec<f32> = (0..elems).map(|i| (i % 1000) as f32).collect();
    let b: Vec<f32> = (0..elems).map(|i| (i % 7) as f32 * 0.5).collect();
    let c: Vec<f32> = (0..elems).map(|i| (i % 13) as f32 * 0.25).collect();
    let nstream_in = vec![f32s_to_bytes(&a), f32s_to_bytes(&b), f32s_to_bytes(&c)];
    let nstream_want: Vec<f32> = (0..elems).map(|j| a[j] + (b[j] + 3.0 * c[j])).collect();
    // sum: 2 iterations of an i64 count to 100M.
    let sum_n: u64 = 100_000_000;
    let sum_want = sum_n * (sum_n - 1) / 2;
    // compute (f32, as benches/native/compute.c): 64Ki items x 1000 steps.
    let items = 1u32 << 16;
    let compute_f32_want: Vec<f32> = (0..items)
        .map(|i| {
            let c = (i & 1023) as f32 * 0.001;
            let mut x = 0f32;
            for _ in 0..1000 {
                x = x * x * 0.25 + c;
            }
            x
        })
        .collect();

    let kernels: Vec<(&str, Vec<u8>)> = vec![
        ("nstream", wat("nstream")),
        ("sum", wat("sum")),
        ("compute f32", wat::parse_str(COMPUTE_F32).unwrap()),
        ("compute u32", wat("compute")),
    ];
    println!("compile time per kernel (cache miss), ms:");
    for (name, w) in &kernels {
        let mut line = format!("  {name:<12}");
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

    println!("\nkernel | engine | CPU 1 thread ms | CPU 2 threads ms");
    for &e in &engines {
        let rts = [rt(e, 1), rt(e, 2)];
        let row = |name: &str, f: &dyn Fn(&ParallelRuntime) -> Duration| {
            let t: Vec<String> = rts.iter().map(|r| ms(f(r))).collect();
            println!("{name} | {} | {} | {}", e.name(), t[0], t[1]);
        };
        row("nstream 8Mi f32 (64 it.)", &|r| {
            let (t, out) = time_exec(
                r,
                CPU as usize,
                &kernels[0].1,
                64,
                (elems / 64) as u32,
                &nstream_in,
                runs,
            );
            assert_eq!(out[0], f32s_to_bytes(&nstream_want), "nstream");
            t
        });
        row("sum 2 x 100M i64", &|r| {
            let (t, out) = time_exec(
                r,
                CPU as usize,
                &kernels[1].1,
                2,
                sum_n as u32,
                &[vec![0; 16]],
                runs,
            );
            let got: Vec<u64> = out[0]
                .chunks(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(got, [sum_want, sum_want], "sum");
            t
        });
        row("compute f32 64Ki x 1000", &|r| {
            let (t, out) = time_exec(
                r,
                CPU as usize,
                &kernels[2].1,
                items,
                1,
                &[vec![0; items as usize * 4]],
                runs,
            );
            assert_eq!(out[0], f32s_to_bytes(&compute_f32_want), "compute f32");
            t
        });
        row("compute u32 64 x 400k", &|r| {
            let (t, out) = time_exec(
                r,
                CPU as usize,
                &kernels[3].1,
                64,
                400_000,
                &[vec![0; 256]],
                runs,
            );
            let want: Vec<u32> = (0..64).map(|i| compute_ref(i, 400_000)).collect();
            assert_eq!(bytes_to_u32s(&out[0]), want, "compute u32");
            t
        });
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
