//! Reduced regression tests for translator bugs the spec conformance suite
//! (`tests/spec_conformance.rs`) found on lavapipe, each compared with the
//! interpreter.
#![cfg(feature = "vulkan")]

mod gpu_util;
use gpu_util::*;
use wasi_parallel::parallel::Errno;

fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap_or_else(|e| panic!("{e}\n{wat}"))
}

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
