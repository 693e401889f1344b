//! Kernels with clang's shadow stack (local arrays, structs by pointer,
//! helpers with frames, pointers into the stack), stack overflows and
//! `call_indirect` on Vulkan: every kernel runs on the Vulkan device itself
//! (no fallback: the tests call the device directly, where a kernel it
//! cannot run is an `unsupported` error) and is compared bit for bit with
//! the interpreter; every shader passes spirv-val.
#![cfg(feature = "vulkan")]

use crate::gpu_util::*;
use wasi_parallel::parallel::Errno;
use wasi_parallel::spirv::{translate_kernel, StackStorage, TranslateOptions};

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles a C kernel with clang like `c-examples/guests/build.sh` does
/// (32 KiB `--stack-first` stack, R = 64 KiB) at optimization `opt`.
/// `None` (skip) when clang is missing, outside CI.
fn clang(src: &str, opt: &str) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.wasm");
    let r = std::process::Command::new(std::env::var("CLANG").unwrap_or("clang".into()))
        .args([
            "--target=wasm32",
            "-nostdlib",
            opt,
            "-Wall",
            "-Wl,--no-entry",
            "-Wl,--import-memory",
            "-Wl,--export=kernel",
            "-Wl,--stack-first",
            "-Wl,-z,stack-size=32768",
            "-Wl,--initial-memory=65536",
        ])
        .arg(format!("-I{}", root().join("include").display()))
        .arg(format!("-I{}", root().join("c-examples/guests").display()))
        .arg(root().join(src))
        .arg("-o")
        .arg(&out)
        .output();
    match r {
        Ok(o) if o.status.success() => Some(std::fs::read(&out).unwrap()),
        Ok(o) => panic!(
            "clang {opt} {src} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but clang is missing: {e}");
            }
            eprintln!("note: clang not found ({e}); C kernel test skipped");
            None
        }
    }
}

fn window(w: &[u8]) -> Option<(u32, u32)> {
    translate_kernel(w, &TranslateOptions::default())
        .unwrap_or_else(|e| panic!("translation failed: {e}"))
        .stack_window
}

fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The kind of a trap message, the same words on every engine.
fn trap_kind(msg: &str) -> &'static str {
    let m = msg.replace('-', " ");
    if m.contains("type mismatch") {
        "signature"
    } else if m.contains("uninitialized element") || m.contains("null") {
        "null"
    } else if m.contains("undefined element") || m.contains("table") {
        "table"
    } else if m.contains("out of bounds memory") {
        "memory"
    } else if m.contains("unreachable") {
        "unreachable"
    } else {
        "other"
    }
}

fn expect_same_trap(rt: &Rt, w: &[u8], n: u32, inputs: &[Vec<u8>], kind: &str) {
    for dev in [SEQUENTIAL, rt.gpu] {
        match run(&rt.rt, dev, w, n, 1, inputs) {
            Err(e) => {
                assert_eq!(e.errno, Errno::KernelTrap, "device {dev}: {e}");
                assert_eq!(trap_kind(&e.message), kind, "device {dev}: {e}");
            }
            Ok(_) => panic!("device {dev}: expected a trap"),
        }
    }
}

#[test]
fn c_kernels_with_frames_at_every_optimization_level() {
    for opt in ["-O0", "-O1", "-O2", "-Os"] {
        let Some(w) = clang("tests/kernels/gpu_stack/frames.c", opt) else {
            return;
        };
        spirv_val(&w);
        let (lo, top) = window(&w).unwrap_or_else(|| panic!("{opt}: no stack window"));
        eprintln!("{opt}: window {lo}..{top}");
        assert_eq!(top, 32768, "{opt}");
        assert!(lo < top && lo % 16 == 0, "{opt}: window {lo}..{top}");
        let Some(rt) = rt() else { continue };
        let input: Vec<u32> = (0..97u32)
            .map(|i| i.wrapping_mul(2654435761) >> 3)
            .collect();
        let n = 200;
        let out = compare(rt, &w, n, 1, &[u32s(&input), vec![0; n as usize * 32]], &[]);
        // Sanity: results depend on the input (not all zeros).
        assert!(out[1].iter().any(|&b| b != 0), "{opt}");
        // o[3] = index of &a100[v % 100] in a100, computed through a pointer
        // into the stack passed to a helper.
        for i in 0..n as usize {
            let v = input[i % input.len()];
            let o3 = u32::from_le_bytes(out[1][i * 32 + 12..i * 32 + 16].try_into().unwrap());
            assert_eq!(o3, v % 100, "{opt}, iteration {i}");
        }
    }
}

