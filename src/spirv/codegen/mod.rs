//! Building naga IR for a kernel module and writing it as SPIR-V.
//!
//! Value representation: wasm `i32`/`i64` are naga `u32`/`u64` (bitcast to
//! signed where an operation is signed), `f32`/`f64` are naga floats. Wasm
//! globals live in private variables holding their raw bits.
//!
//! Control flow: every wasm construct whose label is the target of a branch
//! becomes a naga `Loop` ("materialized"): a branch to it is `Break` (block,
//! if) or `Continue` (loop) when it is the innermost materialized construct.
//! A branch further out stores the target's index in the `pending` variable
//! and breaks; after each materialized construct that such a branch crossed,
//! a check clears `pending` if it named that construct, and otherwise keeps
//! propagating (break, or continue when the enclosing construct is the loop
//! named). Constructs no branch targets are emitted inline (blocks, loops
//! without a back-edge) or as a plain `If`. `br` to the function label is a
//! `Return`. Results of constructs travel through local variables.
//!
//! Files (one `impl FnTranslator` spread over several, like naga's
//! `back/spv/`):
//! - `mod.rs`: the shared state (`Types`, `Globals`, `Helpers`, `Shared`)
//!   and [`build`], which translates every function in call order;
//! - `builder.rs`: `FunctionBuilder`, one naga function under construction;
//! - `interface.rs`: types, bindings, private/workgroup state, wasm globals
//!   and the compute entry point;
//! - `helper_fns.rs`: the `trap`, load and store helper functions;
//! - `translator.rs`: `FnTranslator`'s state, value stack, traps, calls;
//! - `control.rs`: blocks, loops, unrolling, branches;
//! - `numeric.rs`: arithmetic, comparisons, conversions;
//! - `memory.rs`: bounds-checked loads and stores;
//! - `multi_value.rs`: functions with several results (a struct);
//! - `simd.rs`: `v128` values (lanes, packing, the SIMD visitor), with
//!   `simd_int.rs`, `simd_float.rs` and `simd_memory.rs` for the integer,
//!   float and memory operators;
//! - `visit.rs`: the operator visitor, one method per category;
//! - `emit.rs`: validation and the SPIR-V writer.

mod builder;
mod control;
mod emit;
mod helper_fns;
mod indirect;
mod interface;
mod memory;
mod multi_value;
mod numeric;
mod simd;
mod simd_float;
mod simd_int;
mod simd_memory;
mod stack;
mod translator;
mod visit;

pub(crate) use emit::emit_spirv;

use super::analyze::{KernelModule, Ty};
use super::{Unsupported, ENTRY_POINT};
use builder::FunctionBuilder;
use naga::{Expression, Function, GlobalVariable, Handle, Module, ScalarKind, Span, Type};
use std::collections::{HashMap, HashSet};
use translator::FnTranslator;

type H = Handle<Expression>;

#[derive(Clone, Copy)]
struct Types {
    u32: Handle<Type>,
    u64: Handle<Type>,
    f32: Handle<Type>,
    f64: Handle<Type>,
    bool: Handle<Type>,
    vec3u: Handle<Type>,
    /// `v128` (see `simd.rs`).
    vec4u: Handle<Type>,
}

#[derive(Clone, Copy)]
struct Globals {
    arena: Handle<GlobalVariable>,
    arena_atomic: Handle<GlobalVariable>,
    params: Handle<GlobalVariable>,
    control: Handle<GlobalVariable>,
    mem_size: Handle<GlobalVariable>,
    fuel: Handle<GlobalVariable>,
    trapped: Handle<GlobalVariable>,
    /// The code of this invocation's trap (0: none); published to the
    /// control words once, when the kernel function returns to the entry.
    trap_code: Handle<GlobalVariable>,
    iteration: Handle<GlobalVariable>,
    /// `!param[ZERO]` = `u32::MAX` at run time, and 0 once the invocation
    /// trapped; opaque to compilers, so in shaders without fuel
    /// `sentinel == 0` gives every loop an exit that the compiler cannot rule
    /// out (and that a trapped invocation takes), and the driver-loop-limit
    /// check after the loop survives optimization (with fuel, `fuel == 0` is
    /// that exit).
    sentinel: Handle<GlobalVariable>,
    /// `param[ZERO]`: 0 at run time, unknown to compilers, never written
    /// after the entry (so loop-invariant). Float constants, conversions to
    /// float, float globals and float locals' zero start pass through an
    /// XOR with it, so the driver's compiler never sees a float constant:
    /// lavapipe (Mesa 22.3) folds `x * 0.0` to 0 and `x + 0.0` to x (wrong
    /// for NaN, ±inf and -0.0) whenever it can prove an operand is zero
    /// (driver workaround W1, docs/wasi-parallel.md section 2.4).
    zero: Handle<GlobalVariable>,
    /// Workgroup memory, one `u32` per invocation of the workgroup: the
    /// "loop ended normally" flag (see `open_frame`). Memory rather than a
    /// variable: llvmpipe's loop limiter leaves a loop along no edge of the
    /// IR, so SSA values merged at the loop exit (phis) keep whatever a
    /// previous instance of the loop left in their registers (driver
    /// workarounds W5, W6, docs/wasi-parallel.md section 2.4).
    loop_flags: Handle<GlobalVariable>,
    /// `LocalInvocationIndex`: this invocation's slot in `loop_flags`.
    lane: Handle<GlobalVariable>,
    /// The shadow stack's window (private array or scratch buffer), when
    /// the kernel has one.
    stack: Option<stack::StackVar>,
}

