//! The kernel ABI's rules and constants (docs/wasi-parallel.md, "Kernels"),
//! in one place for every layer that checks a kernel: the loader
//! (`parallel::kernel::loader`, for every device) and the GPU translator's
//! analysis (`spirv::analyze`). A leaf: it depends on nothing in the crate,
//! so `spirv` need not import `parallel`.
//!
//! A kernel is a core wasm module that
//! - imports exactly one memory, 32-bit, with 64 KiB pages, whose declared
//!   minimum (at most 4 GiB) is the kernel's own region `[0, R)`;
//! - exports a function `kernel` taking only `i32`s, `(iteration_id,
//!   num_iterations, block_size)` then one `(ptr, len)` pair per buffer, and
//!   returning nothing;
//! - has its active data segments inside `[0, R)`.
//!
//! The callers word their own errors (the loader's are `invalid kernel`
//! errors, the translator's are reasons to decline the GPU).

/// Size of a wasm page.
pub const WASM_PAGE: u64 = 65536;
/// `log2(WASM_PAGE)`: the only page size a kernel memory may use.
pub const WASM_PAGE_LOG2: u32 = 16;
/// Largest memory a 32-bit kernel can address (4 GiB).
pub const MAX_MEMORY: u64 = 1 << 32;
/// Name of the exported kernel function.
pub const KERNEL_EXPORT: &str = "kernel";
/// Parameters of `kernel` before the buffer pairs: iteration id, number of
/// iterations, block size.
pub const FIXED_PARAMS: usize = 3;

/// The kernel's own region `R` in bytes for a memory import of `min_pages`
/// pages, or `None` when it exceeds 4 GiB.
pub fn region_size(min_pages: u64) -> Option<u64> {
    min_pages
        .checked_mul(WASM_PAGE)
        .filter(|&r| r <= MAX_MEMORY)
}

/// Number of `(ptr, len)` buffer pairs a `kernel` with `num_params` (all
/// `i32`) parameters takes, or `None` when the count does not fit the ABI
/// (fewer than 3, or an odd number after the first 3).
pub fn buffer_pairs(num_params: usize) -> Option<usize> {
    let pairs = num_params.checked_sub(FIXED_PARAMS)?;
    (pairs % 2 == 0).then_some(pairs / 2)
}

/// Whether a data segment of `len` bytes at `offset` lies inside the
/// kernel's own region `[0, region)`.
pub fn segment_in_region(offset: u64, len: u64, region: u64) -> bool {
    offset + len <= region
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(region_size(1), Some(65536));
        assert_eq!(region_size(65536), Some(MAX_MEMORY));
        assert_eq!(region_size(65537), None);
        assert_eq!(region_size(u64::MAX), None);
        assert_eq!(buffer_pairs(2), None);
        assert_eq!(buffer_pairs(3), Some(0));
        assert_eq!(buffer_pairs(4), None);
        assert_eq!(buffer_pairs(7), Some(2));
        assert!(segment_in_region(65530, 6, 65536));
        assert!(!segment_in_region(65530, 7, 65536));
    }
}
