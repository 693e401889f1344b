//! Recognising clang's shadow stack and sizing it.
//!
//! clang keeps locals whose address is taken (arrays, structs passed by
//! pointer, spills at `-O0`) on a stack in linear memory: a mutable `i32`
//! global (`__stack_pointer`) initialised to the stack's top, which every
//! function with a frame lowers by a constant in its prologue and restores
//! in its epilogue. On the GPU each invocation gets its own private copy of
//! the stack's range, the *window* `[lo, top)` (see `codegen/stack.rs`).
//!
//! The analysis evaluates each reachable function once, flow-insensitively,
//! over a small abstract domain: values are `sp + k` (the stack pointer as
//! the function found it, plus a constant), constants, or unknown. Locals
//! get the join of every value assigned to them (iterated to a fixed
//! point). The function's frame is the largest `-k` of any `sp + k`
//! computed (leaf functions at `-O0` use the bytes below the stack pointer
//! without lowering it). Values the analysis cannot follow (the stack
//! pointer restored from memset's result, which clang knows to be its
//! first argument; a variable-size alloca) add nothing to the bound. The deepest use is
//! the frame plus the deepest callee (direct and indirect calls), which is
//! an upper bound for recursion-free code. The shader also checks at run
//! time that the stack pointer never goes below the window (see
//! `codegen/stack.rs`), so a wrong bound can cost a fallback, never a wrong
//! result.

use super::analyze::{Func, Global, Ty};
use super::{DataSegment, Unsupported};
use std::collections::HashMap;
use wasmparser::Operator;

/// A recognised shadow stack and the window each invocation keeps private.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShadowStack {
    /// Index of the stack pointer global.
    pub global: u32,
    /// Its initial value: the top of the stack.
    pub top: u32,
    /// The deepest use over the call graph, in bytes (an upper bound).
    pub depth: u64,
    /// Start of the private window `[lo, top)` (a multiple of 16).
    pub lo: u32,
}

impl ShadowStack {
    /// Size of the private window in bytes (a multiple of 16, may be 0).
    pub fn size(&self) -> u32 {
        self.top - self.lo
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sym {
    /// The stack pointer at function entry plus a constant.
    Sp(i64),
    Const(i64),
    Unknown,
}

fn join(a: Option<Sym>, b: Sym) -> Sym {
    match a {
        None => b,
        Some(a) if a == b => a,
        Some(_) => Sym::Unknown,
    }
}

/// How reachable code uses a global.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GlobalUse {
    Unused,
    /// Read (`global.get`) but never set.
    Read,
    /// Set by a reachable function.
    Set,
}

/// What one function does with the stack pointer.
struct Frame {
    /// The largest amount it lowers the stack pointer by.
    size: u64,
    /// Whether it stores through an address below the stack pointer it
    /// found (a frame's initialisation; evidence for a stack pointer that
    /// is never set).
    stores_below: bool,
}

/// A plain memory store (no atomics, no SIMD lane stores).
fn is_store(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::I32Store { .. }
            | Operator::I64Store { .. }
            | Operator::F32Store { .. }
            | Operator::F64Store { .. }
            | Operator::I32Store8 { .. }
            | Operator::I32Store16 { .. }
            | Operator::I64Store8 { .. }
            | Operator::I64Store16 { .. }
            | Operator::I64Store32 { .. }
            | Operator::V128Store { .. }
    )
}

/// The frame of one function, or why the pattern does not hold.
fn frame_of(f: &Func<'_>, sp: u32) -> Result<Frame, String> {
    let mut ops = Vec::new();
    let mut reader = f.body.get_operators_reader().map_err(|e| e.to_string())?;
    while !reader.eof() {
        ops.push(reader.read().map_err(|e| e.to_string())?);
    }
    let nparams = f.params.len() as u32;
    let mut locals: HashMap<u32, Sym> = HashMap::new();
    for _pass in 0..8 {
        let mut assigned: HashMap<u32, Sym> = HashMap::new();
        let read = |i: u32| -> Sym {
            if i < nparams {
                return Sym::Unknown;
            }
            locals.get(&i).copied().unwrap_or(Sym::Unknown)
        };
        let mut stack: Vec<Sym> = Vec::new();
        let mut frame: u64 = 0;
        let mut stores_below = false;
        let mut sets = 0u32;
        for op in &ops {
            let pop = |s: &mut Vec<Sym>| s.pop().unwrap_or(Sym::Unknown);
            match *op {
                Operator::GlobalGet { global_index } => {
                    stack.push(if global_index == sp && sets == 0 {
                        Sym::Sp(0)
                    } else {
                        Sym::Unknown
                    })
                }
                Operator::I32Const { value } => stack.push(Sym::Const(value as i64)),
                // Other constants: a value to store, say.
                Operator::I64Const { .. }
                | Operator::F32Const { .. }
                | Operator::F64Const { .. }
                | Operator::V128Const { .. } => stack.push(Sym::Unknown),
                ref op if is_store(op) => {
                    pop(&mut stack);
                    if let Sym::Sp(k) = pop(&mut stack) {
                        stores_below |= k < 0;
                    }
                    // The tracked stack is a suffix of the real one: what
                    // was below is still there.
                }
                Operator::LocalGet { local_index } => stack.push(read(local_index)),
                Operator::LocalSet { local_index } | Operator::LocalTee { local_index } => {
                    let v = pop(&mut stack);
                    let j = join(assigned.get(&local_index).copied(), v);
                    assigned.insert(local_index, j);
                    if matches!(op, Operator::LocalTee { .. }) {
                        stack.push(v);
                    }
                }
                Operator::I32Add | Operator::I32Sub => {
                    let b = pop(&mut stack);
                    let a = pop(&mut stack);
                    let add = matches!(op, Operator::I32Add);
                    let c = |k: i64| if add { k } else { -k };
                    let r = match (a, b) {
                        (Sym::Sp(x), Sym::Const(y)) => Sym::Sp(x + c(y)),
                        (Sym::Const(x), Sym::Sp(y)) if add => Sym::Sp(x + y),
                        (Sym::Const(x), Sym::Const(y)) => Sym::Const((x + c(y)) as i32 as i64),
                        _ => Sym::Unknown,
                    };
                    // Leaf functions at -O0 use the bytes below the stack
                    // pointer without lowering it: any address below it
                    // counts.
                    if let Sym::Sp(k) = r {
                        frame = frame.max(k.min(0).unsigned_abs());
                    }
                    stack.push(r);
                }
                Operator::GlobalSet { global_index } => {
                    let v = pop(&mut stack);
                    if global_index == sp {
                        sets += 1;
                        // Other values (a restore from a call's result,
                        // such as memset's, a variable-size alloca) add
                        // nothing here; the shader checks every value set
                        // against the window at run time.
                        if let Sym::Sp(k) = v {
                            frame = frame.max(k.min(0).unsigned_abs());
                        }
                    }
                }
                // Anything else: what it leaves on the stack is unknown and
                // what it consumed is no longer tracked (the tracked stack
                // is a suffix of the real one).
                _ => stack.clear(),
            }
        }
        if assigned == locals {
            return Ok(Frame {
                size: frame,
                stores_below,
            });
        }
        locals = assigned;
    }
    Err("the stack pointer's values did not settle".into())
}

