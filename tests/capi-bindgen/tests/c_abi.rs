//! Drives libwasi_parallel through the bindings bindgen generated from the
//! committed `include/wasi_parallel.h`: if the header and the library drift
//! apart (a signature, a struct layout, a constant), this fails to build or
//! fails here.

use capi_bindgen::*;
use std::ffi::{c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicU32, Ordering};

/// Calls into the C API.
///
/// SAFETY (of every use): the arguments are valid pointers to live objects
/// of the right type, or deliberately NULL / out-of-range values that the
/// header says the library checks and rejects.
macro_rules! c {
    ($e:expr) => {{
        #[allow(unused_unsafe)]
        // SAFETY: see the macro's documentation.
        let r = unsafe { $e };
        r
    }};
}

#[derive(Debug)]
struct CError {
    code: wp_error_code_t,
    trap: wp_trap_kind_t,
    exit: Option<i32>,
    msg: String,
}

/// Consumes a returned error: Ok for NULL, else its contents (and frees it).
fn check(e: *mut wp_error_t) -> Result<(), CError> {
    if e.is_null() {
        return Ok(());
    }
    let mut exit = 0;
    let has_exit = c!(wp_error_exit_code(e, &mut exit));
    let msg = c!(CStr::from_ptr(wp_error_message(e)))
        .to_string_lossy()
        .into_owned();
    let err = CError {
        code: c!(wp_error_code(e)),
        trap: c!(wp_error_trap_kind(e)),
        exit: has_exit.then_some(exit),
        msg,
    };
    c!(wp_error_delete(e));
    Err(err)
}

#[track_caller]
fn ok(e: *mut wp_error_t) {
    if let Err(err) = check(e) {
        panic!("unexpected error: {err:?}");
    }
}

#[track_caller]
fn fails(e: *mut wp_error_t, code: wp_error_code_t) -> CError {
    match check(e) {
        Ok(()) => panic!("expected error code {code}, got success"),
        Err(err) => {
            assert_eq!(err.code, code, "{err:?}");
            assert!(!err.msg.is_empty());
            err
        }
    }
}

