//! Kernels: loading (ABI check + import rewrite), the content-hash cache of
//! compiled kernels and the memory layout rule shared by all devices.

pub mod cache;
pub mod layout;
pub mod loader;

use super::errno::{ParError, ParResult};
use std::time::Duration;

/// A loaded, checked and compiled kernel, shared (via `Arc`) by every worker,
/// call and instance that runs the same bytes.
pub struct Kernel {
    /// Content hash of the original bytes (the cache key).
    pub hash: u64,
    /// The original bytes (compared on a cache hit, so a hash collision can
    /// never run the wrong kernel; also what a GPU translator reads).
    pub bytes: Box<[u8]>,
    /// The module with the memory import rewritten.
    pub rewritten: Box<[u8]>,
    /// Size of the kernel's own region `[0, R)` in bytes.
    pub private_size: u64,
    /// Number of buffer `(ptr, len)` pairs the `kernel` export takes.
    pub num_buffer_params: usize,
    /// The compiled module, for the kernel engine of the runtime.
    pub module: wasmi::Module,
    /// How long decoding, checking and compiling took.
    pub compile_time: Duration,
    /// A process-unique id (keys per-device caches such as cached workers).
    pub id: u64,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("hash", &self.hash)
            .field("len", &self.bytes.len())
            .field("private_size", &self.private_size)
            .field("num_buffer_params", &self.num_buffer_params)
            .finish()
    }
}

impl Kernel {
    /// Loads and compiles `bytes` with `engine`.
    pub fn compile(engine: &wasmi::Engine, bytes: &[u8], hash: u64) -> ParResult<Kernel> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let start = std::time::Instant::now();
        let shape = loader::load(bytes)?;
        let module = wasmi::Module::new(engine, &shape.rewritten).map_err(|e| {
            let e = e.to_string();
            if e.contains("relaxed SIMD") {
                ParError::invalid_kernel(format!(
                    "kernel uses relaxed SIMD, which kernels may not use (its results may differ \
                     between devices; build without -mrelaxed-simd): {e}"
                ))
            } else {
                ParError::invalid_kernel(format!("kernel does not validate: {e}"))
            }
        })?;
        Ok(Kernel {
            hash,
            bytes: bytes.into(),
            rewritten: shape.rewritten.into_boxed_slice(),
            private_size: shape.private_size,
            num_buffer_params: shape.num_buffer_params,
            module,
            compile_time: start.elapsed(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Checks that the kernel takes exactly `num_buffers` buffer pairs.
    pub fn check_buffer_count(&self, num_buffers: usize) -> ParResult<()> {
        if self.num_buffer_params != num_buffers {
            return Err(ParError::invalid_kernel(format!(
                "function `kernel` takes {} buffer (ptr, len) pairs but the call passes {} buffers",
                self.num_buffer_params, num_buffers
            )));
        }
        Ok(())
    }
}
