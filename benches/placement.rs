//! The adaptive device policy against the CPU and Vulkan devices it chooses
//! between (`cargo bench --bench placement`; run it with
//! `MESA_SHADER_CACHE_DISABLE=true` so pipeline builds are cold).
//!
//! Each workload runs the same sequence of calls, with a GPU hint, on three
//! fresh engines: the CPU device forced, the Vulkan device forced, and the
//! adaptive policy. Workloads: the compute (f32), nstream and sum kernels of
//! `benches/kernel_engines.rs`, and the example guests (saxpy, mandelbrot,
//! histogram, matmul; built with `c-examples/guests/build.sh` into
//! `build/bench-guests` when missing) as the guest runs them. Per workload:
//! the first call on each, the warm (median) call on the CPU and Vulkan
//! devices, the adaptive calls from the 4th on against the faster warm
//! device (worst and median ratio, the target: each within 1.15x),
//! and the whole adaptive run against the best device's whole run (the
//! faster of the CPU-forced and Vulkan-forced runs: the issue's "per-kernel
//! best", target 1.1x) and against an ideal no policy can reach (the first
//! call as the faster first call, every later call at the faster device's
//! warm median, as if that device were known and compiled at once). Then the policy's own cost per call
//! and the pipeline cache (cold and warm pipeline creation, each in a
//! child process).
//!
//! Environment: `WP_BENCH_CALLS` (calls per workload, default 20),
//! `WP_BENCH_ONLY` (comma-separated workload names), `WP_BENCH_VERBOSE`
//! (print each adaptive call: device, reason, run time), `WP_BENCH_ROUNDS`
//! (default 1: run the three engines of each workload this many times in
//! turn and keep, for each of the three, its run with the least total time;
//! on a VM whose speed changes from one second to the next, one run each
//! compares a slow spell with a fast one).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_parallel::parallel::placement::model::{Candidate, Key, Status};
use wasi_parallel::parallel::placement::Placer;
use wasi_parallel::parallel::stats::CallRecord;
use wasi_parallel::parallel::{
    DeviceKind, DevicePolicy, ParallelConfig, ParallelContext, ParallelRuntime,
};
use wasi_parallel::{Config, Engine, Instance, InstanceConfig, Module, Stdio};

const GPU_HINT: i32 = DeviceKind::DiscreteGpu as i32;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wat(name: &str) -> Vec<u8> {
    wat::parse_file(root().join(format!("tests/wat/{name}.wat"))).unwrap()
}

fn parallel_config(policy: DevicePolicy, history: Option<&Path>) -> ParallelConfig {
    ParallelConfig {
        threads: 2,
        device_policy: policy,
        placement_history_dir: history.map(Path::to_path_buf),
        ..ParallelConfig::default()
    }
}

const POLICIES: [(&str, DevicePolicy); 3] = [
    ("cpu", DevicePolicy::Force(DeviceKind::Cpu)),
    ("vulkan", DevicePolicy::Force(DeviceKind::DiscreteGpu)),
    ("adaptive", DevicePolicy::Adaptive),
];

/// A kernel workload driven through `ParallelContext` on plain memory.
struct KernelWork {
    name: &'static str,
    kernel: Vec<u8>,
    n: u32,
    block: u32,
    /// (bytes, access) per buffer, in the kernel's parameter order.
    buffers: Vec<(Vec<u8>, i32)>,
}

