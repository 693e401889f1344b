//! Memory, control flow, calls, globals, data segments, traps and fuel on
//! Vulkan, compared with the interpreter (or checked for the trap), plus a
//! seeded random kernel generator.
#![cfg(feature = "vulkan")]

mod gpu_util;
use gpu_util::*;
use wasi_parallel::parallel::Errno;

fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap_or_else(|e| panic!("{e}\n{wat}"))
}

fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..n).map(|_| r.next() as u8).collect()
}

const HDR: &str = r#"(import "env" "memory" (memory 1))"#;

#[test]
fn sub_word_and_unaligned_stores_do_not_clobber_neighbours() {
    // Adjacent invocations write neighbouring bytes / halves / unaligned words.
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $pa i32) (param $la i32) (param $p8 i32) (param $l8 i32)
        (param $p16 i32) (param $l16 i32) (param $p32 i32) (param $l32 i32) (param $p64 i32) (param $l64 i32)
    (i32.store8 (i32.add (local.get $p8) (local.get $i))
      (i32.load8_u (i32.add (local.get $pa) (local.get $i))))
    (i32.store16 offset=1 (i32.add (local.get $p16) (i32.shl (local.get $i) (i32.const 1)))
      (i32.load16_s offset=1 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 1)))))
    (i32.store offset=3 (i32.add (local.get $p32) (i32.shl (local.get $i) (i32.const 2)))
      (i32.load offset=1 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2)))))
    (i64.store offset=5 (i32.add (local.get $p64) (i32.shl (local.get $i) (i32.const 3)))
      (i64.add (i64.load offset=3 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 3))))
               (i64.load8_s offset=2 (local.get $pa))))
    (i64.store8 offset=7 (local.get $p64) (i64.load16_u offset=5 (local.get $pa)))))"#
    ));
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let n = 1000u32;
    compare(
        rt,
        &w,
        n,
        1,
        &[
            bytes(8 * 1000 + 16, 3),
            bytes(1000, 4),
            bytes(2003, 5),
            bytes(4008, 6),
            bytes(8016, 7),
        ],
        &[],
    );
}

#[test]
fn control_flow_multi_level_exits_br_table_and_results() {
    let w = wasm(&format!(
        r#"(module {HDR}
  (func $classify (param $x i32) (result i32)
    (block $d (block $c (block $b (block $a
      (br_table $a $b $c $b $d (i32.and (local.get $x) (i32.const 7))))
      (return (i32.const 10)))
      (return (i32.const 20)))
      (return (i32.mul (local.get $x) (i32.const 3))))
    (i32.const 40))
  (func $nested (param $x i32) (result i32)
    (local $i i32) (local $j i32) (local $acc i32)
    (block $done
      (loop $outer
        (local.set $j (i32.const 0))
        (block $inner_done
          (loop $inner
            (local.set $acc (i32.add (local.get $acc) (i32.xor (local.get $i) (local.get $j))))
            ;; exit both loops from the inner one
            (br_if $done (i32.gt_u (local.get $acc) (i32.add (local.get $x) (i32.const 500))))
            ;; continue the outer loop from the inner one
            (if (i32.eq (local.get $j) (i32.and (local.get $x) (i32.const 3)))
              (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $outer)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $inner (i32.lt_u (local.get $j) (i32.const 9)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $outer (i32.lt_u (local.get $i) (i32.const 40)))))
    (local.get $acc))
  (func $ifs (param $x i32) (result i32)
    (if (result i32) (i32.and (local.get $x) (i32.const 1))
      (then (block (result i32)
        (br_if 0 (i32.const 5) (i32.and (local.get $x) (i32.const 2)))
        (drop) (i32.const 6)))
      (else (select (i32.const 7) (i32.const 8) (i32.and (local.get $x) (i32.const 4))))))
  (func $early (param $x i32) (result i32)
    (local $k i32)
    (loop $l
      (if (i32.ge_u (local.get $k) (local.get $x)) (then (return (i32.mul (local.get $k) (i32.const 2)))))
      (local.set $k (i32.add (local.get $k) (i32.const 3)))
      (br $l))
    (unreachable))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $o i32)
    (local.set $o (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 4))))
    (i32.store (local.get $o) (call $classify (local.get $i)))
    (i32.store offset=4 (local.get $o) (call $nested (local.get $i)))
    (i32.store offset=8 (local.get $o) (call $ifs (local.get $i)))
    (i32.store offset=12 (local.get $o) (call $early (i32.rem_u (local.get $i) (i32.const 50))))))"#
    ));
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    compare(rt, &w, 300, 1, &[vec![0; 300 * 16]], &[]);
}

#[test]
fn globals_are_private_memory_size_and_data_segments() {
    let w = wasm(
        r#"(module (import "env" "memory" (memory 2))
  (global $g (mut i32) (i32.const 100))
  (global $f (mut f64) (f64.const -0.5))
  (global $k i64 (i64.const 0x123456789))
  (data (i32.const 8) "\01\02\03\04\05\06\07\08\09")
  (data (i32.const 70000) "hello")
  (func $bump (param $x i32)
    (global.set $g (i32.add (global.get $g) (local.get $x)))
    (global.set $f (f64.mul (global.get $f) (f64.const 3))))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $o i32)
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 32))))
    ;; CPU workers keep globals between iterations, GPU invocations start
    ;; fresh: only state set in this iteration is compared.
    (global.set $g (i32.const 100))
    (global.set $f (f64.const -0.5))
    (call $bump (local.get $i))
    (call $bump (i32.const 1))
    (i32.store (local.get $o) (global.get $g))
    (f64.store offset=4 (local.get $o) (global.get $f))
    (i64.store offset=12 (local.get $o) (global.get $k))
    (i32.store offset=20 (local.get $o) (memory.size))
    (i32.store offset=24 (local.get $o) (i32.load offset=9 (i32.and (local.get $i) (i32.const 3))))
    (i32.store8 offset=28 (local.get $o) (i32.load8_u offset=70000 (i32.rem_u (local.get $i) (i32.const 5))))
    (i32.store16 offset=29 (local.get $o) (local.get $b))))"#,
    );
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let out = compare(rt, &w, 200, 77, &[vec![0; 200 * 32]], &[]);
    // The interpreter itself must show per-invocation globals.
    assert_eq!(u32::from_le_bytes(out[0][32..36].try_into().unwrap()), 102);
}

#[test]
fn duplicate_buffers_are_mapped_once() {
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $p0 i32) (param $l0 i32) (param $p1 i32) (param $l1 i32) (param $p2 i32) (param $l2 i32)
    (i32.store (i32.add (local.get $p2) (i32.shl (local.get $i) (i32.const 2)))
      (i32.add (i32.add (local.get $l0) (i32.sub (local.get $p1) (local.get $p0)))
               (i32.load (i32.add (local.get $p1) (i32.shl (local.get $i) (i32.const 2))))))))"#
    ));
    let Some(rt) = rt() else { return };
    let inputs = [bytes(4096, 9), vec![0u8; 4096]];
    let aliases = [0, 0, 1];
    let r = run_aliased(&rt.rt, SEQUENTIAL, &w, 1024, 1, &inputs, &aliases).unwrap();
    let g = run_aliased(&rt.rt, rt.gpu, &w, 1024, 1, &inputs, &aliases).unwrap();
    assert_eq!(r, g);
}

fn expect_trap(rt: &Rt, w: &[u8], n: u32, inputs: &[Vec<u8>]) {
    for dev in [SEQUENTIAL, rt.gpu] {
        match run(&rt.rt, dev, w, n, 1, inputs) {
            Err(e) => assert_eq!(e.errno, Errno::KernelTrap, "device {dev}: {e}"),
            Ok(_) => panic!("device {dev}: expected a trap"),
        }
    }
}

