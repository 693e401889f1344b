//! The `par_errno` error codes of the wasi-parallel ABI (ABI.md section 3) and
//! the error value every layer of `parallel` returns.

use std::fmt;

/// Error code returned to the guest by every `wasi_ephemeral_parallel` import.
///
/// The values are fixed by the project's ABI contract; `Success` is the only
/// one the upstream proposal defines.
#[repr(i32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// The call succeeded.
    Success = 0,
    /// An enum value out of range or a malformed argument.
    InvalidArgument = 1,
    /// Unknown, stale or foreign device/buffer handle, or a buffer of another device.
    InvalidHandle = 2,
    /// A guest pointer range outside guest memory, or a length larger than the buffer.
    OutOfBounds = 3,
    /// Kernel bytes that do not decode/validate or do not follow the kernel ABI.
    InvalidKernel = 4,
    /// An iteration trapped or ran out of fuel.
    KernelTrap = 5,
    /// A configured limit or device memory is exceeded.
    ResourceExhausted = 6,
    /// The device failed.
    DeviceError = 7,
    /// The device cannot run this kernel and fallback is switched off.
    Unsupported = 8,
}

impl Errno {
    /// The raw value handed to the guest.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The ABI name of the code (`"invalid_handle"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Errno::Success => "success",
            Errno::InvalidArgument => "invalid_argument",
            Errno::InvalidHandle => "invalid_handle",
            Errno::OutOfBounds => "out_of_bounds",
            Errno::InvalidKernel => "invalid_kernel",
            Errno::KernelTrap => "kernel_trap",
            Errno::ResourceExhausted => "resource_exhausted",
            Errno::DeviceError => "device_error",
            Errno::Unsupported => "unsupported",
        }
    }

    /// The code for a raw value, if it is one.
    pub fn from_code(code: i32) -> Option<Errno> {
        Some(match code {
            0 => Errno::Success,
            1 => Errno::InvalidArgument,
            2 => Errno::InvalidHandle,
            3 => Errno::OutOfBounds,
            4 => Errno::InvalidKernel,
            5 => Errno::KernelTrap,
            6 => Errno::ResourceExhausted,
            7 => Errno::DeviceError,
            8 => Errno::Unsupported,
            _ => return None,
        })
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error of the parallel subsystem: the code the guest sees plus a
/// human-readable message kept as the instance's last error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{errno}: {message}")]
pub struct ParError {
    /// The code returned to the guest.
    pub errno: Errno,
    /// What went wrong, for people.
    pub message: String,
}

impl ParError {
    /// A new error with `errno` and `message`.
    pub fn new(errno: Errno, message: impl Into<String>) -> Self {
        ParError {
            errno,
            message: message.into(),
        }
    }

    /// `invalid_argument`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Errno::InvalidArgument, message)
    }
    /// `invalid_handle`.
    pub fn invalid_handle(message: impl Into<String>) -> Self {
        Self::new(Errno::InvalidHandle, message)
    }
    /// `out_of_bounds`.
    pub fn out_of_bounds(message: impl Into<String>) -> Self {
        Self::new(Errno::OutOfBounds, message)
    }
    /// `invalid_kernel`.
    pub fn invalid_kernel(message: impl Into<String>) -> Self {
        Self::new(Errno::InvalidKernel, message)
    }
    /// `kernel_trap`.
    pub fn kernel_trap(message: impl Into<String>) -> Self {
        Self::new(Errno::KernelTrap, message)
    }
    /// `resource_exhausted`.
    pub fn resource_exhausted(message: impl Into<String>) -> Self {
        Self::new(Errno::ResourceExhausted, message)
    }
    /// `device_error`.
    pub fn device_error(message: impl Into<String>) -> Self {
        Self::new(Errno::DeviceError, message)
    }
    /// `unsupported`: the device cannot run this kernel (the runtime may fall back).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(Errno::Unsupported, message)
    }
}

/// Result type of the parallel subsystem.
pub type ParResult<T> = Result<T, ParError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 0..=8 {
            let e = Errno::from_code(code).unwrap();
            assert_eq!(e.code(), code);
        }
        assert_eq!(Errno::from_code(9), None);
        assert_eq!(Errno::from_code(-1), None);
        assert_eq!(Errno::KernelTrap.name(), "kernel_trap");
    }
}
