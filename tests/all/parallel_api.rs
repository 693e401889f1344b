//! The five imports through a real wasmi guest: every error code path,
//! kernel ABI checks, traps, fuel, isolation, layout, clang kernels, device
//! policy and the GPU fallback.

use crate::parallel_util::*;
use std::sync::{Arc, Mutex};
use wasi_parallel::parallel::device::{
    Device, DeviceBuffer, DeviceInfo, DeviceKind, DeviceSession, ExecRequest, ExecStats,
};
use wasi_parallel::parallel::{
    DevicePolicy, Errno, ParError, ParResult, ParallelConfig, ParallelContext, ParallelRuntime,
};

const INVALID_ARGUMENT: i32 = 1;
const INVALID_HANDLE: i32 = 2;
const OUT_OF_BOUNDS: i32 = 3;
const INVALID_KERNEL: i32 = 4;
const KERNEL_TRAP: i32 = 5;
const RESOURCE_EXHAUSTED: i32 = 6;
const UNSUPPORTED: i32 = 8;

fn saxpy_run(g: &mut Guest, dev: u32, n: usize, block: u32) -> (Vec<f32>, Vec<f32>, Vec<u8>) {
    let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 3.0).collect();
    let y: Vec<f32> = (0..n).map(|i| (i % 7) as f32 + 0.5).collect();
    let bx = g.buffer_with(dev, &f32s_to_bytes(&x), READ);
    let by = g.buffer_with(dev, &f32s_to_bytes(&y), READ);
    let bo = g.create_buffer(dev, (n * 4) as u32, WRITE).unwrap();
    let iters = (n as u32).div_ceil(block);
    assert_eq!(
        g.exec(dev, &wat("saxpy"), iters, block, &[bx, by], &[bo]),
        0,
        "{:?}",
        g.ctx().last_error()
    );
    (x, y, g.read_buffer(bo, n * 4).unwrap())
}

#[test]
fn saxpy_on_sequential_and_cpu_matches_reference() {
    let rt = runtime_threads(2);
    for hint in [SEQUENTIAL, CPU] {
        let mut g = Guest::new(&rt);
        let dev = g.get_device(hint).unwrap();
        let (x, y, out) = saxpy_run(&mut g, dev, 1000, 64);
        let want: Vec<f32> = x.iter().zip(&y).map(|(x, y)| 2.5f32 * x + y).collect();
        assert_eq!(out, f32s_to_bytes(&want));
    }
}

