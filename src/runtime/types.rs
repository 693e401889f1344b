//! Value types and human-readable descriptions of wasm types.

use wasmi::{ExternType, FuncType, ValType};

/// Short wasm text name of a value type (`i32`, `f64`, ...).
pub fn val_type_name(ty: ValType) -> &'static str {
    match ty {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        ValType::V128 => "v128",
        ValType::FuncRef => "funcref",
        ValType::ExternRef => "externref",
    }
}

/// `(i32, i32) -> (i64)` style description of a function type.
pub fn describe_func(ty: &FuncType) -> String {
    let list = |tys: &[ValType]| {
        tys.iter()
            .map(|t| val_type_name(*t))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(ty.params()), list(ty.results()))
}

/// Description of any extern type, e.g. `function (i32) -> ()` or `memory (min 1 pages)`.
pub fn describe_extern(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => format!("function {}", describe_func(f)),
        ExternType::Memory(m) => format!("memory (min {} pages)", m.minimum()),
        ExternType::Global(g) => format!(
            "global {}{}",
            if g.mutability().is_mut() { "mut " } else { "" },
            val_type_name(g.content())
        ),
        ExternType::Table(t) => format!("table of {:?}", t.element()),
    }
}
