//! SIMD memory operators: `v128.load`/`store`, the extending loads,
//! `load*_splat`, `load*_zero`, `load*_lane` and `store*_lane`, with the
//! bounds checks and trap rules of the scalar accesses (`memory.rs`): a
//! trapped load reads address 0, a trapped store writes nothing. Every
//! word goes through `stack.rs`'s `read_word`/`write_word`/`insert_word`,
//! so a `v128` access to the shadow stack's window touches this
//! invocation's private copy, as the scalar accesses do.

use super::simd::Lanes;
use super::stack::{read_word, write_word};
use super::translator::FnTranslator;
use super::H;
use crate::spirv::analyze::Ty;
use crate::spirv::Unsupported;
use naga::{BinaryOperator as Bo, Block, ScalarKind};
use wasmparser::{MemArg, Operator};

impl<'s, 'a> FnTranslator<'s, 'a> {
    pub(super) fn visit_simd_memory<'o>(
        &mut self,
        op: Operator<'o>,
    ) -> Result<Option<Operator<'o>>, Unsupported> {
        use Lanes as L;
        use Operator as O;
        match op {
            O::V128Load { memarg } => {
                let w = self.load_words(&memarg, 16)?;
                let v = self.compose(w);
                self.push(v, Ty::V128);
            }
            O::V128Load8x8S { memarg } => self.load_extend(&memarg, L::I8, true)?,
            O::V128Load8x8U { memarg } => self.load_extend(&memarg, L::I8, false)?,
            O::V128Load16x4S { memarg } => self.load_extend(&memarg, L::I16, true)?,
            O::V128Load16x4U { memarg } => self.load_extend(&memarg, L::I16, false)?,
            O::V128Load32x2S { memarg } => self.load_extend(&memarg, L::I32, true)?,
            O::V128Load32x2U { memarg } => self.load_extend(&memarg, L::I32, false)?,
            O::V128Load8Splat { memarg } => self.load_splat(&memarg, L::I8)?,
            O::V128Load16Splat { memarg } => self.load_splat(&memarg, L::I16)?,
            O::V128Load32Splat { memarg } => self.load_splat(&memarg, L::I32)?,
            O::V128Load64Splat { memarg } => self.load_splat(&memarg, L::I64)?,
            O::V128Load32Zero { memarg } | O::V128Load64Zero { memarg } => {
                let bytes = if matches!(op, O::V128Load32Zero { .. }) {
                    4
                } else {
                    8
                };
                let mut w = self.load_words(&memarg, bytes)?;
                let z = self.fb.u32(0);
                w.resize(4, z);
                let v = self.compose(w);
                self.push(v, Ty::V128);
            }
            O::V128Load8Lane { memarg, lane } => self.load_lane(&memarg, L::I8, lane)?,
            O::V128Load16Lane { memarg, lane } => self.load_lane(&memarg, L::I16, lane)?,
            O::V128Load32Lane { memarg, lane } => self.load_lane(&memarg, L::I32, lane)?,
            O::V128Load64Lane { memarg, lane } => self.load_lane(&memarg, L::I64, lane)?,
            O::V128Store { memarg } => {
                let v = self.pop()?;
                let base = self.pop()?;
                let aligned = self.address_aligned(base, &memarg);
                let (ea, bad) = self.effective(base, &memarg, 16, true)?;
                self.fb.open();
                if aligned {
                    self.store_words(ea, v);
                } else {
                    self.store_unaligned(ea, v);
                }
                let reject = self.fb.close();
                self.fb.if_(bad, Block::new(), reject);
            }
            O::V128Store8Lane { memarg, lane } => self.store_lane(&memarg, L::I8, lane)?,
            O::V128Store16Lane { memarg, lane } => self.store_lane(&memarg, L::I16, lane)?,
            O::V128Store32Lane { memarg, lane } => self.store_lane(&memarg, L::I32, lane)?,
            O::V128Store64Lane { memarg, lane } => self.store_lane(&memarg, L::I64, lane)?,
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// The four words of `v` at `ea`, a multiple of 4 known in bounds:
    /// whole-word stores, each routed to the shadow stack's window or the
    /// arena by `write_word` (a plain store when the kernel has no stack),
    /// not the helper's atomics (which llvmpipe turns into a loop over the
    /// lanes each: shaders with vectorised loops took minutes to compile).
    fn store_words(&mut self, ea: H, v: H) {
        let two = self.fb.u32(2);
        let w0 = self.fb.bin(Bo::ShiftRight, ea, two);
        for i in 0..4 {
            let wi = self.offset_by(w0, i);
            let x = self.word(v, i);
            write_word(&mut self.fb, self.sh.g, wi, x);
        }
    }

    /// The four words of `v` at `ea` (known in bounds), any alignment: one
    /// test; aligned, four whole-word stores; else the 16 bytes cover three
    /// whole words (whole-word stores) and parts of two (atomic inserts, as
    /// the scalar helper does; all five routed like `store_words`), rather than four helper calls with two atomic
    /// inserts each (which took lavapipe minutes to compile in an unrolled
    /// loop).
    fn store_unaligned(&mut self, ea: H, v: H) {
        let three = self.fb.u32(3);
        let low = self.fb.bin(Bo::And, ea, three);
        let zero = self.fb.u32(0);
        let is_aligned = self.fb.bin(Bo::Equal, low, zero);
        self.fb.open();
        self.store_words(ea, v);
        let accept = self.fb.close();
        self.fb.open();
        let two = self.fb.u32(2);
        let w0 = self.fb.bin(Bo::ShiftRight, ea, two);
        let s = self.fb.bin(Bo::ShiftLeft, low, three);
        let c32 = self.fb.u32(32);
        let rs = self.fb.bin(Bo::Subtract, c32, s);
        let all = self.fb.u32(u32::MAX);
        let x: Vec<H> = (0..4).map(|i| self.word(v, i)).collect();
        let m0 = self.fb.bin(Bo::ShiftLeft, all, s);
        let b0 = self.fb.bin(Bo::ShiftLeft, x[0], s);
        super::helper_fns::atomic_insert(&mut self.fb, self.sh.g, w0, m0, b0);
        for k in 1..4 {
            let hi = self.fb.bin(Bo::ShiftLeft, x[k], s);
            let lo = self.fb.bin(Bo::ShiftRight, x[k - 1], rs);
            let word = self.fb.bin(Bo::InclusiveOr, hi, lo);
            let wk = self.offset_by(w0, k as u32);
            write_word(&mut self.fb, self.sh.g, wk, word);
        }
        let w4 = self.offset_by(w0, 4);
        let m4 = self.fb.bin(Bo::ShiftRight, all, rs);
        let b4 = self.fb.bin(Bo::ShiftRight, x[3], rs);
        super::helper_fns::atomic_insert(&mut self.fb, self.sh.g, w4, m4, b4);
        let reject = self.fb.close();
        self.fb.if_(is_aligned, accept, reject);
    }

    /// `ea + k` (`ea` itself for 0).
    fn offset_by(&mut self, ea: H, k: u32) -> H {
        if k == 0 {
            ea
        } else {
            let c = self.fb.u32(k);
            self.fb.bin(Bo::Add, ea, c)
        }
    }

    /// Pops the address and loads `bytes` (1, 2, 4, 8 or 16) bounds-checked:
    /// one zero-extended value for 1 and 2 bytes, else the 32-bit words.
    fn load_words(&mut self, m: &MemArg, bytes: u32) -> Result<Vec<H>, Unsupported> {
        let base = self.pop()?;
        let aligned = self.address_aligned(base, m);
        let (ea, _) = self.effective(base, m, bytes, false)?;
        let h = self.sh.h;
        Ok(match bytes {
            1 => vec![self.ld(h.ld8, ea)?],
            2 => vec![self.ld(h.ld16, ea)?],
            4 => vec![self.load32(ea, aligned)?],
            _ => self.load_span(ea, bytes / 4, aligned),
        })
    }

    /// `n` (2 or 4) words at `ea` (known in bounds), without the helper's
    /// branch per word (which made lavapipe compile vectorised loops for a
    /// minute): the words covering the access, each read once (the last
    /// one clamped to the first where the access is aligned, so nothing
    /// past it is read) through `read_word` (branch-free: the shadow
    /// stack's window or the arena), funnel-shifted by the misalignment.
    fn load_span(&mut self, ea: H, n: u32, aligned: bool) -> Vec<H> {
        let two = self.fb.u32(2);
        let w0 = self.fb.bin(Bo::ShiftRight, ea, two);
        let mut raw = Vec::new();
        for k in 0..n {
            let wk = self.offset_by(w0, k);
            raw.push(read_word(&mut self.fb, self.sh.g, wk));
        }
        if aligned {
            return raw;
        }
        let three = self.fb.u32(3);
        let low = self.fb.bin(Bo::And, ea, three);
        let s = self.fb.bin(Bo::ShiftLeft, low, three);
        let zero = self.fb.u32(0);
        let is_aligned = self.fb.bin(Bo::Equal, s, zero);
        // Word n only when the access straddles it (else word 0 again).
        let wn = self.offset_by(w0, n);
        let wn = self.fb.sel(is_aligned, w0, wn);
        raw.push(read_word(&mut self.fb, self.sh.g, wn));
        // `x << 32` is undefined: shift the high word by 31 - s, then 1.
        let c31 = self.fb.u32(31);
        let one = self.fb.u32(1);
        let rs1 = self.fb.bin(Bo::Subtract, c31, s);
        (0..n as usize)
            .map(|k| {
                let lo = self.fb.bin(Bo::ShiftRight, raw[k], s);
                let hi = self.fb.bin(Bo::ShiftLeft, raw[k + 1], rs1);
                let hi = self.fb.bin(Bo::ShiftLeft, hi, one);
                self.fb.bin(Bo::InclusiveOr, lo, hi)
            })
            .collect()
    }

    /// `v128.load{8x8,16x4,32x2}_{s,u}`: 8 bytes of `from` lanes, widened.
    fn load_extend(&mut self, m: &MemArg, from: Lanes, signed: bool) -> Result<(), Unsupported> {
        let mut w = self.load_words(m, 8)?;
        let z = self.fb.u32(0);
        w.resize(4, z);
        let v = self.compose(w);
        let n = from.count() / 2;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let x = self.lane(v, from, i, signed);
            out.push(match (from, signed) {
                (Lanes::I32, true) => self.sext64(x),
                (Lanes::I32, false) => self.fb.conv(x, ScalarKind::Uint, 8),
                _ => x,
            });
        }
        let to = match from {
            Lanes::I8 => Lanes::I16,
            Lanes::I16 => Lanes::I32,
            _ => Lanes::I64,
        };
        self.push_lanes(&out, to);
        Ok(())
    }

    /// One lane's worth of bytes as the lane's scalar (`u32`, or `u64` for
    /// 64-bit lanes).
    fn load_scalar(&mut self, m: &MemArg, l: Lanes) -> Result<H, Unsupported> {
        let w = self.load_words(m, l.bits() / 8)?;
        Ok(if l == Lanes::I64 {
            self.join64(w[0], w[1])
        } else {
            w[0]
        })
    }

    fn load_splat(&mut self, m: &MemArg, l: Lanes) -> Result<(), Unsupported> {
        let x = self.load_scalar(m, l)?;
        let lanes = vec![x; l.count()];
        self.push_lanes(&lanes, l);
        Ok(())
    }

    fn load_lane(&mut self, m: &MemArg, l: Lanes, lane: u8) -> Result<(), Unsupported> {
        let v = self.pop()?;
        let x = self.load_scalar(m, l)?;
        let mut lanes = self.lanes(v, l, false);
        lanes[lane as usize % l.count()] = x;
        self.push_lanes(&lanes, l);
        Ok(())
    }

    fn store_lane(&mut self, m: &MemArg, l: Lanes, lane: u8) -> Result<(), Unsupported> {
        let v = self.pop()?;
        let base = self.pop()?;
        let x = self.lane(v, l, lane as usize % l.count(), false);
        let bytes = l.bits() / 8;
        let (ea, bad) = self.effective(base, m, bytes, true)?;
        self.fb.open();
        self.store_bits(ea, x, bytes, l.scalar());
        let reject = self.fb.close();
        self.fb.if_(bad, Block::new(), reject);
        Ok(())
    }
}
