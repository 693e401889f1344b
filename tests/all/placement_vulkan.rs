//! The adaptive policy and the pipeline cache on the real Vulkan device
//! (lavapipe in CI): the first GPU-hinted call runs on the CPU while the
//! pipeline builds in the background, calls that switch between the CPU
//! and Vulkan devices give the results the SEQUENTIAL device gives, and
//! the pipeline cache file survives runs and shrugs off corruption; the
//! build budget keeps a trivially short kernel off the builder and lets a
//! heavy one reach the GPU.

use crate::common::{cli, data_string, in_ci, scratch};
use crate::parallel_util::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_parallel::parallel::placement::model::Reason;
use wasi_parallel::parallel::{DeviceKind, DevicePolicy, ParallelConfig, ParallelRuntime};

/// A runtime with the Vulkan devices, or `None` (skip) outside CI when
/// there is none; under `CI=true` a missing Vulkan device fails. The
/// build budget is off (a GPU builds a kernel after its first call), so
/// that short test kernels reach the GPU; `budgeted_runtime` keeps it.
fn vulkan_runtime(policy: DevicePolicy) -> Option<(Arc<ParallelRuntime>, usize)> {
    with_budget(policy, None)
}

/// The adaptive policy with the default build budget.
fn budgeted_runtime() -> Option<(Arc<ParallelRuntime>, usize)> {
    with_budget(
        DevicePolicy::Adaptive,
        ParallelConfig::default().gpu_build_budget,
    )
}

fn with_budget(
    policy: DevicePolicy,
    budget: Option<Duration>,
) -> Option<(Arc<ParallelRuntime>, usize)> {
    let rt = ParallelRuntime::new(ParallelConfig {
        threads: 2,
        device_policy: policy,
        gpu_build_budget: budget,
        ..ParallelConfig::default()
    })
    .unwrap();
    match rt.devices().iter().find(|d| d.kind.is_gpu()) {
        Some(d) => {
            let gpu = d.index;
            Some((Arc::new(rt), gpu))
        }
        None if in_ci() => panic!("CI=true but no Vulkan device was found"),
        None => {
            eprintln!("note: no Vulkan device; test skipped");
            None
        }
    }
}

