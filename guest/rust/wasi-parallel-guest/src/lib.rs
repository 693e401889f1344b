//! Safe bindings to wasi-parallel for Rust guests, and helpers for kernels.
//!
//! **Guests** (`wasm32-wasip1` programs) get a [`Device`], create
//! [`Buffer`]s on it, copy data in and out, and run a kernel with
//! [`parallel_exec`]. Every call returns `Result<_, Error>`; [`Error`] is the
//! wasi-parallel error enum (`par_errno`), so a failing call is a value the
//! guest handles, never a trap.
//!
//! ```ignore
//! use wasi_parallel_guest::{parallel_exec, Access, Device, DeviceKind};
//! let dev = Device::get(DeviceKind::Cpu)?;
//! let x = dev.buffer_from(&xs, Access::Read)?;
//! let y = dev.buffer_from(&ys, Access::ReadWrite)?;
//! parallel_exec(&dev, KERNEL, iterations, block_size, &[&x], &[&y])?;
//! y.read_into(&mut ys)?;
//! ```
//!
//! **Kernels** (`no_std` `wasm32-unknown-unknown` crates, see the
//! [`kernel`] module) export `kernel(iteration_id, num_iterations,
//! block_size, ptr_0, len_0, ...)` and import one memory; the runtime maps
//! each buffer at `(ptr, len)` in that memory.
//!
//! The crate is `no_std` (kernels need that); guests use it from std code
//! as well.
#![no_std]

pub mod kernel;

use core::fmt;

/// The device kinds of the proposal (`device_kind`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum DeviceKind {
    /// Iterations one after another on the calling thread.
    Sequential = 0,
    /// A CPU thread pool.
    Cpu = 1,
    /// A discrete GPU.
    DiscreteGpu = 2,
    /// An integrated GPU.
    IntegratedGpu = 3,
}

impl DeviceKind {
    /// `sequential`, `cpu`, `gpu` (discrete) or `igpu`.
    pub fn parse(s: &str) -> Option<DeviceKind> {
        match s {
            "sequential" | "seq" => Some(DeviceKind::Sequential),
            "cpu" => Some(DeviceKind::Cpu),
            "gpu" | "discrete_gpu" => Some(DeviceKind::DiscreteGpu),
            "igpu" | "integrated_gpu" => Some(DeviceKind::IntegratedGpu),
            _ => None,
        }
    }
}

/// How kernels use a buffer (`buffer_access_kind`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Access {
    /// Kernels only read it.
    Read = 0,
    /// Kernels only write it.
    Write = 1,
    /// Both.
    ReadWrite = 2,
}

/// A wasi-parallel error (`par_errno`, the project's ABI section 3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// An enum value out of range, a malformed argument.
    InvalidArgument,
    /// An unknown, stale or foreign handle, or a buffer of another device.
    InvalidHandle,
    /// A guest range outside memory, or a length larger than the buffer.
    OutOfBounds,
    /// Kernel bytes that are not a valid kernel module.
    InvalidKernel,
    /// An iteration trapped or ran out of fuel (or was stopped by a timeout).
    KernelTrap,
    /// A configured limit or device memory is exceeded.
    ResourceExhausted,
    /// The device failed.
    DeviceError,
    /// The device cannot run this kernel and fallback is switched off.
    Unsupported,
    /// A code this crate does not know (a newer runtime).
    Other(i32),
}

impl Error {
    /// The error of a raw `par_errno` (`None` for 0, success).
    pub fn from_code(code: i32) -> Option<Error> {
        Some(match code {
            0 => return None,
            1 => Error::InvalidArgument,
            2 => Error::InvalidHandle,
            3 => Error::OutOfBounds,
            4 => Error::InvalidKernel,
            5 => Error::KernelTrap,
            6 => Error::ResourceExhausted,
            7 => Error::DeviceError,
            8 => Error::Unsupported,
            other => Error::Other(other),
        })
    }

