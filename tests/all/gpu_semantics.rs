//! Memory, control flow, calls, globals, data segments, traps and fuel on
//! Vulkan, compared with the interpreter (or checked for the trap). The
//! random kernel generator is in `gpu_random_kernels.rs`, the reduced
//! driver regressions in `gpu_driver_regressions.rs`.
#![cfg(feature = "vulkan")]

use crate::gpu_util::*;
use wasi_parallel::parallel::Errno;

#[test]
fn sub_word_and_unaligned_stores_do_not_clobber_neighbours() {
    // Adjacent invocations write neighbouring bytes / halves / unaligned words.
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $pa i32) (param $la i32) (param $p8 i32) (param $l8 i32)
        (param $p16 i32) (param $l16 i32) (param $p32 i32) (param $l32 i32) (param $p64 i32) (param $l64 i32)
    (i32.store8 (i32.add (local.get $p8) (local.get $i))
      (i32.load8_u (i32.add (local.get $pa) (local.get $i))))
    (i32.store16 offset=1 (i32.add (local.get $p16) (i32.shl (local.get $i) (i32.const 1)))
      (i32.load16_s offset=1 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 1)))))
    (i32.store offset=3 (i32.add (local.get $p32) (i32.shl (local.get $i) (i32.const 2)))
      (i32.load offset=1 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2)))))
    (i64.store offset=5 (i32.add (local.get $p64) (i32.shl (local.get $i) (i32.const 3)))
      (i64.add (i64.load offset=3 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 3))))
               (i64.load8_s offset=2 (local.get $pa))))
    (i64.store8 offset=7 (local.get $p64) (i64.load16_u offset=5 (local.get $pa)))))"#
    ));
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let n = 1000u32;
    compare(
        rt,
        &w,
        n,
        1,
        &[
            bytes(8 * 1000 + 16, 3),
            bytes(1000, 4),
            bytes(2003, 5),
            bytes(4008, 6),
            bytes(8016, 7),
        ],
        &[],
    );
}

/// A sub-word store is one plain load and one atomic xor of the bits that
/// change (`codegen/stack.rs::insert_word`; it was an atomic and plus an
/// atomic or, twice the per-lane loops for lavapipe to compile). Four
/// invocations rewrite the four bytes of one word (and two the halves of
/// another) many times over while the others do the same: each byte must
/// end as its own writer left it, and a run of byte stores shifting a word
/// within one invocation (the spec's `left-to-right.wast` helpers) must see
/// its own earlier stores.
#[test]
fn sub_word_stores_race_with_neighbours_without_loss() {
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $p8 i32) (param $l8 i32) (param $p16 i32) (param $l16 i32) (param $ps i32) (param $ls i32)
    (local $k i32) (local $q i32)
    (loop $again
      (i32.store8 (i32.add (local.get $p8) (local.get $i))
        (i32.add (i32.mul (local.get $i) (i32.const 7)) (local.get $k)))
      (i32.store16 (i32.add (local.get $p16) (i32.shl (local.get $i) (i32.const 1)))
        (i32.xor (i32.mul (local.get $k) (i32.const 0x101)) (local.get $i)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $k) (i32.const 64))))
    ;; Shift bytes 0..2 of this invocation's word up one byte, then store
    ;; a new byte 0, reading back each byte just written.
    (local.set $q (i32.add (local.get $ps) (i32.shl (local.get $i) (i32.const 2))))
    (i32.store8 offset=3 (local.get $q) (i32.load8_u offset=2 (local.get $q)))
    (i32.store8 offset=2 (local.get $q) (i32.load8_u offset=1 (local.get $q)))
    (i32.store8 offset=1 (local.get $q) (i32.load8_u (local.get $q)))
    (i32.store8 (local.get $q) (i32.add (local.get $i) (i32.const 0x80)))))"#
    ));
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let n = 512u32;
    let out = compare(
        rt,
        &w,
        n,
        1,
        &[vec![0; 512], vec![0; 1024], bytes(2048, 9)],
        &[],
    );
    // Not only equal to the interpreter: each byte holds its writer's last value.
    for i in 0..512usize {
        assert_eq!(out[0][i], (i * 7 + 63) as u8, "byte {i}");
        let h = u16::from_le_bytes([out[1][2 * i], out[1][2 * i + 1]]);
        assert_eq!(h, ((63 * 0x101) ^ i) as u16, "half {i}");
    }
}