fn wait_for_builds(rt: &ParallelRuntime, gpu: usize) {
    let t = Instant::now();
    while rt.device(gpu).unwrap().building() {
        assert!(t.elapsed() < Duration::from_secs(300), "build never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// out[i] = out[i] * 5 + i + in[i % len(in)]: each call depends on the
/// last, and it reads a second buffer.
const STEP: &str = r#"(module
  (memory (import "env" "memory") 1)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
        (param $i i32) (param $il i32) (param $o i32) (param $ol i32)
    (local $a i32)
    (local.set $a (i32.add (local.get $o) (i32.shl (local.get $id) (i32.const 2))))
    (i32.store (local.get $a)
      (i32.add
        (i32.add (i32.mul (i32.load (local.get $a)) (i32.const 5)) (local.get $id))
        (i32.load (i32.add (local.get $i)
          (i32.shl (i32.rem_u (local.get $id) (i32.shr_u (local.get $il) (i32.const 2)))
                   (i32.const 2))))))))"#;

/// Runs `calls` calls of STEP over n elements (and saxpy and compute between
/// them) on a device from `hint`, returning every buffer read after every
/// call.
fn sequence(
    rt: &Arc<ParallelRuntime>,
    hint: i32,
    n: u32,
    calls: u32,
) -> (Vec<Vec<u8>>, Vec<usize>) {
    let mut g = Guest::new(rt);
    let dev = g.get_device(hint).unwrap();
    let input: Vec<u32> = (0..97).map(|i| i * 31 + 7).collect();
    let x = g.buffer_with(dev, &u32s_to_bytes(&input), READ);
    let out = g.create_buffer(dev, 4 * n, READ_WRITE).unwrap();
    let xs: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let fx = g.buffer_with(dev, &f32s_to_bytes(&xs), READ);
    let fy = g.buffer_with(dev, &f32s_to_bytes(&xs), READ_WRITE);
    let step = wat::parse_str(STEP).unwrap();
    let mut seen = Vec::new();
    let mut devices = Vec::new();
    for c in 0..calls {
        assert_eq!(g.exec(dev, &step, n, 1, &[x], &[out]), 0, "call {c}");
        devices.push(g.ctx().stats().recent_calls.back().unwrap().device_index);
        seen.push(g.read_buffer(out, 4 * n as usize).unwrap());
        // saxpy in place (y = 2.5 x + y) with 64 elements per iteration.
        assert_eq!(
            g.exec(dev, &wat("saxpy"), n.div_ceil(64), 64, &[fx, fy], &[fy]),
            0
        );
        seen.push(g.read_buffer(fy, 4 * n as usize).unwrap());
        if c % 2 == 1 {
            // A write between calls lands in the valid copy.
            assert_eq!(g.write_buffer(x, &u32s_to_bytes(&[c; 5])), 0);
        }
    }
    (seen, devices)
}

#[test]
fn calls_that_switch_devices_match_the_sequential_device() {
    let Some((rt, gpu)) = vulkan_runtime(DevicePolicy::Rotate) else {
        return;
    };
    let (seq_rt, _) = vulkan_runtime(DevicePolicy::Hint).unwrap();
    let (want, on) = sequence(&seq_rt, SEQUENTIAL, 1000, 6);
    assert!(on.iter().all(|&d| d == 0));
    for hint in [CPU, DISCRETE_GPU] {
        let (got, on) = sequence(&rt, hint, 1000, 6);
        assert_eq!(got, want, "hint {hint}: devices {on:?}");
        assert!(on.contains(&1) && on.contains(&gpu), "{on:?}");
    }
}

#[test]
fn the_first_gpu_hinted_call_runs_on_the_cpu_while_the_pipeline_builds() {
    let Some((rt, gpu)) = vulkan_runtime(DevicePolicy::Adaptive) else {
        return;
    };
    let mut g = Guest::new(&rt);
    let dev = g.get_device(DISCRETE_GPU).unwrap();
    let out = g.create_buffer(dev, 4 * 4096, WRITE).unwrap();
    // A kernel no other test builds (its constant differs), so its
    // pipeline is not built yet.
    let k = wat::parse_str(
        r#"(module (memory (import "env" "memory") 1)
          (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32) (param $o i32) (param $l i32)
            (i32.store (i32.add (local.get $o) (i32.shl (local.get $id) (i32.const 2)))
              (i32.mul (local.get $id) (i32.const 40503)))))"#,
    )
    .unwrap();
    let want: Vec<u32> = (0..4096u32).map(|i| i.wrapping_mul(40503)).collect();
    assert_eq!(g.exec(dev, &k, 4096, 1, &[], &[out]), 0);
    let first = g.ctx().stats().recent_calls.back().unwrap().clone();
    assert_eq!(first.device, DeviceKind::Cpu);
    assert_eq!(first.reason, Reason::CompilingElsewhere);
    assert_eq!(bytes_to_u32s(&g.read_buffer(out, 4 * 4096).unwrap()), want);
    // The device, then the pipeline, are made in the background; once
    // both are, the GPU is tried, and every call stays right.
    let mut on = Vec::new();
    for _ in 0..6 {
        wait_for_builds(&rt, gpu);
        assert_eq!(g.exec(dev, &k, 4096, 1, &[], &[out]), 0);
        let rec = g.ctx().stats().recent_calls.back().unwrap().clone();
        assert_eq!(bytes_to_u32s(&g.read_buffer(out, 4 * 4096).unwrap()), want);
        let tried = rec.device_index == gpu;
        on.push(rec);
        if tried {
            break;
        }
    }
    let last = on.last().unwrap();
    assert_eq!(
        (last.device_index, last.reason),
        (gpu, Reason::Exploring),
        "{on:?}"
    );
    // The builder dispatched the new pipeline once (llvmpipe compiles a
    // shader at its first dispatch) before the kernel counted as ready, so
    // the call placed there found it built: no setup in the call.
    let vk = vulkan_device(&rt, gpu);
    let (warm_ups, _) = vk.warm_ups();
    assert!(
        (1..=vk.background_builds_finished()).contains(&warm_ups),
        "{warm_ups} warm-ups, {} builds",
        vk.background_builds_finished()
    );
    assert_eq!(last.setup_time, Duration::ZERO, "{last:?}");
    assert!(
        on[..on.len() - 1]
            .iter()
            .all(|r| r.device == DeviceKind::Cpu && r.reason == Reason::CompilingElsewhere),
        "{on:?}"
    );
}

