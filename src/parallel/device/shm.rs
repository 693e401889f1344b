//! Shared buffer pages for the CPU devices (Linux): one memfd per buffer and
//! one virtual window per worker, `[0, R)` private anonymous pages followed by
//! the call's buffers mapped `MAP_SHARED | MAP_FIXED` from their memfds.
//!
//! Rules kept here (see the project notes on shared buffers):
//! - a memfd is sized to whole pages at creation and never shrinks, so a
//!   mapping of it never has a hole (a hole would be SIGBUS in the host, as
//!   wasmi bounds-checks only against the memory's length);
//! - every page of a window is mapped at all times (reserve first, then
//!   replace ranges with `MAP_FIXED`, which is atomic per call);
//! - the host reads/writes buffer bytes with `pread`/`pwrite` on the memfd,
//!   only while no worker executes (the caller holds the instance exclusively).

use crate::parallel::errno::{ParError, ParResult};
use crate::parallel::kernel::layout::{round_up, Layout};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Host page size assumed by the layout rule (buffers are 4096-aligned).
pub const PAGE: u64 = 4096;
/// Bounds of the scratch memfd mapped over a new window while wasmi
/// zero-fills it (so the fill touches neither real buffer pages nor fresh
/// private pages: the private region then costs only what the kernel
/// touches). Sized to the window / 512 (so at most ~512 mappings per window)
/// and small enough to stay in cache; mapped with `MAP_POPULATE` so the fill
/// takes no page faults (a 4 GiB window fills ~4x faster than with faults).
const SCRATCH_MIN: u64 = 1 << 20;
const SCRATCH_MAX: u64 = 8 << 20;

fn os_err(what: &str) -> ParError {
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOMEM) | Some(libc::ENOSPC) | Some(libc::EMFILE) | Some(libc::ENFILE) => {
            ParError::resource_exhausted(format!("{what}: {e}"))
        }
        _ => ParError::device_error(format!("{what}: {e}")),
    }
}

/// A size that this host cannot map (only on 32-bit hosts: `usize`/`off_t`).
fn too_big_for_host(what: &str, len: u64) -> ParError {
    ParError::resource_exhausted(format!(
        "{what} of {len} bytes does not fit this host's {}-bit address space",
        usize::BITS
    ))
}

/// An anonymous in-memory file holding one buffer's bytes (zero-filled).
#[derive(Debug)]
pub struct Memfd {
    fd: OwnedFd,
    /// Size in bytes, rounded up to whole pages.
    pub mapped_len: u64,
}

impl Memfd {
    /// A new zero-filled memfd of `size` bytes rounded up to whole pages.
    pub fn new(size: u64) -> ParResult<Memfd> {
        let name = c"wasi-parallel-buffer";
        // SAFETY: `name` is a valid NUL-terminated string; the call has no
        // other preconditions.
        let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(os_err("memfd_create"));
        }
        // SAFETY: `raw` is a freshly created, valid descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mapped_len = round_up(size, PAGE);
        // On 32-bit hosts `off_t` is 32 bits: a size that does not fit would
        // wrap (4 GiB - 1 rounds up to 4 GiB, truncated to 0), leaving a
        // memfd shorter than `mapped_len` (SIGBUS when mapped). Such a buffer
        // cannot be mapped in a 32-bit address space anyway.
        let len = libc::off_t::try_from(mapped_len)
            .ok()
            .filter(|_| usize::try_from(mapped_len).is_ok())
            .ok_or_else(|| too_big_for_host("buffer", mapped_len))?;
        // SAFETY: `fd` is a valid memfd; ftruncate only changes its size.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
            return Err(os_err("ftruncate"));
        }
        Ok(Memfd { fd, mapped_len })
    }

    /// Writes `data` at `offset` (which the caller bounds-checked).
    pub fn write_at(&self, data: &[u8], offset: u64) -> ParResult<()> {
        let mut done = 0usize;
        while done < data.len() {
            let rest = &data[done..];
            // SAFETY: `rest` is a valid readable slice of `rest.len()` bytes.
            let n = unsafe {
                libc::pwrite(
                    self.fd.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    file_offset(offset + done as u64)?,
                )
            };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(os_err("pwrite to buffer"));
            }
            if n == 0 {
                return Err(ParError::device_error("pwrite to buffer wrote nothing"));
            }
            done += n as usize;
        }
        Ok(())
    }

    /// Reads `out.len()` bytes from `offset` (which the caller bounds-checked).
    pub fn read_at(&self, out: &mut [u8], offset: u64) -> ParResult<()> {
        let mut done = 0usize;
        while done < out.len() {
            let rest = &mut out[done..];
            // SAFETY: `rest` is a valid writable slice of `rest.len()` bytes.
            let n = unsafe {
                libc::pread(
                    self.fd.as_raw_fd(),
                    rest.as_mut_ptr().cast(),
                    rest.len(),
                    file_offset(offset + done as u64)?,
                )
            };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(os_err("pread from buffer"));
            }
            if n == 0 {
                return Err(ParError::device_error("pread from buffer hit end of file"));
            }
            done += n as usize;
        }
        Ok(())
    }
}

