//! Instruction-level rewriting of spec module bodies (memory accesses
//! through `$chk`, `memory.size`/`memory.grow` on the harness' page
//! count) and the harness' own helper functions of a kernel.

use super::kernel::Ty;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{BlockType, ConstExpr, Function, Instruction, ValType};
use wasmparser::{FuncType, Operator};

pub(super) fn unsupported<T>(why: impl Into<String>) -> Result<T, String> {
    Err(why.into())
}

/// Evaluates a constant expression to (type, bits) where it is a constant
/// or reads one of `globals` (the values known so far).
pub(super) fn eval_const(
    e: &wasmparser::ConstExpr<'_>,
    globals: &[(Ty, u128)],
) -> Result<(Ty, u128), String> {
    let mut r = e.get_operators_reader();
    let v = match r.read().map_err(|e| e.to_string())? {
        Operator::I32Const { value } => (Ty::I32, value as u32 as u128),
        Operator::I64Const { value } => (Ty::I64, value as u64 as u128),
        Operator::F32Const { value } => (Ty::F32, value.bits() as u128),
        Operator::F64Const { value } => (Ty::F64, value.bits() as u128),
        Operator::V128Const { value } => (Ty::V128, u128::from_le_bytes(*value.bytes())),
        Operator::GlobalGet { global_index } => *globals
            .get(global_index as usize)
            .ok_or("constant expression reads an unknown global")?,
        _ => return unsupported("constant expression that is not a plain constant"),
    };
    match r.read().map_err(|e| e.to_string())? {
        Operator::End => Ok(v),
        _ => unsupported("extended constant expression"),
    }
}

/// Bytes an access reads or writes, and whether a value sits above the
/// address on the stack (stores and lane loads/stores) and of what type.
pub(super) fn access(op: &Operator<'_>) -> Option<(u64, wasmparser::MemArg, Option<Ty>)> {
    use Operator::*;
    Some(match *op {
        I32Load { memarg } | F32Load { memarg } => (4, memarg, None),
        I64Load { memarg } | F64Load { memarg } => (8, memarg, None),
        I32Load8S { memarg }
        | I32Load8U { memarg }
        | I64Load8S { memarg }
        | I64Load8U { memarg } => (1, memarg, None),
        I32Load16S { memarg }
        | I32Load16U { memarg }
        | I64Load16S { memarg }
        | I64Load16U { memarg } => (2, memarg, None),
        I64Load32S { memarg } | I64Load32U { memarg } => (4, memarg, None),
        I32Store { memarg } => (4, memarg, Some(Ty::I32)),
        I32Store8 { memarg } => (1, memarg, Some(Ty::I32)),
        I32Store16 { memarg } => (2, memarg, Some(Ty::I32)),
        I64Store { memarg } => (8, memarg, Some(Ty::I64)),
        I64Store8 { memarg } => (1, memarg, Some(Ty::I64)),
        I64Store16 { memarg } => (2, memarg, Some(Ty::I64)),
        I64Store32 { memarg } => (4, memarg, Some(Ty::I64)),
        F32Store { memarg } => (4, memarg, Some(Ty::F32)),
        F64Store { memarg } => (8, memarg, Some(Ty::F64)),
        V128Load { memarg } => (16, memarg, None),
        V128Load8x8S { memarg }
        | V128Load8x8U { memarg }
        | V128Load16x4S { memarg }
        | V128Load16x4U { memarg }
        | V128Load32x2S { memarg }
        | V128Load32x2U { memarg }
        | V128Load64Splat { memarg }
        | V128Load64Zero { memarg } => (8, memarg, None),
        V128Load8Splat { memarg } => (1, memarg, None),
        V128Load16Splat { memarg } => (2, memarg, None),
        V128Load32Splat { memarg } | V128Load32Zero { memarg } => (4, memarg, None),
        V128Store { memarg } => (16, memarg, Some(Ty::V128)),
        V128Load8Lane { memarg, .. } | V128Store8Lane { memarg, .. } => (1, memarg, Some(Ty::V128)),
        V128Load16Lane { memarg, .. } | V128Store16Lane { memarg, .. } => {
            (2, memarg, Some(Ty::V128))
        }
        V128Load32Lane { memarg, .. } | V128Store32Lane { memarg, .. } => {
            (4, memarg, Some(Ty::V128))
        }
        V128Load64Lane { memarg, .. } | V128Store64Lane { memarg, .. } => {
            (8, memarg, Some(Ty::V128))
        }
        _ => return None,
    })
}

/// Whether an operator changes module state (so actions depend on earlier ones).
pub(super) fn changes_state(op: &Operator<'_>) -> bool {
    matches!(access(op), Some((_, _, Some(_))))
        && !matches!(
            op,
            Operator::V128Load8Lane { .. }
                | Operator::V128Load16Lane { .. }
                | Operator::V128Load32Lane { .. }
                | Operator::V128Load64Lane { .. }
        )
        || matches!(
            op,
            Operator::GlobalSet { .. }
                | Operator::MemoryGrow { .. }
                | Operator::TableSet { .. }
                | Operator::TableGrow { .. }
                | Operator::TableFill { .. }
                | Operator::TableCopy { .. }
                | Operator::TableInit { .. }
                | Operator::ElemDrop { .. }
        )
}

