//! Fixed-width SIMD (`v128`): the representation, lanes, and the visitor
//! that hands each SIMD operator to its file (`simd_int.rs`,
//! `simd_float.rs`, `simd_memory.rs`).
//!
//! A `v128` is a naga `vec4<u32>`: the four little-endian 32-bit words of
//! the 128 bits. Operators unpack it into scalar lanes in the form the
//! scalar translator uses (`i8`/`i16` lanes as `u32` holding the lane
//! zero- or sign-extended, `i32` as `u32`, `i64` as `u64`, floats as naga
//! floats), compute each lane with the scalar code paths where one exists
//! (so NaN handling, rounding, saturation and the driver workarounds are the
//! scalar ones, already tested), and pack the results back. GPUs (and
//! llvmpipe, which runs one invocation per SIMD lane) execute vector code
//! per lane anyway, so lanes cost what vector instructions would.
//!
//! Driver discipline as for scalars (see `Globals::zero`): float lanes are
//! unpacked through `bits + zero` (like `f32.reinterpret_i32`), since any
//! `v128` may be reinterpreted as floats, and `v128.const` words are XORed
//! with the run-time zero.

use super::translator::FnTranslator;
use super::H;
use crate::spirv::analyze::Ty;
use crate::spirv::Unsupported;
use naga::{BinaryOperator as Bo, Expression, ScalarKind};
use wasmparser::Operator;

/// Whether `op` loads or stores a whole `v128`. Loops with such accesses
/// are not unrolled: they already do several elements per iteration (which
/// is what unrolling buys against llvmpipe's loop limit), and unrolled
/// copies of their wide bounds-checked accesses made lavapipe compile the
/// example kernels built with `-O3 -msimd128` for over a minute.
pub(super) fn is_v128_access(op: &Operator<'_>) -> bool {
    matches!(op, Operator::V128Load { .. } | Operator::V128Store { .. })
}

/// The lane interpretation of a `v128`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lanes {
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
}

impl Lanes {
    pub(super) fn count(self) -> usize {
        match self {
            Lanes::I8 => 16,
            Lanes::I16 => 8,
            Lanes::I32 | Lanes::F32 => 4,
            Lanes::I64 | Lanes::F64 => 2,
        }
    }
    pub(super) fn bits(self) -> u32 {
        128 / self.count() as u32
    }
    /// The scalar type of one unpacked lane.
    pub(super) fn scalar(self) -> Ty {
        match self {
            Lanes::I8 | Lanes::I16 | Lanes::I32 => Ty::I32,
            Lanes::I64 => Ty::I64,
            Lanes::F32 => Ty::F32,
            Lanes::F64 => Ty::F64,
        }
    }
}

impl<'s, 'a> FnTranslator<'s, 'a> {
    /// Word `i` (0..4) of a `v128`.
    pub(super) fn word(&mut self, v: H, i: u32) -> H {
        self.fb.expr(Expression::AccessIndex { base: v, index: i })
    }

    /// A `v128` from four `u32` words.
    pub(super) fn compose(&mut self, words: Vec<H>) -> H {
        let ty = self.sh.t.vec4u;
        self.fb.expr(Expression::Compose {
            ty,
            components: words,
        })
    }

    /// The `u64` with words `lo` and `hi`.
    pub(super) fn join64(&mut self, lo: H, hi: H) -> H {
        self.uses_i64 = true;
        let lo = self.fb.conv(lo, ScalarKind::Uint, 8);
        let hi = self.fb.conv(hi, ScalarKind::Uint, 8);
        let k = self.fb.u32(32);
        let hs = self.fb.bin(Bo::ShiftLeft, hi, k);
        self.fb.bin(Bo::InclusiveOr, hs, lo)
    }

    /// The low and high words of a `u64`.
    pub(super) fn split64(&mut self, v: H) -> (H, H) {
        self.uses_i64 = true;
        let lo = self.fb.conv(v, ScalarKind::Uint, 4);
        let k = self.fb.u64(32);
        let hs = self.fb.bin(Bo::ShiftRight, v, k);
        let hi = self.fb.conv(hs, ScalarKind::Uint, 4);
        (lo, hi)
    }

