//! Control flow: blocks, loops (with unrolling and the driver-cut check),
//! `if`, branches through the `pending` variable (see the module
//! documentation in `mod.rs`), and the prescan of a function's constructs.

use super::translator::FnTranslator;
use super::{H, NONE, UNROLL_MAX_OPS};
use crate::spirv::analyze::Ty;
use crate::spirv::{trap, wasm_err, Unsupported};
use naga::{BinaryOperator as Bo, Block, Statement, SwitchCase, SwitchValue};
use wasmparser::{BlockType, Operator};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Func,
    Block,
    Loop,
    If,
}

pub(super) struct Frame {
    pub(super) kind: Kind,
    pub(super) materialized: bool,
    pub(super) results: Vec<Ty>,
    pub(super) result_vars: Vec<H>,
    /// The block's parameters as they were on entry (an `else` starts with
    /// them again).
    pub(super) params: Vec<(H, Ty)>,
    /// Materialized loops with parameters: the variables a branch to the
    /// loop stores its values into, loaded at the top of every iteration.
    pub(super) param_vars: Vec<H>,
    pub(super) height: usize,
    pub(super) cond: Option<H>,
    pub(super) then_block: Option<Block>,
    pub(super) else_seen: bool,
    pub(super) then_end_reachable: bool,
    pub(super) needs_check: bool,
    pub(super) branched_to: bool,
    /// Loops only: set when the body falls through (see `open_frame`).
    pub(super) fell: Option<H>,
    /// Unrolled loops, while translating a copy of the body other than the
    /// last (see `open_frame`).
    pub(super) copy: Option<UnrollState>,
}

/// State of an unrolled loop between its copies.
pub(super) struct UnrollState {
    /// Copies still to translate after this one.
    pub(super) remaining: u32,
    /// First operator of the body, and the construct counter there.
    pub(super) start_pc: usize,
    pub(super) start_construct: usize,
    /// Local `bool`: the body fell through its end (the wasm loop is over).
    pub(super) exit: H,
}

