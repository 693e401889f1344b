//! A guest that makes every kind of bad wasi-parallel call (bad enum values,
//! pointers past memory, forged and foreign handles, oversized lengths,
//! malformed kernels, trapping and endless kernels), records each returned
//! code, and then computes a vector sum that must still be right. Run on
//! SEQUENTIAL, CPU and (when one is found, e.g. lavapipe) the Vulkan device,
//! with kernel fuel so the endless kernel ends.
//!
//! The guest is WebAssembly text generated here: each check is one import
//! call whose result the guest stores at `RESULTS + 4 * i`; the test
//! compares them with the documented codes (ABI section 3) by name.

use crate::parallel_util::PARALLEL_IMPORTS;
use wasi_parallel::parallel::{DeviceKind, ParallelConfig};
use wasi_parallel::{Config, Engine, Instance, InstanceConfig, Module, Val};

const SUCCESS: i32 = 0;
const INVALID_ARGUMENT: i32 = 1;
const INVALID_HANDLE: i32 = 2;
const OUT_OF_BOUNDS: i32 = 3;
const INVALID_KERNEL: i32 = 4;
const KERNEL_TRAP: i32 = 5;
const RESOURCE_EXHAUSTED: i32 = 6;

/// Guest memory: 2 pages.
const MEM: i32 = 2 * 65536;
// Cells of the guest memory map.
const DEV: i32 = 0; // the device under test
const OUT: i32 = 4; // scratch out-pointer
const OTHER: i32 = 8; // the other CPU-family device
const A: i32 = 20;
const B: i32 = 24;
const C: i32 = 28;
const X: i32 = 32; // a buffer of the other device
const RESULTS: i32 = 256;
const LIST_IN: i32 = 1024; // [a, b]
const LIST_OUT: i32 = 1032; // [c]
const LIST_FORGED: i32 = 1040; // [a, forged]
const LIST_OTHER: i32 = 1048; // [x]
const LIST_FOREIGN: i32 = 1056; // [a, foreign]
const DATA_A: i32 = 2048;
const DATA_B: i32 = 2112;
const READ_TO: i32 = 2304;
const KERNELS: i32 = 4096;
const N: i32 = 16; // elements per buffer
const BYTES: i32 = N * 4;

const VECTOR_ADD: &str = include_str!("../wat/vector_add.wat");
const SPIN: &str = include_str!("../wat/spin_forever.wat");
const TRAP: &str = include_str!("../wat/trap.wat");
const IMPORTS_FUNC: &str = include_str!("../wat/invalid_imports_func.wat");