/// Runs `calls` calls of `w` on a fresh runtime with `policy`; the records.
fn run_kernel(
    w: &KernelWork,
    policy: DevicePolicy,
    history: Option<&Path>,
    calls: usize,
) -> Vec<CallRecord> {
    let rt = Arc::new(ParallelRuntime::new(parallel_config(policy, history)).unwrap());
    let mut ctx = ParallelContext::new(rt);
    let data: usize = w.buffers.iter().map(|b| b.0.len()).max().unwrap_or(0);
    let kernel_at = 1 << 16;
    let data_at = kernel_at + w.kernel.len().next_multiple_of(16);
    let mut mem = vec![0u8; data_at + data];
    mem[kernel_at..kernel_at + w.kernel.len()].copy_from_slice(&w.kernel);
    assert_eq!(ctx.get_device(&mut mem, GPU_HINT, 0), 0);
    let dev = u32::from_le_bytes(mem[0..4].try_into().unwrap()) as i32;
    let mut handles = Vec::new();
    for (i, (bytes, access)) in w.buffers.iter().enumerate() {
        let out = 64 + 4 * i as i32;
        assert_eq!(
            ctx.create_buffer(&mut mem, dev, bytes.len() as i32, *access, out),
            0
        );
        let h = u32::from_le_bytes(mem[out as usize..out as usize + 4].try_into().unwrap());
        mem[data_at..data_at + bytes.len()].copy_from_slice(bytes);
        assert_eq!(
            ctx.write_buffer(&mut mem, data_at as i32, bytes.len() as i32, h as i32),
            0
        );
        handles.push(h);
    }
    for (i, h) in handles.iter().enumerate() {
        let at = 1024 + 4 * i;
        mem[at..at + 4].copy_from_slice(&h.to_le_bytes());
    }
    // Every buffer in the input list (their access kinds say which the
    // kernel writes).
    let count = handles.len() as i32;
    for _ in 0..calls {
        let r = ctx.parallel_exec(
            &mut mem,
            dev,
            kernel_at as i32,
            w.kernel.len() as i32,
            w.n as i32,
            w.block as i32,
            1024,
            count,
            1024,
            0,
        );
        assert_eq!(r, 0, "{}: {:?}", w.name, ctx.last_error());
    }
    ctx.stats().recent_calls.into_iter().collect()
}

/// Runs an example guest with `args` on a fresh engine with `policy`; the
/// records of its `parallel_exec` calls.
fn run_guest(
    wasm: &Path,
    args: &[String],
    policy: DevicePolicy,
    history: Option<&Path>,
) -> Vec<CallRecord> {
    let config = Config {
        parallel: parallel_config(policy, history),
        ..Config::default()
    };
    let engine = Engine::new(config).unwrap();
    let module = Module::from_file(&engine, wasm).unwrap();
    let mut ic = InstanceConfig::default();
    ic.wasi.args = std::iter::once(wasm.display().to_string())
        .chain(args.iter().cloned())
        .collect();
    ic.wasi.stdout = Stdio::Null;
    let out_dir = root().join("build/bench-guests");
    ic.wasi.preopens = vec![(out_dir, "/out".into())];
    let mut inst = Instance::new(&module, &ic).unwrap();
    let code = inst.run_start().unwrap();
    assert_eq!(code, 0, "{} {args:?} exited {code}", wasm.display());
    inst.parallel().stats().recent_calls.into_iter().collect()
}