fn vulkan_device(
    rt: &ParallelRuntime,
    gpu: usize,
) -> &wasi_parallel::parallel::device::vulkan::VulkanDevice {
    rt.device(gpu)
        .unwrap()
        .as_any()
        .unwrap()
        .downcast_ref()
        .unwrap()
}

/// out[i] = i * 40499 + 1 (a trivially short call).
const SHORT: &str = r#"(module (memory (import "env" "memory") 1)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32) (param $o i32) (param $l i32)
    (i32.store (i32.add (local.get $o) (i32.shl (local.get $id) (i32.const 2)))
      (i32.add (i32.mul (local.get $id) (i32.const 40499)) (i32.const 1)))))"#;

/// out[i] = 1500 steps of an LCG seeded with i and the previous out[i]
/// (some milliseconds a call on the CPU device; each call depends on the
/// last).
const HEAVY: &str = r#"(module (memory (import "env" "memory") 1)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32) (param $o i32) (param $l i32)
    (local $a i32) (local $x i32) (local $j i32)
    (local.set $a (i32.add (local.get $o) (i32.shl (local.get $id) (i32.const 2))))
    (local.set $x (i32.add (i32.load (local.get $a)) (local.get $id)))
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1664525)) (i32.const 1013904223)))
      (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 13))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $j) (i32.const 1500))))
    (i32.store (local.get $a) (local.get $x))))"#;

/// The size of a kernel's code section (what its build is expected to cost
/// grows with).
fn code_bytes(kernel: &str) -> u64 {
    let wasm = wat::parse_str(kernel).unwrap();
    let size = wasmparser::Parser::new(0)
        .parse_all(&wasm)
        .find_map(|p| match p.unwrap() {
            wasmparser::Payload::CodeSectionStart { size, .. } => Some(size as u64),
            _ => None,
        });
    size.unwrap()
}

/// Runs `calls` calls of `kernel` over `n` words on a device from `hint`,
/// waiting for background builds after each; returns the buffer after
/// each call and each call's record.
fn calls_of(
    rt: &Arc<ParallelRuntime>,
    gpu: Option<usize>,
    hint: i32,
    kernel: &str,
    n: u32,
    calls: u32,
) -> (
    Vec<Vec<u8>>,
    Vec<wasi_parallel::parallel::stats::CallRecord>,
) {
    let mut g = Guest::new(rt);
    let dev = g.get_device(hint).unwrap();
    let out = g.create_buffer(dev, 4 * n, READ_WRITE).unwrap();
    let k = wat::parse_str(kernel).unwrap();
    let (mut seen, mut records) = (Vec::new(), Vec::new());
    for c in 0..calls {
        assert_eq!(g.exec(dev, &k, n, 1, &[], &[out]), 0, "call {c}");
        records.push(g.ctx().stats().recent_calls.back().unwrap().clone());
        seen.push(g.read_buffer(out, 4 * n as usize).unwrap());
        if let Some(gpu) = gpu {
            wait_for_builds(rt, gpu);
        }
    }
    (seen, records)
}