#[test]
fn traps() {
    let Some(rt) = rt() else { return };
    let body = |e: &str| {
        wasm(&format!(
            r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
    (local $x i32)
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (i32.const 1))
    (if (i32.eq (local.get $i) (i32.const 37)) (then {e}))))"#
        ))
    };
    let cases = [
        "(drop (i32.load (i32.const -4)))",
        "(drop (i32.load offset=4294967295 (i32.const 1)))",
        "(i64.store (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 7)) (i64.const 1))",
        "(drop (i32.load16_u (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))))",
        "(drop (i32.div_s (local.get $i) (local.get $x)))",
        "(drop (i32.div_u (local.get $i) (local.get $x)))",
        "(drop (i32.rem_s (local.get $i) (local.get $x)))",
        "(drop (i64.div_s (i64.const 0x8000000000000000) (i64.const -1)))",
        "(drop (i32.div_s (i32.const 0x80000000) (i32.sub (local.get $x) (i32.const 1))))",
        "(unreachable)",
        "(drop (i32.trunc_f32_s (f32.const nan)))",
        "(drop (i32.trunc_f64_u (f64.const -1)))",
        "(drop (i64.trunc_f32_s (f32.const 9.3e18)))",
    ];
    for c in cases {
        let w = body(c);
        spirv_val(&w);
        eprintln!("trap case {c}");
        expect_trap(rt, &w, 64, &[vec![0; 1024]]);
    }
    // A store into [0, R) is private per CPU worker but shared on a GPU:
    // the GPU reports `unsupported` (so the runtime falls back) and leaves
    // the buffers untouched.
    let w = body("(i32.store (i32.const 0) (i32.const 1))");
    assert!(run(&rt.rt, SEQUENTIAL, &w, 64, 1, &[vec![0; 1024]]).is_ok());
    let e = run(&rt.rt, rt.gpu, &w, 64, 1, &[vec![0; 1024]]).unwrap_err();
    assert_eq!(e.errno, Errno::Unsupported);
    assert!(e.message.contains("[0, R)"), "{}", e.message);
    // After a trap the device keeps working.
    let ok = body("(nop)");
    compare(rt, &ok, 64, 1, &[vec![0; 1024]], &[]);
}

#[test]
fn fuel_ends_runaway_kernels() {
    // Below lavapipe's loop limit (65535 iterations per invocation).
    let Some(rt) = rt_with_fuel(50_000) else {
        return;
    };
    let spin = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param i32 i32 i32 i32 i32) (loop $l (br $l))))"#
    ));
    expect_trap(&rt, &spin, 16, &[vec![0; 64]]);
    let finite = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $k i32)
    (loop $l (local.set $k (i32.add (local.get $k) (i32.const 1))) (br_if $l (i32.lt_u (local.get $k) (i32.const 20000))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $k))))"#
    ));
    let out = run(&rt.rt, rt.gpu, &finite, 16, 1, &[vec![0; 64]]).unwrap();
    assert_eq!(out[0][..4], 20000u32.to_le_bytes());
}

#[test]
fn unsupported_kernels_report_a_reason() {
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param i32 i32 i32 i32 i32) (drop (memory.grow (i32.const 1)))))"#
    ));
    let e = run(&rt.rt, rt.gpu, &w, 4, 1, &[vec![0; 16]]).unwrap_err();
    assert_eq!(e.errno, Errno::Unsupported);
    assert!(e.message.contains("memory.grow"), "{}", e.message);
}

#[test]
fn many_iterations_and_empty_calls() {
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
    (i32.store8 (i32.add (local.get $p) (local.get $i)) (i32.add (local.get $i) (local.get $n)))))"#
    ));
    let n = 70_000u32 * 64 + 5; // more groups than one dispatch row holds
    compare(rt, &w, n, 1, &[vec![0; n as usize]], &[]);
    let out = run(&rt.rt, rt.gpu, &w, 0, 1, &[vec![9; 8]]).unwrap();
    assert_eq!(out[0], vec![9; 8]);
}

// ---- random kernels ----------------------------------------------------

/// Generates a random kernel: i32/i64/f32/f64 arithmetic and conversions
/// over locals seeded from the input, a global, calls to a generated helper
/// function, loads of every width and alignment, sub-word stores into a
/// record that shares words with the neighbouring iterations' records,
/// nested blocks/loops/ifs with br/br_if/br_table, bounded loops.
struct Gen {
    r: Rng,
    depth: usize,
    loops: usize,
    /// Generating the helper's body: no calls (no recursion), no `$c`.
    in_helper: bool,
    /// Also generate SIMD (`v128`) expressions (a separate test; without
    /// it the generator draws exactly what it drew before SIMD existed, so
    /// old seeds keep their kernels).
    simd: bool,
}

/// Bytes each iteration writes: x0..x3, c (5 × i32), an f32, y0 ^ y1 (i64),
/// z0 (f64) and 5 scratch bytes. Odd, so records straddle words that
/// neighbouring iterations also write.
const REC: usize = 45;
const SCRATCH: usize = 40;

