//! Shared helpers of the GPU tests: a runtime with the Vulkan device, running
//! one kernel on a given device through the `Device` trait, and comparing
//! results of the interpreter (SEQUENTIAL device) with Vulkan.

use std::sync::{Arc, OnceLock};
use wasi_parallel::parallel::device::{DeviceBuffer, ExecRequest};
use wasi_parallel::parallel::kernel::layout::Layout;
use wasi_parallel::parallel::kernel::Kernel;
use wasi_parallel::parallel::{ParError, ParallelConfig, ParallelRuntime};

pub const SEQUENTIAL: usize = 0;
pub const CPU: usize = 1;

pub struct Rt {
    pub rt: Arc<ParallelRuntime>,
    pub gpu: usize,
}

fn make(fuel: Option<u64>) -> Option<Rt> {
    make_with(fuel, true)
}

fn make_with(fuel: Option<u64>, nested: bool) -> Option<Rt> {
    let rt = ParallelRuntime::new(ParallelConfig {
        threads: 2,
        kernel_fuel: fuel,
        // Nested loops run on llvmpipe (every loop-limiter cut is detected
        // and reported as unsupported); `false` is the opt-out depth gate.
        vulkan_llvmpipe_nested_loops: nested,
        ..Default::default()
    })
    .expect("runtime");
    with_gpu(rt)
}

/// `rt` with its first GPU device, or `None` (skip) outside CI when it has
/// none; under `CI=true` a missing Vulkan device is a failure.
fn with_gpu(rt: ParallelRuntime) -> Option<Rt> {
    let gpu = rt
        .devices()
        .iter()
        .find(|d| d.kind.is_gpu())
        .map(|d| d.index);
    match gpu {
        Some(gpu) => Some(Rt {
            rt: Arc::new(rt),
            gpu,
        }),
        None => {
            let why = wasi_parallel::parallel::device::vulkan::discovery_note().unwrap_or("?");
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but no Vulkan device was found: {why}");
            }
            eprintln!("note: no Vulkan device ({why}); GPU test skipped");
            None
        }
    }
}

/// The shared runtime (no kernel fuel), or `None` (skip) outside CI.
pub fn rt() -> Option<&'static Rt> {
    static RT: OnceLock<Option<Rt>> = OnceLock::new();
    RT.get_or_init(|| make(None)).as_ref()
}

/// The runtime as users get it (the default configuration).
pub fn rt_default() -> Option<&'static Rt> {
    static RT: OnceLock<Option<Rt>> = OnceLock::new();
    RT.get_or_init(|| make_with(None, ParallelConfig::default().vulkan_llvmpipe_nested_loops))
        .as_ref()
}

/// A runtime whose Vulkan device keeps shadow stacks in `storage` (one
/// per storage, shared), or `None` (skip) outside CI.
#[cfg(feature = "vulkan")]
pub fn rt_stack(storage: wasi_parallel::spirv::StackStorage) -> Option<&'static Rt> {
    use wasi_parallel::spirv::StackStorage;
    static RTS: [OnceLock<Option<Rt>>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let slot = match storage {
        StackStorage::Private => 0,
        StackStorage::ScratchInterleaved => 1,
        StackStorage::ScratchContiguous => 2,
        StackStorage::Auto => 3,
    };
    RTS[slot]
        .get_or_init(|| {
            let rt = ParallelRuntime::with_devices(
                ParallelConfig {
                    threads: 2,
                    ..Default::default()
                },
                |first| {
                    wasi_parallel::parallel::device::vulkan::discover_stack(
                        first, None, true, storage,
                    )
                },
            )
            .expect("runtime");
            with_gpu(rt)
        })
        .as_ref()
}

/// A runtime whose kernels have a fuel budget.
pub fn rt_with_fuel(fuel: u64) -> Option<Rt> {
    make(Some(fuel))
}

pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    h
}

/// Runs `wasm` on device `dev` with buffers holding `inputs` (one buffer
/// each; `aliases[k] = j` makes occurrence k reuse buffer j) and returns the
/// buffers' contents afterwards.
pub fn run_aliased(
    rt: &ParallelRuntime,
    dev: usize,
    wasm: &[u8],
    n: u32,
    block: u32,
    inputs: &[Vec<u8>],
    aliases: &[usize],
) -> Result<Vec<Vec<u8>>, ParError> {
    let kernel = Arc::new(Kernel::compile(rt.kernel_engine(), wasm, hash(wasm))?);
    let device = rt.device(dev).expect("device");
    let mut bufs: Vec<Box<dyn DeviceBuffer>> = Vec::new();
    for data in inputs {
        let b = device.create_buffer(data.len() as u64)?;
        device.write(&*b, data)?;
        bufs.push(b);
    }
    let occ: Vec<&dyn DeviceBuffer> = aliases.iter().map(|&j| &*bufs[j]).collect();
    let keyed: Vec<(usize, u64)> = aliases
        .iter()
        .map(|&j| (j, inputs[j].len() as u64))
        .collect();
    let layout = Layout::compute(kernel.private_size, &keyed)?;
    let mut session = None;
    device.exec(
        &mut session,
        &ExecRequest {
            kernel: &kernel,
            num_iterations: n,
            block_size: block,
            buffers: &occ,
            layout: &layout,
            fuel: rt.config().kernel_fuel,
            read_only: &[],
            cancel: &wasi_parallel::parallel::Cancel::never(),
        },
    )?;
    let mut out = Vec::new();
    for (b, data) in bufs.iter().zip(inputs) {
        let mut v = vec![0u8; data.len()];
        device.read(&**b, &mut v)?;
        out.push(v);
    }
    Ok(out)
}