    /// The raw `par_errno`.
    pub fn code(self) -> i32 {
        match self {
            Error::InvalidArgument => 1,
            Error::InvalidHandle => 2,
            Error::OutOfBounds => 3,
            Error::InvalidKernel => 4,
            Error::KernelTrap => 5,
            Error::ResourceExhausted => 6,
            Error::DeviceError => 7,
            Error::Unsupported => 8,
            Error::Other(c) => c,
        }
    }

    /// The ABI's name (`kernel_trap`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Error::InvalidArgument => "invalid_argument",
            Error::InvalidHandle => "invalid_handle",
            Error::OutOfBounds => "out_of_bounds",
            Error::InvalidKernel => "invalid_kernel",
            Error::KernelTrap => "kernel_trap",
            Error::ResourceExhausted => "resource_exhausted",
            Error::DeviceError => "device_error",
            Error::Unsupported => "unsupported",
            Error::Other(_) => "unknown",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wasi-parallel error {} ({})", self.code(), self.name())
    }
}

/// `Ok(())` for 0, the error otherwise.
fn check(code: i32) -> Result<(), Error> {
    match Error::from_code(code) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// The five imports (module `wasi_ephemeral_parallel`, all `i32`).
#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "wasi_ephemeral_parallel")]
    extern "C" {
        pub fn get_device(hint: i32, out_device: *mut u32) -> i32;
        pub fn create_buffer(device: u32, size: u32, access: i32, out_buffer: *mut u32) -> i32;
        pub fn write_buffer(data: *const u8, len: u32, buffer: u32) -> i32;
        pub fn read_buffer(buffer: u32, data: *mut u8, len: u32) -> i32;
        #[allow(clippy::too_many_arguments)]
        pub fn parallel_exec(
            device: u32,
            kernel: *const u8,
            kernel_len: u32,
            num_iterations: u32,
            block_size: u32,
            in_buffers: *const u32,
            in_len: u32,
            out_buffers: *const u32,
            out_len: u32,
        ) -> i32;
    }
}

/// Off wasm32 (e.g. `cargo check` on the host) every call is `Unsupported`.
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments, clippy::missing_safety_doc)]
mod sys {
    pub unsafe fn get_device(_: i32, _: *mut u32) -> i32 {
        8
    }
    pub unsafe fn create_buffer(_: u32, _: u32, _: i32, _: *mut u32) -> i32 {
        8
    }
    pub unsafe fn write_buffer(_: *const u8, _: u32, _: u32) -> i32 {
        8
    }
    pub unsafe fn read_buffer(_: u32, _: *mut u8, _: u32) -> i32 {
        8
    }
    pub unsafe fn parallel_exec(
        _: u32,
        _: *const u8,
        _: u32,
        _: u32,
        _: u32,
        _: *const u32,
        _: u32,
        _: *const u32,
        _: u32,
    ) -> i32 {
        8
    }
}

/// Lengths are `u32` in the ABI.
fn len32(len: usize) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error::InvalidArgument)
}

/// Plain numbers whose bytes can be copied to and from buffers.
///
/// Implemented for the integer and float types (no padding, every bit
/// pattern valid); sealed.
pub trait Plain: Copy + sealed::Sealed {}
mod sealed {
    pub trait Sealed {}
}
macro_rules! plain {
    ($($t:ty),*) => { $(impl sealed::Sealed for $t {} impl Plain for $t {})* };
}
plain!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

fn bytes_of<T: Plain>(data: &[T]) -> &[u8] {
    // SAFETY: `T: Plain` has no padding and no invalid bit patterns; the
    // byte view covers exactly the slice's memory and borrows it.
    unsafe { core::slice::from_raw_parts(data.as_ptr().cast(), core::mem::size_of_val(data)) }
}

fn bytes_of_mut<T: Plain>(data: &mut [T]) -> &mut [u8] {
    // SAFETY: as in `bytes_of`; any bytes written are a valid `T`.
    unsafe {
        core::slice::from_raw_parts_mut(data.as_mut_ptr().cast(), core::mem::size_of_val(data))
    }
}

