//! Nested-loop example kernels on Vulkan with llvmpipe's loop limiter
//! detection on (no depth gate): every call is either bit-identical to the
//! interpreter (CPU device, wasmi) or `unsupported` naming the loop limit,
//! never wrong results. Plus probes of the limiter's counting rule.
#![cfg(feature = "vulkan")]

use crate::gpu_util::*;
use wasi_parallel::parallel::Errno;

const HDR: &str = r#"(import "env" "memory" (memory 1))"#;

fn example(name: &str) -> Option<Vec<u8>> {
    example_file(name)
}

/// Runs on Vulkan and checks "exact or unsupported (loop limit)"; returns
/// whether it ran on Vulkan.
fn check(
    rt: &Rt,
    w: &[u8],
    n: u32,
    block: u32,
    inputs: &[Vec<u8>],
    reference: &[Vec<u8>],
    what: &str,
) -> bool {
    match run(&rt.rt, rt.gpu, w, n, block, inputs) {
        Ok(g) => {
            assert!(
                g == reference,
                "{what}: Vulkan differs from the interpreter"
            );
            true
        }
        Err(e) => {
            assert_eq!(e.errno, Errno::Unsupported, "{what}: {e}");
            assert!(e.message.contains("loop"), "{what}: {}", e.message);
            false
        }
    }
}

#[test]
fn mandelbrot_all_sizes_and_blocks_exact_or_unsupported() {
    let Some(w) = example("mandelbrot_kernel.wasm") else {
        return;
    };
    let Some(rt) = rt() else { return };
    let mut ran = 0;
    let mut cut = 0;
    for (size, max_iter) in [(64u32, 256u32), (128, 256), (256, 128), (512, 64)] {
        let (width, height) = (size, size * 3 / 4);
        let mut params = Vec::new();
        for v in [width, height, max_iter] {
            params.extend(v.to_le_bytes());
        }
        for f in [-2.0f32, -1.2, 3.0 / width as f32, 2.4 / height as f32] {
            params.extend(f.to_le_bytes());
        }
        let inputs = [params, vec![0u8; (width * height * 4) as usize]];
        let reference = run(&rt.rt, CPU, &w, height.div_ceil(8), 8, &inputs).unwrap();
        for block in 1..=8u32 {
            let what = format!("mandelbrot {width}x{height} max_iter {max_iter} block {block}");
            if check(
                rt,
                &w,
                height.div_ceil(block),
                block,
                &inputs,
                &reference,
                &what,
            ) {
                ran += 1;
            } else {
                cut += 1;
                eprintln!("{what}: unsupported (loop limit)");
            }
        }
    }
    eprintln!("mandelbrot: {ran} calls exact on Vulkan, {cut} unsupported");
    assert!(ran > 0);
}