fn kernels() -> Vec<(&'static str, Vec<u8>)> {
    let w = |s: &str| wat::parse_str(s).unwrap();
    let mut garbage = w(VECTOR_ADD);
    let len = garbage.len();
    garbage[len / 2] ^= 0xff; // corrupt the code section
    garbage.truncate(len - 3);
    vec![
        ("vector_add", w(VECTOR_ADD)),
        ("spin", w(SPIN)),
        ("trap", w(TRAP)),
        ("imports_func", w(IMPORTS_FUNC)),
        ("garbage", garbage),
        ("not_wasm", b"this is not a wasm module".to_vec()),
        (
            "two_params",
            w(r#"(module (memory (import "" "m") 1) (func (export "kernel") (param i32 i32)))"#),
        ),
        (
            "returns",
            w(r#"(module (memory (import "" "m") 1)
                   (func (export "kernel") (param i32 i32 i32) (result i32) i32.const 0))"#),
        ),
        (
            "no_memory",
            w(r#"(module (func (export "kernel") (param i32 i32 i32)))"#),
        ),
        (
            "data_outside_region",
            w(
                r#"(module (memory (import "" "m") 1) (data (i32.const 65530) "0123456789")
                   (func (export "kernel") (param i32 i32 i32)))"#,
            ),
        ),
        (
            "invalid_code",
            w(r#"(module (memory (import "" "m") 1)
                   (func (export "kernel") (param i32 i32 i32) i32.const 1))"#)
            .into_iter()
            .collect(),
        ),
        (
            "div_by_zero",
            w(r#"(module (memory (import "" "m") 1)
                   (func (export "kernel") (param i32 i32 i32)
                     (drop (i32.div_s (i32.const 1) (i32.sub (local.get 0) (local.get 0))))))"#),
        ),
        (
            "store_past_memory",
            w(r#"(module (memory (import "" "m") 1)
                   (func (export "kernel") (param i32 i32 i32 i32 i32)
                     (i32.store (i32.const -4) (i32.const 1))))"#),
        ),
    ]
}

enum Step {
    /// A call whose code is stored and compared with `want`.
    Check(&'static str, i32, String),
    /// A statement (setup).
    Do(String),
}

fn load(at: i32) -> String {
    format!("(i32.load (i32.const {at}))")
}

fn store(at: i32, v: String) -> String {
    format!("(i32.store (i32.const {at}) {v})")
}

fn gd(hint: &str, out: i32) -> String {
    format!("(call $gd {hint} (i32.const {out}))")
}

fn cb(dev: String, size: i32, access: i32, out: i32) -> String {
    format!("(call $cb {dev} (i32.const {size}) (i32.const {access}) (i32.const {out}))")
}

fn wb(ptr: i32, len: i32, buf: String) -> String {
    format!("(call $wb (i32.const {ptr}) (i32.const {len}) {buf})")
}

fn rb(buf: String, ptr: i32, len: i32) -> String {
    format!("(call $rb {buf} (i32.const {ptr}) (i32.const {len}))")
}

#[allow(clippy::too_many_arguments)]
fn pe(
    dev: String,
    kptr: i32,
    klen: i32,
    n: i32,
    bs: i32,
    inp: i32,
    inl: i32,
    outp: i32,
    outl: i32,
) -> String {
    format!(
        "(call $pe {dev} (i32.const {kptr}) (i32.const {klen}) (i32.const {n}) (i32.const {bs}) \
         (i32.const {inp}) (i32.const {inl}) (i32.const {outp}) (i32.const {outl}))"
    )
}

fn guest(kernels: &[(&'static str, Vec<u8>)]) -> (String, Vec<(&'static str, i32)>) {
    let mut at = KERNELS;
    let mut data = String::new();
    let mut k = std::collections::HashMap::new();
    for (name, bytes) in kernels {
        let esc: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        data.push_str(&format!("  (data (i32.const {at}) \"{esc}\")\n"));
        k.insert(*name, (at, bytes.len() as i32));
        at += (bytes.len() as i32 + 15) & !15;
    }
    assert!(at < MEM);
    let a_bytes: String = (0..N)
        .flat_map(|i| (i as u32).to_le_bytes())
        .map(|b| format!("\\{b:02x}"))
        .collect();
    let b_bytes: String = (0..N)
        .flat_map(|i| (2 * i as u32 + 1000).to_le_bytes())
        .map(|b| format!("\\{b:02x}"))
        .collect();
    data.push_str(&format!("  (data (i32.const {DATA_A}) \"{a_bytes}\")\n"));
    data.push_str(&format!("  (data (i32.const {DATA_B}) \"{b_bytes}\")\n"));

    let dev = || load(DEV);
    let kern = |name: &str| k[name];
    let exec = |name: &str, n: i32, bs: i32, inp: i32, inl: i32, outp: i32, outl: i32| {
        let (p, l) = kern(name);
        pe(dev(), p, l, n, bs, inp, inl, outp, outl)
    };
    use Step::*;
    let steps = vec![
        // get_device
        Check(
            "get_device hint 4",
            INVALID_ARGUMENT,
            gd("(i32.const 4)", DEV),
        ),
        Check(
            "get_device hint -1",
            INVALID_ARGUMENT,
            gd("(i32.const -1)", DEV),
        ),
        Check(
            "get_device out past memory",
            OUT_OF_BOUNDS,
            gd("(local.get $hint)", MEM - 3),
        ),
        Check(
            "get_device out at -4",
            OUT_OF_BOUNDS,
            gd("(local.get $hint)", -4),
        ),
        Check("get_device", SUCCESS, gd("(local.get $hint)", DEV)),
        Check("get_device other", SUCCESS, gd("(local.get $other)", OTHER)),
        // create_buffer
        Check(
            "create_buffer forged device",
            INVALID_HANDLE,
            cb(
                "(i32.add (i32.load (i32.const 0)) (i32.const 12345))".into(),
                16,
                0,
                OUT,
            ),
        ),
        Check(
            "create_buffer device 0",
            INVALID_HANDLE,
            cb("(i32.const 0)".into(), 16, 0, OUT),
        ),
        Check(
            "create_buffer access 3",
            INVALID_ARGUMENT,
            cb(dev(), 16, 3, OUT),
        ),
        Check(
            "create_buffer access -1",
            INVALID_ARGUMENT,
            cb(dev(), 16, -1, OUT),
        ),
        Check(
            "create_buffer out past memory",
            OUT_OF_BOUNDS,
            cb(dev(), 16, 0, MEM - 2),
        ),
        Check(
            "create_buffer 4 GiB",
            RESOURCE_EXHAUSTED,
            cb(dev(), -1, 2, OUT),
        ),
        Check(
            "create_buffer 2 GiB",
            RESOURCE_EXHAUSTED,
            cb(dev(), i32::MIN, 2, OUT),
        ),
        Check("create_buffer a", SUCCESS, cb(dev(), BYTES, 0, A)),
        Check("create_buffer b", SUCCESS, cb(dev(), BYTES, 0, B)),
        Check("create_buffer c", SUCCESS, cb(dev(), BYTES, 1, C)),
        Check(
            "create_buffer on other device",
            SUCCESS,
            cb(load(OTHER), BYTES, 2, X),
        ),
        Check(
            "create_buffer with a buffer as device",
            INVALID_HANDLE,
            cb(load(A), 16, 0, OUT),
        ),
        // write_buffer / read_buffer
        Check(
            "write_buffer data past memory",
            OUT_OF_BOUNDS,
            wb(MEM - 10, 16, load(A)),
        ),
        Check(
            "write_buffer data at -8",
            OUT_OF_BOUNDS,
            wb(-8, 16, load(A)),
        ),
        Check(
            "write_buffer longer than buffer",
            OUT_OF_BOUNDS,
            wb(DATA_A, BYTES + 1, load(A)),
        ),
        Check(
            "write_buffer len 2^31-1",
            OUT_OF_BOUNDS,
            wb(DATA_A, i32::MAX, load(A)),
        ),
        Check("write_buffer len -1", OUT_OF_BOUNDS, wb(0, -1, load(A))),
        Check(
            "write_buffer forged buffer",
            INVALID_HANDLE,
            wb(DATA_A, 4, "(i32.const 0x7eadbeef)".into()),
        ),
        Check(
            "write_buffer device as buffer",
            INVALID_HANDLE,
            wb(DATA_A, 4, dev()),
        ),
        Check(
            "write_buffer foreign buffer",
            INVALID_HANDLE,
            wb(DATA_A, 4, "(local.get $foreign)".into()),
        ),
        Check(
            "read_buffer data past memory",
            OUT_OF_BOUNDS,
            rb(load(A), MEM - 1, 2),
        ),
        Check(
            "read_buffer longer than buffer",
            OUT_OF_BOUNDS,
            rb(load(A), READ_TO, BYTES + 4),
        ),
        Check("read_buffer len -1", OUT_OF_BOUNDS, rb(load(A), 0, -1)),
        Check(
            "read_buffer forged buffer",
            INVALID_HANDLE,
            rb("(i32.const 1)".into(), READ_TO, 4),
        ),
        Check(
            "read_buffer foreign buffer",
            INVALID_HANDLE,
            rb("(local.get $foreign)".into(), READ_TO, 4),
        ),
        Check("write_buffer a", SUCCESS, wb(DATA_A, BYTES, load(A))),
        Check("write_buffer b", SUCCESS, wb(DATA_B, BYTES, load(B))),
        Do(store(LIST_IN, load(A))),
        Do(store(LIST_IN + 4, load(B))),
        Do(store(LIST_OUT, load(C))),
        Do(store(LIST_FORGED, load(A))),
        Do(store(LIST_FORGED + 4, "(i32.const 0x13572468)".into())),
        Do(store(LIST_OTHER, load(X))),
        Do(store(LIST_FOREIGN, load(A))),
        Do(store(LIST_FOREIGN + 4, "(local.get $foreign)".into())),
        // parallel_exec: handles and pointers
        Check("exec forged device", INVALID_HANDLE, {
            let (p, l) = kern("vector_add");
            pe("(i32.const 99)".into(), p, l, 4, 4, LIST_IN, 2, LIST_OUT, 1)
        }),
        Check("exec buffer as device", INVALID_HANDLE, {
            let (p, l) = kern("vector_add");
            pe(load(A), p, l, 4, 4, LIST_IN, 2, LIST_OUT, 1)
        }),
        Check(
            "exec kernel past memory",
            OUT_OF_BOUNDS,
            pe(dev(), MEM - 8, 16, 4, 4, LIST_IN, 2, LIST_OUT, 1),
        ),
        Check(
            "exec kernel len -1",
            OUT_OF_BOUNDS,
            pe(dev(), KERNELS, -1, 4, 4, LIST_IN, 2, LIST_OUT, 1),
        ),
        Check(
            "exec in list past memory",
            OUT_OF_BOUNDS,
            exec("vector_add", 4, 4, MEM - 4, 2, LIST_OUT, 1),
        ),
        Check(
            "exec in list len 2^30",
            OUT_OF_BOUNDS,
            exec("vector_add", 4, 4, LIST_IN, 1 << 30, LIST_OUT, 1),
        ),
        Check(
            "exec out list len -1",
            OUT_OF_BOUNDS,
            exec("vector_add", 4, 4, LIST_IN, 2, LIST_OUT, -1),
        ),
        Check(
            "exec forged buffer in list",
            INVALID_HANDLE,
            exec("vector_add", 4, 4, LIST_FORGED, 2, LIST_OUT, 1),
        ),
        Check(
            "exec foreign buffer in list",
            INVALID_HANDLE,
            exec("vector_add", 4, 4, LIST_FOREIGN, 2, LIST_OUT, 1),
        ),
        Check(
            "exec buffer of another device",
            INVALID_HANDLE,
            exec("vector_add", 4, 4, LIST_IN, 2, LIST_OTHER, 1),
        ),
        // parallel_exec: malformed kernels
        Check(
            "exec empty kernel",
            INVALID_KERNEL,
            pe(dev(), KERNELS, 0, 4, 4, 0, 0, 0, 0),
        ),
        Check(
            "exec garbage kernel",
            INVALID_KERNEL,
            exec("garbage", 4, 4, LIST_IN, 2, LIST_OUT, 1),
        ),
        Check(
            "exec not wasm",
            INVALID_KERNEL,
            exec("not_wasm", 4, 4, LIST_IN, 2, LIST_OUT, 1),
        ),
        Check(
            "exec kernel importing a function",
            INVALID_KERNEL,
            exec("imports_func", 1, 1, 0, 0, 0, 0),
        ),
        Check(
            "exec kernel with 2 params",
            INVALID_KERNEL,
            exec("two_params", 1, 1, 0, 0, 0, 0),
        ),
        Check(
            "exec kernel with a result",
            INVALID_KERNEL,
            exec("returns", 1, 1, 0, 0, 0, 0),
        ),
        Check(
            "exec kernel without memory import",
            INVALID_KERNEL,
            exec("no_memory", 1, 1, 0, 0, 0, 0),
        ),
        Check(
            "exec kernel data outside region",
            INVALID_KERNEL,
            exec("data_outside_region", 1, 1, 0, 0, 0, 0),
        ),
        Check(
            "exec kernel failing validation",
            INVALID_KERNEL,
            exec("invalid_code", 1, 1, 0, 0, 0, 0),
        ),
        Check(
            "exec wrong buffer count",
            INVALID_KERNEL,
            exec("vector_add", 4, 4, LIST_IN, 1, LIST_OUT, 1),
        ),
        // parallel_exec: kernels that trap or never end
        Check(
            "exec trapping kernel (unreachable)",
            KERNEL_TRAP,
            exec("trap", 8, 0, LIST_OUT, 1, 0, 0),
        ),
        Check(
            "exec trapping kernel (out of bounds)",
            KERNEL_TRAP,
            exec("trap", 8, 1, LIST_OUT, 1, 0, 0),
        ),
        Check(
            "exec trapping kernel (div by zero)",
            KERNEL_TRAP,
            exec("div_by_zero", 3, 1, 0, 0, 0, 0),
        ),
        Check(
            "exec kernel storing past memory",
            KERNEL_TRAP,
            exec("store_past_memory", 2, 1, LIST_OUT, 1, 0, 0),
        ),
        Check(
            "exec endless kernel",
            KERNEL_TRAP,
            exec("spin", 2, 1, 0, 0, 0, 0),
        ),
        // and then the real work, which must still be right
        Check(
            "exec zero iterations",
            SUCCESS,
            exec("vector_add", 0, 4, LIST_IN, 2, LIST_OUT, 1),
        ),
        Check(
            "exec vector_add",
            SUCCESS,
            exec("vector_add", N / 4, 4, LIST_IN, 2, LIST_OUT, 1),
        ),
        Check("read_buffer c", SUCCESS, rb(load(C), READ_TO, BYTES)),
        Check(
            "read_buffer a",
            SUCCESS,
            rb(load(A), READ_TO + BYTES, BYTES),
        ),
    ];
    let mut body = String::new();
    let mut expected = Vec::new();
    for s in steps {
        match s {
            Check(name, want, call) => {
                body.push_str(&format!(
                    "    {}\n",
                    store(RESULTS + 4 * expected.len() as i32, call)
                ));
                expected.push((name, want));
            }
            Do(stmt) => body.push_str(&format!("    {stmt}\n")),
        }
    }
    let wat = format!(
        r#"(module
  {PARALLEL_IMPORTS}  (memory (export "memory") 2 2)
{data}
  ;; a buffer handle of this instance, to be forged into another one
  (func (export "make_buffer") (result i32)
    (drop (call $gd (i32.const 0) (i32.const {OUT})))
    (drop (call $cb (i32.load (i32.const {OUT})) (i32.const 64) (i32.const 2) (i32.const {OUT})))
    (i32.load (i32.const {OUT})))
  (func (export "run") (param $hint i32) (param $other i32) (param $foreign i32)
{body}  ))"#
    );
    (wat, expected)
}

fn run_on(hint: DeviceKind, other: DeviceKind, expect_gpu: bool) {
    let engine = Engine::new(Config {
        fuel: Some(10_000_000_000),
        parallel: ParallelConfig {
            threads: 2,
            // Below lavapipe's 65535 loop iterations per invocation, so the
            // endless kernel runs out of fuel on the GPU too (above it, the
            // GPU answers `unsupported`: tests/all/regressions.rs).
            kernel_fuel: Some(50_000),
            // No GPU fallback: a kernel the GPU cannot run must say so
            // (none of these should need it).
            gpu_fallback: !expect_gpu,
            ..ParallelConfig::default()
        },
        ..Config::default()
    })
    .unwrap();
    if expect_gpu && !engine.parallel().devices().iter().any(|d| d.kind.is_gpu()) {
        eprintln!("note: no Vulkan device; the GPU pass of bad_guest is skipped");
        return;
    }
    let ks = kernels();
    let (text, expected) = guest(&ks);
    // Assembled here (dev-dependency `wat`), so the test also runs in builds
    // without the `wat` feature.
    let module = Module::new(&engine, &wat::parse_str(&text).unwrap()).unwrap();
    let mut other_instance = Instance::new(&module, &InstanceConfig::default()).unwrap();
    let foreign = other_instance.call("make_buffer", &[]).unwrap()[0]
        .i32()
        .unwrap();
    let mut inst = Instance::new(&module, &InstanceConfig::default()).unwrap();
    inst.call(
        "run",
        &[
            Val::I32(hint as i32),
            Val::I32(other as i32),
            Val::I32(foreign),
        ],
    )
    .expect("no bad call may trap the guest");

    let mut got = vec![0u8; 4 * expected.len()];
    inst.read_memory(RESULTS as u64, &mut got).unwrap();
    let mut failures = Vec::new();
    for (i, (name, want)) in expected.iter().enumerate() {
        let g = i32::from_le_bytes(got[4 * i..4 * i + 4].try_into().unwrap());
        if g != *want {
            failures.push(format!("{name}: got {g}, want {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{hint:?}: {} of {} checks failed:\n{}\nlast error: {:?}",
        failures.len(),
        expected.len(),
        failures.join("\n"),
        inst.parallel().last_error()
    );
    let mut out = vec![0u8; 2 * BYTES as usize];
    inst.read_memory(READ_TO as u64, &mut out).unwrap();
    for i in 0..N as usize {
        let c = u32::from_le_bytes(out[4 * i..4 * i + 4].try_into().unwrap());
        let a = u32::from_le_bytes(out[BYTES as usize + 4 * i..][..4].try_into().unwrap());
        assert_eq!(c, 3 * i as u32 + 1000, "{hint:?}: c[{i}]");
        assert_eq!(a, i as u32, "{hint:?}: a[{i}] changed");
    }
    let stats = inst.parallel().stats();
    if expect_gpu {
        assert!(
            stats.summary().to_lowercase().contains("gpu")
                || stats.summary().to_lowercase().contains("vulkan")
                || stats.summary().contains("llvmpipe"),
            "the GPU pass did not run on the GPU: {}",
            stats.summary()
        );
    }
    // The other instance was not disturbed either.
    assert_eq!(other_instance.call("make_buffer", &[]).unwrap().len(), 1);
}

#[test]
fn bad_calls_get_documented_codes_then_sequential_computes() {
    run_on(DeviceKind::Sequential, DeviceKind::Cpu, false);
}

#[test]
fn bad_calls_get_documented_codes_then_cpu_computes() {
    run_on(DeviceKind::Cpu, DeviceKind::Sequential, false);
}

#[test]
fn bad_calls_get_documented_codes_then_gpu_computes() {
    run_on(DeviceKind::DiscreteGpu, DeviceKind::Cpu, true);
}
