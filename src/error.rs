//! The one error type of the library, with a stable numeric code.
//!
//! Every fallible operation of the Rust API returns [`Error`]; the C API
//! hands the same code and message to C callers (`wp_error_code`,
//! `wp_error_message`). Codes are part of the ABI: never renumber them.

use std::fmt;

/// Stable numeric error codes (also the C enum `wp_error_code_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No error.
    Ok = 0,
    /// A caller passed a bad argument (a null pointer, a malformed string, an out-of-range value).
    InvalidArgument = 1,
    /// The bytes are not a valid WebAssembly module (or WAT text).
    InvalidModule = 2,
    /// An import could not be resolved, or resolved to a definition of another type.
    Link = 3,
    /// The guest trapped (see the trap kind).
    Trap = 4,
    /// The guest called `proc_exit`; the exit code is attached.
    Exit = 5,
    /// The named export does not exist or is not of the requested kind.
    NotFound = 6,
    /// Argument count or types do not match the function signature.
    TypeMismatch = 7,
    /// A guest memory range is outside the guest's memory.
    OutOfBounds = 8,
    /// A host I/O operation failed (reading a file, opening a preopen).
    Io = 9,
    /// A configured limit was exceeded.
    ResourceExhausted = 10,
    /// The WASI context could not be set up.
    Wasi = 11,
    /// A failure inside the runtime that is not the caller's fault (includes a caught panic).
    Internal = 12,
}

/// Why a guest stopped abnormally (also the C enum `wp_trap_kind_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrapKind {
    /// Not a trap.
    None = 0,
    Unreachable = 1,
    MemoryOutOfBounds = 2,
    TableOutOfBounds = 3,
    IndirectCallToNull = 4,
    IntegerDivisionByZero = 5,
    IntegerOverflow = 6,
    BadConversionToInteger = 7,
    StackOverflow = 8,
    BadSignature = 9,
    OutOfFuel = 10,
    GrowthOperationLimited = 11,
    /// A host function (native, WASI) failed and aborted the guest.
    Host = 12,
    /// The host could not allocate memory for the guest.
    OutOfSystemMemory = 13,
    /// The call was stopped by an interrupt from the host
    /// ([`crate::InterruptHandle::interrupt`]) or ran past its deadline
    /// (`Config::timeout`); the message says which.
    Interrupted = 14,
}

impl TrapKind {
    pub(crate) fn from_wasmi(code: wasmi::TrapCode) -> Self {
        use wasmi::TrapCode as T;
        match code {
            T::UnreachableCodeReached => Self::Unreachable,
            T::MemoryOutOfBounds => Self::MemoryOutOfBounds,
            T::TableOutOfBounds => Self::TableOutOfBounds,
            T::IndirectCallToNull => Self::IndirectCallToNull,
            T::IntegerDivisionByZero => Self::IntegerDivisionByZero,
            T::IntegerOverflow => Self::IntegerOverflow,
            T::BadConversionToInteger => Self::BadConversionToInteger,
            T::StackOverflow => Self::StackOverflow,
            T::BadSignature => Self::BadSignature,
            T::OutOfFuel => Self::OutOfFuel,
            T::GrowthOperationLimited => Self::GrowthOperationLimited,
            T::OutOfSystemMemory => Self::OutOfSystemMemory,
        }
    }
}

/// An error with a stable code, a message, and for traps/exits the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: String,
    trap: TrapKind,
    exit_code: Option<i32>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            trap: TrapKind::None,
            exit_code: None,
        }
    }
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
    pub fn trap(kind: TrapKind, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Trap,
            message: message.into(),
            trap: kind,
            exit_code: None,
        }
    }
    pub fn exit(status: i32) -> Self {
        Self {
            code: ErrorCode::Exit,
            message: format!("guest exited with code {status}"),
            trap: TrapKind::None,
            exit_code: Some(status),
        }
    }
    pub fn code(&self) -> ErrorCode {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The trap kind when `code() == ErrorCode::Trap`, else `TrapKind::None`.
    pub fn trap_kind(&self) -> TrapKind {
        self.trap
    }
    /// The guest's exit status when it called `proc_exit`.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }

    /// Classifies an error that came out of wasmi while running guest code.
    pub(crate) fn from_execution(err: wasmi::Error) -> Self {
        use wasmi::errors::ErrorKind;
        if let Some(status) = err.i32_exit_status() {
            return Self::exit(status);
        }
        if let Some(stop) = err.downcast_ref::<crate::runtime::interrupt::GuestStopped>() {
            return Self::trap(TrapKind::Interrupted, stop.to_string());
        }
        if let Some(code) = err.as_trap_code() {
            let kind = TrapKind::from_wasmi(code);
            return Self::trap(kind, format!("wasm trap: {code}"));
        }
        match err.kind() {
            ErrorKind::Message(m) => {
                Self::trap(TrapKind::Host, format!("host function failed: {m}"))
            }
            ErrorKind::Host(h) => Self::trap(TrapKind::Host, format!("host function failed: {h}")),
            ErrorKind::Fuel(f) => Self::trap(TrapKind::OutOfFuel, format!("{f}")),
            ErrorKind::Memory(m) => Self::new(ErrorCode::ResourceExhausted, format!("memory: {m}")),
            ErrorKind::Linker(_) | ErrorKind::Instantiation(_) => link_error(&err),
            _ => Self::trap(TrapKind::Host, err.to_string()),
        }
    }
}

/// Builds a readable link error naming `module.field` and both types.
pub(crate) fn link_error(err: &wasmi::Error) -> Error {
    use wasmi::errors::{ErrorKind, InstantiationError, LinkerError};
    let msg = match err.kind() {
        ErrorKind::Linker(LinkerError::MissingDefinition { name, ty }) => format!(
            "unresolved import `{}.{}`: the module expects {} but the host defines nothing under that name",
            name.module(),
            name.name(),
            crate::runtime::types::describe_extern(ty)
        ),
        ErrorKind::Linker(LinkerError::InvalidTypeDefinition {
            name,
            expected,
            found,
        }) => format!(
            "mistyped import `{}.{}`: the module expects {} but the host provides {}",
            name.module(),
            name.name(),
            crate::runtime::types::describe_extern(expected),
            crate::runtime::types::describe_extern(found)
        ),
        ErrorKind::Instantiation(InstantiationError::FuncTypeMismatch {
            name,
            expected,
            actual,
        }) => format!(
            "mistyped import `{}.{}`: the module expects function {} but the host provides function {}",
            name.module(),
            name.name(),
            crate::runtime::types::describe_func(expected),
            crate::runtime::types::describe_func(actual)
        ),
        // A memory or table the configured limits (or the host) refuse:
        // not a linking problem.
        ErrorKind::Instantiation(
            InstantiationError::FailedToInstantiateMemory(_)
            | InstantiationError::FailedToInstantiateTable(_)
            | InstantiationError::TooManyInstances
            | InstantiationError::TooManyTables
            | InstantiationError::TooManyMemories,
        ) => {
            return Error::new(
                ErrorCode::ResourceExhausted,
                format!("instantiation failed: {err}"),
            )
        }
        _ => format!("instantiation failed: {err}"),
    };
    Error::new(ErrorCode::Link, msg)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
