//! Rewriting a spec module into a wasi-parallel kernel (ABI section 2).
//!
//! The kernel imports its memory (`env.memory`, minimum 0 pages, so its own
//! region `[0, R)` is empty) and takes four buffers, in this order:
//! - `tab` (input): one record of [`Prepared::rec`] bytes per action: word 0
//!   the mode (1: expected to return, 2: expected to trap; such actions are
//!   left out of replays), word 1 the selector (which export it calls or
//!   reads), the arguments at `16 + 16 * j`;
//! - `ctl` (input): one byte per action, non-zero: iteration `i` runs action `i`;
//! - `out` (output): one record of [`Prepared::out_rec`] bytes per action:
//!   word 0 set to 1 once the call returned, the results at `16 + 16 * j`;
//! - `mem` (output, only when the module has a memory): the spec module's
//!   linear memory, one copy per iteration when the module changes state
//!   (iteration `i` uses copy `i - block_size`), else one shared copy.
//!
//! The spec module's memory accesses are redirected into `mem`: every load
//! and store first calls `$chk(addr, offset + size)`, which returns
//! `addr + base` when the access fits the spec memory's current size and
//! `0xFFFF_FFFF` otherwise, so the access itself traps out of bounds on
//! every device, exactly as the spec wants. `memory.size` and `memory.grow`
//! work on a page count held in a global (growth limited to the pages the
//! host placed). The module's data segments become the initial image the
//! host writes into `mem`; imports from the `spectest` module become
//! definitions (its globals with their values 666 / 666.6, its print
//! functions as empty bodies, its table and memory as the module's own).
//!
//! Iteration `i` of the `kernel` export (when `ctl[i] != 0`) resets every
//! mutable global to its initial value, replays every earlier action that
//! is expected to return (only for modules that change state: globals,
//! stores, `memory.grow`, tables), then runs action `i` and stores its
//! results. So iterations are independent and one dispatch runs them all.

use super::plan::{Action, Expect, Target, Val};
use super::rewrite::{
    body_cost, chk_fn, const_of, eval_const, globals_set, grow_fn, push_bits, push_zero,
    rewrite_body, unsupported, HGlobals,
};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, ElementSection, EntityType, ExportKind, ExportSection,
    Function, FunctionSection, GlobalSection, GlobalType, ImportSection, Instruction, MemArg,
    MemoryType, Module, TableSection, TypeSection, ValType,
};
use wasmparser::{DataKind, ExternalKind, FuncType, Operator, Parser, Payload, TypeRef};

mod funcs;

/// Pages the harness lets `memory.grow` add beyond the declared minimum
/// (each iteration of a stateful module gets its own copy of this size).
pub const GROW_PAGES: u64 = 4;
/// Word 1 of an `out` record: set when `memory.grow` (in this action or a
/// replayed one) asked for more than the harness placed but the spec
/// module's maximum allows: the action is reported as unsupported.
pub const GROW_LIMIT_HIT: u32 = 0x6707_0001;
const PAGE: u64 = 65536;

/// A value type of an action's parameters and results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    I32,
    I64,
    F32,
    F64,
    V128,
}

impl Ty {
    pub(super) fn from_wasm(v: wasmparser::ValType) -> Option<Ty> {
        Some(match v {
            wasmparser::ValType::I32 => Ty::I32,
            wasmparser::ValType::I64 => Ty::I64,
            wasmparser::ValType::F32 => Ty::F32,
            wasmparser::ValType::F64 => Ty::F64,
            wasmparser::ValType::V128 => Ty::V128,
            _ => return None,
        })
    }
    pub(super) fn val(self) -> ValType {
        match self {
            Ty::I32 => ValType::I32,
            Ty::I64 => ValType::I64,
            Ty::F32 => ValType::F32,
            Ty::F64 => ValType::F64,
            Ty::V128 => ValType::V128,
        }
    }
    fn load(self, offset: u64) -> Instruction<'static> {
        let m = memarg(offset, self.align());
        match self {
            Ty::I32 => Instruction::I32Load(m),
            Ty::I64 => Instruction::I64Load(m),
            Ty::F32 => Instruction::F32Load(m),
            Ty::F64 => Instruction::F64Load(m),
            Ty::V128 => Instruction::V128Load(m),
        }
    }
    fn store(self, offset: u64) -> Instruction<'static> {
        let m = memarg(offset, self.align());
        match self {
            Ty::I32 => Instruction::I32Store(m),
            Ty::I64 => Instruction::I64Store(m),
            Ty::F32 => Instruction::F32Store(m),
            Ty::F64 => Instruction::F64Store(m),
            Ty::V128 => Instruction::V128Store(m),
        }
    }
    fn align(self) -> u32 {
        match self {
            Ty::I32 | Ty::F32 => 2,
            Ty::I64 | Ty::F64 => 3,
            Ty::V128 => 4,
        }
    }
    /// Decodes the value of this type at `bytes[..]`.
    pub fn read(self, b: &[u8]) -> Val {
        let w = |n: usize| {
            let mut a = [0u8; 16];
            a[..n].copy_from_slice(&b[..n]);
            u128::from_le_bytes(a)
        };
        match self {
            Ty::I32 => Val::I32(w(4) as u32),
            Ty::I64 => Val::I64(w(8) as u64),
            Ty::F32 => Val::F32(w(4) as u32),
            Ty::F64 => Val::F64(w(8) as u64),
            Ty::V128 => Val::V128(w(16)),
        }
    }
}

