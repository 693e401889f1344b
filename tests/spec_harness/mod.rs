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

/// SIMD spec files (fixed-width SIMD), run by default (`SPEC_SIMD=0` leaves
/// them out); vendored under `tests/spec/testsuite/` like the others. Not
/// here: `simd_linking` (it links modules by import).
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
    "simd_f32x4_pmin_pmax",
    "simd_f32x4_rounding",
    "simd_f64x2",
    "simd_f64x2_arith",
    "simd_f64x2_cmp",
    "simd_f64x2_pmin_pmax",
    "simd_f64x2_rounding",
    "simd_i16x8_arith",
    "simd_i16x8_arith2",
    "simd_i16x8_cmp",
    "simd_i16x8_extadd_pairwise_i8x16",
    "simd_i16x8_extmul_i8x16",
    "simd_i16x8_q15mulr_sat_s",
    "simd_i16x8_sat_arith",
    "simd_i32x4_arith",
    "simd_i32x4_arith2",
    "simd_i32x4_cmp",
    "simd_i32x4_dot_i16x8",
    "simd_i32x4_extadd_pairwise_i16x8",
    "simd_i32x4_extmul_i16x8",
    "simd_i32x4_trunc_sat_f32x4",
    "simd_i32x4_trunc_sat_f64x2",
    "simd_i64x2_arith",
    "simd_i64x2_arith2",
    "simd_i64x2_cmp",
    "simd_i64x2_extmul_i32x4",
    "simd_i8x16_arith",
    "simd_i8x16_arith2",
    "simd_i8x16_cmp",
    "simd_i8x16_sat_arith",
    "simd_int_to_int_extend",
    "simd_lane",
    "simd_load",
    "simd_load16_lane",
    "simd_load32_lane",
    "simd_load64_lane",
    "simd_load8_lane",
    "simd_load_extend",
    "simd_load_splat",
    "simd_load_zero",
    "simd_select",
    "simd_splat",
    "simd_store",
    "simd_store16_lane",
    "simd_store32_lane",
    "simd_store64_lane",
    "simd_store8_lane",
];

/// Directory of the vendored `.wast` files.
pub fn suite_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/testsuite")
}