/// Local arrays with data-dependent indices in optimised kernels: a leaf
/// kernel whose only frame is `__stack_pointer - 64` (never set: it used to
/// be declined with "store into the kernel's own memory region [0, R)
/// outside its shadow stack"), and a non-leaf kernel with a leaf helper's
/// frame below its own. Both run on the Vulkan device (no fallback here)
/// and match the interpreter bit for bit; results are also checked against
/// a plain Rust computation for the leaf kernel.
#[test]
fn local_arrays_with_dynamic_indices_at_every_optimization_level() {
    let input: Vec<u32> = (0..61u32)
        .map(|i| i.wrapping_mul(2654435761) >> 5)
        .collect();
    let n = 300u32;
    let leaf_ref: Vec<u32> = (0..n)
        .map(|it| {
            let m = input.len() as u32;
            let mut bins = [0u32; 16];
            for j in 0..64 {
                bins[(input[((it * 64 + j) % m) as usize] & 15) as usize] += j + 1;
            }
            (0..16).fold(0u32, |acc, b| {
                acc.wrapping_mul(31)
                    .wrapping_add(bins[(input[((it + b) % m) as usize] & 15) as usize])
            })
        })
        .collect();
    for opt in ["-O1", "-O2", "-O3", "-Os"] {
        for (src, out_words) in [("leaf_array", 1usize), ("nonleaf_array", 2)] {
            let path = format!("tests/kernels/gpu_stack/{src}.c");
            let Some(w) = clang(&path, opt) else { return };
            spirv_val(&w);
            let (lo, top) =
                window(&w).unwrap_or_else(|| panic!("{src} {opt}: no stack window found"));
            assert_eq!(top, 32768, "{src} {opt}");
            assert!(lo < top && lo % 16 == 0, "{src} {opt}: window {lo}..{top}");
            let Some(rt) = rt() else { continue };
            let out = compare(
                rt,
                &w,
                n,
                1,
                &[u32s(&input), vec![0; n as usize * 4 * out_words]],
                &[],
            );
            assert!(out[1].iter().any(|&b| b != 0), "{src} {opt}");
            if src == "leaf_array" {
                assert_eq!(out[1], u32s(&leaf_ref), "{src} {opt}: differs from Rust");
            }
        }
    }
}

/// A global that is never set counts as a stack pointer only with a frame
/// stored below it: one that is only read below (a base pointer into the
/// shared region, say) keeps reading the shared memory, and one with a
/// stored frame (a leaf's, as clang emits at -O2) gets the private window.
#[test]
fn never_set_globals_need_a_stored_frame() {
    // Reads 4 words below $base (zeros, and 1..4 from a data segment
    // further down): no stack, the shared memory is read.
    let reads_below = wat::parse_str(format!(
        r#"(module {HDR}
  (global $base (mut i32) (i32.const 1024))
  (data (i32.const 512) "\01\00\00\00\02\00\00\00\03\00\00\00\04\00\00\00")
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))
      (i32.add
        (i32.load (i32.add (i32.sub (global.get $base) (i32.const 16))
          (i32.shl (i32.and (local.get $i) (i32.const 3)) (i32.const 2))))
        (i32.load offset=512 (i32.shl (i32.and (local.get $i) (i32.const 3)) (i32.const 2)))))))"#
    ))
    .unwrap();
    spirv_val(&reads_below);
    assert_eq!(window(&reads_below), None);
    // A leaf frame below a never-set global, indexed dynamically.
    let leaf_frame = wat::parse_str(format!(
        r#"(module {HDR}
  (global $sp (mut i32) (i32.const 1024))
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $fp i32)
    (local.set $fp (i32.sub (global.get $sp) (i32.const 32)))
    (i64.store (local.get $fp) (i64.const 0))
    (i64.store offset=8 (local.get $fp) (i64.const 0))
    (i32.store (i32.add (local.get $fp) (i32.shl (i32.and (local.get $i) (i32.const 3)) (i32.const 2)))
      (i32.add (local.get $i) (i32.const 7)))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))
      (i32.add (i32.load (local.get $fp)) (i32.load offset=4 (local.get $fp))))))"#
    ))
    .unwrap();
    spirv_val(&leaf_frame);
    assert_eq!(window(&leaf_frame), Some((992, 1024)));
    let Some(rt) = rt() else { return };
    let out = compare(rt, &reads_below, 8, 1, &[vec![0; 32]], &[]);
    assert_eq!(out[0], u32s(&[1, 2, 3, 4, 1, 2, 3, 4]));
    let out = compare(rt, &leaf_frame, 8, 1, &[vec![0; 32]], &[]);
    assert_eq!(out[0], u32s(&[7, 8, 0, 0, 11, 12, 0, 0]));
}

