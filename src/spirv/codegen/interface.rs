//! The shader interface: types, resources (the bindings), private and
//! workgroup state, one private variable per wasm global, and the compute
//! entry point that sets the state up and calls the kernel function.

use super::builder::FunctionBuilder;
use super::{Globals, Shared, Types, H};
use crate::spirv::analyze::{KernelModule, Ty};
use crate::spirv::ENTRY_POINT;
use crate::spirv::{param, BINDING_ARENA, BINDING_ARENA_ATOMIC, BINDING_CONTROL, BINDING_PARAMS};
use naga::{
    AddressSpace, ArraySize, AtomicFunction, BinaryOperator as Bo, Binding, Block, BuiltIn,
    Expression, Function, FunctionArgument, GlobalVariable, Handle, Literal, Module,
    ResourceBinding, Scalar, Span, StorageAccess, Type, TypeInner, UnaryOperator as Uo,
};

pub(super) fn scalar_ty(module: &mut Module, s: Scalar) -> Handle<Type> {
    module.types.insert(
        Type {
            name: None,
            inner: TypeInner::Scalar(s),
        },
        Span::UNDEFINED,
    )
}

pub(super) fn add_global(
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

/// In the entry, after the kernel function returned: a trapped invocation
/// publishes its code. Control word 0 keeps the largest code
/// (deterministic, and the driver-limit code, the largest, wins, so such a
/// call is always retried elsewhere); word 1 the smallest trapping
/// iteration.
pub(super) fn publish_trap(fb: &mut FunctionBuilder, g: Globals) {
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

pub(super) fn build_entry(
    sh: &Shared,
    kernel: Handle<Function>,
    num_buffers: usize,
    workgroup_size: u32,
) -> Function {
    let t = sh.t;
    let g = sh.g;
    let mut fb = FunctionBuilder::new(ENTRY_POINT, t);
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
    let param = |fb: &mut FunctionBuilder, i: usize| {
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
    let ny = fb.expr(Expression::AccessIndex {
        base: nwg,
        index: 1,
    });
    let invocations = fb.bin(Bo::Multiply, row, ny);
    super::stack::set_scratch_slot(&mut fb, g, linear, invocations);
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

/// A private variable's initializer.
pub(super) fn global_init(module: &mut Module, l: Literal) -> Option<H> {
    Some(
        module
            .global_expressions
            .append(Expression::Literal(l), Span::UNDEFINED),
    )
}

/// The scalar and vector types every shader uses.
pub(super) fn declare_types(module: &mut Module) -> Types {
    let u32_t = scalar_ty(module, Scalar::U32);
    Types {
        u32: u32_t,
        u64: scalar_ty(module, Scalar::U64),
        f32: scalar_ty(module, Scalar::F32),
        f64: scalar_ty(module, Scalar::F64),
        bool: scalar_ty(module, Scalar::BOOL),
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
        vec4u: module.types.insert(
            Type {
                name: None,
                inner: TypeInner::Vector {
                    size: naga::VectorSize::Quad,
                    scalar: Scalar::U32,
                },
            },
            Span::UNDEFINED,
        ),
    }
}

/// The shader's resources (the bindings of `mod.rs`) and its private and
/// workgroup state.
pub(super) fn declare_globals(module: &mut Module, t: Types, workgroup_size: u32) -> Globals {
    let u32_t = t.u32;
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
    let arr_u32 = arr(module, u32_t);
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
    let arr_atomic = arr(module, atomic_u32);
    let rw = AddressSpace::Storage {
        access: StorageAccess::LOAD | StorageAccess::STORE,
    };
    let ro = AddressSpace::Storage {
        access: StorageAccess::LOAD,
    };
    let z = global_init(module, Literal::U32(0));
    let f = global_init(module, Literal::Bool(false));
    Globals {
        arena: add_global(module, "memory", rw, Some(BINDING_ARENA), arr_u32, None),
        arena_atomic: add_global(
            module,
            "memory_atomic",
            rw,
            Some(BINDING_ARENA_ATOMIC),
            arr_atomic,
            None,
        ),
        params: add_global(module, "params", ro, Some(BINDING_PARAMS), arr_u32, None),
        control: add_global(
            module,
            "control",
            rw,
            Some(BINDING_CONTROL),
            arr_atomic,
            None,
        ),
        mem_size: add_global(module, "mem_size", AddressSpace::Private, None, u32_t, z),
        fuel: add_global(module, "fuel", AddressSpace::Private, None, u32_t, z),
        trapped: add_global(module, "trapped", AddressSpace::Private, None, t.bool, f),
        trap_code: add_global(module, "trap_code", AddressSpace::Private, None, u32_t, z),
        iteration: add_global(module, "iteration", AddressSpace::Private, None, u32_t, z),
        sentinel: add_global(module, "sentinel", AddressSpace::Private, None, u32_t, z),
        zero: add_global(module, "zero", AddressSpace::Private, None, u32_t, z),
        loop_flags: add_global(
            module,
            "loop_flags",
            AddressSpace::WorkGroup,
            None,
            flags_ty,
            None,
        ),
        lane: add_global(module, "lane", AddressSpace::Private, None, u32_t, z),
        stack: None,
    }
}

/// One private variable per wasm global, holding its raw bits.
pub(super) fn declare_wasm_globals(
    module: &mut Module,
    km: &KernelModule<'_>,
    t: Types,
) -> Vec<(Handle<GlobalVariable>, Ty)> {
    let mut wasm_globals = Vec::new();
    for (i, gl) in km.globals.iter().enumerate() {
        let (ty, l) = if gl.ty.is_64() {
            (t.u64, Literal::U64(gl.init_bits))
        } else {
            (t.u32, Literal::U32(gl.init_bits as u32))
        };
        let init = global_init(module, l);
        let h = add_global(
            module,
            &format!("global{i}"),
            AddressSpace::Private,
            None,
            ty,
            init,
        );
        wasm_globals.push((h, gl.ty));
    }
    wasm_globals
}
