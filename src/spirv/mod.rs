//! The wasm → SPIR-V translator for the Vulkan device.
//!
//! [`translate_kernel`] takes the bytes of a kernel module (ABI section 2) and
//! produces a Vulkan compute shader. It is a pure function: no Vulkan, no
//! driver, so it can be unit-tested, fuzzed and checked with `spirv-val`
//! anywhere.
//!
//! # Route
//! wasm (decoded by `wasmparser`; validated by it, or already by wasmi for
//! a kernel the loader accepted, see [`translate_loaded`]) → naga IR (built by hand in
//! `codegen`) → `naga::valid::Validator` → `naga::back::spv` → a post-pass
//! over the words (`postpass`) adding what naga cannot express
//! (`NoContraction`, float-controls execution modes).
//!
//! # The shader interface (shared with `parallel::device::vulkan`)
//! Descriptor set 0:
//! - binding [`BINDING_ARENA`]: storage buffer `array<u32>`: the kernel's whole
//!   linear memory: `[0, R)` its own region (data segments applied by the
//!   host), then the call's buffers at the offsets of the layout rule. A wasm
//!   address is a plain byte offset into it.
//! - binding [`BINDING_ARENA_ATOMIC`]: the same buffer again, viewed as
//!   `array<atomic<u32>>`; sub-word and unaligned stores use atomic And/Or on
//!   the containing words so they never clobber bytes that other invocations
//!   write.
//! - binding [`BINDING_PARAMS`]: read-only `array<u32>`, see [`param`].
//! - binding [`BINDING_CONTROL`]: `array<atomic<u32>>`: word 0 the largest
//!   trap code raised (0 = none, see [`trap`]), word 1 the smallest
//!   iteration id that trapped (the host initialises it to `u32::MAX`).
//!
//! The shader runs with a workgroup size of [`TranslateOptions::workgroup_size`]
//! (default [`WORKGROUP_SIZE`]) along x; the iteration id of an invocation is
//! `param[ITERATION_BASE] + gid.x + gid.y * num_workgroups.x * workgroup_size`,
//! invocations at or past `param[NUM_ITERATIONS]` return at once. So a
//! dispatch may use the y dimension and the host may split a call into
//! several dispatches.
//!
//! # Semantics and limits
//! - Traps (out-of-bounds access against `param[MEMORY_SIZE]`, integer
//!   division by zero and `INT_MIN / -1`, `unreachable`, trapping float→int,
//!   fuel exhaustion, a store into `[0, R)`) record a code (published to the
//!   control word, see below) and the trapping access does not happen: a
//!   load reads address 0 instead, a store writes nothing, a division
//!   divides by 1, a conversion converts 0.0. The invocation then runs on
//!   with such harmless values until the next loop check, which the trap
//!   makes leave every loop (it sets fuel and the sentinel to 0), so it
//!   soon ends; its stores after the trap are still bounds-checked. Buffer
//!   contents are unspecified after a trap (ABI section 2) on every device.
//!   There is no `return` at the checks (driver workaround W4; the driver
//!   workarounds W1..W8 are tabled in docs/wasi-parallel.md section 2.4).
//! - Driver loop limits: llvmpipe (lavapipe) keeps one loop limiter per
//!   SIMD vector of invocations (8 lanes at 256 bits), set to 65535 when
//!   the shader starts and decremented at every loop back-edge test of
//!   every loop (sequential and nested loops share it; wasm blocks that
//!   branches target become one-case switches, not loops, so they do not
//!   count). Once it reaches 0 every loop is left after its
//!   current iteration, along no edge of the IR. Each wasm loop therefore
//!   writes 1 to this invocation's word of a workgroup-memory array
//!   (`loop_flags[LocalInvocationIndex]`) when it ends normally, and right
//!   after the loop reads and resets the word: 0 without a pending branch
//!   means the driver cut the loop, and the invocation stops with
//!   [`trap::DRIVER_LOOP_LIMIT`], which the device turns into `unsupported`
//!   (the runtime reruns the call on the CPU device) (W5). The flag must be
//!   memory, not a variable (W6). Each loop also has an extra exit the
//!   compiler cannot rule out (fuel running out, or `!param[ZERO] == 0`,
//!   taken only after a trap) so compilers cannot fold the check (W7).
//!   [`TranslateOptions::max_loop_depth`] remains as an opt-out gate.
//! - Fuel (when [`TranslateOptions::fuel`] is set): every iteration of a
//!   wasm `loop` body costs one unit of the per-invocation budget
//!   `param[FUEL]` (a `u32`). Running out leaves the loop and traps with
//!   [`trap::FUEL`]. Without fuel each loop has the exit
//!   `!param[ZERO] == 0` instead (taken only after a trap), for the reason
//!   above.
//! - Globals are private per invocation (each starts from its initial value).
//! - `[0, R)` is shared by all invocations on the GPU, while the CPU device
//!   gives each worker a private copy. Reading it (constant tables, data
//!   segments) is fine. clang's shadow stack (a mutable `i32` global
//!   initialised to a 16-byte aligned address in `(0, R]`, lowered by a
//!   constant frame in function prologues) is recognised and sized over
//!   the call graph (`shadow_stack.rs`); each invocation keeps the stack's
//!   range `[lo, top)` (at most 2 KiB) in a private array, and the
//!   load/store helpers route each word there or to the arena by its
//!   address (`codegen/stack.rs`). A stack pointer set below `lo` stops the
//!   invocation with [`trap::STACK_LIMIT`]. Any other store into `[0, R)`
//!   (a C `static` counter, `.bss` scratch) stops the invocation with
//!   [`trap::PRIVATE_WRITE`]. Both are reported as `unsupported` with the
//!   buffers untouched, so the runtime reruns the call on the CPU device.
//! - `call_indirect` is a switch over the table's slots (`codegen/indirect.rs`)
//!   with wasm's traps: [`trap::INDIRECT_NULL`], [`trap::INDIRECT_SIGNATURE`],
//!   [`trap::TABLE_OUT_OF_BOUNDS`].
//! - Floats: every float arithmetic result is decorated `NoContraction` (no
//!   FMA fusion); `DenormPreserve` and `SignedZeroInfNanPreserve` execution
//!   modes are added when [`TranslateOptions`] says the device supports them.
//!   NaN payloads may differ from the interpreter (wasm leaves them
//!   nondeterministic); `sqrt` and division are exactly rounded only where
//!   the driver makes them so (lavapipe on x86 does). No float is a
//!   compile-time constant to the driver: float constants, conversions to
//!   float, float globals and float locals' initial zero pass through an
//!   XOR with a run-time zero (`param[ZERO]`) (W1); so do sign extensions
//!   to i64 (W2). `f64.copysign` works on the 32-bit high words (W3).
//! - Traps are recorded in private variables (first code wins) and
//!   published to the control words with atomics once, when the kernel
//!   function returns to the entry point: SIMD drivers (llvmpipe) execute
//!   masked-off code, so atomics at every bounds check were paid by every
//!   access.
//! - Performance shapes (each measured on lavapipe, see BENCHMARKS.md):
//!   wasm blocks that branches target are one-case switches, not loops;
//!   small innermost loops are unrolled [`TranslateOptions::unroll`] times
//!   (copies but the last in a one-case switch, so `br` to the loop enters
//!   the next copy and a fall-through sets an exit flag); 32/64-bit loads
//!   whose address is provably a multiple of 4 (buffer pointers, which the
//!   ABI aligns, shifts by 2 or more, sums, masks, and locals holding only
//!   such values) read the word directly.
//! - Fixed-width SIMD (`v128`): a naga `vec4<u32>`, every operator computed
//!   lane by lane through the scalar paths (see `codegen/simd.rs`), with the
//!   scalar bounds checks and trap rules; loops with `v128` loads or stores
//!   are not unrolled. `v128` globals are unsupported.
//! - Multi-value: a function with several results returns a struct of them
//!   (`codegen/multi_value.rs`); block, `if` and loop parameters stay on the
//!   value stack (a loop a branch targets takes them through variables).
//! - Unsupported: recursion (direct, or through the table), `memory.grow`, bulk memory,
//!   reference types (values, and globals or functions of such types that a function
//!   `kernel` reaches; unreachable ones are ignored), start functions, and 64-bit types
//!   when the options exclude them.