impl<'s, 'a> FnTranslator<'s, 'a> {
    pub(super) fn open_frame(&mut self, kind: Kind, bt: BlockType) -> Result<(), Unsupported> {
        let (param_tys, results) = self.block_type(bt)?;
        let construct = self.construct;
        let materialized = self.targeted.get(construct).copied().unwrap_or(true);
        self.construct += 1;
        let mut cond = None;
        if kind == Kind::If {
            let c = self.pop()?;
            let z = self.fb.u32(0);
            cond = Some(self.fb.bin(Bo::NotEqual, c, z));
        }
        // Parameters (multi-value): the top values of the stack, which stay
        // there for the body (blocks, ifs, loops no branch targets); a
        // materialized loop takes them through variables, so a branch back
        // to it can pass new ones.
        let np = param_tys.len();
        if self.stack.len() < np {
            return Err(Unsupported::new(
                "internal: stack underflow at block parameters",
            ));
        }
        let params: Vec<(H, Ty)> = self.stack[self.stack.len() - np..].to_vec();
        let mut param_vars = Vec::new();
        if kind == Kind::Loop && materialized && np > 0 {
            for (i, &(v, t)) in params.iter().enumerate() {
                let ty = self.fb.ty_of(t);
                let z = self.fb.zero(t);
                let var = self
                    .fb
                    .local(format!("p{}_{i}", self.construct), ty, Some(z));
                self.fb.store(var, v);
                param_vars.push(var);
            }
            self.stack.truncate(self.stack.len() - np);
        }
        let mut result_vars = Vec::new();
        if materialized || kind == Kind::If {
            for (i, &r) in results.iter().enumerate() {
                let ty = self.fb.ty_of(r);
                let z = self.fb.zero(r);
                result_vars.push(
                    self.fb
                        .local(format!("r{}_{i}", self.construct), ty, Some(z)),
                );
            }
        }
        let mut fell = None;
        if kind == Kind::Loop && materialized {
            // `fell` tells a normal exit (falling through the end of the
            // body) from a driver cutting the loop short: llvmpipe
            // (lavapipe) leaves every loop of an invocation once 65535 loop
            // iterations ran in total, silently. Branches out of the loop
            // set `pending` instead. Driver workaround W5
            // (docs/wasi-parallel.md 2.4).
            let var = self.flag_slot();
            let z = self.fb.u32(0);
            self.fb.store(var, z);
            fell = Some(var);
        }
        // Unrolling: a small innermost loop runs `unroll` copies of its body
        // per iteration of the naga loop, so llvmpipe's limiter (one count
        // per back-edge) allows that many times more wasm iterations and
        // every driver pays its per-iteration overhead less often. Copies
        // but the last sit in a one-case switch: `br` to the loop leaves
        // the switch into the next copy, falling through the body's end
        // sets `exit`, checked after the switch (see `end_copy`).
        let mut copy = None;
        let unroll = kind == Kind::Loop
            && materialized
            && self.sh.unroll > 1
            && param_vars.is_empty()
            && self.unrollable.get(construct).copied().unwrap_or(false);
        if unroll {
            let bool_t = self.sh.t.bool;
            let f = self.fb.bool(false);
            let exit = self.fb.local(format!("exit{construct}"), bool_t, Some(f));
            // Reset on every entry into the loop.
            let f = self.fb.bool(false);
            self.fb.store(exit, f);
            copy = Some(UnrollState {
                remaining: self.sh.unroll - 1,
                start_pc: self.pc,
                start_construct: self.construct,
                exit,
            });
        }
        if materialized {
            self.fb.open();
        }
        if kind == Kind::If {
            self.fb.open();
        }
        if kind == Kind::Loop && materialized {
            self.loop_depth += 1;
            self.max_loop_depth = self.max_loop_depth.max(self.loop_depth);
            self.loop_entry_check();
            if unroll {
                self.fb.open();
            }
        }
        let height = self.stack.len() - if param_vars.is_empty() { np } else { 0 };
        for (&var, &(_, t)) in param_vars.iter().zip(&params) {
            let v = self.fb.load(var);
            self.push(v, t);
        }
        self.ctrl.push(Frame {
            kind,
            materialized,
            results,
            result_vars,
            params,
            param_vars,
            height,
            cond,
            then_block: None,
            else_seen: false,
            then_end_reachable: false,
            needs_check: false,
            branched_to: false,
            fell,
            copy,
        });
        Ok(())
    }

    /// At the top of every iteration of a wasm loop body (every copy when
    /// unrolled): the exit on fuel running out, or the opaque never-taken one.
    pub(super) fn loop_entry_check(&mut self) {
        // Every loop gets an exit the compiler cannot rule out (so the
        // loop has an exit edge even when the wasm loop has none, as in
        // `(loop $l (br $l))`: without one the code after the loop is
        // unreachable, the driver drops it, and a loop cut by llvmpipe's
        // limiter would end the kernel silently). With fuel it is
        // `fuel == 0`, one unit per iteration of the body; without, the
        // opaque `sentinel == 0`. A trap sets both to 0, so either way a
        // trapped invocation leaves every loop it is in. The exit only
        // breaks: the check after the loop tells fuel exhaustion (FUEL)
        // from a driver cut. A trap call inside the loop body made
        // llvmpipe's code 3x slower. Driver workaround W7
        // (docs/wasi-parallel.md 2.4).
        let z = self.fb.u32(0);
        if self.sh.fuel {
            let fuel = self.fb.load_global(self.sh.g.fuel);
            let out = self.fb.bin(Bo::Equal, fuel, z);
            self.fb.open();
            self.fb.stmt(Statement::Break);
            let accept = self.fb.close();
            self.fb.if_(out, accept, Block::new());
            let one = self.fb.u32(1);
            let less = self.fb.bin(Bo::Subtract, fuel, one);
            self.fb.store_global(self.sh.g.fuel, less);
        } else {
            let sentinel = self.fb.load_global(self.sh.g.sentinel);
            let trapped = self.fb.bin(Bo::Equal, sentinel, z);
            self.fb.open();
            self.fb.stmt(Statement::Break);
            let accept = self.fb.close();
            self.fb.if_(trapped, accept, Block::new());
        }
    }

