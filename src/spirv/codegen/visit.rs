//! The operator visitor: one wasm operator to the translator's methods, by
//! category.

use super::control::Kind;
use super::numeric::SignOp;
use super::translator::{unsupported_op, FnTranslator};
use crate::spirv::analyze::Ty;
use crate::spirv::{trap, Unsupported};
use naga::{BinaryOperator as Bo, Block, MathFunction as Mf, ScalarKind};
use wasmparser::Operator;

impl<'s, 'a> FnTranslator<'s, 'a> {
    pub(super) fn op(&mut self, op: Operator<'_>) -> Result<(), Unsupported> {
        let tracked = matches!(
            op,
            Operator::I32Const { .. }
                | Operator::LocalGet { .. }
                | Operator::LocalTee { .. }
                | Operator::I32Add
                | Operator::I32Sub
                | Operator::I32Or
                | Operator::I32Mul
                | Operator::I32And
                | Operator::I32Shl
        );
        if !tracked {
            return self.op_inner(op);
        }
        let n = self.stack.len();
        let a = n.checked_sub(2).map(|i| self.stack[i].0);
        let b = n.checked_sub(1).map(|i| self.stack[i].0);
        self.op_inner(op.clone())?;
        self.track_alignment(&op, a, b);
        Ok(())
    }

    /// One operator, by category (each visitor hands back the operators
    /// that are not its own).
    pub(super) fn op_inner(&mut self, op: Operator<'_>) -> Result<(), Unsupported> {
        let Some(op) = self.visit_control(op)? else {
            return Ok(());
        };
        let Some(op) = self.visit_variable(op)? else {
            return Ok(());
        };
        let Some(op) = self.visit_memory(op)? else {
            return Ok(());
        };
        let Some(op) = self.visit_compare(op)? else {
            return Ok(());
        };
        let Some(op) = self.visit_int_arith(op)? else {
            return Ok(());
        };
        let Some(op) = self.visit_float_arith(op)? else {
            return Ok(());
        };
        let Some(op) = self.visit_conversion(op)? else {
            return Ok(());
        };
        let Some(op) = self.visit_simd(op)? else {
            return Ok(());
        };
        Err(match op {
            Operator::MemoryGrow { .. } => Unsupported::new("memory.grow is not supported"),
            other => unsupported_op(&other),
        })
    }

