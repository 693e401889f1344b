//! The helper functions every shader gets: `trap(code)`, the 8/16/32-bit
//! loads from and stores into the arena at any alignment.

use super::builder::{u32_arg, FunctionBuilder};
use super::stack::{insert_word, read_word, write_word};
use super::{Globals, Helpers, Types, H};
use naga::{BinaryOperator as Bo, Block, Function, FunctionResult, Module, Span};

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
/// (80): a kernel with 40 stores lost the 40th and the rest (driver
/// workaround W4, docs/wasi-parallel.md section 2.4).
pub(super) fn build_trap(sh_t: Types, g: Globals) -> Function {
    let mut fb = FunctionBuilder::new("trap", sh_t);
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

/// Word index and bit shift of a byte address.
pub(super) fn word_shift(fb: &mut FunctionBuilder, a: H) -> (H, H) {
    let two = fb.u32(2);
    let three = fb.u32(3);
    let w = fb.bin(Bo::ShiftRight, a, two);
    let low = fb.bin(Bo::And, a, three);
    let s = fb.bin(Bo::ShiftLeft, low, three);
    (w, s)
}

pub(super) fn helper(name: &str, t: Types, nargs: usize, returns: bool) -> FunctionBuilder {
    let mut fb = FunctionBuilder::new(name, t);
    for n in ["addr", "value"].iter().take(nargs) {
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

pub(super) fn build_ld(t: Types, g: Globals, bytes: u32) -> Function {
    let mut fb = helper(&format!("load{}", bytes * 8), t, 1, true);
    let a = fb.arg(0);
    let (w, s) = word_shift(&mut fb, a);
    let lo = read_word(&mut fb, g, w);
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
            let hi = read_word(&mut fb, g, w1);
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
            let hi = read_word(&mut fb, g, w1);
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
/// with two atomics, leaving the other bytes alone (a plain
/// read-modify-write when `w` is in the private stack window).
pub(super) fn atomic_insert(fb: &mut FunctionBuilder, g: Globals, w: H, mask: H, bits: H) {
    insert_word(fb, g, w, mask, bits);
}

pub(super) fn build_st(t: Types, g: Globals, bytes: u32) -> Function {
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
            write_word(&mut fb, g, w, v);
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

/// Adds the trap, load and store helper functions to the module.
pub(super) fn declare_helpers(module: &mut Module, t: Types, g: Globals) -> Helpers {
    let trap_fn = build_trap(t, g);
    let add_fn = |module: &mut Module, f: Function| module.functions.append(f, Span::UNDEFINED);
    Helpers {
        trap: add_fn(module, trap_fn),
        ld8: add_fn(module, build_ld(t, g, 1)),
        ld16: add_fn(module, build_ld(t, g, 2)),
        ld32: add_fn(module, build_ld(t, g, 4)),
        st8: add_fn(module, build_st(t, g, 1)),
        st16: add_fn(module, build_st(t, g, 2)),
        st32: add_fn(module, build_st(t, g, 4)),
    }
}
