//! Reduced regression tests of driver miscompilations the translator works
//! around (docs/wasi-parallel.md section 2.4, W1-W4), found by the random
//! kernels of `gpu_random_kernels.rs`.
#![cfg(feature = "vulkan")]

use crate::gpu_util::*;
use wasi_parallel::parallel::Errno;

#[test]
fn division_by_a_zero_the_compiler_can_see() {
    // lavapipe folded `x / 0.0` to 0 when the zero divisor was known at
    // compile time (a literal, a constant expression, a local never
    // written); wasm wants ±inf. And `0.0 / -x` to +0.0 (wasm: -0.0).
    // Found by the random kernels (seeds 102 and 201).
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $pa i32) (param $la i32) (param $po i32) (param $lo i32)
    (local $x f32) (local $d f64) (local $z i32) (local $o i32)
    (local.set $x (f32.convert_i32_s (i32.add (local.get $i) (i32.const 1))))
    (local.set $d (f64.convert_i32_s (i32.add (local.get $i) (i32.const 1))))
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 48))))
    (f32.store offset=0 (local.get $o) (f32.div (local.get $x) (f32.const 0)))
    (f32.store offset=4 (local.get $o) (f32.div (local.get $x) (f32.const -0)))
    (f32.store offset=8 (local.get $o) (f32.div (local.get $x) (f32.convert_i32_s (i32.clz (i32.const -971)))))
    (f32.store offset=12 (local.get $o) (f32.div (local.get $x) (f32.convert_i32_s (local.get $z))))
    (f32.store offset=16 (local.get $o) (f32.div (local.get $x) (f32.const 4)))
    (f64.store offset=24 (local.get $o) (f64.div (local.get $d) (f64.const 0)))
    (f64.store offset=32 (local.get $o) (f64.div (local.get $d) (f64.const -0)))
    (f64.store offset=40 (local.get $o) (f64.div (local.get $d) (f64.const 0.5)))
    (f32.store offset=20 (local.get $o) (f32.div (f32.sqrt (f32.convert_i32_s (local.get $z))) (f32.const -71.5)))))"#
    ));
    spirv_val(&w);
    let out = compare(
        rt,
        &w,
        8,
        1,
        &[vec![0; 16], vec![0; 8 * 48]],
        &[Elem::Bytes, Elem::Bytes],
    );
    // x / +0 is +inf and x / -0 is -inf for x > 0.
    let f = |k: usize, off: usize| {
        f32::from_le_bytes(out[1][k * 48 + off..k * 48 + off + 4].try_into().unwrap())
    };
    assert_eq!(f(4, 0), f32::INFINITY);
    assert_eq!(f(4, 4), f32::NEG_INFINITY);
}

