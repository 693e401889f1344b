//! Sequences of the five wasi-parallel host calls with arbitrary arguments
//! against a small guest memory, through `ParallelContext` (the validation
//! the guest imports use). Oracles: every return is a documented code; the
//! codes of `get_device`, `create_buffer`, `write_buffer` and `read_buffer`
//! are predicted by a model of the handle table and the limits; what a
//! successful `read_buffer` returns is what the model says the buffer holds
//! (unless a kernel ran over it); an error leaves a message; nothing panics.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wasi_parallel::parallel::ParallelContext;

/// Guest memory: one wasm page.
const MEM: usize = 65536;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Handle {
    /// The n-th handle handed out so far (devices and buffers, in order).
    Known(u8),
    /// Anything (forged).
    Raw(u32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ptr {
    /// Inside the small memory (may still run past its end with the length).
    Small(u16),
    /// Anything.
    Raw(i32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Len {
    Small(u16),
    Raw(i32),
}

#[derive(Arbitrary, Debug)]
enum Kernel {
    Known(u8),
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Call {
    Poke {
        at: u16,
        data: Vec<u8>,
    },
    GetDevice {
        hint: i32,
        out: Ptr,
    },
    CreateBuffer {
        device: Handle,
        size: Len,
        access: i32,
        out: Ptr,
    },
    WriteBuffer {
        ptr: Ptr,
        len: Len,
        buffer: Handle,
    },
    ReadBuffer {
        buffer: Handle,
        ptr: Ptr,
        len: Len,
    },
    Exec {
        device: Handle,
        kernel: Kernel,
        kernel_at: u16,
        kernel_ptr: Option<Ptr>,
        kernel_len: Option<Len>,
        iterations: u8,
        raw_iterations: Option<u32>,
        block_size: u32,
        ins: Vec<Handle>,
        outs: Vec<Handle>,
        handles_at: u16,
        raw_lists: Option<(Ptr, Len, Ptr, Len)>,
    },
}

fn ptr(p: Ptr) -> i32 {
    match p {
        Ptr::Small(v) => v as i32,
        Ptr::Raw(v) => v,
    }
}

fn len(l: Len) -> i32 {
    match l {
        Len::Small(v) => v as i32,
        Len::Raw(v) => v,
    }
}

fn in_mem(p: i32, n: u64) -> bool {
    p as u32 as u64 + n <= MEM as u64
}

#[derive(Debug)]
#[allow(dead_code)]
struct Buf {
    handle: u32,
    device: u32,
    size: u64,
    /// The contents, while the model knows them (a kernel run forgets).
    contents: Option<Vec<u8>>,
}

#[derive(Default)]
struct Model {
    all: Vec<u32>,
    devices: Vec<u32>,
    buffers: Vec<Buf>,
    bytes: u64,
}

impl Model {
    fn resolve(&self, h: Handle) -> u32 {
        match h {
            Handle::Known(i) if !self.all.is_empty() => self.all[i as usize % self.all.len()],
            Handle::Known(i) => i as u32,
            Handle::Raw(v) => v,
        }
    }
    fn buffer(&mut self, h: u32) -> Option<&mut Buf> {
        self.buffers.iter_mut().find(|b| b.handle == h)
    }
}

fn read_u32(mem: &[u8], at: i32) -> u32 {
    let a = at as u32 as usize;
    u32::from_le_bytes(mem[a..a + 4].try_into().unwrap())
}

fn check(ctx: &ParallelContext, what: &str, code: i32, want: Option<i32>) {
    assert!(
        common::is_documented(code),
        "{what}: undocumented code {code}"
    );
    // No GPU in this runtime, and the CPU devices fail only for the OS.
    assert!(
        code != 7 && code != 8,
        "{what}: code {code}: {:?}",
        ctx.last_error()
    );
    if let Some(w) = want {
        assert_eq!(code, w, "{what}: {:?}", ctx.last_error());
    }
    if code != 0 {
        assert!(ctx.last_error().is_some(), "{what}: error without message");
    }
}

fuzz_target!(|calls: Vec<Call>| {
    let rt = common::runtime();
    let cfg = rt.config().clone();
    let mut ctx = ParallelContext::new(rt);
    let mut mem = vec![0u8; MEM];
    let mut m = Model::default();
    for call in calls.into_iter().take(64) {
        match call {
            Call::Poke { at, data } => {
                let at = at as usize;
                let n = data.len().min(MEM - at);
                mem[at..at + n].copy_from_slice(&data[..n]);
            }
            Call::GetDevice { hint, out } => {
                let out = ptr(out);
                let want = if !(0..=3).contains(&hint) {
                    1
                } else if !in_mem(out, 4) {
                    3
                } else {
                    0
                };
                let code = ctx.get_device(&mut mem, hint, out);
                check(&ctx, "get_device", code, Some(want));
                if code == 0 {
                    let h = read_u32(&mem, out);
                    if !m.devices.contains(&h) {
                        m.devices.push(h);
                        m.all.push(h);
                    }
                    assert!(
                        m.buffers.iter().all(|b| b.handle != h),
                        "device handle reused"
                    );
                }
            }
            Call::CreateBuffer {
                device,
                size,
                access,
                out,
            } => {
                let device = m.resolve(device);
                let size = len(size);
                let out = ptr(out);
                let sz = size as u32 as u64;
                let want = if !m.devices.contains(&device) {
                    2
                } else if !(0..=2).contains(&access) {
                    1
                } else if !in_mem(out, 4) {
                    3
                } else if m.buffers.len() >= cfg.max_buffers || m.bytes + sz > cfg.max_buffer_bytes
                {
                    6
                } else {
                    0
                };
                let code = ctx.create_buffer(&mut mem, device as i32, size, access, out);
                check(&ctx, "create_buffer", code, Some(want));
                if code == 0 {
                    let h = read_u32(&mem, out);
                    assert!(!m.all.contains(&h), "handle {h} handed out twice");
                    m.all.push(h);
                    m.bytes += sz;
                    m.buffers.push(Buf {
                        handle: h,
                        device,
                        size: sz,
                        contents: Some(vec![0; sz as usize]),
                    });
                }
            }
            Call::WriteBuffer {
                ptr: p,
                len: l,
                buffer,
            } => {
                let h = m.resolve(buffer);
                let (p, l) = (ptr(p), len(l));
                let n = l as u32 as u64;
                let want = match m.buffer(h) {
                    None => 2,
                    Some(b) if n > b.size => 3,
                    Some(_) if !in_mem(p, n) => 3,
                    Some(_) => 0,
                };
                let code = ctx.write_buffer(&mut mem, p, l, h as i32);
                check(&ctx, "write_buffer", code, Some(want));
                if code == 0 {
                    let src = &mem[p as u32 as usize..][..n as usize];
                    if let Some(c) = m.buffer(h).unwrap().contents.as_mut() {
                        c[..n as usize].copy_from_slice(src);
                    }
                }
            }
            Call::ReadBuffer {
                buffer,
                ptr: p,
                len: l,
            } => {
                let h = m.resolve(buffer);
                let (p, l) = (ptr(p), len(l));
                let n = l as u32 as u64;
                let want = match m.buffer(h) {
                    None => 2,
                    Some(b) if n > b.size => 3,
                    Some(_) if !in_mem(p, n) => 3,
                    Some(_) => 0,
                };
                let before = mem.clone();
                let code = ctx.read_buffer(&mut mem, h as i32, p, l);
                check(&ctx, "read_buffer", code, Some(want));
                if code == 0 {
                    let at = p as u32 as usize;
                    let got = &mem[at..at + n as usize];
                    if let Some(c) = &m.buffer(h).unwrap().contents {
                        assert_eq!(got, &c[..n as usize], "read_buffer returned other bytes");
                    }
                    assert_eq!(
                        &mem[..at],
                        &before[..at],
                        "read_buffer wrote before its range"
                    );
                    assert_eq!(
                        &mem[at + n as usize..],
                        &before[at + n as usize..],
                        "read_buffer wrote past its range"
                    );
                } else {
                    assert!(mem == before, "a failed read_buffer changed guest memory");
                }
            }
            Call::Exec {
                device,
                kernel,
                kernel_at,
                kernel_ptr,
                kernel_len,
                iterations,
                raw_iterations,
                block_size,
                ins,
                outs,
                handles_at,
                raw_lists,
            } => {
                let device = m.resolve(device);
                let bytes: Vec<u8> = match kernel {
                    Kernel::Known(i) => {
                        let k = common::known_kernels();
                        k[i as usize % k.len()].0.clone()
                    }
                    Kernel::Bytes(b) => b,
                };
                let kat = (kernel_at as usize).min(MEM.saturating_sub(bytes.len()));
                if kat + bytes.len() <= MEM {
                    mem[kat..kat + bytes.len()].copy_from_slice(&bytes);
                }
                let ins: Vec<u32> = ins.iter().take(6).map(|h| m.resolve(*h)).collect();
                let outs: Vec<u32> = outs.iter().take(6).map(|h| m.resolve(*h)).collect();
                let hat = (handles_at as usize).min(MEM - 4 * (ins.len() + outs.len()));
                for (i, h) in ins.iter().chain(&outs).enumerate() {
                    mem[hat + 4 * i..hat + 4 * i + 4].copy_from_slice(&h.to_le_bytes());
                }
                let (ip, il, op, ol) = match raw_lists {
                    Some((a, b, c, d)) => (ptr(a), len(b), ptr(c), len(d)),
                    None => (
                        hat as i32,
                        ins.len() as i32,
                        (hat + 4 * ins.len()) as i32,
                        outs.len() as i32,
                    ),
                };
                let kp = kernel_ptr.map(ptr).unwrap_or(kat as i32);
                let kl = kernel_len.map(len).unwrap_or(bytes.len() as i32);
                // Iteration counts stay small so an input runs in bounded
                // time (there is no iteration limit in the ABI; the fuel
                // bounds each iteration).
                let iters = match raw_iterations {
                    Some(v) if v <= 4096 || v == u32::MAX && m.buffers.is_empty() => v,
                    _ => iterations as u32 % 64,
                };
                let iters = if iters == u32::MAX { 0 } else { iters };
                let code = ctx.parallel_exec(
                    &mut mem,
                    device as i32,
                    kp,
                    kl,
                    iters as i32,
                    block_size as i32,
                    ip,
                    il,
                    op,
                    ol,
                );
                check(&ctx, "parallel_exec", code, None);
                // A kernel may have written any buffer it was given (or, on a
                // trap, any part of it); forget them all to stay simple.
                if code == 0 || code == 5 {
                    for b in &mut m.buffers {
                        b.contents = None;
                    }
                }
            }
        }
    }
});