fn cs(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn engine_with(f: impl FnOnce(*mut wp_config_t)) -> *mut wp_engine_t {
    let cfg = c!(wp_config_new());
    assert!(!cfg.is_null());
    f(cfg);
    let mut engine = null_mut();
    ok(c!(wp_engine_new(cfg, &mut engine)));
    c!(wp_config_delete(cfg));
    engine
}

fn engine() -> *mut wp_engine_t {
    let mut engine = null_mut();
    ok(c!(wp_engine_new(null(), &mut engine)));
    engine
}

fn module(engine: *mut wp_engine_t, text: &str) -> Result<*mut wp_module_t, CError> {
    let mut m = null_mut();
    check(c!(wp_module_new(engine, text.as_ptr(), text.len(), &mut m)))?;
    Ok(m)
}

fn instance(
    m: *mut wp_module_t,
    cfg: *const wp_instance_config_t,
) -> Result<*mut wp_instance_t, CError> {
    let mut i = null_mut();
    check(c!(wp_instance_new(m, cfg, &mut i)))?;
    Ok(i)
}

fn i32v(x: i32) -> wp_val_t {
    wp_val_t {
        kind: WP_VAL_I32 as wp_val_kind_t,
        of: wp_val_union_t { i32_: x },
    }
}

fn call(
    inst: *mut wp_instance_t,
    name: &str,
    args: &[wp_val_t],
    nres: usize,
) -> Result<Vec<wp_val_t>, CError> {
    let name = cs(name);
    let mut res = vec![i32v(0); nres];
    check(c!(wp_instance_call(
        inst,
        name.as_ptr(),
        args.as_ptr(),
        args.len(),
        res.as_mut_ptr(),
        nres
    )))?;
    Ok(res)
}

fn call_i32(inst: *mut wp_instance_t, name: &str, args: &[i32]) -> Result<i32, CError> {
    let args: Vec<_> = args.iter().map(|&a| i32v(a)).collect();
    let r = call(inst, name, &args, 1)?;
    assert_eq!(r[0].kind as u32, WP_VAL_I32);
    // SAFETY: kind is I32, so `i32_` is the member the library wrote.
    Ok(unsafe { r[0].of.i32_ })
}

#[test]
fn header_layouts_match_the_library() {
    use std::mem::{align_of, offset_of, size_of};
    use wasi_parallel::capi as lib;
    macro_rules! same {
        ($t:ident) => {
            assert_eq!(size_of::<$t>(), size_of::<lib::$t>(), stringify!($t));
            assert_eq!(align_of::<$t>(), align_of::<lib::$t>(), stringify!($t));
        };
    }
    use lib::{natives::*, parallel::*, val::*};
    let _ = (
        size_of::<wp_native_symbol_t>(),
        size_of::<wp_device_info_t>(),
    );
    assert_eq!(
        size_of::<capi_bindgen::wp_val_t>(),
        size_of::<lib::val::wp_val_t>()
    );
    assert_eq!(
        offset_of!(capi_bindgen::wp_val_t, of),
        offset_of!(lib::val::wp_val_t, of)
    );
    assert_eq!(
        offset_of!(capi_bindgen::wp_native_symbol_t, attachment),
        offset_of!(lib::natives::wp_native_symbol_t, attachment)
    );
    assert_eq!(
        offset_of!(capi_bindgen::wp_parallel_stats_t, last_device_kind),
        offset_of!(lib::parallel::wp_parallel_stats_t, last_device_kind)
    );
    mod lib2 {
        pub use wasi_parallel::capi::{natives::*, parallel::*, val::*};
    }
    {
        use capi_bindgen::{
            wp_device_info_t, wp_device_stats_t, wp_native_symbol_t, wp_parallel_stats_t, wp_val_t,
            wp_val_union_t,
        };
        use lib2 as lib;
        same!(wp_val_t);
        same!(wp_val_union_t);
        same!(wp_native_symbol_t);
        same!(wp_device_info_t);
        same!(wp_parallel_stats_t);
        same!(wp_device_stats_t);
    }
    let _ = (WP_VAL_I64, WP_DEVICE_CPU);
    assert_eq!(capi_bindgen::WP_VAL_F64, lib::val::WP_VAL_F64 as u32);
    assert_eq!(
        capi_bindgen::WP_DEVICE_INTEGRATED_GPU,
        lib::kind::WP_DEVICE_INTEGRATED_GPU as u32
    );
    assert_eq!(
        capi_bindgen::WP_ERROR_INTERNAL,
        lib::error::wp_error_code_t::WP_ERROR_INTERNAL as u32
    );
    assert_eq!(
        capi_bindgen::WP_TRAP_OUT_OF_SYSTEM_MEMORY,
        lib::error::wp_trap_kind_t::WP_TRAP_OUT_OF_SYSTEM_MEMORY as u32
    );
    assert_eq!(
        capi_bindgen::WP_TRAP_INTERRUPTED,
        lib::error::wp_trap_kind_t::WP_TRAP_INTERRUPTED as u32
    );
    assert_eq!(capi_bindgen::WP_MAX_THREADS, lib::config::WP_MAX_THREADS);
}

#[test]
fn null_pointers_are_invalid_arguments_everywhere() {
    const IA: wp_error_code_t = WP_ERROR_INVALID_ARGUMENT;
    let e = engine();
    let m = module(
        e,
        "(module (memory (export \"memory\") 1) (func (export \"f\")))",
    )
    .unwrap();
    let inst = instance(m, null()).unwrap();
    let icfg = c!(wp_instance_config_new());
    let name = cs("f");
    let mut out_ptr = null_mut();
    let (mut n, mut u, mut i) = (0usize, 0u64, 0i32);
    let mut val = i32v(0);
    let mut kind: wp_val_kind_t = 0;

    // Config and engine.
    for r in [
        c!(wp_config_set_threads(null_mut(), 1)),
        c!(wp_config_set_device_policy(
            null_mut(),
            WP_DEVICE_POLICY_AUTO as i32,
            0
        )),
        c!(wp_config_set_gpu_fallback(null_mut(), true)),
        c!(wp_config_set_fuel(null_mut(), 1)),
        c!(wp_config_set_kernel_fuel(null_mut(), 1)),
        c!(wp_config_set_max_memory_pages(null_mut(), 1)),
        c!(wp_config_set_max_module_bytes(null_mut(), 1)),
        c!(wp_config_set_max_buffer_bytes(null_mut(), 1)),
        c!(wp_config_set_max_buffers(null_mut(), 1)),
        c!(wp_config_set_max_kernel_size(null_mut(), 1)),
        c!(wp_config_set_kernel_cache_entries(null_mut(), 1)),
        c!(wp_config_set_timeout(null_mut(), 1.0)),
        c!(wp_config_set_kernel_timeout(null_mut(), 1.0)),
        c!(wp_config_set_interruptible(null_mut(), false)),
        c!(wp_engine_new(null(), null_mut())),
        c!(wp_engine_device_count(null(), &mut n)),
        c!(wp_engine_device_count(e, null_mut())),
        c!(wp_engine_device_info(null(), 0, null_mut())),
        c!(wp_engine_cpu_threads(null(), &mut n)),
    ] {
        fails(r, IA);
    }
    // Modules.
    for r in [
        c!(wp_module_new(null(), b"x".as_ptr(), 1, &mut out_ptr)),
        c!(wp_module_new(e, null(), 5, &mut out_ptr)),
        c!(wp_module_new(e, b"x".as_ptr(), 1, null_mut())),
        c!(wp_module_from_file(e, null(), &mut out_ptr)),
        c!(wp_module_from_file(null(), name.as_ptr(), &mut out_ptr)),
    ] {
        fails(r, IA);
    }
    assert!(out_ptr.is_null(), "out-params are untouched on error");
    // Instance configs.
    for r in [
        c!(wp_instance_config_add_arg(null_mut(), name.as_ptr())),
        c!(wp_instance_config_add_arg(icfg, null())),
        c!(wp_instance_config_add_env(icfg, null(), name.as_ptr())),
        c!(wp_instance_config_add_env(icfg, name.as_ptr(), null())),
        c!(wp_instance_config_add_preopen(icfg, null(), name.as_ptr())),
        c!(wp_instance_config_add_preopen(icfg, name.as_ptr(), null())),
        c!(wp_instance_config_set_stdio(null_mut(), 1, 1)),
        c!(wp_instance_config_set_stdin_bytes(icfg, null(), 3)),
        c!(wp_instance_config_register_natives(
            null_mut(),
            name.as_ptr(),
            null(),
            0
        )),
        c!(wp_instance_config_register_natives(icfg, null(), null(), 0)),
        c!(wp_instance_config_register_natives(
            icfg,
            name.as_ptr(),
            null(),
            2
        )),
    ] {
        fails(r, IA);
    }
    // Instances.
    let mut iout = null_mut();
    for r in [
        c!(wp_instance_new(null(), null(), &mut iout)),
        c!(wp_instance_new(m, null(), null_mut())),
        c!(wp_instance_call(
            null_mut(),
            name.as_ptr(),
            null(),
            0,
            null_mut(),
            0
        )),
        c!(wp_instance_call(inst, null(), null(), 0, null_mut(), 0)),
        c!(wp_instance_call(
            inst,
            name.as_ptr(),
            null(),
            1,
            null_mut(),
            0
        )),
        c!(wp_instance_call(
            inst,
            name.as_ptr(),
            null(),
            0,
            null_mut(),
            1
        )),
        c!(wp_instance_func_type(
            null(),
            name.as_ptr(),
            null_mut(),
            0,
            &mut n,
            null_mut(),
            0,
            &mut n
        )),
        c!(wp_instance_func_type(
            inst,
            name.as_ptr(),
            null_mut(),
            0,
            null_mut(),
            null_mut(),
            0,
            &mut n
        )),
        c!(wp_instance_func_type(
            inst,
            name.as_ptr(),
            null_mut(),
            1,
            &mut n,
            null_mut(),
            0,
            &mut n
        )),
        c!(wp_instance_run_start(null_mut(), &mut i)),
        c!(wp_instance_run_start(inst, null_mut())),
        c!(wp_instance_memory_size(null(), &mut u)),
        c!(wp_instance_memory_size(inst, null_mut())),
        c!(wp_instance_memory_read(null(), 0, &mut kind, 1)),
        c!(wp_instance_memory_read(inst, 0, null_mut(), 1)),
        c!(wp_instance_memory_write(null_mut(), 0, &kind, 1)),
        c!(wp_instance_memory_write(inst, 0, null(), 1)),
        c!(wp_instance_captured_output(
            null(),
            1,
            null_mut(),
            0,
            &mut n
        )),
        c!(wp_instance_clear_captured_output(null_mut(), 1)),
        c!(wp_instance_fuel_remaining(null(), &mut u)),
        c!(wp_instance_parallel_stats(null(), null_mut())),
        c!(wp_instance_parallel_stats(inst, null_mut())),
        c!(wp_instance_parallel_device_stats(null(), 0, null_mut())),
        c!(wp_instance_parallel_last_error(
            null(),
            null_mut(),
            0,
            &mut n
        )),
        c!(wp_instance_parallel_last_error(
            inst,
            null_mut(),
            0,
            null_mut()
        )),
        c!(wp_instance_parallel_last_error(inst, null_mut(), 4, &mut n)),
    ] {
        fails(r, IA);
    }
    assert!(iout.is_null());
    let _ = (&mut val, &mut kind);
    // Functions without an error result give neutral values for NULL.
    assert_eq!(c!(wp_error_code(null())), WP_ERROR_OK);
    assert_eq!(c!(wp_error_trap_kind(null())), WP_TRAP_NONE);
    assert_eq!(c!(CStr::from_ptr(wp_error_message(null()))).to_bytes(), b"");
    assert!(!c!(wp_error_exit_code(null(), &mut i)));
    assert!(c!(wp_exec_env_get_attachment(null())).is_null());
    assert!(c!(wp_exec_env_memory(null(), null_mut())).is_null());
    assert!(!c!(wp_exec_env_validate_app_addr(null(), 0, 1)));
    assert!(c!(wp_exec_env_app_to_native(null(), 0, 1)).is_null());
    assert!(!c!(wp_exec_env_native_to_app(null(), null(), null_mut())));
    c!(wp_exec_env_set_exception(null_mut(), null()));
    // Deleting NULL is a no-op.
    c!(wp_error_delete(null_mut()));
    c!(wp_config_delete(null_mut()));
    c!(wp_engine_delete(null_mut()));
    c!(wp_module_delete(null_mut()));
    c!(wp_instance_config_delete(null_mut()));
    c!(wp_instance_delete(null_mut()));

    c!(wp_instance_config_delete(icfg));
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));
}