    /// Lane `i` of `v` as a scalar (see the module documentation);
    /// `signed` sign-extends `i8`/`i16` lanes, else they are zero-extended.
    pub(super) fn lane(&mut self, v: H, l: Lanes, i: usize, signed: bool) -> H {
        match l {
            Lanes::I8 | Lanes::I16 => {
                let per = 32 / l.bits() as usize;
                let w = self.word(v, (i / per) as u32);
                let shift = (i % per) as u32 * l.bits();
                let s = if shift == 0 {
                    w
                } else {
                    let k = self.fb.u32(shift);
                    self.fb.bin(Bo::ShiftRight, w, k)
                };
                self.narrow_lane(s, l.bits(), signed)
            }
            Lanes::I32 => self.word(v, i as u32),
            Lanes::F32 => {
                let w = self.word(v, i as u32);
                let w = self.opaque_bits_add(w, Ty::F32);
                self.ffrom(w)
            }
            Lanes::I64 | Lanes::F64 => {
                let lo = self.word(v, 2 * i as u32);
                let hi = self.word(v, 2 * i as u32 + 1);
                let x = self.join64(lo, hi);
                if l == Lanes::F64 {
                    self.uses_f64 = true;
                    let x = self.opaque_bits_add(x, Ty::F64);
                    self.ffrom(x)
                } else {
                    x
                }
            }
        }
    }

    /// The low `bits` of a `u32`, sign- or zero-extended.
    pub(super) fn narrow_lane(&mut self, x: H, bits: u32, signed: bool) -> H {
        if signed {
            self.sext(x, Ty::I32, bits)
        } else {
            let m = self.fb.u32(((1u64 << bits) - 1) as u32);
            self.fb.bin(Bo::And, x, m)
        }
    }

    /// Every lane of `v`.
    pub(super) fn lanes(&mut self, v: H, l: Lanes, signed: bool) -> Vec<H> {
        (0..l.count()).map(|i| self.lane(v, l, i, signed)).collect()
    }

    /// A `v128` from its lanes (`i8`/`i16` lanes: only the low bits count).
    pub(super) fn pack(&mut self, lanes: &[H], l: Lanes) -> H {
        debug_assert_eq!(lanes.len(), l.count());
        let words = match l {
            Lanes::I32 => lanes.to_vec(),
            Lanes::F32 => lanes.iter().map(|&x| self.fbits(x)).collect(),
            Lanes::I8 | Lanes::I16 => {
                let per = 32 / l.bits() as usize;
                let m = self.fb.u32(((1u64 << l.bits()) - 1) as u32);
                let mut words = Vec::with_capacity(4);
                for w in 0..4 {
                    let mut acc = None;
                    for k in 0..per {
                        let x = lanes[w * per + k];
                        let shift = k as u32 * l.bits();
                        // The top lane's shift drops the high bits itself.
                        let x = if shift + l.bits() == 32 {
                            x
                        } else {
                            self.fb.bin(Bo::And, x, m)
                        };
                        let x = if shift == 0 {
                            x
                        } else {
                            let s = self.fb.u32(shift);
                            self.fb.bin(Bo::ShiftLeft, x, s)
                        };
                        acc = Some(match acc {
                            None => x,
                            Some(a) => self.fb.bin(Bo::InclusiveOr, a, x),
                        });
                    }
                    words.push(acc.expect("lanes per word"));
                }
                words
            }
            Lanes::I64 | Lanes::F64 => {
                let mut words = Vec::with_capacity(4);
                for &x in lanes {
                    let x = if l == Lanes::F64 { self.fbits(x) } else { x };
                    let (lo, hi) = self.split64(x);
                    words.push(lo);
                    words.push(hi);
                }
                words
            }
        };
        self.compose(words)
    }

    /// Pops a `v128` and unpacks its lanes.
    pub(super) fn pop_lanes(&mut self, l: Lanes, signed: bool) -> Result<Vec<H>, Unsupported> {
        let v = self.pop()?;
        Ok(self.lanes(v, l, signed))
    }

    /// Packs `lanes` and pushes the `v128`.
    pub(super) fn push_lanes(&mut self, lanes: &[H], l: Lanes) {
        let v = self.pack(lanes, l);
        self.push(v, Ty::V128);
    }

    /// Runs a scalar operator of the translator on `args` (pushed on the
    /// value stack) and returns its result.
    pub(super) fn scalar(
        &mut self,
        args: &[(H, Ty)],
        op: impl FnOnce(&mut Self) -> Result<(), Unsupported>,
    ) -> Result<H, Unsupported> {
        for &(h, t) in args {
            self.push(h, t);
        }
        op(self)?;
        self.pop()
    }

