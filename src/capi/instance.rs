//! `wp_instance_config_t` (WASI settings, stdio, natives) and `wp_instance_t`.

use std::ffi::c_char;
use std::sync::{Arc, RwLock};

use super::error::{guard, wp_error_t};
use super::module::wp_module_t;
use super::val::{from_c, kind_of, to_c, wp_val_kind_t, wp_val_t};
use super::{bytes, bytes_mut, c_str, copy_bytes, non_null, non_null_mut, slice, write_out};
use crate::error::{Error, ErrorCode, Result};
use crate::runtime::{Instance, InstanceConfig, InterruptHandle, Natives, Stdio, WasiConfig};

/// A standard stream of the guest (a `WP_STDIO_*` value).
pub type wp_stdio_stream_t = i32;
/// The guest's standard input.
pub const WP_STDIO_STDIN: wp_stdio_stream_t = 0;
/// The guest's standard output.
pub const WP_STDIO_STDOUT: wp_stdio_stream_t = 1;
/// The guest's standard error.
pub const WP_STDIO_STDERR: wp_stdio_stream_t = 2;

/// Where a standard stream goes (a `WP_STDIO_MODE_*` value).
pub type wp_stdio_mode_t = i32;
/// The host process's own stream (the default).
pub const WP_STDIO_MODE_INHERIT: wp_stdio_mode_t = 0;
/// Nothing: reads see end of file, writes are discarded.
pub const WP_STDIO_MODE_NULL: wp_stdio_mode_t = 1;
/// stdout/stderr only: collected in a buffer per instance, read with
/// `wp_instance_captured_output`.
pub const WP_STDIO_MODE_CAPTURE: wp_stdio_mode_t = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Inherit,
    Null,
    Capture,
}

#[derive(Clone)]
enum Stdin {
    Inherit,
    Null,
    Bytes(Vec<u8>),
}

/// How to instantiate a module: WASI arguments, environment, preopened
/// directories, stdio, and host natives.
///
/// Created with `wp_instance_config_new`, freed with
/// `wp_instance_config_delete`. `wp_instance_new` only reads it, so one
/// config can serve many instances. Not thread-safe while being changed;
/// once complete it may be read by several `wp_instance_new` calls at once.
pub struct wp_instance_config_t {
    wasi: WasiConfig,
    stdin: Stdin,
    stdout: Mode,
    stderr: Mode,
    pub(crate) natives: Natives,
    pub(crate) trace: Option<std::path::PathBuf>,
}

/// A guest instance: its memory, WASI state, wasi-parallel state (buffers,
/// statistics) and captured output.
///
/// Created with `wp_instance_new`, freed with `wp_instance_delete`. May be
/// moved between threads, but used by one thread at a time (no two calls on
/// the same instance at once); different instances run in parallel freely.
pub struct wp_instance_t {
    pub(crate) instance: Instance,
    stdout: Option<Arc<RwLock<Vec<u8>>>>,
    stderr: Option<Arc<RwLock<Vec<u8>>>>,
}

/// A new, empty instance config: no arguments, no environment, no preopens,
/// inherited stdio, no natives.
///
/// Ownership: the caller owns it; free with `wp_instance_config_delete`.
/// Returns NULL only if allocation fails. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_instance_config_new() -> *mut wp_instance_config_t {
    super::catch(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(wp_instance_config_t {
            wasi: WasiConfig::default(),
            stdin: Stdin::Inherit,
            stdout: Mode::Inherit,
            stderr: Mode::Inherit,
            natives: Natives::new(),
            trace: None,
        }))
    })
}

/// Frees an instance config. `NULL` is allowed. Instances made with it are
/// not affected.
///
/// Ownership: takes `config`. Thread-safety: not while another thread uses it.
#[no_mangle]
pub extern "C" fn wp_instance_config_delete(config: *mut wp_instance_config_t) {
    super::delete_box(config)
}