impl Gen {
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.r.below(xs.len() as u64) as usize]
    }

    fn i32_expr(&mut self, d: u32) -> String {
        if d == 0 || self.r.below(4) == 0 {
            return match self.r.below(4) {
                0 => format!("(i32.const {})", self.r.next() as i32 % 1000),
                1 => format!("(local.get $x{})", self.r.below(4)),
                2 if !self.in_helper => "(global.get $g)".into(),
                _ => "(local.get $i)".into(),
            };
        }
        if self.simd && !self.in_helper && self.r.below(4) == 0 {
            let v = self.v128_expr(d - 1);
            let k = self.r.below(4);
            return match self.r.below(6) {
                0 => format!("(i32x4.extract_lane {k} {v})"),
                1 => format!("(i8x16.extract_lane_s {} {v})", k * 4 + 1),
                2 => format!("(i16x8.extract_lane_u {} {v})", k * 2 + 1),
                3 => {
                    let op = self.pick(&["v128.any_true", "i32x4.all_true", "i8x16.all_true"]);
                    format!("({op} {v})")
                }
                4 => {
                    let op = self.pick(&["i8x16.bitmask", "i16x8.bitmask", "i64x2.bitmask"]);
                    format!("({op} {v})")
                }
                _ => format!("(i32.wrap_i64 (i64x2.extract_lane {} {v}))", k % 2),
            };
        }
        let a = self.i32_expr(d - 1);
        let b = self.i32_expr(d - 1);
        match self.r.below(20) {
            0 => format!("(i32.add {a} {b})"),
            1 => format!("(i32.sub {a} {b})"),
            2 => format!("(i32.mul {a} {b})"),
            3 => format!("(i32.xor {a} {b})"),
            4 => format!("(i32.shl {a} {b})"),
            5 => format!("(i32.shr_s {a} {b})"),
            6 => format!("(i32.rotr {a} {b})"),
            7 => format!("(i32.lt_s {a} {b})"),
            8 => format!("(i32.div_u {a} (i32.or {b} (i32.const 1)))"),
            9 => format!("(i32.rem_s {a} (i32.or {b} (i32.const 1)))"),
            10 => format!("(select {a} {b} (i32.and {a} (i32.const 1)))"),
            11 => format!("(i32.popcnt {a})"),
            12 => format!("(i32.trunc_sat_f32_s {})", self.f32_expr(d - 1)),
            13 => format!("(i32.wrap_i64 {})", self.i64_expr(d - 1)),
            14 => {
                let op = self.pick(&["i64.lt_s", "i64.ge_u", "i64.eq", "i64.ne"]);
                format!("({op} {} {})", self.i64_expr(d - 1), self.i64_expr(d - 1))
            }
            15 => {
                let op = self.pick(&[
                    "i32.trunc_sat_f64_u",
                    "i32.trunc_sat_f64_s",
                    "i32.trunc_sat_f32_u",
                ]);
                let e = if op.ends_with("f32_u") {
                    self.f32_expr(d - 1)
                } else {
                    self.f64_expr(d - 1)
                };
                format!("({op} {e})")
            }
            16 => {
                // Float comparisons (false for NaN) and NaN-guarded bits.
                let (f, t) = if self.r.below(2) == 0 {
                    (self.f32_expr(d - 1), "f32")
                } else {
                    (self.f64_expr(d - 1), "f64")
                };
                match self.r.below(3) {
                    0 if t == "f32" => {
                        format!("(select (i32.reinterpret_f32 {f}) (i32.const -1) (f32.eq {f} {f}))")
                    }
                    0 => format!(
                        "(select (i32.wrap_i64 (i64.shr_u (i64.reinterpret_f64 {f}) (i64.const 20))) (i32.const -1) (f64.eq {f} {f}))"
                    ),
                    1 => format!("({t}.lt {f} ({t}.const 1.5))"),
                    _ => format!("({t}.ge {f} ({t}.const -0.0))"),
                }
            }
            17 if !self.in_helper => format!("(call $h {a} {b} {})", self.i64_expr(d - 1)),
            18 => {
                let op = self.pick(&["i32.extend8_s", "i32.extend16_s", "i32.ctz", "i32.eqz"]);
                format!("({op} {a})")
            }
            _ => format!("(i32.clz {a})"),
        }
    }

    fn i64_expr(&mut self, d: u32) -> String {
        if d == 0 || self.r.below(4) == 0 {
            return match self.r.below(4) {
                0 => format!("(i64.const {})", self.r.next() as i64 >> self.r.below(64)),
                1 => format!("(local.get $y{})", self.r.below(2)),
                2 => format!("(i64.extend_i32_u (local.get $x{}))", self.r.below(4)),
                _ => format!("(i64.extend_i32_s (local.get $x{}))", self.r.below(4)),
            };
        }
        let a = self.i64_expr(d - 1);
        let b = self.i64_expr(d - 1);
        match self.r.below(16) {
            0 => format!("(i64.add {a} {b})"),
            1 => format!("(i64.sub {a} {b})"),
            2 => format!("(i64.mul {a} {b})"),
            3 => format!("(i64.xor {a} {b})"),
            4 => format!("(i64.shl {a} {b})"),
            5 => format!("(i64.shr_s {a} {b})"),
            6 => format!("(i64.shr_u {a} {b})"),
            7 => format!("(i64.rotl {a} {b})"),
            8 => format!("(i64.div_u {a} (i64.or {b} (i64.const 1)))"),
            9 => format!("(i64.rem_s {a} (i64.or {b} (i64.const 1)))"),
            10 => format!("(i64.div_s {a} (i64.or {b} (i64.const 3)))"),
            11 => {
                let op = self.pick(&[
                    "i64.clz",
                    "i64.ctz",
                    "i64.popcnt",
                    "i64.extend32_s",
                    "i64.extend8_s",
                ]);
                format!("({op} {a})")
            }
            12 => {
                let op = self.pick(&["i64.trunc_sat_f64_s", "i64.trunc_sat_f64_u"]);
                format!("({op} {})", self.f64_expr(d - 1))
            }
            13 => format!("(i64.trunc_sat_f32_u {})", self.f32_expr(d - 1)),
            14 => format!("(select {a} {b} (i64.lt_u {a} {b}))"),
            _ => format!("(i64.and {a} {b})"),
        }
    }

    /// A `v128` expression. Float lanes are canonicalised (NaN lanes
    /// replaced by one NaN: wasm leaves NaN payloads nondeterministic, and
    /// the result's bits are compared exactly).
    fn v128_expr(&mut self, d: u32) -> String {
        if d == 0 || self.r.below(3) == 0 {
            return match self.r.below(5) {
                0 => format!(
                    "(v128.load offset={} (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2))))",
                    self.r.below(5)
                ),
                1 => format!("(i32x4.splat {})", self.i32_expr(d.min(2))),
                2 => "(local.get $v)".into(),
                3 => format!(
                    "(v128.const i32x4 {} {} 0x7fc00000 0x80000000)",
                    self.r.next() as i32,
                    self.r.next() as i32 % 1000
                ),
                _ => format!("(f32x4.splat {})", self.f32_expr(d.min(2))),
            };
        }
        let a = self.v128_expr(d - 1);
        let b = self.v128_expr(d - 1);
        let canon = |e: String, t: &str| {
            let nan = if t == "f32x4" {
                "(v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000)"
            } else {
                "(v128.const i64x2 0x7ff8000000000000 0x7ff8000000000000)"
            };
            format!("(v128.bitselect {e} {nan} ({t}.eq {e} {e}))")
        };
        match self.r.below(9) {
            0..=2 => {
                let op = self.pick(&[
                    "i8x16.add",
                    "i8x16.sub_sat_u",
                    "i8x16.add_sat_s",
                    "i8x16.min_s",
                    "i8x16.max_u",
                    "i8x16.avgr_u",
                    "i8x16.eq",
                    "i8x16.gt_s",
                    "i8x16.narrow_i16x8_s",
                    "i8x16.swizzle",
                    "i16x8.mul",
                    "i16x8.add_sat_u",
                    "i16x8.q15mulr_sat_s",
                    "i16x8.lt_u",
                    "i16x8.extmul_low_i8x16_s",
                    "i16x8.narrow_i32x4_u",
                    "i32x4.add",
                    "i32x4.sub",
                    "i32x4.mul",
                    "i32x4.min_u",
                    "i32x4.max_s",
                    "i32x4.ge_s",
                    "i32x4.dot_i16x8_s",
                    "i32x4.extmul_high_i16x8_u",
                    "i64x2.add",
                    "i64x2.mul",
                    "i64x2.lt_s",
                    "i64x2.extmul_low_i32x4_s",
                    "v128.and",
                    "v128.or",
                    "v128.xor",
                    "v128.andnot",
                    "f32x4.lt",
                    "f64x2.ge",
                ]);
                format!("({op} {a} {b})")
            }
            3 => {
                let op = self.pick(&[
                    "f32x4.add",
                    "f32x4.mul",
                    "f32x4.div",
                    "f32x4.min",
                    "f32x4.pmax",
                    "f64x2.sub",
                    "f64x2.max",
                    "f64x2.pmin",
                ]);
                canon(format!("({op} {a} {b})"), &op[..5])
            }
            4 => {
                let op = self.pick(&[
                    "v128.not",
                    "i8x16.abs",
                    "i8x16.popcnt",
                    "i16x8.neg",
                    "i16x8.extend_high_i8x16_s",
                    "i16x8.extadd_pairwise_i8x16_u",
                    "i32x4.abs",
                    "i32x4.extend_low_i16x8_u",
                    "i32x4.trunc_sat_f32x4_s",
                    "i32x4.trunc_sat_f64x2_u_zero",
                    "i64x2.neg",
                    "i64x2.extend_high_i32x4_s",
                ]);
                format!("({op} {a})")
            }
            5 => {
                let op = self.pick(&[
                    "f32x4.sqrt",
                    "f32x4.nearest",
                    "f32x4.floor",
                    "f32x4.convert_i32x4_u",
                    "f32x4.demote_f64x2_zero",
                    "f64x2.ceil",
                    "f64x2.trunc",
                    "f64x2.convert_low_i32x4_s",
                    "f64x2.promote_low_f32x4",
                    "f32x4.neg",
                    "f64x2.abs",
                ]);
                canon(format!("({op} {a})"), &op[..5])
            }
            6 => {
                let op = self.pick(&["i8x16.shl", "i16x8.shr_s", "i32x4.shr_u", "i64x2.shl"]);
                format!("({op} {a} {})", self.i32_expr(1))
            }
            7 => format!("(v128.bitselect {a} {b} {})", self.v128_expr(0)),
            _ => match self.r.below(3) {
                0 => format!("(i8x16.shuffle 0 17 2 19 4 21 6 23 31 30 29 28 3 3 16 16 {a} {b})"),
                1 => format!(
                    "(i32x4.replace_lane {} {a} {})",
                    self.r.below(4),
                    self.i32_expr(1)
                ),
                _ => format!(
                    "(i16x8.replace_lane {} {a} {})",
                    self.r.below(8),
                    self.i32_expr(1)
                ),
            },
        }
    }

    fn f32_expr(&mut self, d: u32) -> String {
        if d == 0 || self.r.below(3) == 0 {
            return match self.r.below(3) {
                0 => format!("(f32.convert_i32_s (local.get $x{}))", self.r.below(4)),
                1 => format!("(f32.convert_i64_u (local.get $y{}))", self.r.below(2)),
                _ => format!(
                    "(f32.const {})",
                    (self.r.next() % 2000) as f32 / 7.0 - 100.0
                ),
            };
        }
        let a = self.f32_expr(d - 1);
        let b = self.f32_expr(d - 1);
        match self.r.below(11) {
            0 => format!("(f32.add {a} {b})"),
            1 => format!("(f32.mul {a} {b})"),
            2 => format!("(f32.sub {a} {b})"),
            3 => format!("(f32.div {a} {b})"),
            4 => format!("(f32.min {a} {b})"),
            5 => format!("(f32.max {a} {b})"),
            6 => {
                let op = self.pick(&[
                    "f32.nearest",
                    "f32.floor",
                    "f32.ceil",
                    "f32.trunc",
                    "f32.neg",
                ]);
                format!("({op} {a})")
            }
            // The sign source is never NaN (a NaN's sign is nondeterministic).
            7 => format!(
                "(f32.copysign {a} (f32.convert_i32_s (local.get $x{})))",
                self.r.below(4)
            ),
            8 => format!("(f32.demote_f64 {})", self.f64_expr(d - 1)),
            9 => format!("(f32.convert_i64_s {})", self.i64_expr(d - 1)),
            _ => format!("(f32.sqrt (f32.abs {a}))"),
        }
    }

    fn f64_expr(&mut self, d: u32) -> String {
        if d == 0 || self.r.below(3) == 0 {
            return match self.r.below(4) {
                0 => format!("(f64.convert_i32_u (local.get $x{}))", self.r.below(4)),
                1 => format!("(f64.convert_i64_s (local.get $y{}))", self.r.below(2)),
                2 => "(local.get $z0)".into(),
                _ => format!(
                    "(f64.const {})",
                    (self.r.next() % 20000) as f64 / 3.0 - 3000.0
                ),
            };
        }
        let a = self.f64_expr(d - 1);
        let b = self.f64_expr(d - 1);
        match self.r.below(10) {
            0 => format!("(f64.add {a} {b})"),
            1 => format!("(f64.mul {a} {b})"),
            2 => format!("(f64.sub {a} {b})"),
            3 => format!("(f64.div {a} {b})"),
            4 => format!("(f64.min {a} {b})"),
            5 => {
                let op = self.pick(&[
                    "f64.nearest",
                    "f64.floor",
                    "f64.ceil",
                    "f64.trunc",
                    "f64.abs",
                ]);
                format!("({op} {a})")
            }
            6 => format!("(f64.promote_f32 {})", self.f32_expr(d - 1)),
            7 => format!("(f64.convert_i64_u {})", self.i64_expr(d - 1)),
            8 => format!(
                "(f64.copysign {a} (f64.convert_i32_s (local.get $x{})))",
                self.r.below(4)
            ),
            _ => format!("(f64.sqrt (f64.abs {a}))"),
        }
    }

    fn stmt(&mut self, labels: &mut Vec<bool>, out: &mut String, budget: &mut u32) {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        if self.r.below(4) == 0 {
            // Memory: loads of every width and alignment from the input
            // buffer (masked into its 1 KiB), and a pointer local that
            // steps by 1, 4 or 8 (its loads stay inside the buffer too).
            let v = self.r.below(4);
            let (ld, mask) = [
                ("i32.load", 1015),
                ("i32.load", 1016),
                ("i32.load8_u", 1019),
                ("i32.load16_s", 1018),
                ("i32.load", 1012),
            ][self.r.below(5) as usize];
            let offset = [0, 1, 2, 4][self.r.below(4) as usize];
            match self.r.below(5) {
                0 => {
                    let e = self.i32_expr(2);
                    out.push_str(&format!(
                        "(local.set $x{v} ({ld} offset={offset} (i32.add (local.get $pa) (i32.and {e} (i32.const {mask})))))\n"
                    ));
                }
                1 => {
                    let step = [1, 4, 8][self.r.below(3) as usize];
                    out.push_str(&format!(
                        "(local.set $q (i32.add (local.get $q) (i32.const {step})))\n"
                    ));
                }
                2 => {
                    // 64-bit loads at any alignment.
                    let ld = self.pick(&["i64.load", "i64.load32_s", "i64.load16_u", "i64.load8_s"]);
                    let e = self.i32_expr(2);
                    out.push_str(&format!(
                        "(local.set $y{} ({ld} offset={offset} (i32.add (local.get $pa) (i32.and {e} (i32.const 1008)))))\n",
                        self.r.below(2)
                    ));
                }
                3 => {
                    // Stores into this iteration's scratch bytes (the
                    // record's words are shared with the neighbours'), and
                    // loads back from them.
                    let (st, size) = [
                        ("i32.store8", 1),
                        ("i32.store16", 2),
                        ("i32.store", 4),
                        ("i64.store8", 1),
                        ("i64.store16", 2),
                        ("i64.store32", 4),
                    ][self.r.below(6) as usize];
                    let at = SCRATCH + self.r.below((REC - SCRATCH - size + 1) as u64) as usize;
                    let val = if st.starts_with("i64") {
                        self.i64_expr(2)
                    } else {
                        self.i32_expr(2)
                    };
                    out.push_str(&format!("({st} offset={at} (local.get $o) {val})\n"));
                    let (ld, size) = [("i32.load8_s", 1), ("i32.load16_u", 2), ("i32.load", 4)]
                        [self.r.below(3) as usize];
                    let at = SCRATCH + self.r.below((REC - SCRATCH - size + 1) as u64) as usize;
                    out.push_str(&format!(
                        "(local.set $x{v} ({ld} offset={at} (local.get $o)))\n"
                    ));
                }
                _ => out.push_str(&format!(
                    "(local.set $x{v} ({ld} offset={offset} (i32.add (local.get $pa) (i32.and (i32.sub (local.get $q) (local.get $pa)) (i32.const {mask})))))\n"
                )),
            }
            return;
        }
        if self.simd && self.r.below(5) == 0 {
            let e = self.v128_expr(3);
            out.push_str(&format!("(local.set $v {e})\n"));
            return;
        }
        let choice = self.r.below(if self.depth > 3 { 3 } else { 7 });
        match choice {
            0 | 1 => match self.r.below(6) {
                0 => {
                    let e = self.i64_expr(3);
                    out.push_str(&format!("(local.set $y{} {e})\n", self.r.below(2)));
                }
                1 => {
                    let e = self.f64_expr(3);
                    out.push_str(&format!("(local.set $z0 {e})\n"));
                }
                2 => {
                    let e = self.i32_expr(3);
                    out.push_str(&format!("(global.set $g {e})\n"));
                }
                _ => {
                    let v = self.r.below(4);
                    let e = self.i32_expr(3);
                    out.push_str(&format!("(local.set $x{v} {e})\n"));
                }
            },
            2 if !labels.is_empty() => {
                let depth = self.r.below(labels.len() as u64) as usize;
                let c = self.i32_expr(2);
                // Branches to loops only where the loop counter bounds them.
                let target_is_loop = labels[labels.len() - 1 - depth];
                if target_is_loop {
                    out.push_str(&format!(
                        "(br_if {depth} (i32.and (i32.lt_u (local.get $c) (i32.const 4)) {c}))\n"
                    ));
                } else if self.r.below(2) == 0 {
                    out.push_str(&format!("(br_if {depth} {c})\n"));
                } else {
                    let k = labels.len();
                    let ts: Vec<String> = (0..4)
                        .map(|_| self.r.below(k as u64))
                        .filter(|&t| !labels[k - 1 - t as usize])
                        .map(|t| t.to_string())
                        .collect();
                    if !ts.is_empty() {
                        out.push_str(&format!(
                            "(br_table {} {depth} (i32.and {c} (i32.const 7)))\n",
                            ts.join(" ")
                        ));
                    }
                }
            }
            2 => {}
            3 => {
                self.depth += 1;
                labels.push(false);
                out.push_str("(block\n");
                for _ in 0..self.r.below(4) + 1 {
                    self.stmt(labels, out, budget);
                }
                out.push_str(")\n");
                labels.pop();
                self.depth -= 1;
            }
            4 if self.loops < 3 => {
                self.loops += 1;
                self.depth += 1;
                labels.push(true);
                out.push_str("(loop\n(local.set $c (i32.add (local.get $c) (i32.const 1)))\n");
                for _ in 0..self.r.below(4) + 1 {
                    self.stmt(labels, out, budget);
                }
                out.push_str(&format!(
                    "(br_if 0 (i32.lt_u (local.get $c) (i32.const {})))\n)\n",
                    self.r.below(6) + 2
                ));
                labels.pop();
                self.depth -= 1;
            }
            _ => {
                self.depth += 1;
                labels.push(false);
                let c = self.i32_expr(2);
                out.push_str(&format!("(if {c} (then\n"));
                self.stmt(labels, out, budget);
                self.stmt(labels, out, budget);
                out.push_str(") (else\n");
                self.stmt(labels, out, budget);
                out.push_str("))\n");
                labels.pop();
                self.depth -= 1;
            }
        }
    }

    fn kernel(seed: u64) -> String {
        Self::kernel_with(seed, false)
    }

    /// With `simd`: a `v128` local `$v` set by SIMD statements and folded
    /// into the stored `x` values.
    fn kernel_with(seed: u64, simd: bool) -> String {
        let mut g = Gen {
            r: Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1),
            depth: 0,
            loops: 0,
            in_helper: true,
            simd,
        };
        // The helper: an i32 expression over its params (named like the
        // kernel's locals so the same generator fills it).
        let helper = g.i32_expr(4);
        g.in_helper = false;
        let mut body = String::new();
        let mut budget = 30;
        let mut labels = Vec::new();
        while budget > 0 {
            g.stmt(&mut labels, &mut body, &mut budget);
        }
        let f = g.f32_expr(3);
        let (x0, x1, x2, x3, c, f32_at, y_at, z_at) = (0, 4, 8, 12, 16, 20, 24, 32);
        let (v_decl, v_init, v_fold) = if simd {
            (
                "(local $v v128)",
                "(local.set $v (v128.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2)))))",
                (0..4)
                    .map(|k| {
                        format!(
                            "(local.set $x{k} (i32.xor (local.get $x{k}) (i32x4.extract_lane {k} (local.get $v))))\n"
                        )
                    })
                    .collect::<String>(),
            )
        } else {
            ("", "", String::new())
        };
        format!(
            r#"(module {HDR}
  (global $g (mut i32) (i32.const 0))
  (func $h (param $x0 i32) (param $x1 i32) (param $y0 i64) (result i32)
    (local $x2 i32) (local $x3 i32) (local $i i32) (local $y1 i64) (local $z0 f64)
    (local.set $x2 (i32.wrap_i64 (i64.shr_u (local.get $y0) (i64.const 7))))
    (local.set $x3 (i32.const 5))
    (local.set $y1 (i64.extend_i32_s (local.get $x0)))
    (local.set $z0 (f64.convert_i32_s (local.get $x1)))
    {helper})
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $pa i32) (param $la i32) (param $po i32) (param $lo i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $c i32) (local $o i32)
    (local $q i32) (local $y0 i64) (local $y1 i64) (local $z0 f64) {v_decl}
    (local.set $q (local.get $pa))
    {v_init}
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const {REC}))))
    (global.set $g (i32.mul (local.get $i) (i32.const 3)))
    (local.set $x0 (i32.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2)))))
    (local.set $x1 (i32.mul (local.get $x0) (i32.const 31)))
    (local.set $x2 (i32.xor (local.get $i) (i32.const 0x5555)))
    (local.set $x3 (i32.const 7))
    (local.set $y0 (i64.load offset=1 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2)))))
    (local.set $y1 (i64.mul (local.get $y0) (i64.const 0x9E3779B97F4A7C15)))
    (local.set $z0 (f64.convert_i32_s (local.get $x0)))
    {body}
    {v_fold}
    (i32.store offset={x0} (local.get $o) (local.get $x0))
    (i32.store offset={x1} (local.get $o) (local.get $x1))
    (i32.store offset={x2} (local.get $o) (local.get $x2))
    (i32.store offset={x3} (local.get $o) (local.get $x3))
    (i32.store offset={c} (local.get $o) (i32.add (local.get $c) (global.get $g)))
    (f32.store offset={f32_at} (local.get $o) {f})
    (i64.store offset={y_at} (local.get $o) (i64.xor (local.get $y0) (i64.rotl (local.get $y1) (i64.const 17))))
    (f64.store offset={z_at} (local.get $o) (local.get $z0))))"#
        )
    }
}

