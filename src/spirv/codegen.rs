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

use super::analyze::{KernelModule, Ty};
use super::{param, trap, Unsupported, BINDING_ARENA, BINDING_ARENA_ATOMIC, BINDING_CONTROL};
use super::{BINDING_PARAMS, ENTRY_POINT};
use naga::{
    AddressSpace, ArraySize, AtomicFunction, BinaryOperator as Bo, Binding, Block, BuiltIn,
    Expression, Function, FunctionArgument, FunctionResult, GlobalVariable, Handle, Literal,
    LocalVariable, MathFunction as Mf, Module, ResourceBinding, Scalar, ScalarKind, Span,
    Statement, StorageAccess, SwitchCase, SwitchValue, Type, TypeInner, UnaryOperator as Uo,
};
use std::collections::{HashMap, HashSet};
use wasmparser::{BlockType, MemArg, Operator};

type H = Handle<Expression>;

#[derive(Clone, Copy)]
struct Types {
    u32: Handle<Type>,
    u64: Handle<Type>,
    f32: Handle<Type>,
    f64: Handle<Type>,
    bool: Handle<Type>,
    vec3u: Handle<Type>,
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
    /// for NaN, ±inf and -0.0) whenever it can prove an operand is zero.
    zero: Handle<GlobalVariable>,
    /// Workgroup memory, one `u32` per invocation of the workgroup: the
    /// "loop ended normally" flag (see `open_frame`). Memory rather than a
    /// variable: llvmpipe's loop limiter leaves a loop along no edge of the
    /// IR, so SSA values merged at the loop exit (phis) keep whatever a
    /// previous instance of the loop left in their registers.
    loop_flags: Handle<GlobalVariable>,
    /// `LocalInvocationIndex`: this invocation's slot in `loop_flags`.
    lane: Handle<GlobalVariable>,
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
    region_size: u64,
    /// Whether loops count fuel (see `TranslateOptions::fuel`).
    fuel: bool,
    /// Copies of the body of small innermost loops (see `TranslateOptions::unroll`).
    unroll: u32,
}

/// The naga module plus what the code actually used.
pub(crate) struct Built {
    pub module: Module,
    pub uses_i64: bool,
    pub uses_f64: bool,
}

fn scalar_ty(module: &mut Module, s: Scalar) -> Handle<Type> {
    module.types.insert(
        Type {
            name: None,
            inner: TypeInner::Scalar(s),
        },
        Span::UNDEFINED,
    )
}

fn add_global(
    module: &mut Module,
    name: &str,
    space: AddressSpace,
    binding: Option<u32>,
    ty: Handle<Type>,
    init: Option<H>,
) -> Handle<GlobalVariable> {
    module.global_variables.append(
        GlobalVariable {
            name: Some(name.to_string()),
            space,
            binding: binding.map(|b| ResourceBinding {
                group: 0,
                binding: b,
            }),
            ty,
            init,
            memory_decorations: Default::default(),
        },
        Span::UNDEFINED,
    )
}

/// A function under construction: expression arena, nested blocks and the
/// emit bookkeeping naga needs (every non-constant expression inside an
/// `Emit` range of the block where it is evaluated).
struct FB {
    f: Function,
    blocks: Vec<Block>,
    emit_start: usize,
    lits: HashMap<(u8, u64), H>,
    gexprs: HashMap<Handle<GlobalVariable>, H>,
    t: Types,
}

impl FB {
    fn new(name: &str, t: Types) -> FB {
        FB {
            f: Function {
                name: Some(name.to_string()),
                ..Default::default()
            },
            blocks: vec![Block::new()],
            emit_start: 0,
            lits: HashMap::new(),
            gexprs: HashMap::new(),
            t,
        }
    }

    fn finish(mut self) -> Function {
        self.flush();
        debug_assert_eq!(self.blocks.len(), 1);
        self.f.body = self.blocks.pop().unwrap_or_default();
        self.f
    }

    fn expr(&mut self, e: Expression) -> H {
        if e.needs_pre_emit() {
            self.flush();
            let h = self.f.expressions.append(e, Span::UNDEFINED);
            self.emit_start = self.f.expressions.len();
            h
        } else {
            self.f.expressions.append(e, Span::UNDEFINED)
        }
    }

    /// An expression defined by a statement (call or atomic result): never
    /// inside an `Emit` range.
    fn special(&mut self, e: Expression) -> H {
        self.flush();
        let h = self.f.expressions.append(e, Span::UNDEFINED);
        self.emit_start = self.f.expressions.len();
        h
    }

    fn flush(&mut self) {
        let len = self.f.expressions.len();
        if len > self.emit_start {
            let range = self.f.expressions.range_from(self.emit_start);
            if let Some(b) = self.blocks.last_mut() {
                b.push(Statement::Emit(range), Span::UNDEFINED);
            }
        }
        self.emit_start = len;
    }

    fn stmt(&mut self, s: Statement) {
        self.flush();
        if let Some(b) = self.blocks.last_mut() {
            b.push(s, Span::UNDEFINED);
        }
    }

    fn open(&mut self) {
        self.flush();
        self.blocks.push(Block::new());
    }

    fn close(&mut self) -> Block {
        self.flush();
        self.blocks.pop().unwrap_or_default()
    }

    fn lit(&mut self, l: Literal) -> H {
        let key = match l {
            Literal::U32(v) => (0, v as u64),
            Literal::U64(v) => (1, v),
            Literal::Bool(v) => (2, v as u64),
            Literal::I32(v) => (3, v as u32 as u64),
            _ => return self.expr(Expression::Literal(l)),
        };
        if let Some(&h) = self.lits.get(&key) {
            return h;
        }
        let h = self.expr(Expression::Literal(l));
        self.lits.insert(key, h);
        h
    }
    fn u32(&mut self, v: u32) -> H {
        self.lit(Literal::U32(v))
    }
    fn u64(&mut self, v: u64) -> H {
        self.lit(Literal::U64(v))
    }
    fn bool(&mut self, v: bool) -> H {
        self.lit(Literal::Bool(v))
    }
    fn f32_bits(&mut self, bits: u32) -> H {
        let u = self.u32(bits);
        self.cast(u, ScalarKind::Float, 4)
    }
    fn f64_bits(&mut self, bits: u64) -> H {
        let u = self.u64(bits);
        self.cast(u, ScalarKind::Float, 8)
    }
    fn global(&mut self, g: Handle<GlobalVariable>) -> H {
        if let Some(&h) = self.gexprs.get(&g) {
            return h;
        }
        let h = self.expr(Expression::GlobalVariable(g));
        self.gexprs.insert(g, h);
        h
    }
    fn load(&mut self, pointer: H) -> H {
        self.expr(Expression::Load { pointer })
    }
    fn load_global(&mut self, g: Handle<GlobalVariable>) -> H {
        let p = self.global(g);
        self.load(p)
    }
    fn store(&mut self, pointer: H, value: H) {
        self.stmt(Statement::Store { pointer, value });
    }
    fn store_global(&mut self, g: Handle<GlobalVariable>, value: H) {
        let p = self.global(g);
        self.store(p, value);
    }
    fn bin(&mut self, op: Bo, left: H, right: H) -> H {
        self.expr(Expression::Binary { op, left, right })
    }
    fn un(&mut self, op: Uo, expr: H) -> H {
        self.expr(Expression::Unary { op, expr })
    }
    fn sel(&mut self, condition: H, accept: H, reject: H) -> H {
        self.expr(Expression::Select {
            condition,
            accept,
            reject,
        })
    }
    /// Bitcast to `kind` of the same width.
    fn cast(&mut self, expr: H, kind: ScalarKind, width: u8) -> H {
        let _ = width;
        self.expr(Expression::As {
            expr,
            kind,
            convert: None,
        })
    }
    /// Value conversion to `kind`/`width`.
    fn conv(&mut self, expr: H, kind: ScalarKind, width: u8) -> H {
        self.expr(Expression::As {
            expr,
            kind,
            convert: Some(width),
        })
    }
    fn math(&mut self, fun: Mf, arg: H) -> H {
        self.expr(Expression::Math {
            fun,
            arg,
            arg1: None,
            arg2: None,
            arg3: None,
        })
    }
    fn isnan(&mut self, argument: H) -> H {
        self.expr(Expression::Relational {
            fun: naga::RelationalFunction::IsNan,
            argument,
        })
    }
    fn arg(&mut self, i: u32) -> H {
        self.expr(Expression::FunctionArgument(i))
    }
    fn index(&mut self, g: Handle<GlobalVariable>, index: H) -> H {
        let base = self.global(g);
        self.expr(Expression::Access { base, index })
    }
    fn local(&mut self, name: String, ty: Handle<Type>, init: Option<H>) -> H {
        let lv = self.f.local_variables.append(
            LocalVariable {
                name: Some(name),
                ty,
                init,
            },
            Span::UNDEFINED,
        );
        self.expr(Expression::LocalVariable(lv))
    }
    fn ret(&mut self, value: Option<H>) {
        self.stmt(Statement::Return { value });
    }
    /// `body` in a construct that `Break` leaves and nothing loops: a switch
    /// with only a default case.
    fn breakable(&mut self, body: Block) {
        let selector = self.u32(0);
        self.stmt(Statement::Switch {
            selector,
            cases: vec![SwitchCase {
                value: SwitchValue::Default,
                body,
                fall_through: false,
            }],
        });
    }

    fn if_(&mut self, condition: H, accept: Block, reject: Block) {
        self.stmt(Statement::If {
            condition,
            accept,
            reject,
        });
    }
    fn call(
        &mut self,
        function: Handle<Function>,
        arguments: Vec<H>,
        has_result: bool,
    ) -> Option<H> {
        let result = if has_result {
            Some(self.special(Expression::CallResult(function)))
        } else {
            None
        };
        self.stmt(Statement::Call {
            function,
            arguments,
            result,
        });
        result
    }
    fn atomic(&mut self, pointer: H, fun: AtomicFunction, value: H) {
        self.stmt(Statement::Atomic {
            pointer,
            fun,
            value,
            result: None,
        });
    }
    fn ty_of(&self, t: Ty) -> Handle<Type> {
        match t {
            Ty::I32 => self.t.u32,
            Ty::I64 => self.t.u64,
            Ty::F32 => self.t.f32,
            Ty::F64 => self.t.f64,
        }
    }
    fn zero(&mut self, t: Ty) -> H {
        match t {
            Ty::I32 => self.u32(0),
            Ty::I64 => self.u64(0),
            Ty::F32 => self.lit(Literal::F32(0.0)),
            Ty::F64 => self.lit(Literal::F64(0.0)),
        }
    }
}

fn u32_arg(t: &Types, name: &str) -> FunctionArgument {
    FunctionArgument {
        name: Some(name.to_string()),
        ty: t.u32,
        binding: None,
    }
}

/// `trap(code)`: marks the invocation trapped and keeps its first code in
/// private memory (published once by the entry, see `publish_trap`). No
/// atomics here: llvmpipe runs the code of an `if` even when no lane takes
/// it, and per-lane atomic loops at every memory access cost more than the
/// access.
///
/// The caller does not return: a trapped invocation runs on with harmless
/// values (loads from address 0, no stores, divisor 1, conversion of 0.0)
/// until the next loop iteration check breaks out of every loop (`fuel` and
/// `sentinel` are set to 0 here: `fuel == 0` and `sentinel == 0` are the
/// loops' exits with and without fuel), so it soon reaches the end. (An exit
/// on `trap_code != 0` instead made the compute bench's loop 1.8x slower on
/// llvmpipe.) Operands made opaque with `!sentinel` are garbage after a
/// trap, which is fine: so is everything the invocation computes then. A `return` inside an `if` at every check
/// made Mesa nest all the code after it one level deeper (its lowering of
/// returns), and llvmpipe silently dropped the code past its nesting limit
/// (80): a kernel with 40 stores lost the 40th and the rest.
fn build_trap(sh_t: Types, g: Globals) -> Function {
    let mut fb = FB::new("trap", sh_t);
    fb.f.arguments.push(u32_arg(&sh_t, "code"));
    let code = fb.arg(0);
    let was = fb.load_global(g.trapped);
    let old = fb.load_global(g.trap_code);
    let keep = fb.sel(was, old, code);
    fb.store_global(g.trap_code, keep);
    let t = fb.bool(true);
    fb.store_global(g.trapped, t);
    let z = fb.u32(0);
    fb.store_global(g.fuel, z);
    fb.store_global(g.sentinel, z);
    fb.finish()
}

/// In the entry, after the kernel function returned: a trapped invocation
/// publishes its code. Control word 0 keeps the largest code
/// (deterministic, and the driver-limit code, the largest, wins, so such a
/// call is always retried elsewhere); word 1 the smallest trapping
/// iteration.
fn publish_trap(fb: &mut FB, g: Globals) {
    let code = fb.load_global(g.trap_code);
    let zero = fb.u32(0);
    let any = fb.bin(Bo::NotEqual, code, zero);
    fb.open();
    let one = fb.u32(1);
    let ctl0 = fb.index(g.control, zero);
    fb.atomic(ctl0, AtomicFunction::Max, code);
    let it = fb.load_global(g.iteration);
    let ctl1 = fb.index(g.control, one);
    fb.atomic(ctl1, AtomicFunction::Min, it);
    let accept = fb.close();
    fb.if_(any, accept, Block::new());
}

/// `Globals::zero` as a `u32`, or widened to `u64`.
fn run_time_zero(fb: &mut FB, g: Globals, wide: bool) -> H {
    let zero = fb.load_global(g.zero);
    if wide {
        fb.conv(zero, ScalarKind::Uint, 8)
    } else {
        zero
    }
}