    /// Pops the frame's results off the stack into its result variables.
    pub(super) fn store_results(&mut self, idx: usize) -> Result<(), Unsupported> {
        let n = self.ctrl[idx].result_vars.len();
        for i in (0..n).rev() {
            let v = self.pop()?;
            let p = self.ctrl[idx].result_vars[i];
            self.fb.store(p, v);
        }
        Ok(())
    }

    /// Stores the top values (without popping) into the variables a branch
    /// to frame `t` passes values through: its results, or a loop's
    /// parameters.
    pub(super) fn store_branch_values(&mut self, t: usize) -> Result<(), Unsupported> {
        let vars = if self.ctrl[t].kind == Kind::Loop {
            self.ctrl[t].param_vars.clone()
        } else {
            self.ctrl[t].result_vars.clone()
        };
        let n = vars.len();
        if self.stack.len() < n {
            return Err(Unsupported::new(
                "internal: value stack underflow at branch",
            ));
        }
        let base = self.stack.len() - n;
        for (i, &var) in vars.iter().enumerate() {
            let v = self.stack[base + i].0;
            self.fb.store(var, v);
        }
        Ok(())
    }

    pub(super) fn op_else(&mut self) -> Result<(), Unsupported> {
        let idx = self.ctrl.len() - 1;
        if !self.unreachable {
            self.store_results(idx)?;
        }
        let height = self.ctrl[idx].height;
        self.stack.truncate(height);
        let params = self.ctrl[idx].params.clone();
        self.stack.extend(params);
        let then_block = self.fb.close();
        let f = &mut self.ctrl[idx];
        f.then_block = Some(then_block);
        f.else_seen = true;
        f.then_end_reachable = !self.unreachable;
        self.fb.open();
        self.unreachable = false;
        Ok(())
    }