#[test]
fn racing_stores_of_one_value_to_one_byte_keep_it() {
    // Every invocation stores the same byte value to one of 16 bytes, the
    // same half-word value to one of 8 halves and an unaligned word to one
    // of 4 places: many invocations race on each byte with equal values,
    // and wasm keeps that value (a sub-word store must not be an xor of
    // the change, which two equal racing stores cancel).
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $p8 i32) (param $l8 i32) (param $p16 i32) (param $l16 i32) (param $pu i32) (param $lu i32)
    (i32.store8 (i32.add (local.get $p8) (i32.and (local.get $i) (i32.const 15))) (i32.const 0x5a))
    (i32.store16 (i32.add (local.get $p16) (i32.shl (i32.and (local.get $i) (i32.const 7)) (i32.const 1)))
      (i32.const 0xbeef))
    (i32.store (i32.add (local.get $pu)
        (i32.add (i32.const 1) (i32.shl (i32.and (local.get $i) (i32.const 3)) (i32.const 3))))
      (i32.const 0x11223344))))"#
    ));
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let out = compare(
        rt,
        &w,
        1024,
        1,
        &[vec![0; 16], vec![0; 16], vec![0; 32]],
        &[],
    );
    assert_eq!(out[0], vec![0x5a; 16]);
    for h in out[1].chunks(2) {
        assert_eq!(u16::from_le_bytes([h[0], h[1]]), 0xbeef);
    }
    for (k, c) in out[2].chunks(8).enumerate() {
        assert_eq!(c, [0, 0x44, 0x33, 0x22, 0x11, 0, 0, 0], "word {k}");
    }
}

#[test]
fn control_flow_multi_level_exits_br_table_and_results() {
    let w = wasm(&format!(
        r#"(module {HDR}
  (func $classify (param $x i32) (result i32)
    (block $d (block $c (block $b (block $a
      (br_table $a $b $c $b $d (i32.and (local.get $x) (i32.const 7))))
      (return (i32.const 10)))
      (return (i32.const 20)))
      (return (i32.mul (local.get $x) (i32.const 3))))
    (i32.const 40))
  (func $nested (param $x i32) (result i32)
    (local $i i32) (local $j i32) (local $acc i32)
    (block $done
      (loop $outer
        (local.set $j (i32.const 0))
        (block $inner_done
          (loop $inner
            (local.set $acc (i32.add (local.get $acc) (i32.xor (local.get $i) (local.get $j))))
            ;; exit both loops from the inner one
            (br_if $done (i32.gt_u (local.get $acc) (i32.add (local.get $x) (i32.const 500))))
            ;; continue the outer loop from the inner one
            (if (i32.eq (local.get $j) (i32.and (local.get $x) (i32.const 3)))
              (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $outer)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $inner (i32.lt_u (local.get $j) (i32.const 9)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $outer (i32.lt_u (local.get $i) (i32.const 40)))))
    (local.get $acc))
  (func $ifs (param $x i32) (result i32)
    (if (result i32) (i32.and (local.get $x) (i32.const 1))
      (then (block (result i32)
        (br_if 0 (i32.const 5) (i32.and (local.get $x) (i32.const 2)))
        (drop) (i32.const 6)))
      (else (select (i32.const 7) (i32.const 8) (i32.and (local.get $x) (i32.const 4))))))
  (func $early (param $x i32) (result i32)
    (local $k i32)
    (loop $l
      (if (i32.ge_u (local.get $k) (local.get $x)) (then (return (i32.mul (local.get $k) (i32.const 2)))))
      (local.set $k (i32.add (local.get $k) (i32.const 3)))
      (br $l))
    (unreachable))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $o i32)
    (local.set $o (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 4))))
    (i32.store (local.get $o) (call $classify (local.get $i)))
    (i32.store offset=4 (local.get $o) (call $nested (local.get $i)))
    (i32.store offset=8 (local.get $o) (call $ifs (local.get $i)))
    (i32.store offset=12 (local.get $o) (call $early (i32.rem_u (local.get $i) (i32.const 50))))))"#
    ));
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    compare(rt, &w, 300, 1, &[vec![0; 300 * 16]], &[]);
}

#[test]
fn globals_are_private_memory_size_and_data_segments() {
    let w = wasm(
        r#"(module (import "env" "memory" (memory 2))
  (global $g (mut i32) (i32.const 100))
  (global $f (mut f64) (f64.const -0.5))
  (global $k i64 (i64.const 0x123456789))
  (data (i32.const 8) "\01\02\03\04\05\06\07\08\09")
  (data (i32.const 70000) "hello")
  (func $bump (param $x i32)
    (global.set $g (i32.add (global.get $g) (local.get $x)))
    (global.set $f (f64.mul (global.get $f) (f64.const 3))))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $po i32) (param $lo i32)
    (local $o i32)
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 32))))
    ;; CPU workers keep globals between iterations, GPU invocations start
    ;; fresh: only state set in this iteration is compared.
    (global.set $g (i32.const 100))
    (global.set $f (f64.const -0.5))
    (call $bump (local.get $i))
    (call $bump (i32.const 1))
    (i32.store (local.get $o) (global.get $g))
    (f64.store offset=4 (local.get $o) (global.get $f))
    (i64.store offset=12 (local.get $o) (global.get $k))
    (i32.store offset=20 (local.get $o) (memory.size))
    (i32.store offset=24 (local.get $o) (i32.load offset=9 (i32.and (local.get $i) (i32.const 3))))
    (i32.store8 offset=28 (local.get $o) (i32.load8_u offset=70000 (i32.rem_u (local.get $i) (i32.const 5))))
    (i32.store16 offset=29 (local.get $o) (local.get $b))))"#,
    );
    spirv_val(&w);
    let Some(rt) = rt() else { return };
    let out = compare(rt, &w, 200, 77, &[vec![0; 200 * 32]], &[]);
    // The interpreter itself must show per-invocation globals.
    assert_eq!(u32::from_le_bytes(out[0][32..36].try_into().unwrap()), 102);
}