#[test]
fn histogram_example_kernel_runs_on_vulkan() {
    let mut kernels = vec![(
        "tests/kernels/histogram.wasm".to_string(),
        std::fs::read(root().join("tests/kernels/histogram.wasm")).unwrap(),
    )];
    for opt in ["-O0", "-O2"] {
        match clang("c-examples/guests/histogram_kernel.c", opt) {
            Some(w) => kernels.push((format!("histogram_kernel.c {opt}"), w)),
            None => break,
        }
    }
    for (name, w) in &kernels {
        spirv_val(w);
        assert!(window(w).is_some(), "{name}: no stack window");
        let Some(rt) = rt() else { continue };
        let block = 1000u32;
        let data = bytes_of(64 * block as usize, 5);
        let iters = 64;
        let out = compare(
            rt,
            w,
            iters,
            block,
            &[data.clone(), vec![0; iters as usize * 256 * 4]],
            &[],
        );
        // And against plain Rust.
        let mut want = vec![0u32; iters as usize * 256];
        for (i, b) in data.iter().enumerate() {
            want[(i / block as usize) * 256 + *b as usize] += 1;
        }
        assert_eq!(out[1], u32s(&want), "{name}");
    }
}

fn bytes_of(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..n).map(|_| r.next() as u8).collect()
}

#[test]
fn stack_overflow_traps_like_on_the_cpu() {
    let Some(w) = clang("tests/kernels/gpu_stack/overflow.c", "-O2") else {
        return;
    };
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    // Shallow iterations only: fine on both.
    compare(rt, &w, 64, 1, &[vec![0; 256], vec![0; 256]], &[]);
    // One deep iteration: the stack pointer wraps below 0, the first store
    // is out of bounds on both devices.
    let mut input = vec![0u32; 64];
    input[37] = 9;
    expect_same_trap(rt, &w, 64, &[u32s(&input), vec![0; 256]], "memory");
}

const HDR: &str = r#"(import "env" "memory" (memory 1))"#;

/// A hand-written frame pattern: the kernel keeps 64 bytes on a stack
/// whose top is 1024, stores its iteration's data there (sub-word and
/// unaligned too), passes the frame's address to a helper that sums it,
/// and reads back an 8-byte value straddling two words.
#[test]
fn wat_frames_sub_word_and_unaligned_accesses() {
    let w = wat::parse_str(format!(
        r#"(module {HDR}
  (global $sp (mut i32) (i32.const 1024))
  (func $sum (param $p i32) (param $n i32) (result i32) (local $s i32) (local $fp i32)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const 16))))
    (i32.store offset=4 (local.get $fp) (local.get $p))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 31))
        (i32.load8_u (i32.add (i32.load offset=4 (local.get $fp)) (local.get $n)))))
      (br $l)))
    (global.set $sp (i32.add (local.get $fp) (i32.const 16)))
    (local.get $s))
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32) (param $o i32) (param i32)
    (local $fp i32) (local $k i32) (local $v i32)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const 64))))
    (local.set $v (i32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))
    (loop $l
      (i32.store8 (i32.add (local.get $fp) (local.get $k)) (i32.add (local.get $v) (local.get $k)))
      (br_if $l (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 64))))
    (i32.store16 offset=3 (local.get $fp) (local.get $i))
    (i32.store offset=9 (local.get $fp) (i32.mul (local.get $v) (i32.const 7)))
    (i64.store offset=21 (local.get $fp) (i64.extend_i32_u (local.get $v)))
    (local.set $o (i32.add (local.get $o) (i32.shl (local.get $i) (i32.const 4))))
    (i32.store (local.get $o) (call $sum (local.get $fp) (i32.const 64)))
    (i64.store offset=4 (local.get $o) (i64.load offset=18 (local.get $fp)))
    (i32.store offset=12 (local.get $o)
      (i32.add (i32.load16_s offset=61 (local.get $fp)) (global.get $sp)))
    (global.set $sp (i32.add (local.get $fp) (i32.const 64)))))"#
    ))
    .unwrap();
    spirv_val(&w);
    assert_eq!(window(&w), Some((1024 - 80, 1024)));
    let Some(rt) = rt() else { return };
    let n = 300;
    compare(
        rt,
        &w,
        n,
        1,
        &[bytes_of(n as usize * 4, 3), vec![0; n as usize * 16]],
        &[],
    );
}

