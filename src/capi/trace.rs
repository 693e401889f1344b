//! The timeline of an instance's wasi-parallel calls from C: a Chrome /
//! Perfetto trace-event JSON file (see `crate::parallel::trace`).

use std::ffi::c_char;

use super::error::{guard, wp_error_t};
use super::instance::{wp_instance_config_t, wp_instance_t};
use super::{c_str, non_null_mut};

/// Makes every instance created with `config` record its wasi-parallel
/// calls (each `parallel_exec` with device, engine, iterations, compile /
/// setup / run times and fallback reason; buffer creation and transfers) and
/// write them to the file at `path` (NUL-terminated UTF-8) as Chrome /
/// Perfetto trace-event JSON. `wp_instance_new` creates the file (an
/// unwritable path is `WP_ERROR_IO` there); it is written by
/// `wp_instance_write_trace` and when the instance is deleted. Instances
/// made from one config share the path: give each its own config or path.
/// `path` NULL switches tracing off again.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL config, a path that is not
/// UTF-8). Ownership: borrows both (the path is copied). Thread-safety: one
/// thread per config.
#[no_mangle]
pub extern "C" fn wp_instance_config_set_trace_file(
    config: *mut wp_instance_config_t,
    path: *const c_char,
) -> *mut wp_error_t {
    guard(|| {
        let c = non_null_mut(config, "config")?;
        c.trace = if path.is_null() {
            None
        } else {
            Some(c_str(path, "path")?.into())
        };
        Ok(())
    })
}

/// Writes the instance's trace file now, with every call so far (no-op for
/// an instance without a trace). Deleting the instance writes it too, but
/// cannot report an error.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL instance), `WP_ERROR_IO` (the
/// file cannot be written). Ownership: borrows `instance`. Thread-safety:
/// one thread per instance.
#[no_mangle]
pub extern "C" fn wp_instance_write_trace(instance: *mut wp_instance_t) -> *mut wp_error_t {
    guard(|| non_null_mut(instance, "instance")?.instance.finish_trace())
}
