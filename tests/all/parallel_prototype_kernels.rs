//! The prototype-style WAT kernels of tests/wat (see its README), run on
//! SEQUENTIAL and on CPU, with the results their table promises.

use crate::parallel_util::*;
use wasi_parallel::parallel::ParallelConfig;

fn each_device(f: impl Fn(&mut Guest, u32)) {
    for threads in [1, 3] {
        let rt = runtime_threads(threads);
        for hint in [SEQUENTIAL, CPU] {
            let mut g = Guest::new(&rt);
            let dev = g.get_device(hint).unwrap();
            f(&mut g, dev);
        }
    }
}

#[test]
fn iota_and_vector_add() {
    each_device(|g, dev| {
        let n = 1000u32;
        let out = g.create_buffer(dev, 4 * n, WRITE).unwrap();
        assert_eq!(g.exec(dev, &wat("iota"), n, 1, &[], &[out]), 0);
        assert_eq!(
            bytes_to_u32s(&g.read_buffer(out, 4 * n as usize).unwrap()),
            (0..n).collect::<Vec<_>>()
        );

        let a: Vec<u32> = (0..n).map(|i| i.wrapping_mul(0x9E3779B9)).collect();
        let b: Vec<u32> = (0..n).map(|i| u32::MAX - i * 3).collect();
        let ba = g.buffer_with(dev, &u32s_to_bytes(&a), READ);
        let bb = g.buffer_with(dev, &u32s_to_bytes(&b), READ);
        let bc = g.create_buffer(dev, 4 * n, WRITE).unwrap();
        assert_eq!(
            g.exec(
                dev,
                &wat("vector_add"),
                n.div_ceil(64),
                64,
                &[ba, bb],
                &[bc]
            ),
            0
        );
        let want: Vec<u32> = a.iter().zip(&b).map(|(x, y)| x.wrapping_add(*y)).collect();
        assert_eq!(
            bytes_to_u32s(&g.read_buffer(bc, 4 * n as usize).unwrap()),
            want
        );
    });
}

#[test]
fn trap_on_3_and_empty() {
    each_device(|g, dev| {
        let out = g.create_buffer(dev, 4 * 16, WRITE).unwrap();
        assert_eq!(g.exec(dev, &wat("trap_on_3"), 16, 1, &[], &[out]), 5);
        assert_eq!(g.exec(dev, &wat("trap_on_3"), 3, 1, &[], &[out]), 0);
        assert_eq!(
            bytes_to_u32s(&g.read_buffer(out, 12).unwrap()),
            vec![1, 1, 1]
        );
        assert_eq!(g.exec(dev, &wat("empty"), 0, 0, &[], &[]), 0);
        assert_eq!(g.exec(dev, &wat("empty"), 10, 0, &[], &[]), 0);
        assert_eq!(g.exec(dev, &wat("invalid_imports_func"), 1, 0, &[], &[]), 4);
    });
}

#[test]
fn spin_forever_needs_kernel_fuel() {
    let rt = runtime(ParallelConfig {
        threads: 2,
        kernel_fuel: Some(1_000_000),
        ..ParallelConfig::default()
    });
    for hint in [SEQUENTIAL, CPU] {
        let mut g = Guest::new(&rt);
        let dev = g.get_device(hint).unwrap();
        assert_eq!(g.exec(dev, &wat("spin_forever"), 4, 0, &[], &[]), 5);
        assert!(g.ctx().last_error().unwrap().contains("fuel"));
    }
}

#[test]
fn scan_marker_isolation() {
    let marker = 0x5EC2_E7EDu32.to_le_bytes();
    each_device(|g, dev| {
        for i in 0..32 {
            g.poke(DATA + 8192 + i * 4, &marker);
        }
        let out = g.create_buffer(dev, 8, WRITE).unwrap();
        assert_eq!(g.exec(dev, &wat("scan_marker"), 1, 1, &[], &[out]), 0);
        assert_eq!(
            bytes_to_u32s(&g.read_buffer(out, 8).unwrap()),
            vec![0, u32::MAX]
        );
        let mut data = vec![0u8; 256];
        data[0..4].copy_from_slice(&marker);
        let input = g.buffer_with(dev, &data, READ);
        assert_eq!(
            g.exec(dev, &wat("scan_marker_2"), 1, 1, &[input], &[out]),
            0
        );
        let got = bytes_to_u32s(&g.read_buffer(out, 8).unwrap());
        assert_eq!(
            got,
            vec![1, 65536],
            "one hit, at the input's ptr (R = 64 KiB)"
        );
    });
}