pub fn run(
    rt: &ParallelRuntime,
    dev: usize,
    wasm: &[u8],
    n: u32,
    block: u32,
    inputs: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>, ParError> {
    let aliases: Vec<usize> = (0..inputs.len()).collect();
    run_aliased(rt, dev, wasm, n, block, inputs, &aliases)
}

/// Element kind of an output buffer, for comparing with NaN tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Elem {
    Bytes,
    F32,
    F64,
}

/// Compares two buffers bit for bit, except that any NaN equals any NaN
/// (wasm leaves NaN payloads nondeterministic).
pub fn same(a: &[u8], b: &[u8], elem: Elem) -> Result<(), String> {
    if a.len() != b.len() {
        return Err("length differs".into());
    }
    let w = match elem {
        Elem::Bytes => 1,
        Elem::F32 => 4,
        Elem::F64 => 8,
    };
    for (i, (x, y)) in a.chunks(w).zip(b.chunks(w)).enumerate() {
        if x == y {
            continue;
        }
        let both_nan = match elem {
            Elem::F32 => {
                f32::from_le_bytes(x.try_into().unwrap()).is_nan()
                    && f32::from_le_bytes(y.try_into().unwrap()).is_nan()
            }
            Elem::F64 => {
                f64::from_le_bytes(x.try_into().unwrap()).is_nan()
                    && f64::from_le_bytes(y.try_into().unwrap()).is_nan()
            }
            Elem::Bytes => false,
        };
        if !both_nan {
            return Err(format!(
                "element {i} (byte {}) differs: interpreter {x:02x?} vs vulkan {y:02x?}",
                i * w
            ));
        }
    }
    Ok(())
}

/// Runs on the interpreter and on Vulkan and compares every buffer.
pub fn compare(
    rt: &Rt,
    wasm: &[u8],
    n: u32,
    block: u32,
    inputs: &[Vec<u8>],
    elems: &[Elem],
) -> Vec<Vec<u8>> {
    let reference = run(&rt.rt, SEQUENTIAL, wasm, n, block, inputs)
        .unwrap_or_else(|e| panic!("interpreter failed: {e}"));
    let gpu = run(&rt.rt, rt.gpu, wasm, n, block, inputs)
        .unwrap_or_else(|e| panic!("vulkan failed: {e}"));
    for (k, (r, g)) in reference.iter().zip(&gpu).enumerate() {
        if let Err(msg) = same(r, g, elems.get(k).copied().unwrap_or(Elem::Bytes)) {
            panic!("buffer {k}: {msg}");
        }
    }
    reference
}

/// Validates the kernel's SPIR-V with spirv-val (fails under CI=true when
/// spirv-val is missing).
pub fn spirv_val(wasm: &[u8]) {
    // Both shader variants the Vulkan device builds: with fuel (calls with a
    // kernel fuel limit) and without.
    for fuel in [true, false] {
        spirv_val_with(
            wasm,
            &wasi_parallel::spirv::TranslateOptions {
                fuel,
                ..Default::default()
            },
        );
    }
}

/// `spirv-val --target-env vulkan1.1` on the translation of `wasm` with `opts`.
pub fn spirv_val_with(wasm: &[u8], opts: &wasi_parallel::spirv::TranslateOptions) {
    use std::io::Write;
    let t = wasi_parallel::spirv::translate_kernel(wasm, opts)
        .unwrap_or_else(|e| panic!("translation failed: {e}"));
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&wasi_parallel::spirv::words_to_bytes(&t.words))
        .unwrap();
    match std::process::Command::new("spirv-val")
        .args(["--target-env", "vulkan1.1"])
        .arg(f.path())
        .output()
    {
        Ok(o) => assert!(
            o.status.success(),
            "spirv-val (fuel: {}): {}{}",
            opts.fuel,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("spirv-val missing under CI=true");
            }
            eprintln!("note: spirv-val not found; validation skipped");
        }
    }
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A runtime with the opt-out depth gate (`vulkan_llvmpipe_nested_loops =
/// false`).
pub fn rt_gated() -> Option<Rt> {
    make_with(None, false)
}

/// A module from WAT text (panics with the text on a syntax error).
pub fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap_or_else(|e| panic!("{e}\n{wat}"))
}

/// `n` pseudo-random bytes from `seed`.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..n).map(|_| r.next() as u8).collect()
}

/// The memory import every hand-written GPU test kernel starts with.
pub const HDR: &str = r#"(import "env" "memory" (memory 1))"#;

/// The bytes of `name` (e.g. `mandelbrot_kernel.wasm`) from [`crate::common::example_dir`];
/// `None` when the examples cannot be built outside CI.
pub fn example_file(name: &str) -> Option<Vec<u8>> {
    let path = crate::common::example_dir()?.join(name);
    Some(std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (c-examples/guests/build.sh did not build it)",
            path.display()
        )
    }))
}