#[test]
fn config_rejects_bad_values() {
    let cfg = c!(wp_config_new());
    const IA: wp_error_code_t = WP_ERROR_INVALID_ARGUMENT;
    fails(c!(wp_config_set_device_policy(cfg, 7, 0)), IA);
    fails(
        c!(wp_config_set_device_policy(
            cfg,
            WP_DEVICE_POLICY_FORCE as i32,
            9
        )),
        IA,
    );
    fails(c!(wp_config_set_max_memory_pages(cfg, 65537)), IA);
    fails(c!(wp_config_set_max_module_bytes(cfg, 0)), IA);
    fails(c!(wp_config_set_max_kernel_size(cfg, 0)), IA);
    fails(c!(wp_config_set_kernel_cache_entries(cfg, 0)), IA);
    fails(c!(wp_config_set_threads(cfg, WP_MAX_THREADS + 1)), IA);
    ok(c!(wp_config_set_threads(cfg, WP_MAX_THREADS)));
    for bad in [-1.0, f64::NAN, f64::INFINITY, 1e300] {
        fails(c!(wp_config_set_timeout(cfg, bad)), IA);
        fails(c!(wp_config_set_kernel_timeout(cfg, bad)), IA);
    }
    ok(c!(wp_config_set_timeout(cfg, 0.0)));
    ok(c!(wp_config_set_kernel_timeout(cfg, 2.5)));
    fails(c!(wp_config_set_bounds_checks(cfg, 3)), IA);
    fails(c!(wp_config_set_bounds_checks(cfg, -1)), IA);
    ok(c!(wp_config_set_bounds_checks(
        cfg,
        WP_BOUNDS_CHECKS_GUARD_PAGES as i32
    )));
    fails(c!(wp_config_set_gpu_build_budget(cfg, -0.5)), IA);
    fails(c!(wp_config_set_gpu_build_budget(cfg, f64::NAN)), IA);
    fails(c!(wp_config_set_gpu_build_budget(cfg, f64::INFINITY)), IA);
    ok(c!(wp_config_set_gpu_build_budget(cfg, 0.0)));
    ok(c!(wp_config_set_gpu_build_budget(cfg, 0.2)));
    ok(c!(wp_config_set_device_policy(
        cfg,
        WP_DEVICE_POLICY_AUTO as i32,
        99
    )));
    c!(wp_config_delete(cfg));
}

#[test]
fn bad_modules_say_what_is_wrong() {
    let e = engine();
    let err = module(e, "this is not wasm").unwrap_err();
    assert_eq!(err.code, WP_ERROR_INVALID_MODULE);
    assert!(err.msg.contains("neither binary wasm"), "{}", err.msg);
    let err = module(e, "(module (func (result i32)))").unwrap_err();
    assert_eq!(err.code, WP_ERROR_INVALID_MODULE);
    let err = module(e, "(module (func $f (param i32) (i32.add)))").unwrap_err();
    assert_eq!(err.code, WP_ERROR_INVALID_MODULE);
    let bin = b"\0asm\x01\0\0\0\x01\xff";
    let mut m = null_mut();
    let err = fails(
        c!(wp_module_new(e, bin.as_ptr(), bin.len(), &mut m)),
        WP_ERROR_INVALID_MODULE,
    );
    assert!(err.msg.contains("invalid module"), "{}", err.msg);
    let path = cs("/nonexistent/dir/guest.wasm");
    let err = fails(
        c!(wp_module_from_file(e, path.as_ptr(), &mut m)),
        WP_ERROR_IO,
    );
    assert!(err.msg.contains("/nonexistent/dir/guest.wasm"));
    assert!(m.is_null());
    // The module size limit.
    let small = engine_with(|cfg| ok(c!(wp_config_set_max_module_bytes(cfg, 8))));
    let err = module(small, "(module (memory 1))").unwrap_err();
    assert_eq!(err.code, WP_ERROR_RESOURCE_EXHAUSTED);
    // From a file, WAT or binary.
    let dir = std::env::temp_dir().join(format!("wp-capi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("m.wat");
    std::fs::write(
        &f,
        "(module (func (export \"one\") (result i32) i32.const 1))",
    )
    .unwrap();
    let p = cs(f.to_str().unwrap());
    ok(c!(wp_module_from_file(e, p.as_ptr(), &mut m)));
    let inst = instance(m, null()).unwrap();
    assert_eq!(call_i32(inst, "one", &[]).unwrap(), 1);
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));
    std::fs::remove_dir_all(&dir).unwrap();
    c!(wp_engine_delete(small));
    c!(wp_engine_delete(e));
}

#[test]
fn missing_and_mistyped_imports_name_module_and_field() {
    let e = engine();
    let m = module(e, r#"(module (import "env" "missing" (func (param i32))))"#).unwrap();
    let err = instance(m, null()).unwrap_err();
    assert_eq!(err.code, WP_ERROR_LINK);
    assert!(err.msg.contains("env.missing"), "{}", err.msg);
    assert!(err.msg.contains("(i32) -> ()"), "{}", err.msg);
    c!(wp_module_delete(m));
    // A WASI import with the wrong type.
    let m = module(
        e,
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i64))))"#,
    )
    .unwrap();
    let err = instance(m, null()).unwrap_err();
    assert_eq!(err.code, WP_ERROR_LINK);
    assert!(
        err.msg.contains("wasi_snapshot_preview1.proc_exit"),
        "{}",
        err.msg
    );
    c!(wp_module_delete(m));
    // A missing preopen directory.
    let m = module(e, "(module)").unwrap();
    let cfg = c!(wp_instance_config_new());
    let (h, g) = (cs("/nonexistent/preopen"), cs("/data"));
    ok(c!(wp_instance_config_add_preopen(
        cfg,
        h.as_ptr(),
        g.as_ptr()
    )));
    let err = instance(m, cfg).unwrap_err();
    assert_eq!(err.code, WP_ERROR_IO);
    c!(wp_instance_config_delete(cfg));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));
}

const TRAPS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "unreachable") unreachable)
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "oob") (result i32) (i32.load (i32.const 70000)))
  (func (export "exit") (param i32) (call $exit (local.get 0)))
  (func (export "spin") (loop $l (br $l)))
  (func (export "mix") (param i32 i64 f32 f64) (result f64 i64 f32 i32)
    (local.get 3) (local.get 1) (local.get 2) (local.get 0))
  (func (export "_start") (call $exit (i32.const 3))))
"#;