#[test]
fn get_device_errors_and_hints() {
    // No GPU device here (the Vulkan device is switched off).
    let rt = runtime(ParallelConfig {
        threads: 2,
        vulkan_device: Some("none".into()),
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    assert_eq!(g.get_device(4), Err(INVALID_ARGUMENT));
    assert!(g.ctx().last_error().unwrap().contains("device_kind"));
    assert_eq!(g.get_device(-1), Err(INVALID_ARGUMENT));
    // out pointer outside memory
    let len = g.mem().len() as i32;
    assert_eq!(g.call("get_device", &[CPU, len - 3]), OUT_OF_BOUNDS);
    assert_eq!(g.call("get_device", &[CPU, -1]), OUT_OF_BOUNDS);
    // every valid hint succeeds; GPU hints fall back to the CPU device here
    let seq = g.get_device(SEQUENTIAL).unwrap();
    let cpu = g.get_device(CPU).unwrap();
    assert_ne!(seq, cpu);
    assert_eq!(g.get_device(DISCRETE_GPU).unwrap(), cpu);
    assert_eq!(g.get_device(INTEGRATED_GPU).unwrap(), cpu);
    assert_eq!(g.get_device(CPU).unwrap(), cpu, "same device, same handle");
}

#[test]
fn create_buffer_errors() {
    let rt = runtime(ParallelConfig {
        threads: 2,
        max_buffers: 3,
        max_buffer_bytes: 1 << 20,
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    assert_eq!(g.create_buffer(12345, 16, READ), Err(INVALID_HANDLE));
    assert_eq!(g.create_buffer(0, 16, READ), Err(INVALID_HANDLE));
    assert_eq!(g.create_buffer(dev, 16, 3), Err(INVALID_ARGUMENT));
    assert_eq!(g.create_buffer(dev, 16, -1), Err(INVALID_ARGUMENT));
    let len = g.mem().len() as i32;
    assert_eq!(
        g.call("create_buffer", &[dev as i32, 16, READ, len]),
        OUT_OF_BOUNDS
    );
    // a buffer handle is not a device handle
    let b = g.create_buffer(dev, 16, READ_WRITE).unwrap();
    assert_eq!(g.create_buffer(b, 16, READ), Err(INVALID_HANDLE));
    // limits
    assert_eq!(
        g.create_buffer(dev, (1 << 20) + 1, READ),
        Err(RESOURCE_EXHAUSTED)
    );
    assert!(g.ctx().last_error().unwrap().contains("resource_exhausted"));
    g.create_buffer(dev, 1000, READ).unwrap();
    g.create_buffer(dev, 0, READ).unwrap();
    assert_eq!(g.create_buffer(dev, 16, READ), Err(RESOURCE_EXHAUSTED));
    // nothing was created by the failed calls
    assert_eq!(g.ctx().stats().buffers, 3);
}

#[test]
fn write_and_read_buffer_paths() {
    let rt = runtime_threads(2);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(SEQUENTIAL).unwrap();
    let b = g.create_buffer(dev, 64, READ_WRITE).unwrap();
    // zero-filled at creation
    assert_eq!(g.read_buffer(b, 64).unwrap(), vec![0u8; 64]);
    let data: Vec<u8> = (0..64).collect();
    assert_eq!(g.write_buffer(b, &data), 0);
    assert_eq!(g.read_buffer(b, 64).unwrap(), data);
    assert_eq!(g.read_buffer(b, 10).unwrap(), data[..10]);
    // a partial write changes only the start
    assert_eq!(g.write_buffer(b, &[9, 9]), 0);
    let mut want = data.clone();
    want[0] = 9;
    want[1] = 9;
    assert_eq!(g.read_buffer(b, 64).unwrap(), want);
    // longer than the buffer: out_of_bounds and nothing changes
    assert_eq!(g.write_buffer(b, &[7u8; 65]), OUT_OF_BOUNDS);
    assert_eq!(g.read_buffer(b, 65), Err(OUT_OF_BOUNDS));
    assert_eq!(g.read_buffer(b, 64).unwrap(), want);
    // guest ranges outside memory
    let len = g.mem().len() as i32;
    assert_eq!(
        g.call("write_buffer", &[len - 10, 20, b as i32]),
        OUT_OF_BOUNDS
    );
    assert_eq!(
        g.call("read_buffer", &[b as i32, len - 10, 20]),
        OUT_OF_BOUNDS
    );
    assert_eq!(g.call("read_buffer", &[b as i32, -4, 8]), OUT_OF_BOUNDS);
    assert_eq!(g.read_buffer(b, 64).unwrap(), want);
    // bad handles
    assert_eq!(g.write_buffer(dev, &[1]), INVALID_HANDLE);
    assert_eq!(g.write_buffer(b ^ 1, &[1]), INVALID_HANDLE);
    assert_eq!(g.read_buffer(0, 1), Err(INVALID_HANDLE));
    // zero length works
    assert_eq!(g.write_buffer(b, &[]), 0);
}

#[test]
fn foreign_handles_never_resolve() {
    let rt = runtime_threads(2);
    let mut a = Guest::new(&rt);
    let mut b = Guest::new(&rt);
    let da = a.get_device(CPU).unwrap();
    let ba = a.buffer_with(da, b"secret of instance a", READ_WRITE);
    let db = b.get_device(CPU).unwrap();
    assert_eq!(b.read_buffer(ba, 4), Err(INVALID_HANDLE));
    assert_eq!(b.write_buffer(ba, b"x"), INVALID_HANDLE);
    assert_eq!(b.create_buffer(da, 4, READ), Err(INVALID_HANDLE));
    let k = wat("trap");
    assert_eq!(b.exec(da, &k, 1, 3, &[], &[ba]), INVALID_HANDLE);
    let bb = b.create_buffer(db, 64, READ_WRITE).unwrap();
    assert_eq!(b.exec(db, &k, 1, 3, &[], &[ba]), INVALID_HANDLE);
    assert_eq!(b.exec(db, &k, 1, 3, &[], &[bb]), 0);
    assert_eq!(a.read_buffer(ba, 20).unwrap(), b"secret of instance a");
    // forged handles
    for forged in [
        0u32,
        1,
        2,
        3,
        u32::MAX,
        da.wrapping_add(1),
        ba.wrapping_add(1),
    ] {
        if forged == da || forged == ba {
            continue;
        }
        assert_eq!(a.read_buffer(forged, 1), Err(INVALID_HANDLE));
    }
}

#[test]
fn buffer_of_another_device_is_invalid_handle() {
    let rt = runtime_threads(2);
    let mut g = Guest::new(&rt);
    let seq = g.get_device(SEQUENTIAL).unwrap();
    let cpu = g.get_device(CPU).unwrap();
    let bs = g.create_buffer(seq, 64, READ_WRITE).unwrap();
    let k = wat("trap");
    assert_eq!(g.exec(cpu, &k, 1, 3, &[], &[bs]), INVALID_HANDLE);
    assert!(g.ctx().last_error().unwrap().contains("belongs to device"));
    assert_eq!(g.exec(seq, &k, 1, 3, &[], &[bs]), 0);
}

#[test]
fn parallel_exec_argument_errors() {
    let rt = runtime(ParallelConfig {
        threads: 2,
        max_kernel_size: 4096,
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    let out = g.create_buffer(dev, 64, WRITE).unwrap();
    let k = wat("trap");
    g.poke(KERNEL, &k);
    g.poke(OUT_HANDLES, &out.to_le_bytes());
    let len = g.mem().len() as i32;
    let kl = k.len() as i32;
    let call = |g: &mut Guest, a: [i32; 9]| g.call("parallel_exec", &a);
    // bad device handle
    assert_eq!(
        call(&mut g, [out as i32, KERNEL, kl, 1, 3, 0, 0, OUT_HANDLES, 1]),
        INVALID_HANDLE
    );
    // kernel bytes outside memory
    assert_eq!(
        call(
            &mut g,
            [dev as i32, len - 10, kl, 1, 3, 0, 0, OUT_HANDLES, 1]
        ),
        OUT_OF_BOUNDS
    );
    // handle arrays outside memory
    assert_eq!(
        call(
            &mut g,
            [dev as i32, KERNEL, kl, 1, 3, len - 2, 1, OUT_HANDLES, 1]
        ),
        OUT_OF_BOUNDS
    );
    assert_eq!(
        call(
            &mut g,
            [dev as i32, KERNEL, kl, 1, 3, 0, 0, OUT_HANDLES, -1]
        ),
        OUT_OF_BOUNDS
    );
    // a bad buffer handle in the list
    g.poke(IN_HANDLES, &0xdead_beefu32.to_le_bytes());
    assert_eq!(
        call(
            &mut g,
            [dev as i32, KERNEL, kl, 1, 3, IN_HANDLES, 1, OUT_HANDLES, 1]
        ),
        INVALID_HANDLE
    );
    // a device handle in the buffer list
    g.poke(IN_HANDLES, &dev.to_le_bytes());
    assert_eq!(
        call(
            &mut g,
            [dev as i32, KERNEL, kl, 1, 3, IN_HANDLES, 1, OUT_HANDLES, 1]
        ),
        INVALID_HANDLE
    );
    // kernel larger than the limit
    assert_eq!(
        call(
            &mut g,
            [dev as i32, KERNEL, 4097, 1, 3, 0, 0, OUT_HANDLES, 1]
        ),
        RESOURCE_EXHAUSTED
    );
    // buffer count does not match the kernel's params
    assert_eq!(
        call(&mut g, [dev as i32, KERNEL, kl, 1, 3, 0, 0, OUT_HANDLES, 0]),
        INVALID_KERNEL
    );
    assert!(g.ctx().last_error().unwrap().contains("buffer"));
    g.poke(IN_HANDLES, &out.to_le_bytes());
    assert_eq!(
        call(
            &mut g,
            [dev as i32, KERNEL, kl, 1, 3, IN_HANDLES, 1, OUT_HANDLES, 1]
        ),
        INVALID_KERNEL
    );
    // garbage kernel bytes
    assert_eq!(
        call(&mut g, [dev as i32, KERNEL, 10, 1, 3, 0, 0, OUT_HANDLES, 1]),
        INVALID_KERNEL
    );
    assert_eq!(
        call(&mut g, [dev as i32, KERNEL, 0, 1, 3, 0, 0, OUT_HANDLES, 1]),
        INVALID_KERNEL
    );
    // after all that, a good call works
    assert_eq!(
        call(&mut g, [dev as i32, KERNEL, kl, 8, 3, 0, 0, OUT_HANDLES, 1]),
        0
    );
    let got = bytes_to_u32s(&g.read_buffer(out, 32).unwrap());
    assert_eq!(got, (1..=8).collect::<Vec<u32>>());
}

#[test]
fn invalid_kernels_are_rejected() {
    let rt = runtime_threads(2);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(SEQUENTIAL).unwrap();
    let out = g.create_buffer(dev, 64, WRITE).unwrap();
    let bad = [
        // no memory import
        r#"(module (memory 1) (func (export "kernel") (param i32 i32 i32 i32 i32)))"#,
        // two memory imports
        r#"(module (memory (import "a" "m") 1) (memory (import "a" "n") 1)
            (func (export "kernel") (param i32 i32 i32 i32 i32)))"#,
        // a function import
        r#"(module (import "env" "f" (func)) (memory (import "a" "m") 1)
            (func (export "kernel") (param i32 i32 i32 i32 i32)))"#,
        // a global import
        r#"(module (import "env" "g" (global i32)) (memory (import "a" "m") 1)
            (func (export "kernel") (param i32 i32 i32 i32 i32)))"#,
        // no kernel export
        r#"(module (memory (import "a" "m") 1) (func (export "main") (param i32 i32 i32 i32 i32)))"#,
        // kernel not a function
        r#"(module (memory (import "a" "m") 1) (global (export "kernel") i32 (i32.const 0)))"#,
        // a result
        r#"(module (memory (import "a" "m") 1)
            (func (export "kernel") (param i32 i32 i32 i32 i32) (result i32) i32.const 0))"#,
        // a non-i32 param
        r#"(module (memory (import "a" "m") 1) (func (export "kernel") (param i32 i32 i32 i32 f32)))"#,
        // data outside the kernel's region
        r#"(module (memory (import "a" "m") 1) (data (i32.const 65536) "x")
            (func (export "kernel") (param i32 i32 i32 i32 i32)))"#,
        // does not validate (type error)
        r#"(module (memory (import "a" "m") 1)
            (func (export "kernel") (param i32 i32 i32 i32 i32) i64.const 0 drop i32.add drop))"#,
    ];
    for (i, src) in bad.iter().enumerate() {
        let bytes = wat::parse_str(src).unwrap();
        assert_eq!(
            g.exec(dev, &bytes, 1, 1, &[], &[out]),
            INVALID_KERNEL,
            "case {i}: {src}"
        );
        assert!(g
            .ctx()
            .last_error()
            .unwrap()
            .starts_with("parallel_exec: invalid_kernel"));
    }
    // invalid code: a body that pops from an empty stack
    let k = wat::parse_str(
        r#"(module (memory (import "a" "m") 1)
            (func (export "kernel") (param i32 i32 i32 i32 i32) i32.add drop))"#,
    )
    .unwrap();
    assert_eq!(g.exec(dev, &k, 1, 1, &[], &[out]), INVALID_KERNEL);
    assert!(g.ctx().last_error().unwrap().contains("validate"));
    // a component or junk; the message stays on one line (wasmparser's
    // for a bad magic number spans many)
    assert_eq!(
        g.exec(dev, b"\0asm\x0d\0\x01\0", 1, 1, &[], &[out]),
        INVALID_KERNEL
    );
    assert_eq!(g.exec(dev, b"not wasm", 1, 1, &[], &[out]), INVALID_KERNEL);
    let e = g.ctx().last_error().unwrap();
    assert!(!e.contains('\n') && e.contains("magic"), "{e}");
    // atomics, on a prototype-style shared memory or a plain one: refused,
    // with a message that names them
    for memory in ["1 1 shared", "1"] {
        let k = wat::parse_str(format!(
            r#"(module (memory (import "" "memory") {memory})
                (func (export "kernel") (param i32 i32 i32 i32 i32)
                  (drop (i32.atomic.rmw.add (local.get 3) (i32.const 1)))))"#
        ))
        .unwrap();
        assert_eq!(g.exec(dev, &k, 1, 1, &[], &[out]), INVALID_KERNEL);
        let e = g.ctx().last_error().unwrap();
        assert!(e.contains("atomic instructions"), "{e}");
    }
    // A forged device handle: refused before any device saw the call.
    assert_eq!(g.exec(999, &k, 1, 1, &[], &[out]), INVALID_HANDLE);
    // Every refused call is a call, and a failed one.
    let calls = bad.len() as u64 + 6;
    let st = g.ctx().stats();
    assert_eq!((st.calls, st.failed_calls), (calls, calls));
}

