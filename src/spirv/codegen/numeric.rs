//! Numeric operators: integer and float arithmetic, comparisons,
//! conversions, and the opaque values that keep the driver's compiler from
//! folding float constants (see `Globals::zero`).

use super::translator::FnTranslator;
use super::{run_time_zero, H};
use crate::spirv::analyze::Ty;
use crate::spirv::{trap, Unsupported};
use naga::{BinaryOperator as Bo, MathFunction as Mf, ScalarKind, UnaryOperator as Uo};

/// The float operations on the sign bit alone (see `float_sign`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum SignOp {
    Abs,
    Neg,
    Copysign,
}

impl<'s, 'a> FnTranslator<'s, 'a> {
    pub(super) fn width(t: Ty) -> u8 {
        if t.is_64() {
            8
        } else {
            4
        }
    }

    /// The same bits as a signed integer (of the same width).
    pub(super) fn sint(&mut self, a: H) -> H {
        self.fb.bitcast(a, ScalarKind::Sint)
    }
    /// The same bits as an unsigned integer (the wasm representation).
    pub(super) fn uint(&mut self, a: H) -> H {
        self.fb.bitcast(a, ScalarKind::Uint)
    }
    pub(super) fn int_lit(&mut self, t: Ty, v: u64) -> H {
        if t == Ty::I64 {
            self.fb.u64(v)
        } else {
            self.fb.u32(v as u32)
        }
    }
    pub(super) fn bool_to_i32(&mut self, c: H) -> H {
        let one = self.fb.u32(1);
        let zero = self.fb.u32(0);
        self.fb.sel(c, one, zero)
    }

