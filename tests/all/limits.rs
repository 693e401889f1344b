//! Every configurable limit, from the Rust configuration and from the CLI:
//! exceeding one returns `resource_exhausted` (or traps, for fuel and guest
//! memory), allocates nothing, and leaves the instance usable.

use crate::parallel_util::*;
use std::process::Command;
use wasi_parallel::parallel::{ParallelConfig, ParallelContext, ParallelRuntime};
use wasi_parallel::{Config, Engine, Instance, InstanceConfig, Module, TrapKind, Val};

const OUT_OF_BOUNDS: i32 = 3;
const KERNEL_TRAP: i32 = 5;
const RESOURCE_EXHAUSTED: i32 = 6;

#[test]
fn defaults_are_bounded() {
    let c = ParallelConfig::default();
    assert_eq!(c.max_buffer_bytes, 1 << 30);
    assert_eq!(c.max_buffers, 4096);
    assert_eq!(c.max_kernel_size, 16 << 20);
    assert_eq!(c.kernel_cache_entries, 64);
    let e = Config::default();
    assert_eq!(e.max_module_bytes, 256 << 20);
}

#[test]
fn a_4_gib_buffer_is_refused_and_nothing_is_allocated() {
    // Default limits: 0xffffffff bytes is over the 1 GiB default.
    let rt = runtime_threads(2);
    for hint in [SEQUENTIAL, CPU] {
        let mut g = Guest::new(&rt);
        let dev = g.get_device(hint).unwrap();
        g.poke(OUT, &[0xAA; 4]);
        assert_eq!(
            g.call("create_buffer", &[dev as i32, -1, READ_WRITE, OUT]),
            RESOURCE_EXHAUSTED
        );
        assert_eq!(g.peek_u32(OUT), 0xAAAA_AAAA, "no handle written");
        assert!(g.ctx().last_error().unwrap().contains("resource_exhausted"));
        let s = g.ctx().stats();
        assert_eq!((s.buffers, s.buffer_bytes), (0, 0), "nothing allocated");
        // The refused bytes were not counted: the whole budget is still there.
        let b = g.create_buffer(dev, 1 << 30, READ_WRITE).unwrap();
        assert_eq!(g.create_buffer(dev, 1, READ), Err(RESOURCE_EXHAUSTED));
        assert_eq!(g.read_buffer(b, 8).unwrap(), vec![0; 8]);
    }
    // Even with the byte limit lifted, 4 GiB - 1 is at most a lazily sized
    // memfd: refused or created, never a crash.
    let rt = runtime(ParallelConfig {
        threads: 2,
        max_buffer_bytes: u64::MAX,
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    let dev = g.get_device(SEQUENTIAL).unwrap();
    let r = g.call("create_buffer", &[dev as i32, -1, READ_WRITE, OUT]);
    assert!(r == 0 || r == RESOURCE_EXHAUSTED, "{r}");
}

#[test]
fn buffer_bytes_limit_counts_every_buffer_of_the_instance() {
    let rt = runtime(ParallelConfig {
        threads: 2,
        max_buffer_bytes: 10_000,
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    for _ in 0..4 {
        g.create_buffer(dev, 2500, READ).unwrap();
    }
    assert_eq!(g.create_buffer(dev, 1, READ), Err(RESOURCE_EXHAUSTED));
    assert_eq!(g.create_buffer(dev, 0, READ).map(|_| ()), Ok(()));
    // The limit is per instance: another instance has its own budget.
    let mut g2 = Guest::new(&rt);
    let dev2 = g2.get_device(CPU).unwrap();
    g2.create_buffer(dev2, 10_000, READ).unwrap();
}

#[test]
fn buffer_count_limit() {
    let rt = runtime(ParallelConfig {
        threads: 1,
        max_buffers: 5,
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    let dev = g.get_device(SEQUENTIAL).unwrap();
    for _ in 0..5 {
        g.create_buffer(dev, 0, READ).unwrap();
    }
    assert_eq!(g.create_buffer(dev, 0, READ), Err(RESOURCE_EXHAUSTED));
    assert_eq!(g.ctx().stats().buffers, 5);
}

#[test]
fn kernel_size_limit() {
    let k = wat("vector_add");
    let rt = runtime(ParallelConfig {
        threads: 1,
        max_kernel_size: k.len() - 1,
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    let dev = g.get_device(SEQUENTIAL).unwrap();
    let a = g.buffer_with(dev, &u32s_to_bytes(&[1, 2]), READ);
    let b = g.buffer_with(dev, &u32s_to_bytes(&[3, 4]), READ);
    let c = g.create_buffer(dev, 8, WRITE).unwrap();
    assert_eq!(g.exec(dev, &k, 1, 2, &[a, b], &[c]), RESOURCE_EXHAUSTED);
    assert!(g.ctx().last_error().unwrap().contains("kernel of"));
    assert_eq!(rt.kernel_cache().len(), 0, "nothing compiled");
    // A length past guest memory is out_of_bounds, whatever the limit.
    let len = g.mem().len() as i32;
    assert_eq!(
        g.call(
            "parallel_exec",
            &[dev as i32, len - 4, 16, 1, 1, 0, 0, 0, 0]
        ),
        OUT_OF_BOUNDS
    );
    // Small enough kernels still run.
    let k0 = wat("empty");
    assert!(k0.len() < k.len());
    assert_eq!(
        g.exec(dev, &k0, 4, 1, &[], &[]),
        0,
        "{:?}",
        g.ctx().last_error()
    );
}

#[test]
fn kernel_cache_is_bounded() {
    let rt = runtime(ParallelConfig {
        threads: 1,
        kernel_cache_entries: 3,
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    let dev = g.get_device(SEQUENTIAL).unwrap();
    for i in 0..10 {
        // Distinct kernels (a different constant each).
        let k = wat::parse_str(format!(
            r#"(module (memory (import "" "memory") 1)
                 (func (export "kernel") (param i32 i32 i32) (drop (i32.const {i}))))"#
        ))
        .unwrap();
        assert_eq!(g.exec(dev, &k, 1, 1, &[], &[]), 0);
        assert!(rt.kernel_cache().len() <= 3);
    }
    assert_eq!(rt.kernel_cache().len(), 3);
}

#[test]
fn kernel_fuel_stops_an_endless_kernel_on_every_cpu_device() {
    let rt = runtime(ParallelConfig {
        threads: 2,
        kernel_fuel: Some(100_000),
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    for hint in [SEQUENTIAL, CPU] {
        let dev = g.get_device(hint).unwrap();
        assert_eq!(
            g.exec(dev, &wat("spin_forever"), 8, 1, &[], &[]),
            KERNEL_TRAP
        );
        assert!(g.ctx().last_error().unwrap().contains("kernel_trap"));
        // and the instance still works
        assert_eq!(g.exec(dev, &wat("empty"), 8, 1, &[], &[]), 0);
    }
}

#[test]
fn guest_fuel_and_memory_limits() {
    let e = Engine::new(Config {
        fuel: Some(1_000_000),
        max_memory_pages: Some(16),
        ..Config::default()
    })
    .unwrap();
    let m = Module::new(
        &e,
        // Assembled here (dev-dependency `wat`): also runs without the `wat` feature.
        &wat::parse_str(
            r#"(module (memory (export "memory") 1)
              (func (export "spin") (loop $l (br $l)))
              (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let mut i = Instance::new(&m, &InstanceConfig::default()).unwrap();
    assert_eq!(
        i.call("spin", &[]).unwrap_err().trap_kind(),
        TrapKind::OutOfFuel
    );
    assert_eq!(i.call("grow", &[Val::I32(16)]).unwrap()[0].i32(), Some(-1));
    assert_eq!(i.call("grow", &[Val::I32(15)]).unwrap()[0].i32(), Some(1));
    assert_eq!(i.call("grow", &[Val::I32(1)]).unwrap()[0].i32(), Some(-1));
}

#[test]
fn context_directly_refuses_oversized_requests() {
    // The same checks without wasmi in between (what the fuzzer drives).
    let rt = std::sync::Arc::new(
        ParallelRuntime::with_devices(ParallelConfig::default(), |_| Vec::new()).unwrap(),
    );
    let mut ctx = ParallelContext::new(rt);
    let mut mem = vec![0u8; 65536];
    assert_eq!(ctx.get_device(&mut mem, 1, 0), 0);
    let dev = i32::from_le_bytes(mem[0..4].try_into().unwrap());
    assert_eq!(
        ctx.create_buffer(&mut mem, dev, -1, 2, 4),
        RESOURCE_EXHAUSTED
    );
    assert_eq!(ctx.stats().buffers, 0);
    // a kernel length of 4 GiB - 1
    assert_eq!(
        ctx.parallel_exec(&mut mem, dev, 0, -1, 1, 1, 0, 0, 0, 0),
        OUT_OF_BOUNDS
    );
}

const LIMIT_GUEST: &str = r#"
(module
  (import "wasi_ephemeral_parallel" "get_device" (func $gd (param i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "create_buffer" (func $cb (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; creates buffers of `size` bytes until one fails; returns count * 100 + code
  (func (export "fill") (param $size i32) (result i32) (local $n i32) (local $r i32)
    (drop (call $gd (i32.const 1) (i32.const 0)))
    (block $done (loop $l
      (local.set $r (call $cb (i32.load (i32.const 0)) (local.get $size) (i32.const 2) (i32.const 4)))
      (br_if $done (local.get $r))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $done (i32.ge_u (local.get $n) (i32.const 10000)))
      (br $l)))
    (i32.add (i32.mul (local.get $n) (i32.const 100)) (local.get $r))))
"#;

fn cli_fill(args: &[&str], size: i32) -> String {
    let dir = tempfile::tempdir().unwrap();
    // Binary, so the CLI needs no `wat` feature.
    let path = dir.path().join("limits.wasm");
    std::fs::write(&path, wat::parse_str(LIMIT_GUEST).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wasi-parallel"))
        .arg("run")
        .args(args)
        .args(["--invoke", "fill"])
        .arg(&path)
        .arg(size.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn cli_buffer_limits() {
    assert_eq!(cli_fill(&["--max-buffers", "7"], 16), "706");
    assert_eq!(cli_fill(&["--max-buffer-bytes", "1000"], 300), "306");
    assert_eq!(cli_fill(&["--max-buffer-bytes=1000"], 300), "306");
    // default: 4096 buffers
    assert_eq!(cli_fill(&[], 0), "409606");
    // a 4 GiB - 1 request with default limits
    assert_eq!(cli_fill(&[], -1), "6");
}

#[test]
fn cli_rejects_bad_limit_values() {
    for args in [
        &["--max-buffers", "x"][..],
        &["--max-kernel-size", "-1"],
        &["--kernel-cache", "0"],
        &["--max-buffer-bytes"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_wasi-parallel"))
            .arg("run")
            .args(args)
            .arg("nothing.wasm")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