#[test]
fn the_build_budget_builds_a_heavy_kernel_and_never_a_short_one() {
    let Some((rt, gpu)) = budgeted_runtime() else {
        return;
    };
    let (seq_rt, _) = vulkan_runtime(DevicePolicy::Hint).unwrap();
    let vk = vulkan_device(&rt, gpu);
    // A trivially short kernel: 20 calls of microseconds never add up to a
    // build's expected cost (50 ms before any build): nothing is built, not
    // even the logical device, and every call says why it stays.
    let (want, _) = calls_of(&seq_rt, None, SEQUENTIAL, SHORT, 256, 20);
    let (got, recs) = calls_of(&rt, Some(gpu), DISCRETE_GPU, SHORT, 256, 20);
    assert_eq!(got, want);
    assert!(
        recs.iter()
            .all(|r| r.device == DeviceKind::Cpu && r.reason == Reason::SavingForBuild),
        "{recs:?}"
    );
    assert!(!rt.device(gpu).unwrap().building());
    assert_eq!(vk.background_builds_finished(), 0);
    assert_eq!(vk.warm_ups().0, 0);
    assert_eq!(vk.pipeline_build_time().0, Duration::ZERO);
    let (expected, spent) = rt
        .placer()
        .build_budget(recs[0].kernel_hash, code_bytes(SHORT), gpu);
    assert_eq!(expected, 50.0);
    assert!(spent < expected, "{spent} ms");

    // A heavy kernel: its first call saves for the build too (nothing was
    // spent on it yet); once its calls took 50 ms the build is asked for
    // (after the call that reached the budget) and the GPU is tried once
    // it is built.
    let n = 4096;
    let (want, _) = calls_of(&seq_rt, None, SEQUENTIAL, HEAVY, n, 30);
    let (got, recs) = calls_of(&rt, Some(gpu), DISCRETE_GPU, HEAVY, n, 30);
    assert_eq!(got, want, "results equal the SEQUENTIAL device's");
    let reasons: Vec<_> = recs.iter().map(|r| (r.device_index, r.reason)).collect();
    assert_eq!(reasons[0], (1, Reason::SavingForBuild), "{reasons:?}");
    let tried = recs
        .iter()
        .position(|r| r.device_index == gpu)
        .unwrap_or_else(|| panic!("the GPU was never tried: {reasons:?}"));
    assert_eq!(recs[tried].reason, Reason::Exploring, "{reasons:?}");
    assert!(
        recs[..tried].iter().all(|r| r.device_index == 1
            && matches!(
                r.reason,
                Reason::SavingForBuild | Reason::CompilingElsewhere
            )),
        "{reasons:?}"
    );
    // The calls before the GPU's took the budget (a call's run time
    // includes what the model counts, and more), and the build was not
    // asked for before: every call but the last before it saved.
    let before: f64 = recs[..tried]
        .iter()
        .map(|r| r.run_time.as_secs_f64() * 1e3)
        .sum();
    assert!(before >= 50.0, "{before} ms before the GPU: {reasons:?}");
    assert!(tried >= 2, "{reasons:?}");
    // lavapipe builds on the host's cores: the call that reached the
    // budget started the build and waited for it, and ran on the GPU; or,
    // if the build overran 4x its expected cost (the prior, scaled by the
    // kernel's size), it waited that long and ran on the CPU device.
    use wasi_parallel::parallel::placement::model::{build_units, WAIT_FOR_BUILD};
    let started = recs
        .iter()
        .position(|r| r.reason != Reason::SavingForBuild)
        .unwrap();
    if recs[started].device_index != gpu {
        let expected_ms = 50.0 * build_units(code_bytes(HEAVY)) / build_units(0);
        let waited = recs[started].run_time.as_secs_f64() * 1e3;
        assert!(
            waited >= WAIT_FOR_BUILD * expected_ms,
            "{waited} ms: {reasons:?}"
        );
    } else {
        assert_eq!(started, tried, "{reasons:?}");
    }
    assert!(vk.background_builds_finished() >= 1);
    assert!(vk.warm_ups().0 >= 1);
    // The measured build replaced the prior as the expected cost, which
    // now grows with the kernel's code.
    let heavy = code_bytes(HEAVY);
    let (expected, _) = rt.placer().build_budget(recs[0].kernel_hash, heavy, gpu);
    assert_ne!(expected, 50.0);
    assert!(expected > 0.0);
    let (twice, _) = rt
        .placer()
        .build_budget(recs[0].kernel_hash, 2 * heavy, gpu);
    let ratio = build_units(2 * heavy) / build_units(heavy);
    assert!(
        (twice / expected - ratio).abs() < 1e-9,
        "{expected} {twice}"
    );
}

/// out[i] = a hash of 0 .. block_size, plus i: a loop over the block.
const BLOCK_LOOP: &str = r#"(module (memory (import "env" "memory") 1)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32) (param $o i32) (param $l i32)
    (local $k i32) (local $x i32)
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 31)) (local.get $k)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (local.get $bs))))
    (i32.store (i32.add (local.get $o) (i32.shl (local.get $id) (i32.const 2)))
      (i32.add (local.get $x) (local.get $id)))))"#;

/// The records and final buffer of `calls` GPU-hinted calls of `kernel`
/// with 4 iterations of `block` (waiting for background builds after each).
fn block_calls(
    rt: &Arc<ParallelRuntime>,
    gpu: usize,
    kernel: &str,
    block: u32,
    calls: u32,
) -> (Vec<u8>, Vec<wasi_parallel::parallel::stats::CallRecord>) {
    let mut g = Guest::new(rt);
    let dev = g.get_device(DISCRETE_GPU).unwrap();
    let out = g.create_buffer(dev, 16, WRITE).unwrap();
    let k = wat::parse_str(kernel).unwrap();
    let mut recs = Vec::new();
    for c in 0..calls {
        assert_eq!(g.exec(dev, &k, 4, block, &[], &[out]), 0, "call {c}");
        recs.push(g.ctx().stats().recent_calls.back().unwrap().clone());
        wait_for_builds(rt, gpu);
    }
    (g.read_buffer(out, 16).unwrap(), recs)
}