#![cfg(feature = "vulkan")]

mod analyze;
mod codegen;
mod postpass;
mod shadow_stack;
mod table;

pub use analyze::DataSegment;

use std::fmt;

/// Default copies of small innermost loop bodies ([`TranslateOptions::unroll`]).
pub const DEFAULT_UNROLL: u32 = 4;

/// Default workgroup size (x) of generated shaders.
pub const WORKGROUP_SIZE: u32 = 64;

/// Descriptor binding of the memory arena (`array<u32>`).
pub const BINDING_ARENA: u32 = 0;
/// Descriptor binding of the same arena viewed as `array<atomic<u32>>`.
pub const BINDING_ARENA_ATOMIC: u32 = 1;
/// Descriptor binding of the parameter words (read-only `array<u32>`).
pub const BINDING_PARAMS: u32 = 2;
/// Descriptor binding of the control words (trap code, trapping iteration).
pub const BINDING_CONTROL: u32 = 3;
/// Descriptor binding of the shadow stack's scratch buffer
/// (`array<u32>`, read-write), only in shaders built with
/// [`StackStorage::ScratchInterleaved`] or [`StackStorage::ScratchContiguous`]
/// for a kernel with a stack window: `window / 4` words for each invocation
/// of the dispatch (see `codegen/stack.rs` for the two layouts).
pub const BINDING_SCRATCH: u32 = 4;

