//! The fixed cost of one `parallel_exec` as a guest sees it:
//! `cargo bench --bench call_cost` (release).
//!
//! A wasm guest (below) loops over `write_buffer` (4 bytes: a step scalar,
//! as PolyBench's drivers write before each call) and `parallel_exec` of a
//! small kernel (`out[i] = step[0] + i`, block size 1, the step buffer in
//! and the output buffer out) through the real `wasi_ephemeral_parallel`
//! imports on wasmi; the same sequence is then made through
//! [`ParallelContext`] directly (no guest, no wasmi host call), so the
//! split between the guest side and the runtime side shows. Prints µs per
//! call, best of RUNS (default 7) batches of CALLS (default 2000) calls,
//! for a one-iteration call and a 2000-iteration call (ITERS), on
//! SEQUENTIAL and the CPU device at 1 and 2 threads, with the JIT (the
//! interpreter with `ENGINE=interp`). The device is forced, as the CLI's
//! `--device` does (PolyBench's `run.sh`), and no Vulkan device is looked
//! for; `ADAPTIVE=1` adds a CPU row under the adaptive policy with the
//! Vulkan devices found (placement decisions on every call). `ONLY=SEQ`
//! (a substring of the device column) runs only those rows, for a profiler.

#[allow(dead_code)]
#[path = "../tests/all/parallel_util.rs"]
mod parallel_util;

use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_parallel::parallel::{
    api, DeviceKind, DevicePolicy, KernelEngine, ParallelConfig, ParallelContext, ParallelRuntime,
};
use wasmi::{Engine, Linker, Module, Store, Val};

/// Guest memory addresses.
const OUT: i32 = 16;
const STEP: i32 = 32;
const IN_HANDLES: i32 = 64;
const OUT_HANDLES: i32 = 128;
const KERNEL: i32 = 4096;

/// The guest, after its imports (`parallel_util::PARALLEL_IMPORTS`).
const GUEST_BODY: &str = r#"
  (memory (export "memory") 2)
  (func (export "get_device") (param i32 i32) (result i32)
    (call $gd (local.get 0) (local.get 1)))
  (func (export "create_buffer") (param i32 i32 i32 i32) (result i32)
    (call $cb (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "read_buffer") (param i32 i32 i32) (result i32)
    (call $rb (local.get 0) (local.get 1) (local.get 2)))
  ;; $calls times: if $write, mem[32] = k and write_buffer(32, 4,
  ;; $step_buf); if $iters > 0, parallel_exec($dev, kernel, $iters, 1,
  ;; [step], [out]). Returns the first nonzero errno, else 0.
  (func (export "calls") (param $calls i32) (param $dev i32) (param $klen i32)
                         (param $iters i32) (param $write i32) (param $step_buf i32) (result i32)
    (local $k i32) (local $e i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $calls)))
        (if (local.get $write)
          (then
            (i32.store (i32.const 32) (local.get $k))
            (local.set $e (call $wb (i32.const 32) (i32.const 4) (local.get $step_buf)))
            (br_if $done (local.get $e))))
        (if (i32.gt_u (local.get $iters) (i32.const 0))
          (then
            (local.set $e (call $pe (local.get $dev) (i32.const 4096) (local.get $klen)
                                    (local.get $iters) (i32.const 1)
                                    (i32.const 64) (i32.const 1) (i32.const 128) (i32.const 1)))
            (br_if $done (local.get $e))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l)))
    (local.get $e)))
"#;

/// `out[i] = step[0] + i` (one u32 store per iteration).
const KERNEL_WAT: &str = r#"(module (memory (import "" "memory") 1)
  (func (export "kernel") (param $i i32) (param $n i32) (param $bs i32)
        (param $st i32) (param $stl i32) (param $out i32) (param $outl i32)
    (i32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
               (i32.add (i32.load (local.get $st)) (local.get $i)))))"#;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn read_u32(mem: &[u8], at: i32) -> u32 {
    let a = at as usize;
    u32::from_le_bytes(mem[a..a + 4].try_into().unwrap())
}