/// Stores into [0, R) outside the window still stop the GPU with
/// `unsupported` (C statics: see docs/wasi-parallel.md); so does a stack
/// pointer set below the window.
#[test]
fn stores_outside_the_window_are_declined() {
    let Some(rt) = rt() else { return };
    let static_store = wat::parse_str(format!(
        r#"(module {HDR}
  (global $sp (mut i32) (i32.const 1024))
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $fp i32)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const 16))))
    (i32.store (local.get $fp) (local.get $i))
    (i32.store (i32.const 2000) (i32.load (local.get $fp)))
    (global.set $sp (i32.add (local.get $fp) (i32.const 16)))))"#
    ))
    .unwrap();
    spirv_val(&static_store);
    assert!(run(&rt.rt, SEQUENTIAL, &static_store, 8, 1, &[vec![0; 64]]).is_ok());
    let e = run(&rt.rt, rt.gpu, &static_store, 8, 1, &[vec![0; 64]]).unwrap_err();
    assert_eq!(e.errno, Errno::Unsupported, "{e}");
    assert!(e.message.contains("[0, R)"), "{}", e.message);
    // A store straddling the window's top: half stack, half static data.
    let straddle = wat::parse_str(format!(
        r#"(module {HDR}
  (global $sp (mut i32) (i32.const 1024))
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $fp i32)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const 16))))
    (i64.store offset=12 (local.get $fp) (i64.const -1))
    (global.set $sp (i32.add (local.get $fp) (i32.const 16)))))"#
    ))
    .unwrap();
    let e = run(&rt.rt, rt.gpu, &straddle, 8, 1, &[vec![0; 64]]).unwrap_err();
    assert_eq!(e.errno, Errno::Unsupported, "{e}");
    // Static data below the stack top: the window ends above it, and a
    // frame reaching into it is declined at run time (STACK_LIMIT).
    let into_data = wat::parse_str(format!(
        r#"(module {HDR}
  (global $sp (mut i32) (i32.const 1024))
  (data (i32.const 960) "0123456789abcdef")
  (func $deep (param $x i32) (result i32) (local $fp i32)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const 64))))
    (i32.store (local.get $fp) (local.get $x))
    (local.set $x (i32.load8_u offset=3 (local.get $fp)))
    (global.set $sp (i32.add (local.get $fp) (i32.const 64)))
    (local.get $x))
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $fp i32)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const 16))))
    (i32.store (local.get $fp) (local.get $i))
    (if (i32.eq (local.get $i) (i32.const 5))
      (then (drop (call $deep (local.get $i)))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))
      (i32.load (local.get $fp)))
    (global.set $sp (i32.add (local.get $fp) (i32.const 16)))))"#
    ))
    .unwrap();
    spirv_val(&into_data);
    assert_eq!(window(&into_data), Some((976, 1024)));
    compare(rt, &into_data, 5, 1, &[vec![0; 64]], &[]);
    let e = run(&rt.rt, rt.gpu, &into_data, 8, 1, &[vec![0; 64]]).unwrap_err();
    assert_eq!(e.errno, Errno::Unsupported, "{e}");
    assert!(e.message.contains("shadow stack"), "{}", e.message);
}

