//! The shadow stack's private window (see `spirv/shadow_stack.rs`).
//!
//! Each invocation keeps the bytes `[lo, top)` of its memory in a private
//! array (`array<u32, (top - lo) / 4>` in the `Private` address space;
//! unspecified contents at the start, like a CPU worker's stack). Addresses stay wasm addresses:
//! the load and store helpers route each 32-bit word by its index, `w`
//! inside the window to `stack[w - lo/4]`, any other to the arena, so a
//! pointer into the stack can be passed around, compared and used like any
//! other, and an access that straddles the window's edge touches each side
//! exactly as the CPU does (`lo` and `top` are multiples of 16, so a word
//! is never split). Stores into `[0, R)` outside the window still stop the
//! invocation with `trap::PRIVATE_WRITE`; the bounds checks are unchanged,
//! so a stack pointer that wraps below 0 (an overflow of a
//! `--stack-first` stack) traps as out of bounds exactly like on the CPU.
//! A stack pointer set below `lo` stops the invocation with
//! `trap::STACK_LIMIT` (the call then runs on the CPU device).
//!
//! Two storages (`TranslateOptions::stack_storage`, see
//! [`StackStorage`]): a `Private` array per invocation (the default), or a
//! slice of a scratch storage buffer (binding `BINDING_SCRATCH`) with one
//! window per invocation of the dispatch, lane-interleaved (word `i` of
//! invocation `s` at `i * n + s`, `n` the dispatch's invocations) or
//! contiguous (at `s * words + i`). Either way the routing is the same; only
//! the element a word `i` of the window maps to differs. On lavapipe the
//! private array is 1.4-3.5x faster per access but compiles slowly past
//! ~1 KiB (capped at 2 KiB), the scratch buffer compiles fast at any size
//! (64 KiB windows); on real GPUs a dynamically indexed private array
//! lives in the driver's interleaved scratch memory anyway. Numbers and the
//! reasoning for the default (`Private`): BENCHMARKS.md, "Kernels with a
//! shadow stack".

use super::builder::FunctionBuilder;
use super::interface::{add_global, global_init};
use super::translator::FnTranslator;
use super::{Globals, Types, H};
use crate::spirv::shadow_stack::ShadowStack;
use crate::spirv::{trap, StackStorage, BINDING_SCRATCH};
use naga::{
    AddressSpace, ArraySize, AtomicFunction, BinaryOperator as Bo, GlobalVariable, Handle, Literal,
    Module, Span, StorageAccess, Type, TypeInner, UnaryOperator as Uo,
};

/// Where the window's words live.
#[derive(Clone, Copy)]
pub(super) enum Storage {
    /// `array<u32, size / 4>` in the `Private` address space.
    Private(Handle<GlobalVariable>),
    /// The scratch buffer `buf`; word `i` of this invocation's window is
    /// element `base + i * step` (`step` absent: 1). `base` and `step` are
    /// private variables the entry point sets.
    Scratch {
        buf: Handle<GlobalVariable>,
        base: Handle<GlobalVariable>,
        step: Option<Handle<GlobalVariable>>,
    },
}

/// The private window of one invocation.
#[derive(Clone, Copy)]
pub(super) struct StackVar {
    pub at: Storage,
    /// The stack pointer global.
    pub global: u32,
    /// First byte of the window and its size in bytes (multiples of 16).
    pub lo: u32,
    pub size: u32,
}

/// Declares the window's storage (none for an empty window).
pub(super) fn declare(
    module: &mut Module,
    t: Types,
    st: Option<ShadowStack>,
    storage: StackStorage,
) -> Option<StackVar> {
    let st = st?;
    let words = std::num::NonZeroU32::new(st.size() / 4)?;
    if storage.is_scratch() {
        let ty = module.types.insert(
            Type {
                name: None,
                inner: TypeInner::Array {
                    base: t.u32,
                    size: ArraySize::Dynamic,
                    stride: 4,
                },
            },
            Span::UNDEFINED,
        );
        let rw = AddressSpace::Storage {
            access: StorageAccess::LOAD | StorageAccess::STORE,
        };
        let buf = add_global(module, "stack_scratch", rw, Some(BINDING_SCRATCH), ty, None);
        let mut private = |name: &str| {
            let z = global_init(module, Literal::U32(0));
            add_global(module, name, AddressSpace::Private, None, t.u32, z)
        };
        let base = private("stack_base");
        let step = (storage == StackStorage::ScratchInterleaved).then(|| private("stack_step"));
        return Some(StackVar {
            at: Storage::Scratch { buf, base, step },
            global: st.global,
            lo: st.lo,
            size: st.size(),
        });
    }
    let ty = module.types.insert(
        Type {
            name: None,
            inner: TypeInner::Array {
                base: t.u32,
                size: ArraySize::Constant(words),
                stride: 4,
            },
        },
        Span::UNDEFINED,
    );
    // No initializer: zeroing costs every invocation a store per word, and
    // llvmpipe spent minutes (in LLVM's coroutine frame pass) compiling a
    // kernel with a zeroed 16 KiB window. The contents at the start are
    // unspecified, as a CPU worker's stack is after earlier iterations.
    let var = add_global(
        module,
        "shadow_stack",
        AddressSpace::Private,
        None,
        ty,
        None,
    );
    Some(StackVar {
        at: Storage::Private(var),
        global: st.global,
        lo: st.lo,
        size: st.size(),
    })
}

/// Whether word `w` lies in the window, and its index there (0 outside).
fn locate(fb: &mut FunctionBuilder, s: StackVar, w: H) -> (H, H) {
    let lo_w = fb.u32(s.lo / 4);
    let words = fb.u32(s.size / 4);
    let d = fb.bin(Bo::Subtract, w, lo_w);
    let inside = fb.bin(Bo::Less, d, words);
    let z = fb.u32(0);
    let i = fb.sel(inside, d, z);
    (inside, i)
}