#[test]
fn llvmpipe_is_not_tried_for_a_kernel_that_loops_over_a_block_it_would_cut() {
    let Some((rt, gpu)) = vulkan_runtime(DevicePolicy::Adaptive) else {
        return;
    };
    let vk = vulkan_device(&rt, gpu);
    let name = rt.devices()[gpu].name.clone();
    if !name.contains("CPU-type") {
        eprintln!("note: {name} is not llvmpipe; test skipped");
        return;
    }
    let want: Vec<u32> = (0..4u32)
        .map(|i| {
            let x = (0..300_000u32).fold(0u32, |x, k| x.wrapping_mul(31).wrapping_add(k));
            x.wrapping_add(i)
        })
        .collect();
    // Block size 300 000, over what llvmpipe runs of a loop (65 535
    // back-edges of a loop unrolled 4 times): the budget is off, yet no
    // call builds or tries the GPU, and each says why.
    let (got, recs) = block_calls(&rt, gpu, BLOCK_LOOP, 300_000, 3);
    assert_eq!(bytes_to_u32s(&got), want);
    assert!(
        recs.iter()
            .all(|r| r.device == DeviceKind::Cpu && r.reason == Reason::Declined),
        "{recs:?}"
    );
    assert_eq!(vk.background_builds_finished(), 0);
    assert_eq!(vk.pipeline_build_time().0, Duration::ZERO);
    let why = rt.placer().declined(recs[0].kernel_hash, gpu).unwrap();
    assert!(why.contains("loop") && why.contains("300000"), "{why}");
    // --stats' line for the kernel gives the reason.
    let mut g = Guest::new(&rt);
    let dev = g.get_device(DISCRETE_GPU).unwrap();
    let out = g.create_buffer(dev, 16, WRITE).unwrap();
    let k = wat::parse_str(BLOCK_LOOP).unwrap();
    assert_eq!(g.exec(dev, &k, 4, 300_000, &[], &[out]), 0);
    let lines = g.ctx().stats().kernel_lines(&rt.devices(), rt.placer());
    assert!(
        lines.contains(&format!("declined by {name}: {why}")),
        "{lines}"
    );

    // The guess is right: forced there, the driver cuts the loop and the
    // call falls back to the CPU device.
    let (forced, _) = vulkan_runtime(DevicePolicy::Force(DeviceKind::DiscreteGpu)).unwrap();
    let (got, recs) = block_calls(&forced, gpu, BLOCK_LOOP, 300_000, 1);
    assert_eq!(bytes_to_u32s(&got), want);
    let fallback = recs[0].fallback.as_deref().unwrap_or_default();
    assert!(fallback.contains("cut a loop short"), "{recs:?}");

    // At a block size under the limit (but over 65 535), and for a kernel
    // without a loop at any block size, the GPU is built and tried.
    for (kernel, block) in [(BLOCK_LOOP, 70_000), (SHORT, 300_000)] {
        let (rt, gpu) = vulkan_runtime(DevicePolicy::Adaptive).unwrap();
        let (_, recs) = block_calls(&rt, gpu, kernel, block, 4);
        assert!(
            recs.iter()
                .any(|r| r.device_index == gpu && r.reason == Reason::Exploring),
            "block {block}: {recs:?}"
        );
        assert!(vulkan_device(&rt, gpu).background_builds_finished() >= 1);
    }
}