#[test]
fn duplicate_buffers_are_mapped_once() {
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32)
        (param $p0 i32) (param $l0 i32) (param $p1 i32) (param $l1 i32) (param $p2 i32) (param $l2 i32)
    (i32.store (i32.add (local.get $p2) (i32.shl (local.get $i) (i32.const 2)))
      (i32.add (i32.add (local.get $l0) (i32.sub (local.get $p1) (local.get $p0)))
               (i32.load (i32.add (local.get $p1) (i32.shl (local.get $i) (i32.const 2))))))))"#
    ));
    let Some(rt) = rt() else { return };
    let inputs = [bytes(4096, 9), vec![0u8; 4096]];
    let aliases = [0, 0, 1];
    let r = run_aliased(&rt.rt, SEQUENTIAL, &w, 1024, 1, &inputs, &aliases).unwrap();
    let g = run_aliased(&rt.rt, rt.gpu, &w, 1024, 1, &inputs, &aliases).unwrap();
    assert_eq!(r, g);
}

fn expect_trap(rt: &Rt, w: &[u8], n: u32, inputs: &[Vec<u8>]) {
    for dev in [SEQUENTIAL, rt.gpu] {
        match run(&rt.rt, dev, w, n, 1, inputs) {
            Err(e) => assert_eq!(e.errno, Errno::KernelTrap, "device {dev}: {e}"),
            Ok(_) => panic!("device {dev}: expected a trap"),
        }
    }
}

#[test]
fn traps() {
    let Some(rt) = rt() else { return };
    let body = |e: &str| {
        wasm(&format!(
            r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
    (local $x i32)
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (i32.const 1))
    (if (i32.eq (local.get $i) (i32.const 37)) (then {e}))))"#
        ))
    };
    let cases = [
        "(drop (i32.load (i32.const -4)))",
        "(drop (i32.load offset=4294967295 (i32.const 1)))",
        "(i64.store (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 7)) (i64.const 1))",
        "(drop (i32.load16_u (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1))))",
        "(drop (i32.div_s (local.get $i) (local.get $x)))",
        "(drop (i32.div_u (local.get $i) (local.get $x)))",
        "(drop (i32.rem_s (local.get $i) (local.get $x)))",
        "(drop (i64.div_s (i64.const 0x8000000000000000) (i64.const -1)))",
        "(drop (i32.div_s (i32.const 0x80000000) (i32.sub (local.get $x) (i32.const 1))))",
        "(unreachable)",
        "(drop (i32.trunc_f32_s (f32.const nan)))",
        "(drop (i32.trunc_f64_u (f64.const -1)))",
        "(drop (i64.trunc_f32_s (f32.const 9.3e18)))",
    ];
    for c in cases {
        let w = body(c);
        spirv_val(&w);
        eprintln!("trap case {c}");
        expect_trap(rt, &w, 64, &[vec![0; 1024]]);
    }
    // A store into [0, R) is private per CPU worker but shared on a GPU:
    // the GPU reports `unsupported` (so the runtime falls back) and leaves
    // the buffers untouched.
    let w = body("(i32.store (i32.const 0) (i32.const 1))");
    assert!(run(&rt.rt, SEQUENTIAL, &w, 64, 1, &[vec![0; 1024]]).is_ok());
    let e = run(&rt.rt, rt.gpu, &w, 64, 1, &[vec![0; 1024]]).unwrap_err();
    assert_eq!(e.errno, Errno::Unsupported);
    assert!(e.message.contains("[0, R)"), "{}", e.message);
    // After a trap the device keeps working.
    let ok = body("(nop)");
    compare(rt, &ok, 64, 1, &[vec![0; 1024]], &[]);
}

