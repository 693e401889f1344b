//! Integer SIMD operators: lane-wise arithmetic (wrapping and saturating),
//! comparisons, shifts, min/max, `abs`/`neg`/`popcnt`, `all_true`,
//! `bitmask`, narrowing, widening, extended multiply, pairwise add and dot
//! product. Lanes are computed in 32 bits (64 for `i64x2`) on zero- or
//! sign-extended values, so wrapping needs only the masking of `pack`.

use super::simd::Lanes;
use super::translator::FnTranslator;
use super::H;
use crate::spirv::analyze::Ty;
use crate::spirv::Unsupported;
use naga::{BinaryOperator as Bo, MathFunction as Mf, ScalarKind};
use wasmparser::Operator;

impl<'s, 'a> FnTranslator<'s, 'a> {
    pub(super) fn visit_simd_int<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use Lanes as L;
        use Operator as O;
        match op {
            // Wrapping arithmetic.
            O::I8x16Add => self.lanewise_scalar(2, L::I8, false, |s| s.binop(Bo::Add, Ty::I32))?,
            O::I16x8Add => self.lanewise_scalar(2, L::I16, false, |s| s.binop(Bo::Add, Ty::I32))?,
            O::I32x4Add => self.lanewise_scalar(2, L::I32, false, |s| s.binop(Bo::Add, Ty::I32))?,
            O::I64x2Add => self.lanewise_scalar(2, L::I64, false, |s| s.binop(Bo::Add, Ty::I64))?,
            O::I8x16Sub => {
                self.lanewise_scalar(2, L::I8, false, |s| s.binop(Bo::Subtract, Ty::I32))?
            }
            O::I16x8Sub => {
                self.lanewise_scalar(2, L::I16, false, |s| s.binop(Bo::Subtract, Ty::I32))?
            }
            O::I32x4Sub => {
                self.lanewise_scalar(2, L::I32, false, |s| s.binop(Bo::Subtract, Ty::I32))?
            }
            O::I64x2Sub => {
                self.lanewise_scalar(2, L::I64, false, |s| s.binop(Bo::Subtract, Ty::I64))?
            }
            O::I16x8Mul => {
                self.lanewise_scalar(2, L::I16, false, |s| s.binop(Bo::Multiply, Ty::I32))?
            }
            O::I32x4Mul => {
                self.lanewise_scalar(2, L::I32, false, |s| s.binop(Bo::Multiply, Ty::I32))?
            }
            O::I64x2Mul => {
                self.lanewise_scalar(2, L::I64, false, |s| s.binop(Bo::Multiply, Ty::I64))?
            }
            O::I8x16Neg => self.lanewise(1, L::I8, false, L::I8, |s, a| Ok(s.ineg(a[0], false)))?,
            O::I16x8Neg => {
                self.lanewise(1, L::I16, false, L::I16, |s, a| Ok(s.ineg(a[0], false)))?
            }
            O::I32x4Neg => {
                self.lanewise(1, L::I32, false, L::I32, |s, a| Ok(s.ineg(a[0], false)))?
            }
            O::I64x2Neg => {
                self.lanewise(1, L::I64, false, L::I64, |s, a| Ok(s.ineg(a[0], true)))?
            }
            O::I8x16Abs => self.lanewise(1, L::I8, true, L::I8, |s, a| Ok(s.iabs(a[0], false)))?,
            O::I16x8Abs => {
                self.lanewise(1, L::I16, true, L::I16, |s, a| Ok(s.iabs(a[0], false)))?
            }
            O::I32x4Abs => {
                self.lanewise(1, L::I32, true, L::I32, |s, a| Ok(s.iabs(a[0], false)))?
            }
            O::I64x2Abs => self.lanewise(1, L::I64, true, L::I64, |s, a| Ok(s.iabs(a[0], true)))?,
            O::I8x16Popcnt => self.lanewise(1, L::I8, false, L::I8, |s, a| {
                Ok(s.fb.math(Mf::CountOneBits, a[0]))
            })?,
            // Saturating arithmetic (computed exactly in 32 bits, clamped).
            O::I8x16AddSatS => self.sat(L::I8, Bo::Add, true)?,
            O::I8x16AddSatU => self.sat(L::I8, Bo::Add, false)?,
            O::I8x16SubSatS => self.sat(L::I8, Bo::Subtract, true)?,
            O::I8x16SubSatU => self.sat(L::I8, Bo::Subtract, false)?,
            O::I16x8AddSatS => self.sat(L::I16, Bo::Add, true)?,
            O::I16x8AddSatU => self.sat(L::I16, Bo::Add, false)?,
            O::I16x8SubSatS => self.sat(L::I16, Bo::Subtract, true)?,
            O::I16x8SubSatU => self.sat(L::I16, Bo::Subtract, false)?,
            O::I16x8Q15MulrSatS => self.lanewise(2, L::I16, true, L::I16, |s, a| {
                // (a * b + 0x4000) >> 15, saturated (only -1 * -1 overflows).
                let p = s.fb.bin(Bo::Multiply, a[0], a[1]);
                let k = s.fb.u32(0x4000);
                let p = s.fb.bin(Bo::Add, p, k);
                let p = s.sint(p);
                let k15 = s.fb.u32(15);
                let r = s.fb.bin(Bo::ShiftRight, p, k15);
                let r = s.uint(r);
                Ok(s.clamp_s(r, -32768, 32767))
            })?,
            O::I8x16AvgrU => self.lanewise(2, L::I8, false, L::I8, |s, a| Ok(s.avgr(a)))?,
            O::I16x8AvgrU => self.lanewise(2, L::I16, false, L::I16, |s, a| Ok(s.avgr(a)))?,
            // Min / max.
            O::I8x16MinS => self.minmax(L::I8, true, false)?,
            O::I8x16MinU => self.minmax(L::I8, false, false)?,
            O::I8x16MaxS => self.minmax(L::I8, true, true)?,
            O::I8x16MaxU => self.minmax(L::I8, false, true)?,
            O::I16x8MinS => self.minmax(L::I16, true, false)?,
            O::I16x8MinU => self.minmax(L::I16, false, false)?,
            O::I16x8MaxS => self.minmax(L::I16, true, true)?,
            O::I16x8MaxU => self.minmax(L::I16, false, true)?,
            O::I32x4MinS => self.minmax(L::I32, true, false)?,
            O::I32x4MinU => self.minmax(L::I32, false, false)?,
            O::I32x4MaxS => self.minmax(L::I32, true, true)?,
            O::I32x4MaxU => self.minmax(L::I32, false, true)?,
            // Comparisons.
            O::I8x16Eq => self.icmp(L::I8, Bo::Equal, false)?,
            O::I8x16Ne => self.icmp(L::I8, Bo::NotEqual, false)?,
            O::I8x16LtS => self.icmp(L::I8, Bo::Less, true)?,
            O::I8x16LtU => self.icmp(L::I8, Bo::Less, false)?,
            O::I8x16GtS => self.icmp(L::I8, Bo::Greater, true)?,
            O::I8x16GtU => self.icmp(L::I8, Bo::Greater, false)?,
            O::I8x16LeS => self.icmp(L::I8, Bo::LessEqual, true)?,
            O::I8x16LeU => self.icmp(L::I8, Bo::LessEqual, false)?,
            O::I8x16GeS => self.icmp(L::I8, Bo::GreaterEqual, true)?,
            O::I8x16GeU => self.icmp(L::I8, Bo::GreaterEqual, false)?,
            O::I16x8Eq => self.icmp(L::I16, Bo::Equal, false)?,
            O::I16x8Ne => self.icmp(L::I16, Bo::NotEqual, false)?,
            O::I16x8LtS => self.icmp(L::I16, Bo::Less, true)?,
            O::I16x8LtU => self.icmp(L::I16, Bo::Less, false)?,
            O::I16x8GtS => self.icmp(L::I16, Bo::Greater, true)?,
            O::I16x8GtU => self.icmp(L::I16, Bo::Greater, false)?,
            O::I16x8LeS => self.icmp(L::I16, Bo::LessEqual, true)?,
            O::I16x8LeU => self.icmp(L::I16, Bo::LessEqual, false)?,
            O::I16x8GeS => self.icmp(L::I16, Bo::GreaterEqual, true)?,
            O::I16x8GeU => self.icmp(L::I16, Bo::GreaterEqual, false)?,
            O::I32x4Eq => self.icmp(L::I32, Bo::Equal, false)?,
            O::I32x4Ne => self.icmp(L::I32, Bo::NotEqual, false)?,
            O::I32x4LtS => self.icmp(L::I32, Bo::Less, true)?,
            O::I32x4LtU => self.icmp(L::I32, Bo::Less, false)?,
            O::I32x4GtS => self.icmp(L::I32, Bo::Greater, true)?,
            O::I32x4GtU => self.icmp(L::I32, Bo::Greater, false)?,
            O::I32x4LeS => self.icmp(L::I32, Bo::LessEqual, true)?,
            O::I32x4LeU => self.icmp(L::I32, Bo::LessEqual, false)?,
            O::I32x4GeS => self.icmp(L::I32, Bo::GreaterEqual, true)?,
            O::I32x4GeU => self.icmp(L::I32, Bo::GreaterEqual, false)?,
            O::I64x2Eq => self.icmp(L::I64, Bo::Equal, false)?,
            O::I64x2Ne => self.icmp(L::I64, Bo::NotEqual, false)?,
            O::I64x2LtS => self.icmp(L::I64, Bo::Less, true)?,
            O::I64x2GtS => self.icmp(L::I64, Bo::Greater, true)?,
            O::I64x2LeS => self.icmp(L::I64, Bo::LessEqual, true)?,
            O::I64x2GeS => self.icmp(L::I64, Bo::GreaterEqual, true)?,
            // Shifts (the count modulo the lane width).
            O::I8x16Shl => self.vshift(L::I8, Shift::Left)?,
            O::I8x16ShrS => self.vshift(L::I8, Shift::RightS)?,
            O::I8x16ShrU => self.vshift(L::I8, Shift::RightU)?,
            O::I16x8Shl => self.vshift(L::I16, Shift::Left)?,
            O::I16x8ShrS => self.vshift(L::I16, Shift::RightS)?,
            O::I16x8ShrU => self.vshift(L::I16, Shift::RightU)?,
            O::I32x4Shl => self.vshift(L::I32, Shift::Left)?,
            O::I32x4ShrS => self.vshift(L::I32, Shift::RightS)?,
            O::I32x4ShrU => self.vshift(L::I32, Shift::RightU)?,
            O::I64x2Shl => self.vshift(L::I64, Shift::Left)?,
            O::I64x2ShrS => self.vshift(L::I64, Shift::RightS)?,
            O::I64x2ShrU => self.vshift(L::I64, Shift::RightU)?,
            // Reductions to i32.
            O::I8x16AllTrue => self.all_true(L::I8)?,
            O::I16x8AllTrue => self.all_true(L::I16)?,
            O::I32x4AllTrue => self.all_true(L::I32)?,
            O::I64x2AllTrue => self.all_true(L::I64)?,
            O::I8x16Bitmask => self.bitmask(L::I8)?,
            O::I16x8Bitmask => self.bitmask(L::I16)?,
            O::I32x4Bitmask => self.bitmask(L::I32)?,
            O::I64x2Bitmask => self.bitmask(L::I64)?,
            // Narrowing (signed input, saturated).
            O::I8x16NarrowI16x8S => self.narrow(L::I16, -128, 127)?,
            O::I8x16NarrowI16x8U => self.narrow(L::I16, 0, 255)?,
            O::I16x8NarrowI32x4S => self.narrow(L::I32, -32768, 32767)?,
            O::I16x8NarrowI32x4U => self.narrow(L::I32, 0, 65535)?,
            // Widening.
            O::I16x8ExtendLowI8x16S => self.extend(L::I8, false, true)?,
            O::I16x8ExtendHighI8x16S => self.extend(L::I8, true, true)?,
            O::I16x8ExtendLowI8x16U => self.extend(L::I8, false, false)?,
            O::I16x8ExtendHighI8x16U => self.extend(L::I8, true, false)?,
            O::I32x4ExtendLowI16x8S => self.extend(L::I16, false, true)?,
            O::I32x4ExtendHighI16x8S => self.extend(L::I16, true, true)?,
            O::I32x4ExtendLowI16x8U => self.extend(L::I16, false, false)?,
            O::I32x4ExtendHighI16x8U => self.extend(L::I16, true, false)?,
            O::I64x2ExtendLowI32x4S => self.extend(L::I32, false, true)?,
            O::I64x2ExtendHighI32x4S => self.extend(L::I32, true, true)?,
            O::I64x2ExtendLowI32x4U => self.extend(L::I32, false, false)?,
            O::I64x2ExtendHighI32x4U => self.extend(L::I32, true, false)?,
            O::I16x8ExtMulLowI8x16S => self.extmul(L::I8, false, true)?,
            O::I16x8ExtMulHighI8x16S => self.extmul(L::I8, true, true)?,
            O::I16x8ExtMulLowI8x16U => self.extmul(L::I8, false, false)?,
            O::I16x8ExtMulHighI8x16U => self.extmul(L::I8, true, false)?,
            O::I32x4ExtMulLowI16x8S => self.extmul(L::I16, false, true)?,
            O::I32x4ExtMulHighI16x8S => self.extmul(L::I16, true, true)?,
            O::I32x4ExtMulLowI16x8U => self.extmul(L::I16, false, false)?,
            O::I32x4ExtMulHighI16x8U => self.extmul(L::I16, true, false)?,
            O::I64x2ExtMulLowI32x4S => self.extmul(L::I32, false, true)?,
            O::I64x2ExtMulHighI32x4S => self.extmul(L::I32, true, true)?,
            O::I64x2ExtMulLowI32x4U => self.extmul(L::I32, false, false)?,
            O::I64x2ExtMulHighI32x4U => self.extmul(L::I32, true, false)?,
            O::I16x8ExtAddPairwiseI8x16S => self.pairwise(L::I8, true, false)?,
            O::I16x8ExtAddPairwiseI8x16U => self.pairwise(L::I8, false, false)?,
            O::I32x4ExtAddPairwiseI16x8S => self.pairwise(L::I16, true, false)?,
            O::I32x4ExtAddPairwiseI16x8U => self.pairwise(L::I16, false, false)?,
            O::I32x4DotI16x8S => self.pairwise(L::I16, true, true)?,
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// `0 - x` at 32 or 64 bits.
    fn ineg(&mut self, x: H, wide: bool) -> H {
        let z = if wide { self.fb.u64(0) } else { self.fb.u32(0) };
        self.fb.bin(Bo::Subtract, z, x)
    }

    /// `x < 0 ? -x : x` on a sign-extended lane.
    fn iabs(&mut self, x: H, wide: bool) -> H {
        let s = self.sint(x);
        let z = if wide { self.fb.u64(0) } else { self.fb.u32(0) };
        let sz = self.sint(z);
        let neg = self.fb.bin(Bo::Less, s, sz);
        let n = self.ineg(x, wide);
        self.fb.sel(neg, n, x)
    }

    /// A sign-extended `u32` clamped to `[lo, hi]` (signed).
    fn clamp_s(&mut self, x: H, lo: i32, hi: i32) -> H {
        let s = self.sint(x);
        let lo_c = self.fb.u32(lo as u32);
        let hi_c = self.fb.u32(hi as u32);
        let lo_s = self.sint(lo_c);
        let hi_s = self.sint(hi_c);
        let below = self.fb.bin(Bo::Less, s, lo_s);
        let above = self.fb.bin(Bo::Greater, s, hi_s);
        let r = self.fb.sel(below, lo_c, x);
        self.fb.sel(above, hi_c, r)
    }

    /// Saturating add/sub of `i8`/`i16` lanes.
    fn sat(&mut self, l: Lanes, op: Bo, signed: bool) -> Result<(), Unsupported> {
        let bits = l.bits();
        self.lanewise(2, l, signed, l, |s, a| {
            let r = s.fb.bin(op, a[0], a[1]);
            Ok(if signed {
                let m = 1i32 << (bits - 1);
                s.clamp_s(r, -m, m - 1)
            } else {
                s.clamp_s(r, 0, ((1u32 << bits) - 1) as i32)
            })
        })
    }

    /// `(a + b + 1) >> 1` on zero-extended lanes.
    fn avgr(&mut self, a: &[H]) -> H {
        let one = self.fb.u32(1);
        let s = self.fb.bin(Bo::Add, a[0], a[1]);
        let s = self.fb.bin(Bo::Add, s, one);
        self.fb.bin(Bo::ShiftRight, s, one)
    }

    fn minmax(&mut self, l: Lanes, signed: bool, max: bool) -> Result<(), Unsupported> {
        self.lanewise(2, l, signed, l, |s, a| {
            let (x, y) = if signed {
                (s.sint(a[0]), s.sint(a[1]))
            } else {
                (a[0], a[1])
            };
            let c = s.fb.bin(if max { Bo::Greater } else { Bo::Less }, x, y);
            Ok(s.fb.sel(c, a[0], a[1]))
        })
    }

    /// Integer comparison: all ones where true.
    fn icmp(&mut self, l: Lanes, op: Bo, signed: bool) -> Result<(), Unsupported> {
        let t = l.scalar();
        self.lanewise(2, l, signed, l, |s, a| {
            let r = s.scalar(&[(a[0], t), (a[1], t)], |s| s.cmp(op, signed))?;
            Ok(s.bool_mask(r, t == Ty::I64))
        })
    }

    fn vshift(&mut self, l: Lanes, kind: Shift) -> Result<(), Unsupported> {
        let amount = self.pop()?;
        let m = self.fb.u32(l.bits() - 1);
        let k = self.fb.bin(Bo::And, amount, m);
        self.lanewise(1, l, kind == Shift::RightS, l, |s, a| {
            Ok(match kind {
                Shift::Left => s.fb.bin(Bo::ShiftLeft, a[0], k),
                Shift::RightU => s.fb.bin(Bo::ShiftRight, a[0], k),
                Shift::RightS => {
                    let x = s.sint(a[0]);
                    let r = s.fb.bin(Bo::ShiftRight, x, k);
                    s.uint(r)
                }
            })
        })
    }

    fn all_true(&mut self, l: Lanes) -> Result<(), Unsupported> {
        let lanes = self.pop_lanes(l, false)?;
        let z = if l == Lanes::I64 {
            self.fb.u64(0)
        } else {
            self.fb.u32(0)
        };
        let mut acc = None;
        for x in lanes {
            let nz = self.fb.bin(Bo::NotEqual, x, z);
            acc = Some(match acc {
                None => nz,
                Some(a) => self.fb.bin(Bo::LogicalAnd, a, nz),
            });
        }
        let acc = acc.expect("lanes");
        let r = self.bool_to_i32(acc);
        self.push(r, Ty::I32);
        Ok(())
    }

    /// Bit `i` of the result is the sign bit of lane `i`.
    fn bitmask(&mut self, l: Lanes) -> Result<(), Unsupported> {
        let lanes = self.pop_lanes(l, false)?;
        let top = l.bits() - 1;
        let mut acc = None;
        for (i, x) in lanes.into_iter().enumerate() {
            let b = if l == Lanes::I64 {
                let k = self.fb.u64(63);
                let b = self.fb.bin(Bo::ShiftRight, x, k);
                self.fb.conv(b, ScalarKind::Uint, 4)
            } else {
                let k = self.fb.u32(top);
                self.fb.bin(Bo::ShiftRight, x, k)
            };
            let b = if i == 0 {
                b
            } else {
                let k = self.fb.u32(i as u32);
                self.fb.bin(Bo::ShiftLeft, b, k)
            };
            acc = Some(match acc {
                None => b,
                Some(a) => self.fb.bin(Bo::InclusiveOr, a, b),
            });
        }
        let r = acc.expect("lanes");
        self.push(r, Ty::I32);
        Ok(())
    }

    /// Signed lanes of `from` (two operands) saturated to `[lo, hi]` in
    /// lanes of half the width.
    fn narrow(&mut self, from: Lanes, lo: i32, hi: i32) -> Result<(), Unsupported> {
        let b = self.pop_lanes(from, true)?;
        let a = self.pop_lanes(from, true)?;
        let mut out = Vec::with_capacity(2 * a.len());
        for x in a.into_iter().chain(b) {
            out.push(self.clamp_s(x, lo, hi));
        }
        let to = if from == Lanes::I16 {
            Lanes::I8
        } else {
            Lanes::I16
        };
        self.push_lanes(&out, to);
        Ok(())
    }

    /// The wider lane type of `l` (`i32` lanes widen to `i64`).
    fn wider(l: Lanes) -> Lanes {
        match l {
            Lanes::I8 => Lanes::I16,
            Lanes::I16 => Lanes::I32,
            _ => Lanes::I64,
        }
    }

    /// Lane `x` of `from` widened: `i32` lanes to `u64` (signed ones opaque,
    /// see `sext64`), narrower lanes are extended already.
    fn widen(&mut self, x: H, from: Lanes, signed: bool) -> H {
        if from != Lanes::I32 {
            x
        } else if signed {
            self.sext64(x)
        } else {
            self.fb.conv(x, ScalarKind::Uint, 8)
        }
    }

    /// The low or high half of the lanes, widened.
    fn half(&mut self, from: Lanes, high: bool, signed: bool) -> Result<Vec<H>, Unsupported> {
        let lanes = self.pop_lanes(from, signed)?;
        let n = lanes.len() / 2;
        let part = if high { &lanes[n..] } else { &lanes[..n] };
        Ok(part.iter().map(|&x| self.widen(x, from, signed)).collect())
    }

    fn extend(&mut self, from: Lanes, high: bool, signed: bool) -> Result<(), Unsupported> {
        let out = self.half(from, high, signed)?;
        self.push_lanes(&out, Self::wider(from));
        Ok(())
    }

    fn extmul(&mut self, from: Lanes, high: bool, signed: bool) -> Result<(), Unsupported> {
        let b = self.half(from, high, signed)?;
        let a = self.half(from, high, signed)?;
        let out: Vec<H> = a
            .into_iter()
            .zip(b)
            .map(|(x, y)| self.fb.bin(Bo::Multiply, x, y))
            .collect();
        self.push_lanes(&out, Self::wider(from));
        Ok(())
    }

    /// Adjacent lanes added (`extadd_pairwise`), or with `dot` the products
    /// of two operands' adjacent lanes added (`i32x4.dot_i16x8_s`).
    fn pairwise(&mut self, from: Lanes, signed: bool, dot: bool) -> Result<(), Unsupported> {
        let terms = if dot {
            let b = self.pop_lanes(from, signed)?;
            let a = self.pop_lanes(from, signed)?;
            a.into_iter()
                .zip(b)
                .map(|(x, y)| self.fb.bin(Bo::Multiply, x, y))
                .collect()
        } else {
            self.pop_lanes(from, signed)?
        };
        let out: Vec<H> = terms
            .chunks(2)
            .map(|p| self.fb.bin(Bo::Add, p[0], p[1]))
            .collect();
        self.push_lanes(&out, Self::wider(from));
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shift {
    Left,
    RightS,
    RightU,
}