#[test]
fn zero_iterations_run_nothing() {
    let rt = runtime_threads(2);
    let mut g = Guest::new(&rt);
    for hint in [SEQUENTIAL, CPU] {
        let dev = g.get_device(hint).unwrap();
        let out = g.create_buffer(dev, 64, WRITE).unwrap();
        assert_eq!(g.exec(dev, &wat("trap"), 0, 0, &[], &[out]), 0);
        assert_eq!(g.read_buffer(out, 64).unwrap(), vec![0u8; 64]);
    }
}

/// With either kind of JIT bounds checks (explicit, or guard pages and
/// signal handlers: then the out-of-bounds trap is a SIGSEGV in a worker
/// thread), a trap is `kernel_trap` with its message and nothing breaks.
#[test]
fn traps_return_kernel_trap_and_keep_the_message() {
    for bounds in [
        wasi_parallel::parallel::BoundsChecks::Explicit,
        wasi_parallel::parallel::BoundsChecks::GuardPages,
    ] {
        traps_return_kernel_trap(bounds);
    }
}

fn traps_return_kernel_trap(bounds: wasi_parallel::parallel::BoundsChecks) {
    let rt = runtime(ParallelConfig {
        threads: 4,
        bounds_checks: bounds,
        ..Default::default()
    });
    let k = wat("trap");
    for hint in [SEQUENTIAL, CPU] {
        for (mode, needle) in [(0, "unreachable"), (1, "out of bounds"), (2, "divi")] {
            let mut g = Guest::new(&rt);
            let dev = g.get_device(hint).unwrap();
            let out = g.create_buffer(dev, 4 * 64, WRITE).unwrap();
            assert_eq!(g.exec(dev, &k, 64, mode, &[], &[out]), KERNEL_TRAP);
            let msg = g.ctx().last_error().unwrap().to_lowercase();
            assert!(
                msg.contains("kernel_trap") && msg.contains("iteration 5"),
                "{msg}"
            );
            assert!(msg.contains(needle), "{msg}");
            // everything keeps working afterwards
            assert_eq!(g.exec(dev, &k, 5, mode, &[], &[out]), 0);
            let got = bytes_to_u32s(&g.read_buffer(out, 20).unwrap());
            assert_eq!(got, vec![1, 2, 3, 4, 5]);
            assert_eq!(g.exec(dev, &k, 64, 3, &[], &[out]), 0);
            let st = g.ctx().stats();
            assert_eq!(st.failed_calls, 1);
            assert_eq!(st.calls, 3);
        }
    }
}