#[test]
fn fuel_ends_runaway_kernels() {
    // Below lavapipe's loop limit (65535 iterations per invocation).
    let Some(rt) = rt_with_fuel(50_000) else {
        return;
    };
    let spin = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param i32 i32 i32 i32 i32) (loop $l (br $l))))"#
    ));
    expect_trap(&rt, &spin, 16, &[vec![0; 64]]);
    let finite = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $k i32)
    (loop $l (local.set $k (i32.add (local.get $k) (i32.const 1))) (br_if $l (i32.lt_u (local.get $k) (i32.const 20000))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $k))))"#
    ));
    let out = run(&rt.rt, rt.gpu, &finite, 16, 1, &[vec![0; 64]]).unwrap();
    assert_eq!(out[0][..4], 20000u32.to_le_bytes());
}

#[test]
fn unsupported_kernels_report_a_reason() {
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param i32 i32 i32 i32 i32) (drop (memory.grow (i32.const 1)))))"#
    ));
    let e = run(&rt.rt, rt.gpu, &w, 4, 1, &[vec![0; 16]]).unwrap_err();
    assert_eq!(e.errno, Errno::Unsupported);
    assert!(e.message.contains("memory.grow"), "{}", e.message);
}

#[test]
fn many_iterations_and_empty_calls() {
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
    (i32.store8 (i32.add (local.get $p) (local.get $i)) (i32.add (local.get $i) (local.get $n)))))"#
    ));
    let n = 70_000u32 * 64 + 5; // more groups than one dispatch row holds
    compare(rt, &w, n, 1, &[vec![0; n as usize]], &[]);
    let out = run(&rt.rt, rt.gpu, &w, 0, 1, &[vec![9; 8]]).unwrap();
    assert_eq!(out[0], vec![9; 8]);
}

#[test]
fn long_loops_are_exact_or_unsupported() {
    // 200000 iterations: a real GPU runs them; lavapipe's loop limiter
    // stops at 65535, which must come back as `unsupported` with the
    // buffers untouched (never as wrong results).
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $k i32) (local $a i32)
    (loop $l
      (local.set $a (i32.add (i32.mul (local.get $a) (i32.const 3)) (local.get $k)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 200000))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $a))))"#
    ));
    let input = vec![7u8; 64];
    let reference = run(&rt.rt, SEQUENTIAL, &w, 16, 1, std::slice::from_ref(&input)).unwrap();
    match run(&rt.rt, rt.gpu, &w, 16, 1, &[input]) {
        Ok(out) => assert_eq!(out, reference),
        Err(e) => {
            assert_eq!(e.errno, Errno::Unsupported, "{e}");
            assert!(e.message.contains("loop"), "{}", e.message);
        }
    }
}

#[test]
fn project_example_kernels_agree_across_devices() {
    // The prototype-style WAT kernels and clang-built kernels of the tests
    // directory: SEQUENTIAL, CPU and Vulkan must agree; a kernel Vulkan
    // cannot run must say why (the runtime then falls back to the CPU).
    let Some(rt) = rt_default() else { return };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for sub in ["wat", "kernels"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                let p = e.path();
                let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("");
                let name = p.file_stem().and_then(|x| x.to_str()).unwrap_or("");
                // spin never ends without fuel; trap traps by design.
                // data_and_global's output depends on how iterations are
                // spread over workers (its own documentation says so).
                if (ext == "wat" || ext == "wasm")
                    && !["spin", "trap", "spin_forever", "data_and_global"].contains(&name)
                {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    let mut ran_on_gpu = 0;
    for f in &files {
        let w = wat::parse_file(f).unwrap();
        let Ok(k) =
            wasi_parallel::parallel::kernel::Kernel::compile(rt.rt.kernel_engine(), &w, hash(&w))
        else {
            // Not every file there is a valid kernel (loader error tests).
            continue;
        };
        let inputs: Vec<Vec<u8>> = (0..k.num_buffer_params)
            .map(|b| bytes(16 * 256 * 4, b as u64 + 11))
            .collect();
        let r = run(&rt.rt, SEQUENTIAL, &w, 16, 64, &inputs);
        let c = run(&rt.rt, CPU, &w, 16, 64, &inputs);
        let g = run(&rt.rt, rt.gpu, &w, 16, 64, &inputs);
        match (&r, &g) {
            (_, Err(e)) if e.errno == Errno::Unsupported => {
                assert!(!e.message.is_empty());
                eprintln!("{}: not on Vulkan: {}", f.display(), e.message);
            }
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{}: SEQUENTIAL vs Vulkan", f.display());
                ran_on_gpu += 1;
            }
            (Err(a), Err(b)) => assert_eq!(a.errno, b.errno, "{}", f.display()),
            _ => panic!(
                "{}: SEQUENTIAL {:?} vs Vulkan {:?}",
                f.display(),
                r.as_ref().err(),
                g.as_ref().err()
            ),
        }
        if let (Ok(a), Ok(b)) = (&r, &c) {
            assert_eq!(a, b, "{}: SEQUENTIAL vs CPU", f.display());
        }
    }
    assert!(
        ran_on_gpu >= 3,
        "only {ran_on_gpu} example kernels ran on Vulkan"
    );
}

#[test]
fn runaway_kernel_with_large_fuel_never_succeeds() {
    // Fuel above lavapipe's loop limit: the call must end as a trap (fuel)
    // or as unsupported (driver limit, then the runtime falls back), never
    // as a silent success.
    let Some(rt) = rt_with_fuel(1_000_000) else {
        return;
    };
    let spin = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param i32 i32 i32) (loop $l (br $l))))"#
    ));
    let e = run(&rt.rt, rt.gpu, &spin, 4, 1, &[]).unwrap_err();
    assert!(
        matches!(e.errno, Errno::KernelTrap | Errno::Unsupported),
        "{e}"
    );
}

