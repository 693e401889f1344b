//! Host natives registered WAMR-style: a table of
//! `{name, function pointer, signature, attachment}` under a module name,
//! called with WAMR's raw convention `void fn(wp_exec_env_t *, uint64_t *args)`.
//!
//! Signature letters (WAMR's): `(params)result` with `i` i32, `I` i64,
//! `f` f32, `F` f64, `*` a guest pointer (checked and translated to a host
//! pointer), `~` the byte length of the preceding `*` (the whole range is
//! checked), `$` a NUL-terminated string (checked to end inside memory,
//! translated). At most one result, of `i I f F`.

use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;

use super::error::{guard, wp_error_t};
use super::instance::wp_instance_config_t;
use super::{c_str, non_null_mut, slice};
use crate::error::{Error, ErrorCode, Result, TrapKind};
use crate::runtime::natives::{checked_range, NativeCaller};
use crate::{Val, ValType};

/// What a native sees while it runs: its attachment, the calling guest's
/// memory, and a way to abort the guest.
///
/// Owned by the runtime and valid only during the native call it is passed
/// to; never keep it. Use it only on the thread that called the native.
pub struct wp_exec_env_t {
    memory: *mut u8,
    memory_len: usize,
    attachment: *mut c_void,
    exception: Option<String>,
}

/// A native function with the raw calling convention: `args` holds one
/// 64-bit slot per parameter (at least one slot): `i` as `(int32_t)args[n]`,
/// `I` as `(int64_t)args[n]`, `f`/`F` as the IEEE bits in the low 32/64 bits,
/// `*` and `$` as a host pointer `(void *)(uintptr_t)args[n]`, `~` as the
/// byte length. A result is written to `args[0]` the same way. The inline
/// helpers `wp_slot_i32/i64/f32/f64/ptr` and `wp_i32_slot/...` at the end of
/// this header convert. A C function must not unwind (no C++ exceptions,
/// no longjmp out of it).
pub type wp_native_fn_t = Option<unsafe extern "C" fn(env: *mut wp_exec_env_t, args: *mut u64)>;

/// One entry of a native table (like WAMR's `NativeSymbol`).
#[repr(C)]
#[derive(Copy, Clone)]
pub struct wp_native_symbol_t {
    /// The import's field name (NUL-terminated UTF-8).
    pub symbol: *const c_char,
    /// The function.
    pub func_ptr: wp_native_fn_t,
    /// Its signature, e.g. `"(ii*~$)i"` (NUL-terminated).
    pub signature: *const c_char,
    /// Passed back by `wp_exec_env_get_attachment`; may be NULL.
    pub attachment: *mut c_void,
}

/// A parsed signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Signature {
    pub params: Vec<u8>,
    pub result: Option<u8>,
}

impl Signature {
    fn val_type(letter: u8) -> ValType {
        match letter {
            b'I' => ValType::I64,
            b'f' => ValType::F32,
            b'F' => ValType::F64,
            _ => ValType::I32,
        }
    }
    pub(crate) fn params(&self) -> Vec<ValType> {
        self.params.iter().map(|&l| Self::val_type(l)).collect()
    }
    pub(crate) fn results(&self) -> Vec<ValType> {
        self.result.iter().map(|&l| Self::val_type(l)).collect()
    }
}

/// Parses a WAMR signature string such as `(ii*~$)i` or `()`.
pub(crate) fn parse_signature(sig: &str) -> Result<Signature> {
    let bad = |why: &str| Error::invalid_argument(format!("bad native signature `{sig}`: {why}"));
    let rest = sig
        .strip_prefix('(')
        .ok_or_else(|| bad("must start with `(`"))?;
    let close = rest.find(')').ok_or_else(|| bad("missing `)`"))?;
    let (params, result) = (&rest.as_bytes()[..close], &rest.as_bytes()[close + 1..]);
    for (i, &l) in params.iter().enumerate() {
        match l {
            b'i' | b'I' | b'f' | b'F' | b'*' | b'$' => {}
            b'~' if i > 0 && params[i - 1] == b'*' => {}
            b'~' => return Err(bad("`~` must follow `*`")),
            other => {
                return Err(bad(&format!(
                    "unknown parameter letter `{}`",
                    other as char
                )))
            }
        }
    }
    let result = match result {
        [] => None,
        [l @ (b'i' | b'I' | b'f' | b'F')] => Some(*l),
        [_] => return Err(bad("the result must be one of i I f F")),
        _ => return Err(bad("at most one result")),
    };
    Ok(Signature {
        params: params.to_vec(),
        result,
    })
}

