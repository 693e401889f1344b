//! libwasi_parallel: a wasi-parallel runtime on wasmi.
pub mod parallel;

#[cfg(feature = "vulkan")]
pub mod spirv;