#[test]
fn a_trap_stops_the_remaining_iterations() {
    let rt = runtime_threads(1);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(SEQUENTIAL).unwrap();
    let out = g.create_buffer(dev, 4 * 1000, WRITE).unwrap();
    assert_eq!(g.exec(dev, &wat("trap"), 1000, 0, &[], &[out]), KERNEL_TRAP);
    let got = bytes_to_u32s(&g.read_buffer(out, 4000).unwrap());
    // sequential order: 0..5 ran, 5 trapped, nothing after it ran
    assert_eq!(&got[..5], &[1, 2, 3, 4, 5]);
    assert!(got[5..].iter().all(|v| *v == 0));
}

#[test]
fn kernel_fuel_stops_runaway_kernels() {
    let rt = runtime(ParallelConfig {
        threads: 2,
        kernel_fuel: Some(100_000),
        ..ParallelConfig::default()
    });
    let k = wat("spin");
    for hint in [SEQUENTIAL, CPU] {
        let mut g = Guest::new(&rt);
        let dev = g.get_device(hint).unwrap();
        // within budget
        assert_eq!(g.exec(dev, &k, 16, 100, &[], &[]), 0);
        // forever
        assert_eq!(g.exec(dev, &k, 16, u32::MAX, &[], &[]), KERNEL_TRAP);
        assert!(g.ctx().last_error().unwrap().contains("fuel"));
        // the budget is per iteration: many iterations each within budget are fine
        assert_eq!(g.exec(dev, &k, 200, 1000, &[], &[]), 0);
    }
}

#[test]
fn isolation_kernel_cannot_see_guest_memory() {
    let rt = runtime_threads(2);
    let marker = 0x1122_3344_5566_7788u64.to_le_bytes();
    for hint in [SEQUENTIAL, CPU] {
        let mut g = Guest::new(&rt);
        // the marker sits in the guest's own memory, many times
        for i in 0..64 {
            g.poke(DATA + 65536 + i * 4096, &marker);
            g.poke(64 + i * 8, &marker);
        }
        let dev = g.get_device(hint).unwrap();
        let input = g.create_buffer(dev, 4096, READ).unwrap();
        let out = g.create_buffer(dev, 4, WRITE).unwrap();
        let k = wat("scan");
        assert_eq!(g.exec(dev, &k, 1, 1, &[input], &[out]), 0);
        assert_eq!(bytes_to_u32s(&g.read_buffer(out, 4).unwrap()), vec![0]);
        // handed over in a buffer, it is found
        let mut data = vec![0u8; 4096];
        data[128..136].copy_from_slice(&marker);
        data[4088..4096].copy_from_slice(&marker);
        assert_eq!(g.write_buffer(input, &data), 0);
        assert_eq!(g.exec(dev, &k, 1, 1, &[input], &[out]), 0);
        assert_eq!(bytes_to_u32s(&g.read_buffer(out, 4).unwrap()), vec![2]);
    }
}

#[test]
fn isolation_between_instances_buffers() {
    // another instance's buffer with the marker is invisible too
    let rt = runtime_threads(2);
    let marker = 0x1122_3344_5566_7788u64.to_le_bytes();
    let mut other = Guest::new(&rt);
    let od = other.get_device(CPU).unwrap();
    let mut data = vec![0u8; 8192];
    data[0..8].copy_from_slice(&marker);
    let _ob = other.buffer_with(od, &data, READ);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    let input = g.create_buffer(dev, 8192, READ).unwrap();
    let out = g.create_buffer(dev, 4, WRITE).unwrap();
    assert_eq!(g.exec(dev, &wat("scan"), 1, 1, &[input], &[out]), 0);
    assert_eq!(bytes_to_u32s(&g.read_buffer(out, 4).unwrap()), vec![0]);
}

#[test]
fn workers_private_regions_are_private() {
    let rt = runtime_threads(4);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    let n = 400u32;
    let out = g.create_buffer(dev, 4 * n, WRITE).unwrap();
    assert_eq!(g.exec(dev, &wat("privacy"), n, 3000, &[], &[out]), 0);
    let got = bytes_to_u32s(&g.read_buffer(out, 4 * n as usize).unwrap());
    assert!(
        got.iter().all(|v| *v == 0),
        "an iteration saw another worker's private write"
    );
    let st = g.ctx().stats();
    assert!(st.recent_calls.back().unwrap().workers > 1);
}

