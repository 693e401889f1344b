//! Functions with several results (multi-value). The naga function returns
//! a struct with one member per result (SPIR-V `OpTypeStruct`): every
//! return composes it (`OpCompositeConstruct`) and a call site extracts the
//! members (`OpCompositeExtract`) onto the value stack in order. Functions
//! with no or one result are unchanged.

use super::translator::FnTranslator;
use super::{Shared, Types, H};
use crate::spirv::analyze::{KernelModule, Ty};
use crate::spirv::Unsupported;
use naga::{Expression, Handle, Module, Span, StructMember, Type, TypeInner};
use std::collections::HashMap;

/// Size and alignment of a value of `t` as a struct member.
fn layout(t: Ty) -> (u32, u32) {
    match t {
        Ty::I32 | Ty::F32 => (4, 4),
        Ty::I64 | Ty::F64 => (8, 8),
        Ty::V128 => (16, 16),
    }
}

fn ty_handle(t: Types, ty: Ty) -> Handle<Type> {
    match ty {
        Ty::I32 => t.u32,
        Ty::I64 => t.u64,
        Ty::F32 => t.f32,
        Ty::F64 => t.f64,
        Ty::V128 => t.vec4u,
    }
}

/// One struct type per distinct result list of two or more values among
/// the module's functions and (for `call_indirect`) its types. A type whose
/// results use a 64-bit kind no function of the module uses is left out
/// (its struct would need a capability the kernel does not otherwise ask
/// for; a `call_indirect` of it is then declined).
pub(super) fn declare_result_structs(
    module: &mut Module,
    km: &KernelModule<'_>,
    t: Types,
) -> HashMap<Vec<Ty>, Handle<Type>> {
    let from_types = km.types.iter().filter_map(|ft| {
        let r: Vec<Ty> = ft
            .results()
            .iter()
            .map(|&v| Ty::from_val(v))
            .collect::<Result<_, _>>()
            .ok()?;
        let fits = r.iter().all(|&ty| match ty {
            Ty::I64 => km.uses_i64,
            Ty::F64 => km.uses_f64,
            _ => true,
        });
        fits.then_some(r)
    });
    let lists: Vec<Vec<Ty>> = km
        .funcs
        .iter()
        .map(|f| f.results.clone())
        .chain(from_types)
        .collect();
    let mut map = HashMap::new();
    for r in lists {
        if r.len() < 2 || map.contains_key(&r) {
            continue;
        }
        let mut offset = 0u32;
        let mut max_align = 4u32;
        let mut members = Vec::new();
        for (i, &ty) in r.iter().enumerate() {
            let (size, align) = layout(ty);
            offset = offset.next_multiple_of(align);
            max_align = max_align.max(align);
            members.push(StructMember {
                name: Some(format!("r{i}")),
                ty: ty_handle(t, ty),
                binding: None,
                offset,
            });
            offset += size;
        }
        let handle = module.types.insert(
            Type {
                name: Some(format!("Results{}", map.len())),
                inner: TypeInner::Struct {
                    members,
                    span: offset.next_multiple_of(max_align),
                },
            },
            Span::UNDEFINED,
        );
        map.insert(r, handle);
    }
    map
}

/// The naga type of a result list: none, the value's, or its struct.
pub(super) fn results_type(
    sh: &Shared,
    results: &[Ty],
) -> Result<Option<Handle<Type>>, Unsupported> {
    match results {
        [] => Ok(None),
        [r] => Ok(Some(ty_handle(sh.t, *r))),
        _ => sh
            .result_structs
            .get(results)
            .copied()
            .map(Some)
            .ok_or_else(|| {
                Unsupported::new("a multi-value result of a kind the module does not use")
            }),
    }
}

impl<'s, 'a> FnTranslator<'s, 'a> {
    /// The value a `return` of this function's results `vals` returns.
    pub(super) fn return_value(&mut self, vals: &[H]) -> Result<Option<H>, Unsupported> {
        let results = self.results.clone();
        match vals {
            [] => Ok(None),
            [v] => Ok(Some(*v)),
            _ => {
                let ty = results_type(self.sh, &results)?
                    .ok_or_else(|| Unsupported::new("internal: multi-value return"))?;
                Ok(Some(self.fb.expr(Expression::Compose {
                    ty,
                    components: vals.to_vec(),
                })))
            }
        }
    }

    /// Pushes the results of a call whose value (if any) is `r`.
    pub(super) fn push_results(&mut self, r: Option<H>, results: &[Ty]) {
        match (r, results) {
            (Some(r), [t]) => self.push(r, *t),
            (Some(r), _) => {
                for (i, &t) in results.iter().enumerate() {
                    let v = self.fb.expr(Expression::AccessIndex {
                        base: r,
                        index: i as u32,
                    });
                    self.push(v, t);
                }
            }
            (None, _) => {}
        }
    }

    /// The top `n` values of the stack, without popping them.
    pub(super) fn top(&self, n: usize) -> Result<Vec<H>, Unsupported> {
        let len = self.stack.len();
        if len < n {
            return Err(Unsupported::new("internal: stack underflow at return"));
        }
        Ok(self.stack[len - n..].iter().map(|&(h, _)| h).collect())
    }
}
