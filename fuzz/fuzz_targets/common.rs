//! Shared by the fuzz targets: a kernel-shaped wasm-smith configuration, a
//! few known kernels, and the runtime configuration the targets use.
#![allow(dead_code)]

use arbitrary::{Result, Unstructured};
use std::sync::{Arc, OnceLock};
use wasi_parallel::parallel::kernel::KernelEngine;
use wasi_parallel::parallel::{ParallelConfig, ParallelContext, ParallelRuntime};

/// Fuel of each kernel iteration in the fuzz runtimes: endless kernels trap.
pub const KERNEL_FUEL: u64 = 20_000;

/// A runtime with the SEQUENTIAL and CPU (2 workers) devices and small
/// limits, shared by all inputs of a target (creating thread pools per input
/// would dominate the run time). Vulkan is left out on purpose: the GPU path
/// is fuzzed through the translator (`spirv_translate`).
pub fn runtime() -> Arc<ParallelRuntime> {
    static RT: OnceLock<Arc<ParallelRuntime>> = OnceLock::new();
    RT.get_or_init(|| Arc::new(build_runtime(KernelEngine::Auto)))
        .clone()
}

/// Like [`runtime`], on the interpreter (`false`) or the JIT (`true`)
/// kernel engine; the JIT one needs the library's `jit` feature.
pub fn runtime_on(jit: bool) -> Arc<ParallelRuntime> {
    static RT: [OnceLock<Arc<ParallelRuntime>>; 2] = [OnceLock::new(), OnceLock::new()];
    let engine = if jit {
        KernelEngine::Jit
    } else {
        KernelEngine::Interpreter
    };
    RT[jit as usize]
        .get_or_init(|| Arc::new(build_runtime(engine)))
        .clone()
}

fn build_runtime(kernel_engine: KernelEngine) -> ParallelRuntime {
    ParallelRuntime::with_devices(
        ParallelConfig {
            threads: 2,
            kernel_fuel: Some(KERNEL_FUEL),
            max_buffer_bytes: 1 << 20,
            max_buffers: 16,
            max_kernel_size: 1 << 16,
            kernel_cache_entries: 8,
            kernel_engine,
            ..ParallelConfig::default()
        },
        |_| Vec::new(),
    )
    .expect("runtime")
}

/// Known kernels: (wat, number of buffers).
pub const KNOWN: &[(&str, usize)] = &[
    // out[i] = in[i] + 1 for every i32 of `out` in this iteration's block
    (
        r#"(module (memory (import "" "memory") 1 1 shared)
          (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
                (param $a i32) (param $al i32) (param $c i32) (param $cl i32)
            (local $j i32) (local $end i32)
            (local.set $j (i32.mul (local.get $id) (local.get $bs)))
            (local.set $end (i32.add (local.get $j) (local.get $bs)))
            (block $done (loop $next
              (br_if $done (i32.ge_u (local.get $j) (local.get $end)))
              (br_if $done (i32.ge_u (i32.shl (local.get $j) (i32.const 2)) (local.get $cl)))
              (br_if $done (i32.ge_u (i32.shl (local.get $j) (i32.const 2)) (local.get $al)))
              (i32.store (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
                (i32.add (i32.load (i32.add (local.get $a) (i32.shl (local.get $j) (i32.const 2))))
                         (i32.const 1)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $next)))))"#,
        2,
    ),
    // no buffers, does nothing
    (
        r#"(module (memory (import "" "memory") 0)
          (func (export "kernel") (param i32 i32 i32)))"#,
        0,
    ),
    // endless loop (kernel fuel makes it trap)
    (
        r#"(module (memory (import "" "memory") 1)
          (func (export "kernel") (param i32 i32 i32) (loop $l (br $l))))"#,
        0,
    ),
    // traps on iteration 3
    (
        r#"(module (memory (import "" "memory") 1)
          (func (export "kernel") (param i32 i32 i32 i32 i32)
            (if (i32.eq (local.get 0) (i32.const 3)) (then unreachable))
            (i32.store (local.get 3) (local.get 0))))"#,
        1,
    ),
    // stores far outside its memory
    (
        r#"(module (memory (import "" "memory") 1)
          (func (export "kernel") (param i32 i32 i32 i32 i32)
            (i32.store (i32.const -16) (i32.const 7))))"#,
        1,
    ),
    // grows its memory and writes there
    (
        r#"(module (memory (import "" "memory") 1)
          (func (export "kernel") (param i32 i32 i32 i32 i32) (local $p i32)
            (local.set $p (memory.grow (i32.const 1)))
            (if (i32.ge_s (local.get $p) (i32.const 0))
              (then (i32.store (i32.shl (local.get $p) (i32.const 16)) (i32.const 1))))))"#,
        1,
    ),
];