fn with_config(
    config: *mut wp_instance_config_t,
    f: impl FnOnce(&mut wp_instance_config_t) -> Result<()>,
) -> *mut wp_error_t {
    guard(|| f(non_null_mut(config, "config")?))
}

/// Appends `arg` to the guest's `argv`. The first one added is `argv[0]`
/// (the program name).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL, not UTF-8). Ownership: borrows
/// both (the string is copied). Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_instance_config_add_arg(
    config: *mut wp_instance_config_t,
    arg: *const c_char,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.wasi.args.push(c_str(arg, "arg")?.to_string());
        Ok(())
    })
}

/// Adds the environment variable `key=value` for the guest.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL, not UTF-8, an empty key or one
/// containing `=`). Ownership: borrows all (copied). Thread-safety: one
/// thread per config.
#[no_mangle]
pub extern "C" fn wp_instance_config_add_env(
    config: *mut wp_instance_config_t,
    key: *const c_char,
    value: *const c_char,
) -> *mut wp_error_t {
    with_config(config, |c| {
        let key = c_str(key, "key")?;
        let value = c_str(value, "value")?;
        if key.is_empty() || key.contains('=') {
            return Err(Error::invalid_argument(format!(
                "environment key `{key}` is empty or contains `=`"
            )));
        }
        c.wasi.env.push((key.to_string(), value.to_string()));
        Ok(())
    })
}

/// Preopens the host directory `host_path` as `guest_path` for the guest.
/// The guest cannot leave it (`..` and symlink escapes are refused). The
/// directory is opened by `wp_instance_new` (a missing one is `WP_ERROR_IO` then).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL, not UTF-8). Ownership: borrows
/// all (copied). Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_instance_config_add_preopen(
    config: *mut wp_instance_config_t,
    host_path: *const c_char,
    guest_path: *const c_char,
) -> *mut wp_error_t {
    with_config(config, |c| {
        let host = c_str(host_path, "host_path")?;
        let guest = c_str(guest_path, "guest_path")?;
        c.wasi.preopens.push((host.into(), guest.to_string()));
        Ok(())
    })
}

/// Sets how stream `stream` (`WP_STDIO_STDIN/STDOUT/STDERR`) is connected:
/// `WP_STDIO_MODE_INHERIT`, `WP_STDIO_MODE_NULL`, or (stdout/stderr only)
/// `WP_STDIO_MODE_CAPTURE` into a buffer of each instance.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL config, unknown stream or mode,
/// capture for stdin: use `wp_instance_config_set_stdin_bytes`).
/// Ownership: borrows `config`. Thread-safety: one thread per config.
#[no_mangle]
pub extern "C" fn wp_instance_config_set_stdio(
    config: *mut wp_instance_config_t,
    stream: wp_stdio_stream_t,
    mode: wp_stdio_mode_t,
) -> *mut wp_error_t {
    with_config(config, |c| {
        let m = match mode {
            WP_STDIO_MODE_INHERIT => Mode::Inherit,
            WP_STDIO_MODE_NULL => Mode::Null,
            WP_STDIO_MODE_CAPTURE => Mode::Capture,
            other => {
                return Err(Error::invalid_argument(format!(
                    "unknown stdio mode {other}"
                )))
            }
        };
        match stream {
            WP_STDIO_STDIN => {
                c.stdin = match m {
                    Mode::Inherit => Stdin::Inherit,
                    Mode::Null => Stdin::Null,
                    Mode::Capture => {
                        return Err(Error::invalid_argument(
                            "stdin cannot be captured; use wp_instance_config_set_stdin_bytes",
                        ))
                    }
                }
            }
            WP_STDIO_STDOUT => c.stdout = m,
            WP_STDIO_STDERR => c.stderr = m,
            other => {
                return Err(Error::invalid_argument(format!(
                    "unknown stdio stream {other}"
                )))
            }
        }
        Ok(())
    })
}