#[test]
fn mandelbrot_example_kernel() {
    // The clang-built example kernel: nested loops, float compares; large
    // enough to exceed lavapipe's loop limit per iteration (then
    // unsupported), small blocks within it.
    let Some(w) = example_file("mandelbrot_kernel.wasm") else {
        return;
    };
    let Some(rt) = rt_default() else { return };
    let (width, height, max_iter) = (128u32, 85u32, 256u32);
    let mut params = Vec::new();
    for v in [width, height, max_iter] {
        params.extend(v.to_le_bytes());
    }
    for f in [-2.0f32, -1.2, 3.0 / 128.0, 2.4 / 85.0] {
        params.extend(f.to_le_bytes());
    }
    let out = vec![0u8; (width * height * 4) as usize];
    for block in [1u32, 4] {
        let n = height.div_ceil(block);
        let r = run(
            &rt.rt,
            SEQUENTIAL,
            &w,
            n,
            block,
            &[params.clone(), out.clone()],
        )
        .unwrap();
        match run(&rt.rt, rt.gpu, &w, n, block, &[params.clone(), out.clone()]) {
            Ok(g) => {
                let diff = r[1]
                    .chunks(4)
                    .zip(g[1].chunks(4))
                    .filter(|(a, b)| a != b)
                    .count();
                for (k, (a, b)) in r[1]
                    .chunks(4)
                    .zip(g[1].chunks(4))
                    .enumerate()
                    .filter(|(_, (a, b))| a != b)
                    .take(8)
                {
                    eprintln!(
                        "pixel {k} (row {}, col {}): {:?} vs {:?}",
                        k / 128,
                        k % 128,
                        a,
                        b
                    );
                }
                assert_eq!(diff, 0, "block {block}: {diff} pixels differ");
            }
            Err(e) => {
                assert_eq!(e.errno, Errno::Unsupported, "{e}");
                eprintln!("block {block}: unsupported: {}", e.message);
            }
        }
    }
}

#[test]
fn nested_loops_beyond_the_driver_limit() {
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $j i32) (local $k i32) (local $a i32)
    (loop $outer
      (local.set $k (i32.const 0))
      (loop $inner
        (local.set $a (i32.add (i32.mul (local.get $a) (i32.const 3)) (local.get $k)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $k) (i32.add (i32.const 900) (i32.mul (local.get $i) (i32.const 37))))))
      (i32.store (i32.add (local.get $p) (i32.shl (i32.add (local.get $j) (i32.mul (local.get $i) (i32.const 100))) (i32.const 2))) (local.get $a))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $j) (i32.const 100))))))"#
    ));
    let input = vec![0u8; 400 * 8];
    let reference = run(&rt.rt, SEQUENTIAL, &w, 8, 1, std::slice::from_ref(&input)).unwrap();
    match run(&rt.rt, rt.gpu, &w, 8, 1, &[input]) {
        Ok(out) => assert_eq!(out, reference),
        Err(e) => {
            eprintln!("nested: {e}");
            assert_eq!(e.errno, Errno::Unsupported, "{e}");
        }
    }
}

#[test]
fn mandelbrot_one_invocation() {
    let Some(w) = example_file("mandelbrot_kernel.wasm") else {
        return;
    };
    let Some(rt) = rt_default() else { return };
    let (width, height, max_iter) = (128u32, 32u32, 256u32);
    let mut params = Vec::new();
    for v in [width, height, max_iter] {
        params.extend(v.to_le_bytes());
    }
    for f in [-2.0f32, -1.2 + 32.0 * 2.4 / 85.0, 3.0 / 128.0, 2.4 / 85.0] {
        params.extend(f.to_le_bytes());
    }
    let out = vec![0u8; (width * height * 4) as usize];
    let r = run(&rt.rt, SEQUENTIAL, &w, 8, 4, &[params.clone(), out.clone()]).unwrap();
    let total: u64 = r[1]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as u64)
        .sum();
    eprintln!("total inner iterations {total}");
    match run(&rt.rt, rt.gpu, &w, 8, 4, &[params.clone(), out.clone()]) {
        Ok(g) => {
            let diff = r[1]
                .chunks(4)
                .zip(g[1].chunks(4))
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(diff, 0, "{diff} pixels differ");
        }
        Err(e) => eprintln!("one: {e}"),
    }
}