    pub(super) fn op_end(&mut self) -> Result<(), Unsupported> {
        let idx = self.ctrl.len() - 1;
        let reachable = !self.unreachable;
        let kind = self.ctrl[idx].kind;
        if kind == Kind::Func {
            if reachable {
                let vals = self.top(self.results.len())?;
                let v = self.return_value(&vals)?;
                self.fb.ret(v);
            }
            self.ctrl.pop();
            self.unreachable = true;
            return Ok(());
        }
        if self.ctrl[idx].copy.is_some() {
            return self.end_copy(idx);
        }
        let materialized = self.ctrl[idx].materialized;
        if !materialized && kind != Kind::If {
            // Inline block/loop: results stay on the stack.
            self.ctrl.pop();
            self.unreachable = !reachable;
            return Ok(());
        }
        let reachable_after = if kind == Kind::If {
            if reachable {
                self.store_results(idx)?;
            }
            let cur = self.fb.close();
            let f = &mut self.ctrl[idx];
            let (accept, reject, then_r, else_r) = if f.else_seen {
                (
                    f.then_block.take().unwrap_or_default(),
                    cur,
                    f.then_end_reachable,
                    reachable,
                )
            } else {
                // No `else`: it passes the parameters on as the results
                // (validation makes them the same types).
                let (params, vars) = (f.params.clone(), f.result_vars.clone());
                self.fb.open();
                for (&(v, _), &var) in params.iter().zip(&vars) {
                    self.fb.store(var, v);
                }
                let reject = self.fb.close();
                (cur, reject, reachable, true)
            };
            let f = &mut self.ctrl[idx];
            let cond = f
                .cond
                .ok_or_else(|| Unsupported::new("internal: if without condition"))?;
            self.fb.if_(cond, accept, reject);
            if materialized {
                self.fb.stmt(Statement::Break);
            }
            then_r || else_r || self.ctrl[idx].branched_to
        } else {
            if reachable {
                self.store_results(idx)?;
                if self.ctrl[idx].fell.is_some() {
                    let slot = self.flag_slot();
                    let one = self.fb.u32(1);
                    self.fb.store(slot, one);
                }
                self.fb.stmt(Statement::Break);
            }
            reachable || (kind == Kind::Block && self.ctrl[idx].branched_to)
        };
        if materialized {
            let body = self.fb.close();
            if kind == Kind::Loop {
                self.fb.stmt(Statement::Loop {
                    body,
                    continuing: Block::new(),
                    break_if: None,
                });
            } else {
                // A block (or an `if`) that branches target. Not a loop:
                // llvmpipe's limiter counts every pass through a loop,
                // and SIMD loops cost mask bookkeeping on every driver.
                self.fb.breakable(body);
            }
        }
        if self.ctrl[idx].fell.is_some() {
            self.loop_depth -= 1;
        }
        if self.ctrl[idx].fell.is_some() {
            // Left the loop without falling through and without a pending
            // branch: the driver cut it short. The flag goes back to 0 at
            // once, so a 1 is only ever seen by the check of the loop that
            // wrote it (an enclosing loop cut right after an inner loop
            // ended normally must not see the inner loop's 1).
            let slot = self.flag_slot();
            let f = self.fb.load(slot);
            let z = self.fb.u32(0);
            self.fb.store(slot, z);
            let nf = self.fb.bin(Bo::Equal, f, z);
            let p = self.fb.load(self.pending);
            let none = self.fb.u32(NONE);
            let np = self.fb.bin(Bo::Equal, p, none);
            // An invocation that already trapped (fuel, a bad access) left
            // the loop by its own break: that is not a cut, and the larger
            // DRIVER_LOOP_LIMIT code must not replace its trap code.
            let tr = self.fb.load_global(self.sh.g.trapped);
            let no = self.fb.bool(false);
            let live = self.fb.bin(Bo::Equal, tr, no);
            let unexplained = self.fb.bin(Bo::LogicalAnd, nf, np);
            let cut = self.fb.bin(Bo::LogicalAnd, unexplained, live);
            if self.sh.fuel {
                // Out of fuel: the fuel exit above. A driver cut happens at a
                // back-edge, so with no fuel left the next iteration would
                // have run out too: FUEL either way.
                let fuel = self.fb.load_global(self.sh.g.fuel);
                let z = self.fb.u32(0);
                let empty = self.fb.bin(Bo::Equal, fuel, z);
                let fuel_code = self.fb.u32(trap::FUEL);
                let cut_code = self.fb.u32(trap::DRIVER_LOOP_LIMIT);
                let code = self.fb.sel(empty, fuel_code, cut_code);
                self.fb.open();
                self.fb.call(self.sh.h.trap, vec![code], false);
                let accept = self.fb.close();
                self.fb.if_(cut, accept, Block::new());
            } else {
                self.trap_if(cut, trap::DRIVER_LOOP_LIMIT);
            }
        }
        let frame = self
            .ctrl
            .pop()
            .ok_or_else(|| Unsupported::new("internal: control underflow"))?;
        self.stack.truncate(frame.height);
        if frame.needs_check {
            self.post_check(idx, kind);
        }
        for (i, &p) in frame.result_vars.iter().enumerate() {
            let v = self.fb.load(p);
            self.push(v, frame.results[i]);
        }
        self.unreachable = !reachable_after;
        Ok(())
    }