/// Word index and bit shift of a byte address.
fn word_shift(fb: &mut FB, a: H) -> (H, H) {
    let two = fb.u32(2);
    let three = fb.u32(3);
    let w = fb.bin(Bo::ShiftRight, a, two);
    let low = fb.bin(Bo::And, a, three);
    let s = fb.bin(Bo::ShiftLeft, low, three);
    (w, s)
}

fn helper(name: &str, t: Types, nargs: usize, returns: bool) -> FB {
    let mut fb = FB::new(name, t);
    for (i, n) in ["addr", "value"].iter().take(nargs).enumerate() {
        let _ = i;
        fb.f.arguments.push(u32_arg(&t, n));
    }
    if returns {
        fb.f.result = Some(FunctionResult {
            ty: t.u32,
            binding: None,
        });
    }
    fb
}

fn build_ld(t: Types, g: Globals, bytes: u32) -> Function {
    let mut fb = helper(&format!("load{}", bytes * 8), t, 1, true);
    let a = fb.arg(0);
    let (w, s) = word_shift(&mut fb, a);
    let p = fb.index(g.arena, w);
    let lo = fb.load(p);
    let one = fb.u32(1);
    let c32 = fb.u32(32);
    match bytes {
        1 => {
            let v = fb.bin(Bo::ShiftRight, lo, s);
            let m = fb.u32(0xFF);
            let r = fb.bin(Bo::And, v, m);
            fb.ret(Some(r));
        }
        2 => {
            let c24 = fb.u32(24);
            let spans = fb.bin(Bo::Equal, s, c24);
            fb.open();
            let w1 = fb.bin(Bo::Add, w, one);
            let p1 = fb.index(g.arena, w1);
            let hi = fb.load(p1);
            let l = fb.bin(Bo::ShiftRight, lo, c24);
            let ff = fb.u32(0xFF);
            let h8 = fb.bin(Bo::And, hi, ff);
            let eight = fb.u32(8);
            let h = fb.bin(Bo::ShiftLeft, h8, eight);
            let r = fb.bin(Bo::InclusiveOr, l, h);
            fb.ret(Some(r));
            let accept = fb.close();
            fb.if_(spans, accept, Block::new());
            let v = fb.bin(Bo::ShiftRight, lo, s);
            let m = fb.u32(0xFFFF);
            let r = fb.bin(Bo::And, v, m);
            fb.ret(Some(r));
        }
        _ => {
            let zero = fb.u32(0);
            let aligned = fb.bin(Bo::Equal, s, zero);
            fb.open();
            fb.ret(Some(lo));
            let accept = fb.close();
            fb.if_(aligned, accept, Block::new());
            let w1 = fb.bin(Bo::Add, w, one);
            let p1 = fb.index(g.arena, w1);
            let hi = fb.load(p1);
            let l = fb.bin(Bo::ShiftRight, lo, s);
            let rs = fb.bin(Bo::Subtract, c32, s);
            let h = fb.bin(Bo::ShiftLeft, hi, rs);
            let r = fb.bin(Bo::InclusiveOr, l, h);
            fb.ret(Some(r));
        }
    }
    fb.finish()
}

/// Sets the bits `mask` of word `w` to `bits` (already shifted, within mask)
/// with two atomics, leaving the other bytes alone.
fn atomic_insert(fb: &mut FB, g: Globals, w: H, mask: H, bits: H) {
    let p = fb.index(g.arena_atomic, w);
    let nm = fb.un(Uo::BitwiseNot, mask);
    fb.atomic(p, AtomicFunction::And, nm);
    fb.atomic(p, AtomicFunction::InclusiveOr, bits);
}

fn build_st(t: Types, g: Globals, bytes: u32) -> Function {
    let mut fb = helper(&format!("store{}", bytes * 8), t, 2, false);
    let a = fb.arg(0);
    let v = fb.arg(1);
    let (w, s) = word_shift(&mut fb, a);
    let one = fb.u32(1);
    let c32 = fb.u32(32);
    match bytes {
        1 => {
            let ff = fb.u32(0xFF);
            let v8 = fb.bin(Bo::And, v, ff);
            let m = fb.bin(Bo::ShiftLeft, ff, s);
            let b = fb.bin(Bo::ShiftLeft, v8, s);
            atomic_insert(&mut fb, g, w, m, b);
        }
        2 => {
            let ffff = fb.u32(0xFFFF);
            let v16 = fb.bin(Bo::And, v, ffff);
            let c24 = fb.u32(24);
            let spans = fb.bin(Bo::Equal, s, c24);
            fb.open();
            let m0 = fb.u32(0xFF00_0000);
            let b0 = fb.bin(Bo::ShiftLeft, v16, c24);
            atomic_insert(&mut fb, g, w, m0, b0);
            let w1 = fb.bin(Bo::Add, w, one);
            let m1 = fb.u32(0xFF);
            let eight = fb.u32(8);
            let b1 = fb.bin(Bo::ShiftRight, v16, eight);
            atomic_insert(&mut fb, g, w1, m1, b1);
            fb.ret(None);
            let accept = fb.close();
            fb.if_(spans, accept, Block::new());
            let m = fb.bin(Bo::ShiftLeft, ffff, s);
            let b = fb.bin(Bo::ShiftLeft, v16, s);
            atomic_insert(&mut fb, g, w, m, b);
        }
        _ => {
            let zero = fb.u32(0);
            let aligned = fb.bin(Bo::Equal, s, zero);
            fb.open();
            let p = fb.index(g.arena, w);
            fb.store(p, v);
            fb.ret(None);
            let accept = fb.close();
            fb.if_(aligned, accept, Block::new());
            let all = fb.u32(u32::MAX);
            let m0 = fb.bin(Bo::ShiftLeft, all, s);
            let b0 = fb.bin(Bo::ShiftLeft, v, s);
            atomic_insert(&mut fb, g, w, m0, b0);
            let rs = fb.bin(Bo::Subtract, c32, s);
            let w1 = fb.bin(Bo::Add, w, one);
            let m1 = fb.bin(Bo::ShiftRight, all, rs);
            let b1 = fb.bin(Bo::ShiftRight, v, rs);
            atomic_insert(&mut fb, g, w1, m1, b1);
        }
    }
    fb.finish()
}