/// The C function and attachment of a native.
#[derive(Clone, Copy)]
struct RawNative {
    func: unsafe extern "C" fn(*mut wp_exec_env_t, *mut u64),
    attachment: *mut c_void,
}

// SAFETY: the function pointer and the attachment are opaque to Rust; the C
// API documents that a registered native (and its attachment) must be
// callable from whichever thread calls into an instance that imports it.
unsafe impl Send for RawNative {}
// SAFETY: as above; Rust never dereferences the attachment.
unsafe impl Sync for RawNative {}

/// Calls a raw native: marshals arguments (checking and translating
/// pointers), runs it, and reads back the result or the exception.
fn call_raw(
    raw: RawNative,
    sig: &Signature,
    caller: &mut NativeCaller<'_, '_>,
    params: &[Val],
    results: &mut [Val],
) -> Result<()> {
    let needs_memory = sig.params.iter().any(|l| matches!(l, b'*' | b'$'));
    let (mem_ptr, mem_len) = match caller.memory_mut() {
        Some(m) => (m.as_mut_ptr(), m.len()),
        None if needs_memory => {
            return Err(Error::new(
                ErrorCode::NotFound,
                "native takes pointers but the guest has no memory",
            ))
        }
        None => (std::ptr::null_mut(), 0),
    };
    let mut slots = vec![0u64; params.len().max(1)];
    let as_u32 = |v: &Val| match v {
        Val::I32(x) => *x as u32,
        _ => 0,
    };
    for (i, (&letter, v)) in sig.params.iter().zip(params).enumerate() {
        slots[i] = match (letter, v) {
            (b'*', _) => {
                let off = as_u32(v) as u64;
                let len = match sig.params.get(i + 1) {
                    Some(b'~') => as_u32(&params[i + 1]) as u64,
                    _ => 1,
                };
                let r = checked_range(mem_len, off, len)?;
                // SAFETY: `r` lies within the guest memory of `mem_len` bytes at `mem_ptr`.
                (unsafe { mem_ptr.add(r.start) }) as usize as u64
            }
            (b'$', _) => {
                let off = as_u32(v) as usize;
                // SAFETY: the guest memory is `mem_len` initialised bytes at
                // `mem_ptr`, not otherwise borrowed during the native call.
                let mem = unsafe { std::slice::from_raw_parts(mem_ptr, mem_len) };
                match mem
                    .get(off..)
                    .and_then(|tail| tail.iter().position(|&b| b == 0))
                {
                    Some(_) => {
                        // SAFETY: `off < mem_len`: a NUL was found at or after it.
                        (unsafe { mem_ptr.add(off) }) as usize as u64
                    }
                    None => {
                        return Err(Error::new(
                            ErrorCode::OutOfBounds,
                            format!(
                                "string argument {i} at {off} does not end inside guest memory"
                            ),
                        ))
                    }
                }
            }
            (_, Val::I32(x)) => *x as u32 as u64,
            (_, Val::I64(x)) => *x as u64,
            (_, Val::F32(x)) => f32::from(*x).to_bits() as u64,
            (_, Val::F64(x)) => f64::from(*x).to_bits(),
            _ => return Err(Error::internal("native argument of an unexpected type")),
        };
    }
    let mut env = wp_exec_env_t {
        memory: mem_ptr,
        memory_len: mem_len,
        attachment: raw.attachment,
        exception: None,
    };
    // SAFETY: `raw.func` is the C function registered for this signature;
    // `env` and `slots` (at least one slot per parameter, and >= 1) live for
    // the whole call. A C function cannot unwind into Rust.
    unsafe { (raw.func)(&mut env, slots.as_mut_ptr()) };
    if let Some(msg) = env.exception {
        return Err(Error::trap(TrapKind::Host, msg));
    }
    if let (Some(letter), Some(out)) = (sig.result, results.first_mut()) {
        let s = slots[0];
        *out = match letter {
            b'I' => Val::I64(s as i64),
            b'f' => Val::F32(f32::from_bits(s as u32).into()),
            b'F' => Val::F64(f64::from_bits(s).into()),
            _ => Val::I32(s as u32 as i32),
        };
    }
    Ok(())
}

