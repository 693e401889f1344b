//! Concurrency stress: several host threads, each creating instances
//! (contexts) on one shared runtime and running kernels on every device
//! (SEQUENTIAL, CPU, and Vulkan when present), with every result checked.
//! Kernel variants outnumber the cache entries, so compiled kernels are
//! evicted while other threads still run them; trapping and endless
//! kernels (kernel fuel) are mixed in.
//!
//! Runs for `WASI_PARALLEL_STRESS_SECS` seconds (default 3); e.g.
//! `WASI_PARALLEL_STRESS_SECS=300 cargo test --release --test stress`.

// The shared helpers of tests/all; this binary uses only some of them.
#[allow(dead_code)]
#[path = "all/parallel_util.rs"]
mod parallel_util;

use parallel_util::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasi_parallel::parallel::{ParallelConfig, ParallelRuntime};

const KERNEL_TRAP: i32 = 5;
const VARIANTS: u32 = 6;

/// c[j] = a[j] + b[j] + k for the j of this iteration's block.
fn add_k(k: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (memory (import "" "memory") 1 1 shared)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
        (param $a i32) (param $al i32) (param $b i32) (param $bl i32) (param $c i32) (param $cl i32)
    (local $j i32) (local $end i32) (local $off i32)
    (local.set $j (i32.mul (local.get $id) (local.get $bs)))
    (local.set $end (i32.add (local.get $j) (local.get $bs)))
    (if (i32.gt_u (local.get $end) (i32.shr_u (local.get $cl) (i32.const 2)))
      (then (local.set $end (i32.shr_u (local.get $cl) (i32.const 2)))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $j) (local.get $end)))
      (local.set $off (i32.shl (local.get $j) (i32.const 2)))
      (i32.store (i32.add (local.get $c) (local.get $off))
        (i32.add (i32.const {k})
          (i32.add (i32.load (i32.add (local.get $a) (local.get $off)))
                   (i32.load (i32.add (local.get $b) (local.get $off))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next)))))"#
    ))
    .unwrap()
}

fn secs() -> f64 {
    std::env::var("WASI_PARALLEL_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0)
}

/// A small deterministic generator (no dependency).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
}

#[test]
fn threads_instances_kernels_on_every_device() {
    // With the Vulkan devices (the shared test helper leaves them out).
    let rt = Arc::new(
        ParallelRuntime::new(ParallelConfig {
            threads: 2,
            kernel_fuel: Some(200_000),
            kernel_cache_entries: 3,
            ..ParallelConfig::default()
        })
        .expect("runtime"),
    );
    let mut hints = vec![SEQUENTIAL, CPU];
    if rt.devices().iter().any(|d| d.kind.is_gpu()) {
        hints.push(DISCRETE_GPU);
    } else {
        eprintln!("note: no Vulkan device; stress runs SEQUENTIAL and CPU only");
    }
    let kernels: Arc<Vec<Vec<u8>>> = Arc::new((0..VARIANTS).map(add_k).collect());
    let deadline = Instant::now() + Duration::from_secs_f64(secs());
    let runs = Arc::new(AtomicU64::new(0));
    let traps = Arc::new(AtomicU64::new(0));
    let threads = 4;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (rt, kernels, hints) = (rt.clone(), kernels.clone(), hints.clone());
            let (runs, traps) = (runs.clone(), traps.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1234_5678));
                while Instant::now() < deadline {
                    // A fresh instance, a few calls, then dropped.
                    let mut g = Guest::new(&rt);
                    let calls = 1 + rng.next() % 4;
                    for _ in 0..calls {
                        let hint = hints[rng.next() as usize % hints.len()];
                        let dev = g.get_device(hint).unwrap();
                        match rng.next() % 8 {
                            0 => {
                                let r = g.exec(dev, &wat("spin_forever"), 2, 1, &[], &[]);
                                assert_eq!(r, KERNEL_TRAP, "{:?}", g.ctx().last_error());
                                traps.fetch_add(1, Ordering::Relaxed);
                            }
                            1 => {
                                let o = g.create_buffer(dev, 64, WRITE).unwrap();
                                let r = g.exec(dev, &wat("trap"), 8, 0, &[o], &[]);
                                assert_eq!(r, KERNEL_TRAP, "{:?}", g.ctx().last_error());
                                traps.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                let n = 1 + rng.next() as usize % 3000;
                                let k = rng.next() % VARIANTS;
                                let block = 1 + rng.next() % 256;
                                let a: Vec<u32> = (0..n).map(|_| rng.next()).collect();
                                let b: Vec<u32> = (0..n).map(|_| rng.next()).collect();
                                let ba = g.buffer_with(dev, &u32s_to_bytes(&a), READ);
                                let bb = g.buffer_with(dev, &u32s_to_bytes(&b), READ);
                                let bc = g.create_buffer(dev, (n * 4) as u32, WRITE).unwrap();
                                let iters = (n as u32).div_ceil(block);
                                let r = g.exec(
                                    dev,
                                    &kernels[k as usize],
                                    iters,
                                    block,
                                    &[ba, bb],
                                    &[bc],
                                );
                                assert_eq!(r, 0, "{:?}", g.ctx().last_error());
                                let got = bytes_to_u32s(&g.read_buffer(bc, n * 4).unwrap());
                                for j in 0..n {
                                    let want = a[j].wrapping_add(b[j]).wrapping_add(k);
                                    assert_eq!(
                                        got[j], want,
                                        "thread {t}, hint {hint}, k {k}, j {j}"
                                    );
                                }
                                runs.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("stress thread panicked");
    }
    let (r, tr) = (runs.load(Ordering::Relaxed), traps.load(Ordering::Relaxed));
    eprintln!(
        "stress: {r} checked runs, {tr} expected traps in {:.1} s",
        secs()
    );
    assert!(r > 0);
    assert!(rt.kernel_cache().len() <= 3);
}