#[test]
fn layout_rule_and_duplicate_buffers() {
    let rt = runtime_threads(2);
    for hint in [SEQUENTIAL, CPU] {
        let mut g = Guest::new(&rt);
        let dev = g.get_device(hint).unwrap();
        let a = g.create_buffer(dev, 5000, READ).unwrap();
        let o = g.create_buffer(dev, 28, WRITE).unwrap();
        let k = wat("layout");
        let r = 2 * 65536u32;
        // a listed twice: mapped once, same (ptr, len)
        assert_eq!(g.exec(dev, &k, 1, 1, &[a, a], &[o]), 0);
        let got = bytes_to_u32s(&g.read_buffer(o, 28).unwrap());
        let o_ptr = r + 8192;
        assert_eq!(got, vec![r, 5000, r, 5000, o_ptr, 28, 3 * 65536]);
        // the out buffer listed as input too
        assert_eq!(g.exec(dev, &k, 1, 1, &[o, a], &[o]), 0);
        let got = bytes_to_u32s(&g.read_buffer(o, 28).unwrap());
        assert_eq!(got, vec![r, 28, r + 4096, 5000, r, 28, 3 * 65536]);
        assert!(got.iter().step_by(2).take(3).all(|p| p % 16 == 0));
    }
}

#[test]
fn clang_histogram_uses_private_shadow_stacks() {
    let k = clang_kernel("histogram");
    let data = pseudo_random(100_000, 7);
    let block = 1000usize;
    let iters = data.len().div_ceil(block);
    let mut want = vec![0u32; iters * 256];
    for (i, b) in data.iter().enumerate() {
        want[(i / block) * 256 + *b as usize] += 1;
    }
    for threads in [1, 4] {
        let rt = runtime_threads(threads);
        for hint in [SEQUENTIAL, CPU] {
            let mut g = Guest::new(&rt);
            let dev = g.get_device(hint).unwrap();
            let input = g.buffer_with(dev, &data, READ);
            let out = g
                .create_buffer(dev, (iters * 256 * 4) as u32, WRITE)
                .unwrap();
            assert_eq!(
                g.exec(dev, &k, iters as u32, block as u32, &[input], &[out]),
                0,
                "{:?}",
                g.ctx().last_error()
            );
            let got = bytes_to_u32s(&g.read_buffer(out, iters * 256 * 4).unwrap());
            assert_eq!(got, want);
            // a second call reuses the workers and gives the same result
            assert_eq!(
                g.exec(dev, &k, iters as u32, block as u32, &[input], &[out]),
                0
            );
            assert_eq!(
                bytes_to_u32s(&g.read_buffer(out, iters * 256 * 4).unwrap()),
                want
            );
        }
    }
}

#[test]
fn clang_kernel_data_segments_are_applied() {
    let k = clang_kernel("lut");
    let lut = [7u32, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3];
    let input: Vec<u32> = (0..5000u32).map(|i| i.wrapping_mul(2654435761)).collect();
    let want: Vec<u32> = input
        .iter()
        .enumerate()
        .map(|(i, v)| lut[(*v % 16) as usize] * 3 + i as u32)
        .collect();
    let rt = runtime_threads(2);
    for hint in [SEQUENTIAL, CPU] {
        let mut g = Guest::new(&rt);
        let dev = g.get_device(hint).unwrap();
        let bi = g.buffer_with(dev, &u32s_to_bytes(&input), READ);
        let bo = g.create_buffer(dev, 4 * 5000, WRITE).unwrap();
        assert_eq!(g.exec(dev, &k, 50, 100, &[bi], &[bo]), 0);
        assert_eq!(bytes_to_u32s(&g.read_buffer(bo, 20000).unwrap()), want);
    }
}

#[test]
fn kernel_cache_hits_do_not_recompile() {
    let rt = runtime_threads(2);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    let out = g.create_buffer(dev, 4 * 8, WRITE).unwrap();
    let k = wat("compute");
    for _ in 0..5 {
        assert_eq!(g.exec(dev, &k, 8, 10, &[], &[out]), 0);
    }
    let st = g.ctx().stats();
    assert_eq!(st.cache_misses, 1);
    assert_eq!(st.cache_hits, 4);
    assert_eq!(st.calls, 5);
    assert_eq!(st.iterations, 40);
    assert!(st
        .recent_calls
        .iter()
        .skip(1)
        .all(|c| c.cache_hit && c.compile_time.is_zero()));
    // another instance on the same runtime hits the cache too
    let mut h = Guest::new(&rt);
    let dev = h.get_device(SEQUENTIAL).unwrap();
    let out = h.create_buffer(dev, 4 * 8, WRITE).unwrap();
    assert_eq!(h.exec(dev, &k, 8, 10, &[], &[out]), 0);
    assert_eq!(h.ctx().stats().cache_hits, 1);
    assert_eq!(h.ctx().stats().cache_misses, 0);
    let got = bytes_to_u32s(&h.read_buffer(out, 32).unwrap());
    assert_eq!(got, (0..8).map(|i| compute_ref(i, 10)).collect::<Vec<_>>());
}