#[test]
fn random_kernels_agree_with_the_interpreter() {
    let rt = rt();
    // More seeds for a longer local run: WP_GPU_SEEDS=1000 (and
    // WP_GPU_SEED_FROM=K to start at seed K).
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let first = env("WP_GPU_SEED_FROM", 1);
    let seeds = env("WP_GPU_SEEDS", 40);
    for seed in first..first + seeds {
        let src = Gen::kernel(seed);
        let w = wat::parse_str(&src).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{src}"));
        spirv_val(&w);
        let Some(rt) = rt else { continue };
        let n = 256;
        let input = bytes(n * 4 + 16, seed);
        let r = run(
            &rt.rt,
            SEQUENTIAL,
            &w,
            n as u32,
            1,
            &[input.clone(), vec![0; n * REC]],
        );
        let g = run(&rt.rt, rt.gpu, &w, n as u32, 1, &[input, vec![0; n * REC]]);
        match (r, g) {
            (Ok(r), Ok(g)) => {
                for k in 0..n {
                    let rec =
                        |b: &[u8], from: usize, to: usize| b[k * REC + from..k * REC + to].to_vec();
                    let (a, b) = (&r[1], &g[1]);
                    let check = |from, to, elem| {
                        if let Err(m) = same(&rec(a, from, to), &rec(b, from, to), elem) {
                            panic!("seed {seed}, iteration {k}, bytes {from}..{to}: {m}\n{src}");
                        }
                    };
                    check(0, 20, Elem::Bytes);
                    check(20, 24, Elem::F32);
                    check(24, 32, Elem::Bytes);
                    check(32, 40, Elem::F64);
                    check(40, REC, Elem::Bytes);
                }
            }
            (Err(a), Err(b)) => assert_eq!(a.errno, b.errno, "seed {seed}"),
            (a, b) => panic!(
                "seed {seed}: interpreter {:?} vs vulkan {:?}\n{src}",
                a.err(),
                b.err()
            ),
        }
    }
}