/// Indices of the harness' globals, after the module's own.
pub(super) struct HGlobals {
    pub(super) base: u32,
    pub(super) pages: u32,
    pub(super) bytes: u32,
    pub(super) out: u32,
    pub(super) tab: u32,
    pub(super) grew_past: u32,
}

impl HGlobals {
    pub(super) fn at(n: u32) -> HGlobals {
        HGlobals {
            base: n,
            pages: n + 1,
            bytes: n + 2,
            out: n + 3,
            tab: n + 4,
            grew_past: n + 5,
        }
    }
}

/// `$chk(addr, end) -> addr'`: `0xFFFF_FFFF` (so the access traps out of
/// bounds) past the spec memory's current size; past the `phys` bytes the
/// host placed (after a `memory.grow` beyond them) it sets `$grew_past`
/// (the action is reported unsupported) and returns the copy's start.
pub(super) fn chk_fn(hg: &HGlobals, phys: u64) -> Function {
    use Instruction as I;
    let mut f = Function::new([(1, ValType::I64)]);
    f.instruction(&I::LocalGet(0));
    f.instruction(&I::I64ExtendI32U);
    f.instruction(&I::LocalGet(1));
    f.instruction(&I::I64Add);
    f.instruction(&I::LocalTee(2));
    f.instruction(&I::GlobalGet(hg.bytes));
    f.instruction(&I::I64GtU);
    f.instruction(&I::If(BlockType::Result(ValType::I32)));
    f.instruction(&I::I32Const(-1));
    f.instruction(&I::Else);
    f.instruction(&I::LocalGet(2));
    f.instruction(&I::I64Const(phys as i64));
    f.instruction(&I::I64GtU);
    f.instruction(&I::If(BlockType::Result(ValType::I32)));
    f.instruction(&I::I32Const(1));
    f.instruction(&I::GlobalSet(hg.grew_past));
    f.instruction(&I::GlobalGet(hg.base));
    f.instruction(&I::Else);
    f.instruction(&I::LocalGet(0));
    f.instruction(&I::GlobalGet(hg.base));
    f.instruction(&I::I32Add);
    f.instruction(&I::End);
    f.instruction(&I::End);
    f.instruction(&I::End);
    f
}

/// `$grow(delta) -> old pages or -1`: grows the spec memory's size up to
/// its maximum `max`; the host placed fewer pages, and `$chk` notices an
/// access past them.
pub(super) fn grow_fn(hg: &HGlobals, max: u64) -> Function {
    use Instruction as I;
    let mut f = Function::new([(1, ValType::I64)]);
    f.instruction(&I::GlobalGet(hg.pages));
    f.instruction(&I::I64ExtendI32U);
    f.instruction(&I::LocalGet(0));
    f.instruction(&I::I64ExtendI32U);
    f.instruction(&I::I64Add);
    f.instruction(&I::LocalTee(1));
    f.instruction(&I::I64Const(max as i64));
    f.instruction(&I::I64GtU);
    f.instruction(&I::If(BlockType::Result(ValType::I32)));
    f.instruction(&I::I32Const(-1));
    f.instruction(&I::Else);
    f.instruction(&I::GlobalGet(hg.pages));
    f.instruction(&I::LocalGet(1));
    f.instruction(&I::I32WrapI64);
    f.instruction(&I::GlobalSet(hg.pages));
    f.instruction(&I::LocalGet(1));
    f.instruction(&I::I64Const(16));
    f.instruction(&I::I64Shl);
    f.instruction(&I::GlobalSet(hg.bytes));
    f.instruction(&I::End);
    f.instruction(&I::End);
    f
}

pub(super) fn const_of(ty: Ty, bits: u128) -> ConstExpr {
    match ty {
        Ty::I32 => ConstExpr::i32_const(bits as u32 as i32),
        Ty::I64 => ConstExpr::i64_const(bits as u64 as i64),
        Ty::F32 => ConstExpr::f32_const(f32::from_bits(bits as u32)),
        Ty::F64 => ConstExpr::f64_const(f64::from_bits(bits as u64)),
        Ty::V128 => ConstExpr::v128_const(bits as i128),
    }
}

/// Pushes a value with exactly these bits (floats through their integer
/// bits, so no NaN payload is lost).
pub(super) fn push_bits(f: &mut Function, ty: Ty, bits: u128) {
    use Instruction as I;
    match ty {
        Ty::I32 => f.instruction(&I::I32Const(bits as u32 as i32)),
        Ty::I64 => f.instruction(&I::I64Const(bits as u64 as i64)),
        Ty::F32 => f
            .instruction(&I::I32Const(bits as u32 as i32))
            .instruction(&I::F32ReinterpretI32),
        Ty::F64 => f
            .instruction(&I::I64Const(bits as u64 as i64))
            .instruction(&I::F64ReinterpretI64),
        Ty::V128 => f.instruction(&I::V128Const(bits as i128)),
    };
}