/// A device handed out by the runtime.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Device {
    handle: u32,
}

impl Device {
    /// The device for `hint` (the runtime may pick another: a missing GPU
    /// gives the CPU device, and the host may force one).
    pub fn get(hint: DeviceKind) -> Result<Device, Error> {
        let mut handle = 0u32;
        // SAFETY: the import writes 4 bytes to a valid, aligned u32.
        check(unsafe { sys::get_device(hint as i32, &mut handle) })?;
        Ok(Device { handle })
    }

    /// The raw handle.
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// A zero-filled buffer of `size` bytes on this device.
    pub fn buffer(&self, size: usize, access: Access) -> Result<Buffer, Error> {
        let mut handle = 0u32;
        // SAFETY: the import writes 4 bytes to a valid, aligned u32.
        check(unsafe {
            sys::create_buffer(self.handle, len32(size)?, access as i32, &mut handle)
        })?;
        Ok(Buffer {
            handle,
            size,
            device: *self,
        })
    }

    /// A buffer holding a copy of `data`.
    pub fn buffer_from<T: Plain>(&self, data: &[T], access: Access) -> Result<Buffer, Error> {
        let b = self.buffer(core::mem::size_of_val(data), access)?;
        b.write(data)?;
        Ok(b)
    }
}

/// Device storage (the runtime frees it with the instance).
#[derive(Debug, PartialEq, Eq)]
pub struct Buffer {
    handle: u32,
    size: usize,
    device: Device,
}

impl Buffer {
    /// The raw handle.
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Its size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Its device.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Copies `data` into the start of the buffer.
    pub fn write<T: Plain>(&self, data: &[T]) -> Result<(), Error> {
        let bytes = bytes_of(data);
        // SAFETY: the import reads `bytes.len()` bytes from a live slice.
        check(unsafe { sys::write_buffer(bytes.as_ptr(), len32(bytes.len())?, self.handle) })
    }

    /// Copies the start of the buffer into `out`.
    pub fn read_into<T: Plain>(&self, out: &mut [T]) -> Result<(), Error> {
        let bytes = bytes_of_mut(out);
        // SAFETY: the import writes at most `bytes.len()` bytes into a live,
        // exclusively borrowed slice.
        check(unsafe { sys::read_buffer(self.handle, bytes.as_mut_ptr(), len32(bytes.len())?) })
    }
}

/// Most buffers one call passes (inputs and outputs each).
pub const MAX_BUFFERS: usize = 64;

/// Runs `kernel` (a complete wasm module, see [`kernel`]) for iterations
/// `0 .. num_iterations` on `device`, with `inputs` then `outputs` mapped
/// into the kernel's memory, and returns when all of them finished.
pub fn parallel_exec(
    device: &Device,
    kernel: &[u8],
    num_iterations: u32,
    block_size: u32,
    inputs: &[&Buffer],
    outputs: &[&Buffer],
) -> Result<(), Error> {
    if inputs.len() > MAX_BUFFERS || outputs.len() > MAX_BUFFERS {
        return Err(Error::InvalidArgument);
    }
    let mut ins = [0u32; MAX_BUFFERS];
    let mut outs = [0u32; MAX_BUFFERS];
    for (slot, b) in ins.iter_mut().zip(inputs) {
        *slot = b.handle;
    }
    for (slot, b) in outs.iter_mut().zip(outputs) {
        *slot = b.handle;
    }
    // SAFETY: every pointer is to a live slice/array of the given length;
    // the import only reads them.
    check(unsafe {
        sys::parallel_exec(
            device.handle,
            kernel.as_ptr(),
            len32(kernel.len())?,
            num_iterations,
            block_size,
            ins.as_ptr(),
            inputs.len() as u32,
            outs.as_ptr(),
            outputs.len() as u32,
        )
    })
}
