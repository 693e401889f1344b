//! What the guards against runaway guests cost: `cargo bench --bench limits_cost`.
//!
//! Guest code (a WAT loop, through `Instance::call`) and kernels (on the
//! SEQUENTIAL device, through `parallel_exec`), each
//! - unmetered, straight through wasmi (`Func::call` on an engine without
//!   fuel metering: what the runtime did before interrupts existed),
//! - through the runtime with `interruptible = false` (no metering),
//! - through the runtime by default (metered in fuel slices, so an
//!   interrupt is noticed inside a loop),
//! - with a deadline armed (`timeout` / `kernel_timeout` of an hour),
//! - with a fuel budget (`fuel` / `kernel_fuel`).
//!
//! The configurations run in turn, 5 rounds; the best of each counts, in
//! CPU time of the (only) thread that runs them.
//! SECURITY.md and BENCHMARKS.md quote the output.

#[allow(dead_code)]
#[path = "../tests/all/parallel_util.rs"]
mod parallel_util;

use parallel_util::*;
use std::time::Duration;
use wasi_parallel::parallel::{KernelEngine, ParallelConfig};
use wasi_parallel::{Config, Engine, Instance, InstanceConfig, Module, Val};

const GUEST: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "work") (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $s)))"#;

/// CPU time of the calling thread: every row runs on one thread (the
/// SEQUENTIAL device runs kernels on the caller), and on a machine shared
/// with other builds wall time mostly measures the others.
struct ThreadClock(Duration);

impl ThreadClock {
    fn read() -> Duration {
        // SAFETY: clock_gettime only writes the timespec we pass.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        // SAFETY: a valid clock id and a writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
    fn now() -> Self {
        ThreadClock(Self::read())
    }
    fn elapsed(&self) -> Duration {
        Self::read().saturating_sub(self.0)
    }
}

/// Rounds of every configuration, run in turn (so load changes on a shared
/// machine hit all of them alike); the best of each counts.
const ROUNDS: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs every `(name, run)` ROUNDS times in turn; prints the best of each
/// against the first.
/// One measured configuration: its name and what runs it once.
type Row<'a> = (&'a str, Box<dyn FnMut() -> Duration + 'a>);

fn table(title: &str, mut rows: Vec<Row<'_>>) {
    let mut best = vec![Duration::MAX; rows.len()];
    for _ in 0..ROUNDS {
        for (i, (_, run)) in rows.iter_mut().enumerate() {
            best[i] = best[i].min(run());
        }
    }
    println!("{title}");
    for (i, (name, _)) in rows.iter().enumerate() {
        println!(
            "  {name:34} {:8.1} ms  ({:+5.1}% vs the first row)",
            ms(best[i]),
            (best[i].as_secs_f64() / best[0].as_secs_f64() - 1.0) * 100.0
        );
    }
}

fn wasmi_engine(metered: bool) -> wasmi::Engine {
    let mut c = wasmi::Config::default();
    c.consume_fuel(metered);
    wasmi::Engine::new(&c)
}

/// The guest's `work(n)` straight through wasmi, one `Func::call`.
fn guest_raw(n: i32, metered: bool) -> impl FnMut() -> Duration {
    let engine = wasmi_engine(metered);
    let module = wasmi::Module::new(&engine, GUEST).unwrap();
    let mut store = wasmi::Store::new(&engine, ());
    let _ = store.set_fuel(u64::MAX);
    let inst = wasmi::Linker::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .unwrap();
    let f = inst.get_func(&store, "work").unwrap();
    move || {
        let _ = store.set_fuel(u64::MAX);
        let mut out = [Val::I32(0)];
        let t = ThreadClock::now();
        f.call(&mut store, &[Val::I32(n)], &mut out).unwrap();
        t.elapsed()
    }
}

fn guest_runtime(n: i32, config: Config) -> impl FnMut() -> Duration {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, GUEST.as_bytes()).unwrap();
    let mut inst = Instance::new(&module, &InstanceConfig::default()).unwrap();
    move || {
        let t = ThreadClock::now();
        inst.call("work", &[Val::I32(n)]).unwrap();
        t.elapsed()
    }
}

/// SEQUENTIAL exec of `kernel` (one out buffer) through the runtime.
fn kernel_runtime(
    kernel: &[u8],
    n: u32,
    block: u32,
    config: ParallelConfig,
) -> impl FnMut() -> Duration + '_ {
    let rt = runtime(config);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(SEQUENTIAL).unwrap();
    let out = g.create_buffer(dev, n * 4, WRITE).unwrap();
    assert_eq!(g.exec(dev, kernel, n, block, &[], &[out]), 0);
    move || {
        let t = ThreadClock::now();
        assert_eq!(g.exec(dev, kernel, n, block, &[], &[out]), 0);
        t.elapsed()
    }
}

