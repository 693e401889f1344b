//! The integration tests, in one binary so the crate is linked once for
//! all of them (they used to be 17 binaries). Each module is one former
//! `tests/NAME.rs`; run one with `cargo test --test all NAME::`.
//!
//! Not here, because they need a process of their own:
//! `tests/parallel_memory.rs` (measures this process's shared memory) and
//! `tests/stress.rs` (a timed load test, `WASI_PARALLEL_STRESS_SECS`).

mod common;
#[cfg(feature = "vulkan")]
mod gpu_util;
mod parallel_util;

mod abi_check;
mod bad_guest;
mod cli;
mod examples;
mod gpu_driver_regressions;
mod gpu_multi_value;
mod gpu_nested_loops;
mod gpu_random_kernels;
mod gpu_reference_types;
mod gpu_semantics;
mod gpu_simd;
mod gpu_stack;
mod gpu_translator;
mod header_fresh;
mod interrupt;
mod limits;
mod notices;
mod parallel_api;
mod parallel_concurrency;
mod parallel_differential;
mod parallel_fuzz;
mod parallel_prototype_kernels;
mod placement;
#[cfg(feature = "vulkan")]
mod placement_vulkan;
mod polybench;
mod regressions;
mod runtime;