fn memarg(offset: u64, align: u32) -> MemArg {
    MemArg {
        offset,
        align,
        memory_index: 0,
    }
}

fn val_bytes(v: Val) -> [u8; 16] {
    let x: u128 = match v {
        Val::I32(x) | Val::F32(x) => x as u128,
        Val::I64(x) | Val::F64(x) => x as u128,
        Val::V128(x) => x,
    };
    x.to_le_bytes()
}

fn val_ty(v: Val) -> Ty {
    match v {
        Val::I32(_) => Ty::I32,
        Val::I64(_) => Ty::I64,
        Val::F32(_) => Ty::F32,
        Val::F64(_) => Ty::F64,
        Val::V128(_) => Ty::V128,
    }
}

/// What one action runs, resolved against the module.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Index into [`Prepared::selectors`].
    pub sel: usize,
    pub results: Vec<Ty>,
    pub trap_expected: bool,
    /// Changes module state, so later iterations replay it.
    pub replayed: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Sel {
    Func { index: u32, params: Vec<Ty> },
    Global(u32),
}

/// The spec module's memory as the kernel sees it.
#[derive(Clone, Debug)]
pub struct MemPlan {
    /// Initial contents of one copy's first `min` pages (data segments
    /// applied); the pages up to the kernel's cap are zeros.
    pub image: Vec<u8>,
    /// One copy per iteration (the module changes its memory).
    pub per_iteration: bool,
}

/// A spec module analysed and rewritten, ready to build kernels for any
/// subset of its selectors.
pub struct Prepared {
    /// Per action: what it runs, or why it cannot run.
    pub actions: Vec<Result<Resolved, String>>,
    /// The distinct exports the actions use.
    sels: Vec<Sel>,
    /// Bytes of one `tab` record / one `out` record.
    pub rec: usize,
    pub out_rec: usize,
    /// The `tab` buffer (all actions).
    pub tab: Vec<u8>,
    pub mem: Option<MemPlan>,
    /// Whether iterations replay earlier actions.
    pub stateful: bool,
    /// Whether the module uses `memory.grow`.
    pub has_grow: bool,
    parts: Parts,
}

