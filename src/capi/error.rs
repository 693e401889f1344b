//! `wp_error_t`: the error object every fallible C function returns.

use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, ErrorCode, Result, TrapKind};

/// The stable numeric code of a `wp_error_t` (the values of the Rust
/// `ErrorCode`; never renumbered).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum wp_error_code_t {
    /// No error (what `wp_error_code(NULL)` returns).
    WP_ERROR_OK = 0,
    /// A bad argument: a NULL pointer, a malformed string, an out-of-range value.
    WP_ERROR_INVALID_ARGUMENT = 1,
    /// The bytes are not a valid WebAssembly module (or WAT text).
    WP_ERROR_INVALID_MODULE = 2,
    /// An import is unresolved or mistyped (the message names `module.field`).
    WP_ERROR_LINK = 3,
    /// The guest trapped (see `wp_error_trap_kind`).
    WP_ERROR_TRAP = 4,
    /// The guest called `proc_exit` (see `wp_error_exit_code`).
    WP_ERROR_EXIT = 5,
    /// No such export (or device).
    WP_ERROR_NOT_FOUND = 6,
    /// Argument count or types do not match the function signature.
    WP_ERROR_TYPE_MISMATCH = 7,
    /// A guest memory range is outside the guest's memory.
    WP_ERROR_OUT_OF_BOUNDS = 8,
    /// A host I/O operation failed (reading a file, opening a preopen).
    WP_ERROR_IO = 9,
    /// A configured limit was exceeded.
    WP_ERROR_RESOURCE_EXHAUSTED = 10,
    /// The WASI context could not be set up.
    WP_ERROR_WASI = 11,
    /// A failure inside the runtime (includes a caught panic).
    WP_ERROR_INTERNAL = 12,
}

impl From<ErrorCode> for wp_error_code_t {
    fn from(c: ErrorCode) -> Self {
        use wp_error_code_t::*;
        match c {
            ErrorCode::Ok => WP_ERROR_OK,
            ErrorCode::InvalidArgument => WP_ERROR_INVALID_ARGUMENT,
            ErrorCode::InvalidModule => WP_ERROR_INVALID_MODULE,
            ErrorCode::Link => WP_ERROR_LINK,
            ErrorCode::Trap => WP_ERROR_TRAP,
            ErrorCode::Exit => WP_ERROR_EXIT,
            ErrorCode::NotFound => WP_ERROR_NOT_FOUND,
            ErrorCode::TypeMismatch => WP_ERROR_TYPE_MISMATCH,
            ErrorCode::OutOfBounds => WP_ERROR_OUT_OF_BOUNDS,
            ErrorCode::Io => WP_ERROR_IO,
            ErrorCode::ResourceExhausted => WP_ERROR_RESOURCE_EXHAUSTED,
            ErrorCode::Wasi => WP_ERROR_WASI,
            ErrorCode::Internal => WP_ERROR_INTERNAL,
        }
    }
}

/// Why a guest stopped abnormally (the values of the Rust `TrapKind`).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum wp_trap_kind_t {
    /// Not a trap.
    WP_TRAP_NONE = 0,
    /// `unreachable` executed.
    WP_TRAP_UNREACHABLE = 1,
    /// A memory access outside linear memory.
    WP_TRAP_MEMORY_OUT_OF_BOUNDS = 2,
    /// A table access outside the table.
    WP_TRAP_TABLE_OUT_OF_BOUNDS = 3,
    /// `call_indirect` to a null entry.
    WP_TRAP_INDIRECT_CALL_TO_NULL = 4,
    /// Integer division by zero.
    WP_TRAP_INTEGER_DIVISION_BY_ZERO = 5,
    /// Integer overflow (e.g. `INT_MIN / -1`).
    WP_TRAP_INTEGER_OVERFLOW = 6,
    /// A float that cannot be converted to an integer.
    WP_TRAP_BAD_CONVERSION_TO_INTEGER = 7,
    /// The call stack is exhausted.
    WP_TRAP_STACK_OVERFLOW = 8,
    /// `call_indirect` with a mismatched signature.
    WP_TRAP_BAD_SIGNATURE = 9,
    /// The configured fuel ran out.
    WP_TRAP_OUT_OF_FUEL = 10,
    /// A growth operation was refused by a limit.
    WP_TRAP_GROWTH_OPERATION_LIMITED = 11,
    /// A host function (a native, WASI) failed or raised an exception.
    WP_TRAP_HOST = 12,
    /// The host could not allocate memory for the guest.
    WP_TRAP_OUT_OF_SYSTEM_MEMORY = 13,
    /// The call was stopped: `wp_interrupt` from another thread, or the
    /// call ran past its deadline (`wp_config_set_timeout`). The message
    /// says which. The instance may be called again (see `wp_interrupt`).
    WP_TRAP_INTERRUPTED = 14,
}

