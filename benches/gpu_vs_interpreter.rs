//! Vulkan device vs the wasmi interpreter (SEQUENTIAL and CPU devices) on a
//! compute-bound kernel and on nstream. `cargo bench --bench gpu_vs_interpreter`.
//! Times are per `exec` (the buffers are already on the device; for Vulkan
//! this includes assembling the arena and copying written buffers back on
//! the device, not host transfers; repeated calls on the same buffers skip
//! copying them in), median of a few runs after a warm-up.
//!
//! Sizes can be raised for a real GPU (where the defaults are too small to
//! leave the per-call overhead behind): `WP_BENCH_COMPUTE_N` (invocations of
//! the compute kernel, default 65536) and `WP_BENCH_NSTREAM_ELEMS` (f32
//! elements per nstream array, default 4Mi). `scripts/gpu-check.sh` sets
//! both. The last row per device is the cost of a minimal call (one
//! iteration, one 4-byte buffer): the per-call overhead.
//!
//! `WP_BENCH_ONLY=stack,histogram` (comma-separated: `compute`, `nstream`,
//! `small`, `stack`, `histogram`) runs only those groups. The `stack frame`
//! and `histogram` rows run on each Vulkan device once per shadow stack
//! storage (`private`, `scratch` = lane-interleaved scratch buffer,
//! `scratch-contiguous`; see `StackStorage`); `WP_BENCH_STACK_FRAMES`
//! (default `256,1024,2048,8192`) picks the frame sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_parallel::parallel::device::{DeviceBuffer, ExecRequest};
use wasi_parallel::parallel::kernel::layout::Layout;
use wasi_parallel::parallel::kernel::Kernel;
use wasi_parallel::parallel::{ParallelConfig, ParallelRuntime};
use wasi_parallel::spirv::StackStorage;

const COMPUTE: &str = r#"(module (import "env" "memory" (memory 1))
  ;; out[i] = iterate x <- x*x*0.25 + c (f32), 1000 steps, c from the id
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $x f32) (local $c f32) (local $k i32)
    (local.set $c (f32.mul (f32.convert_i32_u (i32.and (local.get $i) (i32.const 1023))) (f32.const 0.001)))
    (loop $l
      (local.set $x (f32.add (f32.mul (f32.mul (local.get $x) (local.get $x)) (f32.const 0.25)) (local.get $c)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 1000))))
    (f32.store (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 2))) (local.get $x))))"#;

const NSTREAM: &str = r#"(module (import "env" "memory" (memory 1))
  ;; a[j] += b[j] + s*c[j] for j in the block of iteration i
  (func (export "kernel") (param $i i32) (param $n i32) (param $bs i32)
        (param $pa i32) (param $la i32) (param $pb i32) (param $lb i32) (param $pc i32) (param $lc i32)
    (local $j i32) (local $end i32) (local $o i32)
    (local.set $j (i32.mul (local.get $i) (local.get $bs)))
    (local.set $end (i32.add (local.get $j) (local.get $bs)))
    (loop $l
      (local.set $o (i32.shl (local.get $j) (i32.const 2)))
      (f32.store (i32.add (local.get $pa) (local.get $o))
        (f32.add (f32.load (i32.add (local.get $pa) (local.get $o)))
          (f32.add (f32.load (i32.add (local.get $pb) (local.get $o)))
            (f32.mul (f32.const 3) (f32.load (i32.add (local.get $pc) (local.get $o)))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $j) (local.get $end))))))"#;

/// A kernel with a local array of `frame` bytes on clang's shadow stack:
/// 64 stores and 64 loads (of the words stored, in reverse order) at
/// dynamic offsets in it per invocation (the window on the GPU is `frame`
/// bytes).
fn stack_kernel(frame: u32) -> String {
    format!(
        r#"(module (import "env" "memory" (memory 1))
  (global $sp (mut i32) (i32.const 32768))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $fp i32) (local $k i32) (local $s i32)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const {frame}))))
    (loop $w
      (i32.store (i32.add (local.get $fp) (i32.and (i32.mul (local.get $k) (i32.const 52)) (i32.const {mask})))
        (i32.add (local.get $i) (local.get $k)))
      (br_if $w (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 64))))
    (local.set $k (i32.const 0))
    (loop $r
      (local.set $s (i32.add (local.get $s)
        (i32.load (i32.add (local.get $fp) (i32.and (i32.mul (i32.sub (i32.const 63) (local.get $k)) (i32.const 52)) (i32.const {mask}))))))
      (br_if $r (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 64))))
    (i32.store (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
    (global.set $sp (i32.add (local.get $fp) (i32.const {frame})))))"#,
        mask = frame - 4
    )
}

