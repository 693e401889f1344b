//! The `wasi_ephemeral_parallel` imports on a `wasmi::Linker`.
//!
//! Each host function finds the caller's memory (the export `memory`, else
//! its default memory: `runtime::memory_alias`), borrows its bytes and the
//! host state together, and hands the raw `i32` arguments to the
//! [`ParallelContext`], which validates them. A guest without a memory gets
//! `invalid_argument`; nothing traps.

use super::context::ParallelContext;
use super::errno::Errno;
use std::panic::AssertUnwindSafe;
use wasmi::{Caller, Linker};

/// The import module name.
pub const MODULE: &str = "wasi_ephemeral_parallel";

fn with_memory<T>(
    caller: &mut Caller<'_, T>,
    get: fn(&mut T) -> &mut ParallelContext,
    what: &str,
    f: impl FnOnce(&mut ParallelContext, &mut [u8]) -> i32,
) -> i32 {
    match crate::runtime::memory_alias::guest_memory(caller) {
        Some(memory) => {
            let (bytes, data) = memory.data_and_store_mut(caller);
            let ctx = get(data);
            // A bug in the host must not unwind through the interpreter into
            // the embedder: report it to the guest as `device_error`. The
            // context stays usable (its tables are only changed by complete
            // operations).
            match std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut *ctx, bytes))) {
                Ok(code) => code,
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    ctx.set_last_error(format!(
                        "{what}: device_error: internal error (host panic): {msg}"
                    ));
                    Errno::DeviceError.code()
                }
            }
        }
        None => {
            let ctx = get(caller.data_mut());
            ctx.set_last_error(format!(
                "{what}: invalid_argument: the calling module has no memory"
            ));
            Errno::InvalidArgument.code()
        }
    }
}

/// Defines `get_device`, `create_buffer`, `write_buffer`, `read_buffer` and
/// `parallel_exec` of module `wasi_ephemeral_parallel` (all params `i32`,
/// result `i32`, the `par_errno`). `get` finds the instance's context in the
/// store data.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut ParallelContext,
) -> Result<(), wasmi::Error> {
    linker.func_wrap(
        MODULE,
        "get_device",
        move |mut caller: Caller<'_, T>, hint: i32, out: i32| -> i32 {
            with_memory(&mut caller, get, "get_device", |c, m| {
                c.get_device(m, hint, out)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "create_buffer",
        move |mut caller: Caller<'_, T>, device: i32, size: i32, access: i32, out: i32| -> i32 {
            with_memory(&mut caller, get, "create_buffer", |c, m| {
                c.create_buffer(m, device, size, access, out)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "write_buffer",
        move |mut caller: Caller<'_, T>, ptr: i32, len: i32, buffer: i32| -> i32 {
            with_memory(&mut caller, get, "write_buffer", |c, m| {
                c.write_buffer(m, ptr, len, buffer)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "read_buffer",
        move |mut caller: Caller<'_, T>, buffer: i32, ptr: i32, len: i32| -> i32 {
            with_memory(&mut caller, get, "read_buffer", |c, m| {
                c.read_buffer(m, buffer, ptr, len)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "parallel_exec",
        move |mut caller: Caller<'_, T>,
              device: i32,
              kernel_ptr: i32,
              kernel_len: i32,
              num_iterations: i32,
              block_size: i32,
              in_ptr: i32,
              in_len: i32,
              out_ptr: i32,
              out_len: i32|
              -> i32 {
            with_memory(&mut caller, get, "parallel_exec", |c, m| {
                c.parallel_exec(
                    m,
                    device,
                    kernel_ptr,
                    kernel_len,
                    num_iterations,
                    block_size,
                    in_ptr,
                    in_len,
                    out_ptr,
                    out_len,
                )
            })
        },
    )?;
    Ok(())
}
