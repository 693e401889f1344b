//! `wp_engine_t`: a configured runtime made from a `wp_config_t`.

use std::ffi::CString;

use super::config::wp_config_t;
use super::error::{guard, wp_error_t};
use super::{non_null, non_null_mut, write_out};
use crate::parallel::DeviceInfo;
use crate::runtime::{Config, Engine};

/// A configured runtime: the interpreter, the wasi-parallel devices (SEQUENTIAL,
/// CPU thread pool, GPUs) and the kernel cache, shared by every module and
/// instance made from it.
///
/// Created with `wp_engine_new`, freed with `wp_engine_delete`. Modules and
/// instances made from it keep the runtime alive, so they may outlive this
/// handle. Thread-safe: one engine may be used
/// from any number of threads at once.
pub struct wp_engine_t {
    pub(crate) engine: Engine,
    pub(crate) devices: Vec<(DeviceInfo, CString)>,
}
/// Creates an engine from `config` (NULL: the defaults): starts the CPU
/// thread pool and discovers the devices. Stores it in `*engine_out`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` for a NULL `engine_out` or a
/// setting out of its bounds, `WP_ERROR_INTERNAL` if the devices cannot be
/// set up.
/// Ownership: `config` is only read (copied); the caller owns the engine and
/// frees it with `wp_engine_delete`. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_engine_new(
    config: *const wp_config_t,
    engine_out: *mut *mut wp_engine_t,
) -> *mut wp_error_t {
    guard(|| {
        non_null_mut(engine_out, "engine_out")?;
        let cfg = if config.is_null() {
            Config::default()
        } else {
            non_null(config, "config")?.config.clone()
        };
        let engine = Engine::new(cfg)?;
        let devices = engine
            .parallel()
            .devices()
            .into_iter()
            .map(|d| {
                let name = CString::new(d.name.replace('\0', " ")).unwrap_or_default();
                (d, name)
            })
            .collect();
        let boxed = Box::into_raw(Box::new(wp_engine_t { engine, devices }));
        write_out(engine_out, boxed, "engine_out")
    })
}

/// Frees an engine. `NULL` is allowed.
///
/// Ownership: takes `engine`; modules and instances made from it stay valid
/// (each keeps the runtime alive). Thread-safety: not while another thread uses it.
#[no_mangle]
pub extern "C" fn wp_engine_delete(engine: *mut wp_engine_t) {
    super::delete_box(engine)
}
