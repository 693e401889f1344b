//! The interpreter core through the Rust API: loading, linking, calling,
//! traps, exits, fuel, memory limits, natives.
//!
//! The modules here are WAT text: built only with the `wat` feature (on by
//! default; `--no-default-features` builds leave the text parser out).
#![cfg(feature = "wat")]

use std::sync::Arc;

use wasi_parallel::{
    Config, Engine, ErrorCode, Instance, InstanceConfig, Module, Natives, Stdio, TrapKind, Val,
    ValType,
};

fn engine() -> Engine {
    Engine::new(Config::default()).unwrap()
}

fn instance(wat: &str) -> Instance {
    let e = engine();
    let m = Module::new(&e, wat.as_bytes()).unwrap();
    Instance::new(&m, &InstanceConfig::default()).unwrap()
}

#[test]
fn wat_and_binary_load_alike() {
    let e = engine();
    let wat = r#"(module (func (export "add") (param i32 i32) (result i32)
        local.get 0 local.get 1 i32.add))"#;
    let bin = wat::parse_str(wat).unwrap();
    for bytes in [wat.as_bytes(), &bin[..]] {
        let m = Module::new(&e, bytes).unwrap();
        let mut i = Instance::new(&m, &InstanceConfig::default()).unwrap();
        let r = i.call("add", &[Val::I32(40), Val::I32(2)]).unwrap();
        assert_eq!(r[0].i32(), Some(42));
    }
}

#[test]
fn invalid_modules_say_what_and_where() {
    let e = engine();
    let err = Module::new(&e, b"not wasm at all").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidModule);

    // A type error in a function body: wasmparser reports the byte offset.
    let bad = wat::parse_str(r#"(module (func (result i32) i64.const 1))"#);
    let bad = match bad {
        Ok(b) => b,
        Err(_) => return,
    };
    let err = Module::new(&e, &bad).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidModule);
    assert!(
        err.message().contains("offset") || err.message().contains("0x"),
        "{}",
        err.message()
    );

    let err =
        Module::new(&e, b"(module (func (export \"f\") (result i32) i32.const))").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidModule);
    assert!(err.message().contains("WAT"), "{}", err.message());

    // Truncated binary.
    let good = wat::parse_str(r#"(module (func (export "f")))"#).unwrap();
    let err = Module::new(&e, &good[..good.len() - 3]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidModule);
}

#[test]
fn unresolved_import_is_an_error_at_instantiation_naming_it() {
    let e = engine();
    let m = Module::new(
        &e,
        br#"(module (import "env" "missing_fn" (func (param i32) (result i64))))"#,
    )
    .unwrap();
    let err = Instance::new(&m, &InstanceConfig::default()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Link);
    assert!(
        err.message().contains("env.missing_fn"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("(i32) -> (i64)"),
        "{}",
        err.message()
    );
}

#[test]
fn mistyped_import_names_both_types() {
    let e = engine();
    let mut natives = Natives::new();
    natives
        .define(
            "env",
            "f",
            &[ValType::I32],
            &[ValType::I32],
            Arc::new(|_, a, r| {
                r[0] = a[0].clone();
                Ok(())
            }),
        )
        .unwrap();
    let m = Module::new(&e, br#"(module (import "env" "f" (func (param f64))))"#).unwrap();
    let cfg = InstanceConfig {
        natives,
        ..Default::default()
    };
    let err = Instance::new(&m, &cfg).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Link);
    let msg = err.message();
    assert!(msg.contains("env.f"), "{msg}");
    assert!(msg.contains("(f64) -> ()"), "{msg}");
    assert!(msg.contains("(i32) -> (i32)"), "{msg}");

    // A WASI import with the wrong type is caught the same way.
    let m = Module::new(
        &e,
        br#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))))"#,
    )
    .unwrap();
    let err = Instance::new(&m, &InstanceConfig::default()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Link);
    assert!(
        err.message().contains("wasi_snapshot_preview1.fd_write"),
        "{}",
        err.message()
    );
}

#[test]
fn calls_check_names_and_types() {
    let mut i = instance(
        r#"(module (func (export "mix") (param i32 i64 f32 f64) (result f64)
            local.get 0 f64.convert_i32_s local.get 1 f64.convert_i64_s f64.add
            local.get 2 f64.promote_f32 f64.add local.get 3 f64.add))"#,
    );
    let r = i
        .call(
            "mix",
            &[
                Val::I32(-1),
                Val::I64(1 << 40),
                Val::F32(0.5f32.into()),
                Val::F64(0.25f64.into()),
            ],
        )
        .unwrap();
    assert_eq!(
        r[0].f64().map(f64::from),
        Some(-1.0 + (1u64 << 40) as f64 + 0.75)
    );
    let err = i.call("nope", &[]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    let err = i.call("mix", &[Val::I32(1)]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TypeMismatch);
    assert!(
        err.message().contains("(i32, i64, f32, f64) -> (f64)"),
        "{}",
        err.message()
    );
}