/// The random kernels with SIMD expressions mixed in (`WP_GPU_SIMD_SEEDS`
/// for more seeds).
#[test]
fn random_simd_kernels_agree_with_the_interpreter() {
    let rt = rt();
    let seeds = std::env::var("WP_GPU_SIMD_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12u64);
    for seed in 1..=seeds {
        let src = Gen::kernel_with(seed, true);
        assert!(src.contains("v128"), "seed {seed}: no SIMD in the kernel");
        let w = wat::parse_str(&src).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{src}"));
        spirv_val(&w);
        let Some(rt) = rt else { continue };
        let n = 128;
        let input = bytes(n * 4 + 16, seed);
        let inputs = [input, vec![0; n * REC]];
        let r = run(&rt.rt, SEQUENTIAL, &w, n as u32, 1, &inputs);
        let c = run(&rt.rt, CPU, &w, n as u32, 1, &inputs);
        let g = run(&rt.rt, rt.gpu, &w, n as u32, 1, &inputs);
        match (r, c, g) {
            (Ok(r), Ok(c), Ok(g)) => {
                assert_eq!(r, c, "seed {seed}: CPU differs from SEQUENTIAL");
                for k in 0..n {
                    let rec =
                        |b: &[u8], from: usize, to: usize| b[k * REC + from..k * REC + to].to_vec();
                    let (a, b) = (&r[1], &g[1]);
                    let check = |from, to, elem| {
                        if let Err(m) = same(&rec(a, from, to), &rec(b, from, to), elem) {
                            panic!("seed {seed}, iteration {k}, bytes {from}..{to}: {m}\n{src}");
                        }
                    };
                    check(0, 20, Elem::Bytes);
                    check(20, 24, Elem::F32);
                    check(24, 32, Elem::Bytes);
                    check(32, 40, Elem::F64);
                    check(40, REC, Elem::Bytes);
                }
            }
            (Err(a), Err(c), Err(b)) => {
                assert_eq!(a.errno, b.errno, "seed {seed}");
                assert_eq!(a.errno, c.errno, "seed {seed}");
            }
            (a, c, b) => panic!(
                "seed {seed}: interpreter {:?} vs cpu {:?} vs vulkan {:?}\n{src}",
                a.err(),
                c.err(),
                b.err()
            ),
        }
    }
}

#[test]
fn long_loops_are_exact_or_unsupported() {
    // 200000 iterations: a real GPU runs them; lavapipe's loop limiter
    // stops at 65535, which must come back as `unsupported` with the
    // buffers untouched (never as wrong results).
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $k i32) (local $a i32)
    (loop $l
      (local.set $a (i32.add (i32.mul (local.get $a) (i32.const 3)) (local.get $k)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 200000))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $a))))"#
    ));
    let input = vec![7u8; 64];
    let reference = run(&rt.rt, SEQUENTIAL, &w, 16, 1, &[input.clone()]).unwrap();
    match run(&rt.rt, rt.gpu, &w, 16, 1, &[input]) {
        Ok(out) => assert_eq!(out, reference),
        Err(e) => {
            assert_eq!(e.errno, Errno::Unsupported, "{e}");
            assert!(e.message.contains("loop"), "{}", e.message);
        }
    }
}