fn indirect_kernel(index_expr: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module {HDR}
  (type $un (func (param i32) (result i32)))
  (type $bin (func (param i32 i32) (result i32)))
  (table 6 funcref)
  (elem (i32.const 1) $inc $dbl $add $sq)
  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (param i32) (result i32) (i32.shl (local.get 0) (i32.const 1)))
  (func $add (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $v i32)
    (local.set $v (i32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))
      (call_indirect (type $un) (local.get $v) {index_expr}))))"#
    ))
    .unwrap()
}

#[test]
fn call_indirect_hits_and_traps() {
    // Hits: slots 1, 2 and 4 hold unary functions.
    let hits = indirect_kernel(
        "(select (i32.const 1) (select (i32.const 2) (i32.const 4) (i32.and (local.get $i) (i32.const 2))) (i32.and (local.get $i) (i32.const 1)))",
    );
    spirv_val(&hits);
    let Some(rt) = rt() else { return };
    let n = 256;
    let out = compare(rt, &hits, n, 1, &[bytes_of(n as usize * 4, 8)], &[]);
    assert!(out[0].iter().any(|&b| b != 0));
    // Traps in iteration 77 only, each of the three kinds.
    let at77 = |slot: i32| {
        format!("(select (i32.const {slot}) (i32.const 1) (i32.eq (local.get $i) (i32.const 77)))")
    };
    for (slot, kind) in [
        (0, "null"),
        (5, "null"),
        (3, "signature"),
        (6, "table"),
        (-1, "table"),
    ] {
        let w = indirect_kernel(&at77(slot));
        spirv_val(&w);
        expect_same_trap(rt, &w, n, &[bytes_of(n as usize * 4, 8)], kind);
    }
}

#[test]
fn indirect_recursion_still_falls_back_with_a_reason() {
    let w = wat::parse_str(format!(
        r#"(module {HDR}
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $f)
  (func $f (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0)))
      (else (i32.const 0))))
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (i32.store (local.get $p) (call $f (i32.const 3)))))"#
    ))
    .unwrap();
    let e = translate_kernel(&w, &TranslateOptions::default()).unwrap_err();
    assert!(e.reason.contains("recursion"), "{}", e.reason);
    let Some(rt) = rt() else { return };
    let e = run(&rt.rt, rt.gpu, &w, 4, 1, &[vec![0; 16]]).unwrap_err();
    assert_eq!(e.errno, Errno::Unsupported);
    assert!(e.message.contains("recursion"), "{}", e.message);
}

/// A kernel with a local array of `frame` bytes on a shadow stack whose
/// top is 64 KiB: 64 word stores (and byte stores into some of them) at
/// dynamic offsets in it, then 64 loads of the words stored, in reverse
/// order (only words this iteration wrote: the stack's contents at the
/// start are unspecified), the sum stored per iteration.
fn frame_kernel(frame: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (import "env" "memory" (memory 2))
  (global $sp (mut i32) (i32.const 65536))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $fp i32) (local $k i32) (local $s i32)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const {frame}))))
    (loop $w
      (i32.store (i32.add (local.get $fp) (i32.and (i32.mul (local.get $k) (i32.const 52)) (i32.const {mask})))
        (i32.add (local.get $i) (i32.mul (local.get $k) (i32.const 7919))))
      (i32.store8 offset=1 (i32.add (local.get $fp) (i32.and (i32.mul (local.get $k) (i32.const 36)) (i32.const {mask})))
        (local.get $k))
      (br_if $w (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 64))))
    (local.set $k (i32.const 0))
    (loop $r
      (local.set $s (i32.add (i32.rotl (local.get $s) (i32.const 5))
        (i32.load (i32.add (local.get $fp) (i32.and (i32.mul (i32.sub (i32.const 63) (local.get $k)) (i32.const 52)) (i32.const {mask}))))))
      (br_if $r (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 64))))
    (i32.store (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
    (global.set $sp (i32.add (local.get $fp) (i32.const {frame})))))"#,
        mask = frame - 4
    ))
    .unwrap()
}

const STORAGES: [StackStorage; 3] = [
    StackStorage::Private,
    StackStorage::ScratchInterleaved,
    StackStorage::ScratchContiguous,
];