    pub(super) fn binop(&mut self, op: Bo, t: Ty) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let r = self.fb.bin(op, a, b);
        self.push(r, t);
        Ok(())
    }

    /// Comparison; `signed` bitcasts integer operands first. (i64 values
    /// that are sign extensions are opaque already, see `sext64`.)
    pub(super) fn cmp(&mut self, op: Bo, signed: bool) -> Result<(), Unsupported> {
        let mut b = self.pop()?;
        let mut a = self.pop()?;
        if signed {
            a = self.sint(a);
            b = self.sint(b);
        }
        let c = self.fb.bin(op, a, b);
        let r = self.bool_to_i32(c);
        self.push(r, Ty::I32);
        Ok(())
    }

    pub(super) fn float_ne(&mut self) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let eq = self.fb.bin(Bo::Equal, a, b);
        let ne = self.fb.un(Uo::LogicalNot, eq);
        let r = self.bool_to_i32(ne);
        self.push(r, Ty::I32);
        Ok(())
    }

    /// Shift amount masked to the operand width, as `u32`.
    pub(super) fn shift_amount(&mut self, b: H, t: Ty) -> H {
        if t == Ty::I64 {
            let m = self.fb.u64(63);
            let k = self.fb.bin(Bo::And, b, m);
            self.fb.conv(k, ScalarKind::Uint, 4)
        } else {
            let m = self.fb.u32(31);
            self.fb.bin(Bo::And, b, m)
        }
    }

    pub(super) fn shift(&mut self, t: Ty, left: bool, signed: bool) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let k = self.shift_amount(b, t);
        let r = if left {
            self.fb.bin(Bo::ShiftLeft, a, k)
        } else if signed {
            let s = self.sint(a);
            let r = self.fb.bin(Bo::ShiftRight, s, k);
            self.uint(r)
        } else {
            self.fb.bin(Bo::ShiftRight, a, k)
        };
        self.push(r, t);
        Ok(())
    }

    pub(super) fn rotate(&mut self, t: Ty, left: bool) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let bits = if t == Ty::I64 { 64 } else { 32 };
        let k = self.shift_amount(b, t);
        let n = self.fb.u32(bits);
        let nk = self.fb.bin(Bo::Subtract, n, k);
        let mask = self.fb.u32(bits - 1);
        let nk = self.fb.bin(Bo::And, nk, mask);
        let (l, r) = if left { (k, nk) } else { (nk, k) };
        let x = self.fb.bin(Bo::ShiftLeft, a, l);
        let y = self.fb.bin(Bo::ShiftRight, a, r);
        let v = self.fb.bin(Bo::InclusiveOr, x, y);
        self.push(v, t);
        Ok(())
    }

    pub(super) fn unop_math(&mut self, fun: Mf, t: Ty) -> Result<(), Unsupported> {
        let a = self.pop()?;
        let r = if matches!(fun, Mf::Trunc | Mf::Ceil | Mf::Floor | Mf::Round)
            && matches!(t, Ty::F32 | Ty::F64)
        {
            self.round_float(fun, a, t)
        } else {
            self.fb.math(fun, a)
        };
        self.push(r, t);
        Ok(())
    }

    /// trunc / ceil / floor / nearest (`fun`: `Trunc`, `Ceil`, `Floor`,
    /// `Round` = ties to even) of the float `a`, in plain arithmetic.
    /// Driver workaround W11 (docs/wasi-parallel.md 2.4): llvmpipe rounds
    /// vectors wider than the CPU's rounding instructions (8 x f64 without
    /// AVX-512) through an integer conversion, which lost the sign of zero
    /// results (`trunc(-0.5)` gave +0.0) and rounded ties of `nearest` up
    /// (`nearest(-1.5)` gave -1). Here: for `|a| < 2^52` (2^23 for f32),
    /// `(|a| + 2^52) - 2^52` is `|a|` rounded to even by the FPU's own
    /// rounding, one step up or down gives floor and ceil of `|a|`, the
    /// operand's sign is copied back, and larger magnitudes, infinities
    /// and NaNs (quieted) are their own rounding. The constants are opaque
    /// to the driver (W1), so it cannot fold the addition away.
    fn round_float(&mut self, fun: Mf, a: H, t: Ty) -> H {
        let (big, one) = if t == Ty::F64 {
            (4503599627370496f64.to_bits(), 1f64.to_bits())
        } else {
            (8388608f32.to_bits() as u64, 1f32.to_bits() as u64)
        };
        let opaque = |s: &mut Self, bits: u64| {
            let b = s.ilit_for_float(t, bits);
            let b = s.opaque_bits(b, t);
            s.ffrom(b)
        };
        let big = opaque(self, big);
        let one = opaque(self, one);
        let m = Self::sign_mask(t);
        let bits = self.fbits(a);
        let abs_mask = self.ilit_for_float(t, !m);
        let sign_mask = self.ilit_for_float(t, m);
        let abs_bits = self.fb.bin(Bo::And, bits, abs_mask);
        let abs = self.ffrom(abs_bits);
        let small = self.fb.bin(Bo::Less, abs, big);
        let sum = self.fb.bin(Bo::Add, abs, big);
        let even = self.fb.bin(Bo::Subtract, sum, big);
        let above = self.fb.bin(Bo::Greater, even, abs);
        let down = self.fb.bin(Bo::Subtract, even, one);
        let floor = self.fb.sel(above, down, even);
        let below = self.fb.bin(Bo::Less, even, abs);
        let up = self.fb.bin(Bo::Add, even, one);
        let ceil = self.fb.sel(below, up, even);
        let sign = self.fb.bin(Bo::And, bits, sign_mask);
        let zero = self.ilit_for_float(t, 0);
        let negative = self.fb.bin(Bo::NotEqual, sign, zero);
        // The magnitude of the result: trunc rounds |a| down; floor rounds
        // a negative a's magnitude up, ceil a positive one's.
        let magnitude = match fun {
            Mf::Trunc => floor,
            Mf::Round => even,
            Mf::Floor => self.fb.sel(negative, ceil, floor),
            _ => self.fb.sel(negative, floor, ceil),
        };
        let rounded = self.fb.sel(small, magnitude, abs);
        let r_bits = self.fbits(rounded);
        let r_abs = self.fb.bin(Bo::And, r_bits, abs_mask);
        let with_sign = self.fb.bin(Bo::InclusiveOr, r_abs, sign);
        let r = self.ffrom(with_sign);
        self.quiet_nan(r, t)
    }

    /// clz / ctz / popcnt; 64-bit ones through the 32-bit halves.
    pub(super) fn bitcount(&mut self, fun: Mf, t: Ty) -> Result<(), Unsupported> {
        let a = self.pop()?;
        if t == Ty::I32 {
            let r = self.fb.math(fun, a);
            self.push(r, t);
            return Ok(());
        }
        let lo = self.fb.conv(a, ScalarKind::Uint, 4);
        let c32 = self.fb.u64(32);
        let hs = self.fb.bin(Bo::ShiftRight, a, c32);
        let hi = self.fb.conv(hs, ScalarKind::Uint, 4);
        let clo = self.fb.math(fun, lo);
        let chi = self.fb.math(fun, hi);
        let zero = self.fb.u32(0);
        let k32 = self.fb.u32(32);
        let r32 = match fun {
            Mf::CountLeadingZeros => {
                let hz = self.fb.bin(Bo::Equal, hi, zero);
                let lo32 = self.fb.bin(Bo::Add, clo, k32);
                self.fb.sel(hz, lo32, chi)
            }
            Mf::CountTrailingZeros => {
                let lz = self.fb.bin(Bo::Equal, lo, zero);
                let hi32 = self.fb.bin(Bo::Add, chi, k32);
                self.fb.sel(lz, hi32, clo)
            }
            _ => self.fb.bin(Bo::Add, clo, chi),
        };
        let r = self.fb.conv(r32, ScalarKind::Uint, 8);
        self.push(r, t);
        Ok(())
    }

    pub(super) fn eqz(&mut self, t: Ty) -> Result<(), Unsupported> {
        let a = self.pop()?;
        let z = self.int_lit(t, 0);
        let c = self.fb.bin(Bo::Equal, a, z);
        let r = self.bool_to_i32(c);
        self.push(r, Ty::I32);
        Ok(())
    }

    pub(super) fn div(&mut self, t: Ty, signed: bool, rem: bool) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let z = self.int_lit(t, 0);
        let bz = self.fb.bin(Bo::Equal, b, z);
        self.trap_if(bz, trap::DIV_BY_ZERO);
        // After a trap the invocation runs on: divide by 1 instead.
        let one = self.int_lit(t, 1);
        let b = self.fb.sel(bz, one, b);
        let minus1 = self.int_lit(t, u64::MAX);
        let r = if !signed {
            self.fb.bin(if rem { Bo::Modulo } else { Bo::Divide }, a, b)
        } else if !rem {
            let min = self.int_lit(t, if t == Ty::I64 { 1 << 63 } else { 1 << 31 });
            let amin = self.fb.bin(Bo::Equal, a, min);
            let bm1 = self.fb.bin(Bo::Equal, b, minus1);
            let ovf = self.fb.bin(Bo::LogicalAnd, amin, bm1);
            self.trap_if(ovf, trap::INT_OVERFLOW);
            let b = self.fb.sel(ovf, one, b);
            let sa = self.sint(a);
            let sb = self.sint(b);
            let q = self.fb.bin(Bo::Divide, sa, sb);
            self.uint(q)
        } else {
            // a - (a / b') * b' with b' = 1 when b = -1 (the result is 0 then).
            let bm1 = self.fb.bin(Bo::Equal, b, minus1);
            let b2 = self.fb.sel(bm1, one, b);
            let sa = self.sint(a);
            let sb = self.sint(b2);
            let q = self.fb.bin(Bo::Divide, sa, sb);
            let q = self.uint(q);
            let qb = self.fb.bin(Bo::Multiply, q, b2);
            self.fb.bin(Bo::Subtract, a, qb)
        };
        self.push(r, t);
        Ok(())
    }

    pub(super) fn sign_mask(t: Ty) -> u64 {
        if t == Ty::F64 {
            1 << 63
        } else {
            1 << 31
        }
    }

    /// Float division. lavapipe (Mesa 22.3) folded `x / 0.0` to 0 (wasm:
    /// ±inf) and `0.0 / -x` to +0.0 (wasm: -0.0) when the zero was known at
    /// compile time; no float is, since every float source is opaque (see
    /// `Globals::zero`, driver workaround W1). The operands are not XORed again here: a second
    /// XOR with the same zero cancelled the first and exposed the constant.
    pub(super) fn fdiv(&mut self, t: Ty) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let r = self.fb.bin(Bo::Divide, a, b);
        self.push(r, t);
        Ok(())
    }

    /// `bits + zero`: like [`Self::opaque_bits`] but with another operation,
    /// for values that may already be `c ^ zero` (a reinterpreted float
    /// constant): `c ^ zero ^ zero` would fold back to `c`.
    pub(super) fn opaque_bits_add(&mut self, bits: H, t: Ty) -> H {
        self.with_zero(Bo::Add, bits, t)
    }

    /// `bits ^ zero` at the width of `t`: the same bits, hidden from the
    /// driver's constant folding (see `Globals::zero`, [`Self::sext64`]).
    pub(super) fn opaque_bits(&mut self, bits: H, t: Ty) -> H {
        self.with_zero(Bo::ExclusiveOr, bits, t)
    }

    /// `bits op zero`, the run-time zero widened to `t`.
    pub(super) fn with_zero(&mut self, op: Bo, bits: H, t: Ty) -> H {
        let zero = run_time_zero(&mut self.fb, self.sh.g, t.is_64());
        self.fb.bin(op, bits, zero)
    }

    /// Whether the float `a` of type `t` is a NaN, decided on its bits
    /// (W10: `a != a` is a float comparison the driver may fold: lavapipe
    /// answered false for NaN, so a trapping truncation of NaN reported an
    /// overflow).
    pub(super) fn is_nan_bits(&mut self, a: H, t: Ty) -> H {
        let bits = self.fbits(a);
        let (abs_mask, inf) = if t == Ty::F64 {
            (0x7fff_ffff_ffff_ffffu64, 0x7ff0_0000_0000_0000u64)
        } else {
            (0x7fff_ffff, 0x7f80_0000)
        };
        let abs_mask = self.ilit_for_float(t, abs_mask);
        let abs = self.fb.bin(Bo::And, bits, abs_mask);
        let inf = self.ilit_for_float(t, inf);
        self.fb.bin(Bo::Greater, abs, inf)
    }

    /// W9: `r` (of type `t`) with the quiet bit set when it is a NaN, in
    /// integer operations the driver cannot fold. Wasm's demote/promote
    /// give an arithmetic (quiet) NaN for a NaN input; lavapipe folded
    /// `demote(promote(x))` to `x` and returned a signalling NaN unchanged
    /// (spec test float_exprs.wast `no_fold_promote_demote`).
    pub(super) fn quiet_nan(&mut self, r: H, t: Ty) -> H {
        let nan = self.is_nan_bits(r, t);
        let bits = self.fbits(r);
        let quiet = if t == Ty::F64 {
            0x0008_0000_0000_0000u64
        } else {
            0x0040_0000
        };
        let quiet = self.ilit_for_float(t, quiet);
        let q = self.fb.bin(Bo::InclusiveOr, bits, quiet);
        let out = self.fb.sel(nan, q, bits);
        self.ffrom(out)
    }

    /// A float's bits, as the unsigned integer of its width.
    pub(super) fn fbits(&mut self, a: H) -> H {
        self.fb.bitcast(a, ScalarKind::Uint)
    }
    /// The float with these bits (of the same width).
    pub(super) fn ffrom(&mut self, a: H) -> H {
        self.fb.bitcast(a, ScalarKind::Float)
    }
    pub(super) fn ilit_for_float(&mut self, t: Ty, v: u64) -> H {
        if t == Ty::F64 {
            self.fb.u64(v)
        } else {
            self.fb.u32(v as u32)
        }
    }
    pub(super) fn flit(&mut self, t: Ty, v: f64) -> H {
        if t == Ty::F64 {
            self.fb.f64_bits(v.to_bits())
        } else {
            self.fb.f32_bits((v as f32).to_bits())
        }
    }

    /// abs / neg / copysign as bit operations (exact on NaN payloads).
    pub(super) fn float_sign(&mut self, t: Ty, op: SignOp) -> Result<(), Unsupported> {
        let m = Self::sign_mask(t);
        let r = match op {
            SignOp::Abs => {
                let a = self.pop()?;
                let bits = self.fbits(a);
                let k = self.ilit_for_float(t, !m);
                let v = self.fb.bin(Bo::And, bits, k);
                self.ffrom(v)
            }
            SignOp::Neg => {
                let a = self.pop()?;
                let bits = self.fbits(a);
                let k = self.ilit_for_float(t, m);
                let v = self.fb.bin(Bo::ExclusiveOr, bits, k);
                self.ffrom(v)
            }
            SignOp::Copysign if t == Ty::F64 => {
                // On the high words only: lavapipe (Mesa 22.3) computed
                // `(bits(a) & !SIGN) | (bits(b) & SIGN)` on f64 bits inside
                // an `if` as `bits(a) | bits(b)` on the high word (random
                // kernel seed 511); 32-bit masks on the halves are right.
                // Driver workaround W3 (docs/wasi-parallel.md 2.4).
                let b = self.pop()?;
                let a = self.pop()?;
                let ab = self.fbits(a);
                let bb = self.fbits(b);
                let k32 = self.fb.u64(32);
                let ahi = self.fb.bin(Bo::ShiftRight, ab, k32);
                let ahi = self.fb.conv(ahi, ScalarKind::Uint, 4);
                let bhi = self.fb.bin(Bo::ShiftRight, bb, k32);
                let bhi = self.fb.conv(bhi, ScalarKind::Uint, 4);
                let km = self.fb.u32(0x7FFF_FFFF);
                let ks = self.fb.u32(0x8000_0000);
                let x = self.fb.bin(Bo::And, ahi, km);
                let y = self.fb.bin(Bo::And, bhi, ks);
                let hi = self.fb.bin(Bo::InclusiveOr, x, y);
                let hi = self.fb.conv(hi, ScalarKind::Uint, 8);
                let hi = self.fb.bin(Bo::ShiftLeft, hi, k32);
                let lo = self.fb.conv(ab, ScalarKind::Uint, 4);
                let lo = self.fb.conv(lo, ScalarKind::Uint, 8);
                let v = self.fb.bin(Bo::InclusiveOr, hi, lo);
                self.ffrom(v)
            }
            SignOp::Copysign => {
                let b = self.pop()?;
                let a = self.pop()?;
                let ab = self.fbits(a);
                let bb = self.fbits(b);
                let km = self.ilit_for_float(t, !m);
                let ks = self.ilit_for_float(t, m);
                let x = self.fb.bin(Bo::And, ab, km);
                let y = self.fb.bin(Bo::And, bb, ks);
                let v = self.fb.bin(Bo::InclusiveOr, x, y);
                self.ffrom(v)
            }
        };
        self.push(r, t);
        Ok(())
    }

    /// wasm min/max: NaN if either is NaN; -0 < +0.
    pub(super) fn fminmax(&mut self, t: Ty, max: bool) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let na = self.fb.isnan(a);
        let nb = self.fb.isnan(b);
        let nan = self.fb.bin(Bo::LogicalOr, na, nb);
        let sum = self.fb.bin(Bo::Add, a, b);
        let eq = self.fb.bin(Bo::Equal, a, b);
        let ab = self.fbits(a);
        let bb = self.fbits(b);
        let zb = self
            .fb
            .bin(if max { Bo::And } else { Bo::InclusiveOr }, ab, bb);
        let z = self.ffrom(zb);
        let lt = self.fb.bin(if max { Bo::Greater } else { Bo::Less }, a, b);
        let pick = self.fb.sel(lt, a, b);
        let r1 = self.fb.sel(eq, z, pick);
        let r = self.fb.sel(nan, sum, r1);
        self.push(r, t);
        Ok(())
    }

    /// Bounds of `from` values that convert to `to` without trapping:
    /// (lower, lower inclusive, upper exclusive).
    pub(super) fn trunc_bounds(from: Ty, to: Ty, signed: bool) -> (f64, bool, f64) {
        match (to, signed) {
            (Ty::I32, true) => {
                if from == Ty::F32 {
                    (-2147483648.0, true, 2147483648.0)
                } else {
                    (-2147483649.0, false, 2147483648.0)
                }
            }
            (Ty::I32, false) => (-1.0, false, 4294967296.0),
            (_, true) => (-9223372036854775808.0, true, 9223372036854775808.0),
            (_, false) => (-1.0, false, 18446744073709551616.0),
        }
    }

    pub(super) fn trunc(
        &mut self,
        from: Ty,
        to: Ty,
        signed: bool,
        sat: bool,
    ) -> Result<(), Unsupported> {
        let a = self.pop()?;
        let (lo, lo_incl, hi) = Self::trunc_bounds(from, to, signed);
        let lo_c = self.flit(from, lo);
        let hi_c = self.flit(from, hi);
        let ge_lo = self.fb.bin(
            if lo_incl {
                Bo::GreaterEqual
            } else {
                Bo::Greater
            },
            a,
            lo_c,
        );
        let lt_hi = self.fb.bin(Bo::Less, a, hi_c);
        let kind = if signed {
            ScalarKind::Sint
        } else {
            ScalarKind::Uint
        };
        let w = Self::width(to);
        if !sat {
            let ok = self.fb.bin(Bo::LogicalAnd, ge_lo, lt_hi);
            let bad = self.fb.un(Uo::LogicalNot, ok);
            // NaN is an invalid conversion, an out-of-range number an
            // integer overflow (two trap kinds in the spec).
            let nan = self.is_nan_bits(a, from);
            let not_nan = self.fb.un(Uo::LogicalNot, nan);
            let overflow = self.fb.bin(Bo::LogicalAnd, bad, not_nan);
            self.trap_if(nan, trap::BAD_CONVERSION);
            self.trap_if(overflow, trap::INT_OVERFLOW);
            // After a trap the invocation runs on: convert 0.0 instead.
            let zero = self.flit(from, 0.0);
            let a = self.fb.sel(bad, zero, a);
            let c = self.fb.conv(a, kind, w);
            let r = if signed { self.uint(c) } else { c };
            self.push(r, to);
            return Ok(());
        }
        let c = self.fb.conv(a, kind, w);
        let c = if signed { self.uint(c) } else { c };
        let (min, max) = match (to, signed) {
            (Ty::I32, true) => (1u64 << 31, (1u64 << 31) - 1),
            (Ty::I32, false) => (0, u32::MAX as u64),
            (_, true) => (1u64 << 63, (1u64 << 63) - 1),
            (_, false) => (0, u64::MAX),
        };
        let minv = self.int_lit(to, min);
        let maxv = self.int_lit(to, max);
        let zero = self.int_lit(to, 0);
        let nan = self.fb.isnan(a);
        let r1 = self.fb.sel(ge_lo, c, minv);
        let r2 = self.fb.sel(lt_hi, r1, maxv);
        let r = self.fb.sel(nan, zero, r2);
        self.push(r, to);
        Ok(())
    }

    /// Integer (of either width) to float `to`.
    pub(super) fn int_to_float(&mut self, to: Ty, signed: bool) -> Result<(), Unsupported> {
        let a = self.pop()?;
        let src = if signed { self.sint(a) } else { a };
        let r = self.fb.conv(src, ScalarKind::Float, Self::width(to));
        // Opaque (see `Globals::zero`): the integer may be one the driver
        // can compute, such as 0 * x.
        let bits = self.fbits(r);
        let bits = self.opaque_bits(bits, to);
        let r = self.ffrom(bits);
        self.push(r, to);
        Ok(())
    }

    /// Sign-extends the low `bits` of an integer of type `t`.
    pub(super) fn sext(&mut self, a: H, t: Ty, bits: u32) -> H {
        let total = if t == Ty::I64 { 64 } else { 32 };
        let k = self.fb.u32(total - bits);
        let s = self.sint(a);
        let l = self.fb.bin(Bo::ShiftLeft, s, k);
        let r = self.fb.bin(Bo::ShiftRight, l, k);
        let r = self.uint(r);
        if t == Ty::I64 {
            // Could be recognised as a sign extension: see `sext64`.
            self.opaque_bits(r, Ty::I64)
        } else {
            r
        }
    }

    /// A `u32` sign-extended to `u64`, made opaque: lavapipe (Mesa 22.3)
    /// got comparisons of a sign-extended value with a small constant
    /// wrong: `i64.lt_s (i64.extend_i32_s x) (i64.const 24)` was 0 for
    /// x = 7 (seed 176), and ones it derived itself too: `f64.ge
    /// (f64.convert_i64_s (i64.load8_s ..)) (f64.const 0)` was 1 for -99
    /// (seed 344). Only at the source: XORing the comparison operands as
    /// well cancelled out (`x ^ z ^ z`) and exposed the extension again
    /// (seed 1358). Driver workaround W2 (docs/wasi-parallel.md 2.4).
    pub(super) fn sext64(&mut self, a: H) -> H {
        let s = self.sint(a);
        let e = self.fb.conv(s, ScalarKind::Sint, 8);
        let e = self.uint(e);
        self.opaque_bits(e, Ty::I64)
    }
}