#[test]
fn i64_comparisons_of_extended_values_with_constants() {
    // lavapipe (Mesa 22.3) answered `i64.lt_s (i64.extend_i32_s x)
    // (i64.const 24)` with 0 for x = 7 (and le_s/gt_s/ge_s wrongly too) when
    // the constant was visible to its compiler. Found by the random kernels
    // (seed 176).
    let Some(rt) = rt() else { return };
    let cmps = [
        "i64.lt_s", "i64.le_s", "i64.gt_s", "i64.ge_s", "i64.lt_u", "i64.le_u", "i64.gt_u",
        "i64.ge_u", "i64.eq", "i64.ne",
    ];
    let consts = [24i64, 7, -24, 0, 0x1_0000_0000, i64::MIN];
    let mut body = String::new();
    let mut at = 0;
    for op in cmps {
        for c in consts {
            for ext in ["i64.extend_i32_s", "i64.extend_i32_u"] {
                body.push_str(&format!(
                    "(i32.store8 offset={at} (local.get $o) ({op} ({ext} (local.get $x)) (i64.const {c})))\n\
                     (i32.store8 offset={} (local.get $o) ({op} (i64.const {c}) ({ext} (local.get $x))))\n",
                    at + 1
                ));
                at += 2;
            }
        }
    }
    // Both sides extended, one from a local never written (seed 1358).
    for op in cmps {
        body.push_str(&format!(
            "(i32.store8 offset={at} (local.get $o) ({op} (i64.extend_i32_s (local.get $zero)) (i64.extend_i32_s (local.get $x))))\n"
        ));
        at += 1;
    }
    // Float comparisons of converted sign-extended values with 0 (lavapipe
    // turned them into such integer comparisons: seed 344).
    for op in ["ge", "lt", "gt", "le"] {
        for t in ["f64", "f32"] {
            for z in ["0", "-0"] {
                for ext in [
                    "(i64.extend_i32_s (local.get $x))",
                    "(i64.extend8_s (i64.extend_i32_u (local.get $x)))",
                ] {
                    body.push_str(&format!(
                        "(i32.store8 offset={at} (local.get $o) ({t}.{op} ({t}.convert_i64_s {ext}) ({t}.const {z})))\n"
                    ));
                    at += 1;
                }
            }
        }
    }
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $pa i32) (param $la i32) (param $po i32) (param $lo i32)
    (local $x i32) (local $o i32) (local $zero i32)
    (local.set $x (i32.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2)))))
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const {at}))))
    {body}))"#
    ));
    spirv_val(&w);
    let xs: Vec<u8> = [
        7i32,
        24,
        23,
        25,
        -7,
        -24,
        0,
        -1,
        i32::MIN,
        i32::MAX,
        -99,
        157,
    ]
    .iter()
    .flat_map(|x| x.to_le_bytes())
    .collect();
    let n = xs.len() / 4;
    let out = compare(rt, &w, n as u32, 1, &[xs, vec![0; n * at]], &[]);
    // Against Rust: iteration 0 (x = 7), `i64.lt_s (extend_s x) 24` is 1.
    assert_eq!(out[1][0], 1);
}

#[test]
fn long_straight_line_kernels_keep_every_access() {
    // 100 checked stores and 100 checked loads in one function. Each check
    // once ended in `if bad { trap; return }`, which Mesa lowered by nesting
    // all later code one level deeper; llvmpipe silently dropped the code
    // past nesting level 80 (from the 40th store on). A trap after all of
    // them (iterations 5 and 7: an out-of-bounds load) must still be seen.
    let Some(rt) = rt() else { return };
    let mut body = String::new();
    for k in 0..100 {
        body.push_str(&format!(
            "(local.set $s (i32.add (i32.mul (local.get $s) (i32.const 3)) (i32.load8_u offset={k} (local.get $p))))\n\
             (i32.store8 offset={k} (local.get $o) (local.get $s))\n"
        ));
    }
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $pa i32) (param $la i32) (param $po i32) (param $lo i32)
    (local $p i32) (local $s i32) (local $o i32)
    (local.set $p (i32.add (local.get $pa) (local.get $i)))
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 101))))
    {body}
    (if (i32.eq (local.get $i) (local.get $b)) (then
      (local.set $s (i32.load (i32.const -4)))))
    (i32.store8 offset=100 (local.get $o) (local.get $s))))"#
    ));
    spirv_val(&w);
    let n = 64usize;
    let input = bytes(n + 100, 9);
    // Block size 1000: no iteration traps; every byte agrees.
    let out = compare(
        rt,
        &w,
        n as u32,
        1000,
        &[input.clone(), vec![0; n * 101]],
        &[],
    );
    // Against plain Rust.
    for i in 0..n {
        let mut s = 0u32;
        for k in 0..100 {
            s = s.wrapping_mul(3).wrapping_add(input[i + k] as u32);
            assert_eq!(out[1][i * 101 + k], s as u8, "iteration {i}, store {k}");
        }
        assert_eq!(out[1][i * 101 + 100], s as u8);
    }
    // Block size 5: iteration 5 traps after its 100 stores.
    for dev in [SEQUENTIAL, rt.gpu] {
        let e = run(
            &rt.rt,
            dev,
            &w,
            n as u32,
            5,
            &[input.clone(), vec![0; n * 101]],
        )
        .expect_err("iteration 5 reads out of bounds");
        assert_eq!(e.errno, Errno::KernelTrap, "device {dev}: {e}");
    }
}

