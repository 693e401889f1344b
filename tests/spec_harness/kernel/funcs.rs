//! The two functions every kernel gets besides the spec module's own:
//! `$run` (one action: arguments in, results out) and `kernel` (the
//! iteration loop, replays and chained memory), split from `kernel.rs`.

use super::*;

impl Prepared {
    /// `$run(k, store)`: runs action `k` (record `tab + k * rec`), stores
    /// its results into `out + k * out_rec` when `store != 0`. Arguments
    /// are read and results written once, as 64-bit words (v128 apart),
    /// outside the per-export code: the less code per export, the faster
    /// lavapipe compiles the kernel.
    pub(super) fn run_fn(&self, hg: &HGlobals, enabled: &[bool]) -> Function {
        use Instruction as I;
        let max_results = (self.out_rec - 16) / 16;
        let max_params = (self.rec - 16) / 16;
        // Locals after (k, store): rec, args as i64, results as i64, then
        // one v128 argument and result local per slot when v128 is used.
        let uses_v128 = self.sels.iter().any(|s| match s {
            Sel::Func { params, .. } => params.contains(&Ty::V128),
            Sel::Global(_) => false,
        }) || self
            .actions
            .iter()
            .flatten()
            .any(|r| r.results.contains(&Ty::V128));
        let rec = 2u32;
        let arg = |j: usize| 3 + j as u32;
        let res = |j: usize| 3 + (max_params + j) as u32;
        let varg = |j: usize| 3 + (max_params + max_results + j) as u32;
        let vres = |j: usize| 3 + (2 * max_params + max_results + j) as u32;
        let mut locals = vec![
            (1u32, ValType::I32),
            ((max_params + max_results) as u32, ValType::I64),
        ];
        if uses_v128 {
            locals.push(((max_params + max_results) as u32, ValType::V128));
        }
        let mut f = Function::new(locals);
        f.instruction(&I::GlobalGet(hg.tab));
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Const(self.rec as i32));
        f.instruction(&I::I32Mul);
        f.instruction(&I::I32Add);
        f.instruction(&I::LocalSet(rec));
        for j in 0..max_params {
            f.instruction(&I::LocalGet(rec));
            f.instruction(&I::I64Load(memarg(16 + 16 * j as u64, 3)));
            f.instruction(&I::LocalSet(arg(j)));
        }
        // The result slots that some enabled export fills with a v128: they
        // are stored as v128 for every export (a scalar result there goes
        // into the low lanes), since the store below is shared.
        let mut v128_results = vec![false; max_results];
        for (s, _) in self.sels.iter().enumerate() {
            if !enabled.get(s).copied().unwrap_or(false) {
                continue;
            }
            if let Some(r) = self.actions.iter().flatten().find(|r| r.sel == s) {
                for (j, t) in r.results.iter().enumerate() {
                    v128_results[j] |= *t == Ty::V128;
                }
            }
        }
        for (s, sel) in self.sels.iter().enumerate() {
            if !enabled.get(s).copied().unwrap_or(false) {
                continue;
            }
            // The results of this selector (from any action using it).
            let Some(results) = self
                .actions
                .iter()
                .flatten()
                .find(|r| r.sel == s)
                .map(|r| r.results.clone())
            else {
                continue;
            };
            f.instruction(&I::LocalGet(rec));
            f.instruction(&I::I32Load(memarg(4, 2)));
            f.instruction(&I::I32Const(s as i32));
            f.instruction(&I::I32Eq);
            f.instruction(&I::If(BlockType::Empty));
            match sel {
                Sel::Func { index, params } => {
                    for (j, t) in params.iter().enumerate() {
                        match t {
                            Ty::I32 => {
                                f.instruction(&I::LocalGet(arg(j)));
                                f.instruction(&I::I32WrapI64);
                            }
                            Ty::I64 => {
                                f.instruction(&I::LocalGet(arg(j)));
                            }
                            Ty::F32 => {
                                f.instruction(&I::LocalGet(arg(j)));
                                f.instruction(&I::I32WrapI64);
                                f.instruction(&I::F32ReinterpretI32);
                            }
                            Ty::F64 => {
                                f.instruction(&I::LocalGet(arg(j)));
                                f.instruction(&I::F64ReinterpretI64);
                            }
                            Ty::V128 => {
                                f.instruction(&I::LocalGet(rec));
                                f.instruction(&I::V128Load(memarg(16 + 16 * j as u64, 4)));
                            }
                        }
                    }
                    f.instruction(&I::Call(*index));
                }
                Sel::Global(g) => {
                    f.instruction(&I::GlobalGet(*g));
                }
            }
            for (j, t) in results.iter().enumerate().rev() {
                match t {
                    Ty::I32 => {
                        f.instruction(&I::I64ExtendI32U);
                    }
                    Ty::I64 => {}
                    Ty::F32 => {
                        f.instruction(&I::I32ReinterpretF32);
                        f.instruction(&I::I64ExtendI32U);
                    }
                    Ty::F64 => {
                        f.instruction(&I::I64ReinterpretF64);
                    }
                    Ty::V128 => {
                        f.instruction(&I::LocalSet(vres(j)));
                        continue;
                    }
                }
                if v128_results[j] {
                    // A scalar in a v128 slot: its bits in the low lanes.
                    f.instruction(&I::I64x2Splat);
                    f.instruction(&I::LocalSet(vres(j)));
                } else {
                    f.instruction(&I::LocalSet(res(j)));
                }
            }
            f.instruction(&I::End);
        }
        let _ = varg;
        f.instruction(&I::LocalGet(1));
        f.instruction(&I::If(BlockType::Empty));
        #[allow(clippy::needless_range_loop)] // j indexes several per-result tables
        for j in 0..max_results {
            out_addr(&mut f, hg, self.out_rec);
            if v128_results[j] {
                f.instruction(&I::LocalGet(vres(j)));
                f.instruction(&I::V128Store(memarg(16 + 16 * j as u64, 4)));
            } else {
                f.instruction(&I::LocalGet(res(j)));
                f.instruction(&I::I64Store(memarg(16 + 16 * j as u64, 3)));
            }
        }
        out_addr(&mut f, hg, self.out_rec);
        f.instruction(&I::I32Const(1));
        f.instruction(&I::I32Store(memarg(0, 2)));
        f.instruction(&I::End);
        f.instruction(&I::End);
        f
    }

    /// The `kernel` export.
    pub(super) fn kernel_fn(
        &self,
        hg: &HGlobals,
        f_run: u32,
        cap: u64,
        reach: &[bool],
    ) -> Function {
        use Instruction as I;
        let p = &self.parts;
        // Params: i 0, n 1, blk 2, tab 3/4, ctl 5/6, out 7/8, mem 9/10.
        let k = if self.mem.is_some() { 11 } else { 9 };
        let mut f = Function::new([(1, ValType::I32)]);
        f.instruction(&I::LocalGet(5));
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32Add);
        f.instruction(&I::I32Load8U(memarg(0, 0)));
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::LocalGet(3));
        f.instruction(&I::GlobalSet(hg.tab));
        f.instruction(&I::LocalGet(7));
        f.instruction(&I::GlobalSet(hg.out));
        if let Some(mem) = &self.mem {
            f.instruction(&I::LocalGet(9));
            if mem.per_iteration {
                f.instruction(&I::LocalGet(0));
                f.instruction(&I::LocalGet(2));
                f.instruction(&I::I32Sub);
                f.instruction(&I::I32Const((cap * PAGE) as i32));
                f.instruction(&I::I32Mul);
                f.instruction(&I::I32Add);
            }
            f.instruction(&I::GlobalSet(hg.base));
            f.instruction(&I::I32Const(p.mem_min_pages as i32));
            f.instruction(&I::GlobalSet(hg.pages));
            f.instruction(&I::I64Const((p.mem_min_pages * PAGE) as i64));
            f.instruction(&I::GlobalSet(hg.bytes));
        }
        f.instruction(&I::I32Const(0));
        f.instruction(&I::GlobalSet(hg.grew_past));
        for &(g, ty, bits) in &p.mutable_globals {
            push_bits(&mut f, ty, bits);
            f.instruction(&I::GlobalSet(g));
        }
        // A reference global no reachable function sets keeps its value
        // (resetting it would take the translator's reference types).
        let set = |g: u32| (0..reach.len()).any(|i| reach[i] && p.sets_globals[i].contains(&g));
        for (g, ins) in p.ref_resets.iter().filter(|(g, _)| set(*g)) {
            for i in ins {
                f.instruction(i);
            }
            f.instruction(&I::GlobalSet(*g));
        }
        if self.stateful {
            // for k in 0..=i: if k == i || tab[k].mode == 1 { run(k, k == i) }
            // (one call of `$run`: the driver inlines every call, and each
            // copy of `$run` holds every enabled export).
            f.instruction(&I::Block(BlockType::Empty));
            f.instruction(&I::Loop(BlockType::Empty));
            f.instruction(&I::LocalGet(k));
            f.instruction(&I::LocalGet(0));
            f.instruction(&I::I32GtU);
            f.instruction(&I::BrIf(1));
            f.instruction(&I::LocalGet(k));
            f.instruction(&I::LocalGet(0));
            f.instruction(&I::I32Eq);
            f.instruction(&I::LocalGet(3));
            f.instruction(&I::LocalGet(k));
            f.instruction(&I::I32Const(self.rec as i32));
            f.instruction(&I::I32Mul);
            f.instruction(&I::I32Add);
            f.instruction(&I::I32Load(memarg(0, 2)));
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32Eq);
            f.instruction(&I::I32Or);
            f.instruction(&I::If(BlockType::Empty));
            f.instruction(&I::LocalGet(k));
            f.instruction(&I::LocalGet(k));
            f.instruction(&I::LocalGet(0));
            f.instruction(&I::I32Eq);
            f.instruction(&I::Call(f_run));
            f.instruction(&I::End);
            f.instruction(&I::LocalGet(k));
            f.instruction(&I::I32Const(1));
            f.instruction(&I::I32Add);
            f.instruction(&I::LocalSet(k));
            f.instruction(&I::Br(0));
            f.instruction(&I::End);
            f.instruction(&I::End);
        } else {
            f.instruction(&I::LocalGet(0));
            f.instruction(&I::I32Const(1));
            f.instruction(&I::Call(f_run));
        }
        if self.mem.is_some() {
            // out[i].word1 = GROW_LIMIT_HIT when the harness' page limit was hit.
            f.instruction(&I::GlobalGet(hg.grew_past));
            f.instruction(&I::If(BlockType::Empty));
            f.instruction(&I::LocalGet(7));
            f.instruction(&I::LocalGet(0));
            f.instruction(&I::I32Const(self.out_rec as i32));
            f.instruction(&I::I32Mul);
            f.instruction(&I::I32Add);
            f.instruction(&I::I32Const(GROW_LIMIT_HIT as i32));
            f.instruction(&I::I32Store(memarg(4, 2)));
            f.instruction(&I::End);
        }
        f.instruction(&I::End);
        f.instruction(&I::End);
        f
    }
}

fn out_addr(f: &mut Function, hg: &HGlobals, out_rec: usize) {
    use Instruction as I;
    f.instruction(&I::GlobalGet(hg.out));
    f.instruction(&I::LocalGet(0));
    f.instruction(&I::I32Const(out_rec as i32));
    f.instruction(&I::I32Mul);
    f.instruction(&I::I32Add);
}