/// Sections of the rewritten module (without the harness' own functions).
struct Parts {
    types: TypeSection,
    num_types: u32,
    /// Type index of each function.
    func_types: Vec<u32>,
    /// Direct callees of each function (all functions of element segments
    /// where it uses `call_indirect`; `u32::MAX - 1`: any function).
    callees: Vec<Vec<u32>>,
    /// Per function: operators, memory accesses weighted (see [`body_cost`]).
    own_cost: Vec<u64>,
    num_funcs: u32,
    tables: TableSection,
    globals: GlobalSection,
    num_globals: u32,
    /// (index, type, initial value bits) of each mutable global.
    mutable_globals: Vec<(u32, Ty, u128)>,
    /// (index, initialiser) of each mutable reference-typed global.
    ref_resets: Vec<(u32, Vec<Instruction<'static>>)>,
    /// Per function: the globals it sets itself.
    sets_globals: Vec<Vec<u32>>,
    elements: Option<ElementSection>,
    code: Vec<Function>,
    mem_min_pages: u64,
    /// The spec module's declared maximum (65536 when none).
    mem_max_pages: u64,
}

const SPECTEST_I: u64 = 666;
const SPECTEST_F32: u32 = 0x4426_a666; // 666.6f32
const SPECTEST_F64: u64 = 0x4084_d4cc_cccc_cccd; // 666.6f64

impl Prepared {
    /// Analyses `bytes` (a spec module) for `actions`.
    pub fn new(bytes: &[u8], actions: &[Action]) -> Result<Prepared, String> {
        let mut re = RoundtripReencoder;
        let mut types: Vec<FuncType> = Vec::new();
        let mut type_sec = TypeSection::new();
        let mut func_types: Vec<u32> = Vec::new();
        let mut imported_funcs = 0u32;
        let mut tables = TableSection::new();
        let mut imported_globals: Vec<(GlobalType, u128, Ty)> = Vec::new();
        let mut defined_globals: Vec<(GlobalType, ConstExpr, Option<Ty>, u128)> = Vec::new();
        let mut global_vals: Vec<(Ty, u128)> = Vec::new();
        let mut memory: Option<(u64, Option<u64>)> = None;
        let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
        let mut elements: Option<ElementSection> = None;
        let mut data: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut bodies: Vec<wasmparser::FunctionBody<'_>> = Vec::new();
        let mut elem_funcs: Vec<u32> = Vec::new();
        let mut ref_resets: Vec<(u32, Vec<Instruction<'static>>)> = Vec::new();

        for payload in Parser::new(0).parse_all(bytes) {
            match payload.map_err(|e| e.to_string())? {
                Payload::TypeSection(r) => {
                    for t in r.clone().into_iter_err_on_gc_types() {
                        types.push(t.map_err(|e| format!("GC types: {e}"))?);
                    }
                    re.parse_type_section(&mut type_sec, r)
                        .map_err(|e| e.to_string())?;
                }
                Payload::ImportSection(r) => {
                    for imp in r {
                        let imp = imp.map_err(|e| e.to_string())?;
                        if imp.module != "spectest" {
                            return unsupported(format!(
                                "imports {}.{} from another module instance",
                                imp.module, imp.name
                            ));
                        }
                        match imp.ty {
                            TypeRef::Func(t) => {
                                func_types.push(t);
                                imported_funcs += 1;
                            }
                            TypeRef::Global(g) => {
                                let ty = Ty::from_wasm(g.content_type)
                                    .ok_or("imports a reference-typed global")?;
                                let bits = match ty {
                                    Ty::I32 | Ty::I64 => SPECTEST_I as u128,
                                    Ty::F32 => SPECTEST_F32 as u128,
                                    Ty::F64 => SPECTEST_F64 as u128,
                                    Ty::V128 => return unsupported("imports a v128 global"),
                                };
                                let gt = re.global_type(g).map_err(|e| e.to_string())?;
                                imported_globals.push((gt, bits, ty));
                                global_vals.push((ty, bits));
                            }
                            TypeRef::Table(t) => {
                                tables.table(re.table_type(t).map_err(|e| e.to_string())?);
                            }
                            TypeRef::Memory(m) => {
                                if memory.is_some() {
                                    return unsupported("more than one memory (multi-memory)");
                                }
                                memory = Some((m.initial, m.maximum));
                            }
                            _ => return unsupported("imports a tag"),
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for f in r {
                        func_types.push(f.map_err(|e| e.to_string())?);
                    }
                }
                Payload::TableSection(r) => {
                    for t in r {
                        let t = t.map_err(|e| e.to_string())?;
                        if !matches!(t.init, wasmparser::TableInit::RefNull) {
                            return unsupported("table with an initialiser expression");
                        }
                        tables.table(re.table_type(t.ty).map_err(|e| e.to_string())?);
                    }
                }
                Payload::MemorySection(r) => {
                    for m in r {
                        let m = m.map_err(|e| e.to_string())?;
                        if memory.is_some() {
                            return unsupported("more than one memory (multi-memory)");
                        }
                        if m.memory64 {
                            return unsupported("a 64-bit memory");
                        }
                        if m.page_size_log2.is_some() {
                            return unsupported("custom page sizes");
                        }
                        memory = Some((m.initial, m.maximum));
                    }
                }
                Payload::GlobalSection(r) => {
                    for g in r {
                        let g = g.map_err(|e| e.to_string())?;
                        let gt = re.global_type(g.ty).map_err(|e| e.to_string())?;
                        let ce = re
                            .const_expr(g.init_expr.clone())
                            .map_err(|e| e.to_string())?;
                        match Ty::from_wasm(g.ty.content_type) {
                            Some(ty) => {
                                let (_, bits) = eval_const(&g.init_expr, &global_vals)?;
                                // The value itself: a `global.get` of a
                                // spectest import would read a global the
                                // kernel now defines, which is invalid.
                                defined_globals.push((gt, const_of(ty, bits), Some(ty), bits));
                                let _ = ce;
                                global_vals.push((ty, bits));
                            }
                            None if g.ty.mutable => {
                                // Reset by its initialiser's instructions.
                                let mut ins = Vec::new();
                                let mut r = g.init_expr.get_operators_reader();
                                loop {
                                    match r.read().map_err(|e| e.to_string())? {
                                        Operator::End => break,
                                        Operator::RefNull { hty } => {
                                            ins.push(Instruction::RefNull(
                                                re.heap_type(hty).map_err(|e| e.to_string())?,
                                            ))
                                        }
                                        Operator::RefFunc { function_index } => {
                                            ins.push(Instruction::RefFunc(function_index))
                                        }
                                        Operator::GlobalGet { global_index } => {
                                            ins.push(Instruction::GlobalGet(global_index))
                                        }
                                        _ => return unsupported("a reference global initialiser"),
                                    }
                                }
                                ref_resets.push((global_vals.len() as u32, ins));
                                defined_globals.push((gt, ce, None, 0));
                                global_vals.push((Ty::I32, 0));
                            }
                            None => {
                                // Kept as it is; no action reads it as a value.
                                defined_globals.push((gt, ce, None, 0));
                                global_vals.push((Ty::I32, 0));
                            }
                        }
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e.map_err(|e| e.to_string())?;
                        exports.push((e.name.to_string(), e.kind, e.index));
                    }
                }
                Payload::StartSection { .. } => {
                    return unsupported("a start function (kernels have none)")
                }
                Payload::ElementSection(r) => {
                    for e in r.clone() {
                        match e.map_err(|e| e.to_string())?.items {
                            wasmparser::ElementItems::Functions(fs) => {
                                for f in fs {
                                    elem_funcs.push(f.map_err(|e| e.to_string())?);
                                }
                            }
                            wasmparser::ElementItems::Expressions(..) => {
                                // ref.func in expressions: any function.
                                elem_funcs.push(u32::MAX - 1);
                            }
                        }
                    }
                    let mut es = ElementSection::new();
                    re.parse_element_section(&mut es, r)
                        .map_err(|e| e.to_string())?;
                    elements = Some(es);
                }
                Payload::DataCountSection { .. } => {}
                Payload::DataSection(r) => {
                    for d in r {
                        let d = d.map_err(|e| e.to_string())?;
                        match d.kind {
                            DataKind::Active {
                                memory_index: 0,
                                offset_expr,
                            } => {
                                let (_, off) = eval_const(&offset_expr, &global_vals)?;
                                data.push((off as u64, d.data.to_vec()));
                            }
                            _ => return unsupported("passive data segments (bulk memory)"),
                        }
                    }
                }
                Payload::CodeSectionEntry(body) => bodies.push(body),
                Payload::TagSection(_) => return unsupported("exception tags"),
                _ => {}
            }
        }

        // Globals: the spectest imports become definitions, then the module's.
        let mut globals = GlobalSection::new();
        let mut mutable_globals = Vec::new();
        let mut gi = 0u32;
        for (gt, bits, ty) in &imported_globals {
            globals.global(*gt, &const_of(*ty, *bits));
            if gt.mutable {
                mutable_globals.push((gi, *ty, *bits));
            }
            gi += 1;
        }
        for (gt, ce, ty, bits) in &defined_globals {
            globals.global(*gt, ce);
            if let (true, Some(ty)) = (gt.mutable, ty) {
                mutable_globals.push((gi, *ty, *bits));
            }
            gi += 1;
        }
        let num_globals = gi;
        let hg = HGlobals::at(num_globals);

        let num_types = types.len() as u32;
        let num_funcs = func_types.len() as u32;
        let t_chk = num_types;
        let f_chk = num_funcs;
        let f_grow = num_funcs + 1;

        // Memory placement.
        let mem_min_pages = memory.map_or(0, |m| m.0);

        // Function bodies.
        let mut code = Vec::new();
        let mut has_grow = false;
        // Per function: changes state itself; its callees.
        let mut changes_fn = vec![false; func_types.len()];
        let mut callees_fn: Vec<Vec<u32>> = vec![Vec::new(); func_types.len()];
        let mut own_cost = vec![1u64; func_types.len()];
        let mut sets_globals: Vec<Vec<u32>> = vec![Vec::new(); func_types.len()];
        for (i, &t) in func_types.iter().enumerate() {
            let ft = types.get(t as usize).ok_or("function of an unknown type")?;
            if (i as u32) < imported_funcs {
                let mut f = Function::new([]);
                for r in ft.results() {
                    push_zero(&mut f, *r)?;
                }
                f.instruction(&Instruction::End);
                code.push(f);
                continue;
            }
            let body = &bodies[i - imported_funcs as usize];
            let (f, changes, grows, callees) = rewrite_body(body, ft, &hg, f_chk, f_grow)?;
            own_cost[i] = body_cost(body);
            sets_globals[i] = globals_set(body)?;
            changes_fn[i] = changes;
            callees_fn[i] = callees;
            has_grow |= grows;
            code.push(f);
        }
        // A function changes state when it or a function it calls does;
        // `call_indirect` may call any function an element segment names.
        for c in callees_fn.iter_mut() {
            if c.contains(&u32::MAX) {
                c.retain(|&x| x != u32::MAX);
                c.extend_from_slice(&elem_funcs);
            }
        }
        loop {
            let mut more = false;
            for i in 0..func_types.len() {
                if !changes_fn[i]
                    && callees_fn[i]
                        .iter()
                        .any(|&c| changes_fn.get(c as usize).copied().unwrap_or(true))
                {
                    changes_fn[i] = true;
                    more = true;
                }
            }
            if !more {
                break;
            }
        }
        let stateful = changes_fn.iter().any(|c| *c);
        if bodies.len() + imported_funcs as usize != func_types.len() {
            return unsupported("function and code sections disagree");
        }

        // Actions.
        let mut sels: Vec<Sel> = Vec::new();
        let mut resolved = Vec::new();
        let mut max_params = 0usize;
        let mut max_results = 0usize;
        for a in actions {
            let r = resolve(a, &exports, &func_types, &types, &global_vals, &mut sels);
            if let Ok((_, params, results)) = &r {
                max_params = max_params.max(params.len());
                max_results = max_results.max(results.len());
            }
            resolved.push(r);
        }
        let rec = 16 + 16 * max_params;
        let out_rec = 16 + 16 * max_results;
        let mut tab = vec![0u8; rec * actions.len().max(1)];
        let mut out_actions = Vec::new();
        for (k, (a, r)) in actions.iter().zip(resolved).enumerate() {
            out_actions.push(r.map(|(sel, _, results)| {
                let trap_expected = matches!(a.expect, Expect::Trap(..));
                let base = k * rec;
                let replayed = match &sels[sel] {
                    Sel::Func { index, .. } => changes_fn[*index as usize],
                    Sel::Global(_) => false,
                };
                // Mode: 1 replayed by later iterations, 2 expected to trap, 3 neither.
                let mode: u32 = if trap_expected {
                    2
                } else if replayed {
                    1
                } else {
                    3
                };
                tab[base..base + 4].copy_from_slice(&mode.to_le_bytes());
                tab[base + 4..base + 8].copy_from_slice(&(sel as u32).to_le_bytes());
                for (j, v) in a.args.iter().enumerate() {
                    let o = base + 16 + 16 * j;
                    tab[o..o + 16].copy_from_slice(&val_bytes(*v));
                }
                Resolved {
                    sel,
                    results,
                    trap_expected,
                    replayed: replayed && !trap_expected,
                }
            }));
        }

        let mem = match memory {
            None => None,
            Some(_) => {
                let mut image = vec![0u8; (mem_min_pages * PAGE) as usize];
                for (off, bytes) in &data {
                    let end = off + bytes.len() as u64;
                    if end > mem_min_pages * PAGE {
                        return unsupported("a data segment out of bounds (instantiation traps)");
                    }
                    image[*off as usize..end as usize].copy_from_slice(bytes);
                }
                Some(MemPlan {
                    image,
                    per_iteration: stateful,
                })
            }
        };
        let _ = t_chk;
        Ok(Prepared {
            actions: out_actions,
            sels,
            rec,
            out_rec,
            tab,
            mem,
            stateful,
            has_grow,
            parts: Parts {
                types: type_sec,
                num_types,
                func_types: func_types.clone(),
                callees: callees_fn.clone(),
                own_cost,
                num_funcs,
                tables,
                globals,
                num_globals,
                mutable_globals,
                ref_resets,
                sets_globals,
                elements,
                code,
                mem_min_pages,
                mem_max_pages: memory.and_then(|m| m.1).unwrap_or(65536).min(65536),
            },
        })
    }

    /// Whether the module's state is its memory alone: it changes its
    /// memory but sets no global and does not grow the memory. Then the
    /// memory one iteration leaves behind is all a later kernel needs to
    /// start from (see `chain.rs`).
    pub fn memory_only_state(&self) -> bool {
        let p = &self.parts;
        self.stateful
            && !self.has_grow
            && self.mem.as_ref().is_some_and(|m| m.per_iteration)
            && p.sets_globals.iter().all(|g| g.is_empty())
    }

    /// Number of distinct exports the actions use.
    pub fn num_selectors(&self) -> usize {
        self.sels.len()
    }

    /// The page counts a kernel's copy of the spec memory may have, first
    /// the smallest (`memory.grow` past one retries with the next).
    pub fn caps(&self) -> Vec<u64> {
        let p = &self.parts;
        if !self.has_grow {
            return vec![p.mem_min_pages];
        }
        let mut caps: Vec<u64> = [GROW_PAGES, 16, 64]
            .iter()
            .map(|g| {
                (p.mem_min_pages + g)
                    .min(p.mem_max_pages)
                    .max(p.mem_min_pages)
            })
            .collect();
        caps.dedup();
        caps
    }

    /// Bytes of one copy of the spec memory under `cap` pages.
    pub fn copy_bytes(&self, cap: u64) -> usize {
        (cap * PAGE) as usize
    }

    /// The kernel module running the actions whose selector is enabled,
    /// with `cap` pages for each copy of the spec memory.
    pub fn kernel(&self, enabled: &[bool], cap: u64) -> Vec<u8> {
        let p = &self.parts;
        let hg = HGlobals::at(p.num_globals);
        let mut types = p.types.clone();
        let t_chk = p.num_types;
        types
            .ty()
            .function([ValType::I32, ValType::I64], [ValType::I32]);
        types.ty().function([ValType::I32], [ValType::I32]);
        types.ty().function([ValType::I32, ValType::I32], []);
        let n_bufs = if self.mem.is_some() { 4 } else { 3 };
        types.ty().function(vec![ValType::I32; 3 + 2 * n_bufs], []);
        // The type of the stubs that replace functions no enabled export
        // reaches (so a multi-value or untranslatable function elsewhere in
        // the module does not take this kernel down).
        let t_stub = t_chk + 4;
        types.ty().function([], []);
        let reach = self.reachable(enabled);

        let mut imports = ImportSection::new();
        imports.import(
            "env",
            "memory",
            EntityType::Memory(MemoryType {
                minimum: 0,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            }),
        );

        let mut funcs = FunctionSection::new();
        for (i, &t) in p.func_types.iter().enumerate() {
            funcs.function(if reach[i] { t } else { t_stub });
        }
        let f_chk = p.num_funcs;
        let f_grow = f_chk + 1;
        let f_run = f_chk + 2;
        let f_kernel = f_chk + 3;
        for t in 0..4 {
            funcs.function(t_chk + t);
        }

        let mut globals = p.globals.clone();
        for ty in [
            ValType::I32,
            ValType::I32,
            ValType::I64,
            ValType::I32,
            ValType::I32,
            ValType::I32,
        ] {
            globals.global(
                GlobalType {
                    val_type: ty,
                    mutable: true,
                    shared: false,
                },
                &if ty == ValType::I64 {
                    ConstExpr::i64_const(0)
                } else {
                    ConstExpr::i32_const(0)
                },
            );
        }

        let mut exports = ExportSection::new();
        exports.export("kernel", ExportKind::Func, f_kernel);

        let mut code = CodeSection::new();
        for (i, f) in p.code.iter().enumerate() {
            if reach[i] {
                code.function(f);
            } else {
                let mut stub = Function::new([]);
                stub.instruction(&Instruction::Unreachable);
                stub.instruction(&Instruction::End);
                code.function(&stub);
            }
        }
        code.function(&chk_fn(&hg, cap * PAGE));
        code.function(&grow_fn(&hg, p.mem_max_pages));
        code.function(&self.run_fn(&hg, enabled));
        code.function(&self.kernel_fn(&hg, f_run, cap, &reach));

        let mut m = Module::new();
        m.section(&types);
        m.section(&imports);
        m.section(&funcs);
        if !p.tables.is_empty() {
            m.section(&p.tables);
        }
        m.section(&globals);
        m.section(&exports);
        if let Some(e) = &p.elements {
            m.section(e);
        }
        m.section(&code);
        let _ = f_grow;
        m.finish()
    }

    /// An estimate of the code a selector's call becomes once the driver
    /// inlines every call (lavapipe does): its function's cost plus its
    /// callees' at every call site.
    pub fn selector_cost(&self, s: usize) -> u64 {
        fn cost(p: &Parts, f: u32, memo: &mut Vec<Option<u64>>, depth: u32) -> u64 {
            let Some(&own) = p.own_cost.get(f as usize) else {
                return 1 << 20; // any function: call_indirect through ref.func
            };
            if depth > 64 {
                return 1 << 20; // recursion (the translator declines it)
            }
            if let Some(c) = memo[f as usize] {
                return c;
            }
            let mut c = own;
            for &g in &p.callees[f as usize] {
                c = c.saturating_add(cost(p, g, memo, depth + 1));
            }
            let c = c.min(1 << 20);
            memo[f as usize] = Some(c);
            c
        }
        match &self.sels[s] {
            Sel::Func { index, .. } => {
                let mut memo = vec![None; self.parts.own_cost.len()];
                cost(&self.parts, *index, &mut memo, 0)
            }
            Sel::Global(_) => 1,
        }
    }

    /// Per function: whether an enabled export (or a replayed one) can
    /// reach it through calls.
    fn reachable(&self, enabled: &[bool]) -> Vec<bool> {
        let p = &self.parts;
        let n = p.func_types.len();
        let mut reach = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        for (s, sel) in self.sels.iter().enumerate() {
            if let (true, Sel::Func { index, .. }) = (enabled.get(s).copied().unwrap_or(false), sel)
            {
                stack.push(*index);
            }
        }
        while let Some(f) = stack.pop() {
            if f as usize >= n {
                // Any function (a `ref.func` expression in an element segment).
                return vec![true; n];
            }
            if reach[f as usize] {
                continue;
            }
            reach[f as usize] = true;
            stack.extend_from_slice(&p.callees[f as usize]);
        }
        reach
    }
}

type ResolvedAction = (usize, Vec<Ty>, Vec<Ty>);

fn resolve(
    a: &Action,
    exports: &[(String, ExternalKind, u32)],
    func_types: &[u32],
    types: &[FuncType],
    globals: &[(Ty, u128)],
    sels: &mut Vec<Sel>,
) -> Result<ResolvedAction, String> {
    let (name, want) = match &a.target {
        Target::Func(n) => (n, ExternalKind::Func),
        Target::Global(n) => (n, ExternalKind::Global),
    };
    let &(_, _, index) = exports
        .iter()
        .find(|(n, k, _)| n == name && *k == want)
        .ok_or_else(|| format!("no export {name:?} of that kind"))?;
    let (sel, params, results) = match want {
        ExternalKind::Func => {
            let ft = &types[func_types[index as usize] as usize];
            let params = ft
                .params()
                .iter()
                .map(|v| Ty::from_wasm(*v))
                .collect::<Option<Vec<_>>>()
                .ok_or("reference-typed parameters")?;
            let results = ft
                .results()
                .iter()
                .map(|v| Ty::from_wasm(*v))
                .collect::<Option<Vec<_>>>()
                .ok_or("reference-typed results")?;
            if params.len() != a.args.len()
                || params.iter().zip(&a.args).any(|(t, v)| *t != val_ty(*v))
            {
                return Err("arguments do not match the parameters".into());
            }
            (
                Sel::Func {
                    index,
                    params: params.clone(),
                },
                params,
                results,
            )
        }
        _ => {
            let (ty, _) = globals[index as usize];
            (Sel::Global(index), Vec::new(), vec![ty])
        }
    };
    let s = match sels.iter().position(|s| *s == sel) {
        Some(s) => s,
        None => {
            sels.push(sel);
            sels.len() - 1
        }
    };
    Ok((s, params, results))
}
