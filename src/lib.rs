//! libwasi_parallel: a wasi-parallel runtime on wasmi.

pub mod embed;
