//! 8 host threads, each with its own instance on one shared runtime, run
//! kernels at once and keep their results apart.

use crate::parallel_util::*;
use std::sync::Barrier;

#[test]
fn eight_instances_at_once_keep_results_apart() {
    let rt = runtime_threads(2);
    let barrier = Barrier::new(8);
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let rt = &rt;
            let barrier = &barrier;
            s.spawn(move || {
                let mut g = Guest::new(rt);
                let dev = g
                    .get_device(if t % 2 == 0 { CPU } else { SEQUENTIAL })
                    .unwrap();
                let n = 2000 + 100 * t as usize;
                let x: Vec<f32> = (0..n).map(|i| (i as f32) * (t as f32 + 1.0)).collect();
                let y: Vec<f32> = (0..n).map(|_| t as f32).collect();
                let bx = g.buffer_with(dev, &f32s_to_bytes(&x), READ);
                let by = g.buffer_with(dev, &f32s_to_bytes(&y), READ);
                let bo = g.create_buffer(dev, (n * 4) as u32, WRITE).unwrap();
                let want: Vec<f32> = x.iter().zip(&y).map(|(x, y)| 2.5f32 * x + y).collect();
                let hist_in = pseudo_random(20_000, t as u64);
                let hi = g.buffer_with(dev, &hist_in, READ);
                let ho = g.create_buffer(dev, 20 * 256 * 4, WRITE).unwrap();
                let mut hist_want = vec![0u32; 20 * 256];
                for (i, b) in hist_in.iter().enumerate() {
                    hist_want[(i / 1000) * 256 + *b as usize] += 1;
                }
                barrier.wait();
                for round in 0..10 {
                    assert_eq!(
                        g.exec(
                            dev,
                            &wat("saxpy"),
                            (n as u32).div_ceil(64),
                            64,
                            &[bx, by],
                            &[bo]
                        ),
                        0
                    );
                    assert_eq!(
                        g.read_buffer(bo, n * 4).unwrap(),
                        f32s_to_bytes(&want),
                        "thread {t} round {round}"
                    );
                    assert_eq!(
                        g.exec(dev, &clang_kernel("histogram"), 20, 1000, &[hi], &[ho]),
                        0
                    );
                    assert_eq!(
                        bytes_to_u32s(&g.read_buffer(ho, 20 * 256 * 4).unwrap()),
                        hist_want
                    );
                }
                // a trapping call in one instance does not disturb the others
                let to = g.create_buffer(dev, 4 * 64, WRITE).unwrap();
                assert_eq!(g.exec(dev, &wat("trap"), 64, t % 3, &[], &[to]), 5);
                assert_eq!(
                    g.exec(
                        dev,
                        &wat("saxpy"),
                        (n as u32).div_ceil(64),
                        64,
                        &[bx, by],
                        &[bo]
                    ),
                    0
                );
                assert_eq!(g.read_buffer(bo, n * 4).unwrap(), f32s_to_bytes(&want));
            });
        }
    });
}