impl From<TrapKind> for wp_trap_kind_t {
    fn from(k: TrapKind) -> Self {
        use wp_trap_kind_t::*;
        match k {
            TrapKind::None => WP_TRAP_NONE,
            TrapKind::Unreachable => WP_TRAP_UNREACHABLE,
            TrapKind::MemoryOutOfBounds => WP_TRAP_MEMORY_OUT_OF_BOUNDS,
            TrapKind::TableOutOfBounds => WP_TRAP_TABLE_OUT_OF_BOUNDS,
            TrapKind::IndirectCallToNull => WP_TRAP_INDIRECT_CALL_TO_NULL,
            TrapKind::IntegerDivisionByZero => WP_TRAP_INTEGER_DIVISION_BY_ZERO,
            TrapKind::IntegerOverflow => WP_TRAP_INTEGER_OVERFLOW,
            TrapKind::BadConversionToInteger => WP_TRAP_BAD_CONVERSION_TO_INTEGER,
            TrapKind::StackOverflow => WP_TRAP_STACK_OVERFLOW,
            TrapKind::BadSignature => WP_TRAP_BAD_SIGNATURE,
            TrapKind::OutOfFuel => WP_TRAP_OUT_OF_FUEL,
            TrapKind::GrowthOperationLimited => WP_TRAP_GROWTH_OPERATION_LIMITED,
            TrapKind::Host => WP_TRAP_HOST,
            TrapKind::OutOfSystemMemory => WP_TRAP_OUT_OF_SYSTEM_MEMORY,
            TrapKind::Interrupted => WP_TRAP_INTERRUPTED,
        }
    }
}

/// An error: a stable numeric code (`wp_error_code_t`), a message, and for
/// traps the trap kind, for `proc_exit` the exit code.
///
/// Owned by the caller that received it; free it with `wp_error_delete`.
/// Immutable: its accessors may be called from any thread.
pub struct wp_error_t {
    code: ErrorCode,
    trap: TrapKind,
    exit_code: Option<i32>,
    message: CString,
}

impl From<Error> for wp_error_t {
    fn from(e: Error) -> Self {
        let message = CString::new(e.message().replace('\0', "\\0"))
            .unwrap_or_else(|_| CString::from(c"error message unavailable"));
        wp_error_t {
            code: e.code(),
            trap: e.trap_kind(),
            exit_code: e.exit_code(),
            message,
        }
    }
}

impl wp_error_t {
    /// The Rust error back (for Rust callers of the C API and tests).
    pub fn to_error(&self) -> Error {
        let msg = self.message.to_string_lossy().into_owned();
        match (self.code, self.exit_code) {
            (ErrorCode::Exit, Some(code)) => Error::exit(code),
            (ErrorCode::Trap, _) => Error::trap(self.trap, msg),
            (code, _) => Error::new(code, msg),
        }
    }
}

/// Turns an error into an owned `wp_error_t *` for C.
pub(crate) fn into_raw(e: Error) -> *mut wp_error_t {
    Box::into_raw(Box::new(wp_error_t::from(e)))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Runs the body of a fallible C function: `NULL` on success, an owned
/// error otherwise, and an `Internal` error if the body panicked.
pub(crate) fn guard(f: impl FnOnce() -> Result<()>) -> *mut wp_error_t {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => std::ptr::null_mut(),
        Ok(Err(e)) => into_raw(e),
        Err(p) => into_raw(Error::internal(format!(
            "internal error (panic caught at the C boundary): {}",
            panic_message(&*p)
        ))),
    }
}

/// The error's stable numeric code. `NULL` (success) gives `WP_ERROR_OK`.
///
/// Ownership: borrows `error`. Thread-safety: may be called from any thread.
#[no_mangle]
pub extern "C" fn wp_error_code(error: *const wp_error_t) -> wp_error_code_t {
    super::catch(wp_error_code_t::WP_ERROR_INTERNAL, || {
        super::non_null(error, "error").map_or(wp_error_code_t::WP_ERROR_OK, |e| e.code.into())
    })
}