/// Makes the guest's stdin read the `len` bytes at `data` (then end of file).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL config, NULL data with len > 0).
/// Ownership: borrows both (the bytes are copied). Thread-safety: one thread
/// per config.
#[no_mangle]
pub extern "C" fn wp_instance_config_set_stdin_bytes(
    config: *mut wp_instance_config_t,
    data: *const u8,
    len: usize,
) -> *mut wp_error_t {
    with_config(config, |c| {
        c.stdin = Stdin::Bytes(bytes(data, len, "data")?.to_vec());
        Ok(())
    })
}

fn stdio_for(mode: Mode) -> (Stdio, Option<Arc<RwLock<Vec<u8>>>>) {
    match mode {
        Mode::Inherit => (Stdio::Inherit, None),
        Mode::Null => (Stdio::Null, None),
        Mode::Capture => {
            let buf = Arc::new(RwLock::new(Vec::new()));
            (Stdio::Buffer(buf.clone()), Some(buf))
        }
    }
}

/// Instantiates `module` with WASI preview 1, wasi-parallel and the natives
/// of `config` (NULL: an empty config), runs its start function if any, and
/// stores the instance in `*instance_out`. Does not run `_start`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL module/instance_out),
/// `WP_ERROR_LINK` (an unresolved or mistyped import; the message names
/// `module.field` and both types), `WP_ERROR_IO` (a preopen cannot be
/// opened), `WP_ERROR_WASI`, `WP_ERROR_TRAP` (the start function trapped),
/// `WP_ERROR_RESOURCE_EXHAUSTED` (its memory or tables exceed the engine's
/// limits, e.g. `wp_config_set_max_memory_pages`).
/// Ownership: borrows `module` and `config`; the caller owns the instance and
/// frees it with `wp_instance_delete`. Thread-safety: any thread, also
/// concurrently on the same module and config.
#[no_mangle]
pub extern "C" fn wp_instance_new(
    module: *const wp_module_t,
    config: *const wp_instance_config_t,
    instance_out: *mut *mut wp_instance_t,
) -> *mut wp_error_t {
    guard(|| {
        let module = non_null(module, "module")?;
        non_null_mut(instance_out, "instance_out")?;
        let mut cfg = InstanceConfig::default();
        let (mut stdout, mut stderr) = (None, None);
        if !config.is_null() {
            let c = non_null(config, "config")?;
            cfg.wasi = c.wasi.clone();
            cfg.wasi.stdin = match &c.stdin {
                Stdin::Inherit => Stdio::Inherit,
                Stdin::Null => Stdio::Null,
                Stdin::Bytes(b) => Stdio::Buffer(Arc::new(RwLock::new(b.clone()))),
            };
            (cfg.wasi.stdout, stdout) = stdio_for(c.stdout);
            (cfg.wasi.stderr, stderr) = stdio_for(c.stderr);
            cfg.natives = c.natives.clone();
            cfg.trace = c.trace.clone();
        }
        let instance = Instance::new(&module.module, &cfg)?;
        let boxed = Box::into_raw(Box::new(wp_instance_t {
            instance,
            stdout,
            stderr,
        }));
        write_out(instance_out, boxed, "instance_out")
    })
}

/// A handle that stops the guest call running in one instance, from any
/// thread (see `wp_interrupt`).
///
/// Made by `wp_instance_interrupt_handle`, freed by
/// `wp_interrupt_handle_delete`; independent of the instance's lifetime (it
/// may outlive it). Thread-safe: `wp_interrupt` may be called on one handle
/// from any number of threads at once.
pub struct wp_interrupt_handle_t {
    handle: InterruptHandle,
}