#[allow(clippy::too_many_arguments)]
fn time_exec(
    rt: &ParallelRuntime,
    dev: usize,
    wasm: &[u8],
    n: u32,
    block: u32,
    sizes: &[u64],
    runs: usize,
    fuel: Option<u64>,
    read_only: &[bool],
) -> Result<Duration, String> {
    let kernel =
        Arc::new(Kernel::compile(rt.kernel_engine(), wasm, hash(wasm)).map_err(|e| e.to_string())?);
    let device = rt.device(dev).ok_or("no device")?;
    let bufs: Vec<Box<dyn DeviceBuffer>> = sizes
        .iter()
        .map(|&s| {
            let b = device.create_buffer(s)?;
            device.write(&*b, &vec![1u8; s as usize])?;
            Ok(b)
        })
        .collect::<Result<_, wasi_parallel::parallel::ParError>>()
        .map_err(|e| e.to_string())?;
    let occ: Vec<&dyn DeviceBuffer> = bufs.iter().map(|b| &**b).collect();
    let keyed: Vec<(usize, u64)> = sizes.iter().copied().enumerate().collect();
    let layout = Layout::compute(kernel.private_size, &keyed).map_err(|e| e.to_string())?;
    let mut session = None;
    let mut times = Vec::new();
    for r in 0..runs + 1 {
        let t = Instant::now();
        device
            .exec(
                &mut session,
                &ExecRequest {
                    kernel: &kernel,
                    num_iterations: n,
                    block_size: block,
                    buffers: &occ,
                    layout: &layout,
                    fuel,
                    read_only,
                    cancel: &wasi_parallel::parallel::Cancel::never(),
                },
            )
            .map_err(|e| e.to_string())?;
        if r > 0 {
            times.push(t.elapsed());
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// FNV-1a of the kernel's bytes: the devices key their caches (and the
/// Vulkan device its "declined" kernels) by the hash.
fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    h
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A kernel that stores its iteration index: the smallest useful call.
const SMALL: &str = r#"(module (import "env" "memory" (memory 1))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (i32.store (local.get $po) (local.get $i))))"#;

/// Whether `WP_BENCH_ONLY` (unset: everything) names the group.
fn wanted(group: &str) -> bool {
    match std::env::var("WP_BENCH_ONLY") {
        Ok(v) if !v.trim().is_empty() => v.split(',').any(|g| g.trim() == group),
        _ => true,
    }
}

/// A runtime whose Vulkan devices keep shadow stacks in `storage`.
fn runtime_with_stack(storage: StackStorage) -> ParallelRuntime {
    ParallelRuntime::with_devices(ParallelConfig::default(), |first| {
        wasi_parallel::parallel::device::vulkan::discover_stack(first, None, true, storage)
    })
    .expect("runtime")
}

/// The `stack frame` and `histogram` rows of device `d` with runtime `rt`
/// (`tag` names the stack storage on GPU devices).
fn stack_rows(rt: &ParallelRuntime, d: usize, name: &str, tag: &str, runs: usize) {
    if wanted("stack") {
        // Cost per invocation of a kernel with a local array (shadow
        // stack), by the size of its frame (= the GPU's stack window).
        let n_stack = 1 << 16;
        let frames = std::env::var("WP_BENCH_STACK_FRAMES").unwrap_or("256,1024,2048,8192".into());
        for frame in frames
            .split(',')
            .filter_map(|f| f.trim().parse::<u32>().ok())
        {
            let w = wat::parse_str(stack_kernel(frame)).unwrap();
            let t0 = Instant::now();
            match time_exec(
                rt,
                d,
                &w,
                n_stack,
                1,
                &[n_stack as u64 * 4],
                runs,
                None,
                &[],
            ) {
                Ok(t) => println!(
                    "{:<34} {:>10.1}ms {:>8.1} ns/invocation (first call incl. compile {:.1} s)",
                    format!("stack frame {frame} B / {name}{tag}"),
                    t.as_secs_f64() * 1e3,
                    t.as_secs_f64() * 1e9 / n_stack as f64,
                    (t0.elapsed() - t * runs as u32).as_secs_f64()
                ),
                Err(e) => println!("stack frame {frame} B / {name}{tag}: {e}"),
            }
        }
    }
    if wanted("histogram") {
        // The histogram example's kernel (bins in a local array): the
        // example's shape (64 iterations x 64 KiB) and a GPU-friendly one
        // (4096 iterations x 1 KiB), 4 MiB of bytes either way.
        let w = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/kernels/histogram.wasm"
        ))
        .unwrap();
        for (iters, block) in [(64u32, 65536u32), (4096, 1024)] {
            let bytes = iters as u64 * block as u64;
            match time_exec(
                rt,
                d,
                &w,
                iters,
                block,
                &[bytes, iters as u64 * 1024],
                runs,
                None,
                &[],
            ) {
                Ok(t) => println!(
                    "{:<34} {:>10.1}ms {:>8.1} MB/s",
                    format!("histogram {iters} x {block} B / {name}{tag}"),
                    t.as_secs_f64() * 1e3,
                    bytes as f64 / t.as_secs_f64() / 1e6
                ),
                Err(e) => println!("histogram {iters} x {block} / {name}{tag}: {e}"),
            }
        }
    }
}

fn main() {
    let rt = ParallelRuntime::new(ParallelConfig::default()).expect("runtime");
    // Kernel fuel needs metering switched on in the runtime's kernel engine.
    let rt_fuel = ParallelRuntime::new(ParallelConfig {
        kernel_fuel: Some(1 << 20),
        ..ParallelConfig::default()
    })
    .expect("runtime");
    let devices = rt.devices();
    for d in &devices {
        println!("device {}: {} ({:?})", d.index, d.name, d.kind);
    }
    let compute = wat::parse_str(COMPUTE).unwrap();
    let nstream = wat::parse_str(NSTREAM).unwrap();
    let small = wat::parse_str(SMALL).unwrap();
    let n_compute = env_u32("WP_BENCH_COMPUTE_N", 1 << 16);
    let elems: u32 = env_u32("WP_BENCH_NSTREAM_ELEMS", 1 << 22);
    let block = 256;
    println!(
        "\n{:<34} {:>12} {:>12}",
        "kernel / device", "time", "throughput"
    );
    for d in &devices {
        let runs = if d.index == 0 { 1 } else { 3 };
        // Without and with a kernel fuel limit (then loops count iterations).
        let compute_rows = if wanted("compute") { 2 } else { 0 };
        for (label, rt, fuel) in [
            (format!("compute {n_compute} x 1000"), &rt, None),
            (
                "compute, kernel fuel set".to_string(),
                &rt_fuel,
                Some(1 << 20),
            ),
        ]
        .into_iter()
        .take(compute_rows)
        {
            match time_exec(
                rt,
                d.index,
                &compute,
                n_compute,
                1,
                &[n_compute as u64 * 4],
                runs,
                fuel,
                &[],
            ) {
                Ok(t) => println!(
                    "{:<34} {:>10.1}ms {:>8.1} Mflop/s",
                    format!("{label} / {}", d.name),
                    t.as_secs_f64() * 1e3,
                    n_compute as f64 * 1000.0 * 3.0 / t.as_secs_f64() / 1e6
                ),
                Err(e) => println!("{label} / {}: {e}", d.name),
            }
        }
        let bytes = elems as u64 * 4;
        if wanted("nstream") {
            match time_exec(
                &rt,
                d.index,
                &nstream,
                elems / block,
                block,
                &[bytes, bytes, bytes],
                runs,
                None,
                // a is read_write, b and c were created `read`.
                &[false, true, true],
            ) {
                Ok(t) => println!(
                    "{:<34} {:>10.1}ms {:>8.1} GB/s",
                    format!("nstream {elems} f32 / {}", d.name),
                    t.as_secs_f64() * 1e3,
                    (bytes * 4) as f64 / t.as_secs_f64() / 1e9
                ),
                Err(e) => println!("nstream / {}: {e}", d.name),
            }
        }
        if wanted("small") {
            match time_exec(&rt, d.index, &small, 1, 1, &[4], 20, None, &[]) {
                Ok(t) => println!(
                    "{:<34} {:>10.1}us",
                    format!("small exec (1 iter) / {}", d.name),
                    t.as_secs_f64() * 1e6
                ),
                Err(e) => println!("small exec / {}: {e}", d.name),
            }
        }
        if !d.kind.is_gpu() {
            stack_rows(&rt, d.index, &d.name, "", runs);
            continue;
        }
        for (storage, tag) in [
            (StackStorage::Private, " (private)"),
            (StackStorage::ScratchInterleaved, " (scratch)"),
            (StackStorage::ScratchContiguous, " (scratch-contiguous)"),
        ] {
            if wanted("stack") || wanted("histogram") {
                let rt = runtime_with_stack(storage);
                stack_rows(&rt, d.index, &d.name, tag, runs);
            }
        }
    }
}