/// The error's message: a NUL-terminated UTF-8 string, one line for most
/// errors. `NULL` gives `""`.
///
/// Ownership: the string belongs to `error` and is valid until
/// `wp_error_delete(error)`; do not free it. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_error_message(error: *const wp_error_t) -> *const c_char {
    super::catch(c"".as_ptr(), || match super::non_null(error, "error") {
        Ok(e) => e.message.as_ptr(),
        Err(_) => c"".as_ptr(),
    })
}

/// Why the guest trapped when `wp_error_code(error) == WP_ERROR_TRAP`,
/// otherwise `WP_TRAP_NONE` (also for `NULL`).
///
/// Ownership: borrows `error`. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_error_trap_kind(error: *const wp_error_t) -> wp_trap_kind_t {
    super::catch(wp_trap_kind_t::WP_TRAP_NONE, || {
        super::non_null(error, "error").map_or(wp_trap_kind_t::WP_TRAP_NONE, |e| e.trap.into())
    })
}

/// When the error is `WP_ERROR_EXIT` (the guest called `proc_exit`), stores
/// the exit code in `*exit_code` and returns true; otherwise returns false
/// and leaves `*exit_code` alone. False for a `NULL` argument.
///
/// Ownership: borrows both. Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn wp_error_exit_code(error: *const wp_error_t, exit_code: *mut i32) -> bool {
    super::catch(false, || {
        let (Ok(e), Ok(out)) = (
            super::non_null(error, "error"),
            super::non_null_mut(exit_code, "exit_code"),
        ) else {
            return false;
        };
        match e.exit_code {
            Some(c) => {
                *out = c;
                true
            }
            None => false,
        }
    })
}

/// Frees an error. `NULL` is allowed (nothing happens).
///
/// Ownership: takes `error`, which must not be used afterwards.
/// Thread-safety: any thread, but only once per error.
#[no_mangle]
pub extern "C" fn wp_error_delete(error: *mut wp_error_t) {
    super::delete_box(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_codes_equal_the_rust_codes() {
        use ErrorCode as E;
        for c in [
            E::Ok,
            E::InvalidArgument,
            E::InvalidModule,
            E::Link,
            E::Trap,
            E::Exit,
            E::NotFound,
            E::TypeMismatch,
            E::OutOfBounds,
            E::Io,
            E::ResourceExhausted,
            E::Wasi,
            E::Internal,
        ] {
            assert_eq!(wp_error_code_t::from(c) as i32, c as i32, "{c:?}");
        }
        use TrapKind as T;
        for k in [
            T::None,
            T::Unreachable,
            T::MemoryOutOfBounds,
            T::TableOutOfBounds,
            T::IndirectCallToNull,
            T::IntegerDivisionByZero,
            T::IntegerOverflow,
            T::BadConversionToInteger,
            T::StackOverflow,
            T::BadSignature,
            T::OutOfFuel,
            T::GrowthOperationLimited,
            T::Host,
            T::OutOfSystemMemory,
            T::Interrupted,
        ] {
            assert_eq!(wp_trap_kind_t::from(k) as i32, k as i32, "{k:?}");
        }
    }

    #[test]
    fn null_error_means_success() {
        assert_eq!(
            wp_error_code(std::ptr::null()),
            wp_error_code_t::WP_ERROR_OK
        );
        assert_eq!(
            wp_error_trap_kind(std::ptr::null()),
            wp_trap_kind_t::WP_TRAP_NONE
        );
        let mut c = 7;
        assert!(!wp_error_exit_code(std::ptr::null(), &mut c));
        assert_eq!(c, 7);
        wp_error_delete(std::ptr::null_mut());
    }

    #[test]
    fn guard_turns_panics_into_internal_errors() {
        let e = guard(|| panic!("boom"));
        assert_eq!(wp_error_code(e), wp_error_code_t::WP_ERROR_INTERNAL);
        // SAFETY: `wp_error_message` returns a NUL-terminated string owned by `e`.
        let msg = unsafe { std::ffi::CStr::from_ptr(wp_error_message(e)) };
        assert!(msg.to_str().unwrap().contains("boom"));
        wp_error_delete(e);
    }
}