#[test]
fn project_example_kernels_agree_across_devices() {
    // The prototype-style WAT kernels and clang-built kernels of the tests
    // directory: SEQUENTIAL, CPU and Vulkan must agree; a kernel Vulkan
    // cannot run must say why (the runtime then falls back to the CPU).
    let Some(rt) = rt_default() else { return };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for sub in ["wat", "kernels"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                let p = e.path();
                let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("");
                let name = p.file_stem().and_then(|x| x.to_str()).unwrap_or("");
                // spin never ends without fuel; trap traps by design.
                // data_and_global's output depends on how iterations are
                // spread over workers (its own documentation says so).
                if (ext == "wat" || ext == "wasm")
                    && !["spin", "trap", "spin_forever", "data_and_global"].contains(&name)
                {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    let mut ran_on_gpu = 0;
    for f in &files {
        let w = wat::parse_file(f).unwrap();
        let Ok(k) =
            wasi_parallel::parallel::kernel::Kernel::compile(rt.rt.kernel_engine(), &w, hash(&w))
        else {
            // Not every file there is a valid kernel (loader error tests).
            continue;
        };
        let inputs: Vec<Vec<u8>> = (0..k.num_buffer_params)
            .map(|b| bytes(16 * 256 * 4, b as u64 + 11))
            .collect();
        let r = run(&rt.rt, SEQUENTIAL, &w, 16, 64, &inputs);
        let c = run(&rt.rt, CPU, &w, 16, 64, &inputs);
        let g = run(&rt.rt, rt.gpu, &w, 16, 64, &inputs);
        match (&r, &g) {
            (_, Err(e)) if e.errno == Errno::Unsupported => {
                assert!(!e.message.is_empty());
                eprintln!("{}: not on Vulkan: {}", f.display(), e.message);
            }
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{}: SEQUENTIAL vs Vulkan", f.display());
                ran_on_gpu += 1;
            }
            (Err(a), Err(b)) => assert_eq!(a.errno, b.errno, "{}", f.display()),
            _ => panic!(
                "{}: SEQUENTIAL {:?} vs Vulkan {:?}",
                f.display(),
                r.as_ref().err(),
                g.as_ref().err()
            ),
        }
        if let (Ok(a), Ok(b)) = (&r, &c) {
            assert_eq!(a, b, "{}: SEQUENTIAL vs CPU", f.display());
        }
    }
    assert!(
        ran_on_gpu >= 3,
        "only {ran_on_gpu} example kernels ran on Vulkan"
    );
}

#[test]
fn runaway_kernel_with_large_fuel_never_succeeds() {
    // Fuel above lavapipe's loop limit: the call must end as a trap (fuel)
    // or as unsupported (driver limit, then the runtime falls back), never
    // as a silent success.
    let Some(rt) = rt_with_fuel(1_000_000) else {
        return;
    };
    let spin = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param i32 i32 i32) (loop $l (br $l))))"#
    ));
    let e = run(&rt.rt, rt.gpu, &spin, 4, 1, &[]).unwrap_err();
    assert!(
        matches!(e.errno, Errno::KernelTrap | Errno::Unsupported),
        "{e}"
    );
}

#[test]
fn mandelbrot_example_kernel() {
    // The clang-built example kernel: nested loops, float compares; large
    // enough to exceed lavapipe's loop limit per iteration (then
    // unsupported), small blocks within it.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/tmp/examples/mandelbrot_kernel.wasm");
    let Ok(w) = std::fs::read(&path) else {
        eprintln!("note: {} not built; skipped", path.display());
        return;
    };
    let Some(rt) = rt_default() else { return };
    let (width, height, max_iter) = (128u32, 85u32, 256u32);
    let mut params = Vec::new();
    for v in [width, height, max_iter] {
        params.extend(v.to_le_bytes());
    }
    for f in [-2.0f32, -1.2, 3.0 / 128.0, 2.4 / 85.0] {
        params.extend(f.to_le_bytes());
    }
    let out = vec![0u8; (width * height * 4) as usize];
    for block in [1u32, 4] {
        let n = height.div_ceil(block);
        let r = run(
            &rt.rt,
            SEQUENTIAL,
            &w,
            n,
            block,
            &[params.clone(), out.clone()],
        )
        .unwrap();
        match run(&rt.rt, rt.gpu, &w, n, block, &[params.clone(), out.clone()]) {
            Ok(g) => {
                let diff = r[1]
                    .chunks(4)
                    .zip(g[1].chunks(4))
                    .filter(|(a, b)| a != b)
                    .count();
                for (k, (a, b)) in r[1]
                    .chunks(4)
                    .zip(g[1].chunks(4))
                    .enumerate()
                    .filter(|(_, (a, b))| a != b)
                    .take(8)
                {
                    eprintln!(
                        "pixel {k} (row {}, col {}): {:?} vs {:?}",
                        k / 128,
                        k % 128,
                        a,
                        b
                    );
                }
                assert_eq!(diff, 0, "block {block}: {diff} pixels differ");
            }
            Err(e) => {
                assert_eq!(e.errno, Errno::Unsupported, "{e}");
                eprintln!("block {block}: unsupported: {}", e.message);
            }
        }
    }
}