/// Stores a new interrupt handle of `instance` in `*handle_out`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers). Ownership: borrows
/// `instance`; the caller owns the handle and frees it with
/// `wp_interrupt_handle_delete` (before or after the instance, as it likes).
/// Thread-safety: like the other calls on the instance (one thread at a
/// time); the handle itself may then go to any thread.
#[no_mangle]
pub extern "C" fn wp_instance_interrupt_handle(
    instance: *const wp_instance_t,
    handle_out: *mut *mut wp_interrupt_handle_t,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null(instance, "instance")?;
        non_null_mut(handle_out, "handle_out")?;
        let boxed = Box::into_raw(Box::new(wp_interrupt_handle_t {
            handle: inst.instance.interrupt_handle(),
        }));
        write_out(handle_out, boxed, "handle_out")
    })
}

/// Stops the guest call in progress in the handle's instance: at its next
/// check (within a few milliseconds of guest code; between two iterations,
/// interpreter fuel slices or Vulkan dispatch chunks of a running kernel)
/// the call returns an error `WP_ERROR_TRAP` of kind `WP_TRAP_INTERRUPTED`.
/// A kernel it stops is recorded like a trap (`kernel_trap`) in the
/// instance's statistics and last error. Other instances and the engine go
/// on unharmed.
///
/// Returns true when a call was in progress (it stops, unless it returns
/// first), false when none was (nothing happens: a later call is not
/// affected) or for `NULL`.
///
/// The instance remains usable afterwards: the next call starts normally.
/// As after any trap, the guest's own state is what it was when stopped
/// (e.g. a C guest's stack pointer), and buffers a stopped kernel was
/// writing hold unspecified contents; call only exports that tolerate
/// that, or delete the instance.
///
/// Not interrupted: a start function (run by `wp_instance_new`) and a host
/// function that blocks (a native of yours, a WASI read waiting for input).
///
/// Ownership: borrows `handle`. Thread-safety: any thread, any time, also
/// after the instance was deleted.
#[no_mangle]
pub extern "C" fn wp_interrupt(handle: *const wp_interrupt_handle_t) -> bool {
    super::catch(false, || {
        non_null(handle, "handle").is_ok_and(|h| h.handle.interrupt())
    })
}

/// Frees an interrupt handle. `NULL` is allowed. The instance is not affected.
///
/// Ownership: takes `handle`. Thread-safety: any thread, once, when no
/// other thread uses this handle.
#[no_mangle]
pub extern "C" fn wp_interrupt_handle_delete(handle: *mut wp_interrupt_handle_t) {
    super::delete_box(handle)
}

/// Frees an instance (its memory, buffers and captured output). `NULL` is allowed.
///
/// Ownership: takes `instance`. Thread-safety: not while another thread uses it.
#[no_mangle]
pub extern "C" fn wp_instance_delete(instance: *mut wp_instance_t) {
    super::delete_box(instance)
}

/// Calls the exported function `name` with `nargs` arguments at `args` and
/// writes its results to `results` (room for `nresults` values, which must
/// be at least the function's result count; see `wp_instance_func_type`).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers, an unknown value
/// kind), `WP_ERROR_NOT_FOUND` (no such exported function),
/// `WP_ERROR_TYPE_MISMATCH` (argument count/types, too little room for
/// results), `WP_ERROR_TRAP` (see `wp_error_trap_kind`;
/// `WP_TRAP_INTERRUPTED` after `wp_interrupt` or past the configured
/// timeout), `WP_ERROR_EXIT`
/// (the guest called `proc_exit`; see `wp_error_exit_code`).
/// Ownership: borrows everything; results are written only on success.
/// Thread-safety: one thread per instance at a time.
#[no_mangle]
pub extern "C" fn wp_instance_call(
    instance: *mut wp_instance_t,
    name: *const c_char,
    args: *const wp_val_t,
    nargs: usize,
    results: *mut wp_val_t,
    nresults: usize,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null_mut(instance, "instance")?;
        let name = c_str(name, "name")?;
        let args = slice(args, nargs, "args")?;
        let vals = args
            .iter()
            .enumerate()
            .map(|(i, a)| from_c(a, i))
            .collect::<Result<Vec<_>>>()?;
        let out = bytes_mut(results, nresults, "results")?;
        if let Some((_, res)) = inst.instance.func_type(name) {
            if res.len() > nresults {
                return Err(Error::new(
                    ErrorCode::TypeMismatch,
                    format!(
                        "`{name}` returns {} value(s) but there is room for {nresults}",
                        res.len()
                    ),
                ));
            }
        }
        let got = inst.instance.call(name, &vals)?;
        let converted = got.iter().map(to_c).collect::<Result<Vec<_>>>()?;
        out[..converted.len()].copy_from_slice(&converted);
        Ok(())
    })
}

