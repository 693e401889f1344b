//! How a long Vulkan call is split into dispatch chunks, so that interrupts
//! and deadlines are seen between them.

use std::time::Duration;

/// Iterations per dispatch chunk (one submission each; interrupts and
/// deadlines are seen between chunks). The first chunk has
/// [`ChunkSizer::FIRST`] iterations, so a typical call (up to 64Ki
/// iterations) is one submission as before; later chunks double while a
/// chunk takes less than [`ChunkSizer::TARGET`] / 2 and halve while one
/// takes more than twice it, so that a long call is seen about every
/// `TARGET` while the submissions cost little (~0.1 ms each on lavapipe).
/// How long one chunk runs is not bounded by the runtime: that is the
/// iterations' own time (see docs/parallel.md, "Stopping kernels").
#[derive(Debug)]
pub struct ChunkSizer {
    /// Iterations of the next chunk (a multiple of the workgroup size).
    pub len: u64,
    wg: u64,
    max: u64,
}

impl ChunkSizer {
    /// Iterations of the first chunk.
    pub const FIRST: u64 = 1 << 16;
    /// The time a chunk should take.
    pub const TARGET: Duration = Duration::from_millis(20);

    /// For workgroups of `wg` invocations and at most `max` iterations per
    /// dispatch (a multiple of `wg`).
    pub fn new(wg: u64, max: u64) -> ChunkSizer {
        let wg = wg.max(1);
        let max = (max / wg).max(1) * wg;
        ChunkSizer {
            len: (Self::FIRST / wg).max(1).saturating_mul(wg).min(max),
            wg,
            max,
        }
    }

    /// Adapts the next chunk to the time the last one took.
    pub fn next(&mut self, took: Duration) {
        if took < Self::TARGET / 2 {
            self.len = self.len.saturating_mul(2).min(self.max);
        } else if took > Self::TARGET * 2 {
            self.len = (self.len / 2 / self.wg).max(1) * self.wg;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ChunkSizer;
    use std::time::Duration;

    #[test]
    fn chunks_are_workgroup_multiples_within_the_dispatch_limit() {
        for (wg, max) in [
            (64, 65535 * 64),
            (256, 65535 * 256),
            (64, 1000 * 64),
            (7, 100),
        ] {
            let mut s = ChunkSizer::new(wg, max);
            let max = (max / wg).max(1) * wg;
            assert_eq!(s.len % wg, 0);
            assert!(s.len <= max && s.len >= wg);
            assert_eq!(s.len, (ChunkSizer::FIRST / wg * wg).min(max));
            // Fast chunks grow (up to the limit), slow ones shrink (down to
            // one workgroup), always by whole workgroups.
            for _ in 0..40 {
                s.next(Duration::from_millis(1));
                assert!(s.len % wg == 0 && s.len <= max);
            }
            assert_eq!(s.len, max);
            for _ in 0..40 {
                s.next(Duration::from_millis(500));
                assert!(s.len % wg == 0 && s.len >= wg);
            }
            assert_eq!(s.len, wg);
            let before = s.len;
            s.next(ChunkSizer::TARGET);
            assert_eq!(s.len, before, "on target: unchanged");
        }
    }
}