/// The known kernels, compiled from text once.
pub fn known_kernels() -> &'static [(Vec<u8>, usize)] {
    static K: OnceLock<Vec<(Vec<u8>, usize)>> = OnceLock::new();
    K.get_or_init(|| {
        KNOWN
            .iter()
            .map(|(w, n)| (wat::parse_str(w).expect("known kernel"), *n))
            .collect()
    })
}

/// A wasm-smith module shaped like a kernel: one imported memory (0..=2
/// pages), an exported `kernel` with `3 + 2 * buffers` i32 params and no
/// results; the MVP-ish features the kernel ABI and the translator care
/// about, switched on and off by the input (swarm testing). Returns the
/// bytes and the number of buffers.
pub fn kernel_module(u: &mut Unstructured<'_>) -> Result<(Vec<u8>, usize)> {
    kernel_module_with(u, |_| Ok(()))
}

/// [`kernel_module`] with `tweak` applied to the wasm-smith configuration
/// last (e.g. to switch on SIMD or force NaN canonicalization).
pub fn kernel_module_with(
    u: &mut Unstructured<'_>,
    tweak: impl FnOnce(&mut wasm_smith::Config) -> Result<()>,
) -> Result<(Vec<u8>, usize)> {
    let buffers: usize = u.int_in_range(0..=3)?;
    let pages: u32 = u.int_in_range(0..=2)?;
    let shared = if u.arbitrary()? {
        format!(" {} shared", pages.max(1))
    } else {
        String::new()
    };
    let imports = wat::parse_str(format!(
        r#"(module (import "env" "memory" (memory {pages}{shared})))"#
    ))
    .expect("imports");
    let params = "i32 ".repeat(3 + 2 * buffers);
    let exports = wat::parse_str(format!(
        r#"(module (func (export "kernel") (param {params}) unreachable))"#
    ))
    .expect("exports");
    let mut c = wasm_smith::Config::default();
    c.available_imports = Some(imports);
    c.exports = Some(exports);
    c.min_imports = 1;
    c.max_imports = 1;
    c.max_memories = 1;
    c.max_tables = u.int_in_range(0..=1)?;
    c.max_funcs = u.int_in_range(1..=8)?;
    c.max_globals = u.int_in_range(0..=4)?;
    c.max_data_segments = u.int_in_range(0..=3)?;
    c.max_element_segments = 2;
    c.max_instructions = u.int_in_range(1..=200)?;
    c.max_nesting_depth = 6;
    c.max_types = 10;
    c.allow_start_export = u.ratio(1u8, 8)?;
    c.allow_floats = u.arbitrary()?;
    c.bulk_memory_enabled = u.ratio(1u8, 4)?;
    c.reference_types_enabled = u.ratio(1u8, 4)?;
    c.multi_value_enabled = u.ratio(1u8, 4)?;
    c.saturating_float_to_int_enabled = u.arbitrary()?;
    c.sign_extension_ops_enabled = u.arbitrary()?;
    c.canonicalize_nans = u.arbitrary()?;
    c.disallow_traps = u.ratio(1u8, 3)?;
    c.simd_enabled = false;
    c.relaxed_simd_enabled = false;
    c.threads_enabled = false;
    c.exceptions_enabled = false;
    c.gc_enabled = false;
    c.tail_call_enabled = false;
    c.memory64_enabled = false;
    c.custom_page_sizes_enabled = false;
    c.wide_arithmetic_enabled = false;
    c.extended_const_enabled = false;
    c.max_memory32_bytes = 2 << 16;
    tweak(&mut c)?;
    let m = wasm_smith::Module::new(c, u)?;
    Ok((m.to_bytes(), buffers))
}