/// Every stack storage (private array, interleaved and contiguous scratch
/// buffer) gives the interpreter's results bit for bit, on C kernels with
/// frames, the histogram example and frames of several sizes; each shader
/// passes spirv-val.
#[test]
fn every_stack_storage_matches_the_interpreter() {
    // (name, kernel, iterations, block size, buffers)
    type Case = (String, Vec<u8>, u32, u32, Vec<Vec<u8>>);
    let mut kernels: Vec<Case> = Vec::new();
    let input: Vec<u32> = (0..97u32)
        .map(|i| i.wrapping_mul(2654435761) >> 3)
        .collect();
    for opt in ["-O0", "-O2"] {
        if let Some(w) = clang("tests/kernels/gpu_stack/frames.c", opt) {
            kernels.push((
                format!("frames.c {opt}"),
                w,
                300,
                1,
                vec![u32s(&input), vec![0; 300 * 32]],
            ));
        }
    }
    let hist = std::fs::read(root().join("tests/kernels/histogram.wasm")).unwrap();
    let data = bytes_of(200 * 300, 7);
    kernels.push((
        "histogram.wasm".into(),
        hist,
        200,
        300,
        vec![data, vec![0; 200 * 256 * 4]],
    ));
    for frame in [256, 2048] {
        kernels.push((
            format!("frame {frame} B"),
            frame_kernel(frame),
            5000,
            1,
            vec![vec![0; 5000 * 4]],
        ));
    }
    for storage in STORAGES {
        let opts = TranslateOptions {
            stack_storage: storage,
            ..Default::default()
        };
        for (name, w, n, block, inputs) in &kernels {
            spirv_val_with(w, &opts);
            let t = translate_kernel(w, &opts).unwrap();
            assert!(t.stack_window.is_some(), "{name}: no window");
            let Some(rt) = rt_stack(storage) else {
                continue;
            };
            eprintln!("{storage:?}: {name}");
            let out = compare(rt, w, *n, *block, inputs, &[]);
            assert!(out.last().unwrap().iter().any(|&b| b != 0), "{name}");
        }
    }
}

/// Frames larger than the private window's 2 KiB limit: declined with the
/// private array (the stack pointer goes below the window: `unsupported`,
/// the runtime reruns the call on the CPU), run on Vulkan with a scratch
/// buffer, which the default (`Auto`) picks for them. 32 KiB windows cap a
/// dispatch at 4096 invocations on lavapipe (maxStorageBufferRange 128
/// MiB), so 10000 iterations take three dispatches, the last with a
/// partial workgroup.
#[test]
fn frames_past_2_kib_run_with_a_scratch_buffer() {
    // The default keeps small frames in the private array.
    let small = translate_kernel(&frame_kernel(256), &TranslateOptions::default()).unwrap();
    assert_eq!(small.stack_storage, StackStorage::Private);
    for frame in [4096u32, 32768] {
        let w = frame_kernel(frame);
        let n = 10_000;
        let inputs = [vec![0u8; n as usize * 4]];
        let private_opts = TranslateOptions {
            stack_storage: StackStorage::Private,
            ..Default::default()
        };
        let private = translate_kernel(&w, &private_opts).unwrap();
        assert_eq!(
            private.stack_window.map(|(lo, top)| top - lo),
            Some(wasi_parallel::spirv::MAX_PRIVATE_WINDOW)
        );
        let auto = translate_kernel(&w, &TranslateOptions::default()).unwrap();
        assert_eq!(auto.stack_storage, StackStorage::ScratchInterleaved);
        assert_eq!(auto.stack_window, Some((65536 - frame, 65536)));
        if let Some(rt) = rt_stack(StackStorage::Auto) {
            let out = compare(rt, &w, n, 1, &inputs, &[]);
            assert!(out[0].iter().any(|&b| b != 0));
        }
        if let Some(rt) = rt_stack(StackStorage::Private) {
            let e = run(&rt.rt, rt.gpu, &w, 64, 1, &inputs).unwrap_err();
            assert_eq!(e.errno, Errno::Unsupported, "{e}");
            assert!(e.message.contains("shadow stack"), "{}", e.message);
        }
        for storage in [
            StackStorage::ScratchInterleaved,
            StackStorage::ScratchContiguous,
        ] {
            let opts = TranslateOptions {
                stack_storage: storage,
                ..Default::default()
            };
            spirv_val_with(&w, &opts);
            let t = translate_kernel(&w, &opts).unwrap();
            assert_eq!(t.stack_window, Some((65536 - frame, 65536)), "{storage:?}");
            let Some(rt) = rt_stack(storage) else {
                continue;
            };
            let out = compare(rt, &w, n, 1, &inputs, &[]);
            assert!(out[0].iter().any(|&b| b != 0));
        }
    }
}

