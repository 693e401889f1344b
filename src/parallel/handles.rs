//! Per-instance handle tables.
//!
//! Handle values come from one process-wide counter passed through a
//! bijective scramble, so a value is handed out at most once per 2^32
//! allocations: a handle of another instance is never in this instance's
//! table (it resolves to `invalid_handle`), and small forged integers are
//! unlikely to be valid. There is no call that frees a handle, so a handle
//! never goes stale within its instance.

use super::placement::residency::Copies;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

/// The `buffer_access_kind` enum of the ABI.
#[repr(i32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BufferAccess {
    /// Kernels only read the buffer.
    Read = 0,
    /// Kernels only write the buffer.
    Write = 1,
    /// Kernels read and write the buffer.
    ReadWrite = 2,
}

impl BufferAccess {
    /// The access kind for an ABI value, if valid.
    pub fn from_raw(v: i32) -> Option<BufferAccess> {
        Some(match v {
            0 => BufferAccess::Read,
            1 => BufferAccess::Write,
            2 => BufferAccess::ReadWrite,
            _ => return None,
        })
    }
}

/// A buffer as the instance knows it.
pub struct BufferEntry {
    /// Index of the device whose handle created it (the device calls name).
    pub device: usize,
    /// How kernels use it.
    pub access: BufferAccess,
    /// Its storage: a copy per device that has needed it, and which are
    /// current (see [`crate::parallel::placement::residency`]).
    pub copies: Copies,
}

/// What a handle refers to.
pub enum Entry {
    /// A device, by index in the runtime.
    Device(usize),
    /// A buffer.
    Buffer(BufferEntry),
}

/// A fresh handle value, never 0 and never repeated (within 2^32 - 1 calls).
fn next_handle() -> u32 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    loop {
        let c = COUNTER.fetch_add(1, Ordering::Relaxed);
        // A bijection on u32: multiply by an odd constant, xor-shift, add.
        let mut x = c.wrapping_mul(0x9E37_79B1);
        x ^= x >> 15;
        x = x.wrapping_mul(0x85EB_CA77);
        x ^= x >> 13;
        let h = x.wrapping_add(0x2545_F491);
        if h != 0 {
            return h;
        }
    }
}

/// Hashes a handle with one multiplication. Handles are chosen here (a
/// bijection of a counter, already well mixed), never by the guest, so the
/// SipHash of the default hasher bought nothing but time: a `parallel_exec`
/// looks handles up a dozen times.
#[derive(Default)]
struct HandleHasher(u64);

impl std::hash::Hasher for HandleHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }
    fn write_u64(&mut self, v: u64) {
        // Fibonacci hashing: the high bits (which the table uses too)
        // depend on every bit of `v`.
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The handles of one instance.
#[derive(Default)]
pub struct HandleTable {
    entries: HashMap<u32, Entry, std::hash::BuildHasherDefault<HandleHasher>>,
}

impl HandleTable {
    /// Adds `entry` and returns its new handle.
    pub fn insert(&mut self, entry: Entry) -> u32 {
        loop {
            let h = next_handle();
            if let std::collections::hash_map::Entry::Vacant(v) = self.entries.entry(h) {
                v.insert(entry);
                return h;
            }
        }
    }

    /// The entry of `handle`, if this instance handed it out.
    pub fn get(&self, handle: u32) -> Option<&Entry> {
        self.entries.get(&handle)
    }

    /// The device index of `handle`, if it is a device handle.
    pub fn device(&self, handle: u32) -> Option<usize> {
        match self.entries.get(&handle) {
            Some(Entry::Device(i)) => Some(*i),
            _ => None,
        }
    }

    /// The buffer of `handle`, if it is a buffer handle.
    pub fn buffer(&self, handle: u32) -> Option<&BufferEntry> {
        match self.entries.get(&handle) {
            Some(Entry::Buffer(b)) => Some(b),
            _ => None,
        }
    }

    /// The buffer of `handle`, mutable, if it is a buffer handle.
    pub fn buffer_mut(&mut self, handle: u32) -> Option<&mut BufferEntry> {
        match self.entries.get_mut(&handle) {
            Some(Entry::Buffer(b)) => Some(b),
            _ => None,
        }
    }

    /// Number of handles.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_unique_and_nonzero() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10000 {
            let h = next_handle();
            assert_ne!(h, 0);
            assert!(seen.insert(h));
        }
    }
}
