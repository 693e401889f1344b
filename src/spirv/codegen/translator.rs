//! `FnTranslator`: the state of translating one wasm function, its set-up,
//! the value stack, traps, calls and the alignment tracking of addresses.
//! The operators are in `visit.rs`, control flow in `control.rs`, numeric
//! operations in `numeric.rs`, memory access in `memory.rs`.

use super::builder::FunctionBuilder;
use super::control::{prescan, Frame, Kind};
use super::{run_time_zero, Shared, H, NONE};
use crate::spirv::analyze::{KernelModule, Ty};
use crate::spirv::{wasm_err, Unsupported};
use naga::{Block, FunctionArgument, FunctionResult, ScalarKind};
use std::collections::{HashMap, HashSet};
use wasmparser::{BlockType, Operator};

pub(super) struct FnTranslator<'s, 'a> {
    pub(super) sh: &'s Shared,
    pub(super) km: &'s KernelModule<'a>,
    pub(super) func: u32,
    pub(super) fb: FunctionBuilder,
    pub(super) stack: Vec<(H, Ty)>,
    pub(super) ctrl: Vec<Frame>,
    pub(super) locals: Vec<(H, Ty)>,
    pub(super) pending: H,
    /// The function's results.
    pub(super) results: Vec<Ty>,
    pub(super) unreachable: bool,
    pub(super) skip: u32,
    pub(super) construct: usize,
    pub(super) targeted: Vec<bool>,
    pub(super) uses_i64: bool,
    pub(super) uses_f64: bool,
    pub(super) loop_depth: u32,
    pub(super) max_loop_depth: u32,
    /// The function's operators and the index of the next one.
    pub(super) ops: Vec<Operator<'a>>,
    pub(super) pc: usize,
    /// Per construct: a loop small and innermost enough to unroll.
    pub(super) unrollable: Vec<bool>,
    /// `i32` expressions known to be multiples of 4 (addresses whose loads
    /// and stores need no unaligned path), and known `i32` constants.
    pub(super) aligned: HashSet<H>,
    pub(super) consts: HashMap<H, u32>,
    /// Per local: assumed to hold only multiples of 4 (see `build`).
    pub(super) local_aligned: Vec<bool>,
    /// Locals assumed aligned that were given other values.
    pub(super) violations: Vec<u32>,
}

pub(super) fn unsupported_op(op: &Operator<'_>) -> Unsupported {
    let name = format!("{op:?}");
    let name = name
        .split([' ', '{', '('])
        .next()
        .unwrap_or("?")
        .to_string();
    Unsupported::new(format!("the instruction {name} is not supported"))
}

