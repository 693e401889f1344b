//! The wasm → SPIR-V translator against the wasmi interpreter: each opcode
//! group runs as a kernel on the SEQUENTIAL device (wasmi) and on Vulkan
//! (lavapipe in CI) over edge values, and the buffers must agree bit for
//! bit (any NaN equals any NaN). Every kernel's SPIR-V also goes through
//! `spirv-val`.
#![cfg(feature = "vulkan")]

use crate::gpu_util::*;

fn size_of(ty: &str) -> u32 {
    if ty.ends_with("64") {
        8
    } else {
        4
    }
}

fn elem_of(ty: &str) -> Elem {
    match ty {
        "f32" => Elem::F32,
        "f64" => Elem::F64,
        _ => Elem::Bytes,
    }
}

/// A kernel applying each of `ops` (binary when `arity == 2`) to element i
/// of the input buffer(s), writing result j of iteration i to out[i*len+j].
fn op_kernel(in_ty: &str, out_ty: &str, arity: usize, ops: &[&str]) -> Vec<u8> {
    let si = size_of(in_ty);
    let so = size_of(out_ty);
    let mut body = String::new();
    for (j, op) in ops.iter().enumerate() {
        let a = format!(
            "({in_ty}.load (i32.add (local.get $pa) (i32.mul (local.get $i) (i32.const {si}))))"
        );
        let b = format!(
            "({in_ty}.load (i32.add (local.get $pb) (i32.mul (local.get $i) (i32.const {si}))))"
        );
        let args = if arity == 2 { format!("{a} {b}") } else { a };
        body.push_str(&format!(
            "({out_ty}.store (i32.add (local.get $po) (i32.mul (i32.add (i32.mul (local.get $i) (i32.const {n})) (i32.const {j})) (i32.const {so}))) ({op} {args}))\n",
            n = ops.len()
        ));
    }
    let wat = format!(
        r#"(module (import "env" "memory" (memory 1))
  (func (export "kernel") (param $i i32) (param $n i32) (param $bs i32)
    (param $pa i32) (param $la i32) (param $pb i32) (param $lb i32) (param $po i32) (param $lo i32)
    {body}))"#
    );
    wat::parse_str(&wat).unwrap_or_else(|e| panic!("{e}\n{wat}"))
}

fn i32_edges() -> Vec<u64> {
    [
        0u32,
        1,
        2,
        7,
        31,
        32,
        33,
        63,
        64,
        0xFFFF_FFFF,
        0xFFFF_FFF9,
        0x8000_0000,
        0x7FFF_FFFF,
        0x8000_0001,
        0x1234_5678,
        0xDEAD_BEEF,
    ]
    .iter()
    .map(|&v| v as u64)
    .collect()
}

fn i64_edges() -> Vec<u64> {
    vec![
        0,
        1,
        2,
        7,
        31,
        32,
        63,
        64,
        65,
        u64::MAX,
        u64::MAX - 6,
        1 << 63,
        (1 << 63) - 1,
        0x1234_5678_9ABC_DEF0,
        0xFFFF_FFFF,
        0x1_0000_0000,
    ]
}

fn f32_edges() -> Vec<u64> {
    [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1.5,
        2.5,
        -2.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-45,
        -1e-40,
        f32::MIN_POSITIVE,
        f32::MAX,
        2147483648.0,
        -2147483648.0,
        4294967040.0,
        3.7,
        -0.3,
        16777217.0,
        1e30,
    ]
    .iter()
    .map(|v| v.to_bits() as u64)
    .collect()
}

fn f64_edges() -> Vec<u64> {
    [
        0.0f64,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1.5,
        2.5,
        -2.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        5e-324,
        -1e-310,
        f64::MIN_POSITIVE,
        f64::MAX,
        2147483648.0,
        -2147483649.0,
        4294967295.5,
        9223372036854775807.0,
        -9223372036854775808.0,
        3.7,
        -0.3,
        1e300,
    ]
    .iter()
    .map(|v| v.to_bits())
    .collect()
}

