//! The two CPU kernel engines against each other: kernel-shaped wasm-smith
//! modules (1 in 8 inputs: raw bytes) run end to end through
//! `parallel_exec` on the SEQUENTIAL device, once on a runtime with the
//! wasmi interpreter and once on one with the Cranelift JIT, with the same
//! buffers (0..=3, contents from the input) and 0..=4 iterations.
//!
//! Oracles: both answer the same code (`success`, `invalid_kernel`,
//! `kernel_trap` or `resource_exhausted`, nothing else); a trap is of the
//! same kind (out of bounds, divide by zero, unreachable, ...: the first
//! words of the two engines' messages differ, [`trap_kind`] maps both); and
//! every buffer holds the same bytes afterwards (also after a trap: the
//! stores before it are visible on both engines, in the same order since
//! SEQUENTIAL runs the iterations in order). No panic.
//!
//! Limits, where the engines may differ without a bug (not compared):
//! - fuel: the interpreter charges per instruction of its register IR, the
//!   JIT per wasm operator, so the same budget (20 000 units) stops them at
//!   different points. An input where either side ran out of fuel is not
//!   compared (neither the code nor the buffers).
//! - stack: wasmi limits call depth (frames), wasmtime stack bytes, so deep
//!   recursion may exhaust one and not the other: as for fuel.
//! - wasmi's narrow lane stores at large offsets: kernels with a
//!   `v128.store8_lane` or `v128.store16_lane` whose static offset does not
//!   fit 16 bits are not run at all: in fuzz builds wasmi 2.0.0 misdecodes
//!   the instruction after such a store (fuzz/README.md, finding 4; an
//!   upstream bug, library builds are right). Counted; `ENGINES_LANE_SKIP=0`
//!   runs them anyway (to check whether a wasmi update fixed it).
//! - NaN payloads: the wasm spec leaves the payload of an arithmetic NaN
//!   open. Half of the wasm-smith inputs canonicalize every float result
//!   (wasm-smith's `canonicalize_nans`) and their buffers must be equal
//!   byte for byte; in the others a differing aligned 4-byte (8-byte) word
//!   is accepted when it is a NaN as an f32 (f64) on both sides.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use wasi_parallel::parallel::kernel::KernelEngine;

use common::{exec_kernel, Outcome, BUF_SIZE, MAX_KERNEL};

/// Runs `kernel` on the SEQUENTIAL device of the interpreter (`jit` false)
/// or JIT runtime with `nbuf` buffers filled from `fill`.
fn run(jit: bool, kernel: &[u8], nbuf: usize, iters: u32, fill: &[u8]) -> Outcome {
    let rt = common::runtime_on(jit);
    let want = if jit {
        KernelEngine::Jit
    } else {
        KernelEngine::Interpreter
    };
    assert_eq!(rt.kernel_engine_kind(), want, "the runtime's engine");
    exec_kernel(rt, 0, kernel, nbuf, iters, fill)
}

/// The kind of a `kernel_trap` message, the same for both engines' words
/// (wasmi's and wasmtime's trap texts), or `None` for a resource limit that
/// the engines count differently (fuel, stack).
fn trap_kind(message: &str) -> Option<String> {
    let m = message.to_ascii_lowercase();
    let stage = if m.contains("instantiation") {
        "instantiation: "
    } else {
        ""
    };
    let kind = if m.contains("out of fuel") || m.contains("fuel") {
        return None;
    } else if m.contains("stack") {
        return None;
    } else if m.contains("unreachable") {
        "unreachable"
    } else if m.contains("divide by zero") || m.contains("division by zero") {
        "divide by zero"
    } else if m.contains("integer overflow") {
        "integer overflow"
    } else if m.contains("conversion") {
        "invalid conversion to integer"
    } else if m.contains("signature") || m.contains("type mismatch") {
        "indirect call type mismatch"
    } else if m.contains("memory") && m.contains("out of bounds") {
        "out of bounds memory access"
    } else if m.contains("table") || m.contains("element") || m.contains("null") {
        "table (out of bounds, uninitialized element)"
    } else {
        return Some(format!("{stage}other: {message}"));
    };
    Some(format!("{stage}{kind}"))
}

/// Whether the byte `at` of `a` and `b` lies in an aligned `N`-byte word
/// that is a NaN of that width on both sides.
fn nan_word<const N: usize>(a: &[u8], b: &[u8], at: usize) -> bool {
    let w = at / N * N;
    let is_nan = |x: &[u8]| -> bool {
        match N {
            4 => f32::from_le_bytes(x[w..w + 4].try_into().unwrap()).is_nan(),
            _ => f64::from_le_bytes(x[w..w + 8].try_into().unwrap()).is_nan(),
        }
    };
    w + N <= a.len() && is_nan(a) && is_nan(b)
}

