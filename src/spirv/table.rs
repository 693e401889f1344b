//! The kernel's function table, as `call_indirect` sees it: one defined
//! `funcref` table filled by active element segments with constant offsets
//! (what wasm-ld emits as `__indirect_function_table`). The translator turns
//! `call_indirect` into a switch over these entries (`codegen/indirect.rs`).

use super::{wasm_err, Unsupported};
use wasmparser::{ElementItems, ElementKind, Operator, RefType, TableInit};

/// Largest table the translator expands into a switch.
pub(crate) const MAX_TABLE: u64 = 4096;

/// Slot `i` holds `Some(function index)` or `None` (a null entry).
pub(crate) type Table = Vec<Option<u32>>;

/// A defined table: its initial size (all null; `TableInit::Expr` is declined).
pub(crate) fn declare(
    tables: &mut Vec<Table>,
    t: wasmparser::Table<'_>,
) -> Result<(), Unsupported> {
    if t.ty.element_type != RefType::FUNCREF || t.ty.table64 {
        return Err(Unsupported::new("only 32-bit funcref tables are supported"));
    }
    if !matches!(t.init, TableInit::RefNull) {
        return Err(Unsupported::new(
            "tables with an initializer expression are not supported",
        ));
    }
    if t.ty.initial > MAX_TABLE {
        return Err(Unsupported::new(format!(
            "a table of {} entries (the GPU translator expands at most {MAX_TABLE})",
            t.ty.initial
        )));
    }
    tables.push(vec![None; t.ty.initial as usize]);
    Ok(())
}

/// Applies an element segment: active ones write their functions into
/// the table (out of range: the module fails to instantiate anywhere, so
/// the kernel is declined); passive and declared ones change nothing.
pub(crate) fn apply_element(
    tables: &mut [Table],
    e: wasmparser::Element<'_>,
    const_offset: impl Fn(&wasmparser::ConstExpr<'_>) -> Result<u64, Unsupported>,
) -> Result<(), Unsupported> {
    let ElementKind::Active {
        table_index,
        offset_expr,
    } = e.kind
    else {
        return Ok(());
    };
    let mut items: Vec<Option<u32>> = Vec::new();
    match e.items {
        ElementItems::Functions(r) => {
            for f in r {
                items.push(Some(f.map_err(wasm_err)?));
            }
        }
        ElementItems::Expressions(_, r) => {
            for x in r {
                let x = x.map_err(wasm_err)?;
                let mut ops = x.get_operators_reader();
                items.push(match ops.read().map_err(wasm_err)? {
                    Operator::RefFunc { function_index } => Some(function_index),
                    Operator::RefNull { .. } => None,
                    _ => {
                        return Err(Unsupported::new(
                            "element expressions other than ref.func / ref.null are not supported",
                        ))
                    }
                });
            }
        }
    }
    let table = tables
        .get_mut(table_index.unwrap_or(0) as usize)
        .ok_or_else(|| Unsupported::new("an element segment names a missing table"))?;
    let offset = const_offset(&offset_expr)? as u32 as usize;
    if offset + items.len() > table.len() {
        return Err(Unsupported::new(
            "an element segment lies outside its table",
        ));
    }
    table[offset..offset + items.len()].copy_from_slice(&items);
    Ok(())
}

/// The functions `call_indirect` with signature `type_index` may reach
/// (entries of the same signature; others trap).
pub(crate) fn targets(
    table: &Table,
    types: &[wasmparser::FuncType],
    func_types: &[u32],
    type_index: u32,
) -> Vec<u32> {
    let want = &types[type_index as usize];
    let mut out = Vec::new();
    for f in table.iter().flatten() {
        if let Some(&t) = func_types.get(*f as usize) {
            if types[t as usize] == *want && !out.contains(f) {
                out.push(*f);
            }
        }
    }
    out
}