fn encode(vals: &[u64], size: u32) -> Vec<u8> {
    vals.iter()
        .flat_map(|v| v.to_le_bytes()[..size as usize].to_vec())
        .collect()
}

/// Runs `ops` over all pairs (or all values) of `edges` filtered by `keep`.
fn check_ops(
    in_ty: &str,
    out_ty: &str,
    arity: usize,
    ops: &[&str],
    edges: &[u64],
    keep: impl Fn(u64, u64) -> bool,
) {
    let wasm = op_kernel(in_ty, out_ty, arity, ops);
    spirv_val(&wasm);
    let Some(rt) = rt() else { return };
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &x in edges {
        if arity == 1 {
            if keep(x, 0) {
                xs.push(x);
                ys.push(0);
            }
            continue;
        }
        for &y in edges {
            if keep(x, y) {
                xs.push(x);
                ys.push(y);
            }
        }
    }
    let n = xs.len() as u32;
    let si = size_of(in_ty);
    let out = vec![0xA5u8; (n * ops.len() as u32 * size_of(out_ty)) as usize];
    compare(
        rt,
        &wasm,
        n,
        1,
        &[encode(&xs, si), encode(&ys, si), out],
        &[Elem::Bytes, Elem::Bytes, elem_of(out_ty)],
    );
}

const ALL: fn(u64, u64) -> bool = |_, _| true;

#[test]
fn i32_binary() {
    check_ops(
        "i32",
        "i32",
        2,
        &[
            "i32.add",
            "i32.sub",
            "i32.mul",
            "i32.and",
            "i32.or",
            "i32.xor",
            "i32.shl",
            "i32.shr_s",
            "i32.shr_u",
            "i32.rotl",
            "i32.rotr",
            "i32.eq",
            "i32.ne",
            "i32.lt_s",
            "i32.lt_u",
            "i32.gt_s",
            "i32.gt_u",
            "i32.le_s",
            "i32.le_u",
            "i32.ge_s",
            "i32.ge_u",
        ],
        &i32_edges(),
        ALL,
    );
}

#[test]
fn i32_division_without_traps() {
    check_ops(
        "i32",
        "i32",
        2,
        &["i32.div_s", "i32.div_u", "i32.rem_s", "i32.rem_u"],
        &i32_edges(),
        |a, b| b as u32 != 0 && !(a as u32 == 0x8000_0000 && b as u32 == u32::MAX),
    );
    // INT_MIN rem -1 is 0, not a trap.
    check_ops("i32", "i32", 2, &["i32.rem_s"], &i32_edges(), |_, b| {
        b as u32 != 0
    });
}

#[test]
fn i64_binary() {
    check_ops(
        "i64",
        "i64",
        2,
        &[
            "i64.add",
            "i64.sub",
            "i64.mul",
            "i64.and",
            "i64.or",
            "i64.xor",
            "i64.shl",
            "i64.shr_s",
            "i64.shr_u",
            "i64.rotl",
            "i64.rotr",
        ],
        &i64_edges(),
        ALL,
    );
    check_ops(
        "i64",
        "i32",
        2,
        &[
            "i64.eq", "i64.ne", "i64.lt_s", "i64.lt_u", "i64.gt_s", "i64.gt_u", "i64.le_s",
            "i64.le_u", "i64.ge_s", "i64.ge_u",
        ],
        &i64_edges(),
        ALL,
    );
    check_ops(
        "i64",
        "i64",
        2,
        &["i64.div_s", "i64.div_u", "i64.rem_s", "i64.rem_u"],
        &i64_edges(),
        |a, b| b != 0 && !(a == 1 << 63 && b == u64::MAX),
    );
}

