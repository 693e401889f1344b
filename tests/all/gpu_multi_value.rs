//! Multi-value on Vulkan, compared bit for bit with the interpreter (and
//! the SPIR-V checked by spirv-val): functions with several results (a
//! struct in SPIR-V), called directly and through `call_indirect`, and
//! blocks, ifs and loops with parameters and several results (reduced from
//! the spec suite's `func`, `call`, `call_indirect`, `block`, `if`, `loop`
//! and `fac` files, which the translator used to decline).
#![cfg(feature = "vulkan")]

use crate::gpu_util::*;

#[test]
fn functions_with_several_results() {
    let w = wasm(&format!(
        r#"(module {HDR}
  (type $pair (func (param i32) (result i64 i32)))
  (table 3 funcref)
  (elem (i32.const 0) $swap_parts $split $swap_parts)
  (func $divmod (param $a i32) (param $b i32) (result i32 i32)
    (if (i32.eqz (local.get $b)) (then (return (i32.const -1) (i32.const -2))))
    (i32.div_u (local.get $a) (local.get $b))
    (i32.rem_u (local.get $a) (local.get $b)))
  (func $mixed (param $x i32) (result f64 i32 i64 f32)
    (f64.convert_i32_s (local.get $x))
    (i32.mul (local.get $x) (i32.const 7))
    (i64.extend_i32_u (local.get $x))
    (f32.div (f32.convert_i32_s (local.get $x)) (f32.const 3)))
  (func $split (type $pair)
    (i64.shl (i64.extend_i32_u (local.get 0)) (i64.const 33))
    (i32.xor (local.get 0) (i32.const 0x55)))
  (func $swap_parts (type $pair)
    (block $b (result i64 i32)
      (i64.const 5) (local.get 0)
      (br_if $b (i32.and (local.get 0) (i32.const 1)))
      (drop) (drop)
      (i64.const 9) (i32.const 11)))
  (func $deep (param $x i32) (result i32 i32)
    (call $divmod (i32.add (local.get $x) (i32.const 1000)) (i32.rem_u (local.get $x) (i32.const 5))))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $o i32) (local $q i32) (local $r i32) (local $w i64) (local $f f32) (local $d f64)
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 64))))
    (call $deep (local.get $i))
    (local.set $r) (local.set $q)
    (i32.store (local.get $o) (local.get $q))
    (i32.store offset=4 (local.get $o) (local.get $r))
    (call $mixed (local.get $i))
    (local.set $f) (local.set $w) (local.set $r) (local.set $d)
    (f32.store offset=8 (local.get $o) (local.get $f))
    (i64.store offset=16 (local.get $o) (local.get $w))
    (i32.store offset=24 (local.get $o) (local.get $r))
    (f64.store offset=32 (local.get $o) (local.get $d))
    (call_indirect (type $pair) (local.get $i) (i32.rem_u (local.get $i) (i32.const 3)))
    (local.set $r) (local.set $w)
    (i32.store offset=40 (local.get $o) (local.get $r))
    (i64.store offset=48 (local.get $o) (local.get $w))))"#
    ));
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let out = compare(rt, &w, 200, 1, &[vec![0; 200 * 64]], &[]);
    // Not all zero: the results reached the buffer.
    let rec = &out[0][64 * 7..64 * 8];
    assert_eq!(u32::from_le_bytes(rec[0..4].try_into().unwrap()), 1007 / 2);
    assert_eq!(u32::from_le_bytes(rec[4..8].try_into().unwrap()), 1007 % 2);
}

#[test]
fn blocks_ifs_and_loops_with_parameters() {
    let w = wasm(&format!(
        r#"(module {HDR}
  (func $blk (param $x i32) (result i32)
    (local.get $x) (i32.const 3)
    (block (param i32 i32) (result i32)
      (br_if 0 (i32.sub) (i32.and (local.get $x) (i32.const 2)))
      (i32.const 100) (i32.add)))
  (func $iff (param $x i32) (result i32 i32)
    (local.get $x) (i32.const 10)
    (if (param i32 i32) (result i32 i32) (i32.and (local.get $x) (i32.const 1))
      (then (i32.add) (i32.const 1))
      (else (i32.mul) (i32.const 2))))
;; Factorial with the loop carrying (accumulator, counter) as
  ;; parameters; an `if` without `else` passes its parameter through.
  (func $fac (param $n i64) (result i64)
    (local $k i64)
    (i64.const 1) (local.get $n)
    (loop $l (param i64 i64) (result i64)
      (local.set $k)
      (if (param i64) (result i64) (i64.gt_u (local.get $k) (i64.const 1))
        (then
          (i64.mul (local.get $k))
          (i64.sub (local.get $k) (i64.const 1))
          (br $l)))))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $o i32)
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 32))))
    (i32.store (local.get $o) (call $blk (local.get $i)))
    (call $iff (local.get $i))
    (local.set $b) (local.set $n)
    (i32.store offset=4 (local.get $o) (local.get $n))
    (i32.store offset=8 (local.get $o) (local.get $b))
    (i64.store offset=16 (local.get $o) (call $fac (i64.extend_i32_u (i32.rem_u (local.get $i) (i32.const 21)))))))"#
    ));
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let out = compare(rt, &w, 100, 1, &[vec![0; 100 * 32]], &[]);
    // 20! from the loop with parameters (iteration 20).
    let rec = &out[0][32 * 20..32 * 21];
    assert_eq!(
        u64::from_le_bytes(rec[16..24].try_into().unwrap()),
        (1..=20u64).product::<u64>()
    );
}