    /// The `end` of a copy of an unrolled loop body other than the last:
    /// closes the copy's switch, handles how it was left, and starts the
    /// next copy at the body's first operator.
    pub(super) fn end_copy(&mut self, idx: usize) -> Result<(), Unsupported> {
        let exit = match &self.ctrl[idx].copy {
            Some(c) => c.exit,
            None => return Err(Unsupported::new("internal: end_copy outside a copy")),
        };
        if !self.unreachable {
            // Fell through the body: the wasm loop is over.
            self.store_results(idx)?;
            let t = self.fb.bool(true);
            self.fb.store(exit, t);
            self.fb.stmt(Statement::Break);
        }
        let body = self.fb.close();
        self.fb.breakable(body);
        // `if exit { loop ended normally; break }`
        let e = self.fb.load(exit);
        self.fb.open();
        let slot = self.flag_slot();
        let one = self.fb.u32(1);
        self.fb.store(slot, one);
        self.fb.stmt(Statement::Break);
        let accept = self.fb.close();
        self.fb.if_(e, accept, Block::new());
        // `if pending != NONE { break }`: a branch further out (one to
        // this loop was cleared inside the copy).
        let p = self.fb.load(self.pending);
        let none = self.fb.u32(NONE);
        let some = self.fb.bin(Bo::NotEqual, p, none);
        self.fb.open();
        self.fb.stmt(Statement::Break);
        let accept = self.fb.close();
        self.fb.if_(some, accept, Block::new());
        // The next copy: the next wasm iteration.
        let height = self.ctrl[idx].height;
        self.stack.truncate(height);
        self.unreachable = false;
        if self.sh.fuel {
            self.loop_entry_check();
        }
        let c = self.ctrl[idx]
            .copy
            .as_mut()
            .ok_or_else(|| Unsupported::new("internal: end_copy outside a copy"))?;
        c.remaining -= 1;
        self.pc = c.start_pc;
        self.construct = c.start_construct;
        if c.remaining > 0 {
            self.fb.open();
        } else {
            // The last copy is the plain loop body.
            self.ctrl[idx].copy = None;
        }
        Ok(())
    }

    /// Pointer to this invocation's "loop ended normally" word.
    pub(super) fn flag_slot(&mut self) -> H {
        let lane = self.fb.load_global(self.sh.g.lane);
        self.fb.index(self.sh.g.loop_flags, lane)
    }

    /// After a materialized construct `idx` (already popped) that a pending
    /// branch may have left.
    pub(super) fn post_check(&mut self, idx: usize, kind: Kind) {
        let none = self.fb.u32(NONE);
        if kind != Kind::Loop {
            let p = self.fb.load(self.pending);
            let me = self.fb.u32(idx as u32);
            let arrived = self.fb.bin(Bo::Equal, p, me);
            self.fb.open();
            self.fb.store(self.pending, none);
            let accept = self.fb.close();
            self.fb.if_(arrived, accept, Block::new());
        }
        self.propagate();
    }

    /// `if pending != NONE { continue or break toward it }` at the current
    /// position, inside the innermost materialized construct.
    pub(super) fn propagate(&mut self) {
        let Some(em) = self.innermost_materialized() else {
            return;
        };
        let none = self.fb.u32(NONE);
        let p = self.fb.load(self.pending);
        let some = self.fb.bin(Bo::NotEqual, p, none);
        self.fb.open();
        if self.ctrl[em].copy.is_some() {
            // A copy of an unrolled body: arriving at the loop means the
            // next copy; either way leave the copy's switch (`end_copy`
            // checks for branches further out).
            let me = self.fb.u32(em as u32);
            let here = self.fb.bin(Bo::Equal, p, me);
            self.fb.open();
            self.fb.store(self.pending, none);
            let accept = self.fb.close();
            self.fb.if_(here, accept, Block::new());
            self.fb.stmt(Statement::Break);
        } else if self.ctrl[em].kind == Kind::Loop {
            let me = self.fb.u32(em as u32);
            let here = self.fb.bin(Bo::Equal, p, me);
            self.fb.open();
            self.fb.store(self.pending, none);
            self.fb.stmt(Statement::Continue);
            let accept = self.fb.close();
            self.fb.open();
            self.fb.stmt(Statement::Break);
            let reject = self.fb.close();
            self.fb.if_(here, accept, reject);
        } else {
            self.fb.stmt(Statement::Break);
        }
        let accept = self.fb.close();
        self.fb.if_(some, accept, Block::new());
    }