/// Builds the whole naga module.
pub(crate) fn build(
    km: &KernelModule<'_>,
    workgroup_size: u32,
    max_loop_depth: Option<u32>,
    fuel: bool,
    unroll: u32,
) -> Result<Built, Unsupported> {
    let mut module = Module::default();
    let u32_t = scalar_ty(&mut module, Scalar::U32);
    let t = Types {
        u32: u32_t,
        u64: scalar_ty(&mut module, Scalar::U64),
        f32: scalar_ty(&mut module, Scalar::F32),
        f64: scalar_ty(&mut module, Scalar::F64),
        bool: scalar_ty(&mut module, Scalar::BOOL),
        vec3u: module.types.insert(
            Type {
                name: None,
                inner: TypeInner::Vector {
                    size: naga::VectorSize::Tri,
                    scalar: Scalar::U32,
                },
            },
            Span::UNDEFINED,
        ),
    };
    let atomic_u32 = module.types.insert(
        Type {
            name: None,
            inner: TypeInner::Atomic(Scalar::U32),
        },
        Span::UNDEFINED,
    );
    let arr = |module: &mut Module, base| {
        module.types.insert(
            Type {
                name: None,
                inner: TypeInner::Array {
                    base,
                    size: ArraySize::Dynamic,
                    stride: 4,
                },
            },
            Span::UNDEFINED,
        )
    };
    let arr_u32 = arr(&mut module, u32_t);
    let flags_ty = module.types.insert(
        Type {
            name: None,
            inner: TypeInner::Array {
                base: u32_t,
                size: ArraySize::Constant(
                    std::num::NonZeroU32::new(workgroup_size.max(1)).expect("nonzero"),
                ),
                stride: 4,
            },
        },
        Span::UNDEFINED,
    );
    let arr_atomic = arr(&mut module, atomic_u32);
    let rw = AddressSpace::Storage {
        access: StorageAccess::LOAD | StorageAccess::STORE,
    };
    let ro = AddressSpace::Storage {
        access: StorageAccess::LOAD,
    };
    let ginit = |module: &mut Module, l: Literal| {
        Some(
            module
                .global_expressions
                .append(Expression::Literal(l), Span::UNDEFINED),
        )
    };
    let z = ginit(&mut module, Literal::U32(0));
    let f = ginit(&mut module, Literal::Bool(false));
    let g = Globals {
        arena: add_global(
            &mut module,
            "memory",
            rw,
            Some(BINDING_ARENA),
            arr_u32,
            None,
        ),
        arena_atomic: add_global(
            &mut module,
            "memory_atomic",
            rw,
            Some(BINDING_ARENA_ATOMIC),
            arr_atomic,
            None,
        ),
        params: add_global(
            &mut module,
            "params",
            ro,
            Some(BINDING_PARAMS),
            arr_u32,
            None,
        ),
        control: add_global(
            &mut module,
            "control",
            rw,
            Some(BINDING_CONTROL),
            arr_atomic,
            None,
        ),
        mem_size: add_global(
            &mut module,
            "mem_size",
            AddressSpace::Private,
            None,
            u32_t,
            z,
        ),
        fuel: add_global(&mut module, "fuel", AddressSpace::Private, None, u32_t, z),
        trapped: add_global(
            &mut module,
            "trapped",
            AddressSpace::Private,
            None,
            t.bool,
            f,
        ),
        trap_code: add_global(
            &mut module,
            "trap_code",
            AddressSpace::Private,
            None,
            u32_t,
            z,
        ),
        iteration: add_global(
            &mut module,
            "iteration",
            AddressSpace::Private,
            None,
            u32_t,
            z,
        ),
        sentinel: add_global(
            &mut module,
            "sentinel",
            AddressSpace::Private,
            None,
            u32_t,
            z,
        ),
        zero: add_global(&mut module, "zero", AddressSpace::Private, None, u32_t, z),
        loop_flags: add_global(
            &mut module,
            "loop_flags",
            AddressSpace::WorkGroup,
            None,
            flags_ty,
            None,
        ),
        lane: add_global(&mut module, "lane", AddressSpace::Private, None, u32_t, z),
    };
    let mut wasm_globals = Vec::new();
    for (i, gl) in km.globals.iter().enumerate() {
        let (ty, l) = if gl.ty.is_64() {
            (t.u64, Literal::U64(gl.init_bits))
        } else {
            (t.u32, Literal::U32(gl.init_bits as u32))
        };
        let init = ginit(&mut module, l);
        let h = add_global(
            &mut module,
            &format!("global{i}"),
            AddressSpace::Private,
            None,
            ty,
            init,
        );
        wasm_globals.push((h, gl.ty));
    }

    let trap_fn = build_trap(t, g);
    let add_fn = |module: &mut Module, f: Function| module.functions.append(f, Span::UNDEFINED);
    let h = Helpers {
        trap: add_fn(&mut module, trap_fn),
        ld8: add_fn(&mut module, build_ld(t, g, 1)),
        ld16: add_fn(&mut module, build_ld(t, g, 2)),
        ld32: add_fn(&mut module, build_ld(t, g, 4)),
        st8: add_fn(&mut module, build_st(t, g, 1)),
        st16: add_fn(&mut module, build_st(t, g, 2)),
        st32: add_fn(&mut module, build_st(t, g, 4)),
    };
    let mut sh = Shared {
        t,
        g,
        h,
        wasm_globals,
        fn_map: vec![None; km.funcs.len()],
        fn_loop_depth: vec![0; km.funcs.len()],
        region_size: km.region_size,
        fuel,
        unroll: unroll.clamp(1, MAX_UNROLL),
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
        let tr = loop {
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
        let f = tr.fb.finish();
        let handle = module.functions.append(f, Span::UNDEFINED);
        sh.fn_map[fi as usize] = Some(handle);
        sh.fn_loop_depth[fi as usize] = depth;
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
    let entry = build_entry(&sh, kernel, km.num_buffers, workgroup_size);
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

fn build_entry(
    sh: &Shared,
    kernel: Handle<Function>,
    num_buffers: usize,
    workgroup_size: u32,
) -> Function {
    let t = sh.t;
    let g = sh.g;
    let mut fb = FB::new(ENTRY_POINT, t);
    for (name, b) in [
        ("gid", BuiltIn::GlobalInvocationId),
        ("num_groups", BuiltIn::NumWorkGroups),
    ] {
        fb.f.arguments.push(FunctionArgument {
            name: Some(name.to_string()),
            ty: t.vec3u,
            binding: Some(Binding::BuiltIn(b)),
        });
    }
    fb.f.arguments.push(FunctionArgument {
        name: Some("lane".to_string()),
        ty: t.u32,
        binding: Some(Binding::BuiltIn(BuiltIn::LocalInvocationIndex)),
    });
    let gid = fb.arg(0);
    let nwg = fb.arg(1);
    let x = fb.expr(Expression::AccessIndex {
        base: gid,
        index: 0,
    });
    let y = fb.expr(Expression::AccessIndex {
        base: gid,
        index: 1,
    });
    let nx = fb.expr(Expression::AccessIndex {
        base: nwg,
        index: 0,
    });
    let wg = fb.u32(workgroup_size);
    let row = fb.bin(Bo::Multiply, nx, wg);
    let yr = fb.bin(Bo::Multiply, y, row);
    let linear = fb.bin(Bo::Add, x, yr);
    let param = |fb: &mut FB, i: usize| {
        let idx = fb.u32(i as u32);
        let p = fb.index(g.params, idx);
        fb.load(p)
    };
    let n = param(&mut fb, param::NUM_ITERATIONS);
    let base = param(&mut fb, param::ITERATION_BASE);
    let left = fb.bin(Bo::Subtract, n, base);
    let past = fb.bin(Bo::GreaterEqual, linear, left);
    fb.open();
    fb.ret(None);
    let accept = fb.close();
    fb.if_(past, accept, Block::new());
    let iter = fb.bin(Bo::Add, base, linear);
    fb.store_global(g.iteration, iter);
    let ms = param(&mut fb, param::MEMORY_SIZE);
    fb.store_global(g.mem_size, ms);
    let fuel = param(&mut fb, param::FUEL);
    fb.store_global(g.fuel, fuel);
    let zero_word = param(&mut fb, param::ZERO);
    let sentinel = fb.un(Uo::BitwiseNot, zero_word);
    fb.store_global(g.sentinel, sentinel);
    fb.store_global(g.zero, zero_word);
    let lane = fb.arg(2);
    fb.store_global(g.lane, lane);
    let lane = fb.load_global(g.lane);
    let slot = fb.index(g.loop_flags, lane);
    let z = fb.u32(0);
    fb.store(slot, z);
    let block = param(&mut fb, param::BLOCK_SIZE);
    let mut args = vec![iter, n, block];
    for i in 0..2 * num_buffers {
        args.push(param(&mut fb, param::PAIRS + i));
    }
    fb.call(kernel, args, false);
    publish_trap(&mut fb, g);
    fb.finish()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Func,
    Block,
    Loop,
    If,
}

struct Frame {
    kind: Kind,
    materialized: bool,
    results: Vec<Ty>,
    result_vars: Vec<H>,
    height: usize,
    cond: Option<H>,
    then_block: Option<Block>,
    else_seen: bool,
    then_end_reachable: bool,
    needs_check: bool,
    branched_to: bool,
    /// Loops only: set when the body falls through (see `open_frame`).
    fell: Option<H>,
    /// Unrolled loops, while translating a copy of the body other than the
    /// last (see `open_frame`).
    copy: Option<Copy>,
}

/// State of an unrolled loop between its copies.
struct Copy {
    /// Copies still to translate after this one.
    remaining: u32,
    /// First operator of the body, and the construct counter there.
    start_pc: usize,
    start_construct: usize,
    /// Local `bool`: the body fell through its end (the wasm loop is over).
    exit: H,
}

/// Translations of one function while refining which locals are aligned.
const MAX_ALIGNMENT_PASSES: u32 = 4;

/// Most copies of an unrolled loop body.
pub(crate) const MAX_UNROLL: u32 = 8;
/// Innermost loops with at most this many operators are unrolled.
const UNROLL_MAX_OPS: usize = 160;

const NONE: u32 = u32::MAX;

struct FnTranslator<'s, 'a> {
    sh: &'s Shared,
    km: &'s KernelModule<'a>,
    func: u32,
    fb: FB,
    stack: Vec<(H, Ty)>,
    ctrl: Vec<Frame>,
    locals: Vec<(H, Ty)>,
    pending: H,
    result: Option<Ty>,
    unreachable: bool,
    skip: u32,
    construct: usize,
    targeted: Vec<bool>,
    uses_i64: bool,
    uses_f64: bool,
    loop_depth: u32,
    max_loop_depth: u32,
    /// The function's operators and the index of the next one.
    ops: Vec<Operator<'a>>,
    pc: usize,
    /// Per construct: a loop small and innermost enough to unroll.
    unrollable: Vec<bool>,
    /// `i32` expressions known to be multiples of 4 (addresses whose loads
    /// and stores need no unaligned path), and known `i32` constants.
    aligned: HashSet<H>,
    consts: HashMap<H, u32>,
    /// Per local: assumed to hold only multiples of 4 (see `build`).
    local_aligned: Vec<bool>,
    /// Locals assumed aligned that were given other values.
    violations: Vec<u32>,
}

fn unsupported_op(op: &Operator<'_>) -> Unsupported {
    let name = format!("{op:?}");
    let name = name
        .split([' ', '{', '('])
        .next()
        .unwrap_or("?")
        .to_string();
    Unsupported::new(format!("the instruction {name} is not supported"))
}

fn wasm_err(e: wasmparser::BinaryReaderError) -> Unsupported {
    Unsupported::new(format!("invalid kernel module: {e}"))
}

impl<'s, 'a> FnTranslator<'s, 'a> {
    fn new(
        sh: &'s Shared,
        km: &'s KernelModule<'a>,
        func: u32,
        unaligned: &HashSet<u32>,
    ) -> Result<Self, Unsupported> {
        let wf = &km.funcs[func as usize];
        let mut fb = FB::new(&format!("f{func}"), sh.t);
        for (i, &p) in wf.params.iter().enumerate() {
            let ty = fb.ty_of(p);
            fb.f.arguments.push(FunctionArgument {
                name: Some(format!("p{i}")),
                ty,
                binding: None,
            });
        }
        if let Some(r) = wf.result {
            let ty = fb.ty_of(r);
            fb.f.result = Some(FunctionResult { ty, binding: None });
        }
        let mut locals = Vec::new();
        for (i, &p) in wf.params.iter().enumerate() {
            let ty = fb.ty_of(p);
            let ptr = fb.local(format!("l{i}"), ty, None);
            let a = fb.arg(i as u32);
            fb.store(ptr, a);
            locals.push((ptr, p));
        }
        let mut reader = wf.body.get_locals_reader().map_err(wasm_err)?;
        for _ in 0..reader.get_count() {
            let (count, vt) = reader.read().map_err(wasm_err)?;
            let ty = Ty::from_val(vt)?;
            if count > 50_000 {
                return Err(Unsupported::new("too many locals"));
            }
            for _ in 0..count {
                let nty = fb.ty_of(ty);
                let z = fb.zero(ty);
                let ptr = fb.local(format!("l{}", locals.len()), nty, Some(z));
                if matches!(ty, Ty::F32 | Ty::F64) {
                    // An opaque 0.0 (see `Globals::zero`).
                    let bits = run_time_zero(&mut fb, sh.g, ty.is_64());
                    let width = if ty == Ty::F64 { 8 } else { 4 };
                    let v = fb.cast(bits, ScalarKind::Float, width);
                    fb.store(ptr, v);
                }
                locals.push((ptr, ty));
            }
        }
        let none = fb.u32(NONE);
        let u32t = sh.t.u32;
        let pending = fb.local("pending".into(), u32t, Some(none));
        let mut reader = wf.body.get_operators_reader().map_err(wasm_err)?;
        let mut ops = Vec::new();
        while !reader.eof() {
            ops.push(reader.read().map_err(wasm_err)?);
        }
        let (targeted, unrollable) = prescan(&ops)?;
        // Declared locals start at 0; of the parameters only the kernel's
        // buffer pointers are known aligned (ABI: at least 16 bytes).
        let nparams = wf.params.len();
        let local_aligned = (0..locals.len())
            .map(|i| {
                let known = if i < nparams {
                    func == km.kernel && i >= 3 && (i - 3) % 2 == 0
                } else {
                    locals[i].1 == Ty::I32
                };
                known && !unaligned.contains(&(i as u32))
            })
            .collect();
        Ok(FnTranslator {
            sh,
            km,
            func,
            fb,
            stack: Vec::new(),
            ctrl: Vec::new(),
            locals,
            pending,
            result: wf.result,
            unreachable: false,
            skip: 0,
            construct: 0,
            targeted,
            uses_i64: false,
            uses_f64: false,
            loop_depth: 0,
            max_loop_depth: 0,
            ops,
            pc: 0,
            unrollable,
            aligned: HashSet::new(),
            consts: HashMap::new(),
            local_aligned,
            violations: Vec::new(),
        })
    }

    /// A local assumed aligned that gets a value not known aligned is a
    /// violation: `build` translates the function again without the
    /// assumption.
    fn note_local_value(&mut self, local: u32, v: H) {
        let i = local as usize;
        if self.local_aligned.get(i).copied().unwrap_or(false) && !self.aligned.contains(&v) {
            self.local_aligned[i] = false;
            self.violations.push(local);
        }
    }

    fn is_aligned(&self, h: H) -> bool {
        self.aligned.contains(&h)
    }

    /// Records what is known about the `i32` result of `op` (on top of the
    /// stack now), given the handles of its operands `a`, `b` (the top two
    /// before it ran).
    fn track_alignment(&mut self, op: &Operator<'_>, a: Option<H>, b: Option<H>) {
        let Some(&(r, t)) = self.stack.last() else {
            return;
        };
        if t != Ty::I32 {
            return;
        }
        let al = |h: Option<H>| h.is_some_and(|h| self.aligned.contains(&h));
        let yes = match *op {
            Operator::I32Const { value } => {
                self.consts.insert(r, value as u32);
                value % 4 == 0
            }
            Operator::LocalGet { local_index } | Operator::LocalTee { local_index } => {
                self.local_aligned
                    .get(local_index as usize)
                    .copied()
                    .unwrap_or(false)
                    || (matches!(op, Operator::LocalTee { .. }) && self.aligned.contains(&r))
            }
            Operator::I32Add | Operator::I32Sub | Operator::I32Or => al(a) && al(b),
            Operator::I32Mul | Operator::I32And => al(a) || al(b),
            Operator::I32Shl => {
                al(a)
                    || b.and_then(|b| self.consts.get(&b))
                        .is_some_and(|k| k & 31 >= 2)
            }
            _ => false,
        };
        if yes {
            self.aligned.insert(r);
        }
    }

    fn push(&mut self, h: H, t: Ty) {
        self.uses_i64 |= t == Ty::I64;
        self.uses_f64 |= t == Ty::F64;
        self.stack.push((h, t));
    }
    fn pop(&mut self) -> Result<H, Unsupported> {
        self.stack
            .pop()
            .map(|(h, _)| h)
            .ok_or_else(|| Unsupported::new("internal: value stack underflow"))
    }

    fn block_results(&self, bt: BlockType) -> Result<Vec<Ty>, Unsupported> {
        match bt {
            BlockType::Empty => Ok(vec![]),
            BlockType::Type(v) => Ok(vec![Ty::from_val(v)?]),
            BlockType::FuncType(i) => {
                let ft = &self.km.types[i as usize];
                if !ft.params().is_empty() {
                    return Err(Unsupported::new("blocks with parameters are not supported"));
                }
                ft.results().iter().map(|&v| Ty::from_val(v)).collect()
            }
        }
    }

    /// Index of the innermost materialized construct.
    fn innermost_materialized(&self) -> Option<usize> {
        self.ctrl.iter().rposition(|f| f.materialized)
    }

    fn zero_result(&mut self) -> Option<H> {
        let r = self.result;
        r.map(|t| self.fb.zero(t))
    }

    /// Returns from the function with a dummy value (after a trap).
    fn bail(&mut self) {
        let z = self.zero_result();
        self.fb.ret(z);
    }

    /// `if cond { trap(code) }`; the caller makes its operation harmless
    /// for `cond` (see `build_trap`: no `return`).
    fn trap_if(&mut self, cond: H, code: u32) {
        self.fb.open();
        let c = self.fb.u32(code);
        self.fb.call(self.sh.h.trap, vec![c], false);
        let accept = self.fb.close();
        self.fb.if_(cond, accept, Block::new());
    }

    fn trap_now(&mut self, code: u32) {
        let c = self.fb.u32(code);
        self.fb.call(self.sh.h.trap, vec![c], false);
        self.bail();
        self.unreachable = true;
    }

    fn run(&mut self) -> Result<(), Unsupported> {
        let wf = &self.km.funcs[self.func as usize];
        self.ctrl.push(Frame {
            kind: Kind::Func,
            materialized: false,
            results: wf.result.into_iter().collect(),
            result_vars: vec![],
            height: 0,
            cond: None,
            then_block: None,
            else_seen: false,
            then_end_reachable: false,
            needs_check: false,
            branched_to: false,
            fell: None,
            copy: None,
        });
        self.pc = 0;
        while self.pc < self.ops.len() {
            let op = self.ops[self.pc].clone();
            self.pc += 1;
            if self.unreachable {
                match op {
                    Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                        self.skip += 1;
                        self.construct += 1;
                    }
                    Operator::Else if self.skip == 0 => self.op_else()?,
                    Operator::End if self.skip == 0 => self.op_end()?,
                    Operator::End => self.skip -= 1,
                    _ => {}
                }
                continue;
            }
            self.op(op)?;
        }
        if !self.ctrl.is_empty() {
            return Err(Unsupported::new("internal: unbalanced control stack"));
        }
        Ok(())
    }

    fn open_frame(&mut self, kind: Kind, bt: BlockType) -> Result<(), Unsupported> {
        let results = self.block_results(bt)?;
        let construct = self.construct;
        let materialized = self.targeted.get(construct).copied().unwrap_or(true);
        self.construct += 1;
        let mut cond = None;
        if kind == Kind::If {
            let c = self.pop()?;
            let z = self.fb.u32(0);
            cond = Some(self.fb.bin(Bo::NotEqual, c, z));
        }
        let mut result_vars = Vec::new();
        if materialized || kind == Kind::If {
            for (i, &r) in results.iter().enumerate() {
                let ty = self.fb.ty_of(r);
                let z = self.fb.zero(r);
                result_vars.push(
                    self.fb
                        .local(format!("r{}_{i}", self.construct), ty, Some(z)),
                );
            }
        }
        let mut fell = None;
        if kind == Kind::Loop && materialized {
            // `fell` tells a normal exit (falling through the end of the
            // body) from a driver cutting the loop short: llvmpipe
            // (lavapipe) leaves every loop of an invocation once 65535 loop
            // iterations ran in total, silently. Branches out of the loop
            // set `pending` instead.
            let var = self.flag_slot();
            let z = self.fb.u32(0);
            self.fb.store(var, z);
            fell = Some(var);
        }
        // Unrolling: a small innermost loop runs `unroll` copies of its body
        // per iteration of the naga loop, so llvmpipe's limiter (one count
        // per back-edge) allows that many times more wasm iterations and
        // every driver pays its per-iteration overhead less often. Copies
        // but the last sit in a one-case switch: `br` to the loop leaves
        // the switch into the next copy, falling through the body's end
        // sets `exit`, checked after the switch (see `end_copy`).
        let mut copy = None;
        let unroll = kind == Kind::Loop
            && materialized
            && self.sh.unroll > 1
            && self.unrollable.get(construct).copied().unwrap_or(false);
        if unroll {
            let bool_t = self.sh.t.bool;
            let f = self.fb.bool(false);
            let exit = self.fb.local(format!("exit{construct}"), bool_t, Some(f));
            // Reset on every entry into the loop.
            let f = self.fb.bool(false);
            self.fb.store(exit, f);
            copy = Some(Copy {
                remaining: self.sh.unroll - 1,
                start_pc: self.pc,
                start_construct: self.construct,
                exit,
            });
        }
        if materialized {
            self.fb.open();
        }
        if kind == Kind::If {
            self.fb.open();
        }
        if kind == Kind::Loop && materialized {
            self.loop_depth += 1;
            self.max_loop_depth = self.max_loop_depth.max(self.loop_depth);
            self.loop_entry_check();
            if unroll {
                self.fb.open();
            }
        }
        self.ctrl.push(Frame {
            kind,
            materialized,
            results,
            result_vars,
            height: self.stack.len(),
            cond,
            then_block: None,
            else_seen: false,
            then_end_reachable: false,
            needs_check: false,
            branched_to: false,
            fell,
            copy,
        });
        Ok(())
    }

    /// At the top of every iteration of a wasm loop body (every copy when
    /// unrolled): the exit on fuel running out, or the opaque never-taken one.
    fn loop_entry_check(&mut self) {
        // Every loop gets an exit the compiler cannot rule out (so the
        // loop has an exit edge even when the wasm loop has none, as in
        // `(loop $l (br $l))`: without one the code after the loop is
        // unreachable, the driver drops it, and a loop cut by llvmpipe's
        // limiter would end the kernel silently). With fuel it is
        // `fuel == 0`, one unit per iteration of the body; without, the
        // opaque `sentinel == 0`. A trap sets both to 0, so either way a
        // trapped invocation leaves every loop it is in. The exit only
        // breaks: the check after the loop tells fuel exhaustion (FUEL)
        // from a driver cut. A trap call inside the loop body made
        // llvmpipe's code 3x slower.
        let z = self.fb.u32(0);
        if self.sh.fuel {
            let fuel = self.fb.load_global(self.sh.g.fuel);
            let out = self.fb.bin(Bo::Equal, fuel, z);
            self.fb.open();
            self.fb.stmt(Statement::Break);
            let accept = self.fb.close();
            self.fb.if_(out, accept, Block::new());
            let one = self.fb.u32(1);
            let less = self.fb.bin(Bo::Subtract, fuel, one);
            self.fb.store_global(self.sh.g.fuel, less);
        } else {
            let sentinel = self.fb.load_global(self.sh.g.sentinel);
            let trapped = self.fb.bin(Bo::Equal, sentinel, z);
            self.fb.open();
            self.fb.stmt(Statement::Break);
            let accept = self.fb.close();
            self.fb.if_(trapped, accept, Block::new());
        }
    }

    /// Pops the frame's results off the stack into its result variables.
    fn store_results(&mut self, idx: usize) -> Result<(), Unsupported> {
        let n = self.ctrl[idx].result_vars.len();
        for i in (0..n).rev() {
            let v = self.pop()?;
            let p = self.ctrl[idx].result_vars[i];
            self.fb.store(p, v);
        }
        Ok(())
    }

    /// Stores the top values (without popping) into the result variables of
    /// frame `t` (a branch to it).
    fn store_branch_values(&mut self, t: usize) -> Result<(), Unsupported> {
        let n = self.ctrl[t].result_vars.len();
        if self.stack.len() < n {
            return Err(Unsupported::new(
                "internal: value stack underflow at branch",
            ));
        }
        let base = self.stack.len() - n;
        for i in 0..n {
            let v = self.stack[base + i].0;
            let p = self.ctrl[t].result_vars[i];
            self.fb.store(p, v);
        }
        Ok(())
    }

    fn op_else(&mut self) -> Result<(), Unsupported> {
        let idx = self.ctrl.len() - 1;
        if !self.unreachable {
            self.store_results(idx)?;
        }
        let height = self.ctrl[idx].height;
        self.stack.truncate(height);
        let then_block = self.fb.close();
        let f = &mut self.ctrl[idx];
        f.then_block = Some(then_block);
        f.else_seen = true;
        f.then_end_reachable = !self.unreachable;
        self.fb.open();
        self.unreachable = false;
        Ok(())
    }

    fn op_end(&mut self) -> Result<(), Unsupported> {
        let idx = self.ctrl.len() - 1;
        let reachable = !self.unreachable;
        let kind = self.ctrl[idx].kind;
        if kind == Kind::Func {
            if reachable {
                let v = match self.result {
                    Some(_) => Some(self.pop()?),
                    None => None,
                };
                self.fb.ret(v);
            }
            self.ctrl.pop();
            self.unreachable = true;
            return Ok(());
        }
        if self.ctrl[idx].copy.is_some() {
            return self.end_copy(idx);
        }
        let materialized = self.ctrl[idx].materialized;
        if !materialized && kind != Kind::If {
            // Inline block/loop: results stay on the stack.
            self.ctrl.pop();
            self.unreachable = !reachable;
            return Ok(());
        }
        let reachable_after;
        if kind == Kind::If {
            if reachable {
                self.store_results(idx)?;
            }
            let cur = self.fb.close();
            let f = &mut self.ctrl[idx];
            let (accept, reject, then_r, else_r) = if f.else_seen {
                (
                    f.then_block.take().unwrap_or_default(),
                    cur,
                    f.then_end_reachable,
                    reachable,
                )
            } else {
                (cur, Block::new(), reachable, true)
            };
            let cond = f
                .cond
                .ok_or_else(|| Unsupported::new("internal: if without condition"))?;
            self.fb.if_(cond, accept, reject);
            if materialized {
                self.fb.stmt(Statement::Break);
            }
            reachable_after = then_r || else_r || self.ctrl[idx].branched_to;
        } else {
            if reachable {
                self.store_results(idx)?;
                if self.ctrl[idx].fell.is_some() {
                    let slot = self.flag_slot();
                    let one = self.fb.u32(1);
                    self.fb.store(slot, one);
                }
                self.fb.stmt(Statement::Break);
            }
            reachable_after = reachable || (kind == Kind::Block && self.ctrl[idx].branched_to);
        }
        if materialized {
            let body = self.fb.close();
            if kind == Kind::Loop {
                self.fb.stmt(Statement::Loop {
                    body,
                    continuing: Block::new(),
                    break_if: None,
                });
            } else {
                // A block (or an `if`) that branches target. Not a loop:
                // llvmpipe's limiter counts every pass through a loop,
                // and SIMD loops cost mask bookkeeping on every driver.
                self.fb.breakable(body);
            }
        }
        if self.ctrl[idx].fell.is_some() {
            self.loop_depth -= 1;
        }
        if self.ctrl[idx].fell.is_some() {
            // Left the loop without falling through and without a pending
            // branch: the driver cut it short. The flag goes back to 0 at
            // once, so a 1 is only ever seen by the check of the loop that
            // wrote it (an enclosing loop cut right after an inner loop
            // ended normally must not see the inner loop's 1).
            let slot = self.flag_slot();
            let f = self.fb.load(slot);
            let z = self.fb.u32(0);
            self.fb.store(slot, z);
            let nf = self.fb.bin(Bo::Equal, f, z);
            let p = self.fb.load(self.pending);
            let none = self.fb.u32(NONE);
            let np = self.fb.bin(Bo::Equal, p, none);
            // An invocation that already trapped (fuel, a bad access) left
            // the loop by its own break: that is not a cut, and the larger
            // DRIVER_LOOP_LIMIT code must not replace its trap code.
            let tr = self.fb.load_global(self.sh.g.trapped);
            let no = self.fb.bool(false);
            let live = self.fb.bin(Bo::Equal, tr, no);
            let unexplained = self.fb.bin(Bo::LogicalAnd, nf, np);
            let cut = self.fb.bin(Bo::LogicalAnd, unexplained, live);
            if self.sh.fuel {
                // Out of fuel: the fuel exit above. A driver cut happens at a
                // back-edge, so with no fuel left the next iteration would
                // have run out too: FUEL either way.
                let fuel = self.fb.load_global(self.sh.g.fuel);
                let z = self.fb.u32(0);
                let empty = self.fb.bin(Bo::Equal, fuel, z);
                let fuel_code = self.fb.u32(trap::FUEL);
                let cut_code = self.fb.u32(trap::DRIVER_LOOP_LIMIT);
                let code = self.fb.sel(empty, fuel_code, cut_code);
                self.fb.open();
                self.fb.call(self.sh.h.trap, vec![code], false);
                let accept = self.fb.close();
                self.fb.if_(cut, accept, Block::new());
            } else {
                self.trap_if(cut, trap::DRIVER_LOOP_LIMIT);
            }
        }
        let frame = self
            .ctrl
            .pop()
            .ok_or_else(|| Unsupported::new("internal: control underflow"))?;
        self.stack.truncate(frame.height);
        if frame.needs_check {
            self.post_check(idx, kind);
        }
        for (i, &p) in frame.result_vars.iter().enumerate() {
            let v = self.fb.load(p);
            self.push(v, frame.results[i]);
        }
        self.unreachable = !reachable_after;
        Ok(())
    }

    /// The `end` of a copy of an unrolled loop body other than the last:
    /// closes the copy's switch, handles how it was left, and starts the
    /// next copy at the body's first operator.
    fn end_copy(&mut self, idx: usize) -> Result<(), Unsupported> {
        let exit = match &self.ctrl[idx].copy {
            Some(c) => c.exit,
            None => return Err(Unsupported::new("internal: end_copy outside a copy")),
        };
        if !self.unreachable {
            // Fell through the body: the wasm loop is over.
            self.store_results(idx)?;
            let t = self.fb.bool(true);
            self.fb.store(exit, t);
            self.fb.stmt(Statement::Break);
        }
        let body = self.fb.close();
        self.fb.breakable(body);
        // `if exit { loop ended normally; break }`
        let e = self.fb.load(exit);
        self.fb.open();
        let slot = self.flag_slot();
        let one = self.fb.u32(1);
        self.fb.store(slot, one);
        self.fb.stmt(Statement::Break);
        let accept = self.fb.close();
        self.fb.if_(e, accept, Block::new());
        // `if pending != NONE { break }`: a branch further out (one to
        // this loop was cleared inside the copy).
        let p = self.fb.load(self.pending);
        let none = self.fb.u32(NONE);
        let some = self.fb.bin(Bo::NotEqual, p, none);
        self.fb.open();
        self.fb.stmt(Statement::Break);
        let accept = self.fb.close();
        self.fb.if_(some, accept, Block::new());
        // The next copy: the next wasm iteration.
        let height = self.ctrl[idx].height;
        self.stack.truncate(height);
        self.unreachable = false;
        if self.sh.fuel {
            self.loop_entry_check();
        }
        let c = self.ctrl[idx]
            .copy
            .as_mut()
            .ok_or_else(|| Unsupported::new("internal: end_copy outside a copy"))?;
        c.remaining -= 1;
        self.pc = c.start_pc;
        self.construct = c.start_construct;
        if c.remaining > 0 {
            self.fb.open();
        } else {
            // The last copy is the plain loop body.
            self.ctrl[idx].copy = None;
        }
        Ok(())
    }

    /// Pointer to this invocation's "loop ended normally" word.
    fn flag_slot(&mut self) -> H {
        let lane = self.fb.load_global(self.sh.g.lane);
        self.fb.index(self.sh.g.loop_flags, lane)
    }

    /// After a materialized construct `idx` (already popped) that a pending
    /// branch may have left.
    fn post_check(&mut self, idx: usize, kind: Kind) {
        let none = self.fb.u32(NONE);
        if kind != Kind::Loop {
            let p = self.fb.load(self.pending);
            let me = self.fb.u32(idx as u32);
            let arrived = self.fb.bin(Bo::Equal, p, me);
            self.fb.open();
            self.fb.store(self.pending, none);
            let accept = self.fb.close();
            self.fb.if_(arrived, accept, Block::new());
        }
        self.propagate();
    }

    /// `if pending != NONE { continue or break toward it }` at the current
    /// position, inside the innermost materialized construct.
    fn propagate(&mut self) {
        let Some(em) = self.innermost_materialized() else {
            return;
        };
        let none = self.fb.u32(NONE);
        let p = self.fb.load(self.pending);
        let some = self.fb.bin(Bo::NotEqual, p, none);
        self.fb.open();
        if self.ctrl[em].copy.is_some() {
            // A copy of an unrolled body: arriving at the loop means the
            // next copy; either way leave the copy's switch (`end_copy`
            // checks for branches further out).
            let me = self.fb.u32(em as u32);
            let here = self.fb.bin(Bo::Equal, p, me);
            self.fb.open();
            self.fb.store(self.pending, none);
            let accept = self.fb.close();
            self.fb.if_(here, accept, Block::new());
            self.fb.stmt(Statement::Break);
        } else if self.ctrl[em].kind == Kind::Loop {
            let me = self.fb.u32(em as u32);
            let here = self.fb.bin(Bo::Equal, p, me);
            self.fb.open();
            self.fb.store(self.pending, none);
            self.fb.stmt(Statement::Continue);
            let accept = self.fb.close();
            self.fb.open();
            self.fb.stmt(Statement::Break);
            let reject = self.fb.close();
            self.fb.if_(here, accept, reject);
        } else {
            self.fb.stmt(Statement::Break);
        }
        let accept = self.fb.close();
        self.fb.if_(some, accept, Block::new());
    }

    /// Marks the constructs a pending branch to `t` crosses.
    fn mark_pending(&mut self, t: usize, em: usize) {
        let from = if self.ctrl[t].kind == Kind::Loop {
            t + 1
        } else {
            t
        };
        for f in &mut self.ctrl[from..=em] {
            if f.materialized {
                f.needs_check = true;
            }
        }
    }

    /// The code of `br` to frame `t` at the current position.
    fn branch(&mut self, t: usize) -> Result<(), Unsupported> {
        if self.ctrl[t].kind == Kind::Func {
            let v = match self.result {
                Some(_) => Some(
                    self.stack
                        .last()
                        .ok_or_else(|| Unsupported::new("internal: stack underflow at return"))?
                        .0,
                ),
                None => None,
            };
            self.fb.ret(v);
            return Ok(());
        }
        if self.ctrl[t].kind != Kind::Loop {
            self.store_branch_values(t)?;
        }
        self.ctrl[t].branched_to = true;
        let em = self
            .innermost_materialized()
            .ok_or_else(|| Unsupported::new("internal: branch target not materialized"))?;
        if t == em {
            // In a copy of an unrolled body, `br` to the loop leaves the
            // copy's switch into the next copy.
            self.fb.stmt(
                if self.ctrl[t].kind == Kind::Loop && self.ctrl[t].copy.is_none() {
                    Statement::Continue
                } else {
                    Statement::Break
                },
            );
        } else {
            let tv = self.fb.u32(t as u32);
            self.fb.store(self.pending, tv);
            self.mark_pending(t, em);
            self.fb.stmt(Statement::Break);
        }
        Ok(())
    }

    fn target(&self, depth: u32) -> Result<usize, Unsupported> {
        (self.ctrl.len() - 1)
            .checked_sub(depth as usize)
            .ok_or_else(|| Unsupported::new("internal: branch depth out of range"))
    }

    fn br_table(&mut self, targets: &wasmparser::BrTable<'_>) -> Result<(), Unsupported> {
        let idx = self.pop()?;
        let default = self.target(targets.default())?;
        let mut entries = Vec::new();
        for t in targets.targets() {
            entries.push(self.target(t.map_err(wasm_err)?)?);
        }
        if entries.iter().all(|&t| t == default) {
            self.branch(default)?;
            self.unreachable = true;
            return Ok(());
        }
        // Groups of case values per target, in first-appearance order.
        let mut groups: Vec<(usize, Vec<u32>)> = Vec::new();
        for (i, &t) in entries.iter().enumerate() {
            if t == default {
                continue;
            }
            match groups.iter_mut().find(|g| g.0 == t) {
                Some(g) => g.1.push(i as u32),
                None => groups.push((t, vec![i as u32])),
            }
        }
        let em = self.innermost_materialized();
        let mut cases = Vec::new();
        let default_values: Vec<u32> = entries
            .iter()
            .enumerate()
            .filter(|(_, &t)| t == default)
            .map(|(i, _)| i as u32)
            .collect();
        groups.push((default, default_values));
        let ngroups = groups.len();
        for (gi, (t, values)) in groups.into_iter().enumerate() {
            let is_default = gi + 1 == ngroups;
            let nvals = values.len();
            for (vi, v) in values.into_iter().enumerate() {
                let last = !is_default && vi + 1 == nvals;
                if last {
                    break;
                }
                cases.push(SwitchCase {
                    value: SwitchValue::U32(v),
                    body: Block::new(),
                    fall_through: true,
                });
            }
            self.fb.open();
            if self.ctrl[t].kind == Kind::Func {
                self.branch(t)?;
            } else {
                if self.ctrl[t].kind != Kind::Loop {
                    self.store_branch_values(t)?;
                }
                self.ctrl[t].branched_to = true;
                let tv = self.fb.u32(t as u32);
                self.fb.store(self.pending, tv);
                let em = em.ok_or_else(|| Unsupported::new("internal: br_table target"))?;
                self.mark_pending(t, em);
            }
            let body = self.fb.close();
            let value = if is_default {
                SwitchValue::Default
            } else {
                // The last value of this group carries the body.
                SwitchValue::U32(self.last_group_value(&entries, t))
            };
            cases.push(SwitchCase {
                value,
                body,
                fall_through: false,
            });
        }
        self.fb.stmt(Statement::Switch {
            selector: idx,
            cases,
        });
        self.propagate();
        self.unreachable = true;
        Ok(())
    }

    fn last_group_value(&self, entries: &[usize], t: usize) -> u32 {
        entries.iter().rposition(|&e| e == t).unwrap_or(0) as u32
    }

    fn local(&self, i: u32) -> Result<(H, Ty), Unsupported> {
        self.locals
            .get(i as usize)
            .copied()
            .ok_or_else(|| Unsupported::new("internal: local index out of range"))
    }

    // ---- arithmetic helpers -------------------------------------------

    fn width(t: Ty) -> u8 {
        if t.is_64() {
            8
        } else {
            4
        }
    }

    fn sint(&mut self, a: H, t: Ty) -> H {
        self.fb.cast(a, ScalarKind::Sint, Self::width(t))
    }
    fn uint(&mut self, a: H, t: Ty) -> H {
        self.fb.cast(a, ScalarKind::Uint, Self::width(t))
    }
    fn int_lit(&mut self, t: Ty, v: u64) -> H {
        if t == Ty::I64 {
            self.fb.u64(v)
        } else {
            self.fb.u32(v as u32)
        }
    }
    fn bool_to_i32(&mut self, c: H) -> H {
        let one = self.fb.u32(1);
        let zero = self.fb.u32(0);
        self.fb.sel(c, one, zero)
    }

    fn binop(&mut self, op: Bo, t: Ty) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let r = self.fb.bin(op, a, b);
        self.push(r, t);
        Ok(())
    }

    /// Comparison; `signed` bitcasts integer operands first. (i64 values
    /// that are sign extensions are opaque already, see `sext64`.)
    fn cmp(&mut self, op: Bo, t: Ty, signed: bool) -> Result<(), Unsupported> {
        let mut b = self.pop()?;
        let mut a = self.pop()?;
        if signed {
            a = self.sint(a, t);
            b = self.sint(b, t);
        }
        let c = self.fb.bin(op, a, b);
        let r = self.bool_to_i32(c);
        self.push(r, Ty::I32);
        Ok(())
    }

    fn float_ne(&mut self) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let eq = self.fb.bin(Bo::Equal, a, b);
        let ne = self.fb.un(Uo::LogicalNot, eq);
        let r = self.bool_to_i32(ne);
        self.push(r, Ty::I32);
        Ok(())
    }

    /// Shift amount masked to the operand width, as `u32`.
    fn shift_amount(&mut self, b: H, t: Ty) -> H {
        if t == Ty::I64 {
            let m = self.fb.u64(63);
            let k = self.fb.bin(Bo::And, b, m);
            self.fb.conv(k, ScalarKind::Uint, 4)
        } else {
            let m = self.fb.u32(31);
            self.fb.bin(Bo::And, b, m)
        }
    }

    fn shift(&mut self, t: Ty, left: bool, signed: bool) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let k = self.shift_amount(b, t);
        let r = if left {
            self.fb.bin(Bo::ShiftLeft, a, k)
        } else if signed {
            let s = self.sint(a, t);
            let r = self.fb.bin(Bo::ShiftRight, s, k);
            self.uint(r, t)
        } else {
            self.fb.bin(Bo::ShiftRight, a, k)
        };
        self.push(r, t);
        Ok(())
    }

    fn rotate(&mut self, t: Ty, left: bool) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let bits = if t == Ty::I64 { 64 } else { 32 };
        let k = self.shift_amount(b, t);
        let n = self.fb.u32(bits);
        let nk = self.fb.bin(Bo::Subtract, n, k);
        let mask = self.fb.u32(bits - 1);
        let nk = self.fb.bin(Bo::And, nk, mask);
        let (l, r) = if left { (k, nk) } else { (nk, k) };
        let x = self.fb.bin(Bo::ShiftLeft, a, l);
        let y = self.fb.bin(Bo::ShiftRight, a, r);
        let v = self.fb.bin(Bo::InclusiveOr, x, y);
        self.push(v, t);
        Ok(())
    }

    fn unop_math(&mut self, fun: Mf, t: Ty) -> Result<(), Unsupported> {
        let a = self.pop()?;
        let r = self.fb.math(fun, a);
        self.push(r, t);
        Ok(())
    }

    /// clz / ctz / popcnt; 64-bit ones through the 32-bit halves.
    fn bitcount(&mut self, fun: Mf, t: Ty) -> Result<(), Unsupported> {
        let a = self.pop()?;
        if t == Ty::I32 {
            let r = self.fb.math(fun, a);
            self.push(r, t);
            return Ok(());
        }
        let lo = self.fb.conv(a, ScalarKind::Uint, 4);
        let c32 = self.fb.u64(32);
        let hs = self.fb.bin(Bo::ShiftRight, a, c32);
        let hi = self.fb.conv(hs, ScalarKind::Uint, 4);
        let clo = self.fb.math(fun, lo);
        let chi = self.fb.math(fun, hi);
        let zero = self.fb.u32(0);
        let k32 = self.fb.u32(32);
        let r32 = match fun {
            Mf::CountLeadingZeros => {
                let hz = self.fb.bin(Bo::Equal, hi, zero);
                let lo32 = self.fb.bin(Bo::Add, clo, k32);
                self.fb.sel(hz, lo32, chi)
            }
            Mf::CountTrailingZeros => {
                let lz = self.fb.bin(Bo::Equal, lo, zero);
                let hi32 = self.fb.bin(Bo::Add, chi, k32);
                self.fb.sel(lz, hi32, clo)
            }
            _ => self.fb.bin(Bo::Add, clo, chi),
        };
        let r = self.fb.conv(r32, ScalarKind::Uint, 8);
        self.push(r, t);
        Ok(())
    }

    fn eqz(&mut self, t: Ty) -> Result<(), Unsupported> {
        let a = self.pop()?;
        let z = self.int_lit(t, 0);
        let c = self.fb.bin(Bo::Equal, a, z);
        let r = self.bool_to_i32(c);
        self.push(r, Ty::I32);
        Ok(())
    }

    fn div(&mut self, t: Ty, signed: bool, rem: bool) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let z = self.int_lit(t, 0);
        let bz = self.fb.bin(Bo::Equal, b, z);
        self.trap_if(bz, trap::DIV_BY_ZERO);
        // After a trap the invocation runs on: divide by 1 instead.
        let one = self.int_lit(t, 1);
        let b = self.fb.sel(bz, one, b);
        let minus1 = self.int_lit(t, u64::MAX);
        let r = if !signed {
            self.fb.bin(if rem { Bo::Modulo } else { Bo::Divide }, a, b)
        } else if !rem {
            let min = self.int_lit(t, if t == Ty::I64 { 1 << 63 } else { 1 << 31 });
            let amin = self.fb.bin(Bo::Equal, a, min);
            let bm1 = self.fb.bin(Bo::Equal, b, minus1);
            let ovf = self.fb.bin(Bo::LogicalAnd, amin, bm1);
            self.trap_if(ovf, trap::INT_OVERFLOW);
            let b = self.fb.sel(ovf, one, b);
            let sa = self.sint(a, t);
            let sb = self.sint(b, t);
            let q = self.fb.bin(Bo::Divide, sa, sb);
            self.uint(q, t)
        } else {
            // a - (a / b') * b' with b' = 1 when b = -1 (the result is 0 then).
            let bm1 = self.fb.bin(Bo::Equal, b, minus1);
            let b2 = self.fb.sel(bm1, one, b);
            let sa = self.sint(a, t);
            let sb = self.sint(b2, t);
            let q = self.fb.bin(Bo::Divide, sa, sb);
            let q = self.uint(q, t);
            let qb = self.fb.bin(Bo::Multiply, q, b2);
            self.fb.bin(Bo::Subtract, a, qb)
        };
        self.push(r, t);
        Ok(())
    }

    fn sign_mask(t: Ty) -> u64 {
        if t == Ty::F64 {
            1 << 63
        } else {
            1 << 31
        }
    }

    /// Float division. lavapipe (Mesa 22.3) folded `x / 0.0` to 0 (wasm:
    /// ±inf) and `0.0 / -x` to +0.0 (wasm: -0.0) when the zero was known at
    /// compile time; no float is, since every float source is opaque (see
    /// `Globals::zero`). The operands are not XORed again here: a second
    /// XOR with the same zero cancelled the first and exposed the constant.
    fn fdiv(&mut self, t: Ty) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let r = self.fb.bin(Bo::Divide, a, b);
        self.push(r, t);
        Ok(())
    }

    /// `bits + zero`: like [`Self::opaque_bits`] but with another operation,
    /// for values that may already be `c ^ zero` (a reinterpreted float
    /// constant): `c ^ zero ^ zero` would fold back to `c`.
    fn opaque_bits_add(&mut self, bits: H, t: Ty) -> H {
        self.with_zero(Bo::Add, bits, t)
    }

    /// `bits ^ zero` at the width of `t`: the same bits, hidden from the
    /// driver's constant folding (see `Globals::zero`, [`Self::sext64`]).
    fn opaque_bits(&mut self, bits: H, t: Ty) -> H {
        self.with_zero(Bo::ExclusiveOr, bits, t)
    }

    /// `bits op zero`, the run-time zero widened to `t`.
    fn with_zero(&mut self, op: Bo, bits: H, t: Ty) -> H {
        let zero = run_time_zero(&mut self.fb, self.sh.g, t.is_64());
        self.fb.bin(op, bits, zero)
    }

    /// `r` with the quiet bit set when it is a NaN (integer operations, so
    /// the driver cannot fold them). Wasm's demote/promote give an
    /// arithmetic (quiet) NaN for a NaN input; lavapipe folded
    /// `demote(promote(x))` to `x` and returned a signalling NaN unchanged
    /// (spec test float_exprs.wast `no_fold_promote_demote`).
    fn quiet_nan(&mut self, r: H, t: Ty) -> H {
        let bits = self.fbits(r, t);
        let (abs_mask, inf, quiet) = if t == Ty::F64 {
            (
                0x7fff_ffff_ffff_ffffu64,
                0x7ff0_0000_0000_0000u64,
                0x0008_0000_0000_0000u64,
            )
        } else {
            (0x7fff_ffff, 0x7f80_0000, 0x0040_0000)
        };
        let _ = (abs_mask, inf);
        let nan = self.is_nan_bits(r, t);
        let quiet = self.ilit_for_float(t, quiet);
        let q = self.fb.bin(Bo::InclusiveOr, bits, quiet);
        let out = self.fb.sel(nan, q, bits);
        self.ffrom(out, t)
    }

    /// Whether the float `a` is a NaN, decided on its bits (`a != a` is
    /// a float comparison the driver may fold: lavapipe answered false for
    /// NaN, so a trapping truncation of NaN reported an overflow).
    fn is_nan_bits(&mut self, a: H, t: Ty) -> H {
        let bits = self.fbits(a, t);
        let (abs_mask, inf) = if t == Ty::F64 {
            (0x7fff_ffff_ffff_ffffu64, 0x7ff0_0000_0000_0000u64)
        } else {
            (0x7fff_ffff, 0x7f80_0000)
        };
        let abs_mask = self.ilit_for_float(t, abs_mask);
        let abs = self.fb.bin(Bo::And, bits, abs_mask);
        let inf = self.ilit_for_float(t, inf);
        self.fb.bin(Bo::Greater, abs, inf)
    }

    fn fbits(&mut self, a: H, t: Ty) -> H {
        self.fb.cast(a, ScalarKind::Uint, Self::width(t))
    }
    fn ffrom(&mut self, a: H, t: Ty) -> H {
        self.fb.cast(a, ScalarKind::Float, Self::width(t))
    }
    fn ilit_for_float(&mut self, t: Ty, v: u64) -> H {
        if t == Ty::F64 {
            self.fb.u64(v)
        } else {
            self.fb.u32(v as u32)
        }
    }
    fn flit(&mut self, t: Ty, v: f64) -> H {
        if t == Ty::F64 {
            self.fb.f64_bits(v.to_bits())
        } else {
            self.fb.f32_bits((v as f32).to_bits())
        }
    }

    /// abs / neg / copysign as bit operations (exact on NaN payloads).
    fn fsign(&mut self, t: Ty, which: u8) -> Result<(), Unsupported> {
        let m = Self::sign_mask(t);
        let r = match which {
            0 => {
                let a = self.pop()?;
                let bits = self.fbits(a, t);
                let k = self.ilit_for_float(t, !m);
                let v = self.fb.bin(Bo::And, bits, k);
                self.ffrom(v, t)
            }
            1 => {
                let a = self.pop()?;
                let bits = self.fbits(a, t);
                let k = self.ilit_for_float(t, m);
                let v = self.fb.bin(Bo::ExclusiveOr, bits, k);
                self.ffrom(v, t)
            }
            _ if t == Ty::F64 => {
                // On the high words only: lavapipe (Mesa 22.3) computed
                // `(bits(a) & !SIGN) | (bits(b) & SIGN)` on f64 bits inside
                // an `if` as `bits(a) | bits(b)` on the high word (random
                // kernel seed 511); 32-bit masks on the halves are right.
                let b = self.pop()?;
                let a = self.pop()?;
                let ab = self.fbits(a, t);
                let bb = self.fbits(b, t);
                let k32 = self.fb.u64(32);
                let ahi = self.fb.bin(Bo::ShiftRight, ab, k32);
                let ahi = self.fb.conv(ahi, ScalarKind::Uint, 4);
                let bhi = self.fb.bin(Bo::ShiftRight, bb, k32);
                let bhi = self.fb.conv(bhi, ScalarKind::Uint, 4);
                let km = self.fb.u32(0x7FFF_FFFF);
                let ks = self.fb.u32(0x8000_0000);
                let x = self.fb.bin(Bo::And, ahi, km);
                let y = self.fb.bin(Bo::And, bhi, ks);
                let hi = self.fb.bin(Bo::InclusiveOr, x, y);
                let hi = self.fb.conv(hi, ScalarKind::Uint, 8);
                let hi = self.fb.bin(Bo::ShiftLeft, hi, k32);
                let lo = self.fb.conv(ab, ScalarKind::Uint, 4);
                let lo = self.fb.conv(lo, ScalarKind::Uint, 8);
                let v = self.fb.bin(Bo::InclusiveOr, hi, lo);
                self.ffrom(v, t)
            }
            _ => {
                let b = self.pop()?;
                let a = self.pop()?;
                let ab = self.fbits(a, t);
                let bb = self.fbits(b, t);
                let km = self.ilit_for_float(t, !m);
                let ks = self.ilit_for_float(t, m);
                let x = self.fb.bin(Bo::And, ab, km);
                let y = self.fb.bin(Bo::And, bb, ks);
                let v = self.fb.bin(Bo::InclusiveOr, x, y);
                self.ffrom(v, t)
            }
        };
        self.push(r, t);
        Ok(())
    }

    /// wasm min/max: NaN if either is NaN; -0 < +0.
    fn fminmax(&mut self, t: Ty, max: bool) -> Result<(), Unsupported> {
        let b = self.pop()?;
        let a = self.pop()?;
        let na = self.fb.isnan(a);
        let nb = self.fb.isnan(b);
        let nan = self.fb.bin(Bo::LogicalOr, na, nb);
        let sum = self.fb.bin(Bo::Add, a, b);
        let eq = self.fb.bin(Bo::Equal, a, b);
        let ab = self.fbits(a, t);
        let bb = self.fbits(b, t);
        let zb = self
            .fb
            .bin(if max { Bo::And } else { Bo::InclusiveOr }, ab, bb);
        let z = self.ffrom(zb, t);
        let lt = self.fb.bin(if max { Bo::Greater } else { Bo::Less }, a, b);
        let pick = self.fb.sel(lt, a, b);
        let r1 = self.fb.sel(eq, z, pick);
        let r = self.fb.sel(nan, sum, r1);
        self.push(r, t);
        Ok(())
    }

    /// Bounds of `from` values that convert to `to` without trapping:
    /// (lower, lower inclusive, upper exclusive).
    fn trunc_bounds(from: Ty, to: Ty, signed: bool) -> (f64, bool, f64) {
        match (to, signed) {
            (Ty::I32, true) => {
                if from == Ty::F32 {
                    (-2147483648.0, true, 2147483648.0)
                } else {
                    (-2147483649.0, false, 2147483648.0)
                }
            }
            (Ty::I32, false) => (-1.0, false, 4294967296.0),
            (_, true) => (-9223372036854775808.0, true, 9223372036854775808.0),
            (_, false) => (-1.0, false, 18446744073709551616.0),
        }
    }

    fn trunc(&mut self, from: Ty, to: Ty, signed: bool, sat: bool) -> Result<(), Unsupported> {
        let a = self.pop()?;
        let (lo, lo_incl, hi) = Self::trunc_bounds(from, to, signed);
        let lo_c = self.flit(from, lo);
        let hi_c = self.flit(from, hi);
        let ge_lo = self.fb.bin(
            if lo_incl {
                Bo::GreaterEqual
            } else {
                Bo::Greater
            },
            a,
            lo_c,
        );
        let lt_hi = self.fb.bin(Bo::Less, a, hi_c);
        let kind = if signed {
            ScalarKind::Sint
        } else {
            ScalarKind::Uint
        };
        let w = Self::width(to);
        if !sat {
            let ok = self.fb.bin(Bo::LogicalAnd, ge_lo, lt_hi);
            let bad = self.fb.un(Uo::LogicalNot, ok);
            // NaN is an invalid conversion, an out-of-range number an
            // integer overflow (two trap kinds in the spec).
            let nan = self.is_nan_bits(a, from);
            let not_nan = self.fb.un(Uo::LogicalNot, nan);
            let overflow = self.fb.bin(Bo::LogicalAnd, bad, not_nan);
            self.trap_if(nan, trap::BAD_CONVERSION);
            self.trap_if(overflow, trap::INT_OVERFLOW);
            // After a trap the invocation runs on: convert 0.0 instead.
            let zero = self.flit(from, 0.0);
            let a = self.fb.sel(bad, zero, a);
            let c = self.fb.conv(a, kind, w);
            let r = if signed { self.uint(c, to) } else { c };
            self.push(r, to);
            return Ok(());
        }
        let c = self.fb.conv(a, kind, w);
        let c = if signed { self.uint(c, to) } else { c };
        let (min, max) = match (to, signed) {
            (Ty::I32, true) => (1u64 << 31, (1u64 << 31) - 1),
            (Ty::I32, false) => (0, u32::MAX as u64),
            (_, true) => (1u64 << 63, (1u64 << 63) - 1),
            (_, false) => (0, u64::MAX),
        };
        let minv = self.int_lit(to, min);
        let maxv = self.int_lit(to, max);
        let zero = self.int_lit(to, 0);
        let nan = self.fb.isnan(a);
        let r1 = self.fb.sel(ge_lo, c, minv);
        let r2 = self.fb.sel(lt_hi, r1, maxv);
        let r = self.fb.sel(nan, zero, r2);
        self.push(r, to);
        Ok(())
    }

    fn int_to_float(&mut self, from: Ty, to: Ty, signed: bool) -> Result<(), Unsupported> {
        let a = self.pop()?;
        let src = if signed { self.sint(a, from) } else { a };
        let r = self.fb.conv(src, ScalarKind::Float, Self::width(to));
        // Opaque (see `Globals::zero`): the integer may be one the driver
        // can compute, such as 0 * x.
        let bits = self.fbits(r, to);
        let bits = self.opaque_bits(bits, to);
        let r = self.ffrom(bits, to);
        self.push(r, to);
        Ok(())
    }

    /// Sign-extends the low `bits` of an integer of type `t`.
    fn sext(&mut self, a: H, t: Ty, bits: u32) -> H {
        let total = if t == Ty::I64 { 64 } else { 32 };
        let k = self.fb.u32(total - bits);
        let s = self.sint(a, t);
        let l = self.fb.bin(Bo::ShiftLeft, s, k);
        let r = self.fb.bin(Bo::ShiftRight, l, k);
        let r = self.uint(r, t);
        if t == Ty::I64 {
            // Could be recognised as a sign extension: see `sext64`.
            self.opaque_bits(r, Ty::I64)
        } else {
            r
        }
    }

    /// A `u32` sign-extended to `u64`, made opaque: lavapipe (Mesa 22.3)
    /// got comparisons of a sign-extended value with a small constant
    /// wrong: `i64.lt_s (i64.extend_i32_s x) (i64.const 24)` was 0 for
    /// x = 7 (seed 176), and ones it derived itself too: `f64.ge
    /// (f64.convert_i64_s (i64.load8_s ..)) (f64.const 0)` was 1 for -99
    /// (seed 344). Only at the source: XORing the comparison operands as
    /// well cancelled out (`x ^ z ^ z`) and exposed the extension again
    /// (seed 1358).
    fn sext64(&mut self, a: H) -> H {
        let s = self.sint(a, Ty::I32);
        let e = self.fb.conv(s, ScalarKind::Sint, 8);
        let e = self.uint(e, Ty::I64);
        self.opaque_bits(e, Ty::I64)
    }

    // ---- memory ------------------------------------------------------

    /// Effective address with the bounds (and private-region) checks, and
    /// the condition under which the access must not happen (it trapped).
    /// For loads the address is already replaced by 0 then (in bounds: the
    /// arena has at least 8 bytes); stores skip the write on that condition.
    fn effective(
        &mut self,
        base: H,
        m: &MemArg,
        size: u32,
        store: bool,
    ) -> Result<(H, H), Unsupported> {
        if m.memory != 0 {
            return Err(Unsupported::new("multiple memories are not supported"));
        }
        let offset = u32::try_from(m.offset)
            .map_err(|_| Unsupported::new("memory offsets of 2^32 or more are not supported"))?;
        let ms = self.fb.load_global(self.sh.g.mem_size);
        let sz = self.fb.u32(size);
        let ea = if offset == 0 {
            base
        } else {
            let o = self.fb.u32(offset);
            self.fb.bin(Bo::Add, base, o)
        };
        let small = self.fb.bin(Bo::Less, ms, sz);
        let lim = self.fb.bin(Bo::Subtract, ms, sz);
        let past = self.fb.bin(Bo::Greater, ea, lim);
        let mut oob = self.fb.bin(Bo::LogicalOr, small, past);
        if offset != 0 {
            let wrapped = self.fb.bin(Bo::Less, ea, base);
            oob = self.fb.bin(Bo::LogicalOr, oob, wrapped);
        }
        self.trap_if(oob, trap::OUT_OF_BOUNDS);
        if !store {
            let z = self.fb.u32(0);
            return Ok((self.fb.sel(oob, z, ea), oob));
        }
        if self.sh.region_size > 0 {
            let private = if self.sh.region_size > u32::MAX as u64 {
                self.fb.bool(true)
            } else {
                let r = self.fb.u32(self.sh.region_size as u32);
                self.fb.bin(Bo::Less, ea, r)
            };
            self.trap_if(private, trap::PRIVATE_WRITE);
            oob = self.fb.bin(Bo::LogicalOr, oob, private);
        }
        Ok((ea, oob))
    }

    fn ld(&mut self, f: Handle<naga::Function>, ea: H) -> Result<H, Unsupported> {
        self.fb
            .call(f, vec![ea], true)
            .ok_or_else(|| Unsupported::new("internal: load without result"))
    }

    /// The word at `ea`, a multiple of 4 known in bounds.
    fn load_word(&mut self, ea: H) -> H {
        let two = self.fb.u32(2);
        let w = self.fb.bin(Bo::ShiftRight, ea, two);
        let p = self.fb.index(self.sh.g.arena, w);
        self.fb.load(p)
    }

    /// 32 bits at `ea` (in bounds): one word when `ea` is known to be a
    /// multiple of 4, else the helper that handles any alignment.
    fn load32(&mut self, ea: H, aligned: bool) -> Result<H, Unsupported> {
        if aligned {
            Ok(self.load_word(ea))
        } else {
            self.ld(self.sh.h.ld32, ea)
        }
    }

    /// Whether the effective address `base + offset` is known to be a
    /// multiple of 4.
    fn address_aligned(&self, base: H, m: &MemArg) -> bool {
        self.is_aligned(base) && m.offset % 4 == 0
    }

    fn load(&mut self, m: &MemArg, bytes: u32, t: Ty, signed: bool) -> Result<(), Unsupported> {
        let base = self.pop()?;
        let aligned = self.address_aligned(base, m);
        let (ea, _) = self.effective(base, m, bytes, false)?;
        let h = self.sh.h;
        let r = match (bytes, t) {
            (8, _) => {
                let lo = self.load32(ea, aligned)?;
                let four = self.fb.u32(4);
                let ea4 = self.fb.bin(Bo::Add, ea, four);
                let hi = self.load32(ea4, aligned)?;
                let lo64 = self.fb.conv(lo, ScalarKind::Uint, 8);
                let hi64 = self.fb.conv(hi, ScalarKind::Uint, 8);
                let k = self.fb.u32(32);
                let hs = self.fb.bin(Bo::ShiftLeft, hi64, k);
                let v = self.fb.bin(Bo::InclusiveOr, hs, lo64);
                if t == Ty::F64 {
                    self.ffrom(v, t)
                } else {
                    v
                }
            }
            _ => {
                let v = match bytes {
                    1 => self.ld(h.ld8, ea)?,
                    2 => self.ld(h.ld16, ea)?,
                    _ => self.load32(ea, aligned)?,
                };
                let v = if signed && bytes < 4 {
                    self.sext(v, Ty::I32, bytes * 8)
                } else {
                    v
                };
                match t {
                    Ty::F32 => self.ffrom(v, t),
                    Ty::I64 => {
                        if signed {
                            self.sext64(v)
                        } else {
                            self.fb.conv(v, ScalarKind::Uint, 8)
                        }
                    }
                    _ => v,
                }
            }
        };
        self.push(r, t);
        Ok(())
    }

    fn store(&mut self, m: &MemArg, bytes: u32, t: Ty) -> Result<(), Unsupported> {
        let v = self.pop()?;
        let base = self.pop()?;
        let (ea, bad) = self.effective(base, m, bytes, true)?;
        let bits = match t {
            Ty::F32 | Ty::F64 => self.fbits(v, t),
            _ => v,
        };
        // `if bad {} else { store }`: a trapped access writes nothing.
        self.fb.open();
        self.store_bits(ea, bits, bytes, t);
        let reject = self.fb.close();
        self.fb.if_(bad, Block::new(), reject);
        Ok(())
    }

    /// The store helper calls for `bits` at `ea` (checked).
    fn store_bits(&mut self, ea: H, bits: H, bytes: u32, t: Ty) {
        let h = self.sh.h;
        if bytes == 8 {
            let lo = self.fb.conv(bits, ScalarKind::Uint, 4);
            let k = self.fb.u64(32);
            let hs = self.fb.bin(Bo::ShiftRight, bits, k);
            let hi = self.fb.conv(hs, ScalarKind::Uint, 4);
            let four = self.fb.u32(4);
            let ea4 = self.fb.bin(Bo::Add, ea, four);
            self.fb.call(h.st32, vec![ea, lo], false);
            self.fb.call(h.st32, vec![ea4, hi], false);
            return;
        }
        let v32 = if t.is_64() {
            self.fb.conv(bits, ScalarKind::Uint, 4)
        } else {
            bits
        };
        // Stores always go through the helper, even where the address is
        // known aligned: a direct word store there made llvmpipe's code for
        // a loop before it slower (compute bench: 10.4 -> 14.4 ms).
        let f = match bytes {
            1 => h.st8,
            2 => h.st16,
            _ => h.st32,
        };
        self.fb.call(f, vec![ea, v32], false);
    }

    fn call(&mut self, callee: u32) -> Result<(), Unsupported> {
        let target = self
            .sh
            .fn_map
            .get(callee as usize)
            .copied()
            .flatten()
            .ok_or_else(|| Unsupported::new("internal: callee not translated before its caller"))?;
        let nested = self.loop_depth + self.sh.fn_loop_depth[callee as usize];
        self.max_loop_depth = self.max_loop_depth.max(nested);
        let cf = &self.km.funcs[callee as usize];
        let n = cf.params.len();
        let result = cf.result;
        if self.stack.len() < n {
            return Err(Unsupported::new("internal: stack underflow at call"));
        }
        let args: Vec<H> = self
            .stack
            .drain(self.stack.len() - n..)
            .map(|(h, _)| h)
            .collect();
        // A trap inside the callee: this function runs on to its end like
        // after any trap (see `build_trap`).
        let r = self.fb.call(target, args, result.is_some());
        if let (Some(r), Some(rt)) = (r, result) {
            self.push(r, rt);
        }
        Ok(())
    }

    fn op(&mut self, op: Operator<'_>) -> Result<(), Unsupported> {
        let tracked = matches!(
            op,
            Operator::I32Const { .. }
                | Operator::LocalGet { .. }
                | Operator::LocalTee { .. }
                | Operator::I32Add
                | Operator::I32Sub
                | Operator::I32Or
                | Operator::I32Mul
                | Operator::I32And
                | Operator::I32Shl
        );
        if !tracked {
            return self.op_inner(op);
        }
        let n = self.stack.len();
        let a = n.checked_sub(2).map(|i| self.stack[i].0);
        let b = n.checked_sub(1).map(|i| self.stack[i].0);
        self.op_inner(op.clone())?;
        self.track_alignment(&op, a, b);
        Ok(())
    }

    fn op_inner(&mut self, op: Operator<'_>) -> Result<(), Unsupported> {
        use Operator as O;
        use Ty::*;
        match op {
            O::Nop => {}
            O::Unreachable => self.trap_now(trap::UNREACHABLE),
            O::Block { blockty } => self.open_frame(Kind::Block, blockty)?,
            O::Loop { blockty } => self.open_frame(Kind::Loop, blockty)?,
            O::If { blockty } => self.open_frame(Kind::If, blockty)?,
            O::Else => self.op_else()?,
            O::End => self.op_end()?,
            O::Br { relative_depth } => {
                let t = self.target(relative_depth)?;
                self.branch(t)?;
                self.unreachable = true;
            }
            O::BrIf { relative_depth } => {
                let t = self.target(relative_depth)?;
                let c = self.pop()?;
                let z = self.fb.u32(0);
                let cond = self.fb.bin(Bo::NotEqual, c, z);
                self.fb.open();
                self.branch(t)?;
                let accept = self.fb.close();
                self.fb.if_(cond, accept, Block::new());
            }
            O::BrTable { targets } => self.br_table(&targets)?,
            O::Return => {
                self.branch(0)?;
                self.unreachable = true;
            }
            O::Call { function_index } => self.call(function_index)?,
            O::Drop => {
                self.pop()?;
            }
            O::Select | O::TypedSelect { .. } => {
                let c = self.pop()?;
                let (b, t) = self
                    .stack
                    .pop()
                    .ok_or_else(|| Unsupported::new("internal: stack underflow"))?;
                let a = self.pop()?;
                let z = self.fb.u32(0);
                let cond = self.fb.bin(Bo::NotEqual, c, z);
                let r = self.fb.sel(cond, a, b);
                self.push(r, t);
            }
            O::LocalGet { local_index } => {
                let (p, t) = self.local(local_index)?;
                let v = self.fb.load(p);
                self.push(v, t);
            }
            O::LocalSet { local_index } => {
                let (p, _) = self.local(local_index)?;
                let v = self.pop()?;
                self.note_local_value(local_index, v);
                self.fb.store(p, v);
            }
            O::LocalTee { local_index } => {
                let (p, t) = self.local(local_index)?;
                let v = self.pop()?;
                self.note_local_value(local_index, v);
                self.fb.store(p, v);
                self.push(v, t);
            }
            O::GlobalGet { global_index } => {
                let (g, t) = *self
                    .sh
                    .wasm_globals
                    .get(global_index as usize)
                    .ok_or_else(|| Unsupported::new("internal: global index"))?;
                let v = self.fb.load_global(g);
                let v = if matches!(t, F32 | F64) {
                    let v = self.opaque_bits(v, t);
                    self.ffrom(v, t)
                } else {
                    v
                };
                self.push(v, t);
            }
            O::GlobalSet { global_index } => {
                let (g, t) = *self
                    .sh
                    .wasm_globals
                    .get(global_index as usize)
                    .ok_or_else(|| Unsupported::new("internal: global index"))?;
                let v = self.pop()?;
                let v = if matches!(t, F32 | F64) {
                    self.fbits(v, t)
                } else {
                    v
                };
                self.fb.store_global(g, v);
            }
            O::MemorySize { mem: 0 } => {
                let ms = self.fb.load_global(self.sh.g.mem_size);
                let k = self.fb.u32(16);
                let r = self.fb.bin(Bo::ShiftRight, ms, k);
                self.push(r, I32);
            }
            O::I32Const { value } => {
                let v = self.fb.u32(value as u32);
                self.push(v, I32);
            }
            O::I64Const { value } => {
                let v = self.fb.u64(value as u64);
                self.push(v, I64);
            }
            O::F32Const { value } => {
                let v = self.fb.u32(value.bits());
                let v = self.opaque_bits(v, F32);
                let v = self.ffrom(v, F32);
                self.push(v, F32);
            }
            O::F64Const { value } => {
                let v = self.fb.u64(value.bits());
                let v = self.opaque_bits(v, F64);
                let v = self.ffrom(v, F64);
                self.push(v, F64);
            }

            O::I32Load { memarg } => self.load(&memarg, 4, I32, false)?,
            O::I64Load { memarg } => self.load(&memarg, 8, I64, false)?,
            O::F32Load { memarg } => self.load(&memarg, 4, F32, false)?,
            O::F64Load { memarg } => self.load(&memarg, 8, F64, false)?,
            O::I32Load8S { memarg } => self.load(&memarg, 1, I32, true)?,
            O::I32Load8U { memarg } => self.load(&memarg, 1, I32, false)?,
            O::I32Load16S { memarg } => self.load(&memarg, 2, I32, true)?,
            O::I32Load16U { memarg } => self.load(&memarg, 2, I32, false)?,
            O::I64Load8S { memarg } => self.load(&memarg, 1, I64, true)?,
            O::I64Load8U { memarg } => self.load(&memarg, 1, I64, false)?,
            O::I64Load16S { memarg } => self.load(&memarg, 2, I64, true)?,
            O::I64Load16U { memarg } => self.load(&memarg, 2, I64, false)?,
            O::I64Load32S { memarg } => self.load(&memarg, 4, I64, true)?,
            O::I64Load32U { memarg } => self.load(&memarg, 4, I64, false)?,
            O::I32Store { memarg } => self.store(&memarg, 4, I32)?,
            O::I64Store { memarg } => self.store(&memarg, 8, I64)?,
            O::F32Store { memarg } => self.store(&memarg, 4, F32)?,
            O::F64Store { memarg } => self.store(&memarg, 8, F64)?,
            O::I32Store8 { memarg } => self.store(&memarg, 1, I32)?,
            O::I32Store16 { memarg } => self.store(&memarg, 2, I32)?,
            O::I64Store8 { memarg } => self.store(&memarg, 1, I64)?,
            O::I64Store16 { memarg } => self.store(&memarg, 2, I64)?,
            O::I64Store32 { memarg } => self.store(&memarg, 4, I64)?,

            O::I32Eqz => self.eqz(I32)?,
            O::I64Eqz => self.eqz(I64)?,
            O::I32Eq => self.cmp(Bo::Equal, I32, false)?,
            O::I32Ne => self.cmp(Bo::NotEqual, I32, false)?,
            O::I32LtS => self.cmp(Bo::Less, I32, true)?,
            O::I32LtU => self.cmp(Bo::Less, I32, false)?,
            O::I32GtS => self.cmp(Bo::Greater, I32, true)?,
            O::I32GtU => self.cmp(Bo::Greater, I32, false)?,
            O::I32LeS => self.cmp(Bo::LessEqual, I32, true)?,
            O::I32LeU => self.cmp(Bo::LessEqual, I32, false)?,
            O::I32GeS => self.cmp(Bo::GreaterEqual, I32, true)?,
            O::I32GeU => self.cmp(Bo::GreaterEqual, I32, false)?,
            O::I64Eq => self.cmp(Bo::Equal, I64, false)?,
            O::I64Ne => self.cmp(Bo::NotEqual, I64, false)?,
            O::I64LtS => self.cmp(Bo::Less, I64, true)?,
            O::I64LtU => self.cmp(Bo::Less, I64, false)?,
            O::I64GtS => self.cmp(Bo::Greater, I64, true)?,
            O::I64GtU => self.cmp(Bo::Greater, I64, false)?,
            O::I64LeS => self.cmp(Bo::LessEqual, I64, true)?,
            O::I64LeU => self.cmp(Bo::LessEqual, I64, false)?,
            O::I64GeS => self.cmp(Bo::GreaterEqual, I64, true)?,
            O::I64GeU => self.cmp(Bo::GreaterEqual, I64, false)?,
            O::F32Eq => self.cmp(Bo::Equal, F32, false)?,
            O::F32Ne => self.float_ne()?,
            O::F32Lt => self.cmp(Bo::Less, F32, false)?,
            O::F32Gt => self.cmp(Bo::Greater, F32, false)?,
            O::F32Le => self.cmp(Bo::LessEqual, F32, false)?,
            O::F32Ge => self.cmp(Bo::GreaterEqual, F32, false)?,
            O::F64Eq => self.cmp(Bo::Equal, F64, false)?,
            O::F64Ne => self.float_ne()?,
            O::F64Lt => self.cmp(Bo::Less, F64, false)?,
            O::F64Gt => self.cmp(Bo::Greater, F64, false)?,
            O::F64Le => self.cmp(Bo::LessEqual, F64, false)?,
            O::F64Ge => self.cmp(Bo::GreaterEqual, F64, false)?,

            O::I32Clz => self.bitcount(Mf::CountLeadingZeros, I32)?,
            O::I32Ctz => self.bitcount(Mf::CountTrailingZeros, I32)?,
            O::I32Popcnt => self.bitcount(Mf::CountOneBits, I32)?,
            O::I64Clz => self.bitcount(Mf::CountLeadingZeros, I64)?,
            O::I64Ctz => self.bitcount(Mf::CountTrailingZeros, I64)?,
            O::I64Popcnt => self.bitcount(Mf::CountOneBits, I64)?,
            O::I32Add => self.binop(Bo::Add, I32)?,
            O::I32Sub => self.binop(Bo::Subtract, I32)?,
            O::I32Mul => self.binop(Bo::Multiply, I32)?,
            O::I32DivS => self.div(I32, true, false)?,
            O::I32DivU => self.div(I32, false, false)?,
            O::I32RemS => self.div(I32, true, true)?,
            O::I32RemU => self.div(I32, false, true)?,
            O::I32And => self.binop(Bo::And, I32)?,
            O::I32Or => self.binop(Bo::InclusiveOr, I32)?,
            O::I32Xor => self.binop(Bo::ExclusiveOr, I32)?,
            O::I32Shl => self.shift(I32, true, false)?,
            O::I32ShrS => self.shift(I32, false, true)?,
            O::I32ShrU => self.shift(I32, false, false)?,
            O::I32Rotl => self.rotate(I32, true)?,
            O::I32Rotr => self.rotate(I32, false)?,
            O::I64Add => self.binop(Bo::Add, I64)?,
            O::I64Sub => self.binop(Bo::Subtract, I64)?,
            O::I64Mul => self.binop(Bo::Multiply, I64)?,
            O::I64DivS => self.div(I64, true, false)?,
            O::I64DivU => self.div(I64, false, false)?,
            O::I64RemS => self.div(I64, true, true)?,
            O::I64RemU => self.div(I64, false, true)?,
            O::I64And => self.binop(Bo::And, I64)?,
            O::I64Or => self.binop(Bo::InclusiveOr, I64)?,
            O::I64Xor => self.binop(Bo::ExclusiveOr, I64)?,
            O::I64Shl => self.shift(I64, true, false)?,
            O::I64ShrS => self.shift(I64, false, true)?,
            O::I64ShrU => self.shift(I64, false, false)?,
            O::I64Rotl => self.rotate(I64, true)?,
            O::I64Rotr => self.rotate(I64, false)?,

            O::F32Abs => self.fsign(F32, 0)?,
            O::F32Neg => self.fsign(F32, 1)?,
            O::F32Copysign => self.fsign(F32, 2)?,
            O::F64Abs => self.fsign(F64, 0)?,
            O::F64Neg => self.fsign(F64, 1)?,
            O::F64Copysign => self.fsign(F64, 2)?,
            O::F32Ceil => self.unop_math(Mf::Ceil, F32)?,
            O::F32Floor => self.unop_math(Mf::Floor, F32)?,
            O::F32Trunc => self.unop_math(Mf::Trunc, F32)?,
            O::F32Nearest => self.unop_math(Mf::Round, F32)?,
            O::F32Sqrt => self.unop_math(Mf::Sqrt, F32)?,
            O::F64Ceil => self.unop_math(Mf::Ceil, F64)?,
            O::F64Floor => self.unop_math(Mf::Floor, F64)?,
            O::F64Trunc => self.unop_math(Mf::Trunc, F64)?,
            O::F64Nearest => self.unop_math(Mf::Round, F64)?,
            O::F64Sqrt => self.unop_math(Mf::Sqrt, F64)?,
            O::F32Add => self.binop(Bo::Add, F32)?,
            O::F32Sub => self.binop(Bo::Subtract, F32)?,
            O::F32Mul => self.binop(Bo::Multiply, F32)?,
            O::F32Div => self.fdiv(F32)?,
            O::F32Min => self.fminmax(F32, false)?,
            O::F32Max => self.fminmax(F32, true)?,
            O::F64Add => self.binop(Bo::Add, F64)?,
            O::F64Sub => self.binop(Bo::Subtract, F64)?,
            O::F64Mul => self.binop(Bo::Multiply, F64)?,
            O::F64Div => self.fdiv(F64)?,
            O::F64Min => self.fminmax(F64, false)?,
            O::F64Max => self.fminmax(F64, true)?,

            O::I32WrapI64 => {
                let a = self.pop()?;
                let r = self.fb.conv(a, ScalarKind::Uint, 4);
                self.push(r, I32);
            }
            O::I64ExtendI32S => {
                let a = self.pop()?;
                let r = self.sext64(a);
                self.push(r, I64);
            }
            O::I64ExtendI32U => {
                let a = self.pop()?;
                let r = self.fb.conv(a, ScalarKind::Uint, 8);
                self.push(r, I64);
            }
            O::I32Extend8S
            | O::I32Extend16S
            | O::I64Extend8S
            | O::I64Extend16S
            | O::I64Extend32S => {
                let (t, bits) = match op {
                    O::I32Extend8S => (I32, 8),
                    O::I32Extend16S => (I32, 16),
                    O::I64Extend8S => (I64, 8),
                    O::I64Extend16S => (I64, 16),
                    _ => (I64, 32),
                };
                let a = self.pop()?;
                let r = self.sext(a, t, bits);
                self.push(r, t);
            }
            O::I32TruncF32S => self.trunc(F32, I32, true, false)?,
            O::I32TruncF32U => self.trunc(F32, I32, false, false)?,
            O::I32TruncF64S => self.trunc(F64, I32, true, false)?,
            O::I32TruncF64U => self.trunc(F64, I32, false, false)?,
            O::I64TruncF32S => self.trunc(F32, I64, true, false)?,
            O::I64TruncF32U => self.trunc(F32, I64, false, false)?,
            O::I64TruncF64S => self.trunc(F64, I64, true, false)?,
            O::I64TruncF64U => self.trunc(F64, I64, false, false)?,
            O::I32TruncSatF32S => self.trunc(F32, I32, true, true)?,
            O::I32TruncSatF32U => self.trunc(F32, I32, false, true)?,
            O::I32TruncSatF64S => self.trunc(F64, I32, true, true)?,
            O::I32TruncSatF64U => self.trunc(F64, I32, false, true)?,
            O::I64TruncSatF32S => self.trunc(F32, I64, true, true)?,
            O::I64TruncSatF32U => self.trunc(F32, I64, false, true)?,
            O::I64TruncSatF64S => self.trunc(F64, I64, true, true)?,
            O::I64TruncSatF64U => self.trunc(F64, I64, false, true)?,
            O::F32ConvertI32S => self.int_to_float(I32, F32, true)?,
            O::F32ConvertI32U => self.int_to_float(I32, F32, false)?,
            O::F32ConvertI64S => self.int_to_float(I64, F32, true)?,
            O::F32ConvertI64U => self.int_to_float(I64, F32, false)?,
            O::F64ConvertI32S => self.int_to_float(I32, F64, true)?,
            O::F64ConvertI32U => self.int_to_float(I32, F64, false)?,
            O::F64ConvertI64S => self.int_to_float(I64, F64, true)?,
            O::F64ConvertI64U => self.int_to_float(I64, F64, false)?,
            O::F32DemoteF64 => {
                let a = self.pop()?;
                let r = self.fb.conv(a, ScalarKind::Float, 4);
                let r = self.quiet_nan(r, F32);
                self.push(r, F32);
            }
            O::F64PromoteF32 => {
                let a = self.pop()?;
                let r = self.fb.conv(a, ScalarKind::Float, 8);
                let r = self.quiet_nan(r, F64);
                self.push(r, F64);
            }
            O::I32ReinterpretF32 => {
                let a = self.pop()?;
                let r = self.fbits(a, F32);
                self.push(r, I32);
            }
            O::I64ReinterpretF64 => {
                let a = self.pop()?;
                let r = self.fbits(a, F64);
                self.push(r, I64);
            }
            O::F32ReinterpretI32 => {
                let a = self.pop()?;
                let a = self.opaque_bits_add(a, F32);
                let r = self.ffrom(a, F32);
                self.push(r, F32);
            }
            O::F64ReinterpretI64 => {
                let a = self.pop()?;
                let a = self.opaque_bits_add(a, F64);
                let r = self.ffrom(a, F64);
                self.push(r, F64);
            }
            O::CallIndirect { .. } => {
                return Err(Unsupported::new("call_indirect is not supported"))
            }
            O::MemoryGrow { .. } => return Err(Unsupported::new("memory.grow is not supported")),
            other => return Err(unsupported_op(&other)),
        }
        Ok(())
    }
}