/// The signature of the exported function `name`: stores the number of
/// parameters in `*nparams` and of results in `*nresults`, and the first
/// `params_cap` / `results_cap` value kinds into `params` / `results`
/// (which may be NULL when their capacity is 0). A type C cannot pass is
/// reported as `WP_VAL_UNSUPPORTED`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers), `WP_ERROR_NOT_FOUND`.
/// Ownership: borrows everything. Thread-safety: one thread per instance.
#[no_mangle]
pub extern "C" fn wp_instance_func_type(
    instance: *const wp_instance_t,
    name: *const c_char,
    params: *mut wp_val_kind_t,
    params_cap: usize,
    nparams: *mut usize,
    results: *mut wp_val_kind_t,
    results_cap: usize,
    nresults: *mut usize,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null(instance, "instance")?;
        let name = c_str(name, "name")?;
        let np = non_null_mut(nparams, "nparams")?;
        let nr = non_null_mut(nresults, "nresults")?;
        let p_out = bytes_mut(params, params_cap, "params")?;
        let r_out = bytes_mut(results, results_cap, "results")?;
        let (ps, rs) = inst.instance.func_type(name).ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                format!("the module exports no function `{name}`"),
            )
        })?;
        for (dst, ty) in p_out.iter_mut().zip(&ps) {
            *dst = kind_of(*ty);
        }
        for (dst, ty) in r_out.iter_mut().zip(&rs) {
            *dst = kind_of(*ty);
        }
        *np = ps.len();
        *nr = rs.len();
        Ok(())
    })
}

/// Runs the WASI command entry point `_start` and stores the guest's exit
/// code in `*exit_code`: 0 when `_start` returns, the `proc_exit` status
/// otherwise (0 to 125: WASI's runtime treats a status of 126 or more as a
/// trap, `WP_TRAP_HOST`, as wasmtime does; shells give 126 and up their own
/// meanings). A trap is an error, never an exit code.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers), `WP_ERROR_NOT_FOUND`
/// (no `_start`), `WP_ERROR_TRAP` (with a trap kind).
/// Ownership: borrows both. Thread-safety: one thread per instance.
#[no_mangle]
pub extern "C" fn wp_instance_run_start(
    instance: *mut wp_instance_t,
    exit_code: *mut i32,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null_mut(instance, "instance")?;
        non_null_mut(exit_code, "exit_code")?;
        let code = inst.instance.run_start()?;
        write_out(exit_code, code, "exit_code")
    })
}

/// Stores the size in bytes of the guest's memory in `*size`: its export
/// `memory`, else its default memory (memory 0, exported or not).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers), `WP_ERROR_NOT_FOUND`
/// (the guest has no memory). Ownership: borrows both. Thread-safety: one thread
/// per instance.
#[no_mangle]
pub extern "C" fn wp_instance_memory_size(
    instance: *const wp_instance_t,
    size: *mut u64,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null(instance, "instance")?;
        non_null_mut(size, "size")?;
        write_out(size, inst.instance.memory_size()? as u64, "size")
    })
}