pub(super) fn push_zero(f: &mut Function, v: wasmparser::ValType) -> Result<(), String> {
    let ty = Ty::from_wasm(v).ok_or("an imported function returning a reference")?;
    push_bits(f, ty, 0);
    Ok(())
}

/// The cost of one function body for [`Prepared::selector_cost`]: its
/// operators, each memory access as 16 (the translator's bounds-checked,
/// sub-word-safe access helpers are large once inlined).
pub(super) fn body_cost(body: &wasmparser::FunctionBody<'_>) -> u64 {
    let Ok(mut r) = body.get_operators_reader() else {
        return 1;
    };
    let mut c = 0u64;
    while !r.eof() {
        match r.read() {
            Ok(op) => c += if access(&op).is_some() { 16 } else { 1 },
            Err(_) => break,
        }
    }
    c
}

/// Rewrites one function body (memory accesses through `$chk`,
/// `memory.size`/`memory.grow` on the page global). Also says whether it
/// changes module state.
/// The globals a function body sets (`global.set`).
pub(super) fn globals_set(body: &wasmparser::FunctionBody<'_>) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    let mut r = body.get_operators_reader().map_err(|e| e.to_string())?;
    while !r.eof() {
        if let Operator::GlobalSet { global_index } = r.read().map_err(|e| e.to_string())? {
            out.push(global_index);
        }
    }
    Ok(out)
}

pub(super) fn rewrite_body(
    body: &wasmparser::FunctionBody<'_>,
    ft: &FuncType,
    hg: &HGlobals,
    f_chk: u32,
    f_grow: u32,
) -> Result<(Function, bool, bool, Vec<u32>), String> {
    let mut re = RoundtripReencoder;
    let mut locals: Vec<(u32, ValType)> = Vec::new();
    let mut n_locals = ft.params().len() as u32;
    for l in body.get_locals_reader().map_err(|e| e.to_string())? {
        let (n, t) = l.map_err(|e| e.to_string())?;
        locals.push((n, re.val_type(t).map_err(|e| e.to_string())?));
        n_locals += n;
    }
    // Scratch locals for the value a store keeps above its address.
    let scratch_tys = [Ty::I32, Ty::I64, Ty::F32, Ty::F64, Ty::V128];
    let mut ops = Vec::new();
    let mut uses_v128 = false;
    let mut reader = body.get_operators_reader().map_err(|e| e.to_string())?;
    while !reader.eof() {
        let op = reader.read().map_err(|e| e.to_string())?;
        if let Some((_, _, Some(Ty::V128))) = access(&op) {
            uses_v128 = true;
        }
        ops.push(op);
    }
    for t in scratch_tys {
        if t != Ty::V128 || uses_v128 {
            locals.push((1, t.val()));
        }
    }
    let scratch = |t: Ty| n_locals + scratch_tys.iter().position(|x| *x == t).unwrap() as u32;
    let mut f = Function::new(locals);
    let mut changes = false;
    let mut grows = false;
    let mut callees = Vec::new();
    for op in ops {
        grows |= matches!(op, Operator::MemoryGrow { .. });
        changes |= changes_state(&op);
        match op {
            Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                callees.push(function_index)
            }
            // Any function of a table may be called (see `u32::MAX` below).
            Operator::CallIndirect { .. } | Operator::ReturnCallIndirect { .. } => {
                callees.push(u32::MAX)
            }
            _ => {}
        }
        if let Some((size, m, above)) = access(&op) {
            if m.memory != 0 {
                return unsupported("multi-memory");
            }
            if let Some(t) = above {
                f.instruction(&Instruction::LocalSet(scratch(t)));
            }
            f.instruction(&Instruction::I64Const(m.offset.wrapping_add(size) as i64));
            f.instruction(&Instruction::Call(f_chk));
            if let Some(t) = above {
                f.instruction(&Instruction::LocalGet(scratch(t)));
            }
            let ins = Instruction::try_from(op).map_err(|e| e.to_string())?;
            f.instruction(&ins);
            continue;
        }
        match op {
            Operator::MemorySize { mem: 0 } => {
                f.instruction(&Instruction::GlobalGet(hg.pages));
            }
            Operator::MemoryGrow { mem: 0 } => {
                f.instruction(&Instruction::Call(f_grow));
            }
            Operator::MemorySize { .. } | Operator::MemoryGrow { .. } => {
                return unsupported("multi-memory")
            }
            Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::DataDrop { .. } => return unsupported("bulk memory operations"),
            op => {
                let ins = Instruction::try_from(op)
                    .map_err(|e| format!("operator not re-encodable: {e}"))?;
                f.instruction(&ins);
            }
        }
    }
    Ok((f, changes, grows, callees))
}