#[test]
fn f64_copysign_inside_an_if() {
    // lavapipe computed f64.copysign's `(a & !SIGN) | (b & SIGN)` as
    // `a | b` on the high word when it sat in an `if` before an unaligned
    // load (random kernel seed 511, reduced; the shape matters: small
    // changes hide the miscompilation).
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $pa i32) (param $la i32) (param $po i32) (param $lo i32)
    (local $x0 i32) (local $x1 i32) (local $o i32) (local $q i32) (local $y1 i64) (local $z0 f64)
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 45))))
    (local.set $x0 (i32.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2)))))
    (local.set $x1 (i32.mul (local.get $x0) (i32.const 31)))
    (local.set $z0 (f64.convert_i32_s (local.get $x0)))
    (if (i32.xor (local.get $i) (i32.wrap_i64 (local.get $y1))) (then
      (local.set $z0 (f64.copysign (local.get $z0) (f64.convert_i32_s (local.get $x1))))
      (local.set $x1 (i32.load offset=2 (i32.add (local.get $pa) (i32.and (i32.sub (local.get $q) (local.get $pa)) (i32.const 1012)))))))
    (f64.store offset=32 (local.get $o) (local.get $z0))))"#
    ));
    spirv_val(&w);
    let n = 256;
    let input = bytes(n * 4 + 16, 511);
    let out = compare(rt, &w, n as u32, 1, &[input.clone(), vec![0; n * 45]], &[]);
    for k in 1..n {
        let x0 = i32::from_le_bytes(input[k * 4..k * 4 + 4].try_into().unwrap());
        let want = (x0 as f64).copysign(x0.wrapping_mul(31) as f64);
        let got = f64::from_le_bytes(out[1][k * 45 + 32..k * 45 + 40].try_into().unwrap());
        assert_eq!(got.to_bits(), want.to_bits(), "iteration {k}");
    }
}

#[test]
fn no_float_operand_is_a_constant_to_the_driver() {
    // lavapipe folded `x * 0.0` to 0 and `x + 0.0` to x (wrong for NaN,
    // ±inf, -0.0) whenever it could prove an operand zero: a literal, a
    // float local never written, a conversion of an integer it could
    // compute (seed 2494: `f64.convert_i64_u (i64.mul (i64.const 0) x)`).
    let Some(rt) = rt() else { return };
    let ops = [
        "(f64.mul (local.get $v) (f64.const 0))",
        "(f64.mul (local.get $v) (local.get $zero))",
        "(f64.mul (local.get $zero) (local.get $v))",
        "(f64.mul (local.get $v) (f64.convert_i64_u (i64.mul (i64.const 0) (i64.extend_i32_u (local.get $i)))))",
        "(f64.add (local.get $v) (f64.const 0))",
        "(f64.add (local.get $v) (local.get $zero))",
        "(f64.sub (local.get $v) (local.get $zero))",
        "(f64.div (local.get $v) (f64.const 0))",
        "(f64.div (f64.const 0) (local.get $v))",
        "(f64.mul (local.get $v) (f64.reinterpret_i64 (i64.reinterpret_f64 (f64.const 0))))",
        "(f64.promote_f32 (f32.mul (f32.demote_f64 (local.get $v)) (f32.const 0)))",
        "(f64.promote_f32 (f32.add (f32.demote_f64 (local.get $v)) (f32.const 0)))",
    ];
    let body: String = ops
        .iter()
        .enumerate()
        .map(|(k, e)| format!("(f64.store offset={} (local.get $o) {e})\n", k * 8))
        .collect();
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $pa i32) (param $la i32) (param $po i32) (param $lo i32)
    (local $o i32) (local $v f64) (local $zero f64)
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const {}))))
    (local.set $v (f64.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 3)))))
    {body}))"#,
        ops.len() * 8
    ));
    spirv_val(&w);
    let vs = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        1.5,
        -2.0,
    ];
    let input: Vec<u8> = vs.iter().flat_map(|v| v.to_le_bytes()).collect();
    let n = vs.len();
    let out = compare(
        rt,
        &w,
        n as u32,
        1,
        &[input, vec![0; n * ops.len() * 8]],
        &[Elem::F64, Elem::F64],
    );
    // Against Rust: inf * 0 is NaN, -0 + 0 is +0.
    let at = |k: usize, op: usize| {
        let o = (k * ops.len() + op) * 8;
        f64::from_le_bytes(out[1][o..o + 8].try_into().unwrap())
    };
    assert!(at(1, 0).is_nan());
    assert_eq!(at(3, 4).to_bits(), 0.0f64.to_bits());
}

