//! A seeded random kernel generator: random kernels on Vulkan must agree
//! with the interpreter (`WP_GPU_SEEDS=N`, `WP_GPU_SEED_FROM=K` for more).
#![cfg(feature = "vulkan")]

use crate::gpu_util::*;

/// Generates a random kernel: i32/i64/f32/f64 arithmetic and conversions
/// over locals seeded from the input, a global, calls to a generated helper
/// function, loads of every width and alignment, sub-word stores into a
/// record that shares words with the neighbouring iterations' records,
/// nested blocks/loops/ifs with br/br_if/br_table, bounded loops, a local
/// array on a shadow stack (stores and loads of every width at dynamic
/// offsets), a helper with its own frame reading the caller's array through
/// a pointer, and `call_indirect` through a table (one entry with a frame).
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
            19 if !self.in_helper => match self.r.below(3) {
                // A helper with its own frame reading the caller's local
                // array through a pointer; indirect calls through the table
                // (one entry has a frame too).
                0 => format!("(call $hs (local.get $fp) {a})"),
                _ => format!("(call_indirect (type $un) {a} (i32.and {b} (i32.const 3)))"),
            },
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
            match self.r.below(6) {
                5 if !self.in_helper => {
                    // The kernel's local array (64 bytes on the shadow
                    // stack): a store and a load at masked dynamic offsets
                    // of every width and alignment.
                    let (st, size) = [
                        ("i32.store8", 1),
                        ("i32.store16", 2),
                        ("i32.store", 4),
                        ("i64.store", 8),
                        ("f32.store", 4),
                    ][self.r.below(5) as usize];
                    let at = self.r.below(9 - size);
                    let e = self.i32_expr(1);
                    let val = match st {
                        "i64.store" => self.i64_expr(2),
                        "f32.store" => self.f32_expr(2),
                        _ => self.i32_expr(2),
                    };
                    out.push_str(&format!(
                        "({st} offset={at} (i32.add (local.get $fp) (i32.and {e} (i32.const 55))) {val})\n"
                    ));
                    let (ld, size) = [("i32.load8_s", 1), ("i32.load16_u", 2), ("i32.load", 4)]
                        [self.r.below(3) as usize];
                    let at = self.r.below(9 - size);
                    let e = self.i32_expr(1);
                    out.push_str(&format!(
                        "(local.set $x{v} ({ld} offset={at} (i32.add (local.get $fp) (i32.and {e} (i32.const 55)))))\n"
                    ));
                }
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
        let frame_init: String = (0..16u32)
            .map(|k| {
                format!(
                    "(i32.store offset={} (local.get $fp) (i32.mul (i32.add (local.get $i) (i32.const {k})) (i32.const {})))\n    ",
                    4 * k,
                    k.wrapping_mul(2654435761) as i32
                )
            })
            .collect();
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
  (global $sp (mut i32) (i32.const 4096))
  (type $un (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $u0 $u1 $u2 $u0)
  (func $u0 (param i32) (result i32) (i32.add (i32.mul (local.get 0) (i32.const 3)) (i32.const 1)))
  (func $u1 (param i32) (result i32) (i32.rotl (local.get 0) (i32.const 7)))
  (func $u2 (param $x i32) (result i32) (local $fp i32)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const 32))))
    (i32.store offset=4 (local.get $fp) (i32.mul (local.get $x) (i32.const 5)))
    (i32.store offset=8 (local.get $fp) (local.get $x))
    (i32.store8 offset=9 (local.get $fp) (i32.const 0x5a))
    (local.set $x (i32.load offset=7 (local.get $fp)))
    (global.set $sp (i32.add (local.get $fp) (i32.const 32)))
    (local.get $x))
  (func $hs (param $p i32) (param $k i32) (result i32) (local $fp i32)
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const 16))))
    (i32.store (local.get $fp) (i32.load (i32.add (local.get $p) (i32.and (local.get $k) (i32.const 60)))))
    (i32.store offset=4 (local.get $fp) (local.get $k))
    (i32.store8 offset=5 (local.get $fp) (local.get $p))
    (local.set $k (i32.xor (i32.load (local.get $fp)) (i32.load offset=3 (local.get $fp))))
    (global.set $sp (i32.add (local.get $fp) (i32.const 16)))
    (local.get $k))
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
    (local $q i32) (local $y0 i64) (local $y1 i64) (local $z0 f64) (local $fp i32) {v_decl}
    (global.set $sp (local.tee $fp (i32.sub (global.get $sp) (i32.const 64))))
    {frame_init}
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
    (f64.store offset={z_at} (local.get $o) (local.get $z0))
    (global.set $sp (i32.add (local.get $fp) (i32.const 64)))))"#
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