/// A guest (WAT) that runs INCREMENT `calls` times over 256 words on a
/// GPU-hinted device and returns the sum of the words (256 * calls).
fn increment_guest(dir: &std::path::Path) -> std::path::PathBuf {
    let kernel = wat::parse_str(
        r#"(module (memory (import "env" "memory") 1)
          (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32) (param $p i32) (param $l i32)
            (local $a i32)
            (local.set $a (i32.add (local.get $p) (i32.shl (local.get $id) (i32.const 2))))
            (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 3)))))"#,
    )
    .unwrap();
    let escaped = data_string(&kernel);
    let guest = format!(
        r#"(module
  {PARALLEL_IMPORTS}  (memory (export "memory") 1)
  (data (i32.const 4096) "{escaped}")
  (func (export "run") (param $calls i32) (result i32)
    (local $r i32) (local $i i32) (local $sum i32)
    (drop (call $gd (i32.const 2) (i32.const 0)))
    (local.set $r (call $cb (i32.load (i32.const 0)) (i32.const 1024) (i32.const 2) (i32.const 4)))
    (if (local.get $r) (then (return (i32.sub (i32.const -1000) (local.get $r)))))
    (i32.store (i32.const 8) (i32.load (i32.const 4)))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $calls)))
        (local.set $r (call $pe (i32.load (i32.const 0)) (i32.const 4096) (i32.const {len})
          (i32.const 256) (i32.const 1) (i32.const 8) (i32.const 0) (i32.const 8) (i32.const 1)))
        (if (local.get $r) (then (return (i32.sub (i32.const 0) (local.get $r)))))
        (local.set $calls (i32.sub (local.get $calls) (i32.const 1)))
        (br $l)))
    (drop (call $rb (i32.load (i32.const 4)) (i32.const 16384) (i32.const 1024)))
    (block $end
      (loop $s
        (br_if $end (i32.ge_u (local.get $i) (i32.const 1024)))
        (local.set $sum (i32.add (local.get $sum) (i32.load (i32.add (i32.const 16384) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $s)))
    (local.get $sum)))"#,
        len = kernel.len()
    );
    let path = dir.join("increment_guest.wat");
    std::fs::write(&path, guest).unwrap();
    path
}

/// Runs `run(calls)` of the increment guest with `cmd` (the CLI and its
/// options), checks that it succeeded with the right sum; its stderr.
fn run_increment(mut cmd: std::process::Command, guest: &std::path::Path, calls: u32) -> String {
    let out = cmd
        .args(["--invoke", "run"])
        .arg(guest)
        .arg(calls.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        (256 * 3 * calls).to_string()
    );
    stderr
}

fn have_vulkan() -> bool {
    vulkan_runtime(DevicePolicy::Hint).is_some()
}

#[test]
fn cli_policies_give_the_same_result_and_stats_name_the_choices() {
    if !have_vulkan() {
        return;
    }
    let dir = scratch("placement_cli");
    let guest = increment_guest(&dir);
    // "adaptive-budget": adaptive with the default build budget, which the
    // short kernel never reaches; the others with the budget off.
    for policy in ["adaptive", "hint", "rotate", "adaptive-budget"] {
        let budget = if policy == "adaptive-budget" {
            "0.05"
        } else {
            "off"
        };
        let out = cli()
            .args([
                "run",
                "--stats",
                "--no-pipeline-cache",
                "--gpu-build-budget",
                budget,
                "--device-policy",
                policy.trim_end_matches("-budget"),
            ])
            .args(["--invoke", "run"])
            .arg(&guest)
            .arg("7")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{policy}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            (256 * 3 * 7).to_string(),
            "{policy}: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "device policy {}",
                policy.trim_end_matches("-budget")
            )),
            "{stderr}"
        );
        assert!(stderr.contains("call 7: kernel"), "{stderr}");
        assert!(stderr.contains("per kernel:"), "{stderr}");
        match policy {
            "adaptive" => assert!(
                stderr.contains("call 1: kernel") && stderr.contains("(compiling elsewhere"),
                "{stderr}"
            ),
            "adaptive-budget" => assert!(
                stderr.contains("call 7: kernel")
                    && stderr.contains("(saving for the GPU build")
                    && !stderr.contains("(compiling elsewhere"),
                "{stderr}"
            ),
            "hint" => assert!(
                stderr.contains("[vulkan: ") && stderr.contains("(hint)"),
                "{stderr}"
            ),
            _ => assert!(
                stderr.contains("(rotating)") && stderr.contains("[cpu"),
                "{stderr}"
            ),
        }
    }
}