/// Per-call µs of (one-iteration exec, ITERS-iteration exec, 4-byte write).
struct Costs {
    exec1: f64,
    exec_n: f64,
    write: f64,
}

/// Best of `runs` batches of `calls` calls of `f(calls)`, µs per call.
fn best(runs: usize, calls: usize, mut f: impl FnMut(usize)) -> f64 {
    f(calls.min(50)); // warm: compile, workers
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        f(calls);
        best = best.min(t.elapsed());
    }
    best.as_secs_f64() * 1e6 / calls as f64
}

fn through_guest(rt: &Arc<ParallelRuntime>, hint: i32, kernel: &[u8], iters: u32) -> Costs {
    let (runs, calls) = (env("RUNS", 7), env("CALLS", 2000));
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        wat::parse_str(format!(
            "(module\n  {}{GUEST_BODY}",
            parallel_util::PARALLEL_IMPORTS
        ))
        .unwrap(),
    )
    .unwrap();
    let mut linker = Linker::<ParallelContext>::new(&engine);
    api::add_to_linker(&mut linker, |c| c).unwrap();
    let mut store = Store::new(&engine, ParallelContext::new(rt.clone()));
    let instance = linker.instantiate_and_start(&mut store, &module).unwrap();
    let memory = instance.get_memory(&store, "memory").unwrap();
    let call = |store: &mut Store<ParallelContext>, name: &str, args: &[i32]| -> i32 {
        let f = instance.get_func(&*store, name).unwrap();
        let params: Vec<Val> = args.iter().map(|a| Val::I32(*a)).collect();
        let mut out = [Val::I32(0)];
        f.call(store, &params, &mut out).unwrap();
        out[0].i32().unwrap()
    };
    assert_eq!(call(&mut store, "get_device", &[hint, OUT]), 0);
    let dev = read_u32(memory.data(&store), OUT) as i32;
    assert_eq!(call(&mut store, "create_buffer", &[dev, 4, 0, OUT]), 0);
    let step = read_u32(memory.data(&store), OUT);
    assert_eq!(
        call(
            &mut store,
            "create_buffer",
            &[dev, iters as i32 * 4, 1, OUT]
        ),
        0
    );
    let out = read_u32(memory.data(&store), OUT);
    memory.write(&mut store, KERNEL as usize, kernel).unwrap();
    memory
        .write(&mut store, IN_HANDLES as usize, &step.to_le_bytes())
        .unwrap();
    memory
        .write(&mut store, OUT_HANDLES as usize, &out.to_le_bytes())
        .unwrap();
    let klen = kernel.len() as i32;
    let step = step as i32;
    let mut calls_of = |n: usize, iters: u32, write: bool| {
        let e = call(
            &mut store,
            "calls",
            &[n as i32, dev, klen, iters as i32, write as i32, step],
        );
        assert_eq!(e, 0, "{:?}", store.data().last_error());
    };
    let exec1 = best(runs, calls, |n| calls_of(n, 1, false));
    let exec_n = best(runs, calls, |n| calls_of(n, iters, false));
    let write = best(runs, calls, |n| calls_of(n, 0, true));
    // One write of step 0, then an exec of ITERS iterations.
    calls_of(1, iters, true);
    assert_eq!(call(&mut store, "read_buffer", &[out as i32, KERNEL, 8]), 0);
    let m = memory.data(&store);
    assert_eq!((read_u32(m, KERNEL), read_u32(m, KERNEL + 4)), (0, 1));
    Costs {
        exec1,
        exec_n,
        write,
    }
}

