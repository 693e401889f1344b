//! Reference-typed (and `v128`) globals and functions in a kernel module:
//! the translator declines a kernel only when a function `kernel` reaches
//! uses one (reduced from the spec suite's `global.wast`, whose numeric
//! exports sit next to `externref` globals and functions). Compared bit for
//! bit with the interpreter; the SPIR-V checked by spirv-val.
#![cfg(feature = "vulkan")]

use crate::gpu_util::*;

/// A module with reference and `v128` globals and functions using
/// reference types; `$body` is the code `kernel` runs for iteration `$i`
/// with its output word at `$o`.
fn module(body: &str) -> Vec<u8> {
    wasm(&format!(
        r#"(module {HDR}
  (global $r externref (ref.null extern))
  (global $mr (mut externref) (ref.null extern))
  (global $f funcref (ref.null func))
  (global $mf (mut funcref) (ref.func $set_mr))
  (global $v (mut v128) (v128.const i32x4 1 2 3 4))
  (global $x (mut i32) (i32.const -12))
  (global $y (mut i64) (i64.const -15))
  (table 2 funcref)
  (elem (i32.const 0) $bump $twice)
  (func $set_mr (param externref) (global.set $mr (local.get 0)))
  (func $get_r (result externref) (global.get $r))
  (func $is_null (result i32) (local funcref) (ref.is_null (local.get 0)))
  (func $ref_block (result i32)
    (block (result externref) (ref.null extern)) (drop) (i32.const 1))
  (func $vec (result i32)
    (global.set $v (i32x4.splat (i32.const 7)))
    (i32x4.extract_lane 2 (global.get $v)))
  (func $bump (param i32) (result i32)
    (global.set $x (i32.add (global.get $x) (local.get 0)))
    (global.get $x))
  (func $twice (param i32) (result i32)
    (global.set $y (i64.mul (global.get $y) (i64.const 2)))
    (i32.add (i32.wrap_i64 (global.get $y)) (local.get 0)))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $o i32)
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 4))))
    ;; Globals are per instance: each iteration starts from the same values.
    (global.set $x (i32.const -12))
    (global.set $y (i64.const -15))
    {body}))"#
    ))
}

#[test]
fn unreachable_reference_globals_and_functions_are_ignored() {
    let w = module(
        "(i32.store (local.get $o)
           (i32.add (call $bump (local.get $i))
                    (call_indirect (param i32) (result i32) (local.get $i)
                      (i32.and (local.get $i) (i32.const 1)))))",
    );
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let out = compare(rt, &w, 64, 1, &[vec![0; 64 * 4]], &[]);
    // Iteration 3: $bump
    // makes $x -9, then table entry 1 ($twice) makes $y -30: -9 + (-30 + 3).
    let word = |i: usize| i32::from_le_bytes(out[0][4 * i..4 * i + 4].try_into().unwrap());
    assert_eq!(word(3), -9 + (-27));
    // Iteration 2: $bump makes $x -10, then entry 0 ($bump again) -8.
    assert_eq!(word(2), -10 + (-8));
}

#[test]
fn reachable_reference_types_are_declined() {
    let cases = [
        ("(call $set_mr (ref.null extern))", "externref"),
        ("(drop (call $get_r))", "externref"),
        ("(i32.store (local.get $o) (call $is_null))", "funcref"),
        ("(i32.store (local.get $o) (call $ref_block))", "externref"),
        ("(i32.store (local.get $o) (call $vec))", "v128 globals"),
    ];
    for (body, why) in cases {
        let w = module(body);
        let err = wasi_parallel::spirv::translate_kernel(&w, &Default::default())
            .expect_err(body)
            .to_string();
        assert!(err.contains(why), "{body}: {err}");
    }
    // The CPU device still runs such a kernel: the interpreter result.
    let w = module("(i32.store (local.get $o) (call $ref_block))");
    let Some(rt) = rt() else { return };
    let out = run(&rt.rt, SEQUENTIAL, &w, 4, 1, &[vec![0; 16]]).expect("interpreter");
    assert_eq!(out[0], [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
}
