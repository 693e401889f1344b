//! Decoding a kernel module and checking what the translator needs to know
//! before generating code: the ABI shape (the rules are in
//! [`crate::kernel_abi`]), globals, data segments and the direct call graph
//! (no recursion; callees translated first).

use super::shadow_stack::GlobalUse;
use super::{wasm_err, LoadedKernel, Unsupported};
use crate::kernel_abi::{self, KERNEL_EXPORT};
use wasmparser::{
    BlockType, DataKind, ExternalKind, FuncType, FunctionBody, Operator, Parser, Payload, TypeRef,
    ValType, Validator, WasmFeatures,
};

/// An active data segment of the kernel, to be written at `offset` of `[0, R)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSegment {
    /// Byte offset inside the kernel's region.
    pub offset: u32,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A scalar wasm value type the translator supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Ty {
    I32,
    I64,
    F32,
    F64,
    /// A `v128` (fixed-width SIMD), as four `u32` words (see `codegen/simd.rs`).
    V128,
}

impl Ty {
    pub(crate) fn from_val(v: ValType) -> Result<Ty, Unsupported> {
        match v {
            ValType::I32 => Ok(Ty::I32),
            ValType::I64 => Ok(Ty::I64),
            ValType::F32 => Ok(Ty::F32),
            ValType::F64 => Ok(Ty::F64),
            ValType::V128 => Ok(Ty::V128),
            other => Err(Unsupported::new(format!(
                "value type {other} is not supported"
            ))),
        }
    }
    pub(crate) fn is_64(self) -> bool {
        matches!(self, Ty::I64 | Ty::F64)
    }
}

/// A module-level global: type, mutability, initial value as raw bits.
#[derive(Clone, Debug)]
pub(crate) struct Global {
    pub ty: Ty,
    pub mutable: bool,
    pub init_bits: u64,
    /// Why a function reaching this global makes the kernel unsupported (a
    /// reference or `v128` global: a placeholder the code never reads).
    pub unsupported: Option<Unsupported>,
}

/// A defined function: its signature and body.
pub(crate) struct Func<'a> {
    pub params: Vec<Ty>,
    /// Its results (several: multi-value, a struct in SPIR-V).
    pub results: Vec<Ty>,
    pub body: FunctionBody<'a>,
    /// Why the kernel is unsupported if it reaches this function (a
    /// reference-typed parameter, result, local or block type); `params`
    /// and `results` are then empty.
    pub unsupported: Option<Unsupported>,
}

/// Everything codegen needs about a kernel module.
pub(crate) struct KernelModule<'a> {
    pub types: Vec<FuncType>,
    pub funcs: Vec<Func<'a>>,
    pub globals: Vec<Global>,
    /// Index of the exported `kernel` function.
    pub kernel: u32,
    /// Functions reachable from `kernel`, callees before callers.
    pub order: Vec<u32>,
    pub region_size: u64,
    pub data_segments: Vec<DataSegment>,
    pub num_buffers: usize,
    /// The function table `call_indirect` uses (empty: none).
    pub table: super::table::Table,
    /// Each function's type index.
    pub func_types: Vec<u32>,
    /// clang's shadow stack, when the kernel keeps one.
    pub stack: Option<super::shadow_stack::ShadowStack>,
    /// Whether any i64 / f64 appears in a signature, local or global.
    pub uses_i64: bool,
    pub uses_f64: bool,
}

fn features() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::THREADS
        | WasmFeatures::FLOATS
        | WasmFeatures::GC_TYPES
        | WasmFeatures::SIMD
}

/// Evaluates a constant expression made of a single `*.const`.
fn const_bits(expr: &wasmparser::ConstExpr<'_>) -> Result<u64, Unsupported> {
    let mut reader = expr.get_operators_reader();
    let op = reader.read().map_err(wasm_err)?;
    let bits = match op {
        Operator::I32Const { value } => value as u32 as u64,
        Operator::I64Const { value } => value as u64,
        Operator::F32Const { value } => value.bits() as u64,
        Operator::F64Const { value } => value.bits(),
        other => {
            return Err(Unsupported::new(format!(
                "constant expression {other:?} is not supported"
            )))
        }
    };
    match reader.read().map_err(wasm_err)? {
        Operator::End => Ok(bits),
        _ => Err(Unsupported::new(
            "extended constant expressions are not supported",
        )),
    }
}

