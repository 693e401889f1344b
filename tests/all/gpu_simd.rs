//! Fixed-width SIMD (`v128`) in kernels: every instruction of the proposal
//! on edge values (NaN, ±0, ±inf, ties, integer limits, unaligned
//! addresses), compared between the interpreter on the SEQUENTIAL device,
//! the CPU device and the Vulkan translator (with `spirv-val` on every
//! shader); out-of-bounds SIMD accesses trap on every device; relaxed SIMD
//! is refused with `invalid_kernel`.
#![cfg(feature = "vulkan")]

use crate::gpu_util::*;
use wasi_parallel::parallel::Errno;

/// Bytes of input per iteration: three vectors `a`, `b`, `c`; the shift
/// count and scalar operands come from `c`.
const ROW: usize = 48;

fn edge_f32() -> Vec<u32> {
    let f = |x: f32| x.to_bits();
    vec![
        f(0.0),
        f(-0.0),
        f(1.0),
        f(-1.0),
        f(0.5),
        f(1.5),
        f(2.5),
        f(-2.5),
        f(-0.5),
        f(3.5),
        f(0.49999997),
        f(8388609.0),
        f(f32::MAX),
        f(f32::MIN),
        f(f32::MIN_POSITIVE),
        1,           // smallest subnormal
        0x8000_0001, // negative subnormal
        f(f32::INFINITY),
        f(f32::NEG_INFINITY),
        0x7fc0_0000, // NaN
        0xffc0_0000, // -NaN
        0x7fa0_0001, // signalling NaN with payload
        f(2147483520.0),
        f(2147483648.0),
        f(-2147483648.0),
        f(-2147483904.0),
        f(4294967040.0),
        f(4294967296.0),
        f(-0.99),
        f(1e10),
        f(-1e10),
        f(123.456),
    ]
}

fn edge_f64() -> Vec<u64> {
    let f = |x: f64| x.to_bits();
    vec![
        f(0.0),
        f(-0.0),
        f(1.0),
        f(-1.0),
        f(0.5),
        f(1.5),
        f(2.5),
        f(-2.5),
        f(-0.5),
        f(4503599627370497.0),
        f(0.49999999999999994),
        f(f64::MAX),
        f(f64::MIN),
        f(f64::MIN_POSITIVE),
        1,
        f(f64::INFINITY),
        f(f64::NEG_INFINITY),
        0x7ff8_0000_0000_0000,
        0xfff8_0000_0000_0000,
        0x7ff4_0000_0000_0001,
        f(2147483647.0),
        f(2147483647.5),
        f(2147483648.0),
        f(-2147483648.0),
        f(-2147483648.5),
        f(-2147483649.0),
        f(4294967295.0),
        f(4294967296.0),
        f(-0.99),
        f(1e300),
        f(3.4028235677973366e38),
        f(1e-310),
    ]
}

fn edge_int(bits: u32) -> Vec<u64> {
    let m = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let top = 1u64 << (bits - 1);
    [0, 1, 2, m, m - 1, top, top - 1, top + 1, 0x55, 0xaa, 3, 7]
        .iter()
        .map(|&v| v & m)
        .collect()
}

/// One 16-byte vector: lanes of one random kind, each an edge value or
/// random bits.
fn vector(r: &mut Rng) -> [u8; 16] {
    let mut out = [0u8; 16];
    let kind = r.below(7);
    let (bits, pool): (u32, Vec<u64>) = match kind {
        0 => (32, edge_f32().into_iter().map(u64::from).collect()),
        1 => (64, edge_f64()),
        2 => (8, edge_int(8)),
        3 => (16, edge_int(16)),
        4 => (32, edge_int(32)),
        5 => (64, edge_int(64)),
        _ => (8, vec![]),
    };
    let bytes = bits as usize / 8;
    for lane in 0..16 / bytes {
        let v = if pool.is_empty() || r.below(6) == 0 {
            r.next()
        } else {
            pool[r.below(pool.len() as u64) as usize]
        };
        out[lane * bytes..(lane + 1) * bytes].copy_from_slice(&v.to_le_bytes()[..bytes]);
    }
    out
}