/// Device-level calls on buffers kept across calls (the arena residency of
/// the Vulkan device): `exec` with the given kernel and buffers in order.
fn exec_on(
    rt: &Rt,
    wasm: &[u8],
    n: u32,
    bufs: &[&dyn wasi_parallel::parallel::device::DeviceBuffer],
) -> Result<(), wasi_parallel::parallel::ParError> {
    use wasi_parallel::parallel::device::ExecRequest;
    use wasi_parallel::parallel::kernel::{layout::Layout, Kernel};
    let kernel = std::sync::Arc::new(Kernel::compile(rt.rt.kernel_engine(), wasm, hash(wasm))?);
    let keyed: Vec<(usize, u64)> = bufs.iter().map(|b| b.size()).enumerate().collect();
    let layout = Layout::compute(kernel.private_size, &keyed)?;
    rt.rt.device(rt.gpu).expect("gpu").exec(
        &mut None,
        &ExecRequest {
            kernel: &kernel,
            num_iterations: n,
            block_size: 1,
            buffers: bufs,
            layout: &layout,
            fuel: None,
            read_only: &[],
            cancel: &wasi_parallel::parallel::Cancel::never(),
        },
    )?;
    Ok(())
}

#[test]
fn arena_reuse_follows_writes_layouts_and_driver_cuts() {
    // a[i] += b[i] (u32), repeated on the same buffers: the second call on
    // the same placements reuses the arena's copy of the buffers; writes in
    // between, other layouts and a call the driver cuts short must all be
    // seen exactly as without reuse.
    let Some(rt) = rt() else { return };
    let dev = rt.rt.device(rt.gpu).expect("gpu");
    let add = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $pb i32) (param i32) (param $pa i32) (param i32)
    (local $o i32)
    (local.set $o (i32.shl (local.get $i) (i32.const 2)))
    (i32.store (i32.add (local.get $pa) (local.get $o))
      (i32.add (i32.load (i32.add (local.get $pa) (local.get $o)))
               (i32.load (i32.add (local.get $pb) (local.get $o)))))))"#
    ));
    // Increments a[i], then spins 10^6 times: beyond llvmpipe's loop
    // limiter even with unrolled copies (cut, reported as unsupported); a
    // real GPU finishes it.
    let bump_then_spin = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $pa i32) (param i32)
    (local $o i32) (local $k i32)
    (local.set $o (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2))))
    (i32.store (local.get $o) (i32.add (i32.load (local.get $o)) (i32.const 1)))
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 1000000))))))"#
    ));
    let n = 1000u32;
    let words = |v: &[u32]| -> Vec<u8> { v.iter().flat_map(|w| w.to_le_bytes()).collect() };
    let read = |b: &dyn wasi_parallel::parallel::device::DeviceBuffer| -> Vec<u32> {
        let mut out = vec![0u8; b.size() as usize];
        dev.read(b, &mut out).unwrap();
        out.chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let check = |got: &[u32], want: &[u32], what: &str| {
        if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
            panic!("{what}: element {i} is {} instead of {}", got[i], want[i]);
        }
    };
    let a = dev.create_buffer(n as u64 * 4).unwrap();
    let b = dev.create_buffer(n as u64 * 4).unwrap();
    let c = dev.create_buffer(n as u64 * 4).unwrap();
    let mut want_a: Vec<u32> = (0..n).map(|i| i * 7).collect();
    let mut want_b: Vec<u32> = (0..n).map(|i| i + 1).collect();
    let want_c: Vec<u32> = (0..n).map(|i| 1000 - i).collect();
    dev.write(&*a, &words(&want_a)).unwrap();
    dev.write(&*b, &words(&want_b)).unwrap();
    dev.write(&*c, &words(&want_c)).unwrap();
    let step = |want_a: &mut Vec<u32>, by: &[u32]| {
        for (x, y) in want_a.iter_mut().zip(by) {
            *x = x.wrapping_add(*y);
        }
    };
    for round in 0..3 {
        exec_on(rt, &add, n, &[&*b, &*a]).unwrap();
        step(&mut want_a, &want_b);
        check(&read(&*a), &want_a, &format!("round {round}"));
        // A partial write between calls must reach the next call.
        want_b[..10].copy_from_slice(&[round + 100; 10]);
        dev.write(&*b, &words(&want_b[..10])).unwrap();
    }
    // Another layout (c in b's place), then the first one again.
    exec_on(rt, &add, n, &[&*c, &*a]).unwrap();
    step(&mut want_a, &want_c);
    exec_on(rt, &add, n, &[&*b, &*a]).unwrap();
    step(&mut want_a, &want_b);
    check(&read(&*a), &want_a, "a");
    // A call cut short leaves the buffers as they were (the runtime reruns
    // it on the CPU device), and the next call starts from them.
    match exec_on(rt, &bump_then_spin, n, &[&*a]) {
        Err(e) => {
            assert_eq!(e.errno, Errno::Unsupported, "{e}");
            check(&read(&*a), &want_a, "a cut call changed the buffer");
        }
        Ok(()) => step(&mut want_a, &vec![1; n as usize]),
    }
    exec_on(rt, &add, n, &[&*b, &*a]).unwrap();
    step(&mut want_a, &want_b);
    check(&read(&*a), &want_a, "a");
    check(&read(&*b), &want_b, "b");
    check(&read(&*c), &want_c, "c");
}

