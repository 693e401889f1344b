//! Kernels: loading (ABI check + import rewrite), the content-hash cache of
//! compiled kernels and the memory layout rule shared by all devices.

pub mod cache;
pub mod layout;
pub mod loader;

use super::errno::{ParError, ParResult};
use std::time::Duration;

/// A loaded, checked and compiled kernel, shared (via `Arc`) by every worker,
/// call and instance that runs the same bytes.
pub struct Kernel {
    /// Content hash of the original bytes (the cache key).
    pub hash: u64,
    /// The original bytes (compared on a cache hit, so a hash collision can
    /// never run the wrong kernel; also what a GPU translator reads).
    pub bytes: Box<[u8]>,
    /// The module with the memory import rewritten.
    pub rewritten: Box<[u8]>,
    /// Size of the kernel's own region `[0, R)` in bytes.
    pub private_size: u64,
    /// Number of buffer `(ptr, len)` pairs the `kernel` export takes.
    pub num_buffer_params: usize,
    /// The module for the interpreter (validated; translated eagerly when
    /// the interpreter is the kernel engine or kernels are metered, lazily
    /// otherwise).
    pub module: wasmi::Module,
    /// The native code, when the JIT is the kernel engine.
    #[cfg(wp_jit)]
    pub jit: Option<crate::parallel::device::cpu::jit::JitKernel>,
    /// Why the JIT (the runtime's engine) declined this kernel, which then
    /// runs on the interpreter; `None` when it did not.
    pub jit_declined: Option<String>,
    /// Whether any of its functions has a `loop` (a CPU-type Vulkan
    /// device, whose driver cuts long loops, is not tried for such a kernel
    /// at large block sizes: see `device::vulkan::LLVMPIPE_LOOP_LIMIT`).
    pub has_loop: bool,
    /// Size of its code section in bytes (what a GPU build is expected to
    /// cost grows with: `placement::model::BuildBudget`).
    pub code_bytes: u64,
    /// How long decoding, checking and compiling took.
    pub compile_time: Duration,
    /// A process-unique id (keys per-device caches such as cached workers).
    pub id: u64,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("hash", &self.hash)
            .field("len", &self.bytes.len())
            .field("private_size", &self.private_size)
            .field("num_buffer_params", &self.num_buffer_params)
            .finish()
    }
}

/// Which engine runs kernels on the SEQUENTIAL and CPU devices.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum KernelEngine {
    /// The JIT where it is compiled in (feature `jit` on x86_64/aarch64),
    /// else the interpreter.
    #[default]
    Auto,
    /// Cranelift through wasmtime; a configuration error where it is not
    /// compiled in.
    Jit,
    /// The wasmi interpreter (always available).
    Interpreter,
}

impl KernelEngine {
    /// Whether the JIT engine is compiled into this build.
    pub const fn jit_available() -> bool {
        cfg!(wp_jit)
    }

    /// `Auto` replaced by what the environment variable
    /// [`KERNEL_ENGINE_ENV`] names (`jit`, `interpreter`; unset, empty or
    /// `auto`: left `Auto`); an explicit setting wins over the variable.
    /// How the test suites run on each engine without code changes.
    pub fn or_env(self) -> ParResult<KernelEngine> {
        if self != KernelEngine::Auto {
            return Ok(self);
        }
        match std::env::var(KERNEL_ENGINE_ENV).as_deref() {
            Err(_) | Ok("") | Ok("auto") => Ok(KernelEngine::Auto),
            Ok("jit") => Ok(KernelEngine::Jit),
            Ok("interpreter") => Ok(KernelEngine::Interpreter),
            Ok(other) => Err(ParError::invalid_argument(format!(
                "{KERNEL_ENGINE_ENV}={other} is not one of auto, jit, interpreter"
            ))),
        }
    }

    /// The engine `Auto` stands for in this build, or an error for `Jit`
    /// where it is not compiled in.
    pub fn resolve(self) -> ParResult<KernelEngine> {
        match self {
            KernelEngine::Auto if Self::jit_available() => Ok(KernelEngine::Jit),
            KernelEngine::Auto => Ok(KernelEngine::Interpreter),
            KernelEngine::Jit if !Self::jit_available() => Err(ParError::unsupported(
                "the JIT kernel engine is not compiled into this build (cargo feature `jit`, x86_64 and aarch64 only)",
            )),
            e => Ok(e),
        }
    }

    /// Name for people: `auto`, `jit (cranelift)`, `interpreter`.
    pub fn name(self) -> &'static str {
        match self {
            KernelEngine::Auto => "auto",
            KernelEngine::Jit => JIT_NAME,
            KernelEngine::Interpreter => INTERPRETER_NAME,
        }
    }
}