#[test]
fn device_policy_force_overrides_the_hint() {
    let rt = runtime(ParallelConfig {
        threads: 2,
        device_policy: DevicePolicy::Force(DeviceKind::Sequential),
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    let a = g.get_device(CPU).unwrap();
    let b = g.get_device(DISCRETE_GPU).unwrap();
    let c = g.get_device(SEQUENTIAL).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    let out = g.create_buffer(a, 32, WRITE).unwrap();
    assert_eq!(g.exec(a, &wat("compute"), 8, 5, &[], &[out]), 0);
    let st = g.ctx().stats();
    assert_eq!(st.per_device.len(), 1);
    assert_eq!(st.per_device[0].device.kind, DeviceKind::Sequential);
    // forcing a GPU that does not exist gives the CPU device
    let rt = runtime(ParallelConfig {
        threads: 2,
        device_policy: DevicePolicy::Force(DeviceKind::DiscreteGpu),
        vulkan_device: Some("none".into()),
        ..ParallelConfig::default()
    });
    let mut g = Guest::new(&rt);
    let d = g.get_device(SEQUENTIAL).unwrap();
    let out = g.create_buffer(d, 32, WRITE).unwrap();
    assert_eq!(g.exec(d, &wat("compute"), 8, 5, &[], &[out]), 0);
    assert_eq!(g.ctx().stats().per_device[0].device.kind, DeviceKind::Cpu);
}

/// Through the imports on a plain wasmi linker (an embedder's own wasmi,
/// without this crate's loader, which gives an unexported memory a hidden
/// export): a module without an exported memory gets an error, not a trap.
#[test]
fn guest_without_memory_export_gets_an_error_not_a_trap() {
    let rt = runtime_threads(1);
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(
        &engine,
        wat::parse_str(
            r#"(module
              (import "wasi_ephemeral_parallel" "get_device" (func $gd (param i32 i32) (result i32)))
              (memory 1)
              (func (export "go") (result i32) (call $gd (i32.const 1) (i32.const 0))))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let mut linker = wasmi::Linker::<ParallelContext>::new(&engine);
    wasi_parallel::parallel::api::add_to_linker(&mut linker, |c| c).unwrap();
    let mut store = wasmi::Store::new(&engine, ParallelContext::new(rt));
    let inst = linker.instantiate_and_start(&mut store, &module).unwrap();
    let go = inst.get_typed_func::<(), i32>(&store, "go").unwrap();
    assert_eq!(go.call(&mut store, ()).unwrap(), INVALID_ARGUMENT);
    assert!(store.data().last_error().unwrap().contains("memory"));
}

#[test]
fn context_validation_without_wasmi() {
    // The validation layer works on plain bytes.
    let rt = runtime(ParallelConfig::default());
    let mut ctx = ParallelContext::new(rt);
    let mut mem = vec![0u8; 65536];
    assert_eq!(ctx.get_device(&mut mem, 1, 0), 0);
    let dev = u32::from_le_bytes(mem[0..4].try_into().unwrap()) as i32;
    assert_eq!(ctx.create_buffer(&mut mem, dev, 16, 2, 4), 0);
    let buf = u32::from_le_bytes(mem[4..8].try_into().unwrap()) as i32;
    mem[100..116].copy_from_slice(b"0123456789abcdef");
    assert_eq!(ctx.write_buffer(&mut mem, 100, 16, buf), 0);
    assert_eq!(ctx.read_buffer(&mut mem, buf, 200, 16), 0);
    assert_eq!(&mem[200..216], b"0123456789abcdef");
    assert_eq!(
        ctx.read_buffer(&mut mem, buf, 65530, 16),
        Errno::OutOfBounds.code()
    );
    assert_eq!(
        ctx.read_buffer(&mut mem, buf, 0, 17),
        Errno::OutOfBounds.code()
    );
    assert_eq!(
        ctx.get_device(&mut mem, 9, 0),
        Errno::InvalidArgument.code()
    );
    assert!(ctx.last_error().unwrap().contains("invalid_argument"));
    assert_eq!(
        ctx.parallel_exec(&mut mem, dev, 0, 8, 1, 1, 0, 0, 0, 0),
        Errno::InvalidKernel.code()
    );
}

// ---- GPU fallback, with a stand-in GPU device that supports nothing ----

struct FakeGpuBuffer(Mutex<Vec<u8>>);
impl DeviceBuffer for FakeGpuBuffer {
    fn size(&self) -> u64 {
        self.0.lock().unwrap().len() as u64
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
struct FakeGpu(DeviceInfo);
impl Device for FakeGpu {
    fn info(&self) -> &DeviceInfo {
        &self.0
    }
    fn create_buffer(&self, size: u64) -> ParResult<Box<dyn DeviceBuffer>> {
        Ok(Box::new(FakeGpuBuffer(Mutex::new(vec![0; size as usize]))))
    }
    fn write(&self, b: &dyn DeviceBuffer, data: &[u8]) -> ParResult<()> {
        let b = b.as_any().downcast_ref::<FakeGpuBuffer>().unwrap();
        b.0.lock().unwrap()[..data.len()].copy_from_slice(data);
        Ok(())
    }
    fn read(&self, b: &dyn DeviceBuffer, out: &mut [u8]) -> ParResult<()> {
        let b = b.as_any().downcast_ref::<FakeGpuBuffer>().unwrap();
        let n = out.len();
        out.copy_from_slice(&b.0.lock().unwrap()[..n]);
        Ok(())
    }
    fn exec(&self, _: &mut DeviceSession, _: &ExecRequest<'_>) -> ParResult<ExecStats> {
        Err(ParError::unsupported("the fake GPU runs nothing"))
    }
}

fn fake_gpu_runtime(fallback: bool) -> Arc<ParallelRuntime> {
    Arc::new(
        ParallelRuntime::with_devices(
            ParallelConfig {
                threads: 2,
                gpu_fallback: fallback,
                // The fallback of the hint policy (tests/all/placement.rs
                // covers the adaptive one).
                device_policy: DevicePolicy::Hint,
                ..ParallelConfig::default()
            },
            |index| {
                vec![Arc::new(FakeGpu(DeviceInfo {
                    kind: DeviceKind::DiscreteGpu,
                    name: "fake gpu".into(),
                    index,
                })) as Arc<dyn Device>]
            },
        )
        .unwrap(),
    )
}

#[test]
fn unsupported_gpu_kernel_falls_back_to_cpu() {
    let rt = fake_gpu_runtime(true);
    assert_eq!(rt.devices().len(), 3);
    let mut g = Guest::new(&rt);
    let gpu = g.get_device(INTEGRATED_GPU).unwrap();
    assert_eq!(gpu, g.get_device(DISCRETE_GPU).unwrap());
    let (x, y, out) = saxpy_run(&mut g, gpu, 300, 32);
    let want: Vec<f32> = x.iter().zip(&y).map(|(x, y)| 2.5f32 * x + y).collect();
    assert_eq!(out, f32s_to_bytes(&want));
    let st = g.ctx().stats();
    assert_eq!(st.fallbacks, 1);
    assert!(st.fallback_reasons[0].contains("fake GPU runs nothing"));
    assert_eq!(st.recent_calls[0].device, DeviceKind::Cpu);

    let rt = fake_gpu_runtime(false);
    let mut g = Guest::new(&rt);
    let gpu = g.get_device(DISCRETE_GPU).unwrap();
    let out = g.create_buffer(gpu, 64, WRITE).unwrap();
    assert_eq!(g.exec(gpu, &wat("trap"), 4, 3, &[], &[out]), UNSUPPORTED);
    assert!(g.ctx().last_error().unwrap().contains("unsupported"));
}

#[test]
fn workers_are_cached_per_kernel_and_buffer_set() {
    let rt = runtime_threads(2);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    let a = g.create_buffer(dev, 4 * 64, WRITE).unwrap();
    let b = g.create_buffer(dev, 4 * 64, WRITE).unwrap();
    let k = wat("compute");
    for round in 0..3 {
        for (buf, steps) in [(a, 3u32), (b, 4)] {
            assert_eq!(g.exec(dev, &k, 64, steps, &[], &[buf]), 0);
            let rec = g.ctx().stats().recent_calls.back().unwrap().clone();
            assert_eq!(rec.reused_workers, round > 0, "round {round}");
        }
    }
    // the block size and iteration count may change without rebuilding
    assert_eq!(g.exec(dev, &k, 10, 9, &[], &[a]), 0);
    assert!(g.ctx().stats().recent_calls.back().unwrap().reused_workers);
    let got = bytes_to_u32s(&g.read_buffer(a, 40).unwrap());
    assert_eq!(got, (0..10).map(|i| compute_ref(i, 9)).collect::<Vec<_>>());
    let got = bytes_to_u32s(&g.read_buffer(b, 4 * 64).unwrap());
    assert_eq!(got, (0..64).map(|i| compute_ref(i, 4)).collect::<Vec<_>>());
    // a trap drops the set; the next call rebuilds it and works
    let t = wat("trap");
    assert_eq!(g.exec(dev, &t, 64, 0, &[], &[a]), 5);
    assert_eq!(g.exec(dev, &t, 64, 3, &[], &[a]), 0);
    assert!(!g.ctx().stats().recent_calls.back().unwrap().reused_workers);
}

#[test]
fn edge_layouts_zero_region_zero_sized_and_odd_sizes() {
    let rt = runtime_threads(2);
    // R = 0 and no buffers: a memory of 0 pages
    let k0 = wat::parse_str(
        r#"(module (memory (import "" "m") 0)
            (func (export "kernel") (param i32 i32 i32)
              (if (i32.ne (memory.size) (i32.const 0)) (then unreachable))))"#,
    )
    .unwrap();
    // R = 0 with one buffer: the buffer starts at 0
    let k1 = wat::parse_str(
        r#"(module (memory (import "" "m") 0)
            (func (export "kernel") (param i32 i32 i32 i32 i32)
              (i32.store (i32.add (local.get 3) (i32.shl (local.get 0) (i32.const 2)))
                (i32.add (local.get 3) (local.get 4)))))"#,
    )
    .unwrap();
    // three buffers, one of size 0, odd sizes: last byte of each is writable
    let k3 = wat::parse_str(
        r#"(module (memory (import "" "m") 1)
            (func (export "kernel") (param i32 i32 i32 i32 i32 i32 i32 i32 i32)
              (if (i32.ne (local.get 5) (i32.add (local.get 3) (i32.const 4096))) (then unreachable))
              (if (i32.ne (local.get 7) (local.get 5)) (then unreachable))
              (i32.store8 (i32.sub (i32.add (local.get 3) (local.get 4)) (i32.const 1)) (i32.const 7))
              (i32.store8 (i32.sub (i32.add (local.get 7) (local.get 8)) (i32.const 1)) (i32.const 9))))"#,
    )
    .unwrap();
    for hint in [SEQUENTIAL, CPU] {
        let mut g = Guest::new(&rt);
        let dev = g.get_device(hint).unwrap();
        assert_eq!(
            g.exec(dev, &k0, 4, 0, &[], &[]),
            0,
            "{:?}",
            g.ctx().last_error()
        );
        let b = g.create_buffer(dev, 4 * 8, WRITE).unwrap();
        assert_eq!(
            g.exec(dev, &k1, 8, 0, &[], &[b]),
            0,
            "{:?}",
            g.ctx().last_error()
        );
        assert_eq!(bytes_to_u32s(&g.read_buffer(b, 32).unwrap()), vec![32; 8]);
        let a = g.create_buffer(dev, 4095, READ_WRITE).unwrap();
        let z = g.create_buffer(dev, 0, READ_WRITE).unwrap();
        let c = g.create_buffer(dev, 4097, READ_WRITE).unwrap();
        // z has size 0 and takes no room: c starts right after a's page
        assert_eq!(
            g.exec(dev, &k3, 2, 0, &[a], &[z, c]),
            0,
            "{:?}",
            g.ctx().last_error()
        );
        assert_eq!(g.read_buffer(a, 4095).unwrap()[4094], 7);
        assert_eq!(g.read_buffer(c, 4097).unwrap()[4096], 9);
        assert_eq!(g.read_buffer(z, 0).unwrap(), Vec::<u8>::new());
    }
}

#[test]
fn trapping_start_function_is_a_kernel_trap() {
    let rt = runtime_threads(2);
    let k = wat::parse_str(
        r#"(module (memory (import "" "m") 1)
            (func $s unreachable) (start $s)
            (func (export "kernel") (param i32 i32 i32)))"#,
    )
    .unwrap();
    for hint in [SEQUENTIAL, CPU] {
        let mut g = Guest::new(&rt);
        let dev = g.get_device(hint).unwrap();
        assert_eq!(g.exec(dev, &k, 4, 0, &[], &[]), KERNEL_TRAP);
        assert!(g.ctx().last_error().unwrap().contains("instantiation"));
    }
}

#[test]
fn a_kernel_cannot_grow_its_memory() {
    let rt = runtime_threads(2);
    let k = wat::parse_str(
        r#"(module (memory (import "" "m") 1 1 shared)
            (func (export "kernel") (param i32 i32 i32 i32 i32)
              (i32.store (local.get 3) (memory.grow (i32.const 1)))))"#,
    )
    .unwrap();
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    let b = g.create_buffer(dev, 4, WRITE).unwrap();
    assert_eq!(g.exec(dev, &k, 1, 0, &[], &[b]), 0);
    assert_eq!(bytes_to_u32s(&g.read_buffer(b, 4).unwrap()), vec![u32::MAX]);
}