/// A pointer to word `i` of the window (`i` < size / 4).
fn slot(fb: &mut FunctionBuilder, s: StackVar, i: H) -> H {
    match s.at {
        Storage::Private(var) => fb.index(var, i),
        Storage::Scratch { buf, base, step } => {
            let b = fb.load_global(base);
            let off = match step {
                Some(step) => {
                    let n = fb.load_global(step);
                    fb.bin(Bo::Multiply, i, n)
                }
                None => i,
            };
            let e = fb.bin(Bo::Add, b, off);
            fb.index(buf, e)
        }
    }
}

/// In the entry point: this invocation's place in the scratch buffer, for
/// invocation `linear` of a dispatch of `invocations` (no-op for a private
/// window).
pub(super) fn set_scratch_slot(fb: &mut FunctionBuilder, g: Globals, linear: H, invocations: H) {
    let Some(s) = g.stack else { return };
    let Storage::Scratch { base, step, .. } = s.at else {
        return;
    };
    match step {
        Some(step) => {
            fb.store_global(base, linear);
            fb.store_global(step, invocations);
        }
        None => {
            let words = fb.u32(s.size / 4);
            let b = fb.bin(Bo::Multiply, linear, words);
            fb.store_global(base, b);
        }
    }
}

/// The 32-bit word with index `w` (in bounds) of this invocation's memory.
pub(super) fn read_word(fb: &mut FunctionBuilder, g: Globals, w: H) -> H {
    let p = fb.index(g.arena, w);
    let a = fb.load(p);
    let Some(s) = g.stack else {
        return a;
    };
    let (inside, i) = locate(fb, s, w);
    let q = slot(fb, s, i);
    let v = fb.load(q);
    fb.sel(inside, v, a)
}

/// Stores the whole word `w` (in bounds).
pub(super) fn write_word(fb: &mut FunctionBuilder, g: Globals, w: H, v: H) {
    let Some(s) = g.stack else {
        let p = fb.index(g.arena, w);
        fb.store(p, v);
        return;
    };
    let (inside, i) = locate(fb, s, w);
    fb.open();
    let q = slot(fb, s, i);
    fb.store(q, v);
    let accept = fb.close();
    fb.open();
    let p = fb.index(g.arena, w);
    fb.store(p, v);
    let reject = fb.close();
    fb.if_(inside, accept, reject);
}

/// Sets the bits `mask` of word `w` to `bits` (already shifted, within
/// mask), leaving the other bytes alone: two atomics in the arena (other
/// invocations may write the neighbouring bytes), a plain read-modify-write
/// in the window. Not a plain load plus one atomic xor of the bits that
/// change (one atomic fewer, and lavapipe compiles each atomic as a
/// per-lane loop): when several invocations store to the same byte at once
/// (a racy but common "set a flag" pattern, where wasm keeps one of the
/// stored values), their xors cancel out, e.g. two stores of 1 leave 0
/// (test `gpu_semantics::racing_stores_of_one_value_to_one_byte_keep_it`).
pub(super) fn insert_word(fb: &mut FunctionBuilder, g: Globals, w: H, mask: H, bits: H) {
    let arena = |fb: &mut FunctionBuilder| {
        let p = fb.index(g.arena_atomic, w);
        let nm = fb.un(Uo::BitwiseNot, mask);
        fb.atomic(p, AtomicFunction::And, nm);
        fb.atomic(p, AtomicFunction::InclusiveOr, bits);
    };
    let Some(s) = g.stack else {
        arena(fb);
        return;
    };
    let (inside, i) = locate(fb, s, w);
    fb.open();
    let q = slot(fb, s, i);
    let old = fb.load(q);
    let nm = fb.un(Uo::BitwiseNot, mask);
    let kept = fb.bin(Bo::And, old, nm);
    let new = fb.bin(Bo::InclusiveOr, kept, bits);
    fb.store(q, new);
    let accept = fb.close();
    fb.open();
    arena(fb);
    let reject = fb.close();
    fb.if_(inside, accept, reject);
}

impl<'s, 'a> FnTranslator<'s, 'a> {
    /// For a store of `bytes` at `ea`: whether it writes into `[0, R)`
    /// outside the window (shared between invocations on a GPU).
    pub(super) fn shared_region_store(&mut self, ea: H, bytes: u32) -> H {
        let r = self.sh.region_size.min(u32::MAX as u64) as u32;
        let below = if self.sh.region_size > u32::MAX as u64 {
            self.fb.bool(true)
        } else {
            let r = self.fb.u32(r);
            self.fb.bin(Bo::Less, ea, r)
        };
        let Some(s) = self.sh.g.stack else {
            return below;
        };
        // Wholly inside the window: `ea - lo <= size - bytes` (unsigned).
        let lo = self.fb.u32(s.lo);
        let room = self.fb.u32(s.size - bytes);
        let d = self.fb.bin(Bo::Subtract, ea, lo);
        let outside = self.fb.bin(Bo::Greater, d, room);
        self.fb.bin(Bo::LogicalAnd, below, outside)
    }

    /// After `global.set` of the stack pointer to `v`: a value below the
    /// window (but not wrapped past 0, which the bounds checks catch like
    /// on the CPU) stops the invocation with `trap::STACK_LIMIT`.
    pub(super) fn stack_pointer_set(&mut self, global: u32, v: H) {
        let Some(s) = self.sh.g.stack else {
            return;
        };
        if global != s.global || s.lo == 0 {
            return;
        }
        let lo = self.fb.u32(s.lo);
        let below = self.fb.bin(Bo::Less, v, lo);
        self.trap_if(below, trap::STACK_LIMIT);
    }
}