#[derive(Clone, Copy)]
struct Helpers {
    trap: Handle<Function>,
    ld8: Handle<Function>,
    ld16: Handle<Function>,
    ld32: Handle<Function>,
    st8: Handle<Function>,
    st16: Handle<Function>,
    st32: Handle<Function>,
}

struct Shared {
    t: Types,
    g: Globals,
    h: Helpers,
    wasm_globals: Vec<(Handle<GlobalVariable>, Ty)>,
    fn_map: Vec<Option<Handle<Function>>>,
    /// Deepest nesting of wasm loops reachable from each translated function.
    fn_loop_depth: Vec<u32>,
    /// Operators of each translated function once its calls are inlined
    /// (see `control::prescan`).
    fn_ops: Vec<usize>,
    region_size: u64,
    /// Whether loops count fuel (see `TranslateOptions::fuel`).
    fuel: bool,
    /// Copies of the body of small innermost loops (see `TranslateOptions::unroll`).
    unroll: u32,
    /// The struct type of each result list of several values (multi-value
    /// functions return one struct; see `multi_value.rs`).
    result_structs: HashMap<Vec<Ty>, Handle<Type>>,
}

/// The naga module plus what the code actually used.
pub(crate) struct Built {
    pub module: Module,
    pub uses_i64: bool,
    pub uses_f64: bool,
}

/// `Globals::zero` as a `u32`, or widened to `u64`.
fn run_time_zero(fb: &mut FunctionBuilder, g: Globals, wide: bool) -> H {
    let zero = fb.load_global(g.zero);
    if wide {
        fb.conv(zero, ScalarKind::Uint, 8)
    } else {
        zero
    }
}

/// Translations of one function while refining which locals are aligned.
const MAX_ALIGNMENT_PASSES: u32 = 4;

/// Most copies of an unrolled loop body.
pub(crate) const MAX_UNROLL: u32 = 8;
/// Innermost loops with at most this many operators are unrolled.
const UNROLL_MAX_OPS: usize = 160;

const NONE: u32 = u32::MAX;

/// Builds the whole naga module.
pub(crate) fn build(
    km: &KernelModule<'_>,
    workgroup_size: u32,
    max_loop_depth: Option<u32>,
    fuel: bool,
    unroll: u32,
    stack_storage: crate::spirv::StackStorage,
) -> Result<Built, Unsupported> {
    let mut module = Module::default();
    let t = interface::declare_types(&mut module);
    let mut g = interface::declare_globals(&mut module, t, workgroup_size);
    g.stack = stack::declare(&mut module, t, km.stack, stack_storage);
    let wasm_globals = interface::declare_wasm_globals(&mut module, km, t);
    let h = helper_fns::declare_helpers(&mut module, t, g);
    let result_structs = multi_value::declare_result_structs(&mut module, km, t);
    let mut sh = Shared {
        t,
        g,
        h,
        wasm_globals,
        fn_map: vec![None; km.funcs.len()],
        fn_loop_depth: vec![0; km.funcs.len()],
        fn_ops: vec![usize::MAX; km.funcs.len()],
        region_size: km.region_size,
        fuel,
        unroll: unroll.clamp(1, MAX_UNROLL),
        result_structs,
    };
    let mut uses_i64 = km.uses_i64;
    let mut uses_f64 = km.uses_f64;
    for &fi in &km.order {
        // Alignment of locals, optimistically: translate, and again with the
        // locals that received a value not known to be a multiple of 4
        // marked unknown, until no such local is left (usually twice in
        // all). After a few passes every local is unknown, so a kernel
        // built to drop one assumption per pass cannot make this quadratic.
        let mut unaligned = HashSet::new();
        let mut passes = 0;
        let mut tr = loop {
            let mut tr = FnTranslator::new(&sh, km, fi, &unaligned)?;
            tr.run()?;
            if tr.violations.is_empty() {
                break tr;
            }
            passes += 1;
            if passes >= MAX_ALIGNMENT_PASSES {
                unaligned.extend(0..tr.locals.len() as u32);
            } else {
                unaligned.extend(tr.violations.iter().copied());
            }
        };
        uses_i64 |= tr.uses_i64;
        uses_f64 |= tr.uses_f64;
        let depth = tr.max_loop_depth;
        let tr_ops = std::mem::take(&mut tr.ops);
        let f = tr.fb.finish();
        let handle = module.functions.append(f, Span::UNDEFINED);
        sh.fn_map[fi as usize] = Some(handle);
        sh.fn_loop_depth[fi as usize] = depth;
        let sizes = &sh.fn_ops;
        let size = control::inlined_ops(&tr_ops, &|f| {
            sizes.get(f as usize).copied().unwrap_or(usize::MAX)
        });
        sh.fn_ops[fi as usize] = size;
    }
    let kernel = sh.fn_map[km.kernel as usize]
        .ok_or_else(|| Unsupported::new("internal: kernel function not translated"))?;
    if let Some(max) = max_loop_depth {
        let depth = sh.fn_loop_depth[km.kernel as usize];
        if depth > max {
            return Err(Unsupported::new(format!(
                "loops nested {depth} deep; this device allows {max} \
                 (vulkan_llvmpipe_nested_loops is off)"
            )));
        }
    }
    let entry = interface::build_entry(&sh, kernel, km.num_buffers, workgroup_size);
    module.entry_points.push(naga::EntryPoint {
        name: ENTRY_POINT.to_string(),
        stage: naga::ShaderStage::Compute,
        early_depth_test: None,
        workgroup_size: [workgroup_size, 1, 1],
        workgroup_size_overrides: None,
        function: entry,
        mesh_info: None,
        task_payload: None,
        incoming_ray_payload: None,
    });
    Ok(Built {
        module,
        uses_i64,
        uses_f64,
    })
}