#[test]
fn matmul_256_exact_or_unsupported() {
    let Some(w) = example("matmul_kernel.wasm") else {
        return;
    };
    let Some(rt) = rt() else { return };
    let (n, m, k) = (256u32, 256u32, 256u32);
    let mut params = Vec::new();
    for v in [n, m, k] {
        params.extend(v.to_le_bytes());
    }
    let f = |len: u32, seed: u32| -> Vec<u8> {
        (0..len)
            .flat_map(|i| {
                (((i.wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 250.0 - 2.0).to_le_bytes()
            })
            .collect()
    };
    let inputs = [
        params,
        f(n * k, 1),
        f(k * m, 2),
        vec![0u8; (n * m * 4) as usize],
    ];
    let reference = run(&rt.rt, CPU, &w, n / 4, 4, &inputs).unwrap();
    let mut ran = 0;
    for block in [1u32, 2, 4] {
        let what = format!("matmul 256 block {block}");
        if check(rt, &w, n.div_ceil(block), block, &inputs, &reference, &what) {
            ran += 1;
        } else {
            eprintln!("{what}: unsupported (loop limit)");
        }
    }
    eprintln!("matmul: {ran} of 3 calls exact on Vulkan");
}

#[test]
fn limiter_counts_all_loops_of_an_invocation_and_every_cut_is_reported() {
    // llvmpipe: 65535 loop back-edge tests per SIMD vector of invocations,
    // summed over every loop (sequential or nested). Each call must be
    // exact or unsupported; below the limit it must be exact.
    let Some(rt) = rt() else { return };
    let body = |m: u32, k: u32| {
        wat::parse_str(format!(
            r#"(module {HDR}
  (func (export "kernel") (param $i i32) (param i32 i32) (param $p i32) (param i32)
    (local $j i32) (local $k i32) (local $a i32)
    (loop $outer
      (local.set $k (i32.const 0))
      (loop $inner
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $k) (i32.const {k}))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $j) (i32.const {m}))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $a))))"#
        ))
        .unwrap()
    };
    for (m, k, must_run) in [
        (100u32, 600u32, true),
        (10, 6000, true),
        (100, 655, false),
        (100, 700, false),
        (10, 6600, false),
        (300, 300, false),
        (2, 40000, false),
    ] {
        let w = body(m, k);
        let inputs = [vec![0u8; 4 * 9]];
        let reference = run(&rt.rt, SEQUENTIAL, &w, 9, 1, &inputs).unwrap();
        let ran = check(
            rt,
            &w,
            9,
            1,
            &inputs,
            &reference,
            &format!("nested {m}x{k}"),
        );
        if must_run {
            assert!(ran, "nested {m}x{k} is below the limit");
        }
    }
}

#[test]
fn opt_out_gate_still_sends_nested_loops_to_the_cpu_on_llvmpipe() {
    let Some(w) = example("mandelbrot_kernel.wasm") else {
        return;
    };
    let Some(rt) = rt_gated() else { return };
    let mut params = Vec::new();
    for v in [16u32, 4, 8] {
        params.extend(v.to_le_bytes());
    }
    for f in [-2.0f32, -1.2, 0.2, 0.6] {
        params.extend(f.to_le_bytes());
    }
    let inputs = [params, vec![0u8; 16 * 4 * 4]];
    let reference = run(&rt.rt, SEQUENTIAL, &w, 4, 1, &inputs).unwrap();
    match run(&rt.rt, rt.gpu, &w, 4, 1, &inputs) {
        Ok(g) => assert_eq!(g, reference), // not a CPU-type device
        Err(e) => {
            assert_eq!(e.errno, Errno::Unsupported, "{e}");
            assert!(e.message.contains("nested"), "{}", e.message);
        }
    }
}

#[test]
fn a_kernel_cut_at_one_block_size_is_not_retried_at_that_size_or_larger() {
    // Each invocation loops block_size * 100000 times: with block 4 that
    // exceeds llvmpipe's limiter even unrolled (cut, unsupported); the
    // device then declines block sizes >= 4 for this kernel at once, and
    // still runs block 1 (100000 iterations, unrolled 4x: within it).
    let Some(rt) = rt() else { return };
    let w = wat::parse_str(
        r#"(module (import "env" "memory" (memory 1))
  (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param i32)
    (local $k i32) (local $end i32)
    (local.set $end (i32.mul (local.get $b) (i32.const 100000)))
    (loop $l
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (local.get $end))))
    (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))) (local.get $k))))"#,
    )
    .unwrap();
    let first = run(&rt.rt, rt.gpu, &w, 8, 4, &[vec![0; 32]]);
    let Err(e) = first else {
        eprintln!("note: no loop limiter on this device; nothing to decline");
        return;
    };
    assert_eq!(e.errno, Errno::Unsupported, "{e}");
    assert!(e.message.contains("cut"), "{}", e.message);
    for block in [4, 8] {
        let e = run(&rt.rt, rt.gpu, &w, 8, block, &[vec![0; 32]]).unwrap_err();
        assert_eq!(e.errno, Errno::Unsupported, "{e}");
        assert!(e.message.contains("not retried"), "{}", e.message);
    }
    let out = run(&rt.rt, rt.gpu, &w, 8, 1, &[vec![0; 32]]).unwrap();
    assert_eq!(out[0][..4], 100000u32.to_le_bytes());
}
