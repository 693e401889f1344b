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
//! Why `Private` storage rather than a slice of a scratch storage buffer:
//! a driver already places a dynamically indexed private array in its own
//! scratch memory ("local memory" on NVIDIA, scratch on AMD/Intel), laid
//! out lane-interleaved so that the same offset of neighbouring
//! invocations is one coalesced access, and sized by the waves the GPU
//! actually keeps in flight, which the application cannot know. A scratch
//! buffer of our own would have to be sized by the invocations of a
//! dispatch (window × invocations: gigabytes for large calls) or hand out
//! slots with an atomic per invocation, and would need the interleaved
//! layout by hand to be as fast. On llvmpipe a private array is a
//! per-invocation alloca; its cost is the routing select per access (BENCHMARKS.md, "stack frame" rows). Only the
//! private variant is implemented; the scratch-buffer variant was not
//! built, so there is no lavapipe comparison of the two.

use super::builder::FunctionBuilder;
use super::interface::add_global;
use super::translator::FnTranslator;
use super::{Globals, Types, H};
use crate::spirv::shadow_stack::ShadowStack;
use crate::spirv::trap;
use naga::{
    AddressSpace, ArraySize, AtomicFunction, BinaryOperator as Bo, GlobalVariable, Handle, Module,
    Span, Type, TypeInner, UnaryOperator as Uo,
};

/// The private window of one invocation.
#[derive(Clone, Copy)]
pub(super) struct StackVar {
    pub var: Handle<GlobalVariable>,
    /// The stack pointer global.
    pub global: u32,
    /// First byte of the window and its size in bytes (multiples of 16).
    pub lo: u32,
    pub size: u32,
}

/// Declares the window's private array (none for an empty window).
pub(super) fn declare(module: &mut Module, t: Types, st: Option<ShadowStack>) -> Option<StackVar> {
    let st = st?;
    let words = std::num::NonZeroU32::new(st.size() / 4)?;
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
        var,
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

/// The 32-bit word with index `w` (in bounds) of this invocation's memory.
pub(super) fn read_word(fb: &mut FunctionBuilder, g: Globals, w: H) -> H {
    let p = fb.index(g.arena, w);
    let a = fb.load(p);
    let Some(s) = g.stack else {
        return a;
    };
    let (inside, i) = locate(fb, s, w);
    let q = fb.index(s.var, i);
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
    let q = fb.index(s.var, i);
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
/// in the window.
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
    let q = fb.index(s.var, i);
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