#[test]
fn nested_loops_beyond_the_driver_limit() {
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $j i32) (local $k i32) (local $a i32)
    (loop $outer
      (local.set $k (i32.const 0))
      (loop $inner
        (local.set $a (i32.add (i32.mul (local.get $a) (i32.const 3)) (local.get $k)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $k) (i32.add (i32.const 900) (i32.mul (local.get $i) (i32.const 37))))))
      (i32.store (i32.add (local.get $p) (i32.shl (i32.add (local.get $j) (i32.mul (local.get $i) (i32.const 100))) (i32.const 2))) (local.get $a))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $j) (i32.const 100))))))"#
    ));
    let input = vec![0u8; 400 * 8];
    let reference = run(&rt.rt, SEQUENTIAL, &w, 8, 1, &[input.clone()]).unwrap();
    match run(&rt.rt, rt.gpu, &w, 8, 1, &[input]) {
        Ok(out) => assert_eq!(out, reference),
        Err(e) => {
            eprintln!("nested: {e}");
            assert_eq!(e.errno, Errno::Unsupported, "{e}");
        }
    }
}

#[test]
fn mandelbrot_one_invocation() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/tmp/examples/mandelbrot_kernel.wasm");
    let Ok(w) = std::fs::read(&path) else { return };
    let Some(rt) = rt_default() else { return };
    let (width, height, max_iter) = (128u32, 32u32, 256u32);
    let mut params = Vec::new();
    for v in [width, height, max_iter] {
        params.extend(v.to_le_bytes());
    }
    for f in [-2.0f32, -1.2 + 32.0 * 2.4 / 85.0, 3.0 / 128.0, 2.4 / 85.0] {
        params.extend(f.to_le_bytes());
    }
    let out = vec![0u8; (width * height * 4) as usize];
    let r = run(&rt.rt, SEQUENTIAL, &w, 8, 4, &[params.clone(), out.clone()]).unwrap();
    let total: u64 = r[1]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as u64)
        .sum();
    eprintln!("total inner iterations {total}");
    match run(&rt.rt, rt.gpu, &w, 8, 4, &[params.clone(), out.clone()]) {
        Ok(g) => {
            let diff = r[1]
                .chunks(4)
                .zip(g[1].chunks(4))
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(diff, 0, "{diff} pixels differ");
        }
        Err(e) => eprintln!("one: {e}"),
    }
}

/// Device-level calls on buffers kept across calls (the arena residency of
/// the Vulkan device): `exec` with the given kernel and buffers in order.
fn exec_on(
    rt: &Rt,
    wasm: &[u8],
    n: u32,
    bufs: &[&dyn wasi_parallel::parallel::device::DeviceBuffer],
) -> Result<(), wasi_parallel::parallel::ParError> {
    use wasi_parallel::parallel::device::ExecRequest;
    use wasi_parallel::parallel::kernel::{layout::Layout, Kernel};
    let kernel = std::sync::Arc::new(Kernel::compile(rt.rt.kernel_engine(), wasm, hash(wasm))?);
    let keyed: Vec<(usize, u64)> = bufs.iter().map(|b| b.size()).enumerate().collect();
    let layout = Layout::compute(kernel.private_size, &keyed)?;
    rt.rt.device(rt.gpu).expect("gpu").exec(
        &mut None,
        &ExecRequest {
            kernel: &kernel,
            num_iterations: n,
            block_size: 1,
            buffers: bufs,
            layout: &layout,
            fuel: None,
            read_only: &[],
        },
    )?;
    Ok(())
}

#[test]
fn arena_reuse_follows_writes_layouts_and_driver_cuts() {
    // a[i] += b[i] (u32), repeated on the same buffers: the second call on
    // the same placements reuses the arena's copy of the buffers; writes in
    // between, other layouts and a call the driver cuts short must all be
    // seen exactly as without reuse.
    let Some(rt) = rt() else { return };
    let dev = rt.rt.device(rt.gpu).expect("gpu");
    let add = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $pb i32) (param i32) (param $pa i32) (param i32)
    (local $o i32)
    (local.set $o (i32.shl (local.get $i) (i32.const 2)))
    (i32.store (i32.add (local.get $pa) (local.get $o))
      (i32.add (i32.load (i32.add (local.get $pa) (local.get $o)))
               (i32.load (i32.add (local.get $pb) (local.get $o)))))))"#
    ));
    // Increments a[i], then spins 10^6 times: beyond llvmpipe's loop
    // limiter even with unrolled copies (cut, reported as unsupported); a
    // real GPU finishes it.
    let bump_then_spin = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $pa i32) (param i32)
    (local $o i32) (local $k i32)
    (local.set $o (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2))))
    (i32.store (local.get $o) (i32.add (i32.load (local.get $o)) (i32.const 1)))
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 1000000))))))"#
    ));
    let n = 1000u32;
    let words = |v: &[u32]| -> Vec<u8> { v.iter().flat_map(|w| w.to_le_bytes()).collect() };
    let read = |b: &dyn wasi_parallel::parallel::device::DeviceBuffer| -> Vec<u32> {
        let mut out = vec![0u8; b.size() as usize];
        dev.read(b, &mut out).unwrap();
        out.chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let check = |got: &[u32], want: &[u32], what: &str| {
        if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
            panic!("{what}: element {i} is {} instead of {}", got[i], want[i]);
        }
    };
    let a = dev.create_buffer(n as u64 * 4).unwrap();
    let b = dev.create_buffer(n as u64 * 4).unwrap();
    let c = dev.create_buffer(n as u64 * 4).unwrap();
    let mut want_a: Vec<u32> = (0..n).map(|i| i * 7).collect();
    let mut want_b: Vec<u32> = (0..n).map(|i| i + 1).collect();
    let want_c: Vec<u32> = (0..n).map(|i| 1000 - i).collect();
    dev.write(&*a, &words(&want_a)).unwrap();
    dev.write(&*b, &words(&want_b)).unwrap();
    dev.write(&*c, &words(&want_c)).unwrap();
    let step = |want_a: &mut Vec<u32>, by: &[u32]| {
        for (x, y) in want_a.iter_mut().zip(by) {
            *x = x.wrapping_add(*y);
        }
    };
    for round in 0..3 {
        exec_on(rt, &add, n, &[&*b, &*a]).unwrap();
        step(&mut want_a, &want_b);
        check(&read(&*a), &want_a, &format!("round {round}"));
        // A partial write between calls must reach the next call.
        want_b[..10].copy_from_slice(&[round + 100; 10]);
        dev.write(&*b, &words(&want_b[..10])).unwrap();
    }
    // Another layout (c in b's place), then the first one again.
    exec_on(rt, &add, n, &[&*c, &*a]).unwrap();
    step(&mut want_a, &want_c);
    exec_on(rt, &add, n, &[&*b, &*a]).unwrap();
    step(&mut want_a, &want_b);
    check(&read(&*a), &want_a, "a");
    // A call cut short leaves the buffers as they were (the runtime reruns
    // it on the CPU device), and the next call starts from them.
    match exec_on(rt, &bump_then_spin, n, &[&*a]) {
        Err(e) => {
            assert_eq!(e.errno, Errno::Unsupported, "{e}");
            check(&read(&*a), &want_a, "a cut call changed the buffer");
        }
        Ok(()) => step(&mut want_a, &vec![1; n as usize]),
    }
    exec_on(rt, &add, n, &[&*b, &*a]).unwrap();
    step(&mut want_a, &want_b);
    check(&read(&*a), &want_a, "a");
    check(&read(&*b), &want_b, "b");
    check(&read(&*c), &want_c, "c");
}