#[test]
fn traps_have_kinds_and_the_instance_survives() {
    let mut i = instance(
        r#"(module (memory (export "memory") 1)
            (func (export "unreachable") unreachable)
            (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
            (func (export "oob") (result i32) i32.const 65536 i32.load)
            (func (export "ok") (result i32) i32.const 7))"#,
    );
    let e = i.call("unreachable", &[]).unwrap_err();
    assert_eq!(
        (e.code(), e.trap_kind()),
        (ErrorCode::Trap, TrapKind::Unreachable)
    );
    let e = i.call("div", &[Val::I32(1), Val::I32(0)]).unwrap_err();
    assert_eq!(e.trap_kind(), TrapKind::IntegerDivisionByZero);
    let e = i
        .call("div", &[Val::I32(i32::MIN), Val::I32(-1)])
        .unwrap_err();
    assert_eq!(e.trap_kind(), TrapKind::IntegerOverflow);
    let e = i.call("oob", &[]).unwrap_err();
    assert_eq!(e.trap_kind(), TrapKind::MemoryOutOfBounds);
    assert_eq!(e.exit_code(), None);
    assert_eq!(i.call("ok", &[]).unwrap()[0].i32(), Some(7));
}

#[test]
fn fuel_stops_endless_guests_per_call() {
    let e = Engine::new(Config {
        fuel: Some(100_000),
        ..Config::default()
    })
    .unwrap();
    let m = Module::new(
        &e,
        br#"(module (func (export "spin") (loop br 0))
                     (func (export "ok") (result i32) i32.const 1))"#,
    )
    .unwrap();
    let mut i = Instance::new(&m, &InstanceConfig::default()).unwrap();
    let err = i.call("spin", &[]).unwrap_err();
    assert_eq!(err.trap_kind(), TrapKind::OutOfFuel);
    // Each call gets a fresh budget.
    assert_eq!(i.call("ok", &[]).unwrap()[0].i32(), Some(1));
    assert!(i.fuel_remaining().unwrap() > 0);
}