    /// Pops `arity` `v128`s (the last on top), applies `f` lane by lane,
    /// pushes the result (`out` lanes, the same count as `input`).
    pub(super) fn lanewise(
        &mut self,
        arity: usize,
        input: Lanes,
        signed: bool,
        out: Lanes,
        mut f: impl FnMut(&mut Self, &[H]) -> Result<H, Unsupported>,
    ) -> Result<(), Unsupported> {
        let mut operands = Vec::with_capacity(arity);
        for _ in 0..arity {
            operands.push(self.pop_lanes(input, signed)?);
        }
        operands.reverse();
        let mut res = Vec::with_capacity(input.count());
        for i in 0..input.count() {
            let args: Vec<H> = operands.iter().map(|o| o[i]).collect();
            res.push(f(self, &args)?);
        }
        self.push_lanes(&res, out);
        Ok(())
    }

    /// `lanewise` with a scalar stack operator of the lanes' scalar type.
    pub(super) fn lanewise_scalar(
        &mut self,
        arity: usize,
        l: Lanes,
        signed: bool,
        op: impl Fn(&mut Self) -> Result<(), Unsupported>,
    ) -> Result<(), Unsupported> {
        let t = l.scalar();
        self.lanewise(arity, l, signed, l, |s, args| {
            let args: Vec<(H, Ty)> = args.iter().map(|&h| (h, t)).collect();
            s.scalar(&args, &op)
        })
    }

    /// `0 - (x as the int of width `wide`)`: all ones for 1, 0 for 0.
    pub(super) fn bool_mask(&mut self, x01: H, wide: bool) -> H {
        if wide {
            let x = self.fb.conv(x01, ScalarKind::Uint, 8);
            let z = self.fb.u64(0);
            self.fb.bin(Bo::Subtract, z, x)
        } else {
            let z = self.fb.u32(0);
            self.fb.bin(Bo::Subtract, z, x01)
        }
    }