impl<'s, 'a> FnTranslator<'s, 'a> {
    pub(super) fn new(
        sh: &'s Shared,
        km: &'s KernelModule<'a>,
        func: u32,
        unaligned: &HashSet<u32>,
    ) -> Result<Self, Unsupported> {
        let wf = &km.funcs[func as usize];
        let mut fb = FunctionBuilder::new(&format!("f{func}"), sh.t);
        for (i, &p) in wf.params.iter().enumerate() {
            let ty = fb.ty_of(p);
            fb.f.arguments.push(FunctionArgument {
                name: Some(format!("p{i}")),
                ty,
                binding: None,
            });
        }
        if let Some(ty) = super::multi_value::results_type(sh, &wf.results)? {
            fb.f.result = Some(FunctionResult { ty, binding: None });
        }
        let mut locals = Vec::new();
        for (i, &p) in wf.params.iter().enumerate() {
            let ty = fb.ty_of(p);
            let ptr = fb.local(format!("l{i}"), ty, None);
            let a = fb.arg(i as u32);
            fb.store(ptr, a);
            locals.push((ptr, p));
        }
        let mut reader = wf.body.get_locals_reader().map_err(wasm_err)?;
        for _ in 0..reader.get_count() {
            let (count, vt) = reader.read().map_err(wasm_err)?;
            let ty = Ty::from_val(vt)?;
            if count > 50_000 {
                return Err(Unsupported::new("too many locals"));
            }
            for _ in 0..count {
                let nty = fb.ty_of(ty);
                let z = fb.zero(ty);
                let ptr = fb.local(format!("l{}", locals.len()), nty, Some(z));
                if matches!(ty, Ty::F32 | Ty::F64) {
                    // An opaque 0.0 (see `Globals::zero`).
                    let bits = run_time_zero(&mut fb, sh.g, ty.is_64());
                    let v = fb.bitcast(bits, ScalarKind::Float);
                    fb.store(ptr, v);
                }
                locals.push((ptr, ty));
            }
        }
        let none = fb.u32(NONE);
        let u32t = sh.t.u32;
        let pending = fb.local("pending".into(), u32t, Some(none));
        let mut reader = wf.body.get_operators_reader().map_err(wasm_err)?;
        let mut ops = Vec::new();
        while !reader.eof() {
            ops.push(reader.read().map_err(wasm_err)?);
        }
        let sizes = &sh.fn_ops;
        let (targeted, unrollable) = prescan(&ops, &|f| {
            sizes.get(f as usize).copied().unwrap_or(usize::MAX)
        })?;
        // Declared locals start at 0; of the parameters only the kernel's
        // buffer pointers are known aligned (ABI: at least 16 bytes).
        let nparams = wf.params.len();
        let local_aligned = (0..locals.len())
            .map(|i| {
                let known = if i < nparams {
                    func == km.kernel && i >= 3 && (i - 3) % 2 == 0
                } else {
                    locals[i].1 == Ty::I32
                };
                known && !unaligned.contains(&(i as u32))
            })
            .collect();
        Ok(FnTranslator {
            sh,
            km,
            func,
            fb,
            stack: Vec::new(),
            ctrl: Vec::new(),
            locals,
            pending,
            results: wf.results.clone(),
            unreachable: false,
            skip: 0,
            construct: 0,
            targeted,
            uses_i64: false,
            uses_f64: false,
            loop_depth: 0,
            max_loop_depth: 0,
            ops,
            pc: 0,
            unrollable,
            aligned: HashSet::new(),
            consts: HashMap::new(),
            local_aligned,
            violations: Vec::new(),
        })
    }

    /// A local assumed aligned that gets a value not known aligned is a
    /// violation: `build` translates the function again without the
    /// assumption.
    pub(super) fn note_local_value(&mut self, local: u32, v: H) {
        let i = local as usize;
        if self.local_aligned.get(i).copied().unwrap_or(false) && !self.aligned.contains(&v) {
            self.local_aligned[i] = false;
            self.violations.push(local);
        }
    }

    pub(super) fn is_aligned(&self, h: H) -> bool {
        self.aligned.contains(&h)
    }

    /// Records what is known about the `i32` result of `op` (on top of the
    /// stack now), given the handles of its operands `a`, `b` (the top two
    /// before it ran).
    pub(super) fn track_alignment(&mut self, op: &Operator<'_>, a: Option<H>, b: Option<H>) {
        let Some(&(r, t)) = self.stack.last() else {
            return;
        };
        if t != Ty::I32 {
            return;
        }
        let al = |h: Option<H>| h.is_some_and(|h| self.aligned.contains(&h));
        let yes = match *op {
            Operator::I32Const { value } => {
                self.consts.insert(r, value as u32);
                value % 4 == 0
            }
            Operator::LocalGet { local_index } | Operator::LocalTee { local_index } => {
                self.local_aligned
                    .get(local_index as usize)
                    .copied()
                    .unwrap_or(false)
                    || (matches!(op, Operator::LocalTee { .. }) && self.aligned.contains(&r))
            }
            Operator::I32Add | Operator::I32Sub | Operator::I32Or => al(a) && al(b),
            Operator::I32Mul | Operator::I32And => al(a) || al(b),
            Operator::I32Shl => {
                al(a)
                    || b.and_then(|b| self.consts.get(&b))
                        .is_some_and(|k| k & 31 >= 2)
            }
            _ => false,
        };
        if yes {
            self.aligned.insert(r);
        }
    }

    pub(super) fn push(&mut self, h: H, t: Ty) {
        self.uses_i64 |= t == Ty::I64;
        self.uses_f64 |= t == Ty::F64;
        self.stack.push((h, t));
    }
    pub(super) fn pop(&mut self) -> Result<H, Unsupported> {
        self.stack
            .pop()
            .map(|(h, _)| h)
            .ok_or_else(|| Unsupported::new("internal: value stack underflow"))
    }