/// Copies `len` bytes of guest memory at `offset` to `out`. The whole range
/// is checked first; nothing is copied if it is outside guest memory.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers), `WP_ERROR_NOT_FOUND`
/// (the guest has no memory), `WP_ERROR_OUT_OF_BOUNDS`. Ownership: borrows all.
/// Thread-safety: one thread per instance.
#[no_mangle]
pub extern "C" fn wp_instance_memory_read(
    instance: *const wp_instance_t,
    offset: u64,
    out: *mut u8,
    len: usize,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null(instance, "instance")?;
        let dst = bytes_mut(out, len, "out")?;
        inst.instance.read_memory(offset, dst)
    })
}

/// Copies the `len` bytes at `data` into guest memory at `offset`. The whole
/// range is checked first; nothing is written if it is outside guest memory.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers), `WP_ERROR_NOT_FOUND`
/// (the guest has no memory), `WP_ERROR_OUT_OF_BOUNDS`. Ownership: borrows all.
/// Thread-safety: one thread per instance.
#[no_mangle]
pub extern "C" fn wp_instance_memory_write(
    instance: *mut wp_instance_t,
    offset: u64,
    data: *const u8,
    len: usize,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null_mut(instance, "instance")?;
        let src = bytes(data, len, "data")?;
        inst.instance.write_memory(offset, src)
    })
}

/// Copies what the guest wrote so far to a captured stream
/// (`WP_STDIO_STDOUT` or `WP_STDIO_STDERR` in `WP_STDIO_MODE_CAPTURE`) into
/// `buf` (at most `cap` bytes; `buf` may be NULL when `cap` is 0) and stores
/// the full length in `*len`. Call with `cap` 0 to learn the size first.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers, a stream that is not
/// captured). Ownership: borrows all. Thread-safety: one thread per instance.
#[no_mangle]
pub extern "C" fn wp_instance_captured_output(
    instance: *const wp_instance_t,
    stream: wp_stdio_stream_t,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null(instance, "instance")?;
        let b = captured(inst, stream)?;
        let data = b
            .read()
            .map_err(|_| Error::internal("capture buffer poisoned"))?;
        copy_bytes(&data, buf, cap, len)
    })
}

/// Empties the capture buffer of `stream` (see `wp_instance_captured_output`).
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL instance, a stream that is not
/// captured). Ownership: borrows `instance`. Thread-safety: one thread per instance.
#[no_mangle]
pub extern "C" fn wp_instance_clear_captured_output(
    instance: *mut wp_instance_t,
    stream: wp_stdio_stream_t,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null(instance, "instance")?;
        let b = captured(inst, stream)?;
        b.write()
            .map_err(|_| Error::internal("capture buffer poisoned"))?
            .clear();
        Ok(())
    })
}

fn captured(inst: &wp_instance_t, stream: wp_stdio_stream_t) -> Result<&Arc<RwLock<Vec<u8>>>> {
    let b = match stream {
        WP_STDIO_STDOUT => inst.stdout.as_ref(),
        WP_STDIO_STDERR => inst.stderr.as_ref(),
        other => {
            return Err(Error::invalid_argument(format!(
                "stream {other} cannot be captured (only stdout and stderr)"
            )))
        }
    };
    b.ok_or_else(|| Error::invalid_argument(format!("stream {stream} is not captured")))
}

/// Stores the fuel left after the last guest call in `*fuel`.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers), `WP_ERROR_NOT_FOUND`
/// (fuel is not metered: the engine was configured without fuel).
/// Ownership: borrows both. Thread-safety: one thread per instance.
#[no_mangle]
pub extern "C" fn wp_instance_fuel_remaining(
    instance: *const wp_instance_t,
    fuel: *mut u64,
) -> *mut wp_error_t {
    guard(|| {
        let inst = non_null(instance, "instance")?;
        non_null_mut(fuel, "fuel")?;
        let f = inst
            .instance
            .fuel_remaining()
            .ok_or_else(|| Error::new(ErrorCode::NotFound, "fuel is not metered"))?;
        write_out(fuel, f, "fuel")
    })
}