fn input(rows: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    let mut v = Vec::with_capacity(rows * ROW + 64);
    for _ in 0..rows * 3 {
        v.extend_from_slice(&vector(&mut r));
    }
    // Slack for the unaligned loads past the last row.
    v.extend_from_slice(&[0x5a; 64]);
    v
}

/// A kernel running each statement template for its iteration's row:
/// `{o}` is the address of the statement's 16-byte output slot, `A`, `B`,
/// `C` the row's vectors, `S` an i32 from `c`, `P` the row's address.
fn kernel(stmts: &[String]) -> (Vec<u8>, usize) {
    // One spare slot: unaligned stores reach past their own.
    let stride = (stmts.len() + 1) * 16;
    let mut body = String::new();
    for (k, s) in stmts.iter().enumerate() {
        let o = format!("(i32.add (local.get $o) (i32.const {}))", k * 16);
        body.push_str(
            &s.replace("{o}", &o)
                .replace('A', "(v128.load (local.get $p))")
                .replace('B', "(v128.load offset=16 (local.get $p))")
                .replace('C', "(v128.load offset=32 (local.get $p))")
                .replace('S', "(i32.load offset=32 (local.get $p))")
                .replace('P', "(local.get $p)"),
        );
        body.push('\n');
    }
    let src = format!(
        r#"(module (import "env" "memory" (memory 1))
  (func (export "kernel") (param $i i32) (param $n i32) (param $bs i32)
        (param $pin i32) (param $lin i32) (param $pout i32) (param $lout i32)
    (local $p i32) (local $o i32)
    (local.set $p (i32.add (local.get $pin) (i32.mul (local.get $i) (i32.const {ROW}))))
    (local.set $o (i32.add (local.get $pout) (i32.mul (local.get $i) (i32.const {stride}))))
    {body}))"#
    );
    let w = wat::parse_str(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    (w, stride)
}

fn stores(exprs: &[&str]) -> Vec<String> {
    exprs
        .iter()
        .map(|e| format!("(v128.store {{o}} {e})"))
        .collect()
}

/// Runs the statements on SEQUENTIAL, CPU and (when present) Vulkan for
/// `rows` rows and compares: CPU bit for bit, Vulkan with any NaN equal to
/// any NaN in `elem`-sized lanes.
fn check(name: &str, stmts: &[String], elem: Elem, rows: usize, seed: u64) {
    // Kernels of a few dozen operators keep shaders (and lavapipe's
    // compile times) small.
    for (i, chunk) in stmts.chunks(CHUNK).enumerate() {
        check_one(&format!("{name}#{i}"), chunk, elem, rows, seed + i as u64);
    }
}

const CHUNK: usize = 40;

fn check_one(name: &str, stmts: &[String], elem: Elem, rows: usize, seed: u64) {
    let (w, stride) = kernel(stmts);
    spirv_val(&w);
    let Some(rt) = rt() else {
        // The interpreter devices still agree with each other.
        let rt = wasi_parallel::parallel::ParallelRuntime::new(Default::default()).unwrap();
        let inp = vec![input(rows, seed), vec![0; rows * stride]];
        let s = run(&rt, SEQUENTIAL, &w, rows as u32, 1, &inp).unwrap();
        let c = run(&rt, CPU, &w, rows as u32, 1, &inp).unwrap();
        assert_eq!(s, c, "{name}: CPU differs from SEQUENTIAL");
        return;
    };
    let inp = vec![input(rows, seed), vec![0; rows * stride]];
    let s = run(&rt.rt, SEQUENTIAL, &w, rows as u32, 1, &inp)
        .unwrap_or_else(|e| panic!("{name}: interpreter: {e}"));
    let c = run(&rt.rt, CPU, &w, rows as u32, 1, &inp).unwrap();
    assert_eq!(s, c, "{name}: CPU differs from SEQUENTIAL");
    let g = run(&rt.rt, rt.gpu, &w, rows as u32, 1, &inp)
        .unwrap_or_else(|e| panic!("{name}: vulkan: {e}"));
    for row in 0..rows {
        for (k, st) in stmts.iter().enumerate() {
            let at = row * stride + k * 16;
            let (x, y) = (&s[1][at..at + 16], &g[1][at..at + 16]);
            if let Err(m) = same(x, y, elem) {
                let r = &inp[0][row * ROW..row * ROW + ROW];
                panic!("{name}: `{st}` row {row}: {m}\n  a b c = {r:02x?}\n  interpreter {x:02x?}\n  vulkan      {y:02x?}");
            }
        }
    }
}