#[test]
fn traps_have_kinds_and_exits_are_values() {
    // A small budget keeps the `spin` loop short.
    let e = engine_with(|cfg| ok(c!(wp_config_set_fuel(cfg, 1_000))));
    let m = module(e, TRAPS).unwrap();
    let inst = instance(m, null()).unwrap();
    let err = call(inst, "unreachable", &[], 0).err().expect("an error");
    assert_eq!(
        (err.code, err.trap, err.exit),
        (WP_ERROR_TRAP, WP_TRAP_UNREACHABLE, None)
    );
    let err = call_i32(inst, "div", &[1, 0]).unwrap_err();
    assert_eq!(err.trap, WP_TRAP_INTEGER_DIVISION_BY_ZERO);
    let err = call_i32(inst, "div", &[i32::MIN, -1]).unwrap_err();
    assert_eq!(err.trap, WP_TRAP_INTEGER_OVERFLOW);
    assert_eq!(call_i32(inst, "div", &[7, 2]).unwrap(), 3);
    let err = call_i32(inst, "oob", &[]).unwrap_err();
    assert_eq!(err.trap, WP_TRAP_MEMORY_OUT_OF_BOUNDS);
    let err = call(inst, "spin", &[], 0).err().expect("an error");
    assert_eq!((err.code, err.trap), (WP_ERROR_TRAP, WP_TRAP_OUT_OF_FUEL));
    let mut fuel = 1;
    ok(c!(wp_instance_fuel_remaining(inst, &mut fuel)));
    assert_eq!(fuel, 0);
    // proc_exit from a call: an EXIT error carrying the code, not a trap.
    let err = call(inst, "exit", &[i32v(42)], 0).err().expect("an error");
    assert_eq!(
        (err.code, err.trap, err.exit),
        (WP_ERROR_EXIT, WP_TRAP_NONE, Some(42))
    );
    // proc_exit from _start: the exit code is the result.
    let mut code = -1;
    ok(c!(wp_instance_run_start(inst, &mut code)));
    assert_eq!(code, 3);
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));

    // A trapping _start is an error, never an exit code.
    let m = module(e, "(module (func (export \"_start\") unreachable))").unwrap();
    let inst = instance(m, null()).unwrap();
    let mut code = -1;
    let err = fails(c!(wp_instance_run_start(inst, &mut code)), WP_ERROR_TRAP);
    assert_eq!(err.trap, WP_TRAP_UNREACHABLE);
    assert_eq!(code, -1);
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));
    // No _start, and no fuel metering on a default engine.
    let plain = engine();
    let m = module(plain, "(module)").unwrap();
    let inst = instance(m, null()).unwrap();
    fails(
        c!(wp_instance_run_start(inst, &mut code)),
        WP_ERROR_NOT_FOUND,
    );
    fails(
        c!(wp_instance_fuel_remaining(inst, &mut fuel)),
        WP_ERROR_NOT_FOUND,
    );
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(plain));
    c!(wp_engine_delete(e));
}

#[test]
fn calls_check_names_types_and_room() {
    let e = engine();
    let m = module(e, TRAPS).unwrap();
    let inst = instance(m, null()).unwrap();
    let args = [
        i32v(-5),
        wp_val_t {
            kind: WP_VAL_I64 as u8,
            of: wp_val_union_t { i64_: 1 << 40 },
        },
        wp_val_t {
            kind: WP_VAL_F32 as u8,
            of: wp_val_union_t { f32_: 1.5 },
        },
        wp_val_t {
            kind: WP_VAL_F64 as u8,
            of: wp_val_union_t { f64_: -2.25 },
        },
    ];
    let r = call(inst, "mix", &args, 4).unwrap();
    let kinds: Vec<u32> = r.iter().map(|v| v.kind as u32).collect();
    assert_eq!(kinds, [WP_VAL_F64, WP_VAL_I64, WP_VAL_F32, WP_VAL_I32]);
    // SAFETY: each member read is the one `kind` (checked above) names.
    unsafe {
        assert_eq!(
            (r[0].of.f64_, r[1].of.i64_, r[2].of.f32_, r[3].of.i32_),
            (-2.25, 1 << 40, 1.5, -5)
        );
    }
    // The signature, with a capacity smaller than the count.
    let (mut np, mut nr) = (0, 0);
    let mut ps = [0u8; 2];
    let mut rs = [0u8; 4];
    let name = cs("mix");
    ok(c!(wp_instance_func_type(
        inst,
        name.as_ptr(),
        ps.as_mut_ptr(),
        2,
        &mut np,
        rs.as_mut_ptr(),
        4,
        &mut nr
    )));
    assert_eq!((np, nr), (4, 4));
    assert_eq!(ps, [WP_VAL_I32 as u8, WP_VAL_I64 as u8]);
    assert_eq!(rs[0] as u32, WP_VAL_F64);

    let err = call(inst, "nope", &[], 0).err().expect("an error");
    assert_eq!(err.code, WP_ERROR_NOT_FOUND);
    assert!(err.msg.contains("nope"));
    let mut n = 0;
    let nope = cs("nope");
    fails(
        c!(wp_instance_func_type(
            inst,
            nope.as_ptr(),
            null_mut(),
            0,
            &mut n,
            null_mut(),
            0,
            &mut n
        )),
        WP_ERROR_NOT_FOUND,
    );
    let err = call(inst, "mix", &args[..2], 4).err().expect("an error");
    assert_eq!(err.code, WP_ERROR_TYPE_MISMATCH);
    let err = call(inst, "mix", &args, 3).err().expect("an error");
    assert_eq!(err.code, WP_ERROR_TYPE_MISMATCH);
    assert!(err.msg.contains("room for 3"), "{}", err.msg);
    let mut bad = args;
    bad[1].kind = 77;
    let err = call(inst, "mix", &bad, 4).err().expect("an error");
    assert_eq!(err.code, WP_ERROR_INVALID_ARGUMENT);
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));
}

#[test]
fn guest_memory_access_is_bounds_checked() {
    let e = engine();
    let m = module(e, TRAPS).unwrap();
    let inst = instance(m, null()).unwrap();
    let mut size = 0;
    ok(c!(wp_instance_memory_size(inst, &mut size)));
    assert_eq!(size, 65536);
    let data = *b"abcd";
    ok(c!(wp_instance_memory_write(inst, 65532, data.as_ptr(), 4)));
    let mut back = [0u8; 4];
    ok(c!(wp_instance_memory_read(
        inst,
        65532,
        back.as_mut_ptr(),
        4
    )));
    assert_eq!(back, data);
    let err = fails(
        c!(wp_instance_memory_write(inst, 65533, data.as_ptr(), 4)),
        WP_ERROR_OUT_OF_BOUNDS,
    );
    assert!(err.msg.contains("65533"), "{}", err.msg);
    fails(
        c!(wp_instance_memory_read(
            inst,
            u64::MAX,
            back.as_mut_ptr(),
            4
        )),
        WP_ERROR_OUT_OF_BOUNDS,
    );
    fails(
        c!(wp_instance_memory_read(inst, 65537, back.as_mut_ptr(), 0)),
        WP_ERROR_OUT_OF_BOUNDS,
    );
    ok(c!(wp_instance_memory_read(inst, 65536, null_mut(), 0)));
    // Nothing was written by the failed write.
    ok(c!(wp_instance_memory_read(
        inst,
        65532,
        back.as_mut_ptr(),
        4
    )));
    assert_eq!(back, data);
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));
    // No exported memory.
    let m = module(e, "(module)").unwrap();
    let inst = instance(m, null()).unwrap();
    fails(
        c!(wp_instance_memory_size(inst, &mut size)),
        WP_ERROR_NOT_FOUND,
    );
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));
}

