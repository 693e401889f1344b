//! SIMD memory operators: `v128.load`/`store`, the extending loads,
//! `load*_splat`, `load*_zero`, `load*_lane` and `store*_lane`, with the
//! bounds checks and trap rules of the scalar accesses (`memory.rs`): a
//! trapped load reads address 0, a trapped store writes nothing.

use super::simd::Lanes;
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
                let (ea, bad) = self.effective(base, &memarg, 16, true)?;
                self.fb.open();
                for i in 0..4 {
                    let w = self.word(v, i);
                    let a = self.offset_by(ea, 4 * i);
                    self.store_bits(a, w, 4, Ty::I32);
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
            _ => {
                let mut words = Vec::new();
                for i in 0..bytes / 4 {
                    let a = self.offset_by(ea, 4 * i);
                    words.push(self.load32(a, aligned)?);
                }
                words
            }
        })
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