/// Where each invocation keeps its shadow stack window on the GPU (see
/// `codegen/stack.rs` and docs/wasi-parallel.md, "Shadow stack").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StackStorage {
    /// Chosen per kernel from its deepest stack use (an upper bound over
    /// the call graph): [`StackStorage::Private`] up to
    /// [`AUTO_PRIVATE_DEPTH`] bytes (faster per access on lavapipe, see
    /// BENCHMARKS.md "Kernels with a shadow stack"), else
    /// [`StackStorage::ScratchInterleaved`] (compiles in about the same
    /// time at any size, where a 2 KiB private array takes lavapipe 13-17 s;
    /// and stacks past 2 KiB run on the GPU instead of falling back to the
    /// CPU). [`Translation::stack_storage`] says which.
    #[default]
    Auto,
    /// A `Private` array per invocation (the driver's own scratch memory).
    /// Windows of at most [`MAX_PRIVATE_WINDOW`] bytes.
    Private,
    /// A slice of a scratch storage buffer, lane-interleaved: word `i` of
    /// invocation `s` of a dispatch of `n` invocations at `i * n + s`
    /// (neighbouring invocations touch neighbouring words). Windows of at
    /// most [`MAX_SCRATCH_WINDOW`] bytes.
    ScratchInterleaved,
    /// A slice of a scratch storage buffer, one contiguous window per
    /// invocation: word `i` of invocation `s` at `s * window / 4 + i`.
    ScratchContiguous,
}

impl StackStorage {
    /// Reads a name: `auto`, `private`, `scratch` (interleaved) or
    /// `scratch-contiguous`.
    pub fn parse(s: &str) -> Option<StackStorage> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(StackStorage::Auto),
            "private" => Some(StackStorage::Private),
            "scratch" | "scratch-interleaved" => Some(StackStorage::ScratchInterleaved),
            "scratch-contiguous" => Some(StackStorage::ScratchContiguous),
            _ => None,
        }
    }

    /// Whether the window lives in the scratch buffer ([`BINDING_SCRATCH`]);
    /// `Auto` is resolved first (see [`Self::resolve`]).
    pub fn is_scratch(self) -> bool {
        matches!(
            self,
            StackStorage::ScratchInterleaved | StackStorage::ScratchContiguous
        )
    }

    /// The largest window the translator gives an invocation with this
    /// storage; a deeper stack gets the top that many bytes and traps
    /// with [`trap::STACK_LIMIT`] below them.
    pub fn max_window(self) -> u32 {
        match self {
            StackStorage::Private => MAX_PRIVATE_WINDOW,
            _ => MAX_SCRATCH_WINDOW,
        }
    }

    /// The storage a kernel whose deepest stack use is `depth` bytes
    /// (`None`: no shadow stack) gets: `Auto` resolved, the others as
    /// they are.
    pub fn resolve(self, depth: Option<u64>) -> StackStorage {
        match self {
            StackStorage::Auto if depth.is_some_and(|d| d > AUTO_PRIVATE_DEPTH as u64) => {
                StackStorage::ScratchInterleaved
            }
            StackStorage::Auto => StackStorage::Private,
            s => s,
        }
    }
}