#[test]
fn unrolled_loops_leave_from_every_copy() {
    // Innermost loops are translated as 4 copies of the body per naga loop
    // iteration: trip counts 0..=12 (every remainder), a `br` out of the
    // loop to an enclosing block, a `br_table` to the loop, to a block
    // inside it and out of it, a loop with a result, an early `return`, and
    // a trap in the middle of a trip, all compared with the interpreter.
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func $count (param $n i32) (result i32)
    (local $k i32) (local $acc i32)
    (loop $l (result i32)
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3)) (local.get $k)))
      (br_if $l (i32.lt_u (local.get $k) (local.get $n)))
      (local.get $acc)))
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $k i32) (local $acc i32) (local $o i32) (local $n i32)
    (local.set $o (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 4))))
    (local.set $n (i32.rem_u (local.get $i) (i32.const 13)))
    ;; 1: plain counted loop, early exit to the block when i % 5 == 0 at k == 3
    (block $out
      (loop $l
        (br_if $out (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $out (i32.and (i32.eqz (i32.rem_u (local.get $i) (i32.const 5)))
                             (i32.eq (local.get $k) (i32.const 3))))
        (local.set $acc (i32.xor (i32.mul (local.get $acc) (i32.const 31)) (local.get $k)))
        (br $l)))
    (i32.store (local.get $o) (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 24))))
    ;; 2: br_table: 0 continue, 1 skip to the end of the body, 2 leave
    (local.set $k (i32.const 0))
    (local.set $acc (i32.const 7))
    (block $done
      (loop $l
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (block $skip
          (br_table $l $skip $done
            (i32.rem_u (i32.add (local.get $k) (local.get $i)) (i32.const 3)))
          (unreachable))
        (local.set $acc (i32.add (local.get $acc) (local.get $k)))
        (br_if $l (i32.lt_u (local.get $k) (i32.add (local.get $n) (i32.const 2))))))
    (i32.store offset=4 (local.get $o) (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 24))))
    ;; 3: a loop with a result, in a called function
    (i32.store offset=8 (local.get $o) (call $count (local.get $n)))
    ;; 4: return from inside the loop when i % 7 == 6 after k == n / 2
    (i32.store offset=12 (local.get $o) (i32.const -1))
    (local.set $k (i32.const 0))
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (if (i32.and (i32.eq (i32.rem_u (local.get $i) (i32.const 7)) (i32.const 6))
                   (i32.ge_u (local.get $k) (i32.shr_u (local.get $n) (i32.const 1))))
        (then (i32.store offset=12 (local.get $o) (local.get $k)) (return)))
      (br_if $l (i32.lt_u (local.get $k) (local.get $n))))
    (i32.store offset=12 (local.get $o) (i32.sub (i32.const 0) (local.get $k)))))"#
    ));
    spirv_val(&w);
    let n = 200;
    compare(rt, &w, n, 1, &[vec![0; n as usize * 16]], &[]);

    // A trap in the third wasm iteration of one invocation (division by
    // zero at k == 3 for i == 37): reported as a trap, as on the CPU.
    let t = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $k i32) (local $acc i32)
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (local.set $acc (i32.add (local.get $acc)
        (i32.div_u (i32.const 100)
          (i32.or (i32.ne (local.get $i) (i32.const 37)) (i32.ne (local.get $k) (i32.const 3))))))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 10))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $acc))))"#
    ));
    let e = run(&rt.rt, rt.gpu, &t, 64, 1, &[vec![0; 256]]).unwrap_err();
    assert_eq!(e.errno, Errno::KernelTrap, "{e}");
    assert!(e.message.contains("iteration 37"), "{}", e.message);
    assert!(
        run(&rt.rt, SEQUENTIAL, &t, 64, 1, &[vec![0; 256]]).is_err(),
        "the interpreter must trap too"
    );
}

#[test]
fn fuel_runs_out_in_any_copy_of_an_unrolled_loop() {
    // Budgets 1..=9 against a 6-iteration loop: the fuel runs out in each
    // copy position of the unrolled body; both devices agree on which
    // budgets suffice.
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $k i32)
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 6))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $k))))"#
    ));
    for fuel in 1..=9u64 {
        let Some(rt) = rt_with_fuel(fuel) else { return };
        let gpu = run(&rt.rt, rt.gpu, &w, 8, 1, &[vec![0; 32]]);
        match &gpu {
            Ok(out) => assert_eq!(out[0][..4], 6u32.to_le_bytes(), "fuel {fuel}"),
            Err(e) => assert_eq!(e.errno, Errno::KernelTrap, "fuel {fuel}: {e}"),
        }
        // One unit per iteration of the loop body on the GPU: 6 suffice.
        assert_eq!(gpu.is_ok(), fuel >= 6, "fuel {fuel}: {gpu:?}");
    }
}

#[test]
fn loads_at_known_and_unknown_alignments() {
    // The translator loads a word directly where it can prove the address
    // is a multiple of 4 (buffer pointers, shifts by 2 or more, sums of
    // such values, locals that only ever hold such values); everything
    // else takes the any-alignment path. A local that starts aligned and
    // later steps by 1, a pointer moved by an odd offset, and masks must
    // all read the same bytes as the interpreter.
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $pa i32) (param i32) (param $po i32) (param i32)
    (local $p i32) (local $q i32) (local $k i32) (local $s i32) (local $o i32)
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 32))))
    ;; aligned: pointer + i << 2, and a tee of it
    (i32.store (local.get $o)
      (i32.load (local.tee $q (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2))))))
    ;; aligned base, odd memarg offset
    (i32.store offset=4 (local.get $o) (i32.load offset=3 (local.get $q)))
    ;; unaligned: pointer + i (a multiple of 4 only when i is)
    (i32.store offset=8 (local.get $o) (i32.load (i32.add (local.get $pa) (local.get $i))))
    ;; masked down to a multiple of 4: aligned again
    (i32.store offset=12 (local.get $o)
      (i32.load (i32.and (i32.add (local.get $pa) (i32.add (local.get $i) (i32.const 5))) (i32.const -4))))
    ;; a local that starts aligned and steps by 1 inside a loop: the
    ;; translator must notice and drop its assumption
    (local.set $p (local.get $pa))
    (loop $l
      (local.set $s (i32.add (local.get $s) (i32.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.add (i32.const 1) (i32.rem_u (local.get $i) (i32.const 3)))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 9))))
    (i32.store offset=16 (local.get $o) (local.get $s))
    ;; 64 bits at an aligned and at an unaligned address
    (i64.store offset=20 (local.get $o)
      (i64.add (i64.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 3))))
               (i64.load offset=1 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 3))))))))"#
    ));
    spirv_val(&w);
    let n = 64;
    let input = bytes(n as usize * 8 + 64, 77);
    compare(
        rt,
        &w,
        n,
        1,
        &[input, vec![0; n as usize * 32]],
        &[Elem::Bytes, Elem::Bytes],
    );
}

#[test]
fn alignment_assumptions_dropped_one_per_pass_stay_correct() {
    // Inside a loop, each local copies the next one, written in reverse
    // order, and the last gets an odd address: the translator learns one
    // unaligned local per translation pass and, after a few passes, drops
    // every assumption. Loads through each local must match the
    // interpreter on the way.
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $pa i32) (param i32) (param $po i32) (param i32)
    (local $l1 i32) (local $l2 i32) (local $l3 i32) (local $l4 i32) (local $l5 i32) (local $l6 i32) (local $l7 i32)
    (local $k i32) (local $s i32)
    (local.set $l1 (local.get $pa)) (local.set $l2 (local.get $pa)) (local.set $l3 (local.get $pa))
    (local.set $l4 (local.get $pa)) (local.set $l5 (local.get $pa)) (local.set $l6 (local.get $pa))
    (local.set $l7 (local.get $pa))
    (loop $l
      (local.set $s (i32.add (local.get $s)
        (i32.add (i32.load (local.get $l1)) (i32.load offset=4 (local.get $l7)))))
      (local.set $l1 (local.get $l2))
      (local.set $l2 (local.get $l3))
      (local.set $l3 (local.get $l4))
      (local.set $l4 (local.get $l5))
      (local.set $l5 (local.get $l6))
      (local.set $l6 (local.get $l7))
      (local.set $l7 (i32.add (local.get $pa) (i32.add (local.get $i) (local.get $k))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 12))))
    (i32.store (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))))"#
    ));
    spirv_val(&w);
    let n = 32;
    compare(
        rt,
        &w,
        n,
        1,
        &[bytes(256, 5), vec![0; n as usize * 4]],
        &[Elem::Bytes, Elem::Bytes],
    );
}

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