// Found by the WebAssembly spec test suite run as kernels
// (`tests/spec_conformance.rs`, docs/conformance.md): W9 and W10.

/// conversions.wast: a trapping float -> int truncation traps with
/// "invalid conversion to integer" for NaN and "integer overflow" for an
/// out-of-range number (the translator reported both as the former; a
/// float `a != a` NaN test was folded to false by lavapipe).
#[test]
fn trunc_traps_name_nan_and_overflow_apart() {
    let w = wasm(
        r#"(module (import "env" "memory" (memory 1))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
    (i32.store (local.get $p)
      (i32.trunc_f32_s (f32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))))))"#,
    );
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    for (bits, want) in [
        (0x7fc0_0000u32, "invalid conversion to integer"),
        (0xffa0_0000, "invalid conversion to integer"),
        (0x4f00_0000, "integer overflow"), // 2^31
        (0xcf00_0001, "integer overflow"), // just below -2^31
        (0x7f80_0000, "integer overflow"), // +inf
    ] {
        let input = vec![bits.to_le_bytes().to_vec()];
        for dev in [SEQUENTIAL, rt.gpu] {
            let e = run(&rt.rt, dev, &w, 1, 1, &input).expect_err("must trap");
            assert_eq!(e.errno, Errno::KernelTrap, "{bits:#x} on {dev}: {e}");
            assert!(e.message.contains(want), "{bits:#x} on {dev}: {e}");
        }
    }
}

