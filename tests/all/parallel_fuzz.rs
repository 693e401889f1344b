//! Random calls with random and half-valid arguments straight into the
//! validation layer: every call returns a defined code, nothing panics, and
//! a failing call leaves a last-error message.

use crate::parallel_util::*;
use std::sync::Arc;
use wasi_parallel::parallel::{ParallelConfig, ParallelContext, ParallelRuntime};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn i32(&mut self) -> i32 {
        match self.below(6) {
            0 => 0,
            1 => -1,
            2 => self.below(70000) as i32,
            3 => i32::MAX,
            4 => i32::MIN,
            _ => self.next() as i32,
        }
    }
}

#[test]
fn random_calls_never_panic() {
    let rt = Arc::new(
        ParallelRuntime::with_devices(
            ParallelConfig {
                threads: 2,
                kernel_fuel: Some(100_000),
                max_buffer_bytes: 8 << 20,
                ..ParallelConfig::default()
            },
            |_| Vec::new(),
        )
        .unwrap(),
    );
    let mut ctx = ParallelContext::new(rt);
    let mut mem = vec![0u8; 1 << 20];
    let kernels = [
        wat("trap"),
        wat("saxpy"),
        wat("spin"),
        clang_kernel("histogram"),
    ];
    // kernels live at fixed places; random calls may point at them
    let mut places = Vec::new();
    let mut at = 4096usize;
    for k in &kernels {
        mem[at..at + k.len()].copy_from_slice(k);
        places.push((at as i32, k.len() as i32));
        at += k.len() + 64;
    }
    let mut handles: Vec<i32> = Vec::new();
    // (buffer, its device) of successful create_buffer calls
    let mut buffers: Vec<(i32, i32)> = Vec::new();
    let mut devices: Vec<i32> = Vec::new();
    let mut exec_codes = [0u32; 9];
    let counts = [(0, 1), (2, 1), (0, 0), (1, 1)]; // (in, out) per kernel
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for step in 0..20_000 {
        let pick = |rng: &mut Rng, handles: &Vec<i32>| -> i32 {
            if !handles.is_empty() && rng.below(3) > 0 {
                handles[rng.below(handles.len() as u64) as usize]
            } else {
                rng.i32()
            }
        };
        let code = match rng.below(5) {
            0 => {
                let hint = if rng.below(2) == 0 {
                    rng.below(4) as i32
                } else {
                    rng.i32()
                };
                let out = if rng.below(2) == 0 { 16 } else { rng.i32() };
                let c = ctx.get_device(&mut mem, hint, out);
                if c == 0 {
                    let h =
                        i32::from_le_bytes(mem[out as usize..out as usize + 4].try_into().unwrap());
                    handles.push(h);
                    devices.push(h);
                }
                c
            }
            1 => {
                let dev = if !devices.is_empty() && rng.below(4) > 0 {
                    devices[rng.below(devices.len() as u64) as usize]
                } else {
                    pick(&mut rng, &handles)
                };
                let size = if rng.below(2) == 0 {
                    rng.below(5000) as i32
                } else {
                    rng.i32()
                };
                let access = if rng.below(2) == 0 {
                    rng.below(3) as i32
                } else {
                    rng.i32()
                };
                let out = if rng.below(2) == 0 { 32 } else { rng.i32() };
                let c = ctx.create_buffer(&mut mem, dev, size, access, out);
                if c == 0 {
                    let h =
                        i32::from_le_bytes(mem[out as usize..out as usize + 4].try_into().unwrap());
                    handles.push(h);
                    buffers.push((h, dev));
                }
                c
            }
            2 => {
                let b = pick(&mut rng, &handles);
                let (p, l) = (
                    rng.i32(),
                    if rng.below(2) == 0 {
                        rng.below(6000) as i32
                    } else {
                        rng.i32()
                    },
                );
                ctx.write_buffer(&mut mem, p, l, b)
            }
            3 => {
                let b = pick(&mut rng, &handles);
                let (p, l) = (
                    rng.i32(),
                    if rng.below(2) == 0 {
                        rng.below(6000) as i32
                    } else {
                        rng.i32()
                    },
                );
                // keep the kernels intact: never read into their area
                if (p as u32 as usize) < at + 64 && (p as u32 as usize) + (l as u32 as usize) > 4096
                {
                    continue;
                }
                ctx.read_buffer(&mut mem, b, p, l)
            }
            _ => {
                let dev = if !devices.is_empty() && rng.below(4) > 0 {
                    devices[rng.below(devices.len() as u64) as usize]
                } else {
                    pick(&mut rng, &handles)
                };
                let which = rng.below(places.len() as u64) as usize;
                let (kp, kl) = if rng.below(4) > 0 {
                    places[which]
                } else {
                    (rng.i32(), rng.i32())
                };
                // mostly the kernel's own buffer counts, with buffers of `dev`
                let (nin, nout) = if rng.below(4) > 0 {
                    counts[which]
                } else {
                    (rng.below(3) as i32, rng.below(3) as i32)
                };
                let on_dev: Vec<i32> = buffers
                    .iter()
                    .filter(|(_, d)| *d == dev)
                    .map(|(b, _)| *b)
                    .collect();
                for i in 0..(nin + nout) as usize {
                    let h = if !on_dev.is_empty() && rng.below(8) > 0 {
                        on_dev[rng.below(on_dev.len() as u64) as usize]
                    } else {
                        pick(&mut rng, &handles)
                    };
                    let base = if i < nin as usize {
                        1024 + 4 * i
                    } else {
                        2048 + 4 * (i - nin as usize)
                    };
                    mem[base..base + 4].copy_from_slice(&h.to_le_bytes());
                }
                let n = if rng.below(2) == 0 {
                    rng.below(64) as i32
                } else {
                    rng.below(3) as i32
                };
                let bs = if rng.below(2) == 0 {
                    rng.below(100) as i32
                } else {
                    rng.i32()
                };
                let c = ctx.parallel_exec(&mut mem, dev, kp, kl, n, bs, 1024, nin, 2048, nout);
                exec_codes[c as usize] += 1;
                c
            }
        };
        assert!((0..=8).contains(&code), "step {step}: code {code}");
        if code != 0 {
            assert!(ctx.last_error().is_some());
        }
    }
    let st = ctx.stats();
    eprintln!(
        "parallel_exec codes: {exec_codes:?}; {} devices, {} buffers",
        devices.len(),
        buffers.len()
    );
    eprintln!(
        "{} exec calls reached a device or zero iterations, {} of them failed; {} buffers",
        st.calls, st.failed_calls, st.buffers
    );
    assert!(
        st.calls > 0,
        "some parallel_exec calls got through validation"
    );
}