/// Whether `code` is one of the ABI's error codes (section 3).
pub fn is_documented(code: i32) -> bool {
    (0..=8).contains(&code)
}

// The guest memory `exec_kernel` works in: device and buffer handles at
// 0/4, the handle lists at HANDLES, buffer contents staged at DATA, the
// kernel's bytes at KERNEL.
const MEM: usize = 4 << 16;
const DEV_OUT: i32 = 0;
const BUF_OUT: i32 = 4;
const HANDLES: i32 = 64;
const DATA: usize = 1024;
const KERNEL: usize = 65536;
/// Size of each buffer `exec_kernel` makes.
pub const BUF_SIZE: usize = 256;
/// The largest kernel `exec_kernel` takes.
pub const MAX_KERNEL: usize = MEM - KERNEL;

/// What one `parallel_exec` did.
pub struct Outcome {
    pub code: i32,
    /// Every buffer's contents afterwards, one after the other.
    pub buffers: Vec<u8>,
    /// The last error's message ("" after a success).
    pub message: String,
}

/// Runs `kernel` (at most [`MAX_KERNEL`] bytes) through `parallel_exec` on
/// `rt`'s device for `hint`: `iters` iterations of block size 1 over `nbuf`
/// buffers of [`BUF_SIZE`] bytes filled from `fill` (the first half passed
/// as inputs, the rest as outputs).
pub fn exec_kernel(
    rt: Arc<ParallelRuntime>,
    hint: i32,
    kernel: &[u8],
    nbuf: usize,
    iters: u32,
    fill: &[u8],
) -> Outcome {
    let mut ctx = ParallelContext::new(rt);
    let mut mem = vec![0u8; MEM];
    assert_eq!(ctx.get_device(&mut mem, hint, DEV_OUT), 0);
    let dev = i32::from_le_bytes(mem[0..4].try_into().unwrap());
    let mut handles = Vec::new();
    for i in 0..nbuf {
        assert_eq!(
            ctx.create_buffer(&mut mem, dev, BUF_SIZE as i32, 2, BUF_OUT),
            0,
            "{:?}",
            ctx.last_error()
        );
        let h = u32::from_le_bytes(mem[4..8].try_into().unwrap());
        for (j, b) in mem[DATA..DATA + BUF_SIZE].iter_mut().enumerate() {
            *b = fill
                .get((i * BUF_SIZE + j) % fill.len().max(1))
                .copied()
                .unwrap_or(j as u8);
        }
        assert_eq!(
            ctx.write_buffer(&mut mem, DATA as i32, BUF_SIZE as i32, h as i32),
            0
        );
        let at = HANDLES as usize + 4 * i;
        mem[at..at + 4].copy_from_slice(&h.to_le_bytes());
        handles.push(h);
    }
    mem[KERNEL..KERNEL + kernel.len()].copy_from_slice(kernel);
    let nin = nbuf / 2;
    let code = ctx.parallel_exec(
        &mut mem,
        dev,
        KERNEL as i32,
        kernel.len() as i32,
        iters as i32,
        1,
        HANDLES,
        nin as i32,
        HANDLES + 4 * nin as i32,
        (nbuf - nin) as i32,
    );
    let message = ctx.last_error().unwrap_or("").to_string();
    let mut buffers = Vec::new();
    for h in handles {
        assert_eq!(
            ctx.read_buffer(&mut mem, h as i32, DATA as i32, BUF_SIZE as i32),
            0
        );
        buffers.extend_from_slice(&mem[DATA..DATA + BUF_SIZE]);
    }
    Outcome {
        code,
        buffers,
        message,
    }
}
