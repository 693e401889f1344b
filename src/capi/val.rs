//! `wp_val_t`: a tagged wasm value.

use crate::error::{Error, Result};
use crate::{Val, ValType};

/// The type of a `wp_val_t` (a `WP_VAL_*` value).
pub type wp_val_kind_t = u8;
/// A 32-bit integer (`of.i32`).
pub const WP_VAL_I32: wp_val_kind_t = 0;
/// A 64-bit integer (`of.i64`).
pub const WP_VAL_I64: wp_val_kind_t = 1;
/// A 32-bit float (`of.f32`).
pub const WP_VAL_F32: wp_val_kind_t = 2;
/// A 64-bit float (`of.f64`).
pub const WP_VAL_F64: wp_val_kind_t = 3;
/// A type the C API cannot pass (v128, references); only reported by
/// `wp_instance_func_type`.
pub const WP_VAL_UNSUPPORTED: wp_val_kind_t = 255;

/// The payload of a `wp_val_t`; which member is valid is given by `kind`.
#[repr(C)]
#[derive(Copy, Clone)]
pub union wp_val_union_t {
    pub i32: i32,
    pub i64: i64,
    pub f32: f32,
    pub f64: f64,
}

/// A wasm value: `kind` says which member of `of` holds it.
/// Plain data: copy it freely; it owns nothing.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct wp_val_t {
    pub kind: wp_val_kind_t,
    pub of: wp_val_union_t,
}

pub(crate) fn kind_of(ty: ValType) -> wp_val_kind_t {
    match ty {
        ValType::I32 => WP_VAL_I32,
        ValType::I64 => WP_VAL_I64,
        ValType::F32 => WP_VAL_F32,
        ValType::F64 => WP_VAL_F64,
        _ => WP_VAL_UNSUPPORTED,
    }
}

/// The Rust value of a C value; `InvalidArgument` for an unknown kind.
pub(crate) fn from_c(v: &wp_val_t, index: usize) -> Result<Val> {
    // SAFETY: every member of the union is plain old data of at most 8
    // bytes, and we read only the member `kind` names, which the C caller set.
    unsafe {
        Ok(match v.kind {
            WP_VAL_I32 => Val::I32(v.of.i32),
            WP_VAL_I64 => Val::I64(v.of.i64),
            WP_VAL_F32 => Val::F32(v.of.f32.into()),
            WP_VAL_F64 => Val::F64(v.of.f64.into()),
            k => {
                return Err(Error::invalid_argument(format!(
                    "argument {index} has unknown value kind {k}"
                )))
            }
        })
    }
}

/// The C value of a Rust value; `TypeMismatch` for a type C cannot hold.
pub(crate) fn to_c(v: &Val) -> Result<wp_val_t> {
    Ok(match v {
        Val::I32(x) => wp_val_t {
            kind: WP_VAL_I32,
            of: wp_val_union_t { i32: *x },
        },
        Val::I64(x) => wp_val_t {
            kind: WP_VAL_I64,
            of: wp_val_union_t { i64: *x },
        },
        Val::F32(x) => wp_val_t {
            kind: WP_VAL_F32,
            of: wp_val_union_t { f32: f32::from(*x) },
        },
        Val::F64(x) => wp_val_t {
            kind: WP_VAL_F64,
            of: wp_val_union_t { f64: f64::from(*x) },
        },
        other => {
            return Err(Error::new(
                crate::ErrorCode::TypeMismatch,
                format!("result of type {:?} cannot be passed to C", other.ty()),
            ))
        }
    })
}
