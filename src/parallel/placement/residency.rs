//! Where a buffer's bytes live: one copy per device that has needed it, and
//! which of those copies hold the current contents.
//!
//! A buffer starts with one copy, on the device it was created for, which
//! is valid. A call on device `d` makes the buffer resident there
//! ([`Copies::make_resident`]: a new copy if `d` has none, the bytes copied
//! from a valid copy when `d`'s is stale) and afterwards, when the call may
//! have written it, `d`'s copy is the only valid one ([`Copies::wrote_on`]).
//! `write_buffer` writes every valid copy (they stay valid; the stale ones
//! stay stale), `read_buffer` reads a valid one. Copies go through host
//! memory: the source device's `read` into a scratch vector, the target
//! device's `write` from it.

use crate::parallel::device::{Device, DeviceBuffer};
use crate::parallel::errno::{ParError, ParResult};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most devices a runtime may have (validity is a bit set).
pub const MAX_DEVICES: usize = 64;

/// A buffer's copies on the runtime's devices.
pub struct Copies {
    /// By device index; `None`: no copy there (yet).
    copies: Vec<Option<Box<dyn DeviceBuffer>>>,
    /// Bit `d`: the copy on device `d` holds the current contents.
    valid: u64,
    /// Its size in bytes (every copy has it).
    size: u64,
}

/// One copy made by [`Copies::make_resident`] (for the cost model).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Move {
    /// The device the bytes came from.
    pub from: usize,
    /// The device they went to.
    pub to: usize,
    /// How many.
    pub bytes: u64,
    /// How long it took.
    pub time: Duration,
}

impl Copies {
    /// A buffer whose only copy, `storage`, is on device `device` (of
    /// `num_devices`), valid.
    pub fn new(device: usize, storage: Box<dyn DeviceBuffer>, num_devices: usize) -> Copies {
        let size = storage.size();
        let mut copies: Vec<Option<Box<dyn DeviceBuffer>>> =
            (0..num_devices.max(device + 1)).map(|_| None).collect();
        copies[device] = Some(storage);
        Copies {
            copies,
            valid: 1 << device,
            size,
        }
    }

    /// The buffer's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The copy on device `d`, if there is one (valid or not).
    pub fn on(&self, d: usize) -> Option<&dyn DeviceBuffer> {
        self.copies.get(d)?.as_deref()
    }

    /// Whether the copy on `d` exists and holds the current contents.
    pub fn is_valid_on(&self, d: usize) -> bool {
        d < MAX_DEVICES && self.valid & (1 << d) != 0
    }

    /// The devices whose copies are valid, lowest index first.
    pub fn valid_devices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.copies.len()).filter(|&d| self.is_valid_on(d))
    }

    /// The device a copy to `to` would read from: a valid copy, preferring
    /// `prefer` (the host-side device, whose reads are plain memory copies).
    pub fn source_for(&self, prefer: usize) -> usize {
        if self.is_valid_on(prefer) {
            return prefer;
        }
        self.valid_devices()
            .next()
            .expect("a buffer always has a valid copy")
    }

    /// Makes the buffer's current contents available on device `to`:
    /// allocates a copy there if it has none and copies the bytes from a
    /// valid copy (read from `prefer` when it is valid) if `to`'s is stale.
    /// `to`'s copy is valid afterwards; the others keep their state. Returns
    /// the copy made, if any. On an error nothing changed but a new,
    /// still-stale copy on `to` may remain.
    pub fn make_resident(
        &mut self,
        to: usize,
        devices: &[Arc<dyn Device>],
        prefer: usize,
        scratch: &mut Vec<u8>,
    ) -> ParResult<Option<Move>> {
        if to >= MAX_DEVICES || to >= devices.len() {
            return Err(ParError::device_error(format!("no device {to}")));
        }
        if self.copies.len() <= to {
            self.copies.resize_with(to + 1, || None);
        }
        if self.is_valid_on(to) {
            return Ok(None);
        }
        let t = Instant::now();
        if self.copies[to].is_none() {
            self.copies[to] = Some(devices[to].create_buffer(self.size)?);
        }
        let from = self.source_for(prefer);
        let len = self.size as usize;
        scratch.clear();
        scratch.resize(len, 0);
        let src = self.copies[from].as_deref().expect("valid copies exist");
        devices[from].read(src, scratch)?;
        let dst = self.copies[to].as_deref().expect("allocated above");
        devices[to].write(dst, scratch)?;
        self.valid |= 1 << to;
        Ok(Some(Move {
            from,
            to,
            bytes: self.size,
            time: t.elapsed(),
        }))
    }

    /// After a call on `d` that may have written the buffer: `d`'s copy is
    /// the only valid one.
    pub fn wrote_on(&mut self, d: usize) {
        debug_assert!(self.on(d).is_some());
        self.valid = 1 << d;
    }

    /// `write_buffer`: `data` into the start of every valid copy. When a
    /// device fails, the copies written before it stay the valid ones (so
    /// no copy claims contents it does not hold); the error is returned.
    pub fn write(&mut self, devices: &[Arc<dyn Device>], data: &[u8]) -> ParResult<()> {
        let mut written = 0u64;
        // The valid set as it was (it changes only on the way out), not
        // collected into a list: no allocation per write.
        let valid = self.valid;
        for (d, copy) in self.copies.iter().enumerate().take(MAX_DEVICES) {
            if valid & (1 << d) == 0 {
                continue;
            }
            let copy = copy.as_deref().expect("valid copies exist");
            if let Err(e) = devices[d].write(copy, data) {
                if written != 0 {
                    self.valid = written;
                }
                return Err(e);
            }
            written |= 1 << d;
        }
        Ok(())
    }

    /// `read_buffer`: the first `out.len()` bytes of a valid copy (from
    /// `prefer` when its copy is valid).
    pub fn read(
        &self,
        devices: &[Arc<dyn Device>],
        prefer: usize,
        out: &mut [u8],
    ) -> ParResult<()> {
        let d = self.source_for(prefer);
        let copy = self.copies[d].as_deref().expect("valid copies exist");
        devices[d].read(copy, out)
    }
}