const WASI_GUEST: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $envs (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hello from wasm\n")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    ;; echo stdin (up to 64 bytes) to stderr, greet on stdout
    (i32.store (i32.const 16) (i32.const 200))
    (i32.store (i32.const 20) (i32.const 64))
    (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
    (call $write (i32.const 2) (i32.const 200) (i32.load (i32.const 24)))
    (call $write (i32.const 1) (i32.const 100) (i32.const 16))
    ;; exit code = 10 * argc + number of environment variables
    (drop (call $args (i32.const 32) (i32.const 36)))
    (drop (call $envs (i32.const 40) (i32.const 44)))
    (call $exit (i32.add (i32.mul (i32.load (i32.const 32)) (i32.const 10)) (i32.load (i32.const 40))))))
"#;

fn captured(inst: *mut wp_instance_t, stream: i32) -> String {
    let mut len = 0;
    ok(c!(wp_instance_captured_output(
        inst,
        stream,
        null_mut(),
        0,
        &mut len
    )));
    let mut buf = vec![0u8; len];
    ok(c!(wp_instance_captured_output(
        inst,
        stream,
        buf.as_mut_ptr(),
        len,
        &mut len
    )));
    String::from_utf8(buf).unwrap()
}

#[test]
fn wasi_args_env_stdin_and_captured_output() {
    let e = engine();
    let m = module(e, WASI_GUEST).unwrap();
    let cfg = c!(wp_instance_config_new());
    for a in ["prog", "a", "b c"] {
        let a = cs(a);
        ok(c!(wp_instance_config_add_arg(cfg, a.as_ptr())));
    }
    let (k, v, bad) = (cs("K"), cs("V"), cs("A=B"));
    ok(c!(wp_instance_config_add_env(cfg, k.as_ptr(), v.as_ptr())));
    fails(
        c!(wp_instance_config_add_env(cfg, bad.as_ptr(), v.as_ptr())),
        WP_ERROR_INVALID_ARGUMENT,
    );
    let input = b"piped input";
    ok(c!(wp_instance_config_set_stdin_bytes(
        cfg,
        input.as_ptr(),
        input.len()
    )));
    ok(c!(wp_instance_config_set_stdio(
        cfg,
        WP_STDIO_STDOUT as i32,
        WP_STDIO_MODE_CAPTURE as i32
    )));
    ok(c!(wp_instance_config_set_stdio(
        cfg,
        WP_STDIO_STDERR as i32,
        WP_STDIO_MODE_CAPTURE as i32
    )));
    fails(
        c!(wp_instance_config_set_stdio(
            cfg,
            WP_STDIO_STDIN as i32,
            WP_STDIO_MODE_CAPTURE as i32
        )),
        WP_ERROR_INVALID_ARGUMENT,
    );
    fails(
        c!(wp_instance_config_set_stdio(cfg, 3, 0)),
        WP_ERROR_INVALID_ARGUMENT,
    );
    fails(
        c!(wp_instance_config_set_stdio(cfg, 1, 9)),
        WP_ERROR_INVALID_ARGUMENT,
    );

    // Two instances from one config capture separately.
    for _ in 0..2 {
        let inst = instance(m, cfg).unwrap();
        let mut code = -1;
        ok(c!(wp_instance_run_start(inst, &mut code)));
        assert_eq!(code, 31);
        assert_eq!(captured(inst, WP_STDIO_STDOUT as i32), "hello from wasm\n");
        assert_eq!(captured(inst, WP_STDIO_STDERR as i32), "piped input");
        // Truncating copy reports the full length.
        let mut buf = [0u8; 5];
        let mut len = 0;
        ok(c!(wp_instance_captured_output(
            inst,
            1,
            buf.as_mut_ptr(),
            5,
            &mut len
        )));
        assert_eq!((&buf, len), (b"hello", 16));
        ok(c!(wp_instance_clear_captured_output(inst, 1)));
        assert_eq!(captured(inst, 1), "");
        fails(
            c!(wp_instance_captured_output(
                inst,
                0,
                null_mut(),
                0,
                &mut len
            )),
            WP_ERROR_INVALID_ARGUMENT,
        );
        c!(wp_instance_delete(inst));
    }
    // Not captured: an error, not empty output.
    let inst = instance(m, null()).unwrap();
    let mut len = 0;
    fails(
        c!(wp_instance_captured_output(
            inst,
            1,
            null_mut(),
            0,
            &mut len
        )),
        WP_ERROR_INVALID_ARGUMENT,
    );
    c!(wp_instance_delete(inst));
    c!(wp_instance_config_delete(cfg));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));
}

// ---- natives ---------------------------------------------------------------

/// `(*~$i)i`: sum of the bytes + length of the string + the i32, and counts
/// its calls in the attachment.
unsafe extern "C" fn sum_native(env: *mut wp_exec_env_t, args: *mut u64) {
    // SAFETY: the runtime passes 4 slots for this signature; the pointers
    // were checked against guest memory; the attachment is the test's counter.
    unsafe {
        let a = std::slice::from_raw_parts(args, 4);
        let bytes = std::slice::from_raw_parts(a[0] as usize as *const u8, a[1] as usize);
        let s = CStr::from_ptr(a[2] as usize as *const std::ffi::c_char);
        let counter = &*(wp_exec_env_get_attachment(env) as *const AtomicU32);
        counter.fetch_add(1, Ordering::SeqCst);
        let sum: u32 = bytes.iter().map(|&b| b as u32).sum();
        let r = sum + s.to_bytes().len() as u32 + a[3] as u32;
        *args = r as u64;
    }
}

/// `(IfF)F`: i64 + f32 + f64.
unsafe extern "C" fn float_native(_env: *mut wp_exec_env_t, args: *mut u64) {
    // SAFETY: 3 slots for this signature.
    unsafe {
        let a = std::slice::from_raw_parts(args, 3);
        let r = a[0] as i64 as f64 + f32::from_bits(a[1] as u32) as f64 + f64::from_bits(a[2]);
        *args = r.to_bits();
    }
}

/// `(i)`: raises an exception for a non-zero argument; checks the memory helpers.
unsafe extern "C" fn checker_native(env: *mut wp_exec_env_t, args: *mut u64) {
    // SAFETY: 1 slot; env is valid during the call.
    unsafe {
        let mut size = 0;
        let base = wp_exec_env_memory(env, &mut size);
        assert_eq!(size, 65536);
        assert!(wp_exec_env_validate_app_addr(env, 65535, 1));
        assert!(!wp_exec_env_validate_app_addr(env, 65535, 2));
        let p = wp_exec_env_app_to_native(env, 100, 4);
        assert_eq!(p as usize, base as usize + 100);
        assert!(wp_exec_env_app_to_native(env, 65536, 1).is_null());
        let mut off = 0;
        assert!(wp_exec_env_native_to_app(env, p, &mut off));
        assert_eq!(off, 100);
        assert!(!wp_exec_env_native_to_app(
            env,
            (base as usize + 70000) as *const c_void,
            &mut off
        ));
        // The last byte is in memory, one past it is not (off untouched).
        assert!(wp_exec_env_native_to_app(
            env,
            (base as usize + 65535) as *const c_void,
            &mut off
        ));
        assert_eq!(off, 65535);
        assert!(!wp_exec_env_native_to_app(
            env,
            (base as usize + 65536) as *const c_void,
            &mut off
        ));
        assert_eq!(off, 65535);
        if *args as u32 != 0 {
            wp_exec_env_set_exception(env, c"checker refused".as_ptr());
        }
    }
}