/// The deepest stack [`StackStorage::Auto`] keeps in a private array (1
/// KiB: per access the private array was 1.4-3.5x faster than the scratch
/// buffer on lavapipe, but its compile time grows with its size: 0.6 s at
/// 256 B, 2.8 s at 1 KiB, 13-17 s at 2 KiB, cold).
pub const AUTO_PRIVATE_DEPTH: u32 = 1024;

/// Largest private-array window per invocation, in bytes. llvmpipe's
/// compile time grew steeply with the size of a dynamically indexed private
/// array: a kernel with a 4 KiB window took minutes to compile on a 2-core
/// machine, one with 1.8 KiB about a minute.
pub const MAX_PRIVATE_WINDOW: u32 = 2 * 1024;

/// Largest scratch-buffer window per invocation, in bytes (64 KiB: clang's
/// default stack size). A scratch buffer costs the driver's compiler
/// nothing more for a larger window; the device caps the invocations of
/// one dispatch so that the buffer stays within its scratch budget.
pub const MAX_SCRATCH_WINDOW: u32 = 64 * 1024;

/// Indices of the words of the params binding.
pub mod param {
    /// Total number of iterations of the call.
    pub const NUM_ITERATIONS: usize = 0;
    /// The call's block size, passed through to the kernel.
    pub const BLOCK_SIZE: usize = 1;
    /// Iteration id of the first invocation of this dispatch.
    pub const ITERATION_BASE: usize = 2;
    /// Size of the kernel's linear memory (the arena) in bytes.
    pub const MEMORY_SIZE: usize = 3;
    /// Per-invocation budget of loop iterations (`u32::MAX`: practically unlimited).
    pub const FUEL: usize = 4;
    /// Must be 0. Read as an opaque "never" condition (see the driver loop
    /// limit in the module documentation).
    pub const ZERO: usize = 5;
    /// First `(ptr, len)` word; buffer `i` has its pair at `PAIRS + 2*i`.
    pub const PAIRS: usize = 8;
    /// Number of words of the params binding for `n` buffers.
    pub const fn words(num_buffers: usize) -> usize {
        PAIRS + 2 * num_buffers
    }
}

/// Trap codes written to control word 0 (0 means no trap). The control
/// word keeps the largest code raised by any invocation: the kernel's own
/// traps come first, then the codes that mean "this device cannot run the
/// call" ([`trap::is_device_limit`]), so one of those always wins and the
/// call is rerun elsewhere.
pub mod trap {
    /// `unreachable` executed.
    pub const UNREACHABLE: u32 = 1;
    /// A load or store outside the linear memory.
    pub const OUT_OF_BOUNDS: u32 = 2;
    /// Integer division or remainder by zero.
    pub const DIV_BY_ZERO: u32 = 3;
    /// Signed integer overflow (`INT_MIN / -1`).
    pub const INT_OVERFLOW: u32 = 4;
    /// Trapping float → int conversion of NaN or an out-of-range value.
    pub const BAD_CONVERSION: u32 = 5;
    /// The per-invocation loop budget ran out.
    pub const FUEL: u32 = 6;
    /// `call_indirect` to a null table entry.
    pub const INDIRECT_NULL: u32 = 7;
    /// `call_indirect` to a function of another signature.
    pub const INDIRECT_SIGNATURE: u32 = 8;
    /// `call_indirect` with an index past the end of the table.
    pub const TABLE_OUT_OF_BOUNDS: u32 = 9;
    /// A store into the kernel's own region `[0, R)` outside the private
    /// stack window, which is shared by all invocations on a GPU (reported
    /// as `unsupported`, not as a trap).
    pub const PRIVATE_WRITE: u32 = 16;
    /// The shadow stack pointer went below the invocation's private window
    /// (a stack deeper than the translator's bound or than the window
    /// allows; reported as `unsupported`).
    pub const STACK_LIMIT: u32 = 17;
    /// Not a trap of the kernel: the driver left a loop early (llvmpipe
    /// stops all loops of an invocation after 65535 iterations in total).
    /// The device reports the call as unsupported, leaving the buffers
    /// untouched, so the runtime can run it on the CPU device. The largest
    /// code.
    pub const DRIVER_LOOP_LIMIT: u32 = 18;

    /// Whether `code` means the device could not run the call (reported as
    /// `unsupported` with the buffers untouched) rather than a kernel trap.
    pub fn is_device_limit(code: u32) -> bool {
        code >= PRIVATE_WRITE
    }