/// A function's parameter, result and local types.
type Signature = (Vec<Ty>, Vec<Ty>, Vec<Ty>);

/// A function's parameter, result and local types, or why one is not taken.
fn signature(ty: &FuncType, body: &FunctionBody<'_>) -> Result<Signature, Unsupported> {
    let conv = |vs: &[ValType]| {
        vs.iter()
            .map(|&v| Ty::from_val(v))
            .collect::<Result<Vec<Ty>, _>>()
    };
    let params: Vec<Ty> = conv(ty.params())?;
    let results: Vec<Ty> = conv(ty.results())?;
    let mut locals = Vec::new();
    for l in body.get_locals_reader().map_err(wasm_err)? {
        let (_, v) = l.map_err(wasm_err)?;
        locals.push(Ty::from_val(v)?);
    }
    Ok((params, results, locals))
}

/// Decodes and checks `bytes`. Bytes the kernel loader accepted (`loaded`)
/// were validated by the wasm engine already and are not validated again;
/// the ABI facts the loader learned must agree with what is found here.
pub(crate) fn analyze<'a>(
    bytes: &'a [u8],
    loaded: Option<&LoadedKernel>,
    max_window: u32,
) -> Result<KernelModule<'a>, Unsupported> {
    if loaded.is_none() {
        Validator::new_with_features(features())
            .validate_all(bytes)
            .map_err(wasm_err)?;
    }

    let mut types: Vec<FuncType> = Vec::new();
    let mut func_type_idx: Vec<u32> = Vec::new();
    let mut bodies: Vec<FunctionBody<'_>> = Vec::new();
    let mut globals = Vec::new();
    let mut memory_min: Option<u64> = None;
    let mut kernel = None;
    let mut data_segments = Vec::new();
    let mut tables = Vec::new();

    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(wasm_err)? {
            Payload::TypeSection(r) => {
                for t in r.into_iter_err_on_gc_types() {
                    types.push(t.map_err(wasm_err)?);
                }
            }
            Payload::ImportSection(r) => {
                for imp in r {
                    let imp = imp.map_err(wasm_err)?;
                    match imp.ty {
                        TypeRef::Memory(m) if memory_min.is_none() => {
                            if m.memory64 {
                                return Err(Unsupported::new("64-bit memories are not supported"));
                            }
                            memory_min = Some(m.initial);
                        }
                        _ => {
                            return Err(Unsupported::new(format!(
                                "the kernel imports {}::{} but may import only one memory",
                                imp.module, imp.name
                            )))
                        }
                    }
                }
            }
            Payload::FunctionSection(r) => {
                for f in r {
                    func_type_idx.push(f.map_err(wasm_err)?);
                }
            }
            Payload::MemorySection(r) if r.count() > 0 => {
                return Err(Unsupported::new(
                    "the kernel defines a memory; it must import exactly one",
                ));
            }
            Payload::GlobalSection(r) => {
                for g in r {
                    let g = g.map_err(wasm_err)?;
                    // Reference and v128 globals only matter if a function
                    // the kernel reaches uses one (checked below).
                    let why = match Ty::from_val(g.ty.content_type) {
                        Ok(Ty::V128) => Unsupported::new("v128 globals are not supported"),
                        Ok(ty) => {
                            globals.push(Global {
                                ty,
                                mutable: g.ty.mutable,
                                init_bits: const_bits(&g.init_expr)?,
                                unsupported: None,
                            });
                            continue;
                        }
                        Err(e) => e,
                    };
                    globals.push(Global {
                        ty: Ty::I32,
                        mutable: false,
                        init_bits: 0,
                        unsupported: Some(why),
                    });
                }
            }
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.map_err(wasm_err)?;
                    if e.name == KERNEL_EXPORT && e.kind == ExternalKind::Func {
                        kernel = Some(e.index);
                    }
                }
            }
            Payload::StartSection { .. } => {
                return Err(Unsupported::new(
                    "kernels with a start function are not supported",
                ))
            }
            Payload::DataSection(r) => {
                for d in r {
                    let d = d.map_err(wasm_err)?;
                    if let DataKind::Active { offset_expr, .. } = d.kind {
                        let offset = const_bits(&offset_expr)? as u32;
                        data_segments.push(DataSegment {
                            offset,
                            bytes: d.data.to_vec(),
                        });
                    }
                }
            }
            Payload::TableSection(r) => {
                for t in r {
                    super::table::declare(&mut tables, t.map_err(wasm_err)?)?;
                }
            }
            Payload::ElementSection(r) => {
                for e in r {
                    super::table::apply_element(&mut tables, e.map_err(wasm_err)?, const_bits)?;
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            _ => {}
        }
    }

    let memory_min =
        memory_min.ok_or_else(|| Unsupported::new("the kernel must import exactly one memory"))?;
    let region_size = kernel_abi::region_size(memory_min)
        .ok_or_else(|| Unsupported::new("the kernel's memory is larger than 4 GiB"))?;
    for seg in &data_segments {
        if !kernel_abi::segment_in_region(seg.offset as u64, seg.bytes.len() as u64, region_size) {
            return Err(Unsupported::new(
                "a data segment lies outside the kernel's memory",
            ));
        }
    }
    let kernel = kernel.ok_or_else(|| Unsupported::new("the kernel does not export `kernel`"))?;

    let mut funcs = Vec::with_capacity(bodies.len());
    let mut uses_i64 = false;
    let mut uses_f64 = false;
    let mut note = |t: Ty| {
        uses_i64 |= t == Ty::I64;
        uses_f64 |= t == Ty::F64;
    };
    for g in globals.iter().filter(|g| g.unsupported.is_none()) {
        note(g.ty);
    }
    for (i, body) in bodies.into_iter().enumerate() {
        let ty = &types[func_type_idx[i] as usize];
        let mut f = Func {
            params: Vec::new(),
            results: Vec::new(),
            body,
            unsupported: None,
        };
        match signature(ty, &f.body) {
            Ok((params, results, locals)) => {
                params
                    .iter()
                    .chain(&results)
                    .chain(&locals)
                    .copied()
                    .for_each(&mut note);
                f.params = params;
                f.results = results;
            }
            // Only an error if the kernel reaches it (checked below).
            Err(why) => f.unsupported = Some(why),
        }
        funcs.push(f);
    }

    let kf = funcs
        .get(kernel as usize)
        .ok_or_else(|| Unsupported::new("`kernel` must be a function defined by the module"))?;
    if let Some(why) = &kf.unsupported {
        return Err(why.clone());
    }
    let num_buffers = match kernel_abi::buffer_pairs(kf.params.len()) {
        Some(n) if kf.results.is_empty() => n,
        _ => return Err(Unsupported::new(
            "`kernel` must take (iteration_id, num_iterations, block_size, ptr, len, ...) and return nothing",
        )),
    };
    if kf.params.iter().any(|&t| t != Ty::I32) {
        return Err(Unsupported::new("`kernel` parameters must all be i32"));
    }
    if let Some(l) = loaded {
        if l.region_size != region_size || l.num_buffers != num_buffers {
            return Err(Unsupported::new(format!(
                "internal: the loader found R = {} and {} buffer pairs, the translator R = \
                 {region_size} and {num_buffers}",
                l.region_size, l.num_buffers
            )));
        }
    }

    // Call graph (direct calls, and `call_indirect` to every table entry of
    // its signature), scanning every body once; also which globals are set.
    let table = tables.into_iter().next().unwrap_or_default();
    let mut callees: Vec<Vec<u32>> = vec![Vec::new(); funcs.len()];
    let mut set_globals = vec![false; globals.len()];
    for (i, f) in funcs.iter_mut().enumerate() {
        let mut ops = f.body.get_operators_reader().map_err(wasm_err)?;
        while !ops.eof() {
            match ops.read().map_err(wasm_err)? {
                Operator::Call { function_index } if !callees[i].contains(&function_index) => {
                    callees[i].push(function_index)
                }
                Operator::CallIndirect { type_index, .. } => {
                    for c in super::table::targets(&table, &types, &func_type_idx, type_index) {
                        if !callees[i].contains(&c) {
                            callees[i].push(c)
                        }
                    }
                }
                Operator::GlobalSet { global_index } => set_globals[global_index as usize] = true,
                Operator::Block { blockty }
                | Operator::Loop { blockty }
                | Operator::If { blockty } => {
                    let vals: &[ValType] = match &blockty {
                        BlockType::FuncType(t) => types[*t as usize].results(),
                        BlockType::Type(v) => std::slice::from_ref(v),
                        BlockType::Empty => &[],
                    };
                    for &v in vals {
                        match Ty::from_val(v) {
                            Ok(t) => note(t),
                            Err(why) => f.unsupported = f.unsupported.take().or(Some(why)),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let _ = note;

    // Post-order DFS from the kernel with cycle detection.
    let mut order = Vec::new();
    let mut state = vec![0u8; funcs.len()]; // 0 new, 1 on stack, 2 done
    let mut stack: Vec<(u32, usize)> = vec![(kernel, 0)];
    state[kernel as usize] = 1;
    while let Some(&mut (f, ref mut next)) = stack.last_mut() {
        if let Some(&c) = callees[f as usize].get(*next) {
            *next += 1;
            match state[c as usize] {
                0 => {
                    state[c as usize] = 1;
                    stack.push((c, 0));
                }
                1 => {
                    return Err(Unsupported::new(format!(
                    "recursion (function {c} calls itself directly or indirectly) is not supported"
                )))
                }
                _ => {}
            }
        } else {
            state[f as usize] = 2;
            order.push(f);
            stack.pop();
        }
    }

    // The globals reachable functions read or set: the stack pointer
    // candidates (at -O1 and above, clang gives a leaf function its frame
    // below `__stack_pointer` without ever setting the global, so a kernel
    // whose only frames are in leaves never sets it). A reachable function
    // with a type the translator does not take, or using such a global,
    // makes the kernel unsupported; unreachable ones do not matter.
    let mut reachable_uses = vec![GlobalUse::Unused; globals.len()];
    for &f in &order {
        let func = &funcs[f as usize];
        if let Some(why) = &func.unsupported {
            return Err(why.clone());
        }
        let mut r = func.body.get_operators_reader().map_err(wasm_err)?;
        while !r.eof() {
            let g = match r.read().map_err(wasm_err)? {
                Operator::GlobalSet { global_index } => {
                    reachable_uses[global_index as usize] = GlobalUse::Set;
                    global_index
                }
                Operator::GlobalGet { global_index } => {
                    let u = &mut reachable_uses[global_index as usize];
                    if *u == GlobalUse::Unused {
                        *u = GlobalUse::Read;
                    }
                    global_index
                }
                _ => continue,
            };
            if let Some(why) = &globals[g as usize].unsupported {
                return Err(why.clone());
            }
        }
    }
    let _ = set_globals;
    let stack = super::shadow_stack::analyze(
        &funcs,
        &globals,
        &reachable_uses,
        &order,
        &callees,
        region_size,
        &data_segments,
        max_window,
    )?;

    Ok(KernelModule {
        types,
        funcs,
        globals,
        kernel,
        order,
        region_size,
        data_segments,
        num_buffers,
        table,
        func_types: func_type_idx,
        stack,
        uses_i64,
        uses_f64,
    })
}