    /// The SIMD operators; hands back the others.
    pub(super) fn visit_simd<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        let Some(op) = self.visit_simd_memory(op)? else {
            return Ok(None);
        };
        let Some(op) = self.visit_simd_lanes(op)? else {
            return Ok(None);
        };
        let Some(op) = self.visit_simd_int(op)? else {
            return Ok(None);
        };
        self.visit_simd_float(op)
    }

    /// Constants, bitwise operators, shuffles, splats and lane access.
    fn visit_simd_lanes<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use Lanes as L;
        use Operator as O;
        match op {
            O::V128Const { value } => {
                let b = value.bytes();
                let mut words = Vec::with_capacity(4);
                for i in 0..4 {
                    let w =
                        u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
                    let w = self.fb.u32(w);
                    words.push(self.opaque_bits(w, Ty::I32));
                }
                let v = self.compose(words);
                self.push(v, Ty::V128);
            }
            O::V128Not => {
                let a = self.pop()?;
                let r = self.fb.un(naga::UnaryOperator::BitwiseNot, a);
                self.push(r, Ty::V128);
            }
            O::V128And | O::V128Or | O::V128Xor | O::V128AndNot => {
                let b = self.pop()?;
                let a = self.pop()?;
                let (op, b) = match op {
                    O::V128And => (Bo::And, b),
                    O::V128Or => (Bo::InclusiveOr, b),
                    O::V128Xor => (Bo::ExclusiveOr, b),
                    _ => (Bo::And, self.fb.un(naga::UnaryOperator::BitwiseNot, b)),
                };
                let r = self.fb.bin(op, a, b);
                self.push(r, Ty::V128);
            }
            O::V128Bitselect => {
                let c = self.pop()?;
                let b = self.pop()?;
                let a = self.pop()?;
                let x = self.fb.bin(Bo::And, a, c);
                let nc = self.fb.un(naga::UnaryOperator::BitwiseNot, c);
                let y = self.fb.bin(Bo::And, b, nc);
                let r = self.fb.bin(Bo::InclusiveOr, x, y);
                self.push(r, Ty::V128);
            }
            O::V128AnyTrue => {
                let v = self.pop()?;
                let mut acc = self.word(v, 0);
                for i in 1..4 {
                    let w = self.word(v, i);
                    acc = self.fb.bin(Bo::InclusiveOr, acc, w);
                }
                let z = self.fb.u32(0);
                let c = self.fb.bin(Bo::NotEqual, acc, z);
                let r = self.bool_to_i32(c);
                self.push(r, Ty::I32);
            }
            O::I8x16Splat => self.splat(L::I8)?,
            O::I16x8Splat => self.splat(L::I16)?,
            O::I32x4Splat => self.splat(L::I32)?,
            O::I64x2Splat => self.splat(L::I64)?,
            O::F32x4Splat => self.splat(L::F32)?,
            O::F64x2Splat => self.splat(L::F64)?,
            O::I8x16ExtractLaneS { lane } => self.extract(L::I8, lane, true)?,
            O::I8x16ExtractLaneU { lane } => self.extract(L::I8, lane, false)?,
            O::I16x8ExtractLaneS { lane } => self.extract(L::I16, lane, true)?,
            O::I16x8ExtractLaneU { lane } => self.extract(L::I16, lane, false)?,
            O::I32x4ExtractLane { lane } => self.extract(L::I32, lane, false)?,
            O::I64x2ExtractLane { lane } => self.extract(L::I64, lane, false)?,
            O::F32x4ExtractLane { lane } => self.extract(L::F32, lane, false)?,
            O::F64x2ExtractLane { lane } => self.extract(L::F64, lane, false)?,
            O::I8x16ReplaceLane { lane } => self.replace(L::I8, lane)?,
            O::I16x8ReplaceLane { lane } => self.replace(L::I16, lane)?,
            O::I32x4ReplaceLane { lane } => self.replace(L::I32, lane)?,
            O::I64x2ReplaceLane { lane } => self.replace(L::I64, lane)?,
            O::F32x4ReplaceLane { lane } => self.replace(L::F32, lane)?,
            O::F64x2ReplaceLane { lane } => self.replace(L::F64, lane)?,
            O::I8x16Shuffle { lanes } => {
                let b = self.pop_lanes(L::I8, false)?;
                let a = self.pop_lanes(L::I8, false)?;
                let picked: Vec<H> = lanes
                    .iter()
                    .map(|&i| {
                        let i = i as usize;
                        if i < 16 {
                            a[i]
                        } else {
                            b[i - 16]
                        }
                    })
                    .collect();
                self.push_lanes(&picked, L::I8);
            }
            O::I8x16Swizzle => self.swizzle()?,
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    fn splat(&mut self, l: Lanes) -> Result<(), Unsupported> {
        let x = self.pop()?;
        let lanes = vec![x; l.count()];
        self.push_lanes(&lanes, l);
        Ok(())
    }

    fn extract(&mut self, l: Lanes, lane: u8, signed: bool) -> Result<(), Unsupported> {
        let v = self.pop()?;
        let x = self.lane(v, l, lane as usize % l.count(), signed);
        self.push(x, l.scalar());
        Ok(())
    }

    fn replace(&mut self, l: Lanes, lane: u8) -> Result<(), Unsupported> {
        let x = self.pop()?;
        let mut lanes = self.pop_lanes(l, false)?;
        lanes[lane as usize % l.count()] = x;
        self.push_lanes(&lanes, l);
        Ok(())
    }

    /// `i8x16.swizzle`: byte `i` of the result is byte `b[i]` of `a`, or 0
    /// where `b[i]` is 16 or more.
    fn swizzle(&mut self) -> Result<(), Unsupported> {
        let idx = self.pop_lanes(Lanes::I8, false)?;
        let a = self.pop()?;
        let mut out = Vec::with_capacity(16);
        let c15 = self.fb.u32(15);
        let c16 = self.fb.u32(16);
        let c2 = self.fb.u32(2);
        let c3 = self.fb.u32(3);
        let zero = self.fb.u32(0);
        for &i in &idx {
            let ok = self.fb.bin(Bo::Less, i, c16);
            let j = self.fb.bin(Bo::And, i, c15);
            let w = self.fb.bin(Bo::ShiftRight, j, c2);
            let word = self.fb.expr(Expression::Access { base: a, index: w });
            let byte = self.fb.bin(Bo::And, j, c3);
            let sh = self.fb.bin(Bo::ShiftLeft, byte, c3);
            let x = self.fb.bin(Bo::ShiftRight, word, sh);
            out.push(self.fb.sel(ok, x, zero));
        }
        self.push_lanes(&out, Lanes::I8);
        Ok(())
    }
}