/// SIMD accesses to the shadow stack (what clang's `-msimd128` code does
/// with a local array and wasi-libc's `memcpy`): `v128.store`s into the
/// frame, aligned and not, read back by `v128.load`, `load64_splat` and
/// scalar loads, scalar stores read back by `v128.load`, a load straddling
/// the window's top (half window, half static data above it), and a
/// `v128` copy from the frame into a buffer in a helper that takes and
/// returns pointers (every byte read was written by the same iteration:
/// the frame's contents at the start are unspecified). Every word of the window must go to this invocation's
/// private copy on every stack storage (the `v128` accesses used to index
/// the shared arena directly: invocations overwrote each other's frames and
/// scalar loads missed what `v128.store` wrote).
#[test]
fn simd_accesses_to_the_stack_stay_private() {
    let w = wasm(&format!(
        r#"(module {HDR}
  (global $sp (mut i32) (i32.const 1024))
  (data (i32.const 1024) "0123456789abcdef")
  (func $copy (param $d i32) (param $s i32) (result i32)
    (v128.store align=1 (local.get $d) (v128.load align=1 (local.get $s)))
    (local.get $d))
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32) (param $o i32) (param i32)
    (local $fp i32) (local $x v128)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const 64))))
    (local.set $x (v128.load align=1 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 4)))))
    (v128.store (local.get $fp) (local.get $x))
    (i32.store offset=16 (local.get $fp) (i32.mul (local.get $i) (i32.const 7)))
    (i64.store offset=32 (local.get $fp) (i64.const 0x0102030405060708))
    (v128.store offset=19 align=1 (local.get $fp)
      (v128.xor (local.get $x) (i32x4.splat (i32.mul (local.get $i) (i32.const 2654435761)))))
    (i32.store offset=40 (local.get $fp) (i32.add (i32.mul (local.get $i) (i32.const 3)) (i32.const 1)))
    (i32.store offset=44 (local.get $fp) (local.get $i))
    (i64.store offset=48 (local.get $fp) (i64.extend_i32_u (i32.xor (local.get $i) (i32.const -1))))
    (i64.store offset=56 (local.get $fp) (i64.extend_i32_u (i32.rotl (local.get $i) (i32.const 9))))
    (local.set $o (i32.add (local.get $o) (i32.mul (local.get $i) (i32.const 96))))
    (v128.store (local.get $o) (v128.load (local.get $fp)))
    (i64.store offset=16 (local.get $o) (i64.load offset=4 (local.get $fp)))
    (v128.store offset=24 align=1 (local.get $o) (v128.load offset=17 align=1 (local.get $fp)))
    (v128.store offset=40 (local.get $o) (v128.load64_splat offset=40 (local.get $fp)))
    (v128.store offset=56 (local.get $o) (v128.load offset=56 (local.get $fp)))
    (i64.store offset=72 (local.get $o) (i64.load offset=22 (local.get $fp)))
    (drop (call $copy (i32.add (local.get $o) (i32.const 80)) (i32.add (local.get $fp) (i32.const 19))))
    (global.set $sp (i32.add (local.get $fp) (i32.const 64)))))"#
    ));
    assert_eq!(window(&w).map(|(_, top)| top), Some(1024));
    let n = 300;
    let inputs = [bytes_of(n as usize * 16, 11), vec![0; n as usize * 96]];
    for storage in STORAGES {
        let opts = TranslateOptions {
            stack_storage: storage,
            ..Default::default()
        };
        spirv_val_with(&w, &opts);
        let Some(rt) = rt_stack(storage) else {
            return;
        };
        eprintln!("{storage:?}");
        compare(rt, &w, n, 1, &inputs, &[]);
    }
}