/// Registers `count` natives from `symbols` under import module
/// `module_name` (WAMR's `wasm_runtime_register_natives`). Each needs a
/// symbol, a function pointer and a valid signature; every entry is checked
/// before any is added. Guests instantiated with this config can import them.
///
/// Errors: `WP_ERROR_INVALID_ARGUMENT` (NULL pointers, a bad signature, a
/// name defined twice, a module the runtime defines itself:
/// `wasi_snapshot_preview1`, `wasi_ephemeral_parallel`; the message names
/// the entry).
/// Ownership: borrows `config`, `module_name` and `symbols` (names and
/// signatures are copied); the attachments are not owned by the runtime and
/// must stay valid while instances made with this config exist.
/// Thread-safety: one thread per config. The natives themselves are called
/// on whatever thread calls into an instance, so they and their
/// attachments must be safe to use from that thread.
#[no_mangle]
pub extern "C" fn wp_instance_config_register_natives(
    config: *mut wp_instance_config_t,
    module_name: *const c_char,
    symbols: *const wp_native_symbol_t,
    count: usize,
) -> *mut wp_error_t {
    guard(|| {
        let cfg = non_null_mut(config, "config")?;
        let module = c_str(module_name, "module_name")?;
        let table = slice(symbols, count, "symbols")?;
        let mut natives = cfg.natives.clone();
        for (i, entry) in table.iter().enumerate() {
            let name = c_str(entry.symbol, &format!("symbols[{i}].symbol"))?;
            let func = entry.func_ptr.ok_or_else(|| {
                Error::invalid_argument(format!("native `{module}.{name}`: func_ptr is NULL"))
            })?;
            let sig_str = c_str(entry.signature, &format!("symbols[{i}].signature"))?;
            let sig = parse_signature(sig_str).map_err(|e| {
                Error::invalid_argument(format!("native `{module}.{name}`: {}", e.message()))
            })?;
            let raw = RawNative {
                func,
                attachment: entry.attachment,
            };
            let (params, results) = (sig.params(), sig.results());
            let callback: crate::runtime::NativeCallback =
                Arc::new(move |caller, args, res| call_raw(raw, &sig, caller, args, res));
            natives.define(module, name, &params, &results, callback)?;
        }
        cfg.natives = natives;
        Ok(())
    })
}

fn env_ref<'a>(env: *const wp_exec_env_t) -> Option<&'a wp_exec_env_t> {
    // SAFETY: a non-NULL env is the one the runtime passed to the running
    // native (documented: valid only during that call).
    unsafe { env.as_ref() }
}

fn env_mut<'a>(env: *mut wp_exec_env_t) -> Option<&'a mut wp_exec_env_t> {
    // SAFETY: see `env_ref`; exclusive because only the running native has it.
    unsafe { env.as_mut() }
}

/// The message of `wp_exec_env_set_exception` (NULL: a generic one).
fn exception_message(message: *const c_char) -> String {
    if message.is_null() {
        "a host native raised an exception".to_string()
    } else {
        // SAFETY: not NULL; the caller passes a NUL-terminated string.
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    }
}

/// `*ptr = value` unless `ptr` is NULL.
fn write_if_not_null<T>(ptr: *mut T, value: T) {
    // SAFETY: NULL-checked by `as_mut`; the caller passes a writable `T`.
    if let Some(s) = unsafe { ptr.as_mut() } {
        *s = value;
    }
}

/// The attachment of the running native (as registered), or NULL.
///
/// Ownership: the attachment belongs to the embedder. Thread-safety: only
/// inside the native call, on its thread.
#[no_mangle]
pub extern "C" fn wp_exec_env_get_attachment(env: *const wp_exec_env_t) -> *mut c_void {
    super::catch(std::ptr::null_mut(), || {
        env_ref(env).map_or(std::ptr::null_mut(), |e| e.attachment)
    })
}