/// `offset` as an `off_t` (32 bits on 32-bit hosts; never wraps).
fn file_offset(offset: u64) -> ParResult<libc::off_t> {
    libc::off_t::try_from(offset).map_err(|_| too_big_for_host("buffer offset", offset))
}

/// A worker's virtual window of `len` bytes. Unmapped on drop; the owner must
/// drop whatever refers to it (the wasmi `Store`) first.
#[derive(Debug)]
pub struct Window {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the window is plain memory owned by this value; moving the owner to
// another thread moves the only handle to it.
unsafe impl Send for Window {}

impl Window {
    /// Reserves `len` (> 0, page multiple) bytes of private zero pages.
    fn reserve(len: u64) -> ParResult<Window> {
        Window::reserve_guarded(len, 0)
    }

    /// Reserves `max(len, span)` bytes of address space: `[0, len)` private
    /// zero pages (readable, writable), the rest `PROT_NONE`, so that any
    /// access there faults (the guard region of a kernel memory compiled
    /// without bounds checks). `span <= len` is [`Window::reserve`].
    fn reserve_guarded(len: u64, span: u64) -> ParResult<Window> {
        let total = len.max(span);
        // A 32-bit host cannot map a window of 4 GiB (`len as usize` would
        // wrap to 0); larger than its address space is resource exhaustion.
        let total =
            usize::try_from(total).map_err(|_| too_big_for_host("kernel memory window", total))?;
        let guarded = span > len;
        let prot = if guarded {
            libc::PROT_NONE
        } else {
            libc::PROT_READ | libc::PROT_WRITE
        };
        // SAFETY: a fresh anonymous mapping at an address the kernel picks;
        // it aliases nothing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(os_err("mmap of a worker window"));
        }
        let window = Window {
            ptr: ptr.cast(),
            len: total,
        };
        if guarded {
            // The accessible part: fresh private pages over the reservation
            // (dropping `window` on error unmaps the whole reservation).
            window.map_fixed(0, len, None, false)?;
        }
        Ok(window)
    }

