//! Float SIMD operators and the conversions between lane types: each lane
//! through the scalar translator's operator (`min`/`max` NaN and signed-zero
//! rules, `nearest` ties to even, `trunc_sat` bounds, opaque conversions),
//! plus `pmin`/`pmax`, which wasm defines as plain selects.

use super::simd::Lanes;
use super::translator::FnTranslator;
use super::H;
use crate::spirv::analyze::Ty;
use crate::spirv::Unsupported;
use naga::{BinaryOperator as Bo, MathFunction as Mf, ScalarKind};
use wasmparser::Operator;

impl<'s, 'a> FnTranslator<'s, 'a> {
    pub(super) fn visit_simd_float<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use super::numeric::SignOp;
        use Lanes as L;
        use Operator as O;
        use Ty::{F32, F64};
        match op {
            O::F32x4Add => self.lanewise_scalar(2, L::F32, false, |s| s.binop(Bo::Add, F32))?,
            O::F32x4Sub => {
                self.lanewise_scalar(2, L::F32, false, |s| s.binop(Bo::Subtract, F32))?
            }
            O::F32x4Mul => {
                self.lanewise_scalar(2, L::F32, false, |s| s.binop(Bo::Multiply, F32))?
            }
            O::F32x4Div => self.lanewise_scalar(2, L::F32, false, |s| s.fdiv(F32))?,
            O::F32x4Min => self.lanewise_scalar(2, L::F32, false, |s| s.fminmax(F32, false))?,
            O::F32x4Max => self.lanewise_scalar(2, L::F32, false, |s| s.fminmax(F32, true))?,
            O::F64x2Add => self.lanewise_scalar(2, L::F64, false, |s| s.binop(Bo::Add, F64))?,
            O::F64x2Sub => {
                self.lanewise_scalar(2, L::F64, false, |s| s.binop(Bo::Subtract, F64))?
            }
            O::F64x2Mul => {
                self.lanewise_scalar(2, L::F64, false, |s| s.binop(Bo::Multiply, F64))?
            }
            O::F64x2Div => self.lanewise_scalar(2, L::F64, false, |s| s.fdiv(F64))?,
            O::F64x2Min => self.lanewise_scalar(2, L::F64, false, |s| s.fminmax(F64, false))?,
            O::F64x2Max => self.lanewise_scalar(2, L::F64, false, |s| s.fminmax(F64, true))?,
            O::F32x4PMin => self.pminmax(L::F32, false)?,
            O::F32x4PMax => self.pminmax(L::F32, true)?,
            O::F64x2PMin => self.pminmax(L::F64, false)?,
            O::F64x2PMax => self.pminmax(L::F64, true)?,
            O::F32x4Abs => {
                self.lanewise_scalar(1, L::F32, false, |s| s.float_sign(F32, SignOp::Abs))?
            }
            O::F32x4Neg => {
                self.lanewise_scalar(1, L::F32, false, |s| s.float_sign(F32, SignOp::Neg))?
            }
            O::F64x2Abs => {
                self.lanewise_scalar(1, L::F64, false, |s| s.float_sign(F64, SignOp::Abs))?
            }
            O::F64x2Neg => {
                self.lanewise_scalar(1, L::F64, false, |s| s.float_sign(F64, SignOp::Neg))?
            }
            O::F32x4Sqrt => {
                self.lanewise_scalar(1, L::F32, false, |s| s.unop_math(Mf::Sqrt, F32))?
            }
            O::F32x4Ceil => {
                self.lanewise_scalar(1, L::F32, false, |s| s.unop_math(Mf::Ceil, F32))?
            }
            O::F32x4Floor => {
                self.lanewise_scalar(1, L::F32, false, |s| s.unop_math(Mf::Floor, F32))?
            }
            O::F32x4Trunc => {
                self.lanewise_scalar(1, L::F32, false, |s| s.unop_math(Mf::Trunc, F32))?
            }
            O::F32x4Nearest => {
                self.lanewise_scalar(1, L::F32, false, |s| s.unop_math(Mf::Round, F32))?
            }
            O::F64x2Sqrt => {
                self.lanewise_scalar(1, L::F64, false, |s| s.unop_math(Mf::Sqrt, F64))?
            }
            O::F64x2Ceil => {
                self.lanewise_scalar(1, L::F64, false, |s| s.unop_math(Mf::Ceil, F64))?
            }
            O::F64x2Floor => {
                self.lanewise_scalar(1, L::F64, false, |s| s.unop_math(Mf::Floor, F64))?
            }
            O::F64x2Trunc => {
                self.lanewise_scalar(1, L::F64, false, |s| s.unop_math(Mf::Trunc, F64))?
            }
            O::F64x2Nearest => {
                self.lanewise_scalar(1, L::F64, false, |s| s.unop_math(Mf::Round, F64))?
            }
            O::F32x4Eq => self.fcmp(L::F32, Some(Bo::Equal))?,
            O::F32x4Ne => self.fcmp(L::F32, None)?,
            O::F32x4Lt => self.fcmp(L::F32, Some(Bo::Less))?,
            O::F32x4Gt => self.fcmp(L::F32, Some(Bo::Greater))?,
            O::F32x4Le => self.fcmp(L::F32, Some(Bo::LessEqual))?,
            O::F32x4Ge => self.fcmp(L::F32, Some(Bo::GreaterEqual))?,
            O::F64x2Eq => self.fcmp(L::F64, Some(Bo::Equal))?,
            O::F64x2Ne => self.fcmp(L::F64, None)?,
            O::F64x2Lt => self.fcmp(L::F64, Some(Bo::Less))?,
            O::F64x2Gt => self.fcmp(L::F64, Some(Bo::Greater))?,
            O::F64x2Le => self.fcmp(L::F64, Some(Bo::LessEqual))?,
            O::F64x2Ge => self.fcmp(L::F64, Some(Bo::GreaterEqual))?,
            O::I32x4TruncSatF32x4S => self.lanewise(1, L::F32, false, L::I32, |s, a| {
                s.scalar(&[(a[0], F32)], |s| s.trunc(F32, Ty::I32, true, true))
            })?,
            O::I32x4TruncSatF32x4U => self.lanewise(1, L::F32, false, L::I32, |s, a| {
                s.scalar(&[(a[0], F32)], |s| s.trunc(F32, Ty::I32, false, true))
            })?,
            O::F32x4ConvertI32x4S => self.lanewise(1, L::I32, false, L::F32, |s, a| {
                s.scalar(&[(a[0], Ty::I32)], |s| s.int_to_float(F32, true))
            })?,
            O::F32x4ConvertI32x4U => self.lanewise(1, L::I32, false, L::F32, |s, a| {
                s.scalar(&[(a[0], Ty::I32)], |s| s.int_to_float(F32, false))
            })?,
            O::I32x4TruncSatF64x2SZero => self.f64_to_i32_zero(true)?,
            O::I32x4TruncSatF64x2UZero => self.f64_to_i32_zero(false)?,
            O::F64x2ConvertLowI32x4S => self.convert_low(true)?,
            O::F64x2ConvertLowI32x4U => self.convert_low(false)?,
            O::F32x4DemoteF64x2Zero => {
                let a = self.pop_lanes(L::F64, false)?;
                let mut out = Vec::with_capacity(4);
                for x in a {
                    out.push(self.fb.conv(x, ScalarKind::Float, 4));
                }
                let z = self.fb.u32(0);
                let z = self.ffrom(z);
                out.extend([z, z]);
                self.push_lanes(&out, L::F32);
            }
            O::F64x2PromoteLowF32x4 => {
                let a = self.pop_lanes(L::F32, false)?;
                let out: Vec<H> = a[..2]
                    .iter()
                    .map(|&x| self.fb.conv(x, ScalarKind::Float, 8))
                    .collect();
                self.push_lanes(&out, L::F64);
            }
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// `pmin`: `b < a ? b : a`; `pmax`: `a < b ? b : a` (NaN: `a`).
    fn pminmax(&mut self, l: Lanes, max: bool) -> Result<(), Unsupported> {
        self.lanewise(2, l, false, l, |s, a| {
            let c = if max {
                s.fb.bin(Bo::Less, a[0], a[1])
            } else {
                s.fb.bin(Bo::Less, a[1], a[0])
            };
            Ok(s.fb.sel(c, a[1], a[0]))
        })
    }

    /// Float comparison (`None`: `ne`), all ones where true.
    fn fcmp(&mut self, l: Lanes, op: Option<Bo>) -> Result<(), Unsupported> {
        let t = l.scalar();
        let out = if l == Lanes::F64 {
            Lanes::I64
        } else {
            Lanes::I32
        };
        self.lanewise(2, l, false, out, |s, a| {
            let args = [(a[0], t), (a[1], t)];
            let r = match op {
                Some(op) => s.scalar(&args, |s| s.cmp(op, false))?,
                None => s.scalar(&args, |s| s.float_ne())?,
            };
            Ok(s.bool_mask(r, out == Lanes::I64))
        })
    }

    /// `i32x4.trunc_sat_f64x2_{s,u}_zero`.
    fn f64_to_i32_zero(&mut self, signed: bool) -> Result<(), Unsupported> {
        let a = self.pop_lanes(Lanes::F64, false)?;
        let mut out = Vec::with_capacity(4);
        for x in a {
            out.push(self.scalar(&[(x, Ty::F64)], |s| s.trunc(Ty::F64, Ty::I32, signed, true))?);
        }
        let z = self.fb.u32(0);
        out.extend([z, z]);
        self.push_lanes(&out, Lanes::I32);
        Ok(())
    }

    /// `f64x2.convert_low_i32x4_{s,u}`.
    fn convert_low(&mut self, signed: bool) -> Result<(), Unsupported> {
        let a = self.pop_lanes(Lanes::I32, false)?;
        let mut out = Vec::with_capacity(2);
        for &x in &a[..2] {
            out.push(self.scalar(&[(x, Ty::I32)], |s| s.int_to_float(Ty::F64, signed))?);
        }
        self.push_lanes(&out, Lanes::F64);
        Ok(())
    }
}