    /// Control flow and calls.
    pub(super) fn visit_control<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use Operator as O;
        match op {
            O::Nop => {}
            O::Unreachable => self.trap_now(trap::UNREACHABLE)?,
            O::Block { blockty } => self.open_frame(Kind::Block, blockty)?,
            O::Loop { blockty } => self.open_frame(Kind::Loop, blockty)?,
            O::If { blockty } => self.open_frame(Kind::If, blockty)?,
            O::Else => self.op_else()?,
            O::End => self.op_end()?,
            O::Br { relative_depth } => {
                let t = self.target(relative_depth)?;
                self.branch(t)?;
                self.unreachable = true;
            }
            O::BrIf { relative_depth } => {
                let t = self.target(relative_depth)?;
                let c = self.pop()?;
                let z = self.fb.u32(0);
                let cond = self.fb.bin(Bo::NotEqual, c, z);
                self.fb.open();
                self.branch(t)?;
                let accept = self.fb.close();
                self.fb.if_(cond, accept, Block::new());
            }
            O::BrTable { targets } => self.br_table(&targets)?,
            O::Return => {
                self.branch(0)?;
                self.unreachable = true;
            }
            O::Call { function_index } => self.call(function_index)?,
            O::CallIndirect {
                type_index,
                table_index,
            } => self.call_indirect(type_index, table_index)?,
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// The value stack, locals, globals and constants.
    pub(super) fn visit_variable<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use Operator as O;
        use Ty::*;
        match op {
            O::Drop => {
                self.pop()?;
            }
            O::Select | O::TypedSelect { .. } => {
                let c = self.pop()?;
                let (b, t) = self
                    .stack
                    .pop()
                    .ok_or_else(|| Unsupported::new("internal: stack underflow"))?;
                let a = self.pop()?;
                let z = self.fb.u32(0);
                let cond = self.fb.bin(Bo::NotEqual, c, z);
                let r = self.fb.sel(cond, a, b);
                self.push(r, t);
            }
            O::LocalGet { local_index } => {
                let (p, t) = self.local(local_index)?;
                let v = self.fb.load(p);
                self.push(v, t);
            }
            O::LocalSet { local_index } => {
                let (p, _) = self.local(local_index)?;
                let v = self.pop()?;
                self.note_local_value(local_index, v);
                self.fb.store(p, v);
            }
            O::LocalTee { local_index } => {
                let (p, t) = self.local(local_index)?;
                let v = self.pop()?;
                self.note_local_value(local_index, v);
                self.fb.store(p, v);
                self.push(v, t);
            }
            O::GlobalGet { global_index } => {
                let (g, t) = *self
                    .sh
                    .wasm_globals
                    .get(global_index as usize)
                    .ok_or_else(|| Unsupported::new("internal: global index"))?;
                let v = self.fb.load_global(g);
                let v = if matches!(t, F32 | F64) {
                    let v = self.opaque_bits(v, t);
                    self.ffrom(v)
                } else {
                    v
                };
                self.push(v, t);
            }
            O::GlobalSet { global_index } => {
                let (g, t) = *self
                    .sh
                    .wasm_globals
                    .get(global_index as usize)
                    .ok_or_else(|| Unsupported::new("internal: global index"))?;
                let v = self.pop()?;
                let v = if matches!(t, F32 | F64) {
                    self.fbits(v)
                } else {
                    v
                };
                self.fb.store_global(g, v);
                self.stack_pointer_set(global_index, v);
            }
            O::I32Const { value } => {
                let v = self.fb.u32(value as u32);
                self.push(v, I32);
            }
            O::I64Const { value } => {
                let v = self.fb.u64(value as u64);
                self.push(v, I64);
            }
            O::F32Const { value } => {
                let v = self.fb.u32(value.bits());
                let v = self.opaque_bits(v, F32);
                let v = self.ffrom(v);
                self.push(v, F32);
            }
            O::F64Const { value } => {
                let v = self.fb.u64(value.bits());
                let v = self.opaque_bits(v, F64);
                let v = self.ffrom(v);
                self.push(v, F64);
            }
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// Loads, stores and `memory.size`.
    pub(super) fn visit_memory<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use Operator as O;
        use Ty::*;
        match op {
            O::MemorySize { mem: 0 } => {
                let ms = self.fb.load_global(self.sh.g.mem_size);
                let k = self.fb.u32(16);
                let r = self.fb.bin(Bo::ShiftRight, ms, k);
                self.push(r, I32);
            }
            O::I32Load { memarg } => self.load(&memarg, 4, I32, false)?,
            O::I64Load { memarg } => self.load(&memarg, 8, I64, false)?,
            O::F32Load { memarg } => self.load(&memarg, 4, F32, false)?,
            O::F64Load { memarg } => self.load(&memarg, 8, F64, false)?,
            O::I32Load8S { memarg } => self.load(&memarg, 1, I32, true)?,
            O::I32Load8U { memarg } => self.load(&memarg, 1, I32, false)?,
            O::I32Load16S { memarg } => self.load(&memarg, 2, I32, true)?,
            O::I32Load16U { memarg } => self.load(&memarg, 2, I32, false)?,
            O::I64Load8S { memarg } => self.load(&memarg, 1, I64, true)?,
            O::I64Load8U { memarg } => self.load(&memarg, 1, I64, false)?,
            O::I64Load16S { memarg } => self.load(&memarg, 2, I64, true)?,
            O::I64Load16U { memarg } => self.load(&memarg, 2, I64, false)?,
            O::I64Load32S { memarg } => self.load(&memarg, 4, I64, true)?,
            O::I64Load32U { memarg } => self.load(&memarg, 4, I64, false)?,
            O::I32Store { memarg } => self.store(&memarg, 4, I32)?,
            O::I64Store { memarg } => self.store(&memarg, 8, I64)?,
            O::F32Store { memarg } => self.store(&memarg, 4, F32)?,
            O::F64Store { memarg } => self.store(&memarg, 8, F64)?,
            O::I32Store8 { memarg } => self.store(&memarg, 1, I32)?,
            O::I32Store16 { memarg } => self.store(&memarg, 2, I32)?,
            O::I64Store8 { memarg } => self.store(&memarg, 1, I64)?,
            O::I64Store16 { memarg } => self.store(&memarg, 2, I64)?,
            O::I64Store32 { memarg } => self.store(&memarg, 4, I64)?,
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// Comparisons and `eqz`.
    pub(super) fn visit_compare<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use Operator as O;
        use Ty::*;
        match op {
            O::I32Eqz => self.eqz(I32)?,
            O::I64Eqz => self.eqz(I64)?,
            O::I32Eq => self.cmp(Bo::Equal, false)?,
            O::I32Ne => self.cmp(Bo::NotEqual, false)?,
            O::I32LtS => self.cmp(Bo::Less, true)?,
            O::I32LtU => self.cmp(Bo::Less, false)?,
            O::I32GtS => self.cmp(Bo::Greater, true)?,
            O::I32GtU => self.cmp(Bo::Greater, false)?,
            O::I32LeS => self.cmp(Bo::LessEqual, true)?,
            O::I32LeU => self.cmp(Bo::LessEqual, false)?,
            O::I32GeS => self.cmp(Bo::GreaterEqual, true)?,
            O::I32GeU => self.cmp(Bo::GreaterEqual, false)?,
            O::I64Eq => self.cmp(Bo::Equal, false)?,
            O::I64Ne => self.cmp(Bo::NotEqual, false)?,
            O::I64LtS => self.cmp(Bo::Less, true)?,
            O::I64LtU => self.cmp(Bo::Less, false)?,
            O::I64GtS => self.cmp(Bo::Greater, true)?,
            O::I64GtU => self.cmp(Bo::Greater, false)?,
            O::I64LeS => self.cmp(Bo::LessEqual, true)?,
            O::I64LeU => self.cmp(Bo::LessEqual, false)?,
            O::I64GeS => self.cmp(Bo::GreaterEqual, true)?,
            O::I64GeU => self.cmp(Bo::GreaterEqual, false)?,
            O::F32Eq => self.cmp(Bo::Equal, false)?,
            O::F32Ne => self.float_ne()?,
            O::F32Lt => self.cmp(Bo::Less, false)?,
            O::F32Gt => self.cmp(Bo::Greater, false)?,
            O::F32Le => self.cmp(Bo::LessEqual, false)?,
            O::F32Ge => self.cmp(Bo::GreaterEqual, false)?,
            O::F64Eq => self.cmp(Bo::Equal, false)?,
            O::F64Ne => self.float_ne()?,
            O::F64Lt => self.cmp(Bo::Less, false)?,
            O::F64Gt => self.cmp(Bo::Greater, false)?,
            O::F64Le => self.cmp(Bo::LessEqual, false)?,
            O::F64Ge => self.cmp(Bo::GreaterEqual, false)?,
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// Integer arithmetic, bit counts, shifts and rotations.
    pub(super) fn visit_int_arith<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use Operator as O;
        use Ty::*;
        match op {
            O::I32Clz => self.bitcount(Mf::CountLeadingZeros, I32)?,
            O::I32Ctz => self.bitcount(Mf::CountTrailingZeros, I32)?,
            O::I32Popcnt => self.bitcount(Mf::CountOneBits, I32)?,
            O::I64Clz => self.bitcount(Mf::CountLeadingZeros, I64)?,
            O::I64Ctz => self.bitcount(Mf::CountTrailingZeros, I64)?,
            O::I64Popcnt => self.bitcount(Mf::CountOneBits, I64)?,
            O::I32Add => self.binop(Bo::Add, I32)?,
            O::I32Sub => self.binop(Bo::Subtract, I32)?,
            O::I32Mul => self.binop(Bo::Multiply, I32)?,
            O::I32DivS => self.div(I32, true, false)?,
            O::I32DivU => self.div(I32, false, false)?,
            O::I32RemS => self.div(I32, true, true)?,
            O::I32RemU => self.div(I32, false, true)?,
            O::I32And => self.binop(Bo::And, I32)?,
            O::I32Or => self.binop(Bo::InclusiveOr, I32)?,
            O::I32Xor => self.binop(Bo::ExclusiveOr, I32)?,
            O::I32Shl => self.shift(I32, true, false)?,
            O::I32ShrS => self.shift(I32, false, true)?,
            O::I32ShrU => self.shift(I32, false, false)?,
            O::I32Rotl => self.rotate(I32, true)?,
            O::I32Rotr => self.rotate(I32, false)?,
            O::I64Add => self.binop(Bo::Add, I64)?,
            O::I64Sub => self.binop(Bo::Subtract, I64)?,
            O::I64Mul => self.binop(Bo::Multiply, I64)?,
            O::I64DivS => self.div(I64, true, false)?,
            O::I64DivU => self.div(I64, false, false)?,
            O::I64RemS => self.div(I64, true, true)?,
            O::I64RemU => self.div(I64, false, true)?,
            O::I64And => self.binop(Bo::And, I64)?,
            O::I64Or => self.binop(Bo::InclusiveOr, I64)?,
            O::I64Xor => self.binop(Bo::ExclusiveOr, I64)?,
            O::I64Shl => self.shift(I64, true, false)?,
            O::I64ShrS => self.shift(I64, false, true)?,
            O::I64ShrU => self.shift(I64, false, false)?,
            O::I64Rotl => self.rotate(I64, true)?,
            O::I64Rotr => self.rotate(I64, false)?,
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// Float arithmetic.
    pub(super) fn visit_float_arith<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use Operator as O;
        use Ty::*;
        match op {
            O::F32Abs => self.float_sign(F32, SignOp::Abs)?,
            O::F32Neg => self.float_sign(F32, SignOp::Neg)?,
            O::F32Copysign => self.float_sign(F32, SignOp::Copysign)?,
            O::F64Abs => self.float_sign(F64, SignOp::Abs)?,
            O::F64Neg => self.float_sign(F64, SignOp::Neg)?,
            O::F64Copysign => self.float_sign(F64, SignOp::Copysign)?,
            O::F32Ceil => self.unop_math(Mf::Ceil, F32)?,
            O::F32Floor => self.unop_math(Mf::Floor, F32)?,
            O::F32Trunc => self.unop_math(Mf::Trunc, F32)?,
            O::F32Nearest => self.unop_math(Mf::Round, F32)?,
            O::F32Sqrt => self.unop_math(Mf::Sqrt, F32)?,
            O::F64Ceil => self.unop_math(Mf::Ceil, F64)?,
            O::F64Floor => self.unop_math(Mf::Floor, F64)?,
            O::F64Trunc => self.unop_math(Mf::Trunc, F64)?,
            O::F64Nearest => self.unop_math(Mf::Round, F64)?,
            O::F64Sqrt => self.unop_math(Mf::Sqrt, F64)?,
            O::F32Add => self.binop(Bo::Add, F32)?,
            O::F32Sub => self.binop(Bo::Subtract, F32)?,
            O::F32Mul => self.binop(Bo::Multiply, F32)?,
            O::F32Div => self.fdiv(F32)?,
            O::F32Min => self.fminmax(F32, false)?,
            O::F32Max => self.fminmax(F32, true)?,
            O::F64Add => self.binop(Bo::Add, F64)?,
            O::F64Sub => self.binop(Bo::Subtract, F64)?,
            O::F64Mul => self.binop(Bo::Multiply, F64)?,
            O::F64Div => self.fdiv(F64)?,
            O::F64Min => self.fminmax(F64, false)?,
            O::F64Max => self.fminmax(F64, true)?,
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// Conversions between types, sign extensions and reinterpretations.
    pub(super) fn visit_conversion<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use Operator as O;
        use Ty::*;
        match op {
            O::I32WrapI64 => {
                let a = self.pop()?;
                let r = self.fb.conv(a, ScalarKind::Uint, 4);
                self.push(r, I32);
            }
            O::I64ExtendI32S => {
                let a = self.pop()?;
                let r = self.sext64(a);
                self.push(r, I64);
            }
            O::I64ExtendI32U => {
                let a = self.pop()?;
                let r = self.fb.conv(a, ScalarKind::Uint, 8);
                self.push(r, I64);
            }
            O::I32Extend8S
            | O::I32Extend16S
            | O::I64Extend8S
            | O::I64Extend16S
            | O::I64Extend32S => {
                let (t, bits) = match op {
                    O::I32Extend8S => (I32, 8),
                    O::I32Extend16S => (I32, 16),
                    O::I64Extend8S => (I64, 8),
                    O::I64Extend16S => (I64, 16),
                    _ => (I64, 32),
                };
                let a = self.pop()?;
                let r = self.sext(a, t, bits);
                self.push(r, t);
            }
            O::I32TruncF32S => self.trunc(F32, I32, true, false)?,
            O::I32TruncF32U => self.trunc(F32, I32, false, false)?,
            O::I32TruncF64S => self.trunc(F64, I32, true, false)?,
            O::I32TruncF64U => self.trunc(F64, I32, false, false)?,
            O::I64TruncF32S => self.trunc(F32, I64, true, false)?,
            O::I64TruncF32U => self.trunc(F32, I64, false, false)?,
            O::I64TruncF64S => self.trunc(F64, I64, true, false)?,
            O::I64TruncF64U => self.trunc(F64, I64, false, false)?,
            O::I32TruncSatF32S => self.trunc(F32, I32, true, true)?,
            O::I32TruncSatF32U => self.trunc(F32, I32, false, true)?,
            O::I32TruncSatF64S => self.trunc(F64, I32, true, true)?,
            O::I32TruncSatF64U => self.trunc(F64, I32, false, true)?,
            O::I64TruncSatF32S => self.trunc(F32, I64, true, true)?,
            O::I64TruncSatF32U => self.trunc(F32, I64, false, true)?,
            O::I64TruncSatF64S => self.trunc(F64, I64, true, true)?,
            O::I64TruncSatF64U => self.trunc(F64, I64, false, true)?,
            O::F32ConvertI32S => self.int_to_float(F32, true)?,
            O::F32ConvertI32U => self.int_to_float(F32, false)?,
            O::F32ConvertI64S => self.int_to_float(F32, true)?,
            O::F32ConvertI64U => self.int_to_float(F32, false)?,
            O::F64ConvertI32S => self.int_to_float(F64, true)?,
            O::F64ConvertI32U => self.int_to_float(F64, false)?,
            O::F64ConvertI64S => self.int_to_float(F64, true)?,
            O::F64ConvertI64U => self.int_to_float(F64, false)?,
            O::F32DemoteF64 => {
                let a = self.pop()?;
                let r = self.fb.conv(a, ScalarKind::Float, 4);
                let r = self.quiet_nan(r, F32);
                self.push(r, F32);
            }
            O::F64PromoteF32 => {
                let a = self.pop()?;
                let r = self.fb.conv(a, ScalarKind::Float, 8);
                let r = self.quiet_nan(r, F64);
                self.push(r, F64);
            }
            O::I32ReinterpretF32 => {
                let a = self.pop()?;
                let r = self.fbits(a);
                self.push(r, I32);
            }
            O::I64ReinterpretF64 => {
                let a = self.pop()?;
                let r = self.fbits(a);
                self.push(r, I64);
            }
            O::F32ReinterpretI32 => {
                let a = self.pop()?;
                let a = self.opaque_bits_add(a, F32);
                let r = self.ffrom(a);
                self.push(r, F32);
            }
            O::F64ReinterpretI64 => {
                let a = self.pop()?;
                let a = self.opaque_bits_add(a, F64);
                let r = self.ffrom(a);
                self.push(r, F64);
            }
            other => return Ok(Some(other)),
        }
        Ok(None)
    }
}