/// Finds the shadow stack pointer, if any, and sizes the window: at most
/// `max_window` bytes (`StackStorage::max_window`); deeper stacks get the
/// top `max_window` bytes, and a stack pointer below them stops the
/// invocation with `trap::STACK_LIMIT` (the call runs on the CPU instead).
/// `order` lists the reachable functions, callees first; `callees[f]` the
/// direct and indirect callees of `f`; `uses[g]` how reachable functions
/// use global `g`. A stack pointer need not be set: at -O1 and above a
/// kernel whose frames are all in leaf functions only computes
/// `__stack_pointer - k` and indexes below it. Such a global counts only
/// when a function also stores below it (a frame; merely reading below a
/// global is no evidence of a stack, and would read the private window's
/// unspecified contents instead of the shared memory).
#[allow(clippy::too_many_arguments)]
pub(crate) fn analyze(
    funcs: &[Func<'_>],
    globals: &[Global],
    uses: &[GlobalUse],
    order: &[u32],
    callees: &[Vec<u32>],
    region_size: u64,
    data: &[DataSegment],
    max_window: u32,
) -> Result<Option<ShadowStack>, Unsupported> {
    let candidates: Vec<u32> = globals
        .iter()
        .enumerate()
        .filter(|&(g, gl)| {
            uses[g] != GlobalUse::Unused
                && gl.ty == Ty::I32
                && gl.mutable
                && gl.init_bits >= 16
                && gl.init_bits % 16 == 0
                && gl.init_bits <= region_size
        })
        .map(|(g, _)| g as u32)
        .collect();
    let mut found = None;
    'globals: for &g in &candidates {
        let never_set = uses[g as usize] == GlobalUse::Read;
        let mut depth = vec![0u64; funcs.len()];
        let mut failure = None;
        let mut stores_below = false;
        for &f in order {
            match frame_of(&funcs[f as usize], g) {
                Ok(frame) => {
                    let deepest = callees[f as usize]
                        .iter()
                        .map(|&c| depth[c as usize])
                        .max()
                        .unwrap_or(0);
                    depth[f as usize] = frame.size + deepest;
                    stores_below |= frame.stores_below;
                }
                // A global never set that the analysis cannot follow is
                // simply not taken for a stack pointer.
                Err(_) if never_set => {
                    failure = Some(String::new());
                    break;
                }
                Err(why) => {
                    failure = Some(format!("function {f} {why}"));
                    break;
                }
            }
        }
        if let Some(why) = failure {
            if never_set {
                continue;
            }
            return Err(Unsupported::new(format!(
                "global {g} looks like a shadow stack pointer, but {why}"
            )));
        }
        let root = order.last().copied().unwrap_or(0);
        if depth[root as usize] == 0 || (never_set && !stores_below) {
            // Never lowered by a constant: not a stack pointer (a counter,
            // say); stores through it into [0, R) still stop the
            // invocation (`trap::PRIVATE_WRITE`).
            continue;
        }
        if found.is_some() {
            return Err(Unsupported::new(
                "more than one global looks like a shadow stack pointer",
            ));
        }
        let top = globals[g as usize].init_bits as u32;
        let d = depth[root as usize];
        let mut lo = top.saturating_sub(d.min(max_window as u64) as u32) & !15;
        // Static data below the top (a layout without --stack-first) stays
        // in the shared region: the window ends where it does.
        for seg in data {
            let end = seg.offset as u64 + seg.bytes.len() as u64;
            if (seg.offset as u64) < top as u64 && !seg.bytes.is_empty() {
                if end > top as u64 && never_set {
                    // Not a stack after all: data lies across its top.
                    continue 'globals;
                }
                if end > top as u64 {
                    return Err(Unsupported::new(
                        "a data segment overlaps the top of the shadow stack",
                    ));
                }
                lo = lo.max((end as u32).next_multiple_of(16).min(top));
            }
        }
        found = Some(ShadowStack {
            global: g,
            top,
            depth: d,
            lo,
        });
    }
    Ok(found)
}