fn direct(rt: &Arc<ParallelRuntime>, hint: i32, kernel: &[u8], iters: u32) -> Costs {
    let (runs, calls) = (env("RUNS", 7), env("CALLS", 2000));
    let mut ctx = ParallelContext::new(rt.clone());
    let mut mem = vec![0u8; 2 << 16];
    assert_eq!(ctx.get_device(&mut mem, hint, OUT), 0);
    let dev = read_u32(&mem, OUT) as i32;
    assert_eq!(ctx.create_buffer(&mut mem, dev, 4, 0, OUT), 0);
    let step = read_u32(&mem, OUT) as i32;
    assert_eq!(
        ctx.create_buffer(&mut mem, dev, iters as i32 * 4, 1, OUT),
        0
    );
    let out = read_u32(&mem, OUT) as i32;
    mem[KERNEL as usize..][..kernel.len()].copy_from_slice(kernel);
    mem[IN_HANDLES as usize..][..4].copy_from_slice(&step.to_le_bytes());
    mem[OUT_HANDLES as usize..][..4].copy_from_slice(&out.to_le_bytes());
    let klen = kernel.len() as i32;
    let exec = |ctx: &mut ParallelContext, mem: &mut [u8], iters: u32| {
        let e = ctx.parallel_exec(
            mem,
            dev,
            KERNEL,
            klen,
            iters as i32,
            1,
            IN_HANDLES,
            1,
            OUT_HANDLES,
            1,
        );
        assert_eq!(e, 0, "{:?}", ctx.last_error());
    };
    let exec1 = best(runs, calls, |n| {
        for _ in 0..n {
            exec(&mut ctx, &mut mem, 1);
        }
    });
    let exec_n = best(runs, calls, |n| {
        for _ in 0..n {
            exec(&mut ctx, &mut mem, iters);
        }
    });
    let write = best(runs, calls, |n| {
        for k in 0..n {
            mem[STEP as usize..][..4].copy_from_slice(&(k as u32).to_le_bytes());
            assert_eq!(ctx.write_buffer(&mut mem, STEP, 4, step), 0);
        }
    });
    Costs {
        exec1,
        exec_n,
        write,
    }
}

fn main() {
    let iters = env("ITERS", 2000) as u32;
    let engine = match std::env::var("ENGINE").as_deref() {
        Ok("interp") => KernelEngine::Interpreter,
        _ => KernelEngine::Jit,
    };
    if engine == KernelEngine::Jit && !KernelEngine::jit_available() {
        println!("call_cost: no JIT in this build (ENGINE=interp for the interpreter)");
        return;
    }
    let kernel = wat::parse_str(KERNEL_WAT).unwrap();
    let adaptive = std::env::var("ADAPTIVE").as_deref() == Ok("1");
    println!(
        "call_cost: {engine:?}, kernel of {} bytes, best of {} x {} calls, {iters} iterations in the long call (µs per call)",
        kernel.len(),
        env("RUNS", 7),
        env("CALLS", 2000)
    );
    println!("| device | through | exec, 1 iteration | exec, {iters} iterations | write_buffer, 4 bytes |");
    println!("| --- | --- | --- | --- | --- |");
    let mut rows = vec![
        ("SEQUENTIAL", 0, 1, false),
        ("CPU 1 thread", 1, 1, false),
        ("CPU 2 threads", 1, 2, false),
    ];
    if adaptive {
        rows.push(("CPU 1 thread", 1, 1, true));
    }
    let only = std::env::var("ONLY").unwrap_or_default();
    rows.retain(|r| r.0.contains(only.as_str()));
    for (label, hint, threads, adaptive) in rows {
        let kind = if hint == 0 {
            DeviceKind::Sequential
        } else {
            DeviceKind::Cpu
        };
        let config = ParallelConfig {
            threads,
            kernel_engine: engine,
            device_policy: if adaptive {
                DevicePolicy::Adaptive
            } else {
                DevicePolicy::Force(kind)
            },
            vulkan_device: (!adaptive).then(|| "none".to_string()),
            ..ParallelConfig::default()
        };
        let rt = Arc::new(ParallelRuntime::new(config).expect("runtime"));
        let gpus = rt.devices().iter().filter(|d| d.kind.is_gpu()).count();
        let label = if adaptive {
            format!("{label} (adaptive, {gpus} GPU)")
        } else {
            label.to_string()
        };
        for (through, c) in [
            ("guest (wasmi)", through_guest(&rt, hint, &kernel, iters)),
            ("ParallelContext", direct(&rt, hint, &kernel, iters)),
        ] {
            println!(
                "| {label} | {through} | {:.2} | {:.2} | {:.2} |",
                c.exec1, c.exec_n, c.write
            );
        }
    }
}