    /// A human-readable description of a trap code.
    pub fn describe(code: u32) -> &'static str {
        match code {
            UNREACHABLE => "unreachable executed",
            OUT_OF_BOUNDS => "out-of-bounds memory access",
            DIV_BY_ZERO => "integer division by zero",
            INT_OVERFLOW => "integer overflow",
            BAD_CONVERSION => "invalid conversion to integer",
            FUEL => "kernel fuel exhausted",
            INDIRECT_NULL => "uninitialized element: indirect call to a null table entry",
            INDIRECT_SIGNATURE => "indirect call type mismatch",
            TABLE_OUT_OF_BOUNDS => "undefined element: out of bounds table access (call_indirect)",
            PRIVATE_WRITE => "store into the kernel's own memory region [0, R) outside its shadow stack, which is shared between GPU invocations",
            STACK_LIMIT => "the shadow stack grew below the invocation's private window on the GPU",
            DRIVER_LOOP_LIMIT => "the driver cut a loop short (llvmpipe: 65535 loop iterations per invocation)",
            _ => "unknown trap",
        }
    }
}

/// What the target device supports; decides what the translator may emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TranslateOptions {
    /// The device supports 64-bit integers (`shaderInt64`).
    pub int64: bool,
    /// The device supports 64-bit floats (`shaderFloat64`).
    pub float64: bool,
    /// Add `DenormPreserve 32` (needs `shaderDenormPreserveFloat32`).
    pub denorm_preserve_f32: bool,
    /// Add `DenormPreserve 64` (needs `shaderDenormPreserveFloat64`).
    pub denorm_preserve_f64: bool,
    /// Add `SignedZeroInfNanPreserve 32` (needs `shaderSignedZeroInfNanPreserveFloat32`).
    pub signed_zero_inf_nan_f32: bool,
    /// Add `SignedZeroInfNanPreserve 64` (needs `shaderSignedZeroInfNanPreserveFloat64`).
    pub signed_zero_inf_nan_f64: bool,
    /// Workgroup size along x (at least 1).
    pub workgroup_size: u32,
    /// Deepest loop nesting allowed (`None`: any). Kernels beyond it are
    /// unsupported (the Vulkan device sets 1 on llvmpipe only when
    /// `ParallelConfig::vulkan_llvmpipe_nested_loops` is off; see the
    /// module documentation).
    pub max_loop_depth: Option<u32>,
    /// Count loop iterations against the per-invocation budget
    /// `param[FUEL]`. A shader without fuel never traps with [`trap::FUEL`];
    /// the Vulkan device builds one only for calls without a kernel fuel
    /// limit (the check costs about a quarter of a tight loop on llvmpipe).
    pub fuel: bool,
    /// Copies of the body per iteration for small innermost loops (1: no
    /// unrolling; at most 8). Each copy keeps its own exit, fuel and trap
    /// checks, so the semantics do not change; llvmpipe's limiter then
    /// allows that many times more iterations, and loops run faster.
    pub unroll: u32,
    /// Where the shadow stack's window lives (see [`StackStorage`]).
    pub stack_storage: StackStorage,
}

impl Default for TranslateOptions {
    /// Everything on: what lavapipe offers.
    fn default() -> Self {
        TranslateOptions {
            int64: true,
            float64: true,
            denorm_preserve_f32: true,
            denorm_preserve_f64: true,
            signed_zero_inf_nan_f32: true,
            signed_zero_inf_nan_f64: true,
            workgroup_size: WORKGROUP_SIZE,
            max_loop_depth: None,
            fuel: true,
            unroll: DEFAULT_UNROLL,
            stack_storage: StackStorage::Auto,
        }
    }
}

/// Why a kernel cannot run on the GPU; the caller falls back to the CPU device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// Human-readable reason.
    pub reason: String,
}

impl Unsupported {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Unsupported {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kernel not supported on the GPU: {}", self.reason)
    }
}

impl std::error::Error for Unsupported {}

