//! Regression tests for bugs found by the fuzzers, the bad-guest test and
//! the stress test (see fuzz/README.md for the list).

use crate::parallel_util::*;
use std::sync::Arc;
use wasi_parallel::parallel::{ParallelConfig, ParallelRuntime};

const KERNEL_TRAP: i32 = 5;
const UNSUPPORTED: i32 = 8;

fn gpu_runtime(fuel: u64, fallback: bool) -> Option<Arc<ParallelRuntime>> {
    let rt = ParallelRuntime::new(ParallelConfig {
        threads: 2,
        kernel_fuel: Some(fuel),
        gpu_fallback: fallback,
        ..ParallelConfig::default()
    })
    .unwrap();
    if !rt.devices().iter().any(|d| d.kind.is_gpu()) {
        // A build without the vulkan feature has no GPU device to test.
        if crate::common::in_ci() && cfg!(feature = "vulkan") {
            panic!("CI=true but no Vulkan device was found");
        }
        eprintln!("note: no Vulkan device; GPU regression skipped");
        return None;
    }
    Some(Arc::new(rt))
}

/// Found by tests/all/bad_guest.rs and tests/stress.rs: an endless kernel
/// (`(loop $l (br $l))`, no buffers) with a kernel fuel above lavapipe's
/// loop limit (65535 iterations per invocation) returned `success` on the
/// Vulkan device: the translated loop had no exit edge, so the driver
/// dropped the "loop cut short" check after it, and llvmpipe's limiter left
/// the loop silently. Fixed in src/spirv/codegen/ (fuel exhaustion leaves
/// the loop by `break`).
#[test]
fn endless_kernel_on_gpu_never_succeeds() {
    for fuel in [1_000u64, 60_000, 70_000, 1_000_000] {
        for fallback in [false, true] {
            let Some(rt) = gpu_runtime(fuel, fallback) else {
                return;
            };
            let mut g = Guest::new(&rt);
            let dev = g.get_device(DISCRETE_GPU).unwrap();
            for n in [1, 2, 100] {
                let r = g.exec(dev, &wat("spin_forever"), n, 1, &[], &[]);
                // Above lavapipe's limiter the driver may cut the loop
                // (unsupported, as fallback is off) or its compiler may
                // compute the fuel running out without looping (a trap, as
                // on the CPU device): never success.
                let ok = if fuel > 65535 && !fallback {
                    r == UNSUPPORTED || r == KERNEL_TRAP
                } else {
                    r == KERNEL_TRAP
                };
                assert!(
                    ok,
                    "fuel {fuel}, fallback {fallback}, n {n}: {r} {:?}",
                    g.ctx().last_error()
                );
            }
        }
    }
}

/// Fuzz finding 4 (fuzz/README.md): a kernel whose `v128.store16_lane` has
/// an offset that does not fit 16 bits made wasmi 2.0.0 misdecode the next
/// instruction in the fuzz builds (a panic with the loop dispatch, a jump to
/// a bad handler with the tail-call dispatch under coverage
/// instrumentation). In the library's builds it must trap out of bounds
/// (the address is past the 64 KiB region) on every engine, with and
/// without fuel metering.
#[test]
fn store16_lane_with_a_large_offset_traps_out_of_bounds() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/regressions/engines-wasmi-store16-lane.kernel.wasm"
    );
    let kernel = std::fs::read(path).unwrap();
    let mut engines = vec![wasi_parallel::parallel::KernelEngine::Interpreter];
    if wasi_parallel::parallel::KernelEngine::jit_available() {
        engines.push(wasi_parallel::parallel::KernelEngine::Jit);
    }
    for engine in engines {
        for fuel in [Some(20_000), None] {
            let rt = runtime(ParallelConfig {
                kernel_engine: engine,
                kernel_fuel: fuel,
                ..ParallelConfig::default()
            });
            let mut g = Guest::new(&rt);
            let dev = g.get_device(SEQUENTIAL).unwrap();
            assert_eq!(
                g.exec(dev, &kernel, 3, 1, &[], &[]),
                KERNEL_TRAP,
                "{engine:?}, fuel {fuel:?}"
            );
            let msg = g.ctx().last_error().unwrap_or("").to_string();
            assert!(msg.contains("out of bounds"), "{engine:?}: {msg}");
        }
    }
}
