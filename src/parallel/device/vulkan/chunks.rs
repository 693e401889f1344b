//! How a long Vulkan call is split into dispatch chunks, so that interrupts
//! and deadlines are seen between them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Iterations per dispatch chunk (one submission each; interrupts and
/// deadlines are seen between chunks). The first chunk has
/// [`ChunkSizer::FIRST`] iterations, so a typical call (up to 64Ki
/// iterations) is one submission as before (and a call the kernel's last
/// call says is short, up to 1Mi: [`ChunkSizer::for_call`]); later chunks double while a
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

    /// The most iterations [`ChunkSizer::for_call`] puts in one chunk on
    /// the strength of a measurement (16 x [`ChunkSizer::FIRST`], 1Mi).
    pub const MERGE_MAX: u64 = Self::FIRST * 16;

    /// For a call of `n` iterations of a kernel whose last call took
    /// `per_iteration` per iteration (`None`: not measured yet), with
    /// `deadline` when the call has a deadline. A call of at most
    /// [`ChunkSizer::MERGE_MAX`] iterations that is expected to take at
    /// most twice [`ChunkSizer::TARGET`] (what [`ChunkSizer::next`] lets a
    /// chunk take before it halves the next) is one chunk; any other call
    /// (or one with a deadline, or without a measurement) starts as
    /// [`ChunkSizer::new`]. The cap bounds what a stale measurement costs
    /// (the same kernel called with heavier iterations, e.g. more steps
    /// in a parameter buffer): one chunk at most 16 times the first chunk
    /// it would otherwise have had, as after four doublings.
    ///
    /// Every chunk boundary costs on a CPU driver: llvmpipe hands each of
    /// its threads one contiguous share of a dispatch's workgroups (no
    /// stealing), so a dispatch lasts as long as its most expensive share,
    /// and two dispatches where one would do can leave a core idle for
    /// much of one of them (one pixel per iteration Mandelbrot, 512x384 x
    /// 1000 steps, 3 x 64Ki iterations: 33-35 ms instead of 22-24 ms on
    /// 2 cores, issue 24).
    pub fn for_call(
        wg: u64,
        max: u64,
        n: u64,
        per_iteration: Option<Duration>,
        deadline: bool,
    ) -> ChunkSizer {
        let mut s = ChunkSizer::new(wg, max);
        let short = per_iteration
            .is_some_and(|per| per.as_secs_f64() * n as f64 <= (Self::TARGET * 2).as_secs_f64());
        if short && !deadline && n > 0 && n <= Self::MERGE_MAX {
            s.len = n.div_ceil(s.wg).saturating_mul(s.wg).min(s.max);
        }
        s
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

/// The time per iteration of a compiled kernel, from its last completed
/// call, for [`ChunkSizer::for_call`]: that of the call's fastest chunk.
/// Not the whole call's: a call split in chunks is slower than in one
/// dispatch (see `for_call`), so its mean would keep the next calls split;
/// and the first dispatch of a pipeline includes llvmpipe's shader compile.
/// The first chunk includes the arena set-up (an overestimate). Shared by
/// the calls of one pipeline; the last writer wins.
#[derive(Debug, Default)]
pub struct IterationCost {
    /// Picoseconds per iteration; 0: not measured yet.
    ps: AtomicU64,
}

impl IterationCost {
    /// The last measurement, if any.
    pub fn get(&self) -> Option<Duration> {
        match self.ps.load(Ordering::Relaxed) {
            0 => None,
            ps => Some(Duration::from_nanos(ps.div_ceil(1000))),
        }
    }

    /// Records a completed call from its chunks' (iterations, time).
    pub fn record(&self, chunks: &[(u64, Duration)]) {
        let fastest = chunks
            .iter()
            .filter(|&&(n, _)| n > 0)
            .map(|&(n, took)| took.as_nanos().saturating_mul(1000) / n as u128)
            .min();
        if let Some(ps) = fastest {
            self.ps
                .store(ps.clamp(1, u64::MAX as u128) as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ChunkSizer, IterationCost};
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

    #[test]
    fn a_short_call_by_the_last_measurement_is_one_chunk() {
        let (wg, max) = (64, 65535 * 64);
        let n = 3 << 16;
        let ns = Duration::from_nanos;
        // 196608 x 200 ns = 39.3 ms: one chunk.
        for per in [1, 100, 200] {
            let s = ChunkSizer::for_call(wg, max, n, Some(ns(per)), false);
            assert_eq!(s.len, n, "{per} ns");
        }
        // Unmeasured, with a deadline, expected longer than 2 x TARGET, or
        // more than MERGE_MAX iterations: the first chunk is FIRST.
        for (n, per, deadline) in [
            (n, None, false),
            (n, Some(ns(100)), true),
            (n, Some(ns(250)), false),
            (ChunkSizer::MERGE_MAX + 1, Some(ns(1)), false),
        ] {
            let s = ChunkSizer::for_call(wg, max, n, per, deadline);
            assert_eq!(
                s.len,
                ChunkSizer::FIRST,
                "{n} x {per:?}, deadline {deadline}"
            );
        }
        let s = ChunkSizer::for_call(wg, max, ChunkSizer::MERGE_MAX, Some(ns(1)), false);
        assert_eq!(s.len, ChunkSizer::MERGE_MAX);
        // Whole workgroups, never beyond the dispatch limit.
        let s = ChunkSizer::for_call(64, max, 100, Some(ns(1)), false);
        assert_eq!(s.len, 128);
        let s = ChunkSizer::for_call(7, 100, 1000, Some(ns(1)), false);
        assert_eq!(s.len, 98);
    }

    #[test]
    fn iteration_cost_is_the_last_calls_fastest_chunk() {
        let ms = Duration::from_millis;
        let c = IterationCost::default();
        assert_eq!(c.get(), None);
        c.record(&[(0, ms(5))]);
        assert_eq!(c.get(), None, "no iterations measure nothing");
        c.record(&[(1000, ms(1))]);
        assert_eq!(c.get(), Some(Duration::from_micros(1)));
        // A first dispatch slowed by the shader compile does not count.
        c.record(&[(1 << 16, ms(100)), (1 << 17, ms(13))]);
        assert_eq!(c.get(), Some(Duration::from_nanos(100)));
        c.record(&[(1 << 20, Duration::ZERO)]);
        assert_eq!(
            c.get(),
            Some(Duration::from_nanos(1)),
            "never 0 (= unmeasured)"
        );
    }
}
