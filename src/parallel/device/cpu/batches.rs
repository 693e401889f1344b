//! Running a worker's range through the generated range loop
//! ([`super::runner`]) in batches, for both kernel engines.
//!
//! Each batch is one call into the engine running many iterations, so the
//! per-iteration cost of entering the engine (a trampoline and trap frame
//! on the JIT, a call with its stack taken from a shared pool on the
//! interpreter) is paid once per batch. Batches double while one takes
//! under [`BATCH_TARGET`], so cancellation and the other workers' traps
//! are still polled every few tens of microseconds. The loop does not
//! record which iteration it is in: when a batch traps, the worker runs
//! that batch again one iteration at a time (buffers are unspecified after
//! a trap, and the worker is discarded after it) and the first iteration
//! that traps names it. Where none traps again (a kernel whose trap
//! depended on what the batch had already written), the message names the
//! batch. Running iterations again adds no behaviour a call could not
//! have anyway: iterations may run in any order and on any worker, so a
//! kernel whose iterations depend on each other (the only kind whose run
//! again can differ, say by reaching an iteration that never ends) can do
//! the same under another split of the range. A call stopped by its
//! `Cancel` (interrupt, deadline) inside a batch names the batch's first
//! iteration.

use super::{CallArgs, RunError};
use crate::parallel::cancel::Stop;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A batch shorter than this doubles the next one's iterations (up to
/// [`MAX_BATCH`]); one longer than four times this halves it.
const BATCH_TARGET: Duration = Duration::from_micros(50);
const MAX_BATCH: u32 = 1 << 20;

/// How one call of the range loop ended.
pub(crate) enum BatchEnd {
    /// Every iteration of the batch ran.
    Done,
    /// The call's [`crate::parallel::cancel::Cancel`] stopped it.
    Stopped(Stop),
    /// An iteration trapped; the engine's description of the trap.
    Trapped(String),
}

/// A worker whose engine has the generated range loop.
pub(crate) trait RangeLoop {
    /// Runs iterations `range` (non-empty) in one call of the range loop
    /// (the block size 1 copy where `call.block_size` is 1 and the kernel
    /// has one).
    fn call_loop(&mut self, call: &CallArgs<'_>, range: Range<u32>) -> BatchEnd;

    /// Runs `range` one iteration at a time, each its own call of
    /// `kernel` (the path with a per-iteration fuel budget).
    fn run_iterations(
        &mut self,
        call: &CallArgs<'_>,
        range: Range<u32>,
        stop: &AtomicBool,
    ) -> Result<(), RunError>;

    /// The iterations of the next batch (kept across calls).
    fn batch(&mut self) -> &mut u32;
}

/// The kernel's range loops, by their export names: the general one and,
/// where the kernel has it, the block size 1 copy. `lookup` finds an
/// exported function of the instance that takes the range loop's params.
pub(crate) fn find_loops<F>(mut lookup: impl FnMut(&str) -> Option<F>) -> Option<(F, Option<F>)> {
    lookup(super::runner::RUN_EXPORT)
        .map(|general| (general, lookup(super::runner::RUN_BS1_EXPORT)))
}

/// The loop for a call of `block_size`: the block size 1 copy where it
/// applies and the kernel has one, else the general loop.
pub(crate) fn pick<F: Copy>((general, bs1): (F, Option<F>), block_size: u32) -> F {
    bs1.filter(|_| block_size == 1).unwrap_or(general)
}

/// Runs `range` on `worker` in batches (see the module docs); stops early,
/// without error, once `stop` is set.
pub(crate) fn run_batches<W: RangeLoop + ?Sized>(
    worker: &mut W,
    call: &CallArgs<'_>,
    range: Range<u32>,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    let mut start = range.start;
    // One clock read per batch: a batch's end is the next one's start.
    let mut t = Instant::now();
    while start < range.end {
        // `first = true`: a batch is long enough to read the clock.
        call.cancel
            .check_between(start, true)
            .map_err(|s| RunError::Stopped(s, start))?;
        let end = range.end.min(start.saturating_add(*worker.batch()));
        match worker.call_loop(call, start..end) {
            BatchEnd::Done => {}
            BatchEnd::Stopped(s) => return Err(RunError::Stopped(s, start)),
            BatchEnd::Trapped(what) => return Err(locate_trap(worker, call, start..end, &what)),
        }
        let now = Instant::now();
        let took = now.saturating_duration_since(t);
        t = now;
        let batch = worker.batch();
        if took < BATCH_TARGET {
            *batch = (*batch * 2).min(MAX_BATCH);
        } else if took > 4 * BATCH_TARGET {
            *batch = (*batch / 2).max(1);
        }
        start = end;
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    Ok(())
}

/// The error of batch `range`, which trapped with `what`: the iteration
/// that traps when the batch runs again one at a time, or the batch.
fn locate_trap<W: RangeLoop + ?Sized>(
    worker: &mut W,
    call: &CallArgs<'_>,
    range: Range<u32>,
    what: &str,
) -> RunError {
    match worker.run_iterations(call, range.clone(), &AtomicBool::new(false)) {
        Err(RunError::Trap(m)) => RunError::Trap(m),
        _ => RunError::Trap(format!(
            "an iteration in {}..{} trapped: {what}",
            range.start, range.end
        )),
    }
}