/// The random kernels on the interpreter and on the JIT (SEQUENTIAL and
/// CPU devices, no GPU needed): bit-identical buffers, or the same error.
#[test]
fn random_kernels_agree_on_interpreter_and_jit() {
    use wasi_parallel::parallel::{KernelEngine, ParallelRuntime};
    if !KernelEngine::jit_available() {
        eprintln!("no JIT in this build: nothing to compare");
        return;
    }
    let make = |kernel_engine| {
        ParallelRuntime::with_devices(
            wasi_parallel::parallel::ParallelConfig {
                threads: 2,
                kernel_engine,
                ..Default::default()
            },
            |_| Vec::new(),
        )
        .expect("runtime")
    };
    let (interp, jit) = (make(KernelEngine::Interpreter), make(KernelEngine::Jit));
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let first = env("WP_JIT_SEED_FROM", 1);
    let seeds = env("WP_JIT_SEEDS", 200);
    for seed in first..first + seeds {
        let src = Gen::kernel(seed);
        let w = wat::parse_str(&src).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{src}"));
        let n = 256;
        let input = bytes(n * 4 + 16, seed);
        let dev = [SEQUENTIAL, CPU][seed as usize % 2];
        let bufs = [input, vec![0; n * REC]];
        let a = run(&interp, dev, &w, n as u32, 1, &bufs);
        let b = run(&jit, dev, &w, n as u32, 1, &bufs);
        match (a, b) {
            (Ok(a), Ok(b)) => assert!(a == b, "seed {seed}: interpreter and JIT differ\n{src}"),
            (Err(a), Err(b)) => assert_eq!(a.errno, b.errno, "seed {seed}"),
            (a, b) => panic!(
                "seed {seed}: interpreter {:?} vs JIT {:?}\n{src}",
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

/// The random kernels called three times in a row on one output buffer
/// with the `rotate` policy (CPU device, Vulkan, CPU device: the buffers
/// move at every call) give what three calls on the SEQUENTIAL device give
/// (or the same error).
#[test]
fn random_kernels_agree_when_their_calls_switch_devices() {
    use crate::parallel_util::{Guest, READ, READ_WRITE, SEQUENTIAL as SEQ_HINT};
    use wasi_parallel::parallel::{DevicePolicy, ParallelConfig, ParallelRuntime};
    let Some(_) = rt() else { return };
    let make = |policy| {
        std::sync::Arc::new(
            ParallelRuntime::new(ParallelConfig {
                threads: 2,
                device_policy: policy,
                ..ParallelConfig::default()
            })
            .unwrap(),
        )
    };
    let (seq_rt, rot_rt) = (make(DevicePolicy::Hint), make(DevicePolicy::Rotate));
    let n = 256usize;
    let calls = |rt: &std::sync::Arc<ParallelRuntime>, hint: i32, w: &[u8], input: &[u8]| {
        let mut g = Guest::new(rt);
        let dev = g.get_device(hint).unwrap();
        let i = g.buffer_with(dev, input, READ);
        let o = g.create_buffer(dev, (n * REC) as u32, READ_WRITE).unwrap();
        let mut devices = Vec::new();
        for _ in 0..3 {
            let code = g.exec(dev, w, n as u32, 1, &[i], &[o]);
            if code != 0 {
                return Err(code);
            }
            devices.push(g.ctx().stats().recent_calls.back().unwrap().device);
        }
        Ok((g.read_buffer(o, n * REC).unwrap(), devices))
    };
    let mut on_gpu = 0;
    for seed in 1..=12u64 {
        let src = Gen::kernel(seed);
        let w = wat::parse_str(&src).unwrap();
        let input = bytes(n * 4 + 16, seed);
        let want = calls(&seq_rt, SEQ_HINT, &w, &input);
        let got = calls(&rot_rt, crate::parallel_util::DISCRETE_GPU, &w, &input);
        match (want, got) {
            (Ok((a, _)), Ok((b, on))) => {
                // A kernel the GPU declines stays on the CPU device.
                on_gpu += on.iter().any(|d| d.is_gpu()) as u32;
                for k in 0..n {
                    let rec =
                        |b: &[u8], from: usize, to: usize| b[k * REC + from..k * REC + to].to_vec();
                    for (from, to, elem) in [
                        (0, 20, Elem::Bytes),
                        (20, 24, Elem::F32),
                        (24, 32, Elem::Bytes),
                        (32, 40, Elem::F64),
                        (40, REC, Elem::Bytes),
                    ] {
                        if let Err(m) = same(&rec(&a, from, to), &rec(&b, from, to), elem) {
                            panic!("seed {seed}, iteration {k}, bytes {from}..{to}: {m}\n{src}");
                        }
                    }
                }
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "seed {seed}"),
            (a, b) => panic!(
                "seed {seed}: sequential {:?} vs rotating {:?}",
                a.err(),
                b.err()
            ),
        }
    }
    assert!(
        on_gpu >= 6,
        "only {on_gpu} of 12 kernels ran on the GPU at all"
    );
}