/// The same iterations straight through wasmi, one `Func::call` per
/// iteration (the SEQUENTIAL worker loop before this runtime sliced it).
fn kernel_raw(kernel: &[u8], n: u32, block: u32, metered: bool) -> impl FnMut() -> Duration {
    let shape = wasi_parallel::parallel::kernel::loader::load(kernel).unwrap();
    let engine = wasmi_engine(metered);
    let module = wasmi::Module::new(&engine, &shape.rewritten).unwrap();
    let mut store = wasmi::Store::new(&engine, ());
    let _ = store.set_fuel(u64::MAX);
    let out_at = shape.private_size as i32;
    let pages = (shape.private_size as u32 + n * 4).div_ceil(65536) + 1;
    let memory =
        wasmi::Memory::new(&mut store, wasmi::MemoryType::new(pages, Some(pages))).unwrap();
    let mut linker = wasmi::Linker::new(&engine);
    for import in module.imports() {
        linker
            .define(import.module(), import.name(), memory)
            .unwrap();
    }
    let inst = linker.instantiate_and_start(&mut store, &module).unwrap();
    let f = inst.get_func(&store, "kernel").unwrap();
    move || {
        let mut params = [
            Val::I32(0),
            Val::I32(n as i32),
            Val::I32(block as i32),
            Val::I32(out_at),
            Val::I32((n * 4) as i32),
        ];
        let t = ThreadClock::now();
        for i in 0..n {
            params[0] = Val::I32(i as i32);
            let _ = store.set_fuel(u64::MAX);
            f.call(&mut store, &params, &mut []).unwrap();
        }
        t.elapsed()
    }
}

fn main() {
    let hour = Some(Duration::from_secs(3600));
    let n = 30_000_000;
    table(
        &format!("guest loop, {n} rounds (best of {ROUNDS}):"),
        vec![
            ("wasmi unmetered, one call", Box::new(guest_raw(n, false))),
            ("wasmi metered, one call", Box::new(guest_raw(n, true))),
            (
                "runtime, interruptible = false",
                Box::new(guest_runtime(
                    n,
                    Config {
                        interruptible: false,
                        ..Config::default()
                    },
                )),
            ),
            (
                "runtime, default (interruptible)",
                Box::new(guest_runtime(n, Config::default())),
            ),
            (
                "runtime, timeout armed",
                Box::new(guest_runtime(
                    n,
                    Config {
                        timeout: hour,
                        ..Config::default()
                    },
                )),
            ),
            (
                "runtime, fuel budget",
                Box::new(guest_runtime(
                    n,
                    Config {
                        fuel: Some(u64::MAX / 2),
                        ..Config::default()
                    },
                )),
            ),
        ],
    );
    let compute = wat("compute");
    let iota = wat("iota");
    // Kernels on each engine of the SEQUENTIAL device: the interpreter is
    // metered in fuel slices when interruptible, the JIT (the default where
    // compiled in) checks an epoch counter at loop heads and calls instead.
    let mut engines = vec![KernelEngine::Interpreter];
    if KernelEngine::jit_available() {
        engines.push(KernelEngine::Jit);
    }
    for (name, kernel, iters, block) in [
        ("compute", &compute, 64u32, 200_000u32),
        ("iota (short iterations)", &iota, 1u32 << 18, 0),
    ] {
        for &engine in &engines {
            let base = ParallelConfig {
                threads: 1,
                kernel_engine: engine,
                ..ParallelConfig::default()
            };
            let mut rows: Vec<Row<'_>> = Vec::new();
            if engine == KernelEngine::Interpreter {
                rows.push((
                    "wasmi unmetered, call per iteration",
                    Box::new(kernel_raw(kernel, iters, block, false)),
                ));
                rows.push((
                    "wasmi metered, call per iteration",
                    Box::new(kernel_raw(kernel, iters, block, true)),
                ));
            }
            let configs = [
                (
                    "runtime, interruptible = false",
                    ParallelConfig {
                        interruptible: false,
                        ..base.clone()
                    },
                ),
                ("runtime, default (interruptible)", base.clone()),
                (
                    "runtime, kernel timeout",
                    ParallelConfig {
                        kernel_timeout: hour,
                        ..base.clone()
                    },
                ),
                (
                    "runtime, kernel fuel",
                    ParallelConfig {
                        kernel_fuel: Some(u64::MAX / 2),
                        ..base.clone()
                    },
                ),
            ];
            for (label, config) in configs {
                rows.push((
                    label,
                    Box::new(kernel_runtime(kernel, iters, block, config)),
                ));
            }
            table(
                &format!(
                    "kernel {name}, {iters} iterations x block {block}, SEQUENTIAL, {} (best of {ROUNDS}):",
                    engine.name()
                ),
                rows,
            );
        }
    }
}