/// Runs `run` with each of [`POLICIES`] in turn, `rounds` times, and a
/// fourth time adaptively from the placement history the adaptive run of
/// the same round wrote (a program's second run); for each of the four the
/// run whose main kernel's calls took the least in all.
fn best_of(
    rounds: usize,
    mut run: impl FnMut(DevicePolicy, Option<&Path>) -> Vec<CallRecord>,
) -> [Vec<CallRecord>; 4] {
    let total = |r: &[CallRecord]| -> f64 { main_kernel(r).iter().map(|c| ms(c.run_time)).sum() };
    let history = std::env::temp_dir().join(format!("wp-bench-history-{}", std::process::id()));
    let mut best: [Option<Vec<CallRecord>>; 4] = [None, None, None, None];
    for _ in 0..rounds {
        let _ = std::fs::remove_dir_all(&history);
        for i in 0..4 {
            let r = match i {
                // The adaptive run writes the history the fourth one reads.
                2 => run(POLICIES[2].1, Some(&history)),
                3 => run(DevicePolicy::Adaptive, Some(&history)),
                _ => run(POLICIES[i].1, None),
            };
            if best[i].as_ref().is_none_or(|b| total(&r) < total(b)) {
                best[i] = Some(r);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&history);
    best.map(|b| b.expect("at least one round"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The calls of the workload's main kernel (the one called most).
fn main_kernel(recs: &[CallRecord]) -> Vec<&CallRecord> {
    let mut counts = std::collections::HashMap::new();
    for r in recs {
        *counts.entry(r.kernel_hash).or_insert(0) += 1;
    }
    let (&k, _) = counts.iter().max_by_key(|e| e.1).unwrap();
    recs.iter().filter(|r| r.kernel_hash == k).collect()
}

struct Row {
    name: String,
    first: [f64; 3],
    warm: [f64; 2],
    worst: f64,
    median_ratio: f64,
    total: f64,
    best_run: f64,
    ideal: f64,
    adaptive_on: String,
    /// The adaptive run from the history of a first run: first call, whole
    /// run, where it placed the calls.
    second: (f64, f64, String),
}

fn row(name: &str, runs: [Vec<CallRecord>; 4], gpu_name: &str) -> Row {
    let [cpu, gpu, ada, again] = runs.map(|r| {
        main_kernel(&r)
            .iter()
            .map(|c| (*c).clone())
            .collect::<Vec<_>>()
    });
    let t = |v: &[CallRecord]| v.iter().map(|c| ms(c.run_time)).collect::<Vec<_>>();
    let (tc, tg, ta) = (t(&cpu), t(&gpu), t(&ada));
    let warm = [median(tc[1..].to_vec()), median(tg[1..].to_vec())];
    let best = warm[0].min(warm[1]);
    let late: Vec<f64> = ta.iter().skip(3).map(|t| t / best).collect();
    let ideal = tc[0].min(tg[0]) + (tc.len() - 1) as f64 * best;
    // The "per-kernel best": the whole run on the device that ran
    // it faster.
    let best_run = tc.iter().sum::<f64>().min(tg.iter().sum::<f64>());
    let placed = |v: &[CallRecord]| {
        let g = v.iter().filter(|c| c.device.is_gpu()).count();
        format!(
            "{} cpu / {g} {gpu_name}; last: {}",
            v.len() - g,
            v.last().map_or("", |c| c.reason.name())
        )
    };
    if std::env::var_os("WP_BENCH_VERBOSE").is_some() {
        for (i, c) in ada.iter().chain(&again).enumerate() {
            let (run, i) = if i < ada.len() {
                ("", i)
            } else {
                (" (2nd run)", i - ada.len())
            };
            println!(
                "  {name}{run} call {i}: {} {} {:.2} ms{}",
                c.device.name(),
                c.reason.name(),
                ms(c.run_time),
                c.fallback
                    .as_deref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            );
        }
    }
    Row {
        name: name.to_string(),
        first: [tc[0], tg[0], ta[0]],
        warm,
        worst: late.iter().cloned().fold(0.0, f64::max),
        median_ratio: median(late),
        total: ta.iter().sum(),
        best_run,
        ideal,
        adaptive_on: placed(&ada),
        second: (t(&again)[0], t(&again).iter().sum(), placed(&again)),
    }
}

fn guests(calls: usize) -> Vec<(&'static str, Vec<String>)> {
    let c = calls.to_string();
    vec![
        ("saxpy", vec!["1048576".into(), "gpu".into(), c.clone()]),
        (
            "mandelbrot",
            vec![
                "512".into(),
                "gpu".into(),
                c.clone(),
                "/out/mandelbrot.ppm".into(),
            ],
        ),
        ("histogram", vec!["4194304".into(), "gpu".into(), c.clone()]),
        ("matmul", vec!["256".into(), "gpu".into(), c]),
    ]
}

fn kernels() -> Vec<KernelWork> {
    let f32s = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let nstream_n = 4 << 20;
    vec![
        KernelWork {
            name: "compute f32 64Ki x 1000",
            kernel: wat("compute_f32"),
            n: 65536,
            block: 1000,
            buffers: vec![(vec![0; 4 * 65536], 1)],
        },
        KernelWork {
            name: "nstream 4Mi f32 (16Ki x 256)",
            kernel: wat("nstream"),
            n: nstream_n / 256,
            block: 256,
            buffers: vec![
                (f32s((0..nstream_n).map(|i| (i % 1000) as f32).collect()), 2),
                (f32s(vec![2.0; nstream_n as usize]), 0),
                (f32s(vec![1.0; nstream_n as usize]), 0),
            ],
        },
        KernelWork {
            name: "sum 2 x 20M (i32 count)",
            kernel: wat("sum"),
            n: 2,
            block: 20_000_000,
            buffers: vec![(vec![0; 8], 1)],
        },
    ]
}

fn build_guests() -> Option<PathBuf> {
    let dir = root().join("build/bench-guests");
    if !dir.join("matmul.wasm").is_file() {
        let st = std::process::Command::new(root().join("c-examples/guests/build.sh"))
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .ok()?;
        if !st.success() {
            return None;
        }
    }
    Some(dir)
}

/// The policy's own cost: an empty one-iteration kernel, many calls, with
/// the hint policy and with the adaptive one (the CPU device wins there);
/// and the bare choice (`Placer::decide`) of a known key.
fn policy_cost() {
    let empty = wat("empty");
    let per_call = |policy: DevicePolicy| {
        let w = KernelWork {
            name: "empty",
            kernel: empty.clone(),
            n: 1,
            block: 1,
            buffers: Vec::new(),
        };
        // Each run explores first (a fresh engine): time 20000 calls and
        // subtract the time of 20 (the same start-up and exploration).
        let t = Instant::now();
        run_kernel(&w, policy, None, 20);
        let short = t.elapsed();
        let t = Instant::now();
        let recs = run_kernel(&w, policy, None, 20_020);
        let long = t.elapsed();
        (
            long.saturating_sub(short).as_nanos() as f64 / 20_000.0,
            recs,
        )
    };
    // Alternating, best of 3 each (the machine's noise is larger than
    // the difference).
    let (mut hint_ns, mut ada_ns, mut recs) = (f64::MAX, f64::MAX, Vec::new());
    for _ in 0..3 {
        hint_ns = hint_ns.min(per_call(DevicePolicy::Force(DeviceKind::Cpu)).0);
        let (a, r) = per_call(DevicePolicy::Adaptive);
        if a < ada_ns {
            ada_ns = a;
            recs = r;
        }
    }
    let on_cpu = recs.iter().filter(|r| r.device == DeviceKind::Cpu).count();
    let placer = Placer::default();
    let key = Key::new(7, 1, 64);
    let cands = || {
        vec![
            Candidate {
                device: 1,
                status: Status::Ready,
                copy_ns: 0.0,
            },
            Candidate {
                device: 2,
                status: Status::Ready,
                copy_ns: 0.0,
            },
        ]
    };
    for d in [1, 2] {
        placer.observe(
            key,
            d,
            Duration::from_micros(d as u64),
            Duration::from_micros(d as u64),
        );
    }
    let t = Instant::now();
    for _ in 0..100_000 {
        std::hint::black_box(placer.decide(key, cands(), false));
    }
    let decide_ns = t.elapsed().as_nanos() as f64 / 100_000.0;
    println!(
        "policy cost per call (empty kernel, 1 iteration, {} of the last 256 adaptive calls on the CPU device): forced CPU {:.2} us, adaptive {:.2} us, difference {:.2} us; Placer::decide alone {:.0} ns",
        on_cpu,
        hint_ns / 1e3,
        ada_ns / 1e3,
        (ada_ns - hint_ns) / 1e3,
        decide_ns
    );
}

/// Child: one cold or warm pipeline build with the cache in `dir`; prints
/// the first Vulkan call's setup time (translation + pipeline) in ms.
fn pipeline_child(dir: &str) {
    let mut c = parallel_config(DevicePolicy::Force(DeviceKind::DiscreteGpu), None);
    c.pipeline_cache_dir = Some(dir.into());
    let w = KernelWork {
        name: "compute f32",
        kernel: wat("compute_f32"),
        n: 64,
        block: 100,
        buffers: vec![(vec![0; 4 * 64], 1)],
    };
    let rt = Arc::new(ParallelRuntime::new(c).unwrap());
    let mut ctx = ParallelContext::new(rt.clone());
    let mut mem = vec![0u8; 1 << 20];
    let k = &w.kernel;
    mem[65536..65536 + k.len()].copy_from_slice(k);
    assert_eq!(ctx.get_device(&mut mem, GPU_HINT, 0), 0);
    let dev = u32::from_le_bytes(mem[0..4].try_into().unwrap()) as i32;
    assert_eq!(ctx.create_buffer(&mut mem, dev, 256, 1, 4), 0);
    mem.copy_within(4..8, 1024);
    let r = ctx.parallel_exec(
        &mut mem,
        dev,
        65536,
        k.len() as i32,
        64,
        100,
        1024,
        0,
        1024,
        1,
    );
    assert_eq!(r, 0, "{:?}", ctx.last_error());
    let rec = ctx.stats().recent_calls.back().unwrap().clone();
    let vk = rt.device(rec.device_index).unwrap().as_any().unwrap();
    let vk = vk
        .downcast_ref::<wasi_parallel::parallel::device::vulkan::VulkanDevice>()
        .unwrap();
    let (_, translate) = vk.pipeline_build_time();
    // The first call's run includes what the driver compiles at a
    // pipeline's first dispatch (llvmpipe: the whole LLVM compile).
    println!(
        "setup_ms={:.3} translate_ms={:.3} run_ms={:.3}",
        ms(rec.setup_time),
        ms(translate),
        ms(rec.run_time)
    );
}

fn pipeline_cache() {
    let dir = std::env::temp_dir().join(format!("wp-bench-pipeline-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let me = std::env::current_exe().unwrap();
    // (setup, of it translation, first run) in ms.
    let run = || {
        let out = std::process::Command::new(&me)
            .env("WP_BENCH_PIPELINE_CHILD", &dir)
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout).to_string();
        let line = s
            .lines()
            .find(|l| l.starts_with("setup_ms="))
            .unwrap_or_else(|| panic!("child: {s} {}", String::from_utf8_lossy(&out.stderr)));
        let v: Vec<f64> = line
            .split(' ')
            .map(|kv| kv.split_once('=').unwrap().1.parse().unwrap())
            .collect();
        (v[0], v[1], v[2])
    };
    let cold_all = run();
    let warm_all: Vec<(f64, f64, f64)> = (0..3).map(|_| run()).collect();
    let cold = cold_all.0;
    let warm: Vec<f64> = warm_all.iter().map(|w| w.0).collect();
    println!(
        "pipeline creation split, cold: translation {:.1} ms + driver {:.1} ms; first run (with the driver's first-dispatch compile) {:.1} ms; warm: translation {:.1} + driver {:.1} ms, first run {:.1} ms (medians)",
        cold_all.1,
        cold_all.0 - cold_all.1,
        cold_all.2,
        median(warm_all.iter().map(|w| w.1).collect()),
        median(warm_all.iter().map(|w| w.0 - w.1).collect()),
        median(warm_all.iter().map(|w| w.2).collect()),
    );
    let size = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>()
        })
        .unwrap_or(0);
    println!(
        "pipeline creation (compute_f32, first Vulkan call's setup; MESA_SHADER_CACHE_DISABLE={}): cold {cold:.1} ms, warm (cache file {size} bytes) {:.1} ms median of 3 ({:.2}x faster)",
        std::env::var("MESA_SHADER_CACHE_DISABLE").unwrap_or_default(),
        median(warm.clone()),
        cold / median(warm)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    if let Ok(dir) = std::env::var("WP_BENCH_PIPELINE_CHILD") {
        pipeline_child(&dir);
        return;
    }
    let rt = ParallelRuntime::new(ParallelConfig::default()).unwrap();
    let Some(gpu) = rt.devices().into_iter().find(|d| d.kind.is_gpu()) else {
        println!("no Vulkan device: nothing to place (the adaptive policy is the CPU device)");
        return;
    };
    drop(rt);
    let calls: usize = std::env::var("WP_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let only = std::env::var("WP_BENCH_ONLY").ok();
    let wanted = |n: &str| {
        only.as_ref()
            .is_none_or(|o| o.split(',').any(|w| n.starts_with(w)))
    };
    let gpu_name = if gpu.name.contains("llvmpipe") {
        "llvmpipe"
    } else {
        "vulkan"
    };
    let rounds: usize = std::env::var("WP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    println!(
        "Vulkan device: {}; {calls} calls per workload, GPU hint; each engine's best of {rounds} round(s)",
        gpu.name
    );
    let mut rows = Vec::new();
    for w in kernels().into_iter().filter(|w| wanted(w.name)) {
        let runs = best_of(rounds, |p, h| run_kernel(&w, p, h, calls));
        rows.push(row(w.name, runs, gpu_name));
    }
    if let Some(dir) = build_guests() {
        for (g, args) in guests(calls).into_iter().filter(|g| wanted(g.0)) {
            let wasm = dir.join(format!("{g}.wasm"));
            let runs = best_of(rounds, |p, h| run_guest(&wasm, &args, p, h));
            rows.push(row(g, runs, gpu_name));
        }
    } else {
        println!("(example guests not built: clang/wasi-libc missing)");
    }
    println!();
    println!("| workload | first call: CPU / Vulkan / adaptive (ms) | warm call: CPU / Vulkan (ms) | adaptive calls 4+: worst / median vs faster | adaptive run / best device's run (ms) | ideal run (ms) | adaptive placed |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let (mut total, mut best_run, mut ideal, mut again) = (0.0, 0.0, 0.0, 0.0);
    for r in &rows {
        again += r.second.1;
        total += r.total;
        best_run += r.best_run;
        ideal += r.ideal;
        println!(
            "| {} | {:.2} / {:.2} / {:.2} ({:.2}x CPU) | {:.3} / {:.3} | {:.2}x / {:.2}x | {:.1} / {:.1} ({:.2}x) | {:.1} ({:.2}x) | {} |",
            r.name,
            r.first[0],
            r.first[1],
            r.first[2],
            r.first[2] / r.first[0],
            r.warm[0],
            r.warm[1],
            r.worst,
            r.median_ratio,
            r.total,
            r.best_run,
            r.total / r.best_run,
            r.ideal,
            r.total / r.ideal,
            r.adaptive_on
        );
    }
    println!(
        "| all | | | | {total:.1} / {best_run:.1} ({:.2}x) | {ideal:.1} ({:.2}x) | |",
        total / best_run,
        total / ideal
    );
    println!();
    println!("Second run (adaptive, from the placement history the first adaptive run wrote):");
    println!();
    println!("| workload | first call: CPU / adaptive 2nd run (ms) | 2nd run / best device's run (ms) | placed |");
    println!("| --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {:.2} / {:.2} ({:.2}x CPU) | {:.1} / {:.1} ({:.2}x) | {} |",
            r.name,
            r.first[0],
            r.second.0,
            r.second.0 / r.first[0],
            r.second.1,
            r.best_run,
            r.second.1 / r.best_run,
            r.second.2
        );
    }
    println!(
        "| all | | {again:.1} / {best_run:.1} ({:.2}x) | |",
        again / best_run
    );
    println!();
    policy_cost();
    pipeline_cache();
}