#[test]
fn memory_limit_applies_to_creation_and_growth() {
    let e = Engine::new(Config {
        max_memory_pages: Some(4),
        ..Config::default()
    })
    .unwrap();
    let big = Module::new(&e, br#"(module (memory (export "memory") 8))"#).unwrap();
    let err = Instance::new(&big, &InstanceConfig::default()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ResourceExhausted, "{err}");
    let small = Module::new(
        &e,
        br#"(module (memory (export "memory") 2)
            (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#,
    )
    .unwrap();
    let mut i = Instance::new(&small, &InstanceConfig::default()).unwrap();
    assert_eq!(i.call("grow", &[Val::I32(2)]).unwrap()[0].i32(), Some(2));
    assert_eq!(i.call("grow", &[Val::I32(1)]).unwrap()[0].i32(), Some(-1));
    assert_eq!(i.memory_size().unwrap(), 4 * 65536);
}

#[test]
fn guest_memory_access_is_bounds_checked() {
    let mut i = instance(r#"(module (memory (export "memory") 1))"#);
    i.write_memory(65532, &[1, 2, 3, 4]).unwrap();
    let mut out = [0u8; 4];
    i.read_memory(65532, &mut out).unwrap();
    assert_eq!(out, [1, 2, 3, 4]);
    assert_eq!(
        i.write_memory(65533, &[0; 4]).unwrap_err().code(),
        ErrorCode::OutOfBounds
    );
    assert_eq!(
        i.read_memory(u64::MAX, &mut out).unwrap_err().code(),
        ErrorCode::OutOfBounds
    );
}

#[test]
fn natives_see_guest_memory_and_can_abort_it() {
    let e = engine();
    let mut natives = Natives::new();
    natives
        .define(
            "host",
            "sum_bytes",
            &[ValType::I32, ValType::I32],
            &[ValType::I32],
            Arc::new(|caller, args, results| {
                let (p, n) = (args[0].i32().unwrap() as u32, args[1].i32().unwrap() as u32);
                let bytes = caller.slice_mut(p, n)?;
                results[0] = Val::I32(bytes.iter().map(|&b| b as i32).sum());
                Ok(())
            }),
        )
        .unwrap();
    let m = Module::new(
        &e,
        br#"(module (import "host" "sum_bytes" (func $s (param i32 i32) (result i32)))
            (memory (export "memory") 1) (data (i32.const 16) "\01\02\03\04")
            (func (export "good") (result i32) i32.const 16 i32.const 4 call $s)
            (func (export "bad") (result i32) i32.const 65535 i32.const 4 call $s))"#,
    )
    .unwrap();
    let mut i = Instance::new(
        &m,
        &InstanceConfig {
            natives,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(i.call("good", &[]).unwrap()[0].i32(), Some(10));
    let err = i.call("bad", &[]).unwrap_err();
    assert_eq!(
        (err.code(), err.trap_kind()),
        (ErrorCode::Trap, TrapKind::Host)
    );
    assert!(
        err.message().contains("outside guest memory"),
        "{}",
        err.message()
    );
}

#[test]
fn proc_exit_is_an_exit_code_not_a_trap() {
    let e = engine();
    let out = Arc::new(std::sync::RwLock::new(Vec::new()));
    let m = Module::new(
        &e,
        br#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (data (i32.const 8) "\10\00\00\00\03\00\00\00") ;; iovec {16, 3}
            (data (i32.const 16) "hi\n")
            (func (export "_start")
                i32.const 1 i32.const 8 i32.const 1 i32.const 0 call $w drop
                i32.const 42 call $exit))"#,
    )
    .unwrap();
    let mut cfg = InstanceConfig::default();
    cfg.wasi.stdout = Stdio::Buffer(out.clone());
    let mut i = Instance::new(&m, &cfg).unwrap();
    assert_eq!(i.run_start().unwrap(), 42);
    assert_eq!(&out.read().unwrap()[..], b"hi\n");
    let err = i.call("_start", &[]).unwrap_err();
    assert_eq!((err.code(), err.exit_code()), (ErrorCode::Exit, Some(42)));
    // 125 is the highest exit status; 126 and up are a trap, as the docs
    // say (wasi-common's rule, wasmtime's too).
    for (status, exit) in [
        (0, Some(0)),
        (125, Some(125)),
        (126, None),
        (200, None),
        (-1, None),
    ] {
        let m = Module::new(
            &e,
            format!(
                r#"(module
                (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
                (memory (export "memory") 1)
                (func (export "_start") i32.const {status} call $exit))"#
            )
            .as_bytes(),
        )
        .unwrap();
        let mut i = Instance::new(&m, &InstanceConfig::default()).unwrap();
        match exit {
            Some(code) => assert_eq!(i.run_start().unwrap(), code),
            None => {
                let err = i.run_start().unwrap_err();
                assert_eq!(err.code(), ErrorCode::Trap, "{status}: {err}");
                assert!(err.to_string().contains("exit status"), "{err}");
            }
        }
    }
}

#[test]
fn missing_preopen_is_a_clear_error() {
    let e = engine();
    let m = Module::new(&e, b"(module)").unwrap();
    let mut cfg = InstanceConfig::default();
    cfg.wasi
        .preopens
        .push(("/definitely/not/here".into(), "/data".into()));
    let err = Instance::new(&m, &cfg).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Io);
    assert!(
        err.message().contains("/definitely/not/here"),
        "{}",
        err.message()
    );
}

/// A bad `WASI_PARALLEL_BOUNDS_CHECKS` value is the caller's to fix:
/// `InvalidArgument` from `Engine::new` (it was `Internal`). Runs itself
/// in a child process, the only one whose environment has the value.
#[test]
fn a_bad_bounds_checks_variable_is_an_invalid_argument() {
    if std::env::var_os("WP_TEST_BAD_BOUNDS_CHILD").is_some() {
        let err = Engine::new(Config::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        assert!(err.to_string().contains("bogus"), "{err}");
        return;
    }
    let name = "runtime::a_bad_bounds_checks_variable_is_an_invalid_argument";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads", "1"])
        .env("WP_TEST_BAD_BOUNDS_CHILD", "1")
        .env("WASI_PARALLEL_BOUNDS_CHECKS", "bogus")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A metered guest (a fuel budget, a timeout) runs in fuel slices; a slice
/// that ran out while wasmi translated a function at its first call ended
/// the guest with "all fuel consumed", far below the budget (a directory
/// listing under `--timeout` did every time). Sixty functions of 8 KB, each
/// first called in turn, put slice ends inside translations (7 fuel a
/// byte: 56 000 a function, 2^20 a slice).
#[test]
fn a_metered_guest_is_not_stopped_by_translating_its_functions() {
    let mut wat = String::from("(module\n");
    for f in 0..60 {
        wat += &format!("(func $f{f}");
        for _ in 0..2700 {
            wat += " i32.const 1 drop";
        }
        wat += ")\n";
    }
    wat += "(func (export \"run\") (result i32)";
    for f in 0..60 {
        wat += &format!(" call $f{f}");
    }
    wat += " i32.const 7))";
    for config in [
        Config {
            fuel: Some(1 << 40),
            ..Config::default()
        },
        Config {
            timeout: Some(std::time::Duration::from_secs(60)),
            ..Config::default()
        },
    ] {
        let e = Engine::new(config).unwrap();
        let m = Module::new(&e, wat.as_bytes()).unwrap();
        let mut i = Instance::new(&m, &InstanceConfig::default()).unwrap();
        assert_eq!(i.call("run", &[]).unwrap()[0].i32(), Some(7));
    }
}