const NATIVE_GUEST: &str = r#"
(module
  (import "host" "sum" (func $sum (param i32 i32 i32 i32) (result i32)))
  (import "host" "float" (func $float (param i64 f32 f64) (result f64)))
  (import "host" "check" (func $check (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "\01\02\03\04")
  (data (i32.const 200) "four\00")
  (data (i32.const 65530) "nonul!")
  (func (export "sum") (param $p i32) (param $len i32) (param $s i32) (result i32)
    (call $sum (local.get $p) (local.get $len) (local.get $s) (i32.const 1000)))
  (func (export "float") (result f64)
    (call $float (i64.const 40) (f32.const 1.5) (f64.const 0.25)))
  (func (export "check") (param i32) (call $check (local.get 0))))
"#;

fn natives_config(
    counter: &AtomicU32,
    sigs: [&str; 3],
) -> Result<*mut wp_instance_config_t, CError> {
    let cfg = c!(wp_instance_config_new());
    let names = [cs("sum"), cs("float"), cs("check")];
    let sigs = sigs.map(cs);
    let funcs: [wp_native_fn_t; 3] = [Some(sum_native), Some(float_native), Some(checker_native)];
    let table: Vec<wp_native_symbol_t> = (0..3)
        .map(|i| wp_native_symbol_t {
            symbol: names[i].as_ptr(),
            func_ptr: funcs[i],
            signature: sigs[i].as_ptr(),
            attachment: counter as *const AtomicU32 as *mut c_void,
        })
        .collect();
    let module = cs("host");
    match check(c!(wp_instance_config_register_natives(
        cfg,
        module.as_ptr(),
        table.as_ptr(),
        table.len()
    ))) {
        Ok(()) => Ok(cfg),
        Err(e) => {
            c!(wp_instance_config_delete(cfg));
            Err(e)
        }
    }
}

#[test]
fn natives_registered_through_the_c_abi_are_called_by_guests() {
    let counter = AtomicU32::new(0);
    let e = engine();
    let m = module(e, NATIVE_GUEST).unwrap();
    let cfg = natives_config(&counter, ["(*~$i)i", "(IfF)F", "(i)"]).unwrap();
    let inst = instance(m, cfg).unwrap();
    assert_eq!(
        call_i32(inst, "sum", &[100, 4, 200]).unwrap(),
        10 + 4 + 1000
    );
    assert_eq!(call_i32(inst, "sum", &[100, 0, 200]).unwrap(), 4 + 1000);
    assert_eq!(counter.load(Ordering::SeqCst), 2);
    let r = call(inst, "float", &[], 1).unwrap();
    // SAFETY: the function returns an f64.
    assert_eq!(unsafe { r[0].of.f64_ }, 41.75);

    // Pointer checks trap the guest before the native runs.
    for (args, what) in [
        ([65530, 7, 200], "range past the end"),
        ([-1, 1, 200], "pointer past the end"),
        ([100, 4, 65530], "string without NUL"),
        ([100, 4, 70000], "string outside memory"),
    ] {
        let err = call_i32(inst, "sum", &args).unwrap_err();
        assert_eq!(
            (err.code, err.trap),
            (WP_ERROR_TRAP, WP_TRAP_HOST),
            "{what}: {err:?}"
        );
        assert!(
            err.msg.contains("outside guest memory") || err.msg.contains("does not end"),
            "{what}: {}",
            err.msg
        );
    }
    assert_eq!(
        counter.load(Ordering::SeqCst),
        2,
        "no native call with bad pointers"
    );
    // Exceptions raised by the native abort the guest with its message.
    call(inst, "check", &[i32v(0)], 0).unwrap();
    let err = call(inst, "check", &[i32v(1)], 0).err().expect("an error");
    assert_eq!((err.code, err.trap), (WP_ERROR_TRAP, WP_TRAP_HOST));
    assert!(err.msg.contains("checker refused"), "{}", err.msg);
    // The instance keeps working after a trap.
    assert_eq!(call_i32(inst, "sum", &[100, 1, 200]).unwrap(), 1 + 4 + 1000);
    c!(wp_instance_delete(inst));

    // A native whose signature differs from the import: a link error.
    let cfg2 = natives_config(&counter, ["(**i)i", "(IfF)F", "(i)"]).unwrap();
    let err = instance(m, cfg2).unwrap_err();
    assert_eq!(err.code, WP_ERROR_LINK);
    assert!(err.msg.contains("host.sum"), "{}", err.msg);
    c!(wp_instance_config_delete(cfg2));
    c!(wp_instance_config_delete(cfg));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));
}

#[test]
fn bad_native_tables_are_rejected_naming_the_entry() {
    let counter = AtomicU32::new(0);
    for sig in ["", "ii", "(i", "(x)i", "(~)", "(i~)", "()ii", "()*"] {
        let err = natives_config(&counter, [sig, "(IfF)F", "(i)"]).unwrap_err();
        assert_eq!(err.code, WP_ERROR_INVALID_ARGUMENT, "{sig}");
        assert!(
            err.msg.contains("host.sum") && err.msg.contains("signature"),
            "{sig}: {}",
            err.msg
        );
    }
    // NULL function, NULL signature, duplicate name.
    let cfg = c!(wp_instance_config_new());
    let (module, name, sig) = (cs("host"), cs("f"), cs("()"));
    let mut entry = wp_native_symbol_t {
        symbol: name.as_ptr(),
        func_ptr: None,
        signature: sig.as_ptr(),
        attachment: null_mut(),
    };
    let err = fails(
        c!(wp_instance_config_register_natives(
            cfg,
            module.as_ptr(),
            &entry,
            1
        )),
        WP_ERROR_INVALID_ARGUMENT,
    );
    assert!(err.msg.contains("func_ptr"), "{}", err.msg);
    entry.func_ptr = Some(checker_native);
    entry.signature = null();
    fails(
        c!(wp_instance_config_register_natives(
            cfg,
            module.as_ptr(),
            &entry,
            1
        )),
        WP_ERROR_INVALID_ARGUMENT,
    );
    entry.signature = sig.as_ptr();
    let twice = [entry, entry];
    let err = fails(
        c!(wp_instance_config_register_natives(
            cfg,
            module.as_ptr(),
            twice.as_ptr(),
            2
        )),
        WP_ERROR_INVALID_ARGUMENT,
    );
    assert!(err.msg.contains("already defined"), "{}", err.msg);
    // A module the runtime defines itself: refused here, not a failure of
    // every later instance.
    for reserved in ["wasi_snapshot_preview1", "wasi_ephemeral_parallel"] {
        let m = cs(reserved);
        let err = fails(
            c!(wp_instance_config_register_natives(
                cfg,
                m.as_ptr(),
                &entry,
                1
            )),
            WP_ERROR_INVALID_ARGUMENT,
        );
        assert!(err.msg.contains("runtime's own"), "{}", err.msg);
    }
    // A failed registration adds nothing: the single entry still registers.
    ok(c!(wp_instance_config_register_natives(
        cfg,
        module.as_ptr(),
        &entry,
        1
    )));
    c!(wp_instance_config_delete(cfg));
}