const ROWS: usize = 96;

#[test]
fn simd_integer_ops_agree() {
    let mut e = Vec::new();
    for op in [
        "i8x16.add",
        "i8x16.add_sat_s",
        "i8x16.add_sat_u",
        "i8x16.sub",
        "i8x16.sub_sat_s",
        "i8x16.sub_sat_u",
        "i8x16.min_s",
        "i8x16.min_u",
        "i8x16.max_s",
        "i8x16.max_u",
        "i8x16.avgr_u",
        "i8x16.eq",
        "i8x16.ne",
        "i8x16.lt_s",
        "i8x16.lt_u",
        "i8x16.gt_s",
        "i8x16.gt_u",
        "i8x16.le_s",
        "i8x16.le_u",
        "i8x16.ge_s",
        "i8x16.ge_u",
        "i8x16.narrow_i16x8_s",
        "i8x16.narrow_i16x8_u",
        "i8x16.swizzle",
        "i16x8.add",
        "i16x8.add_sat_s",
        "i16x8.add_sat_u",
        "i16x8.sub",
        "i16x8.sub_sat_s",
        "i16x8.sub_sat_u",
        "i16x8.mul",
        "i16x8.min_s",
        "i16x8.min_u",
        "i16x8.max_s",
        "i16x8.max_u",
        "i16x8.avgr_u",
        "i16x8.q15mulr_sat_s",
        "i16x8.eq",
        "i16x8.ne",
        "i16x8.lt_s",
        "i16x8.lt_u",
        "i16x8.gt_s",
        "i16x8.gt_u",
        "i16x8.le_s",
        "i16x8.le_u",
        "i16x8.ge_s",
        "i16x8.ge_u",
        "i16x8.narrow_i32x4_s",
        "i16x8.narrow_i32x4_u",
        "i16x8.extmul_low_i8x16_s",
        "i16x8.extmul_high_i8x16_s",
        "i16x8.extmul_low_i8x16_u",
        "i16x8.extmul_high_i8x16_u",
        "i32x4.add",
        "i32x4.sub",
        "i32x4.mul",
        "i32x4.min_s",
        "i32x4.min_u",
        "i32x4.max_s",
        "i32x4.max_u",
        "i32x4.eq",
        "i32x4.ne",
        "i32x4.lt_s",
        "i32x4.lt_u",
        "i32x4.gt_s",
        "i32x4.gt_u",
        "i32x4.le_s",
        "i32x4.le_u",
        "i32x4.ge_s",
        "i32x4.ge_u",
        "i32x4.dot_i16x8_s",
        "i32x4.extmul_low_i16x8_s",
        "i32x4.extmul_high_i16x8_s",
        "i32x4.extmul_low_i16x8_u",
        "i32x4.extmul_high_i16x8_u",
        "i64x2.add",
        "i64x2.sub",
        "i64x2.mul",
        "i64x2.eq",
        "i64x2.ne",
        "i64x2.lt_s",
        "i64x2.gt_s",
        "i64x2.le_s",
        "i64x2.ge_s",
        "i64x2.extmul_low_i32x4_s",
        "i64x2.extmul_high_i32x4_s",
        "i64x2.extmul_low_i32x4_u",
        "i64x2.extmul_high_i32x4_u",
        "v128.and",
        "v128.or",
        "v128.xor",
        "v128.andnot",
        "f32x4.eq",
        "f32x4.ne",
        "f32x4.lt",
        "f32x4.gt",
        "f32x4.le",
        "f32x4.ge",
        "f64x2.eq",
        "f64x2.ne",
        "f64x2.lt",
        "f64x2.gt",
        "f64x2.le",
        "f64x2.ge",
    ] {
        e.push(format!("({op} A B)"));
    }
    for op in [
        "v128.not",
        "i8x16.abs",
        "i8x16.neg",
        "i8x16.popcnt",
        "i16x8.abs",
        "i16x8.neg",
        "i16x8.extend_low_i8x16_s",
        "i16x8.extend_high_i8x16_s",
        "i16x8.extend_low_i8x16_u",
        "i16x8.extend_high_i8x16_u",
        "i16x8.extadd_pairwise_i8x16_s",
        "i16x8.extadd_pairwise_i8x16_u",
        "i32x4.abs",
        "i32x4.neg",
        "i32x4.extend_low_i16x8_s",
        "i32x4.extend_high_i16x8_s",
        "i32x4.extend_low_i16x8_u",
        "i32x4.extend_high_i16x8_u",
        "i32x4.extadd_pairwise_i16x8_s",
        "i32x4.extadd_pairwise_i16x8_u",
        "i32x4.trunc_sat_f32x4_s",
        "i32x4.trunc_sat_f32x4_u",
        "i32x4.trunc_sat_f64x2_s_zero",
        "i32x4.trunc_sat_f64x2_u_zero",
        "i64x2.abs",
        "i64x2.neg",
        "i64x2.extend_low_i32x4_s",
        "i64x2.extend_high_i32x4_s",
        "i64x2.extend_low_i32x4_u",
        "i64x2.extend_high_i32x4_u",
    ] {
        e.push(format!("({op} A)"));
    }
    for op in [
        "v128.any_true",
        "i8x16.all_true",
        "i16x8.all_true",
        "i32x4.all_true",
        "i64x2.all_true",
        "i8x16.bitmask",
        "i16x8.bitmask",
        "i32x4.bitmask",
        "i64x2.bitmask",
    ] {
        e.push(format!("(i32x4.splat ({op} A))"));
    }
    for shape in ["i8x16", "i16x8", "i32x4", "i64x2"] {
        for op in ["shl", "shr_s", "shr_u"] {
            // The count from `c`: edge values, large and negative ones.
            e.push(format!("({shape}.{op} A S)"));
            e.push(format!("({shape}.{op} A (i32.and S (i32.const 0x47)))"));
        }
    }
    e.extend(
        [
            "(v128.bitselect A B C)",
            "(i8x16.swizzle A (v128.and B (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 31)))",
            "(i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31 A B)",
            "(i8x16.shuffle 31 30 29 28 3 3 3 3 16 0 16 0 7 6 5 4 A B)",
            "(i8x16.splat S)",
            "(i16x8.splat S)",
            "(i32x4.splat S)",
            "(i64x2.splat (i64.load offset=36 P))",
            "(i32x4.splat (i8x16.extract_lane_s 5 A))",
            "(i32x4.splat (i8x16.extract_lane_u 15 A))",
            "(i32x4.splat (i16x8.extract_lane_s 3 A))",
            "(i32x4.splat (i16x8.extract_lane_u 7 A))",
            "(i32x4.splat (i32x4.extract_lane 2 A))",
            "(i64x2.splat (i64x2.extract_lane 1 A))",
            "(f32x4.splat (f32x4.extract_lane 3 A))",
            "(f64x2.splat (f64x2.extract_lane 1 A))",
            "(i8x16.replace_lane 3 A S)",
            "(i16x8.replace_lane 6 A S)",
            "(i32x4.replace_lane 1 A S)",
            "(i64x2.replace_lane 0 A (i64.load offset=40 P))",
            "(f32x4.replace_lane 2 A (f32.load offset=44 P))",
            "(f64x2.replace_lane 1 A (f64.load offset=40 P))",
            "(v128.const i32x4 0x7fc00000 0x80000000 0xffffffff 0x01020304)",
            "(v128.xor A (v128.const i64x2 0x8000000000000000 -1))",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let stmts = stores(&e.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    check("integer", &stmts, Elem::Bytes, ROWS, 11);
}

#[test]
fn simd_float_ops_agree() {
    let mut e32 = Vec::new();
    let mut e64 = Vec::new();
    for op in ["add", "sub", "mul", "div", "min", "max", "pmin", "pmax"] {
        e32.push(format!("(f32x4.{op} A B)"));
        e64.push(format!("(f64x2.{op} A B)"));
        // Same operands: min/max of equal values and zeros of both signs.
        e32.push(format!("(f32x4.{op} A (f32x4.neg A))"));
        e64.push(format!("(f64x2.{op} A (f64x2.neg A))"));
    }
    for op in ["abs", "neg", "sqrt", "ceil", "floor", "trunc", "nearest"] {
        e32.push(format!("(f32x4.{op} A)"));
        e64.push(format!("(f64x2.{op} A)"));
    }
    e32.extend(
        [
            "(f32x4.convert_i32x4_s A)",
            "(f32x4.convert_i32x4_u A)",
            "(f32x4.demote_f64x2_zero A)",
            "(f32x4.splat (f32.load offset=32 P))",
            "(f32x4.add A (v128.const f32x4 0 -0 inf nan))",
            "(f32x4.mul A (v128.const f32x4 0 -0 1 -1))",
            "(f32x4.div A (v128.const f32x4 0 -0 inf -inf))",
            "(f32x4.add (v128.const f32x4 0.5 1.5 2.5 -2.5) (f32x4.nearest (v128.const f32x4 0.5 1.5 2.5 -2.5)))",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    e64.extend(
        [
            "(f64x2.convert_low_i32x4_s A)",
            "(f64x2.convert_low_i32x4_u A)",
            "(f64x2.promote_low_f32x4 A)",
            "(f64x2.splat (f64.load offset=32 P))",
            "(f64x2.add A (v128.const f64x2 -0 nan))",
            "(f64x2.mul A (v128.const f64x2 0 -0))",
            "(f64x2.div A (v128.const f64x2 0 -0))",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let s32 = stores(&e32.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    check("f32x4", &s32, Elem::F32, ROWS, 12);
    let s64 = stores(&e64.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    check("f64x2", &s64, Elem::F64, ROWS, 13);
}

#[test]
fn simd_memory_ops_agree() {
    let mut e: Vec<String> = Vec::new();
    for off in [0, 1, 2, 3, 4, 7, 13] {
        e.push(format!("(v128.store {{o}} (v128.load offset={off} P))"));
    }
    for op in [
        "v128.load8x8_s",
        "v128.load8x8_u",
        "v128.load16x4_s",
        "v128.load16x4_u",
        "v128.load32x2_s",
        "v128.load32x2_u",
        "v128.load8_splat",
        "v128.load16_splat",
        "v128.load32_splat",
        "v128.load64_splat",
        "v128.load32_zero",
        "v128.load64_zero",
    ] {
        for off in [0, 3, 6] {
            e.push(format!("(v128.store {{o}} ({op} offset={off} P))"));
        }
    }
    for (op, lanes) in [
        ("v128.load8_lane", 16),
        ("v128.load16_lane", 8),
        ("v128.load32_lane", 4),
        ("v128.load64_lane", 2),
    ] {
        for off in [1, 4] {
            e.push(format!(
                "(v128.store {{o}} ({op} offset={off} {} P B))",
                lanes - 1
            ));
        }
    }
    for (op, lanes) in [
        ("v128.store8_lane", 16),
        ("v128.store16_lane", 8),
        ("v128.store32_lane", 4),
        ("v128.store64_lane", 2),
    ] {
        e.push(format!("({op} offset=3 {} {{o}} A)", lanes - 1));
        e.push(format!("({op} 0 {{o}} A)"));
    }
    // Unaligned v128 stores (into the slot and the next one, which comes
    // later in the same iteration or is the spare).
    e.push("(v128.store offset=5 {o} B)".into());
    e.push("(v128.store offset=2 {o} A)".into());
    check("memory", &e, Elem::Bytes, ROWS, 14);
}

#[test]
fn simd_out_of_bounds_accesses_trap_on_every_device() {
    // Iteration i accesses 16 bytes at `memory end - 16 + i`: i = 0 is in
    // bounds, the others trap.
    for (name, stmt) in [
        ("v128.load", "(drop (v128.load (local.get $a)))"),
        (
            "v128.store",
            "(v128.store (local.get $a) (v128.const i32x4 1 2 3 4))",
        ),
        (
            "v128.load64_lane",
            "(drop (v128.load64_lane offset=8 0 (local.get $a) (v128.const i32x4 0 0 0 0)))",
        ),
        (
            "v128.store32_lane",
            "(v128.store32_lane offset=12 3 (local.get $a) (v128.const i32x4 0 0 0 0))",
        ),
        (
            "v128.load64_splat",
            "(drop (v128.load64_splat offset=8 (local.get $a)))",
        ),
    ] {
        let src = format!(
            r#"(module (import "env" "memory" (memory 1))
  (func (export "kernel") (param $i i32) (param $n i32) (param $bs i32) (param $p i32) (param $l i32)
    (local $a i32)
    (local.set $a (i32.add (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 16)) (local.get $i)))
    {stmt}))"#
        );
        let w = wat::parse_str(&src).unwrap();
        spirv_val(&w);
        let rt_local;
        let (rt, gpu) = match rt() {
            Some(r) => (&r.rt, Some(r.gpu)),
            None => {
                rt_local = std::sync::Arc::new(
                    wasi_parallel::parallel::ParallelRuntime::new(Default::default()).unwrap(),
                );
                (&rt_local, None)
            }
        };
        for dev in [Some(SEQUENTIAL), Some(CPU), gpu].into_iter().flatten() {
            // One iteration in bounds, then traps.
            let ok = run(rt, dev, &w, 1, 1, &[vec![0; 64]]);
            assert!(ok.is_ok(), "{name} device {dev}: {:?}", ok.err());
            let e = run(rt, dev, &w, 4, 1, &[vec![0; 64]]).unwrap_err();
            assert_eq!(e.errno, Errno::KernelTrap, "{name} device {dev}: {e}");
        }
    }
}

#[test]
fn relaxed_simd_is_refused_as_invalid_kernel() {
    let w = wat::parse_str(
        r#"(module (import "env" "memory" (memory 1))
  (func (export "kernel") (param i32 i32 i32 i32 i32)
    (v128.store (local.get 3)
      (f32x4.relaxed_madd (v128.load (local.get 3)) (v128.load (local.get 3)) (v128.load (local.get 3))))))"#,
    )
    .unwrap();
    let rt = wasi_parallel::parallel::ParallelRuntime::new(Default::default()).unwrap();
    let e = run(&rt, SEQUENTIAL, &w, 1, 1, &[vec![0; 16]]).unwrap_err();
    assert_eq!(e.errno, Errno::InvalidKernel, "{e}");
    assert!(e.to_string().contains("relaxed SIMD"), "{e}");
}

#[test]
fn simd_ops_match_a_rust_reference() {
    // A few lanes whose wasm results are easy to get wrong, against Rust.
    let (w, stride) = kernel(&stores(&[
        "(f32x4.nearest A)",
        "(f32x4.min A B)",
        "(i8x16.add_sat_s A B)",
        "(i16x8.q15mulr_sat_s A B)",
        "(i32x4.trunc_sat_f32x4_u A)",
        "(i8x16.shr_s A S)",
    ]));
    let a: [f32; 4] = [2.5, -0.5, -0.0, 3.5];
    let b: [f32; 4] = [f32::NAN, 0.0, 0.0, -1.0];
    let mut row = Vec::new();
    a.iter().for_each(|x| row.extend(x.to_le_bytes()));
    b.iter().for_each(|x| row.extend(x.to_le_bytes()));
    row.extend(9u32.to_le_bytes()); // shift count 9 -> 1 for i8 lanes
    row.extend([0u8; 12]);
    row.extend([0u8; 64]);
    let (ab, bb) = (row[..16].to_vec(), row[16..32].to_vec());
    let rt = std::sync::Arc::new(
        wasi_parallel::parallel::ParallelRuntime::new(Default::default()).unwrap(),
    );
    let mut devs = vec![(rt.clone(), SEQUENTIAL), (rt.clone(), CPU)];
    if let Some(g) = crate::gpu_util::rt() {
        devs.push((g.rt.clone(), g.gpu));
    }
    for (rt, dev) in devs {
        let out = run(&rt, dev, &w, 1, 1, &[row.clone(), vec![0; stride]]).unwrap();
        let o = &out[1];
        let f = |k: usize, l: usize| {
            f32::from_le_bytes(o[k * 16 + 4 * l..k * 16 + 4 * l + 4].try_into().unwrap())
        };
        for (l, x) in a.iter().enumerate() {
            let want = x.round_ties_even();
            assert_eq!(
                f(0, l).to_bits(),
                want.to_bits(),
                "nearest lane {l} dev {dev}"
            );
        }
        assert!(f(1, 0).is_nan(), "min with NaN, dev {dev}");
        assert_eq!(f(1, 1).to_bits(), (-0.5f32).to_bits());
        assert_eq!(
            f(1, 2).to_bits(),
            (-0.0f32).to_bits(),
            "min(-0, +0) = -0, dev {dev}"
        );
        for l in 0..16 {
            let (x, y) = (ab[l] as i8, bb[l] as i8);
            assert_eq!(
                o[32 + l] as i8,
                x.saturating_add(y),
                "add_sat_s lane {l} dev {dev}"
            );
            assert_eq!(o[80 + l] as i8, x >> 1, "shr_s lane {l} dev {dev}");
        }
        for l in 0..8 {
            let x = i16::from_le_bytes([ab[2 * l], ab[2 * l + 1]]) as i32;
            let y = i16::from_le_bytes([bb[2 * l], bb[2 * l + 1]]) as i32;
            let want = ((x * y + 0x4000) >> 15).clamp(-32768, 32767) as i16;
            let got = i16::from_le_bytes([o[48 + 2 * l], o[49 + 2 * l]]);
            assert_eq!(got, want, "q15mulr lane {l} dev {dev}");
        }
        for l in 0..4 {
            let got = u32::from_le_bytes(o[64 + 4 * l..68 + 4 * l].try_into().unwrap());
            assert_eq!(got, a[l] as u32, "trunc_sat_u lane {l} dev {dev}");
        }
    }
}

#[test]
fn v128_values_in_locals_blocks_selects_loops_and_calls() {
    let src = r#"(module (import "env" "memory" (memory 1))
  (func $mix (param $a v128) (param $b v128) (param $k i32) (result v128)
    (local $t v128)
    (local.set $t (i32x4.add (local.get $a) (local.get $b)))
    (block (result v128)
      (br_if 0 (i8x16.swizzle (local.get $t) (local.get $a)) (i32.and (local.get $k) (i32.const 1)))
      (drop)
      (select (local.get $t) (local.get $b) (i32.and (local.get $k) (i32.const 2)))))
  (func (export "kernel") (param $i i32) (param $n i32) (param $bs i32)
        (param $pin i32) (param $lin i32) (param $pout i32) (param $lout i32)
    (local $acc v128) (local $j i32) (local $p i32)
    (local.set $p (i32.add (local.get $pin) (i32.mul (local.get $i) (i32.const 48))))
    (local.set $acc (v128.load offset=32 (local.get $p)))
    (loop $l
      (local.set $acc
        (call $mix (local.get $acc) (v128.load offset=3 (local.get $p)) (i32.add (local.get $i) (local.get $j))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $j) (i32.const 5))))
    (v128.store (i32.add (local.get $pout) (i32.shl (local.get $i) (i32.const 4))) (local.get $acc))))"#;
    let w = wat::parse_str(src).unwrap();
    spirv_val(&w);
    let rows = 64;
    let inp = [input(rows, 21), vec![0; rows * 16]];
    let local = wasi_parallel::parallel::ParallelRuntime::new(Default::default()).unwrap();
    let s = run(&local, SEQUENTIAL, &w, rows as u32, 1, &inp).unwrap();
    let c = run(&local, CPU, &w, rows as u32, 1, &inp).unwrap();
    assert_eq!(s, c, "CPU differs from SEQUENTIAL");
    if let Some(rt) = rt() {
        let g = run(&rt.rt, rt.gpu, &w, rows as u32, 1, &inp).unwrap();
        assert_eq!(s[1], g[1], "Vulkan differs from the interpreter");
    }
}
