//! What the guards against runaway guests cost: `cargo bench --bench limits_cost`.
//!
//! Guest code (a WAT loop, through `Instance::call`) and kernels (on the
//! SEQUENTIAL device, through `parallel_exec`), each
//! - unmetered, straight through wasmi (`Func::call` on an engine without
//!   fuel metering: what the runtime did before interrupts existed),
//! - as the runtime runs it now with nothing armed (fuel slices, so an
//!   interrupt is noticed),
//! - with a deadline armed (`timeout` / `kernel_timeout` of an hour),
//! - with a fuel budget (`fuel` / `kernel_fuel`).
//!
//! Best of 5 runs each. SECURITY.md and BENCHMARKS.md quote the output.

#[path = "../tests/parallel_util/mod.rs"]
mod parallel_util;

use parallel_util::*;
use std::time::{Duration, Instant};
use wasi_parallel::parallel::ParallelConfig;
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

fn best(mut f: impl FnMut() -> Duration) -> Duration {
    (0..5).map(|_| f()).min().unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn guest_raw(n: i32) -> Duration {
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, GUEST).unwrap();
    let mut store = wasmi::Store::new(&engine, ());
    let inst = wasmi::Linker::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .unwrap();
    let f = inst.get_func(&store, "work").unwrap();
    best(|| {
        let mut out = [Val::I32(0)];
        let t = Instant::now();
        f.call(&mut store, &[Val::I32(n)], &mut out).unwrap();
        t.elapsed()
    })
}

fn guest_runtime(n: i32, config: Config) -> Duration {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, GUEST.as_bytes()).unwrap();
    let mut inst = Instance::new(&module, &InstanceConfig::default()).unwrap();
    best(|| {
        let t = Instant::now();
        inst.call("work", &[Val::I32(n)]).unwrap();
        t.elapsed()
    })
}

/// SEQUENTIAL exec of `kernel` (one out buffer) through the runtime.
fn kernel_runtime(kernel: &[u8], n: u32, block: u32, config: ParallelConfig) -> Duration {
    let rt = runtime(config);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(SEQUENTIAL).unwrap();
    let out = g.create_buffer(dev, n * 4, WRITE).unwrap();
    assert_eq!(g.exec(dev, kernel, n, block, &[], &[out]), 0);
    best(|| {
        let t = Instant::now();
        assert_eq!(g.exec(dev, kernel, n, block, &[], &[out]), 0);
        t.elapsed()
    })
}

/// The same iterations straight through an unmetered wasmi engine, one
/// `Func::call` per iteration (the SEQUENTIAL worker loop before).
fn kernel_raw(kernel: &[u8], n: u32, block: u32) -> Duration {
    let shape = wasi_parallel::parallel::kernel::loader::load(kernel).unwrap();
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, &shape.rewritten).unwrap();
    let mut store = wasmi::Store::new(&engine, ());
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
    best(|| {
        let mut params = [
            Val::I32(0),
            Val::I32(n as i32),
            Val::I32(block as i32),
            Val::I32(out_at),
            Val::I32((n * 4) as i32),
        ];
        let t = Instant::now();
        for i in 0..n {
            params[0] = Val::I32(i as i32);
            f.call(&mut store, &params, &mut []).unwrap();
        }
        t.elapsed()
    })
}

fn main() {
    let hour = Some(Duration::from_secs(3600));
    let n = 100_000_000;
    println!("guest loop, {n} rounds (Instance::call):");
    let raw = guest_raw(n);
    let rows = [
        ("unmetered wasmi (before)", raw),
        (
            "runtime, nothing armed",
            guest_runtime(n, Config::default()),
        ),
        (
            "runtime, timeout armed",
            guest_runtime(
                n,
                Config {
                    timeout: hour,
                    ..Config::default()
                },
            ),
        ),
        (
            "runtime, fuel budget",
            guest_runtime(
                n,
                Config {
                    fuel: Some(u64::MAX / 2),
                    ..Config::default()
                },
            ),
        ),
    ];
    for (what, d) in rows {
        println!(
            "  {what:28} {:8.1} ms  ({:+.1}% vs unmetered)",
            ms(d),
            (d.as_secs_f64() / raw.as_secs_f64() - 1.0) * 100.0
        );
    }
    for (name, kernel, iters, block) in [
        ("compute", wat("compute"), 64u32, 400_000u32),
        ("iota (short iterations)", wat("iota"), 1u32 << 20, 0),
    ] {
        println!("kernel {name}, {iters} iterations x block {block}, SEQUENTIAL:");
        let raw = kernel_raw(&kernel, iters, block);
        let base = ParallelConfig {
            threads: 1,
            ..ParallelConfig::default()
        };
        let rows = [
            ("unmetered wasmi loop", raw),
            (
                "runtime, nothing armed",
                kernel_runtime(&kernel, iters, block, base.clone()),
            ),
            (
                "runtime, kernel timeout",
                kernel_runtime(
                    &kernel,
                    iters,
                    block,
                    ParallelConfig {
                        kernel_timeout: hour,
                        ..base.clone()
                    },
                ),
            ),
            (
                "runtime, kernel fuel",
                kernel_runtime(
                    &kernel,
                    iters,
                    block,
                    ParallelConfig {
                        kernel_fuel: Some(u64::MAX / 2),
                        ..base.clone()
                    },
                ),
            ),
        ];
        for (what, d) in rows {
            println!(
                "  {what:28} {:8.1} ms  ({:+.1}% vs unmetered)",
                ms(d),
                (d.as_secs_f64() / raw.as_secs_f64() - 1.0) * 100.0
            );
        }
    }
}