#[test]
fn unrolled_loops_leave_from_every_copy() {
    // Innermost loops are translated as 4 copies of the body per naga loop
    // iteration: trip counts 0..=12 (every remainder), a `br` out of the
    // loop to an enclosing block, a `br_table` to the loop, to a block
    // inside it and out of it, a loop with a result, an early `return`, and
    // a trap in the middle of a trip, all compared with the interpreter.
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func $count (param $n i32) (result i32)
    (local $k i32) (local $acc i32)
    (loop $l (result i32)
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 3)) (local.get $k)))
      (br_if $l (i32.lt_u (local.get $k) (local.get $n)))
      (local.get $acc)))
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $k i32) (local $acc i32) (local $o i32) (local $n i32)
    (local.set $o (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 4))))
    (local.set $n (i32.rem_u (local.get $i) (i32.const 13)))
    ;; 1: plain counted loop, early exit to the block when i % 5 == 0 at k == 3
    (block $out
      (loop $l
        (br_if $out (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $out (i32.and (i32.eqz (i32.rem_u (local.get $i) (i32.const 5)))
                             (i32.eq (local.get $k) (i32.const 3))))
        (local.set $acc (i32.xor (i32.mul (local.get $acc) (i32.const 31)) (local.get $k)))
        (br $l)))
    (i32.store (local.get $o) (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 24))))
    ;; 2: br_table: 0 continue, 1 skip to the end of the body, 2 leave
    (local.set $k (i32.const 0))
    (local.set $acc (i32.const 7))
    (block $done
      (loop $l
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (block $skip
          (br_table $l $skip $done
            (i32.rem_u (i32.add (local.get $k) (local.get $i)) (i32.const 3)))
          (unreachable))
        (local.set $acc (i32.add (local.get $acc) (local.get $k)))
        (br_if $l (i32.lt_u (local.get $k) (i32.add (local.get $n) (i32.const 2))))))
    (i32.store offset=4 (local.get $o) (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 24))))
    ;; 3: a loop with a result, in a called function
    (i32.store offset=8 (local.get $o) (call $count (local.get $n)))
    ;; 4: return from inside the loop when i % 7 == 6 after k == n / 2
    (i32.store offset=12 (local.get $o) (i32.const -1))
    (local.set $k (i32.const 0))
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (if (i32.and (i32.eq (i32.rem_u (local.get $i) (i32.const 7)) (i32.const 6))
                   (i32.ge_u (local.get $k) (i32.shr_u (local.get $n) (i32.const 1))))
        (then (i32.store offset=12 (local.get $o) (local.get $k)) (return)))
      (br_if $l (i32.lt_u (local.get $k) (local.get $n))))
    (i32.store offset=12 (local.get $o) (i32.sub (i32.const 0) (local.get $k)))))"#
    ));
    spirv_val(&w);
    let n = 200;
    compare(rt, &w, n, 1, &[vec![0; n as usize * 16]], &[]);

    // A trap in the third wasm iteration of one invocation (division by
    // zero at k == 3 for i == 37): reported as a trap, as on the CPU.
    let t = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $k i32) (local $acc i32)
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (local.set $acc (i32.add (local.get $acc)
        (i32.div_u (i32.const 100)
          (i32.or (i32.ne (local.get $i) (i32.const 37)) (i32.ne (local.get $k) (i32.const 3))))))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 10))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $acc))))"#
    ));
    let e = run(&rt.rt, rt.gpu, &t, 64, 1, &[vec![0; 256]]).unwrap_err();
    assert_eq!(e.errno, Errno::KernelTrap, "{e}");
    assert!(e.message.contains("iteration 37"), "{}", e.message);
    assert!(
        run(&rt.rt, SEQUENTIAL, &t, 64, 1, &[vec![0; 256]]).is_err(),
        "the interpreter must trap too"
    );
}