/// How JIT-compiled kernels keep their memory accesses in bounds (the
/// interpreter always checks each access; so does the GPU translator).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum BoundsChecks {
    /// What the environment variable [`BOUNDS_CHECKS_ENV`] names
    /// (`explicit`, `guard-pages`), else `Explicit`.
    #[default]
    Auto,
    /// A check before every access in the compiled code; nothing is asked
    /// of the process. The library's default.
    Explicit,
    /// No checks in the compiled code: every kernel memory is followed by
    /// inaccessible address space up to 4 GiB + 32 MiB from its base, and
    /// an access there faults; wasmtime's SIGSEGV/SIGBUS/SIGILL/SIGFPE
    /// handlers, installed for the whole process when the first runtime
    /// with this setting is created (chaining to the handlers installed
    /// before them), turn the fault into the same `kernel_trap`. Faster on
    /// memory-heavy kernels (BENCHMARKS.md); costs 4 GiB of address space
    /// (not memory) per worker memory; 64-bit hosts only. A host that
    /// installs its own handlers for those signals afterwards must chain to
    /// the previous ones, or kernel traps crash the process.
    GuardPages,
}

impl BoundsChecks {
    /// `Auto` replaced by what [`BOUNDS_CHECKS_ENV`] names (unset, empty
    /// or `auto`: `Explicit`); an explicit setting wins over the variable.
    pub fn or_env(self) -> ParResult<BoundsChecks> {
        if self != BoundsChecks::Auto {
            return Ok(self);
        }
        match std::env::var(BOUNDS_CHECKS_ENV).as_deref() {
            Err(_) | Ok("") | Ok("auto") | Ok("explicit") => Ok(BoundsChecks::Explicit),
            Ok("guard-pages") => Ok(BoundsChecks::GuardPages),
            Ok(other) => Err(ParError::invalid_argument(format!(
                "{BOUNDS_CHECKS_ENV}={other} is not one of auto, explicit, guard-pages"
            ))),
        }
    }

    /// Name for people: `auto`, `explicit`, `guard-pages`.
    pub fn name(self) -> &'static str {
        match self {
            BoundsChecks::Auto => "auto",
            BoundsChecks::Explicit => "explicit",
            BoundsChecks::GuardPages => "guard-pages",
        }
    }
}

/// Environment variable read when the configured bounds checks are `Auto`.
pub const BOUNDS_CHECKS_ENV: &str = "WASI_PARALLEL_BOUNDS_CHECKS";

/// Environment variable read when the configured kernel engine is `Auto`.
pub const KERNEL_ENGINE_ENV: &str = "WASI_PARALLEL_KERNEL_ENGINE";

/// What statistics call the JIT engine.
pub const JIT_NAME: &str = "jit (cranelift)";
/// What statistics call the interpreter engine.
pub const INTERPRETER_NAME: &str = "interpreter";

/// The compilers of a runtime: wasmi always (it validates every kernel, so
/// both engines accept the same kernels, and runs them when it is the
/// engine), the JIT when it is the engine.
pub struct KernelCompilers {
    /// The interpreter's engine.
    pub wasmi: wasmi::Engine,
    #[cfg(wp_jit)]
    jit: Option<crate::parallel::device::cpu::jit::JitCompiler>,
}

impl KernelCompilers {
    /// Compilers for `engine` (`Auto` resolved through the environment
    /// variable [`KERNEL_ENGINE_ENV`], then to the JIT where compiled in),
    /// with fuel metering when `fuel` (a per-iteration budget is set) and
    /// a way to stop a running iteration when `interruptible` (fuel slices
    /// on the interpreter, epochs on the JIT).
    pub fn new(
        engine: KernelEngine,
        fuel: bool,
        interruptible: bool,
        bounds: BoundsChecks,
    ) -> ParResult<KernelCompilers> {
        let engine = engine.or_env()?.resolve()?;
        let jit = engine == KernelEngine::Jit;
        #[cfg(not(wp_jit))]
        let _ = bounds; // only the JIT has guard pages
        let mut c = wasmi::Config::default();
        c.consume_fuel(fuel || interruptible);
        // Fixed-width SIMD runs on every device; relaxed SIMD is refused
        // (its results may differ between implementations, and a kernel must
        // compute the same on every device: see `Kernel::compile`).
        c.wasm_simd(true);
        c.wasm_relaxed_simd(false);
        // Lazy translation charges a function's translation to the fuel of
        // the call that first runs it, and running out there cannot be
        // resumed (see `runtime::engine`): with fuel, translate eagerly.
        c.compilation_mode(if jit && !(fuel || interruptible) {
            wasmi::CompilationMode::LazyTranslation
        } else {
            wasmi::CompilationMode::Eager
        });
        Ok(KernelCompilers {
            wasmi: wasmi::Engine::new(&c),
            #[cfg(wp_jit)]
            jit: if jit {
                Some(crate::parallel::device::cpu::jit::JitCompiler::new(
                    fuel,
                    interruptible,
                    false,
                    bounds,
                )?)
            } else {
                None
            },
        })
    }

