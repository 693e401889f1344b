//! Memory access: effective addresses with the bounds and private-region
//! checks, loads and stores through the helper functions.

use super::stack::read_word;
use super::translator::FnTranslator;
use super::H;
use crate::spirv::analyze::Ty;
use crate::spirv::{trap, Unsupported};
use naga::{BinaryOperator as Bo, Block, Handle, ScalarKind};
use wasmparser::MemArg;

impl<'s, 'a> FnTranslator<'s, 'a> {
    /// Effective address with the bounds (and private-region) checks, and
    /// the condition under which the access must not happen (it trapped).
    /// For loads the address is already replaced by 0 then (in bounds: the
    /// arena has at least 16 bytes); stores skip the write on that condition.
    pub(super) fn effective(
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
            let private = self.shared_region_store(ea, size);
            self.trap_if(private, trap::PRIVATE_WRITE);
            oob = self.fb.bin(Bo::LogicalOr, oob, private);
        }
        Ok((ea, oob))
    }

    pub(super) fn ld(&mut self, f: Handle<naga::Function>, ea: H) -> Result<H, Unsupported> {
        self.fb
            .call(f, vec![ea], true)
            .ok_or_else(|| Unsupported::new("internal: load without result"))
    }

    /// The word at `ea`, a multiple of 4 known in bounds.
    pub(super) fn load_word(&mut self, ea: H) -> H {
        let two = self.fb.u32(2);
        let w = self.fb.bin(Bo::ShiftRight, ea, two);
        read_word(&mut self.fb, self.sh.g, w)
    }

    /// 32 bits at `ea` (in bounds): one word when `ea` is known to be a
    /// multiple of 4, else the helper that handles any alignment.
    pub(super) fn load32(&mut self, ea: H, aligned: bool) -> Result<H, Unsupported> {
        if aligned {
            Ok(self.load_word(ea))
        } else {
            self.ld(self.sh.h.ld32, ea)
        }
    }

    /// Whether the effective address `base + offset` is known to be a
    /// multiple of 4.
    pub(super) fn address_aligned(&self, base: H, m: &MemArg) -> bool {
        self.is_aligned(base) && m.offset % 4 == 0
    }

    pub(super) fn load(
        &mut self,
        m: &MemArg,
        bytes: u32,
        t: Ty,
        signed: bool,
    ) -> Result<(), Unsupported> {
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
                    self.ffrom(v)
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
                    Ty::F32 => self.ffrom(v),
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

    pub(super) fn store(&mut self, m: &MemArg, bytes: u32, t: Ty) -> Result<(), Unsupported> {
        let v = self.pop()?;
        let base = self.pop()?;
        let (ea, bad) = self.effective(base, m, bytes, true)?;
        let bits = match t {
            Ty::F32 | Ty::F64 => self.fbits(v),
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
    pub(super) fn store_bits(&mut self, ea: H, bits: H, bytes: u32, t: Ty) {
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
}
