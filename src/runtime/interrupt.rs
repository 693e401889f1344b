//! Stopping a guest from another thread ([`InterruptHandle`]) or at a
//! deadline (`Config::timeout`), and running a guest call in fuel slices so
//! that both are seen.
//!
//! wasmi has no epoch or signal based interruption; it has fuel and
//! resumable calls. A guest call therefore runs with fuel metering on, in
//! slices of [`crate::parallel::cancel::FUEL_SLICE`] units (about 1-5 ms of interpretation): between
//! slices, and at every host call (a store call hook), the runtime looks at
//! the instance's interrupt flag and the call's deadline. A configured fuel
//! budget (`Config::fuel`) is kept across slices, so it means what it meant
//! before. What is not interrupted: a start function (run at
//! instantiation), and a host function that blocks (a native of the
//! embedder, a WASI call waiting for input); a kernel the guest runs is
//! (see [`crate::parallel::cancel`]).

use std::sync::Arc;

use wasmi::{Func, Store, Val};

use crate::error::{Error, Result};
use crate::parallel::cancel::{call_in_slices, InterruptState, SlicedError, Stop};

/// A handle that stops the guest call running in one instance. Cheap to
/// clone, `Send + Sync`, valid after the instance is gone (it then does
/// nothing).
///
/// [`InterruptHandle::interrupt`] stops the call in progress at its next
/// check (within one fuel slice, i.e. a few milliseconds of guest code, or
/// between two kernel iterations / fuel slices / Vulkan dispatch chunks of a
/// running `parallel_exec`): the call returns a trap of kind
/// [`crate::TrapKind::Interrupted`]. When no call is in progress it has no
/// effect (it returns false): a watchdog that fires just after a call
/// returned does not stop the next one. Other instances and the engine's
/// thread pool are not affected.
///
/// The instance stays usable: the next call starts normally. As after any
/// trap, the guest's own state is whatever it was when it stopped (a C
/// guest's stack pointer global, half-updated data); buffers a stopped
/// kernel was writing hold unspecified contents, like after a kernel trap.
#[derive(Clone, Debug)]
pub struct InterruptHandle {
    state: Arc<InterruptState>,
}

impl InterruptHandle {
    pub(crate) fn new(state: Arc<InterruptState>) -> Self {
        Self { state }
    }

    /// Asks the call in progress to stop; returns whether a call was in
    /// progress. Any thread, any time, also after the instance was dropped.
    pub fn interrupt(&self) -> bool {
        self.state.interrupt()
    }
}

/// The host error that ends a stopped guest call (becomes
/// `TrapKind::Interrupted`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuestStopped(pub Stop);

impl std::fmt::Display for GuestStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "guest call stopped: {}", self.0.describe())
    }
}

impl wasmi::errors::HostError for GuestStopped {}

/// Calls `func` in fuel slices ([`call_in_slices`]). `budget` is the
/// call's fuel (`None`: unlimited); `stop` is polled between slices.
/// Returns the result and the budget left (`None` when unlimited), also
/// after an error.
pub(crate) fn call_sliced<T>(
    store: &mut Store<T>,
    func: Func,
    args: &[Val],
    results: &mut [Val],
    budget: Option<u64>,
    stop: impl Fn(&T) -> Option<Stop>,
) -> (Result<()>, Option<u64>) {
    let mut left = budget.unwrap_or(u64::MAX);
    let r = call_in_slices(store, func, args, results, &mut left, stop).map_err(|e| match e {
        SlicedError::Wasm(e) => Error::from_execution(e),
        SlicedError::Stopped(s) => Error::from_execution(wasmi::Error::host(GuestStopped(s))),
    });
    (r, budget.map(|_| left))
}