#[test]
fn a_trap_on_cpu_stops_the_other_workers_early() {
    // iteration 5 traps at once; the other iterations each spin a while, so
    // without the stop flag all 20000 would run.
    let k = wat::parse_str(
        r#"(module (memory (import "" "memory") 1)
            (func (export "kernel") (param $id i32) (param i32 i32) (param $o i32) (param i32)
              (local $k i32)
              (if (i32.eq (local.get $id) (i32.const 5)) (then unreachable))
              (block $d (loop $l
                (br_if $d (i32.ge_u (local.get $k) (i32.const 20000)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $l)))
              (i32.store (i32.add (local.get $o) (i32.shl (local.get $id) (i32.const 2))) (i32.const 1))))"#,
    )
    .unwrap();
    let rt = runtime_threads(4);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    let n = 20000u32;
    let out = g.create_buffer(dev, 4 * n, WRITE).unwrap();
    assert_eq!(g.exec(dev, &k, n, 0, &[], &[out]), KERNEL_TRAP);
    let ran = bytes_to_u32s(&g.read_buffer(out, 4 * n as usize).unwrap())
        .iter()
        .filter(|v| **v == 1)
        .count();
    assert!(
        ran < n as usize / 2,
        "{ran} of {n} iterations ran after the trap"
    );
}

