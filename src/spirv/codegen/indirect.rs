//! `call_indirect` through the kernel's table (`spirv/table.rs`): a switch
//! on the index with one case per table slot. A slot holding a function of
//! the call's signature calls it directly; a null slot traps with
//! `trap::INDIRECT_NULL`, a function of another signature with
//! `trap::INDIRECT_SIGNATURE`, and an index past the table's end (the
//! default case) with `trap::TABLE_OUT_OF_BOUNDS`: the same rules, in the
//! same order, as wasm. After a trap the call's result is 0 and the
//! invocation runs on harmlessly, as after any trap (see `build_trap`).

use super::translator::FnTranslator;
use crate::spirv::{trap, Unsupported};
use naga::{Block, Statement, SwitchCase, SwitchValue};

impl<'s, 'a> FnTranslator<'s, 'a> {
    pub(super) fn call_indirect(
        &mut self,
        type_index: u32,
        table_index: u32,
    ) -> Result<(), Unsupported> {
        if table_index != 0 {
            return Err(Unsupported::new(
                "call_indirect through a table other than table 0",
            ));
        }
        let km = self.km;
        let want = km
            .types
            .get(type_index as usize)
            .ok_or_else(|| Unsupported::new("internal: call_indirect type index"))?;
        let n = want.params().len();
        let results = want
            .results()
            .iter()
            .map(|&v| crate::spirv::analyze::Ty::from_val(v))
            .collect::<Result<Vec<_>, _>>()?;
        let result_ty = super::multi_value::results_type(self.sh, &results)?;
        let index = self.pop()?;
        if self.stack.len() < n {
            return Err(Unsupported::new(
                "internal: stack underflow at call_indirect",
            ));
        }
        let args: Vec<_> = self
            .stack
            .drain(self.stack.len() - n..)
            .map(|(h, _)| h)
            .collect();
        // The result (a struct for several) starts zero: after a trap.
        let var = result_ty.map(|ty| {
            let name = format!("indirect{}", self.fb.f.local_variables.len());
            let z = self.fb.expr(naga::Expression::ZeroValue(ty));
            self.fb.local(name, ty, Some(z))
        });
        let trap_case = |tr: &mut Self, code: u32| -> Block {
            tr.fb.open();
            let c = tr.fb.u32(code);
            tr.fb.call(tr.sh.h.trap, vec![c], false);
            tr.fb.close()
        };
        let mut cases = Vec::new();
        for (slot, entry) in km.table.iter().enumerate() {
            let body = match *entry {
                None => trap_case(self, trap::INDIRECT_NULL),
                Some(f) => {
                    let same = km
                        .func_types
                        .get(f as usize)
                        .is_some_and(|&t| km.types[t as usize] == *want);
                    if !same {
                        trap_case(self, trap::INDIRECT_SIGNATURE)
                    } else {
                        let target = self
                            .sh
                            .fn_map
                            .get(f as usize)
                            .copied()
                            .flatten()
                            .ok_or_else(|| {
                                Unsupported::new("internal: indirect callee not translated first")
                            })?;
                        let nested = self.loop_depth + self.sh.fn_loop_depth[f as usize];
                        self.max_loop_depth = self.max_loop_depth.max(nested);
                        self.fb.open();
                        let r = self.fb.call(target, args.clone(), var.is_some());
                        if let (Some(r), Some(v)) = (r, var) {
                            self.fb.store(v, r);
                        }
                        self.fb.close()
                    }
                }
            };
            cases.push(SwitchCase {
                value: SwitchValue::U32(slot as u32),
                body,
                fall_through: false,
            });
        }
        let oob = trap_case(self, trap::TABLE_OUT_OF_BOUNDS);
        cases.push(SwitchCase {
            value: SwitchValue::Default,
            body: oob,
            fall_through: false,
        });
        self.fb.stmt(Statement::Switch {
            selector: index,
            cases,
        });
        let r = var.map(|v| self.fb.load(v));
        self.push_results(r, &results);
        Ok(())
    }
}
