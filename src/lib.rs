//! libwasi_parallel: a wasi-parallel runtime on the wasmi interpreter.
//!
//! Guests (WASI preview 1 programs) offload "parallel for" kernels through
//! the five host functions of module `wasi_ephemeral_parallel`; the kernels
//! run on the calling thread, on a CPU thread pool, or on a Vulkan GPU.
//!
//! - [`runtime`]: engine, modules, instances, natives, WASI.
//! - [`parallel`]: the wasi-parallel host API, kernels and devices.
//! - [`capi`]: the C API (`include/wasi_parallel.h`).

pub mod capi;
pub mod embed;
pub mod error;
pub(crate) mod kernel_abi;
pub mod parallel;
pub mod runtime;
pub(crate) mod wasmi_select_fix;

pub use error::{Error, ErrorCode, Result, TrapKind};
pub use runtime::{
    Config, Engine, Instance, InstanceConfig, InterruptHandle, Module, Natives, Stdio, WasiConfig,
};
pub use wasmi::{Val, ValType};

// The wasm -> SPIR-V kernel translator (GPU device); its docs are inside.
#[cfg(feature = "vulkan")]
pub mod spirv;