#[test]
fn the_pipeline_cache_survives_runs_and_corruption() {
    if !have_vulkan() {
        return;
    }
    let dir = scratch("pipeline_cache");
    let guest = increment_guest(&dir);
    let cache = dir.join("cache");
    let run = || {
        let mut c = cli();
        c.args(["run", "--device", "gpu", "--pipeline-cache"])
            .arg(&cache);
        run_increment(c, &guest, 2)
    };
    let stderr = run();
    assert!(!stderr.contains("warning"), "{stderr}");
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("vk-pipelines-") && name.ends_with(".bin"),
        "{name}"
    );
    let good = std::fs::read(file).unwrap();
    assert!(good.starts_with(b"WPVKPC"));
    // A second run reads it without complaint.
    let stderr = run();
    assert!(!stderr.contains("warning"), "{stderr}");
    // A damaged file: a warning, the run still right, the file rewritten.
    for damage in [b"garbage".to_vec(), good[..good.len() / 2].to_vec(), {
        let mut f = good.clone();
        let last = f.len() - 1;
        f[last] ^= 0xff;
        f
    }] {
        std::fs::write(file, &damage).unwrap();
        let stderr = run();
        assert!(stderr.contains("warning: pipeline cache"), "{stderr}");
        let now = std::fs::read(file).unwrap();
        assert!(now.starts_with(b"WPVKPC"), "rewritten");
        let stderr = run();
        assert!(!stderr.contains("warning"), "{stderr}");
    }
}

/// An adaptive runtime with the default build budget that keeps its
/// placement history in `dir`.
fn history_runtime(dir: &std::path::Path) -> Option<(Arc<ParallelRuntime>, usize)> {
    let rt = ParallelRuntime::new(ParallelConfig {
        threads: 2,
        placement_history_dir: Some(dir.to_path_buf()),
        ..ParallelConfig::default()
    })
    .unwrap();
    let gpu = rt.devices().iter().find(|d| d.kind.is_gpu())?.index;
    Some((Arc::new(rt), gpu))
}

#[test]
fn the_placement_history_carries_measurements_to_the_next_engine() {
    use wasi_parallel::parallel::placement::history::{Cost, History};
    if vulkan_runtime(DevicePolicy::Adaptive).is_none() {
        return;
    }
    let dir = scratch("placement-history");
    let (seq_rt, _) = vulkan_runtime(DevicePolicy::Hint).unwrap();
    let n = 1024;
    let (short_want, _) = calls_of(&seq_rt, None, SEQUENTIAL, SHORT, 256, 3);
    let (heavy_want, _) = calls_of(&seq_rt, None, SEQUENTIAL, HEAVY, n, 3);

    // A first engine: a few calls of each kernel, all on the CPU device
    // (saving for the build), written to the history when it is dropped.
    let (rt, gpu) = history_runtime(&dir).unwrap();
    let (_, short) = calls_of(&rt, None, DISCRETE_GPU, SHORT, 256, 2);
    let (_, heavy) = calls_of(&rt, None, DISCRETE_GPU, HEAVY, n, 1);
    let gpu_id = rt.device(gpu).unwrap().identity();
    drop(rt);
    let mut h = History::load(&dir).unwrap();
    let (short_k, heavy_k) = (short[0].kernel_hash, heavy[0].kernel_hash);
    assert_eq!(h.calls[&short_k], 2);
    assert_eq!(h.calls[&heavy_k], 1);
    let cpu_cost = |k: u64| h.costs.iter().find(|c| c.kernel == k).unwrap().clone();
    let (short_cpu, heavy_cpu) = (cpu_cost(short_k), cpu_cost(heavy_k));
    assert!(short_cpu.device.starts_with("cpu"), "{short_cpu:?}");
    assert!(short_cpu.samples == 2 && short_cpu.average_ns > 0.0);

    // Made-up numbers for the next engine: HEAVY is 100x faster on the GPU
    // and its build pays back in its calls, SHORT is 1000x slower there
    // and its build never pays.
    let gpu_cost = |c: &Cost, factor: f64| Cost {
        device: gpu_id.clone(),
        average_ns: c.average_ns * factor,
        ..c.clone()
    };
    h.costs.push(gpu_cost(&heavy_cpu, 0.01));
    h.costs.push(gpu_cost(&short_cpu, 1000.0));
    // A long remembered build (the call waits up to 4x it) that a million
    // calls last time pay back.
    h.builds.insert((heavy_k, gpu_id.clone()), 10e9);
    // SHORT's build (10 s) can never pay in 20 calls, even if this run's
    // CPU calls (microseconds, noisy) come out slower than the made-up GPU
    // time.
    h.builds.insert((short_k, gpu_id.clone()), 10e9);
    h.calls.insert(heavy_k, 1_000_000);
    h.calls.insert(short_k, 20);
    h.save(&dir).unwrap();

    let (rt, gpu) = history_runtime(&dir).unwrap();
    let vk = vulkan_device(&rt, gpu);
    // SHORT: remembered as slower on the GPU, so never built, no exploring.
    let (got, recs) = calls_of(&rt, Some(gpu), DISCRETE_GPU, SHORT, 256, 3);
    assert_eq!(got, short_want);
    let reasons: Vec<_> = recs.iter().map(|r| (r.device_index, r.reason)).collect();
    assert!(
        reasons.iter().all(|&r| r == (1, Reason::Remembered)),
        "{reasons:?}"
    );
    assert_eq!(vk.pipeline_build_time().0, Duration::ZERO);
    // HEAVY: built at once (lavapipe builds on the host's cores), its
    // first call waits for the build and runs on the GPU.
    let (got, recs) = calls_of(&rt, Some(gpu), DISCRETE_GPU, HEAVY, n, 3);
    assert_eq!(got, heavy_want, "results equal the SEQUENTIAL device's");
    let reasons: Vec<_> = recs.iter().map(|r| (r.device_index, r.reason)).collect();
    assert_eq!(reasons[0], (gpu, Reason::Remembered), "{reasons:?}");
    assert_eq!(vk.background_builds_finished(), 1);
    assert!(vk.warm_ups().0 >= 1);
    drop(rt);

    // The file now holds this run's measurement of HEAVY on the GPU and the
    // build it measured.
    let h = History::load(&dir).unwrap();
    let measured = h
        .costs
        .iter()
        .find(|c| c.kernel == heavy_k && c.device == gpu_id)
        .unwrap();
    // The made-up record (one sample) plus at least this run's first call,
    // whose measurement replaced the made-up time.
    assert!(measured.samples >= 2, "{measured:?}");
    assert_ne!(measured.average_ns, heavy_cpu.average_ns * 0.01);
    let build = h.builds[&(heavy_k, gpu_id.clone())];
    assert!(
        build > 0.0 && build < 10e9,
        "this run's build replaced it: {build}"
    );
    assert_eq!(h.calls[&heavy_k], 3);

    // A damaged file: ignored (the engine starts from nothing) and
    // rewritten whole at the end.
    let path = wasi_parallel::parallel::placement::history::path_in(&dir);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("cost\t", "cost\tX", 1)).unwrap();
    assert!(History::load(&dir).is_err());
    let (rt, gpu) = history_runtime(&dir).unwrap();
    let (got, recs) = calls_of(&rt, Some(gpu), DISCRETE_GPU, SHORT, 256, 1);
    assert_eq!(got[0], short_want[0]);
    assert_eq!(recs[0].reason, Reason::SavingForBuild, "nothing remembered");
    drop(rt);
    let h = History::load(&dir).unwrap();
    assert_eq!(h.calls.get(&short_k), Some(&1));
}