    /// Marks the constructs a pending branch to `t` crosses.
    pub(super) fn mark_pending(&mut self, t: usize, em: usize) {
        let from = if self.ctrl[t].kind == Kind::Loop {
            t + 1
        } else {
            t
        };
        for f in &mut self.ctrl[from..=em] {
            if f.materialized {
                f.needs_check = true;
            }
        }
    }

    /// The code of `br` to frame `t` at the current position.
    pub(super) fn branch(&mut self, t: usize) -> Result<(), Unsupported> {
        if self.ctrl[t].kind == Kind::Func {
            let vals = self.top(self.results.len())?;
            let v = self.return_value(&vals)?;
            self.fb.ret(v);
            return Ok(());
        }
        self.store_branch_values(t)?;
        self.ctrl[t].branched_to = true;
        let em = self
            .innermost_materialized()
            .ok_or_else(|| Unsupported::new("internal: branch target not materialized"))?;
        if t == em {
            // In a copy of an unrolled body, `br` to the loop leaves the
            // copy's switch into the next copy.
            self.fb.stmt(
                if self.ctrl[t].kind == Kind::Loop && self.ctrl[t].copy.is_none() {
                    Statement::Continue
                } else {
                    Statement::Break
                },
            );
        } else {
            let tv = self.fb.u32(t as u32);
            self.fb.store(self.pending, tv);
            self.mark_pending(t, em);
            self.fb.stmt(Statement::Break);
        }
        Ok(())
    }

    pub(super) fn target(&self, depth: u32) -> Result<usize, Unsupported> {
        (self.ctrl.len() - 1)
            .checked_sub(depth as usize)
            .ok_or_else(|| Unsupported::new("internal: branch depth out of range"))
    }

    pub(super) fn br_table(
        &mut self,
        targets: &wasmparser::BrTable<'_>,
    ) -> Result<(), Unsupported> {
        let idx = self.pop()?;
        let default = self.target(targets.default())?;
        let mut entries = Vec::new();
        for t in targets.targets() {
            entries.push(self.target(t.map_err(wasm_err)?)?);
        }
        if entries.iter().all(|&t| t == default) {
            self.branch(default)?;
            self.unreachable = true;
            return Ok(());
        }
        // Groups of case values per target, in first-appearance order.
        let mut groups: Vec<(usize, Vec<u32>)> = Vec::new();
        for (i, &t) in entries.iter().enumerate() {
            if t == default {
                continue;
            }
            match groups.iter_mut().find(|g| g.0 == t) {
                Some(g) => g.1.push(i as u32),
                None => groups.push((t, vec![i as u32])),
            }
        }
        let em = self.innermost_materialized();
        let mut cases = Vec::new();
        let default_values: Vec<u32> = entries
            .iter()
            .enumerate()
            .filter(|(_, &t)| t == default)
            .map(|(i, _)| i as u32)
            .collect();
        groups.push((default, default_values));
        let ngroups = groups.len();
        for (gi, (t, values)) in groups.into_iter().enumerate() {
            let is_default = gi + 1 == ngroups;
            let nvals = values.len();
            for (vi, v) in values.into_iter().enumerate() {
                let last = !is_default && vi + 1 == nvals;
                if last {
                    break;
                }
                cases.push(SwitchCase {
                    value: SwitchValue::U32(v),
                    body: Block::new(),
                    fall_through: true,
                });
            }
            self.fb.open();
            if self.ctrl[t].kind == Kind::Func {
                self.branch(t)?;
            } else {
                self.store_branch_values(t)?;
                self.ctrl[t].branched_to = true;
                let tv = self.fb.u32(t as u32);
                self.fb.store(self.pending, tv);
                let em = em.ok_or_else(|| Unsupported::new("internal: br_table target"))?;
                self.mark_pending(t, em);
            }
            let body = self.fb.close();
            let value = if is_default {
                SwitchValue::Default
            } else {
                // The last value of this group carries the body.
                SwitchValue::U32(self.last_group_value(&entries, t))
            };
            cases.push(SwitchCase {
                value,
                body,
                fall_through: false,
            });
        }
        self.fb.stmt(Statement::Switch {
            selector: idx,
            cases,
        });
        self.propagate();
        self.unreachable = true;
        Ok(())
    }