    /// Replaces `[offset, offset+len)` of the window with `fd`'s pages from 0
    /// (shared), or with fresh private zero pages when `fd` is `None`.
    fn map_fixed(
        &self,
        offset: u64,
        len: u64,
        fd: Option<&Memfd>,
        populate: bool,
    ) -> ParResult<()> {
        if len == 0 {
            return Ok(());
        }
        assert!(offset + len <= self.len as u64 && offset % PAGE == 0);
        if let Some(fd) = fd {
            assert!(len <= fd.mapped_len);
        }
        let populate = if populate { libc::MAP_POPULATE } else { 0 };
        let (flags, raw) = match fd {
            Some(fd) => (libc::MAP_SHARED | libc::MAP_FIXED, fd.fd.as_raw_fd()),
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                -1,
            ),
        };
        // SAFETY: the target range lies inside this window (asserted above),
        // which we own, so MAP_FIXED replaces only our own pages; for a memfd
        // the mapped length does not exceed its size, so no page is a hole.
        let p = unsafe {
            libc::mmap(
                self.ptr.add(offset as usize).cast(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                flags | populate,
                raw,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_err("mmap into a worker window"));
        }
        Ok(())
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` is the mapping `reserve` created; every user of
        // it (the wasmi store) was dropped before, as documented.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// Builds a worker window for `layout` whose buffer range is backed by
/// `buffers` (one memfd per placement), calling `make_memory` with the
/// window's bytes while the whole window is covered by scratch pages (wasmi
/// zero-fills the whole slice when it creates a static memory); afterwards
/// `[0, R)` and the tail get fresh private zero pages and each buffer its
/// memfd, so every page is mapped at every moment. Returns the
/// window (which must outlive what `make_memory` built) and its result.
///
/// A layout of total size 0 gets no window: `make_memory` receives `None`.
pub fn build_window<M>(
    layout: &Layout,
    buffers: &[&Memfd],
    make_memory: impl FnOnce(Option<&'static mut [u8]>) -> ParResult<M>,
) -> ParResult<(Option<Window>, M)> {
    let total = layout.total_size;
    if total == 0 {
        return Ok((None, make_memory(None)?));
    }
    let window = Window::reserve(total)?;
    let r = layout.private_size;
    {
        let size = round_up((total / 512).clamp(SCRATCH_MIN, SCRATCH_MAX), PAGE).min(total);
        let scratch = Memfd::new(size)?;
        let mut off = 0;
        while off < total {
            let len = scratch.mapped_len.min(total - off);
            window.map_fixed(off, len, Some(&scratch), true)?;
            off += len;
        }
        // The mappings keep the scratch pages alive until replaced below.
    }
    // SAFETY: the window is `total` bytes, mapped readable and writable, and
    // owned by `window`, which the caller keeps alive longer than anything
    // `make_memory` builds from this slice (documented contract of this
    // function; `Worker` declares its store before its window). No other
    // Rust reference to this virtual range exists. The remapping below
    // changes which physical pages back parts of the range: it happens
    // before wasmi reads anything (wasmi has only zero-filled the slice, and
    // reads it only when the kernel is instantiated and run, afterwards) and
    // every page stays mapped throughout. Buffer pages are shared with other
    // windows only physically, like memory shared with another process; the
    // host touches them only through pread/pwrite while no worker runs.
    let bytes: &'static mut [u8] =
        unsafe { std::slice::from_raw_parts_mut(window.ptr, window.len) };
    let memory = make_memory(Some(bytes))?;
    // Fresh private zero pages for the kernel's own region.
    window.map_fixed(0, r, None, false)?;
    let mut end = r;
    for (p, fd) in layout.placements.iter().zip(buffers) {
        let len = round_up(p.len, PAGE);
        window.map_fixed(p.offset, len, Some(fd), false)?;
        end = p.offset + len;
    }
    // Replace the scratch pages after the last buffer with private ones.
    window.map_fixed(end, total - end, None, false)?;
    Ok((Some(window), memory))
}

/// Maps a worker window for `layout` whose buffer range is backed by
/// `buffers` (one memfd per placement): `[0, R)`, the gaps and the tail are
/// fresh private zero pages, each buffer its memfd's pages (shared). For an
/// engine that does not zero-fill the memory it is given (the JIT's memory
/// creator), so no scratch pages are needed.
///
/// `span` (0: none) reserves address space after the window up to that
/// many bytes from its start, `PROT_NONE`: the guard region of a kernel
/// compiled without bounds checks, where every access past the memory
/// faults. Without a span, a layout of total size 0 gets a one-page window
/// (a valid, unused address) of which nothing is visible; with one it gets
/// no accessible page at all.
#[cfg_attr(not(wp_jit), allow(dead_code))]
pub fn map_window(layout: &Layout, buffers: &[&Memfd], span: u64) -> ParResult<Window> {
    let window = if span > 0 {
        Window::reserve_guarded(layout.total_size, span)?
    } else {
        Window::reserve(layout.total_size.max(PAGE))?
    };
    for (p, fd) in layout.placements.iter().zip(buffers) {
        window.map_fixed(p.offset, round_up(p.len, PAGE), Some(fd), false)?;
    }
    Ok(window)
}

#[cfg_attr(not(wp_jit), allow(dead_code))]
impl Window {
    /// A window of `len` bytes (at least one page) of private zero pages.
    pub fn private(len: u64) -> ParResult<Window> {
        Window::reserve(round_up(len.max(PAGE), PAGE))
    }

    /// `len` bytes of private zero pages followed by `PROT_NONE` address
    /// space up to `span` bytes from the start ([`map_window`]'s guard).
    pub fn private_guarded(len: u64, span: u64) -> ParResult<Window> {
        Window::reserve_guarded(round_up(len, PAGE), round_up(span, PAGE))
    }

    /// Makes `[from, to)` of a guarded window readable and writable (fresh
    /// zero pages): the bytes a growing memory exposes.
    pub fn open(&self, from: u64, to: u64) -> ParResult<()> {
        let from = round_up(from, PAGE);
        let to = round_up(to, PAGE);
        if to > from {
            self.map_fixed(from, to - from, None, false)?;
        }
        Ok(())
    }

    /// Start of the window.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Bytes of address space the window holds (accessible or not).
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    //! Focused tests of the memory sharing (Miri cannot run this FFI code):
    //! two windows over the same buffers share the buffer bytes, not the
    //! private region nor the tail; host reads/writes see the same bytes.
    use super::*;
    use crate::parallel::kernel::layout::Layout;

    fn window(layout: &Layout, fds: &[&Memfd]) -> (Window, &'static mut [u8]) {
        let (w, bytes) = build_window(layout, fds, |b| Ok(b.expect("non-empty"))).unwrap();
        (w.expect("a window"), bytes)
    }

    #[test]
    fn windows_share_buffers_but_not_private_pages() {
        let a = Memfd::new(100).unwrap();
        let b = Memfd::new(5000).unwrap();
        let layout = Layout::compute(65536, &[(1, 100), (2, 5000), (1, 100)]).unwrap();
        let (pa, pb) = (layout.placements[0].offset, layout.placements[1].offset);
        let total = layout.total_size as usize;
        {
            let (_w1, m1) = window(&layout, &[&a, &b]);
            let (_w2, m2) = window(&layout, &[&a, &b]);
            assert_eq!(m1.len(), total);
            // fresh: everything zero
            assert!(m1.iter().all(|&x| x == 0) && m2.iter().all(|&x| x == 0));
            // private region and tail are private
            m1[0] = 7;
            m1[total - 1] = 9;
            assert_eq!((m2[0], m2[total - 1]), (0, 0));
            // buffers are shared, at their placement
            m1[pa as usize + 99] = 1;
            m2[pb as usize + 4999] = 2;
            assert_eq!(m2[pa as usize + 99], 1);
            assert_eq!(m1[pb as usize + 4999], 2);
        }
        // after the windows are gone the memfds keep the bytes
        let mut out = [0u8; 1];
        a.read_at(&mut out, 99).unwrap();
        assert_eq!(out[0], 1);
        b.read_at(&mut out, 4999).unwrap();
        assert_eq!(out[0], 2);
        // and a host write shows in a new window
        a.write_at(&[42], 0).unwrap();
        let (_w3, m3) = window(&layout, &[&a, &b]);
        assert_eq!(m3[pa as usize], 42);
        assert_eq!(m3[0], 0, "a new window's private region starts zeroed");
    }

    use crate::parallel::errno::Errno;

    #[test]
    fn memfd_is_page_rounded_and_zero_filled() {
        let m = Memfd::new(10).unwrap();
        assert_eq!(m.mapped_len, PAGE);
        let mut out = [1u8; 10];
        m.read_at(&mut out, 0).unwrap();
        assert_eq!(out, [0u8; 10]);
    }

    /// The largest buffer a guest can ask for (u32::MAX bytes) rounds up to
    /// 4 GiB. On a 32-bit host that must be `resource_exhausted`, not a
    /// memfd truncated to 0 bytes (`off_t` wrap) whose mapping would SIGBUS.
    #[test]
    fn largest_buffer_is_exact_or_refused() {
        match Memfd::new(u32::MAX as u64) {
            Ok(m) => {
                assert_eq!(usize::BITS, 64);
                assert_eq!(m.mapped_len, 1 << 32);
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: a valid descriptor and a stat buffer we own.
                assert_eq!(unsafe { libc::fstat(m.fd.as_raw_fd(), &mut st) }, 0);
                assert_eq!(st.st_size as u64, 1 << 32);
            }
            Err(e) => {
                assert_eq!(usize::BITS, 32, "{e:?}");
                assert_eq!(e.errno, Errno::ResourceExhausted);
            }
        }
    }

    /// A 4 GiB window (a full 32-bit kernel memory) cannot exist on a 32-bit
    /// host: `resource_exhausted`, never a 0-byte mmap from `len as usize`.
    #[cfg(target_pointer_width = "32")]
    #[test]
    fn window_beyond_the_address_space_is_refused() {
        let e = Window::reserve(1 << 32).unwrap_err();
        assert_eq!(e.errno, Errno::ResourceExhausted);
    }
}