#[test]
fn integer_unary() {
    check_ops(
        "i32",
        "i32",
        1,
        &[
            "i32.clz",
            "i32.ctz",
            "i32.popcnt",
            "i32.eqz",
            "i32.extend8_s",
            "i32.extend16_s",
        ],
        &i32_edges(),
        ALL,
    );
    check_ops(
        "i64",
        "i64",
        1,
        &[
            "i64.clz",
            "i64.ctz",
            "i64.popcnt",
            "i64.extend8_s",
            "i64.extend16_s",
            "i64.extend32_s",
        ],
        &i64_edges(),
        ALL,
    );
    check_ops(
        "i64",
        "i32",
        1,
        &["i64.eqz", "i32.wrap_i64"],
        &i64_edges(),
        ALL,
    );
    check_ops(
        "i32",
        "i64",
        1,
        &["i64.extend_i32_s", "i64.extend_i32_u"],
        &i32_edges(),
        ALL,
    );
}

#[test]
fn f32_ops() {
    check_ops(
        "f32",
        "f32",
        2,
        &[
            "f32.add",
            "f32.sub",
            "f32.mul",
            "f32.div",
            "f32.min",
            "f32.max",
            "f32.copysign",
        ],
        &f32_edges(),
        ALL,
    );
    check_ops(
        "f32",
        "i32",
        2,
        &["f32.eq", "f32.ne", "f32.lt", "f32.gt", "f32.le", "f32.ge"],
        &f32_edges(),
        ALL,
    );
    check_ops(
        "f32",
        "f32",
        1,
        &[
            "f32.abs",
            "f32.neg",
            "f32.sqrt",
            "f32.ceil",
            "f32.floor",
            "f32.trunc",
            "f32.nearest",
        ],
        &f32_edges(),
        ALL,
    );
}

#[test]
fn f64_ops() {
    check_ops(
        "f64",
        "f64",
        2,
        &[
            "f64.add",
            "f64.sub",
            "f64.mul",
            "f64.div",
            "f64.min",
            "f64.max",
            "f64.copysign",
        ],
        &f64_edges(),
        ALL,
    );
    check_ops(
        "f64",
        "i32",
        2,
        &["f64.eq", "f64.ne", "f64.lt", "f64.gt", "f64.le", "f64.ge"],
        &f64_edges(),
        ALL,
    );
    check_ops(
        "f64",
        "f64",
        1,
        &[
            "f64.abs",
            "f64.neg",
            "f64.sqrt",
            "f64.ceil",
            "f64.floor",
            "f64.trunc",
            "f64.nearest",
        ],
        &f64_edges(),
        ALL,
    );
}

fn f32_in(lo: f64, hi: f64) -> impl Fn(u64, u64) -> bool {
    move |x, _| {
        let v = f32::from_bits(x as u32) as f64;
        v > lo && v < hi
    }
}
fn f64_in(lo: f64, hi: f64) -> impl Fn(u64, u64) -> bool {
    move |x, _| {
        let v = f64::from_bits(x);
        v > lo && v < hi
    }
}