/// Which constructs (in opening order) are the target of some branch.
/// Per construct (block, loop, if, in order): whether a branch targets it
/// (else it needs no naga construct), and whether it is a loop small and
/// innermost enough to unroll (no loop inside, at most `UNROLL_MAX_OPS`
/// operators).
fn prescan(ops: &[Operator<'_>]) -> Result<(Vec<bool>, Vec<bool>), Unsupported> {
    let mut targeted = Vec::new();
    let mut unrollable = Vec::new();
    // Open constructs: (construct index, is a loop, first operator index).
    let mut labels: Vec<Option<(usize, bool, usize)>> = vec![None];
    let mark = |labels: &Vec<Option<(usize, bool, usize)>>, targeted: &mut Vec<bool>, d: u32| {
        if let Some(Some((i, _, _))) = labels.len().checked_sub(1 + d as usize).map(|k| labels[k]) {
            targeted[i] = true;
        }
    };
    for (pc, op) in ops.iter().enumerate() {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                let is_loop = matches!(op, Operator::Loop { .. });
                if is_loop {
                    // Loops around this one are not innermost.
                    for (i, _, _) in labels.iter().flatten().filter(|l| l.1) {
                        unrollable[*i] = false;
                    }
                }
                labels.push(Some((targeted.len(), is_loop, pc)));
                targeted.push(false);
                unrollable.push(is_loop);
            }
            Operator::End => {
                if let Some(Some((i, true, start))) = labels.pop() {
                    if pc - start > UNROLL_MAX_OPS {
                        unrollable[i] = false;
                    }
                }
            }
            Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                mark(&labels, &mut targeted, *relative_depth)
            }
            Operator::BrTable { targets } => {
                mark(&labels, &mut targeted, targets.default());
                for t in targets.targets() {
                    mark(&labels, &mut targeted, t.map_err(wasm_err)?);
                }
            }
            _ => {}
        }
    }
    Ok((targeted, unrollable))
}

