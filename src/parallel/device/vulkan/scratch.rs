//! The shadow stack's scratch buffer: with a scratch [`StackStorage`]
//! each invocation of a dispatch keeps its stack window in a slice of one
//! storage buffer (binding `spirv::BINDING_SCRATCH`), so the buffer holds
//! `window` bytes per invocation of a dispatch. The device caps the
//! invocations of one dispatch (its chunks, see `chunks.rs`) so that the
//! buffer stays within [`SCRATCH_BUDGET`] and the device's
//! `maxStorageBufferRange`, and reuses the buffer across calls.

use super::gpu::Gpu;
use crate::parallel::errno::{ParError, ParResult};
use crate::spirv::{StackStorage, Translation};
use vulkano::buffer::{BufferUsage, Subbuffer};

/// Largest scratch buffer, in bytes: 256 MiB, so 4096 invocations per
/// dispatch for a 64 KiB window, 128 Ki for a 2 KiB one.
pub const SCRATCH_BUDGET: u64 = 256 << 20;

/// The most invocations of one dispatch whose windows of `window` bytes
/// fit `limit` bytes: a multiple of the workgroup size `wg`, at least one
/// workgroup, at most `max_dispatch`.
pub fn max_invocations(window: u64, wg: u64, max_dispatch: u64, limit: u64) -> u64 {
    let wg = wg.max(1);
    let fit = limit / window.max(1) / wg * wg;
    fit.clamp(wg, max_dispatch.max(wg))
}

/// The scratch buffer of an exec (kept by the arena lock's state).
#[derive(Default)]
pub struct ScratchState {
    buffer: Option<Subbuffer<[u8]>>,
}

impl Gpu {
    /// For a call of `n` iterations in workgroups of `wg` with at most
    /// `max_dispatch` invocations per dispatch: the invocations a dispatch
    /// may have, and the scratch buffer when the shader keeps its stack
    /// window in one (`None` for a private window or no window).
    pub(super) fn scratch_for(
        &self,
        state: &mut ScratchState,
        tr: &Translation,
        storage: StackStorage,
        (n, wg, max_dispatch): (u64, u64, u64),
    ) -> ParResult<(u64, Option<Subbuffer<[u8]>>)> {
        let window = match tr.stack_window {
            Some((lo, top)) if storage.is_scratch() => (top - lo) as u64,
            _ => return Ok((max_dispatch, None)),
        };
        let limit = SCRATCH_BUDGET.min(self.max_storage_range());
        let most = max_invocations(window, wg, max_dispatch, limit);
        if window * most > limit {
            return Err(ParError::unsupported(format!(
                "a workgroup's shadow stack windows ({wg} x {window} bytes) exceed the scratch limit of {limit} bytes"
            )));
        }
        let bytes = window * most.min(n.div_ceil(wg.max(1)) * wg.max(1));
        let buffer = match state.buffer.as_ref() {
            Some(b) if b.size() >= bytes => b.clone(),
            _ => {
                // Contents are unspecified at the start of an invocation
                // (like a CPU worker's stack): never cleared.
                let b = self.device_buffer(bytes, BufferUsage::STORAGE_BUFFER)?;
                state.buffer = Some(b.clone());
                b
            }
        };
        Ok((most, Some(buffer.slice(0..bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::max_invocations;

    #[test]
    fn dispatches_fit_the_scratch_limit_in_whole_workgroups() {
        let mib = 1u64 << 20;
        // 2 KiB windows, 256 MiB: 128 Ki invocations.
        assert_eq!(
            max_invocations(2048, 256, 65535 * 256, 256 * mib),
            128 * 1024
        );
        // 64 KiB windows: 4096 invocations (16 groups of 256).
        assert_eq!(max_invocations(65536, 256, 65535 * 256, 256 * mib), 4096);
        // Small windows: the dispatch limit.
        assert_eq!(max_invocations(16, 64, 65535 * 64, 256 * mib), 65535 * 64);
        // Not even one group fits: one group (the caller declines).
        assert_eq!(max_invocations(65536, 256, 65535 * 256, mib), 256);
        for (w, wg) in [(8192u64, 64u64), (1040, 256), (4000, 64)] {
            let m = max_invocations(w, wg, 65535 * wg, 256 * mib);
            assert_eq!(m % wg, 0);
            assert!(
                m * w <= 256 * mib && (m + wg) * w > 256 * mib,
                "{w} {wg}: {m}"
            );
        }
    }
}