/// Aborts the calling guest when the native returns: the guest call fails
/// with `WP_ERROR_TRAP`, trap kind `WP_TRAP_HOST` and `message` (NULL: a
/// generic message). The native's result is ignored. NULL `env`: no effect.
///
/// Ownership: borrows `message` (copied). Thread-safety: only inside the
/// native call, on its thread.
#[no_mangle]
pub extern "C" fn wp_exec_env_set_exception(env: *mut wp_exec_env_t, message: *const c_char) {
    super::catch((), || {
        let Some(e) = env_mut(env) else {
            return;
        };
        e.exception = Some(exception_message(message));
    })
}

/// The calling guest's memory: its base address, and its size in bytes in
/// `*size` (if `size` is not NULL): its export `memory`, else its default
/// memory. NULL if the guest has no memory.
///
/// Ownership: the memory belongs to the instance; the pointer is valid only
/// during the native call. Thread-safety: only inside the native call.
#[no_mangle]
pub extern "C" fn wp_exec_env_memory(env: *const wp_exec_env_t, size: *mut usize) -> *mut u8 {
    super::catch(std::ptr::null_mut(), || {
        let Some(e) = env_ref(env) else {
            return std::ptr::null_mut();
        };
        write_if_not_null(size, e.memory_len);
        e.memory
    })
}

/// Whether the guest range `[offset, offset + size)` lies inside guest memory.
///
/// Thread-safety: only inside the native call.
#[no_mangle]
pub extern "C" fn wp_exec_env_validate_app_addr(
    env: *const wp_exec_env_t,
    offset: u64,
    size: u64,
) -> bool {
    super::catch(false, || {
        env_ref(env).is_some_and(|e| {
            !e.memory.is_null() && checked_range(e.memory_len, offset, size).is_ok()
        })
    })
}

/// The host address of guest range `[offset, offset + size)`, or NULL when
/// it is not inside guest memory.
///
/// Ownership: points into the instance's memory; valid only during the
/// native call. Thread-safety: only inside the native call.
#[no_mangle]
pub extern "C" fn wp_exec_env_app_to_native(
    env: *const wp_exec_env_t,
    offset: u64,
    size: u64,
) -> *mut c_void {
    super::catch(std::ptr::null_mut(), || {
        let Some(e) = env_ref(env) else {
            return std::ptr::null_mut();
        };
        match checked_range(e.memory_len, offset, size) {
            // SAFETY: the range lies within the `memory_len` bytes at `memory`.
            Ok(r) if !e.memory.is_null() => unsafe { e.memory.add(r.start) as *mut c_void },
            _ => std::ptr::null_mut(),
        }
    })
}

/// The guest offset of host address `ptr` if it points into guest memory:
/// stores it in `*offset` and returns true; false otherwise.
///
/// Thread-safety: only inside the native call.
#[no_mangle]
pub extern "C" fn wp_exec_env_native_to_app(
    env: *const wp_exec_env_t,
    ptr: *const c_void,
    offset: *mut u64,
) -> bool {
    super::catch(false, || {
        let (Some(e), Ok(out)) = (env_ref(env), non_null_mut(offset, "offset")) else {
            return false;
        };
        let (base, p) = (e.memory as usize, ptr as usize);
        // Into memory: the last byte is at `base + len - 1`; one past the
        // end is not a guest address (app_to_native refuses it too).
        if e.memory.is_null() || p < base || p >= base + e.memory_len {
            return false;
        }
        *out = (p - base) as u64;
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_parse_like_wamr() {
        let s = parse_signature("(ii*~$)i").unwrap();
        assert_eq!(s.params, b"ii*~$");
        assert_eq!(s.result, Some(b'i'));
        assert_eq!(s.params(), vec![ValType::I32; 5]);
        let s = parse_signature("(IfF)F").unwrap();
        assert_eq!(s.params(), vec![ValType::I64, ValType::F32, ValType::F64]);
        assert_eq!(s.results(), vec![ValType::F64]);
        assert_eq!(parse_signature("()").unwrap().result, None);
        for bad in ["", "ii", "(i", "(x)", "(~)", "(i~)", "()ii", "()*", "(i)$"] {
            let e = parse_signature(bad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidArgument, "{bad}");
            assert!(
                e.message().contains("bad native signature"),
                "{bad}: {}",
                e.message()
            );
        }
    }
}