/// A small loop around a call to a large function is not unrolled: the
/// drivers inline every call, so each copy of the body would be a copy of
/// the callee (lavapipe took minutes on the spec suite's `endianness` and
/// `align` kernels, which replay earlier actions in such a loop). The
/// SPIR-V of the loop stays about the size of one copy, and the results
/// still match the interpreter.
#[test]
fn loops_around_large_calls_are_not_unrolled() {
    // $big: 8 unaligned sub-word stores and loads (several hundred
    // operators once its own calls are inlined).
    let big = r#"
  (func $st (param $a i32) (param $v i32)
    (i32.store8 (local.get $a) (local.get $v))
    (i32.store8 offset=1 (local.get $a) (i32.shr_u (local.get $v) (i32.const 8)))
    (i32.store16 offset=3 (local.get $a) (i32.shr_u (local.get $v) (i32.const 16))))
  (func $ld (param $a i32) (result i32)
    (i32.add (i32.load8_u (local.get $a))
      (i32.add (i32.load16_u offset=1 (local.get $a)) (i32.load offset=3 (local.get $a)))))
  (func $big (param $a i32) (param $v i32) (result i32)
    (call $st (local.get $a) (local.get $v))
    (call $st (i32.add (local.get $a) (i32.const 7)) (i32.mul (local.get $v) (i32.const 3)))
    (call $st (i32.add (local.get $a) (i32.const 14)) (i32.xor (local.get $v) (i32.const 0x5a5a)))
    (call $st (i32.add (local.get $a) (i32.const 21)) (i32.rotl (local.get $v) (i32.const 5)))
    (i32.add (call $ld (local.get $a))
      (i32.add (call $ld (i32.add (local.get $a) (i32.const 7)))
        (i32.add (call $ld (i32.add (local.get $a) (i32.const 14)))
          (call $ld (i32.add (local.get $a) (i32.const 21)))))))"#;
    let kernel = |body: &str| {
        wasm(&format!(
            r#"(module {HDR} {big}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $o i32) (local $k i32) (local $acc i32)
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 32))))
    {body}
    (i32.store offset=28 (local.get $o) (local.get $acc))))"#
        ))
    };
    let looped = kernel(
        "(loop $l
      (local.set $acc (i32.add (local.get $acc) (call $big (local.get $o) (i32.add (local.get $i) (local.get $k)))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 5))))",
    );
    let once = kernel("(local.set $acc (call $big (local.get $o) (local.get $i)))");
    spirv_val(&looped);
    let opts = wasi_parallel::spirv::TranslateOptions::default();
    assert!(opts.unroll > 1, "the default unrolls small loops");
    // OpFunctionCall instructions: unrolled, the loop body (one call of
    // $big) would be there `unroll` times.
    let calls = |w: &[u8]| {
        let words = wasi_parallel::spirv::translate_kernel(w, &opts)
            .expect("translates")
            .words;
        let mut i = 5;
        let mut n = 0;
        while i < words.len() {
            let (count, op) = ((words[i] >> 16) as usize, words[i] & 0xFFFF);
            n += usize::from(op == 57);
            i += count.max(1);
        }
        n
    };
    let (l, o) = (calls(&looped), calls(&once));
    // The loop itself adds its call and a few trap calls (exit checks);
    // each further copy of the body would add its call of $big and more.
    assert!(
        l < o + 4 + (opts.unroll as usize - 1),
        "{l} calls with the loop, {o} with one call: the loop around $big was unrolled"
    );
    let Some(rt) = rt() else { return };
    compare(rt, &looped, 64, 1, &[vec![0; 64 * 32]], &[]);
}