    /// The engine kernels run on.
    pub fn engine(&self) -> KernelEngine {
        #[cfg(wp_jit)]
        if self.jit.is_some() {
            return KernelEngine::Jit;
        }
        KernelEngine::Interpreter
    }
}

impl Kernel {
    /// Loads and compiles `bytes` with `compilers`.
    pub fn compile(compilers: &KernelCompilers, bytes: &[u8], hash: u64) -> ParResult<Kernel> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let start = std::time::Instant::now();
        let shape = loader::load(bytes)?;
        // Validated whole before wasmi sees it: wasmi 2.0 validates and
        // translates each operator in one pass, and its translator
        // debug-asserts on operators after a function's final `end`
        // before the validator reports them (a panic in builds with debug
        // assertions; fuzz/README.md, finding 3). All proposals are on
        // here: what the engines do not support is still refused by wasmi
        // below, with its message.
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&shape.rewritten)
            .map_err(|e| ParError::invalid_kernel(format!("kernel does not validate: {e}")))?;
        // Both engines run the kernel with the generated range loops (one
        // call per batch of iterations, not per iteration:
        // `device/cpu/batches.rs`) where they can be added; that module
        // still exports `kernel`. Otherwise (or if wasmi refuses it) the
        // plain module, whose error is the one to report.
        let looped = crate::parallel::device::cpu::runner::add_range_loop(&shape.rewritten).ok();
        let with_loops = looped
            .as_deref()
            .and_then(|bytes| wasmi::Module::new(&compilers.wasmi, bytes).ok());
        let module = match with_loops {
            Some(m) => m,
            None => wasmi::Module::new(&compilers.wasmi, &shape.rewritten).map_err(|e| {
                let e = e.to_string();
                if e.contains("threads support") {
                    ParError::invalid_kernel(format!(
                        "kernel uses atomic instructions (the threads proposal), which kernels \
                         may not use: no kernel engine runs them on every device (give each \
                         iteration its own output elements and combine them in the guest): {e}"
                    ))
                } else if e.contains("relaxed SIMD") {
                    ParError::invalid_kernel(format!(
                    "kernel uses relaxed SIMD, which kernels may not use (its results may differ \
                     between devices; build without -mrelaxed-simd): {e}"
                ))
                } else {
                    ParError::invalid_kernel(format!("kernel does not validate: {e}"))
                }
            })?,
        };
        // A kernel the interpreter validated but the JIT cannot compile
        // (it uses reference-typed values: wasmtime is built without its
        // GC support) runs on the interpreter; `jit_declined` says why.
        #[cfg(wp_jit)]
        let jit_bytes = |c: &crate::parallel::device::cpu::jit::JitCompiler| match &looped {
            Some(l) if c.range_loop() => l.as_slice(),
            _ => shape.rewritten.as_slice(),
        };
        #[cfg(wp_jit)]
        let (jit, jit_declined) = match compilers.jit.as_ref().map(|c| c.compile(jit_bytes(c))) {
            Some(Ok(k)) => (Some(k), None),
            Some(Err(e)) => (None, Some(e.message)),
            None => (None, None),
        };
        #[cfg(not(wp_jit))]
        let jit_declined = None;
        Ok(Kernel {
            hash,
            bytes: bytes.into(),
            rewritten: shape.rewritten.into_boxed_slice(),
            private_size: shape.private_size,
            num_buffer_params: shape.num_buffer_params,
            module,
            #[cfg(wp_jit)]
            jit,
            jit_declined,
            has_loop: shape.has_loop,
            code_bytes: shape.code_bytes,
            compile_time: start.elapsed(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// The engine this kernel runs on (SEQUENTIAL and CPU devices).
    pub fn engine(&self) -> KernelEngine {
        #[cfg(wp_jit)]
        if self.jit.is_some() {
            return KernelEngine::Jit;
        }
        KernelEngine::Interpreter
    }

    /// Checks that the kernel takes exactly `num_buffers` buffer pairs.
    pub fn check_buffer_count(&self, num_buffers: usize) -> ParResult<()> {
        if self.num_buffer_params != num_buffers {
            return Err(ParError::invalid_kernel(format!(
                "function `kernel` takes {} buffer (ptr, len) pairs but the call passes {} buffers",
                self.num_buffer_params, num_buffers
            )));
        }
        Ok(())
    }
}
