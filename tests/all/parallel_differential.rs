//! Every test kernel leaves identical buffers on SEQUENTIAL and on CPU with
//! 1, 2, 4 and 8 threads, and equal to a Rust reference where there is one.

use crate::parallel_util::*;

struct Case {
    name: &'static str,
    kernel: Vec<u8>,
    inputs: Vec<Vec<u8>>,
    out_sizes: Vec<usize>,
    iterations: u32,
    block: u32,
    reference: Option<Vec<Vec<u8>>>,
}

fn cases() -> Vec<Case> {
    let n = 10_000usize;
    let x: Vec<f32> = (0..n).map(|i| (i as f32).sin() * 100.0).collect();
    let y: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).cos()).collect();
    let saxpy: Vec<f32> = x.iter().zip(&y).map(|(x, y)| 2.5f32 * x + y).collect();

    let bytes = pseudo_random(50_000, 3);
    let hist_block = 777usize;
    let hist_iters = bytes.len().div_ceil(hist_block);
    let mut hist = vec![0u32; hist_iters * 256];
    for (i, b) in bytes.iter().enumerate() {
        hist[(i / hist_block) * 256 + *b as usize] += 1;
    }

    let lut = [7u32, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3];
    let lut_in: Vec<u32> = (0..3000u32)
        .map(|i| i.wrapping_mul(2246822519) ^ 77)
        .collect();
    let lut_out: Vec<u32> = lut_in
        .iter()
        .enumerate()
        .map(|(i, v)| lut[(*v % 16) as usize] * 3 + i as u32)
        .collect();

    let compute_n = 500u32;
    let compute: Vec<u32> = (0..compute_n).map(|i| compute_ref(i, 200)).collect();

    vec![
        Case {
            name: "saxpy (prototype WAT)",
            kernel: wat("saxpy"),
            inputs: vec![f32s_to_bytes(&x), f32s_to_bytes(&y)],
            out_sizes: vec![n * 4],
            iterations: (n as u32).div_ceil(37),
            block: 37,
            reference: Some(vec![f32s_to_bytes(&saxpy)]),
        },
        Case {
            name: "histogram (clang, shadow stack)",
            kernel: clang_kernel("histogram"),
            inputs: vec![bytes],
            out_sizes: vec![hist_iters * 256 * 4],
            iterations: hist_iters as u32,
            block: hist_block as u32,
            reference: Some(vec![u32s_to_bytes(&hist)]),
        },
        Case {
            name: "lut (clang, data segment)",
            kernel: clang_kernel("lut"),
            inputs: vec![u32s_to_bytes(&lut_in)],
            out_sizes: vec![3000 * 4],
            iterations: 3000 / 7 + 1,
            block: 7,
            reference: Some(vec![u32s_to_bytes(&lut_out)]),
        },
        Case {
            name: "compute",
            kernel: wat("compute"),
            inputs: vec![],
            out_sizes: vec![compute_n as usize * 4],
            iterations: compute_n,
            block: 200,
            reference: Some(vec![u32s_to_bytes(&compute)]),
        },
        Case {
            name: "trap-free trap kernel",
            kernel: wat("trap"),
            inputs: vec![],
            out_sizes: vec![4 * 300],
            iterations: 300,
            block: 3,
            reference: Some(vec![u32s_to_bytes(&(1..=300).collect::<Vec<u32>>())]),
        },
        Case {
            name: "privacy",
            kernel: wat("privacy"),
            inputs: vec![],
            out_sizes: vec![4 * 200],
            iterations: 200,
            block: 500,
            reference: Some(vec![vec![0u8; 4 * 200]]),
        },
    ]
}

fn run_case(
    rt: &std::sync::Arc<wasi_parallel::parallel::ParallelRuntime>,
    hint: i32,
    c: &Case,
) -> Vec<Vec<u8>> {
    let mut g = Guest::new(rt);
    let dev = g.get_device(hint).unwrap();
    let ins: Vec<u32> = c
        .inputs
        .iter()
        .map(|d| g.buffer_with(dev, d, READ))
        .collect();
    // outputs start with a pattern so that "not written" is visible
    let outs: Vec<u32> = c
        .out_sizes
        .iter()
        .map(|s| g.buffer_with(dev, &vec![0x5A; *s], READ_WRITE))
        .collect();
    let r = g.exec(dev, &c.kernel, c.iterations, c.block, &ins, &outs);
    assert_eq!(r, 0, "{}: {:?}", c.name, g.ctx().last_error());
    outs.iter()
        .zip(&c.out_sizes)
        .map(|(b, s)| g.read_buffer(*b, *s).unwrap())
        .collect()
}

#[test]
fn sequential_and_cpu_1_2_4_8_threads_agree() {
    let cases = cases();
    let seq_rt = runtime_threads(1);
    let seq: Vec<Vec<Vec<u8>>> = cases
        .iter()
        .map(|c| run_case(&seq_rt, SEQUENTIAL, c))
        .collect();
    for (c, s) in cases.iter().zip(&seq) {
        if let Some(r) = &c.reference {
            assert!(
                r == s,
                "{}: SEQUENTIAL differs from the Rust reference",
                c.name
            );
        }
    }
    for threads in [1, 2, 4, 8] {
        let rt = runtime_threads(threads);
        for (c, s) in cases.iter().zip(&seq) {
            let got = run_case(&rt, CPU, c);
            assert!(
                &got == s,
                "{}: CPU with {threads} threads differs from SEQUENTIAL",
                c.name
            );
        }
    }
}