#[test]
fn the_cli_keeps_a_placement_history_only_when_asked() {
    if !have_vulkan() {
        return;
    }
    let dir = scratch("placement_history_cli");
    let guest = increment_guest(&dir);
    let xdg = dir.join("xdg");
    let run = |history: Option<&str>| {
        let mut c = cli();
        c.env("XDG_CACHE_HOME", &xdg).args([
            "run",
            "--no-pipeline-cache",
            "--gpu-build-budget",
            "off",
        ]);
        if let Some(h) = history {
            c.arg(h);
        }
        run_increment(c, &guest, 5)
    };
    let default_file = xdg.join("wasi-parallel/placement-history.txt");
    // Off by default.
    run(None);
    assert!(!default_file.exists());
    // `--placement-history`: the default directory.
    let stderr = run(Some("--placement-history"));
    assert!(!stderr.contains("warning"), "{stderr}");
    let text = std::fs::read_to_string(&default_file).unwrap();
    assert!(
        text.starts_with("wasi-parallel placement history\t1\n"),
        "{text}"
    );
    assert!(
        text.contains("\ncalls\t") && text.contains("\t5\n"),
        "{text}"
    );
    // `=DIR`; a damaged file there is ignored with a warning and rewritten.
    let mine = dir.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("placement-history.txt"), "not a history").unwrap();
    let stderr = run(Some(&format!("--placement-history={}", mine.display())));
    assert!(
        stderr.contains("placement history ignored") && stderr.contains("first line"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(mine.join("placement-history.txt")).unwrap();
    assert!(
        text.starts_with("wasi-parallel placement history\t1\n"),
        "{text}"
    );
    // The guest's argument is not taken for the directory.
    assert!(!dir.join("5").exists());
}