/// float_exprs.wast `no_fold_promote_demote`: `f32.demote_f64
/// (f64.promote_f32 x)` of a signalling NaN gives a quiet (arithmetic) NaN;
/// lavapipe folded the pair to `x` and returned the signalling NaN.
#[test]
fn promote_demote_quiets_a_signalling_nan() {
    let w = wasm(
        r#"(module (import "env" "memory" (memory 1))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
        (param $q i32) (param $lq i32)
    (local $a i32)
    (local.set $a (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))
    (f32.store (local.get $a) (f32.demote_f64 (f64.promote_f32 (f32.load (local.get $a)))))
    (local.set $a (i32.add (local.get $q) (i32.shl (local.get $i) (i32.const 3))))
    (f64.store (local.get $a) (f64.promote_f32 (f32.demote_f64 (f64.load (local.get $a)))))))"#,
    );
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let f32s: Vec<u32> = vec![
        0x7fa0_0000,
        0xffa0_0001,
        0x7fc0_0000,
        0x3f80_0000,
        0x0000_0001,
    ];
    let f64s: Vec<u64> = vec![
        0x7ff4_0000_0000_0000,
        0xfff0_0000_2000_0000,
        0x7ff8_0000_0000_0000,
        0x3ff0_0000_0000_0000,
        0x3ff0_0000_1000_0000,
    ];
    let inputs = vec![
        f32s.iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>(),
        f64s.iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>(),
    ];
    for dev in [SEQUENTIAL, rt.gpu] {
        let out = run(&rt.rt, dev, &w, 5, 1, &inputs).expect("runs");
        for (k, c) in out[0].chunks(4).enumerate() {
            let v = u32::from_le_bytes(c.try_into().unwrap());
            let nan_in = f32s[k] & 0x7fff_ffff > 0x7f80_0000;
            if nan_in {
                assert_eq!(v & 0x7fc0_0000, 0x7fc0_0000, "f32 {k} on {dev}: {v:#x}");
            } else {
                assert_eq!(v, f32s[k], "f32 {k} on {dev}");
            }
        }
        for (k, c) in out[1].chunks(8).enumerate() {
            let v = u64::from_le_bytes(c.try_into().unwrap());
            let nan_in = f64s[k] & 0x7fff_ffff_ffff_ffff > 0x7ff0_0000_0000_0000;
            let q = 0x7ff8_0000_0000_0000u64;
            if nan_in {
                assert_eq!(v & q, q, "f64 {k} on {dev}: {v:#x}");
            } else {
                let want = ((f64::from_bits(f64s[k]) as f32) as f64).to_bits();
                assert_eq!(v, want, "f64 {k} on {dev}");
            }
        }
    }
}

#[test]
fn rounding_to_a_zero_keeps_the_operands_sign() {
    // llvmpipe rounds f64 vectors wider than the CPU's rounding
    // instructions (8 x f64 without AVX-512) through an integer
    // conversion: `f64.trunc -0.5` gave +0.0 (wasm: -0.0), and so did
    // ceil and nearest of small negatives. Seen on an AMD EPYC host; on
    // AVX-512 hosts the driver's own path was right. Workaround W11.
    let Some(rt) = rt() else { return };
    let ops = ["trunc", "ceil", "floor", "nearest"];
    let mut body = String::new();
    for (k, op) in ops.iter().enumerate() {
        body.push_str(&format!(
            "(f64.store offset={} (local.get $o) (f64.{op} (local.get $d)))\n\
             (f32.store offset={} (local.get $o) (f32.{op} (local.get $f)))\n",
            k * 8,
            32 + k * 4
        ));
    }
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $pa i32) (param $la i32) (param $po i32) (param $lo i32)
    (local $d f64) (local $f f32) (local $o i32)
    (local.set $d (f64.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 3)))))
    (local.set $f (f32.demote_f64 (local.get $d)))
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 48))))
    {body}))"#
    ));
    spirv_val(&w);
    let values = [
        -0.0,
        0.0,
        -0.5,
        -0.4,
        -0.6,
        0.5,
        -1.5,
        -2.5,
        2.5,
        -1e300,
        1e-300,
        -1e-300,
        f64::NEG_INFINITY,
    ];
    let n = values.len();
    let input: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let out = compare(rt, &w, n as u32, 1, &[input, vec![0; n * 48]], &[]);
    let round = |op: &str, v: f64| match op {
        "trunc" => v.trunc(),
        "ceil" => v.ceil(),
        "floor" => v.floor(),
        _ => v.round_ties_even(),
    };
    for (k, &v) in values.iter().enumerate() {
        for (j, op) in ops.iter().enumerate() {
            let at = k * 48 + j * 8;
            let got = f64::from_le_bytes(out[1][at..at + 8].try_into().unwrap());
            assert_eq!(got.to_bits(), round(op, v).to_bits(), "f64.{op} {v}");
            let at = k * 48 + 32 + j * 4;
            let got = f32::from_le_bytes(out[1][at..at + 4].try_into().unwrap());
            let want = round(op, v as f32 as f64) as f32;
            assert_eq!(got.to_bits(), want.to_bits(), "f32.{op} {v}");
        }
    }
}