    pub(super) fn last_group_value(&self, entries: &[usize], t: usize) -> u32 {
        entries.iter().rposition(|&e| e == t).unwrap_or(0) as u32
    }
}

/// Which constructs (in opening order) are the target of some branch.
/// Per construct (block, loop, if, in order): whether a branch targets it
/// (else it needs no naga construct), and whether it is a loop small and
/// innermost enough to unroll (no loop inside, at most `UNROLL_MAX_OPS`
/// operators counting each direct call as its callee's operators, as the
/// drivers inline every call (`callee_ops`), no `call_indirect` (it inlines
/// the whole table), no `v128` memory access: see `simd::is_v128_access`).
/// Unrolling a loop around a large call made lavapipe compile the copies of
/// the callee for minutes (the spec suite's `endianness`, `align` and
/// `left-to-right` kernels replay earlier actions in such a loop).
pub(super) fn prescan(
    ops: &[Operator<'_>],
    callee_ops: &dyn Fn(u32) -> usize,
) -> Result<(Vec<bool>, Vec<bool>), Unsupported> {
    let mut targeted = Vec::new();
    let mut unrollable = Vec::new();
    // Open constructs: (construct index, is a loop, first operator index).
    let mut labels: Vec<Option<(usize, bool, usize)>> = vec![None];
    let mark = |labels: &Vec<Option<(usize, bool, usize)>>, targeted: &mut Vec<bool>, d: u32| {
        if let Some(Some((i, _, _))) = labels.len().checked_sub(1 + d as usize).map(|k| labels[k]) {
            targeted[i] = true;
        }
    };
    for (pc, op) in ops.iter().enumerate() {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                let is_loop = matches!(op, Operator::Loop { .. });
                if is_loop {
                    // Loops around this one are not innermost.
                    for (i, _, _) in labels.iter().flatten().filter(|l| l.1) {
                        unrollable[*i] = false;
                    }
                }
                labels.push(Some((targeted.len(), is_loop, pc)));
                targeted.push(false);
                unrollable.push(is_loop);
            }
            Operator::End => {
                if let Some(Some((i, true, start))) = labels.pop() {
                    if inlined_ops(&ops[start..pc], callee_ops) > UNROLL_MAX_OPS
                        || ops[start..pc].iter().any(super::simd::is_v128_access)
                    {
                        unrollable[i] = false;
                    }
                }
            }
            Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                mark(&labels, &mut targeted, *relative_depth)
            }
            Operator::BrTable { targets } => {
                mark(&labels, &mut targeted, targets.default());
                for t in targets.targets() {
                    mark(&labels, &mut targeted, t.map_err(wasm_err)?);
                }
            }
            _ => {}
        }
    }
    Ok((targeted, unrollable))
}

/// Operators of `ops` once every direct call is inlined (`callee_ops`: a
/// callee's own count, calls included); a `call_indirect` counts as too many
/// to unroll.
pub(super) fn inlined_ops(ops: &[Operator<'_>], callee_ops: &dyn Fn(u32) -> usize) -> usize {
    ops.iter()
        .map(|op| match *op {
            Operator::Call { function_index } => callee_ops(function_index).saturating_add(1),
            Operator::CallIndirect { .. } => UNROLL_MAX_OPS + 1,
            _ => 1,
        })
        .fold(0usize, usize::saturating_add)
}