// ---- wasi-parallel -----------------------------------------------------------

const PARALLEL_GUEST: &str = include_str!("../guests/parallel_guest.wat");

fn run_parallel(inst: *mut wp_instance_t, n: usize, hint: i32) -> Result<i32, CError> {
    let input: Vec<u8> = (0..n as i32)
        .flat_map(|i| (i * 3 - 7).to_le_bytes())
        .collect();
    ok(c!(wp_instance_memory_write(
        inst,
        1024,
        input.as_ptr(),
        input.len()
    )));
    let r = call_i32(inst, "run", &[n as i32, hint])?;
    if r == 0 {
        let mut out = vec![0u8; n * 4];
        ok(c!(wp_instance_memory_read(
            inst,
            2048,
            out.as_mut_ptr(),
            out.len()
        )));
        for i in 0..n {
            let v = i32::from_le_bytes(out[i * 4..i * 4 + 4].try_into().unwrap());
            assert_eq!(v, 2 * (i as i32 * 3 - 7) + i as i32, "element {i}");
        }
    }
    Ok(r)
}

#[test]
fn devices_are_listed() {
    let e = engine_with(|cfg| ok(c!(wp_config_set_threads(cfg, 3))));
    let mut count = 0;
    ok(c!(wp_engine_device_count(e, &mut count)));
    assert!(count >= 2);
    let mut info = wp_device_info_t::default();
    let mut kinds = Vec::new();
    for i in 0..count {
        ok(c!(wp_engine_device_info(e, i, &mut info)));
        assert_eq!(info.index as usize, i);
        let name = c!(CStr::from_ptr(info.name)).to_str().unwrap().to_string();
        assert!(!name.is_empty());
        kinds.push(info.kind as u32);
    }
    assert_eq!(&kinds[..2], &[WP_DEVICE_SEQUENTIAL, WP_DEVICE_CPU]);
    fails(
        c!(wp_engine_device_info(e, count, &mut info)),
        WP_ERROR_NOT_FOUND,
    );
    let mut threads = 0;
    ok(c!(wp_engine_cpu_threads(e, &mut threads)));
    assert_eq!(threads, 3);
    c!(wp_engine_delete(e));
}

#[test]
fn a_guest_offloads_a_kernel_and_the_host_sees_stats() {
    let e = engine_with(|cfg| ok(c!(wp_config_set_threads(cfg, 2))));
    let m = module(e, PARALLEL_GUEST).unwrap();
    let inst = instance(m, null()).unwrap();
    let mut st = wp_parallel_stats_t::default();
    ok(c!(wp_instance_parallel_stats(inst, &mut st)));
    assert_eq!(
        (st.calls, st.last_device_index, st.last_device_kind),
        (0, -1, -1)
    );

    assert_eq!(run_parallel(inst, 64, WP_DEVICE_CPU as i32).unwrap(), 0);
    assert_eq!(run_parallel(inst, 100, WP_DEVICE_CPU as i32).unwrap(), 0);
    ok(c!(wp_instance_parallel_stats(inst, &mut st)));
    assert_eq!((st.calls, st.failed_calls, st.iterations), (2, 0, 164));
    assert_eq!((st.cache_misses, st.cache_hits), (1, 1));
    assert_eq!(
        (st.last_device_index, st.last_device_kind as u32),
        (1, WP_DEVICE_CPU)
    );
    assert_eq!(st.buffers, 4);
    assert!(st.run_ns > 0);
    let mut ds = wp_device_stats_t::default();
    ok(c!(wp_instance_parallel_device_stats(inst, 1, &mut ds)));
    assert_eq!((ds.calls, ds.iterations), (2, 164));
    ok(c!(wp_instance_parallel_device_stats(inst, 0, &mut ds)));
    assert_eq!(ds.calls, 0);
    fails(
        c!(wp_instance_parallel_device_stats(inst, 99, &mut ds)),
        WP_ERROR_NOT_FOUND,
    );

    // No error yet; then a bad call: the guest gets invalid_handle (2) and
    // the host can read why.
    let mut len = 99;
    ok(c!(wp_instance_parallel_last_error(
        inst,
        null_mut(),
        0,
        &mut len
    )));
    assert_eq!(len, 0);
    assert_eq!(call_i32(inst, "bad", &[]).unwrap(), 2);
    ok(c!(wp_instance_parallel_last_error(
        inst,
        null_mut(),
        0,
        &mut len
    )));
    assert!(len > 0);
    let mut buf = vec![0 as std::ffi::c_char; len + 1];
    ok(c!(wp_instance_parallel_last_error(
        inst,
        buf.as_mut_ptr(),
        buf.len(),
        &mut len
    )));
    let msg = c!(CStr::from_ptr(buf.as_ptr()))
        .to_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("invalid_handle"), "{msg}");
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));
}

#[test]
fn host_controls_policy_fuel_and_limits() {
    // Forcing SEQUENTIAL overrides the guest's CPU hint.
    let e = engine_with(|cfg| {
        ok(c!(wp_config_set_device_policy(
            cfg,
            WP_DEVICE_POLICY_FORCE as i32,
            WP_DEVICE_SEQUENTIAL as i32
        )))
    });
    let m = module(e, PARALLEL_GUEST).unwrap();
    let inst = instance(m, null()).unwrap();
    assert_eq!(run_parallel(inst, 16, WP_DEVICE_CPU as i32).unwrap(), 0);
    let mut st = wp_parallel_stats_t::default();
    ok(c!(wp_instance_parallel_stats(inst, &mut st)));
    assert_eq!(st.last_device_kind as u32, WP_DEVICE_SEQUENTIAL);
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));

    // A kernel fuel budget too small for one iteration: kernel_trap (5).
    let e = engine_with(|cfg| ok(c!(wp_config_set_kernel_fuel(cfg, 2))));
    let m = module(e, PARALLEL_GUEST).unwrap();
    let inst = instance(m, null()).unwrap();
    assert_eq!(run_parallel(inst, 8, WP_DEVICE_CPU as i32).unwrap(), 5);
    c!(wp_instance_delete(inst));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));

    // Buffer limits: resource_exhausted (6).
    for limit in [0, 1] {
        let e = engine_with(|cfg| {
            if limit == 0 {
                ok(c!(wp_config_set_max_buffer_bytes(cfg, 16)))
            } else {
                ok(c!(wp_config_set_max_buffers(cfg, 1)))
            }
        });
        let m = module(e, PARALLEL_GUEST).unwrap();
        let inst = instance(m, null()).unwrap();
        assert_eq!(
            run_parallel(inst, 8, WP_DEVICE_CPU as i32).unwrap(),
            6,
            "limit {limit}"
        );
        c!(wp_instance_delete(inst));
        c!(wp_module_delete(m));
        c!(wp_engine_delete(e));
    }
}

