//! `wp_module_t`: a compiled guest module.

use std::ffi::c_char;

use super::engine::wp_engine_t;
use super::error::{guard, wp_error_t};
use super::{bytes, c_str, non_null, non_null_mut, write_out};
use crate::runtime::Module;

/// A validated WebAssembly module, compiled once for its engine.
///
/// Created with `wp_module_new` or `wp_module_from_file`, freed with
/// `wp_module_delete` after the instances made from it. Thread-safe and
/// immutable: one module may be instantiated from any number of threads at
/// once (`wp_instance_new` only reads it).
pub struct wp_module_t {
    pub(crate) module: Module,
}

/// Compiles `len` bytes at `bytes` (binary wasm, or WAT text) for `engine`
/// and stores the module in `*module_out`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL engine/module_out, NULL bytes
/// with len > 0), `WP_ERROR_INVALID_MODULE` (what is wrong and where),
/// `WP_ERROR_RESOURCE_EXHAUSTED` (larger than the configured module limit).
/// Ownership: borrows `engine` and `bytes` (copied; free them when this
/// returns); the caller owns the module and frees it with `wp_module_delete`.
/// Thread-safety: any thread, also concurrently on one engine.
#[no_mangle]
pub extern "C" fn wp_module_new(
    engine: *const wp_engine_t,
    bytes_ptr: *const u8,
    len: usize,
    module_out: *mut *mut wp_module_t,
) -> *mut wp_error_t {
    guard(|| {
        let engine = non_null(engine, "engine")?;
        non_null_mut(module_out, "module_out")?;
        let data = bytes(bytes_ptr, len, "bytes")?;
        let module = Module::new(&engine.engine, data)?;
        write_out(
            module_out,
            Box::into_raw(Box::new(wp_module_t { module })),
            "module_out",
        )
    })
}

/// Reads and compiles the `.wasm` or `.wat` file at `path` (a NUL-terminated
/// UTF-8 path) and stores the module in `*module_out`.
///
/// Errors: as `wp_module_new`, plus `WP_ERROR_IO` when the file cannot be read.
/// Ownership: borrows `engine` and `path`; the caller owns the module and
/// frees it with `wp_module_delete`. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_module_from_file(
    engine: *const wp_engine_t,
    path: *const c_char,
    module_out: *mut *mut wp_module_t,
) -> *mut wp_error_t {
    guard(|| {
        let engine = non_null(engine, "engine")?;
        non_null_mut(module_out, "module_out")?;
        let path = c_str(path, "path")?;
        let module = Module::from_file(&engine.engine, std::path::Path::new(path))?;
        write_out(
            module_out,
            Box::into_raw(Box::new(wp_module_t { module })),
            "module_out",
        )
    })
}

/// Frees a module. `NULL` is allowed. Instances made from it stay valid
/// (they keep what they need), but no new ones can be made from it.
///
/// Ownership: takes `module`. Thread-safety: not while another thread uses it.
#[no_mangle]
pub extern "C" fn wp_module_delete(module: *mut wp_module_t) {
    super::delete_box(module)
}
