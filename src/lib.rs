//! libwasi_parallel: a wasi-parallel runtime on wasmi.

#[cfg(feature = "vulkan")]
pub mod spirv;