/// The result of translating a kernel.
#[derive(Clone, Debug)]
pub struct Translation {
    /// The SPIR-V module (entry point [`ENTRY_POINT`], compute).
    pub words: Vec<u32>,
    /// `R`: the imported memory's declared minimum size in bytes.
    pub region_size: u64,
    /// Active data segments, to be written into `[0, R)` of the arena.
    pub data_segments: Vec<DataSegment>,
    /// Number of `(ptr, len)` pairs the kernel takes.
    pub num_buffers: usize,
    /// Whether the shader uses 64-bit integers.
    pub uses_int64: bool,
    /// Whether the shader uses 64-bit floats.
    pub uses_float64: bool,
    /// The shadow stack's private window `[lo, top)` each invocation keeps
    /// (see `codegen/stack.rs`), when the kernel has one.
    pub stack_window: Option<(u32, u32)>,
    /// Where that window lives ([`TranslateOptions::stack_storage`] with
    /// `Auto` resolved).
    pub stack_storage: StackStorage,
}

/// Name of the compute entry point of every generated shader.
pub const ENTRY_POINT: &str = "main";

/// What the kernel loader (`parallel::kernel::loader`) established about a
/// kernel: it checked the ABI and the wasm engine validated the module, so
/// [`translate_loaded`] neither validates nor re-derives these again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadedKernel {
    /// The kernel's own region `R` in bytes.
    pub region_size: u64,
    /// Number of `(ptr, len)` buffer pairs of `kernel`.
    pub num_buffers: usize,
}

/// `invalid kernel module: ...` for a decoding or validation error.
pub(crate) fn wasm_err(e: wasmparser::BinaryReaderError) -> Unsupported {
    Unsupported::new(format!("invalid kernel module: {e}"))
}

/// Translates a kernel module; see the module documentation. Validates the
/// module first (see [`translate_loaded`] for kernels the loader accepted).
pub fn translate_kernel(
    kernel_wasm: &[u8],
    opts: &TranslateOptions,
) -> Result<Translation, Unsupported> {
    translate_inner(kernel_wasm, None, opts)
}

/// Translates a kernel that the kernel loader accepted and the wasm engine
/// validated (decoded and validated once per kernel cache entry); `loaded`
/// is what the loader learned.
pub fn translate_loaded(
    kernel_wasm: &[u8],
    loaded: &LoadedKernel,
    opts: &TranslateOptions,
) -> Result<Translation, Unsupported> {
    translate_inner(kernel_wasm, Some(loaded), opts)
}

fn translate_inner(
    kernel_wasm: &[u8],
    loaded: Option<&LoadedKernel>,
    opts: &TranslateOptions,
) -> Result<Translation, Unsupported> {
    let module = analyze::analyze(kernel_wasm, loaded, opts.stack_storage.max_window())?;
    // `Auto` picks the private array only for a depth within its limit, so
    // the window analysed with the larger limit is the same.
    let stack_storage = opts
        .stack_storage
        .resolve(module.stack.as_ref().map(|s| s.depth));
    let built = codegen::build(
        &module,
        opts.workgroup_size.max(1),
        opts.max_loop_depth,
        opts.fuel,
        opts.unroll,
        stack_storage,
    )?;
    let emitted = codegen::emit_spirv(built)?;
    if emitted.uses_int64 && !opts.int64 {
        return Err(Unsupported::new(if emitted.uses_float64 {
            "the kernel uses f64, which the translator lowers with 64-bit integers, but the device lacks shaderInt64"
        } else {
            "the kernel uses i64 but the device lacks 64-bit integers (shaderInt64)"
        }));
    }
    if emitted.uses_float64 && !opts.float64 {
        return Err(Unsupported::new(
            "the kernel uses f64 but the device lacks 64-bit floats (shaderFloat64)",
        ));
    }
    let words = postpass::apply(emitted.words, opts, emitted.uses_float64)?;
    Ok(Translation {
        words,
        region_size: module.region_size,
        data_segments: module.data_segments.clone(),
        num_buffers: module.num_buffers,
        uses_int64: emitted.uses_int64,
        uses_float64: emitted.uses_float64,
        stack_window: module.stack.filter(|s| s.size() > 0).map(|s| (s.lo, s.top)),
        stack_storage,
    })
}

/// Translates a kernel module to SPIR-V words only.
pub fn translate(kernel_wasm: &[u8], opts: &TranslateOptions) -> Result<Vec<u32>, Unsupported> {
    translate_kernel(kernel_wasm, opts).map(|t| t.words)
}

/// SPIR-V words as little-endian bytes (the `.spv` file format).
pub fn words_to_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[cfg(test)]
pub(crate) mod tests;
