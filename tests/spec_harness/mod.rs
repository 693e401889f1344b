//! The WebAssembly spec test suite run as wasi-parallel kernels: every
//! `assert_return`, `assert_trap` and `invoke` of the selected `.wast` files
//! (vendored under `tests/spec/testsuite/`) on each kernel engine and
//! device. See `docs/conformance.md`.
#![allow(dead_code)]

pub mod chain;
pub mod exec;
pub mod kernel;
pub mod plan;
pub mod rewrite;

/// The spec files in scope: numeric, conversion, control flow, locals and
/// globals, `select`, `br_table`, calls and memory.
pub const FILES: &[&str] = &[
    "i32",
    "i64",
    "f32",
    "f64",
    "f32_bitwise",
    "f64_bitwise",
    "f32_cmp",
    "f64_cmp",
    "conversions",
    "float_exprs",
    "float_literals",
    "float_memory",
    "float_misc",
    "int_exprs",
    "int_literals",
    "const",
    "br_table",
    "br",
    "br_if",
    "block",
    "loop",
    "if",
    "select",
    "return",
    "nop",
    "unreachable",
    "call",
    "call_indirect",
    "fac",
    "forward",
    "local_get",
    "local_set",
    "local_tee",
    "global",
    "labels",
    "switch",
    "stack",
    "traps",
    "unwind",
    "left-to-right",
    "func",
    "endianness",
    "load",
    "store",
    "address",
    "align",
    "memory",
    "memory_trap",
    "memory_size",
    "memory_grow",
    "memory_redundancy",
];

/// SIMD spec files, run when `SPEC_SIMD=1` (once kernels support SIMD);
/// each must be vendored under `tests/spec/testsuite/` like the others.
pub const SIMD_FILES: &[&str] = &[
    "simd_address",
    "simd_align",
    "simd_bit_shift",
    "simd_bitwise",
    "simd_boolean",
    "simd_const",
    "simd_conversions",
    "simd_f32x4",
    "simd_f32x4_arith",
    "simd_f32x4_cmp",
    "simd_f64x2",
    "simd_f64x2_arith",
    "simd_f64x2_cmp",
    "simd_i8x16_arith",
    "simd_i16x8_arith",
    "simd_i32x4_arith",
    "simd_i64x2_arith",
    "simd_lane",
    "simd_load",
    "simd_store",
    "simd_splat",
];

/// Directory of the vendored `.wast` files.
pub fn suite_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/testsuite")
}