/// Whether `kernel` has a `v128.store8_lane`/`v128.store16_lane` with a
/// static offset that does not fit 16 bits: the exact trigger of finding 4
/// (the 32/64-bit lane stores and all lane loads are not affected, nor are
/// offsets up to 65535). A kernel that does not decode has
/// none.
fn wide_lane_access(kernel: &[u8]) -> bool {
    use wasmparser::{Operator as O, Parser, Payload};
    for payload in Parser::new(0).parse_all(kernel) {
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let Ok(mut ops) = body.get_operators_reader() else {
            continue;
        };
        while !ops.eof() {
            let Ok(op) = ops.read() else {
                break;
            };
            match op {
                O::V128Store8Lane { memarg, .. } | O::V128Store16Lane { memarg, .. }
                    if memarg.offset > u64::from(u16::MAX) =>
                {
                    return true;
                }
                _ => {}
            }
        }
    }
    false
}

/// Counts the inputs skipped for [`wide_lane_access`]; reports at powers of 2.
fn count_lane_skip() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SKIPPED: AtomicU64 = AtomicU64::new(0);
    let n = SKIPPED.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        eprintln!(
            "engines: {n} inputs skipped (v128.store8/16_lane at an offset >= 65536, finding 4)"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(raw) = u.ratio(1u8, 8) else {
        return;
    };
    let iters: u32 = u.int_in_range(0..=4).unwrap_or(1);
    let mut canonical = true;
    let (kernel, nbuf) = if raw {
        let n = u.int_in_range(0..=3).unwrap_or(0);
        (u.take_rest().to_vec(), n)
    } else {
        let simd = u.ratio(1u8, 4).unwrap_or(false);
        canonical = u.arbitrary().unwrap_or(true);
        let made = common::kernel_module_with(&mut u, |c| {
            c.simd_enabled = simd;
            c.canonicalize_nans = canonical;
            Ok(())
        });
        match made {
            Ok(k) => k,
            Err(_) => return,
        }
    };
    if kernel.len() > MAX_KERNEL {
        return;
    }
    if std::env::var_os("ENGINES_LANE_SKIP").is_none_or(|v| v != "0") && wide_lane_access(&kernel) {
        count_lane_skip();
        return;
    }
    let fill: Vec<u8> = kernel.iter().rev().copied().take(64).collect();
    // ENGINES_DUMP=FILE: write the kernel there (to reduce a finding).
    if let Some(p) = std::env::var_os("ENGINES_DUMP") {
        std::fs::write(p, &kernel).unwrap();
        eprintln!("nbuf={nbuf} iters={iters}");
    }
    let interp = run(false, &kernel, nbuf, iters, &fill);
    let jit = run(true, &kernel, nbuf, iters, &fill);
    for (name, o) in [("interpreter", &interp), ("jit", &jit)] {
        assert!(
            matches!(o.code, 0 | 4 | 5 | 6),
            "{name}: code {}: {}",
            o.code,
            o.message
        );
    }
    let limit = |o: &Outcome| o.code == 5 && trap_kind(&o.message).is_none();
    let skipped = limit(&interp) || limit(&jit);
    if std::env::var_os("ENGINES_SUMMARY").is_some() {
        // One line per input, for summaries of a corpus replay
        // (`ENGINES_SUMMARY=1 ... -runs=0`).
        eprintln!(
            "engines-summary: raw={raw} canonical={canonical} iters={iters} nbuf={nbuf} \
             interp={} jit={} skipped={skipped} kind={:?}",
            interp.code,
            jit.code,
            if interp.code == 5 {
                trap_kind(&interp.message)
            } else {
                None
            }
        );
    }
    if skipped {
        return;
    }
    assert_eq!(
        interp.code, jit.code,
        "codes differ: interpreter {:?} / jit {:?}",
        interp.message, jit.message
    );
    if interp.code == 5 {
        assert_eq!(
            trap_kind(&interp.message),
            trap_kind(&jit.message),
            "trap kinds differ: interpreter {:?} / jit {:?}",
            interp.message,
            jit.message
        );
    }
    if interp.buffers != jit.buffers {
        for (at, (a, b)) in interp.buffers.iter().zip(&jit.buffers).enumerate() {
            if a == b {
                continue;
            }
            let nan = !canonical
                && (nan_word::<4>(&interp.buffers, &jit.buffers, at)
                    || nan_word::<8>(&interp.buffers, &jit.buffers, at));
            assert!(
                nan,
                "buffers differ at byte {at} (buffer {}, offset {}): interpreter {a:#04x}, \
                 jit {b:#04x} (code {}, canonical NaNs {canonical})",
                at / BUF_SIZE,
                at % BUF_SIZE,
                interp.code
            );
        }
    }
});