#[test]
fn private_region_and_data_and_global() {
    each_device(|g, dev| {
        let n = 300u32;
        let out = g.create_buffer(dev, 4 * n, WRITE).unwrap();
        assert_eq!(
            g.exec(dev, &wat("private_region"), n, 1, &[], &[out]),
            0,
            "{:?}",
            g.ctx().last_error()
        );
        assert!(bytes_to_u32s(&g.read_buffer(out, 4 * n as usize).unwrap())
            .iter()
            .all(|v| *v == 1));
        assert_eq!(g.exec(dev, &wat("data_and_global"), n, 1, &[], &[out]), 0);
        let table = [11u32, 22, 33, 44, 55, 66, 77, 88];
        for (i, v) in bytes_to_u32s(&g.read_buffer(out, 4 * n as usize).unwrap())
            .iter()
            .enumerate()
        {
            assert_eq!(v & 0xff, table[i % 8]);
            assert!(v >> 8 >= 1);
        }
    });
}

#[test]
fn layout_report_follows_the_layout_rule() {
    each_device(|g, dev| {
        let a = g.create_buffer(dev, 100, READ).unwrap();
        let out = g.create_buffer(dev, 20, WRITE).unwrap();
        assert_eq!(g.exec(dev, &wat("layout_report"), 1, 1, &[a], &[out]), 0);
        // a at R, out at the end of a rounded up to 4096; 2 pages in all
        let got = bytes_to_u32s(&g.read_buffer(out, 20).unwrap());
        assert_eq!(got, vec![0x10000, 100, 0x11000, 20, 2]);
    });
}

/// nstream (a += b + 3c) bit for bit against a Rust reference, on both
/// kernel engines, SEQUENTIAL and CPU: the JIT compiles its loop unrolled
/// (`src/parallel/device/cpu/unroll.rs`), so every block size from 1 to 9
/// runs rounds and leftover trips, and iterations start at every offset
/// of a round.
#[test]
fn nstream_matches_a_reference_on_both_engines() {
    use wasi_parallel::parallel::KernelEngine;
    let engines: &[KernelEngine] = if KernelEngine::jit_available() {
        &[KernelEngine::Jit, KernelEngine::Interpreter]
    } else {
        &[KernelEngine::Interpreter]
    };
    for &engine in engines {
        let rt = runtime(ParallelConfig {
            threads: 2,
            kernel_engine: engine,
            ..ParallelConfig::default()
        });
        for hint in [SEQUENTIAL, CPU] {
            let mut g = Guest::new(&rt);
            let dev = g.get_device(hint).unwrap();
            for bs in 1..=9u32 {
                let iters = 7u32;
                let len = (iters * bs) as usize;
                let a: Vec<f32> = (0..len).map(|i| i as f32 * 0.75 - 3.0).collect();
                let b: Vec<f32> = (0..len).map(|i| (i % 5) as f32 * 1.25).collect();
                let c: Vec<f32> = (0..len).map(|i| 1.0 / (i as f32 + 3.0)).collect();
                let ba = g.buffer_with(dev, &f32s_to_bytes(&a), READ_WRITE);
                let bb = g.buffer_with(dev, &f32s_to_bytes(&b), READ);
                let bc = g.buffer_with(dev, &f32s_to_bytes(&c), READ);
                assert_eq!(
                    g.exec(dev, &wat("nstream"), iters, bs, &[ba, bb, bc], &[]),
                    0,
                    "{engine:?} {hint} bs {bs}"
                );
                let want: Vec<u32> = (0..len)
                    .map(|j| (a[j] + (b[j] + 3.0 * c[j])).to_bits())
                    .collect();
                let got = bytes_to_u32s(&g.read_buffer(ba, 4 * len).unwrap());
                assert_eq!(got, want, "{engine:?} {hint} bs {bs}");
            }
        }
    }
}
