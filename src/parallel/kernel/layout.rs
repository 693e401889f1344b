//! Placement of a call's buffers in the kernel's linear memory (ABI section 2).
//!
//! The rule, shared by every device (the Vulkan device uses it too):
//! - the buffers of a call are deduplicated in first-occurrence order (input
//!   list, then output list);
//! - the first distinct buffer starts at `R` (the kernel's own region, the
//!   declared minimum of its memory import, a multiple of 64 KiB);
//! - each next buffer starts at the end of the previous one rounded up to
//!   4096 bytes (so every buffer is page aligned, hence 16-byte aligned);
//! - every occurrence of a buffer gets the same `(ptr, len = buffer size)`;
//! - the memory's total size is the end of the last buffer rounded up to
//!   65536 bytes (whole wasm pages), and must fit a 32-bit memory.

use super::super::errno::{ParError, ParResult};
use smallvec::SmallVec;

/// A call's buffers inline, up to this many without an allocation (a
/// `parallel_exec` per call allocated one list per step before).
pub const INLINE_BUFFERS: usize = 8;
/// A list of one call's buffers (or their occurrences).
pub type PerBuffer<T> = SmallVec<[T; INLINE_BUFFERS]>;

/// Alignment of each buffer inside the kernel's memory.
pub const BUFFER_ALIGN: u64 = 4096;
pub use crate::kernel_abi::{MAX_MEMORY, WASM_PAGE};

/// One distinct buffer of a call and where it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Index of the first occurrence in the call's list (inputs then outputs).
    pub first_occurrence: usize,
    /// Byte offset in the kernel's memory.
    pub offset: u64,
    /// Buffer size in bytes.
    pub len: u64,
}

/// The memory layout of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Size of the kernel's private region `[0, R)`.
    pub private_size: u64,
    /// Distinct buffers in first-occurrence order.
    pub placements: PerBuffer<Placement>,
    /// For each occurrence (inputs then outputs): index into `placements`.
    pub occurrence: PerBuffer<usize>,
    /// Total memory size in bytes (a multiple of 65536, at most 4 GiB).
    pub total_size: u64,
}

impl Layout {
    /// Computes the layout for private size `r` and the call's buffers given
    /// as `(key, size)` in occurrence order; equal keys are the same buffer.
    pub fn compute<K: PartialEq>(r: u64, buffers: &[(K, u64)]) -> ParResult<Layout> {
        let mut placements: PerBuffer<Placement> = PerBuffer::new();
        let mut occurrence = PerBuffer::with_capacity(buffers.len());
        let mut next = r;
        for (i, (key, size)) in buffers.iter().enumerate() {
            if let Some(p) = placements
                .iter()
                .position(|p| buffers[p.first_occurrence].0 == *key)
            {
                occurrence.push(p);
                continue;
            }
            let offset = next;
            let end = offset
                .checked_add(*size)
                .filter(|e| *e <= MAX_MEMORY)
                .ok_or_else(|| {
                    ParError::resource_exhausted(
                        "the call's buffers do not fit a 32-bit kernel memory",
                    )
                })?;
            next = round_up(end, BUFFER_ALIGN);
            occurrence.push(placements.len());
            placements.push(Placement {
                first_occurrence: i,
                offset,
                len: *size,
            });
        }
        let end = placements.last().map(|p| p.offset + p.len).unwrap_or(r);
        let total_size = round_up(end, WASM_PAGE);
        if total_size > MAX_MEMORY {
            return Err(ParError::resource_exhausted(
                "the call's buffers do not fit a 32-bit kernel memory",
            ));
        }
        Ok(Layout {
            private_size: r,
            placements,
            occurrence,
            total_size,
        })
    }

    /// `(ptr, len)` of each occurrence, in the kernel's parameter order.
    pub fn params(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.occurrence.iter().map(|&p| {
            let pl = &self.placements[p];
            (pl.offset as u32, pl.len as u32)
        })
    }

    /// Number of wasm pages of the kernel's memory.
    pub fn total_pages(&self) -> u64 {
        self.total_size / WASM_PAGE
    }
}

/// `v` rounded up to a multiple of `align` (a power of two).
pub fn round_up(v: u64, align: u64) -> u64 {
    (v + align - 1) & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_rule() {
        let l = Layout::compute(65536, &[(1, 10u64), (2, 5000), (1, 10), (3, 4096)]).unwrap();
        assert_eq!(l.placements.len(), 3);
        assert_eq!(l.placements[0].offset, 65536);
        assert_eq!(l.placements[1].offset, 65536 + 4096);
        assert_eq!(l.placements[2].offset, 65536 + 4096 + 8192);
        assert_eq!(l.occurrence.as_slice(), [0, 1, 0, 2]);
        let p: Vec<_> = l.params().collect();
        assert_eq!(p[0], p[2]);
        assert_eq!(p[3], ((65536 + 4096 + 8192) as u32, 4096));
        assert_eq!(l.total_size, 2 * 65536);
    }

    #[test]
    fn empty_and_zero_sized() {
        let l = Layout::compute::<u32>(0, &[]).unwrap();
        assert_eq!(l.total_size, 0);
        let l = Layout::compute(131072, &[(1, 0u64), (2, 0)]).unwrap();
        assert_eq!(l.placements[0].offset, 131072);
        assert_eq!(l.placements[1].offset, 131072);
        assert_eq!(l.total_size, 131072);
    }

    #[test]
    fn too_big() {
        let e = Layout::compute(65536, &[(1, u32::MAX as u64)]).unwrap_err();
        assert_eq!(e.errno, crate::parallel::errno::Errno::ResourceExhausted);
    }
}