/// What the final SPIR-V needs from the device.
pub(crate) struct Emitted {
    pub words: Vec<u32>,
    pub uses_int64: bool,
    pub uses_float64: bool,
}

/// Drops unused helpers and types, validates the naga module and writes SPIR-V.
pub(crate) fn emit_spirv(built: Built) -> Result<Emitted, Unsupported> {
    use naga::valid::{Capabilities, ValidationFlags, Validator};
    let mut module = built.module;
    naga::compact::compact(&mut module, naga::compact::KeepUnused::No);
    // Intermediate 64-bit values have no entry in the type arena: rely on
    // what the translator pushed, plus the arena. f64 lowering uses u64.
    let mut uses_float64 = built.uses_f64;
    let mut uses_int64 = built.uses_i64 || uses_float64;
    for (_, ty) in module.types.iter() {
        if let TypeInner::Scalar(s) | TypeInner::Vector { scalar: s, .. } = ty.inner {
            if s.width == 8 {
                match s.kind {
                    ScalarKind::Float => {
                        uses_float64 = true;
                        uses_int64 = true;
                    }
                    _ => uses_int64 = true,
                }
            }
        }
    }
    let mut caps = Capabilities::empty();
    if uses_int64 {
        caps |= Capabilities::SHADER_INT64;
    }
    if uses_float64 {
        caps |= Capabilities::FLOAT64;
    }
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| {
            Unsupported::new(format!(
                "internal translator error: naga rejected the generated module: {}",
                e.emit_to_string("")
            ))
        })?;
    let mut opts = naga::back::spv::Options::default();
    opts.lang_version = (1, 3);
    opts.flags = naga::back::spv::WriterFlags::empty();
    opts.force_loop_bounding = false;
    opts.emit_int_div_checks = false;
    // The only workgroup memory is the loop flags, which every invocation
    // initialises itself: no zeroing (it would add a barrier).
    opts.zero_initialize_workgroup_memory =
        naga::back::spv::ZeroInitializeWorkgroupMemoryMode::None;
    opts.bounds_check_policies = naga::proc::BoundsCheckPolicies::default();
    let pipeline = naga::back::spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: ENTRY_POINT.to_string(),
    };
    let words = naga::back::spv::write_vec(&module, &info, &opts, Some(&pipeline))
        .map_err(|e| Unsupported::new(format!("internal translator error: SPIR-V writer: {e}")))?;
    Ok(Emitted {
        words,
        uses_int64,
        uses_float64,
    })
}