#[test]
fn conversions() {
    // Saturating conversions take every edge value.
    check_ops(
        "f32",
        "i32",
        1,
        &[
            "i32.trunc_sat_f32_s",
            "i32.trunc_sat_f32_u",
            "i32.reinterpret_f32",
        ],
        &f32_edges(),
        ALL,
    );
    check_ops(
        "f32",
        "i64",
        1,
        &["i64.trunc_sat_f32_s", "i64.trunc_sat_f32_u"],
        &f32_edges(),
        ALL,
    );
    check_ops(
        "f64",
        "i32",
        1,
        &["i32.trunc_sat_f64_s", "i32.trunc_sat_f64_u"],
        &f64_edges(),
        ALL,
    );
    check_ops(
        "f64",
        "i64",
        1,
        &[
            "i64.trunc_sat_f64_s",
            "i64.trunc_sat_f64_u",
            "i64.reinterpret_f64",
        ],
        &f64_edges(),
        ALL,
    );
    // Trapping conversions on values in range.
    check_ops(
        "f32",
        "i32",
        1,
        &["i32.trunc_f32_s"],
        &f32_edges(),
        f32_in(-2147483904.0, 2147483648.0),
    );
    check_ops(
        "f32",
        "i32",
        1,
        &["i32.trunc_f32_u"],
        &f32_edges(),
        f32_in(-1.0, 4294967296.0),
    );
    check_ops(
        "f64",
        "i32",
        1,
        &["i32.trunc_f64_s"],
        &f64_edges(),
        f64_in(-2147483649.0, 2147483648.0),
    );
    check_ops(
        "f64",
        "i32",
        1,
        &["i32.trunc_f64_u"],
        &f64_edges(),
        f64_in(-1.0, 4294967296.0),
    );
    check_ops(
        "f32",
        "i64",
        1,
        &["i64.trunc_f32_s"],
        &f32_edges(),
        f32_in(-9.3e18, 9.2e18),
    );
    check_ops(
        "f64",
        "i64",
        1,
        &["i64.trunc_f64_u"],
        &f64_edges(),
        f64_in(-1.0, 1.8e19),
    );
    check_ops("f64", "f32", 1, &["f32.demote_f64"], &f64_edges(), ALL);
    check_ops("f32", "f64", 1, &["f64.promote_f32"], &f32_edges(), ALL);
    check_ops(
        "i32",
        "f32",
        1,
        &[
            "f32.convert_i32_s",
            "f32.convert_i32_u",
            "f32.reinterpret_i32",
        ],
        &i32_edges(),
        ALL,
    );
    check_ops(
        "i32",
        "f64",
        1,
        &["f64.convert_i32_s", "f64.convert_i32_u"],
        &i32_edges(),
        ALL,
    );
    check_ops(
        "i64",
        "f32",
        1,
        &["f32.convert_i64_s", "f32.convert_i64_u"],
        &i64_edges(),
        ALL,
    );
    check_ops(
        "i64",
        "f64",
        1,
        &[
            "f64.convert_i64_s",
            "f64.convert_i64_u",
            "f64.reinterpret_i64",
        ],
        &i64_edges(),
        ALL,
    );
}

#[test]
fn no_fma_contraction() {
    // a*b + c rounded twice, as wasm requires; an FMA would round once.
    let w = wat::parse_str(
        r#"(module (import "env" "memory" (memory 1))
  (func (export "kernel") (param $i i32) (param $n i32) (param $bs i32)
    (param $pa i32) (param $la i32) (param $po i32) (param $lo i32)
    (local $a f32) (local $b f32) (local $o i32)
    (local.set $a (f32.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 3)))))
    (local.set $b (f32.load offset=4 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 3)))))
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 24))))
    (f32.store (local.get $o) (f32.add (f32.mul (local.get $a) (local.get $b)) (f32.const 0.1)))
    (f32.store offset=4 (local.get $o) (f32.sub (f32.mul (local.get $a) (local.get $a)) (f32.mul (local.get $b) (local.get $b))))
    (f32.store offset=8 (local.get $o) (f32.add (f32.mul (f32.mul (f32.const 2) (local.get $a)) (local.get $b)) (local.get $a)))
    (f64.store offset=16 (local.get $o) (f64.add (f64.mul (f64.promote_f32 (local.get $a)) (f64.promote_f32 (local.get $b))) (f64.const 0.3)))))"#,
    )
    .unwrap();
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let n = 4096u32;
    let mut r = Rng(99);
    let input: Vec<u8> = (0..2 * n)
        .flat_map(|_| ((r.next() % 2_000_000) as f32 / 1_000_000.0 - 1.0).to_le_bytes())
        .collect();
    compare(rt, &w, n, 1, &[input, vec![0; n as usize * 24]], &[]);
}