    /// A block type's parameters and results.
    pub(super) fn block_type(&self, bt: BlockType) -> Result<(Vec<Ty>, Vec<Ty>), Unsupported> {
        match bt {
            BlockType::Empty => Ok((vec![], vec![])),
            BlockType::Type(v) => Ok((vec![], vec![Ty::from_val(v)?])),
            BlockType::FuncType(i) => {
                let ft = self
                    .km
                    .types
                    .get(i as usize)
                    .ok_or_else(|| Unsupported::new("internal: block type index"))?;
                let tys = |vs: &[wasmparser::ValType]| {
                    vs.iter()
                        .map(|&v| Ty::from_val(v))
                        .collect::<Result<Vec<_>, _>>()
                };
                Ok((tys(ft.params())?, tys(ft.results())?))
            }
        }
    }

    /// Index of the innermost materialized construct.
    pub(super) fn innermost_materialized(&self) -> Option<usize> {
        self.ctrl.iter().rposition(|f| f.materialized)
    }

    /// Zeros for the function's results, as it returns them.
    pub(super) fn zero_result(&mut self) -> Result<Option<H>, Unsupported> {
        let results = self.results.clone();
        let zeros: Vec<H> = results.iter().map(|&t| self.fb.zero(t)).collect();
        self.return_value(&zeros)
    }

    /// Returns from the function with a dummy value (after a trap).
    pub(super) fn bail(&mut self) -> Result<(), Unsupported> {
        let z = self.zero_result()?;
        self.fb.ret(z);
        Ok(())
    }

    /// `if cond { trap(code) }`; the caller makes its operation harmless
    /// for `cond` (see `build_trap`: no `return`).
    pub(super) fn trap_if(&mut self, cond: H, code: u32) {
        self.fb.open();
        let c = self.fb.u32(code);
        self.fb.call(self.sh.h.trap, vec![c], false);
        let accept = self.fb.close();
        self.fb.if_(cond, accept, Block::new());
    }

    pub(super) fn trap_now(&mut self, code: u32) -> Result<(), Unsupported> {
        let c = self.fb.u32(code);
        self.fb.call(self.sh.h.trap, vec![c], false);
        self.bail()?;
        self.unreachable = true;
        Ok(())
    }

    pub(super) fn run(&mut self) -> Result<(), Unsupported> {
        let wf = &self.km.funcs[self.func as usize];
        self.ctrl.push(Frame {
            kind: Kind::Func,
            materialized: false,
            results: wf.results.clone(),
            result_vars: vec![],
            params: vec![],
            param_vars: vec![],
            height: 0,
            cond: None,
            then_block: None,
            else_seen: false,
            then_end_reachable: false,
            needs_check: false,
            branched_to: false,
            fell: None,
            copy: None,
        });
        self.pc = 0;
        while self.pc < self.ops.len() {
            let op = self.ops[self.pc].clone();
            self.pc += 1;
            if self.unreachable {
                match op {
                    Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                        self.skip += 1;
                        self.construct += 1;
                    }
                    Operator::Else if self.skip == 0 => self.op_else()?,
                    Operator::End if self.skip == 0 => self.op_end()?,
                    Operator::End => self.skip -= 1,
                    _ => {}
                }
                continue;
            }
            self.op(op)?;
        }
        if !self.ctrl.is_empty() {
            return Err(Unsupported::new("internal: unbalanced control stack"));
        }
        Ok(())
    }

    pub(super) fn local(&self, i: u32) -> Result<(H, Ty), Unsupported> {
        self.locals
            .get(i as usize)
            .copied()
            .ok_or_else(|| Unsupported::new("internal: local index out of range"))
    }

    pub(super) fn call(&mut self, callee: u32) -> Result<(), Unsupported> {
        let target = self
            .sh
            .fn_map
            .get(callee as usize)
            .copied()
            .flatten()
            .ok_or_else(|| Unsupported::new("internal: callee not translated before its caller"))?;
        let nested = self.loop_depth + self.sh.fn_loop_depth[callee as usize];
        self.max_loop_depth = self.max_loop_depth.max(nested);
        let cf = &self.km.funcs[callee as usize];
        let n = cf.params.len();
        let results = cf.results.clone();
        if self.stack.len() < n {
            return Err(Unsupported::new("internal: stack underflow at call"));
        }
        let args: Vec<H> = self
            .stack
            .drain(self.stack.len() - n..)
            .map(|(h, _)| h)
            .collect();
        // A trap inside the callee: this function runs on to its end like
        // after any trap (see `build_trap`).
        let r = self.fb.call(target, args, !results.is_empty());
        self.push_results(r, &results);
        Ok(())
    }
}