#[test]
fn fuel_runs_out_in_any_copy_of_an_unrolled_loop() {
    // Budgets 1..=9 against a 6-iteration loop: the fuel runs out in each
    // copy position of the unrolled body; both devices agree on which
    // budgets suffice.
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $k i32)
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 6))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $k))))"#
    ));
    for fuel in 1..=9u64 {
        let Some(rt) = rt_with_fuel(fuel) else { return };
        let gpu = run(&rt.rt, rt.gpu, &w, 8, 1, &[vec![0; 32]]);
        match &gpu {
            Ok(out) => assert_eq!(out[0][..4], 6u32.to_le_bytes(), "fuel {fuel}"),
            Err(e) => assert_eq!(e.errno, Errno::KernelTrap, "fuel {fuel}: {e}"),
        }
        // One unit per iteration of the loop body on the GPU: 6 suffice.
        assert_eq!(gpu.is_ok(), fuel >= 6, "fuel {fuel}: {gpu:?}");
    }
}

#[test]
fn loads_at_known_and_unknown_alignments() {
    // The translator loads a word directly where it can prove the address
    // is a multiple of 4 (buffer pointers, shifts by 2 or more, sums of
    // such values, locals that only ever hold such values); everything
    // else takes the any-alignment path. A local that starts aligned and
    // later steps by 1, a pointer moved by an odd offset, and masks must
    // all read the same bytes as the interpreter.
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $pa i32) (param i32) (param $po i32) (param i32)
    (local $p i32) (local $q i32) (local $k i32) (local $s i32) (local $o i32)
    (local.set $o (i32.add (local.get $po) (i32.mul (local.get $i) (i32.const 32))))
    ;; aligned: pointer + i << 2, and a tee of it
    (i32.store (local.get $o)
      (i32.load (local.tee $q (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2))))))
    ;; aligned base, odd memarg offset
    (i32.store offset=4 (local.get $o) (i32.load offset=3 (local.get $q)))
    ;; unaligned: pointer + i (a multiple of 4 only when i is)
    (i32.store offset=8 (local.get $o) (i32.load (i32.add (local.get $pa) (local.get $i))))
    ;; masked down to a multiple of 4: aligned again
    (i32.store offset=12 (local.get $o)
      (i32.load (i32.and (i32.add (local.get $pa) (i32.add (local.get $i) (i32.const 5))) (i32.const -4))))
    ;; a local that starts aligned and steps by 1 inside a loop: the
    ;; translator must notice and drop its assumption
    (local.set $p (local.get $pa))
    (loop $l
      (local.set $s (i32.add (local.get $s) (i32.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.add (i32.const 1) (i32.rem_u (local.get $i) (i32.const 3)))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 9))))
    (i32.store offset=16 (local.get $o) (local.get $s))
    ;; 64 bits at an aligned and at an unaligned address
    (i64.store offset=20 (local.get $o)
      (i64.add (i64.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 3))))
               (i64.load offset=1 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 3))))))))"#
    ));
    spirv_val(&w);
    let n = 64;
    let input = bytes(n as usize * 8 + 64, 77);
    compare(
        rt,
        &w,
        n,
        1,
        &[input, vec![0; n as usize * 32]],
        &[Elem::Bytes, Elem::Bytes],
    );
}

#[test]
fn alignment_assumptions_dropped_one_per_pass_stay_correct() {
    // Inside a loop, each local copies the next one, written in reverse
    // order, and the last gets an odd address: the translator learns one
    // unaligned local per translation pass and, after a few passes, drops
    // every assumption. Loads through each local must match the
    // interpreter on the way.
    let Some(rt) = rt() else { return };
    let w = wasm(&format!(
        r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $pa i32) (param i32) (param $po i32) (param i32)
    (local $l1 i32) (local $l2 i32) (local $l3 i32) (local $l4 i32) (local $l5 i32) (local $l6 i32) (local $l7 i32)
    (local $k i32) (local $s i32)
    (local.set $l1 (local.get $pa)) (local.set $l2 (local.get $pa)) (local.set $l3 (local.get $pa))
    (local.set $l4 (local.get $pa)) (local.set $l5 (local.get $pa)) (local.set $l6 (local.get $pa))
    (local.set $l7 (local.get $pa))
    (loop $l
      (local.set $s (i32.add (local.get $s)
        (i32.add (i32.load (local.get $l1)) (i32.load offset=4 (local.get $l7)))))
      (local.set $l1 (local.get $l2))
      (local.set $l2 (local.get $l3))
      (local.set $l3 (local.get $l4))
      (local.set $l4 (local.get $l5))
      (local.set $l5 (local.get $l6))
      (local.set $l6 (local.get $l7))
      (local.set $l7 (i32.add (local.get $pa) (i32.add (local.get $i) (local.get $k))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 12))))
    (i32.store (i32.add (local.get $po) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))))"#
    ));
    spirv_val(&w);
    let n = 32;
    compare(
        rt,
        &w,
        n,
        1,
        &[bytes(256, 5), vec![0; n as usize * 4]],
        &[Elem::Bytes, Elem::Bytes],
    );
}