#[test]
fn modules_are_shared_across_threads() {
    let e = engine_with(|cfg| ok(c!(wp_config_set_threads(cfg, 2))));
    let m = module(e, PARALLEL_GUEST).unwrap();
    struct Shared(*mut wp_module_t);
    // SAFETY: the header documents wp_module_t as thread-safe for wp_instance_new.
    unsafe impl Sync for Shared {}
    let shared = Shared(m);
    std::thread::scope(|s| {
        for t in 0..4 {
            let shared = &shared;
            s.spawn(move || {
                let inst = instance(shared.0, null()).unwrap();
                for _ in 0..3 {
                    assert_eq!(run_parallel(inst, 32 + t, WP_DEVICE_CPU as i32).unwrap(), 0);
                }
                c!(wp_instance_delete(inst));
            });
        }
    });
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));
}

#[test]
fn kernel_engine_is_chosen_reported_and_named_in_stats() {
    let jit = wasi_parallel::parallel::KernelEngine::jit_available();
    let mut cases = vec![(WP_KERNEL_ENGINE_INTERPRETER, WP_KERNEL_ENGINE_INTERPRETER)];
    if jit {
        cases.push((WP_KERNEL_ENGINE_JIT, WP_KERNEL_ENGINE_JIT));
    }
    for (set, want) in cases {
        let e = engine_with(|cfg| ok(c!(wp_config_set_kernel_engine(cfg, set as i32))));
        let mut got = -5;
        ok(c!(wp_engine_kernel_engine(e, &mut got)));
        assert_eq!(got, want as i32);
        let m = module(e, PARALLEL_GUEST).unwrap();
        let inst = instance(m, null()).unwrap();
        let mut st = wp_parallel_stats_t::default();
        ok(c!(wp_instance_parallel_stats(inst, &mut st)));
        assert_eq!(st.last_kernel_engine, -1, "no call yet");
        for hint in [WP_DEVICE_SEQUENTIAL, WP_DEVICE_CPU] {
            assert_eq!(run_parallel(inst, 64, hint as i32).unwrap(), 0);
            ok(c!(wp_instance_parallel_stats(inst, &mut st)));
            assert_eq!(st.last_kernel_engine, want as i32);
        }
        c!(wp_instance_delete(inst));
        c!(wp_module_delete(m));
        c!(wp_engine_delete(e));
    }
    // Bad values; JIT where it is compiled out is an error, not a fallback.
    let cfg = c!(wp_config_new());
    fails(
        c!(wp_config_set_kernel_engine(cfg, 7)),
        WP_ERROR_INVALID_ARGUMENT,
    );
    fails(
        c!(wp_config_set_kernel_engine(null_mut(), 0)),
        WP_ERROR_INVALID_ARGUMENT,
    );
    let r = c!(wp_config_set_kernel_engine(
        cfg,
        WP_KERNEL_ENGINE_JIT as i32
    ));
    if jit {
        ok(r);
    } else {
        fails(r, WP_ERROR_INVALID_ARGUMENT);
    }
    ok(c!(wp_config_set_kernel_engine(
        cfg,
        WP_KERNEL_ENGINE_AUTO as i32
    )));
    c!(wp_config_delete(cfg));
    let mut got = 0;
    fails(
        c!(wp_engine_kernel_engine(null(), &mut got)),
        WP_ERROR_INVALID_ARGUMENT,
    );
}

#[test]
fn a_watchdog_thread_interrupts_a_spinning_guest() {
    let e = engine();
    let m = module(
        e,
        "(module (memory (export \"memory\") 1) (func (export \"spin\") (result i32) (loop $l (br $l)) (i32.const 0)))",
    )
    .unwrap();
    let inst = instance(m, null()).unwrap();
    let mut h = null_mut();
    fails(
        c!(wp_instance_interrupt_handle(null(), &mut h)),
        WP_ERROR_INVALID_ARGUMENT,
    );
    fails(
        c!(wp_instance_interrupt_handle(inst, null_mut())),
        WP_ERROR_INVALID_ARGUMENT,
    );
    ok(c!(wp_instance_interrupt_handle(inst, &mut h)));
    assert!(!c!(wp_interrupt(h)), "no call in progress");
    assert!(!c!(wp_interrupt(null())));
    struct Handle(*mut wp_interrupt_handle_t);
    // SAFETY: the header documents wp_interrupt_handle_t as usable from any thread.
    unsafe impl Send for Handle {}
    let hh = Handle(h);
    let watchdog = std::thread::spawn(move || {
        let hh = hh;
        std::thread::sleep(std::time::Duration::from_millis(50));
        c!(wp_interrupt(hh.0))
    });
    let err = call_i32(inst, "spin", &[]).unwrap_err();
    assert!(watchdog.join().unwrap(), "the call was in progress");
    assert_eq!(err.code, WP_ERROR_TRAP);
    assert_eq!(err.trap, WP_TRAP_INTERRUPTED);
    assert!(err.msg.contains("interrupted by the host"), "{}", err.msg);
    // The handle outlives the instance.
    c!(wp_instance_delete(inst));
    assert!(!c!(wp_interrupt(h)));
    c!(wp_interrupt_handle_delete(h));
    c!(wp_interrupt_handle_delete(null_mut()));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));
}

#[test]
fn a_trace_file_records_the_kernel_calls() {
    let dir = std::env::temp_dir().join(format!("wp-capi-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    let e = engine();
    let m = module(e, PARALLEL_GUEST).unwrap();
    let cfg = c!(wp_instance_config_new());
    fails(
        c!(wp_instance_config_set_trace_file(
            null_mut(),
            cs("x").as_ptr()
        )),
        WP_ERROR_INVALID_ARGUMENT,
    );
    fails(
        c!(wp_instance_write_trace(null_mut())),
        WP_ERROR_INVALID_ARGUMENT,
    );

    // An unwritable path fails at instantiation, with IO.
    let bad = cs("/nonexistent-dir/trace.json");
    ok(c!(wp_instance_config_set_trace_file(cfg, bad.as_ptr())));
    let err = instance(m, cfg).unwrap_err();
    assert_eq!(err.code, WP_ERROR_IO, "{err:?}");
    assert!(err.msg.contains("trace"), "{err:?}");

    let p = cs(path.to_str().unwrap());
    ok(c!(wp_instance_config_set_trace_file(cfg, p.as_ptr())));
    let inst = instance(m, cfg).unwrap();
    assert_eq!(run_parallel(inst, 64, WP_DEVICE_CPU as i32).unwrap(), 0);
    ok(c!(wp_instance_write_trace(inst)));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.matches("\"name\":\"parallel_exec\"").count(),
        1,
        "{text}"
    );
    assert!(text.contains("\"iterations\":64"), "{text}");
    // Deleting the instance writes the later calls too.
    assert_eq!(run_parallel(inst, 32, WP_DEVICE_CPU as i32).unwrap(), 0);
    c!(wp_instance_delete(inst));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.matches("\"name\":\"parallel_exec\"").count(),
        2,
        "{text}"
    );

    // NULL switches it off again: no file for the next instance.
    std::fs::remove_file(&path).unwrap();
    ok(c!(wp_instance_config_set_trace_file(cfg, null())));
    let inst = instance(m, cfg).unwrap();
    assert_eq!(run_parallel(inst, 8, WP_DEVICE_CPU as i32).unwrap(), 0);
    c!(wp_instance_delete(inst));
    assert!(!path.exists());
    c!(wp_instance_config_delete(cfg));
    c!(wp_module_delete(m));
    c!(wp_engine_delete(e));
    let _ = std::fs::remove_dir_all(&dir);
}