#[test]
fn gpu_hints_get_a_gpu_when_the_runtime_has_one() {
    // the full runtime, with whatever Vulkan devices this machine has
    let rt = Arc::new(ParallelRuntime::new(ParallelConfig::default()).unwrap());
    let devices = rt.devices();
    let mut g = Guest::new(&rt);
    let cpu = g.get_device(CPU).unwrap();
    let gpu = g.get_device(DISCRETE_GPU).unwrap();
    let has_gpu = devices.iter().any(|d| d.kind.is_gpu());
    assert_eq!(gpu == cpu, !has_gpu, "devices: {devices:?}");
    assert_eq!(devices[0].kind, DeviceKind::Sequential);
    assert_eq!(devices[1].kind, DeviceKind::Cpu);
    for (i, d) in devices.iter().enumerate() {
        assert_eq!(d.index, i);
    }
}

#[test]
fn buffers_that_do_not_fit_a_32_bit_memory_are_resource_exhausted() {
    let rt = runtime_threads(2);
    let k = wat::parse_str(
        r#"(module (memory (import "" "memory") 65535)
            (func (export "kernel") (param i32 i32 i32 i32 i32)))"#,
    )
    .unwrap();
    for hint in [SEQUENTIAL, CPU] {
        let mut g = Guest::new(&rt);
        let dev = g.get_device(hint).unwrap();
        let small = g.create_buffer(dev, 65536, READ).unwrap();
        let big = g.create_buffer(dev, 65537, READ).unwrap();
        assert_eq!(g.exec(dev, &k, 1, 0, &[big], &[]), RESOURCE_EXHAUSTED);
        assert!(g.ctx().last_error().unwrap().contains("32-bit"));
        // exactly 4 GiB fits (the window is only reserved, not touched)
        assert_eq!(
            g.exec(dev, &k, 1, 0, &[small], &[]),
            0,
            "{:?}",
            g.ctx().last_error()
        );
    }
}

struct BrokenDevice(DeviceInfo);
impl Device for BrokenDevice {
    fn info(&self) -> &DeviceInfo {
        &self.0
    }
    fn create_buffer(&self, size: u64) -> ParResult<Box<dyn DeviceBuffer>> {
        Ok(Box::new(FakeGpuBuffer(Mutex::new(vec![0; size as usize]))))
    }
    fn write(&self, _: &dyn DeviceBuffer, _: &[u8]) -> ParResult<()> {
        Err(ParError::device_error("device lost"))
    }
    fn read(&self, _: &dyn DeviceBuffer, _: &mut [u8]) -> ParResult<()> {
        Err(ParError::device_error("device lost"))
    }
    fn exec(&self, _: &mut DeviceSession, _: &ExecRequest<'_>) -> ParResult<ExecStats> {
        Err(ParError::device_error("device lost"))
    }
}

#[test]
fn device_errors_reach_the_guest_as_device_error() {
    let rt = Arc::new(
        ParallelRuntime::with_devices(
            ParallelConfig {
                // Calls stay on the broken device (tests/all/placement.rs: the
                // adaptive policy reruns them on the CPU device).
                device_policy: DevicePolicy::Hint,
                ..ParallelConfig::default()
            },
            |index| {
                vec![Arc::new(BrokenDevice(DeviceInfo {
                    kind: DeviceKind::IntegratedGpu,
                    name: "broken".into(),
                    index,
                })) as Arc<dyn Device>]
            },
        )
        .unwrap(),
    );
    let mut g = Guest::new(&rt);
    let dev = g.get_device(INTEGRATED_GPU).unwrap();
    let b = g.create_buffer(dev, 64, READ_WRITE).unwrap();
    const DEVICE_ERROR: i32 = 7;
    assert_eq!(g.write_buffer(b, &[1, 2, 3]), DEVICE_ERROR);
    assert_eq!(g.read_buffer(b, 3), Err(DEVICE_ERROR));
    assert_eq!(g.exec(dev, &wat("trap"), 4, 3, &[], &[b]), DEVICE_ERROR);
    assert!(g.ctx().last_error().unwrap().contains("device lost"));
    // no fallback for a device error: only `unsupported` falls back
    assert_eq!(g.ctx().stats().fallbacks, 0);
    // the CPU device of the same runtime still works
    let cpu = g.get_device(CPU).unwrap();
    let c = g.create_buffer(cpu, 16, READ_WRITE).unwrap();
    assert_eq!(g.exec(cpu, &wat("trap"), 4, 3, &[], &[c]), 0);
}
