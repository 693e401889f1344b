//! Cancellation: what stops a running guest call or kernel early.
//!
//! Three causes, all polled, none preemptive:
//! - an **interrupt** from another thread ([`InterruptState::interrupt`],
//!   reached through `crate::InterruptHandle` / `wp_interrupt`): it stops
//!   the guest call in progress and every kernel that call is running;
//! - the **call deadline** (`Config::timeout`): same effect, when the guest
//!   call has run for longer than allowed;
//! - the **kernel deadline** (`ParallelConfig::kernel_timeout`): only the
//!   `parallel_exec` that ran too long stops; the guest gets `kernel_trap`
//!   and goes on.
//!
//! A kernel engine receives a [`Cancel`] with every exec
//! (`ExecRequest::cancel`) and polls [`Cancel::check`] where it can stop
//! cleanly: the interpreter between iterations and between fuel slices
//! ([`FUEL_SLICE`]), the Vulkan device between dispatch chunks. A compiled
//! engine (wasmtime) would bump its epoch from a ticker and call
//! [`Cancel::check`] in its epoch-deadline callback; [`Cancel::deadline`]
//! gives the earliest deadline to arm it with.
//!
//! Checking costs one relaxed atomic load when no deadline is set, plus a
//! clock read (vDSO, ~20 ns) when one is.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmi::{Func, ResumableCall, Store, Val};

/// Fuel given to the interpreter per slice: between slices the runtime
/// checks for interrupts and deadlines. wasmi charges about one unit per
/// instruction, so a slice is roughly 1-5 ms of interpretation; the cost of
/// ending and resuming a slice is a few hundred nanoseconds.
pub const FUEL_SLICE: u64 = 1 << 20;

const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const INTERRUPTED: u8 = 2;

/// The interrupt flag of one instance, shared with its interrupt handles
/// (which may outlive it).
///
/// States: idle (no guest call in progress), running, interrupted (the
/// call in progress was asked to stop). An interrupt reaches only a call in
/// progress: when the instance is idle it has no effect, so a watchdog that
/// fires just after a call returned does not kill the next one.
#[derive(Debug, Default)]
pub struct InterruptState {
    state: AtomicU8,
}

impl InterruptState {
    /// A new, idle state.
    pub fn new() -> Arc<InterruptState> {
        Arc::new(InterruptState::default())
    }

    /// Asks the call in progress to stop. Returns whether a call was in
    /// progress (it then stops at its next check, unless it returns first).
    /// Any thread, any time.
    pub fn interrupt(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, INTERRUPTED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(s) => s == INTERRUPTED,
        }
    }

    /// Whether the call in progress was asked to stop.
    #[inline]
    pub fn is_interrupted(&self) -> bool {
        self.state.load(Ordering::Relaxed) == INTERRUPTED
    }

    /// Marks the start of a guest call (clears an earlier interrupt).
    pub fn begin_call(&self) {
        self.state.store(RUNNING, Ordering::Release);
    }

    /// Marks the end of a guest call.
    pub fn end_call(&self) {
        self.state.store(IDLE, Ordering::Release);
    }
}

/// Why something was stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// An interrupt from the host.
    Interrupted,
    /// The guest call ran past its deadline (`Config::timeout`).
    CallDeadline(Duration),
    /// The `parallel_exec` ran past its deadline (`kernel_timeout`).
    KernelDeadline(Duration),
}

impl Stop {
    /// Whether the whole guest call stops (not only the kernel).
    pub fn stops_guest(self) -> bool {
        !matches!(self, Stop::KernelDeadline(_))
    }

    /// A sentence for messages.
    pub fn describe(self) -> String {
        match self {
            Stop::Interrupted => "interrupted by the host".to_string(),
            Stop::CallDeadline(d) => format!(
                "the guest call ran past its deadline of {} s (timeout)",
                secs(d)
            ),
            Stop::KernelDeadline(d) => format!(
                "the kernel ran past its deadline of {} s (kernel timeout)",
                secs(d)
            ),
        }
    }
}

fn secs(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A deadline: when, and the limit it came from (for messages).
#[derive(Copy, Clone, Debug)]
pub struct Deadline {
    /// The instant it passes.
    pub at: Instant,
    /// The configured limit.
    pub limit: Duration,
}

impl Deadline {
    /// `limit` from now; `None` when the instant is not representable
    /// (a limit of centuries: no deadline).
    pub fn after(limit: Duration) -> Option<Deadline> {
        Instant::now()
            .checked_add(limit)
            .map(|at| Deadline { at, limit })
    }
}

/// How often [`Cancel::check_between`] reads the clock: every this many
/// iterations (so a deadline is noticed at most this many short iterations
/// late).
pub const CLOCK_EVERY: u32 = 16;

/// What a kernel engine polls while it runs one exec. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Cancel {
    interrupt: Arc<InterruptState>,
    call: Option<Deadline>,
    kernel: Option<Deadline>,
}

impl Cancel {
    /// A cancel state over `interrupt` with the given deadlines.
    pub fn new(
        interrupt: Arc<InterruptState>,
        call: Option<Deadline>,
        kernel: Option<Deadline>,
    ) -> Cancel {
        Cancel {
            interrupt,
            call,
            kernel,
        }
    }

    /// One that never fires (tests, tools).
    pub fn never() -> Cancel {
        Cancel::new(InterruptState::new(), None, None)
    }

    /// `Err` with the reason once the exec must stop.
    #[inline]
    pub fn check(&self) -> Result<(), Stop> {
        if self.interrupt.is_interrupted() {
            return Err(Stop::Interrupted);
        }
        if self.call.is_none() && self.kernel.is_none() {
            return Ok(());
        }
        self.check_deadlines(Instant::now())
    }

    /// [`Self::check`] between two kernel iterations, cheaper: the
    /// interrupt flag every time (one atomic load), the clock only at the
    /// first iteration of a worker's range and every [`CLOCK_EVERY`]th
    /// iteration. A clock read costs about as much as a short iteration
    /// (30-40 ns in a VM: the kernel deadline once doubled the time of
    /// one-store iterations on the JIT, `benches/limits_cost.rs`); a long
    /// iteration is still checked inside, at every fuel slice or epoch
    /// tick, with the clock.
    #[inline]
    pub fn check_between(&self, iteration: u32, first: bool) -> Result<(), Stop> {
        if self.interrupt.is_interrupted() {
            return Err(Stop::Interrupted);
        }
        if (self.call.is_none() && self.kernel.is_none())
            || !(first || iteration % CLOCK_EVERY == 0)
        {
            return Ok(());
        }
        self.check_deadlines(Instant::now())
    }

    #[cold]
    fn check_deadlines(&self, now: Instant) -> Result<(), Stop> {
        if let Some(d) = self.call.filter(|d| now >= d.at) {
            return Err(Stop::CallDeadline(d.limit));
        }
        if let Some(d) = self.kernel.filter(|d| now >= d.at) {
            return Err(Stop::KernelDeadline(d.limit));
        }
        Ok(())
    }

    /// The earliest deadline, if any (to arm an epoch or a timer with).
    pub fn deadline(&self) -> Option<Instant> {
        match (self.call, self.kernel) {
            (Some(a), Some(b)) => Some(a.at.min(b.at)),
            (a, b) => a.or(b).map(|d| d.at),
        }
    }

    /// Whether an interrupt is pending (no clock read).
    #[inline]
    pub fn interrupted(&self) -> bool {
        self.interrupt.is_interrupted()
    }
}

/// Why a call run by [`call_in_slices`] did not finish.
#[derive(Debug)]
pub enum SlicedError {
    /// It trapped or failed (fuel exhaustion is `TrapCode::OutOfFuel`).
    Wasm(wasmi::Error),
    /// `stop` answered between two slices.
    Stopped(Stop),
}

/// Calls `func` on an engine with fuel metering in slices of at most
/// [`FUEL_SLICE`] units (wasmi's resumable calls), asking `stop` between
/// slices. `left` is the budget on entry (`u64::MAX`: unlimited, never
/// decremented) and what is left of it on return, also after an error; a
/// budget means exactly what a one-shot call with that much fuel means.
/// A host error ends the call (it is not resumed). On an engine without
/// fuel metering the call runs in one piece (`stop` is never asked).
pub fn call_in_slices<T>(
    store: &mut Store<T>,
    func: Func,
    args: &[Val],
    results: &mut [Val],
    left: &mut u64,
    stop: impl Fn(&T) -> Option<Stop>,
) -> Result<(), SlicedError> {
    if store.get_fuel().is_err() {
        return func
            .call(&mut *store, args, results)
            .map_err(SlicedError::Wasm);
    }
    let metered = *left != u64::MAX;
    let mut given = (*left).min(FUEL_SLICE);
    store.set_fuel(given).map_err(SlicedError::Wasm)?;
    let mut call = func.call_resumable(&mut *store, args, results);
    loop {
        if metered {
            let unused = store.get_fuel().unwrap_or(0);
            *left -= given.saturating_sub(unused).min(*left);
        }
        let pending = match call.map_err(SlicedError::Wasm)? {
            ResumableCall::Finished => return Ok(()),
            ResumableCall::HostTrap(t) => return Err(SlicedError::Wasm(t.into_host_error())),
            ResumableCall::OutOfFuel(p) => p,
        };
        let need = pending.required_fuel().max(1);
        if *left < need {
            // What is left cannot pay for the next step: the budget is
            // spent (reported as 0 left, as after any out-of-fuel trap).
            *left = 0;
            return Err(SlicedError::Wasm(wasmi::TrapCode::OutOfFuel.into()));
        }
        if let Some(s) = stop(store.data()) {
            return Err(SlicedError::Stopped(s));
        }
        given = (*left).min(FUEL_SLICE.max(need));
        store.set_fuel(given).map_err(SlicedError::Wasm)?;
        call = pending.resume(&mut *store, results);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupt_reaches_only_a_call_in_progress() {
        let s = InterruptState::new();
        assert!(!s.interrupt(), "idle: nothing to stop");
        assert!(!s.is_interrupted());
        s.begin_call();
        assert!(!s.is_interrupted());
        assert!(s.interrupt());
        assert!(s.interrupt(), "still pending: reports true again");
        assert!(s.is_interrupted());
        s.end_call();
        assert!(!s.is_interrupted());
        s.begin_call();
        assert!(!s.is_interrupted(), "a new call starts clean");
    }

    #[test]
    fn between_iterations_the_clock_is_read_at_a_range_start_and_every_16th() {
        let s = InterruptState::new();
        let past = Deadline {
            at: Instant::now(),
            limit: Duration::from_millis(10),
        };
        let c = Cancel::new(s.clone(), None, Some(past));
        let late = Err(Stop::KernelDeadline(past.limit));
        assert_eq!(c.check_between(5, true), late, "first of a range");
        assert_eq!(c.check_between(5, false), Ok(()), "clock not read");
        assert_eq!(c.check_between(CLOCK_EVERY * 3, false), late);
        // Never more than CLOCK_EVERY iterations without a clock read.
        let reads = (100..100 + CLOCK_EVERY)
            .filter(|&i| c.check_between(i, false).is_err())
            .count();
        assert_eq!(reads, 1);
        // The interrupt flag is read every time.
        s.begin_call();
        s.interrupt();
        assert_eq!(c.check_between(5, false), Err(Stop::Interrupted));
        let none = Cancel::new(InterruptState::new(), None, None);
        assert_eq!(none.check_between(0, true), Ok(()));
    }

    #[test]
    fn deadlines_fire_in_order() {
        let s = InterruptState::new();
        let c = Cancel::new(s.clone(), None, None);
        assert_eq!(c.check(), Ok(()));
        let past = Deadline {
            at: Instant::now(),
            limit: Duration::from_millis(1500),
        };
        let future = Deadline::after(Duration::from_secs(3600)).unwrap();
        let c = Cancel::new(s.clone(), Some(future), Some(past));
        assert_eq!(
            c.check(),
            Err(Stop::KernelDeadline(Duration::from_millis(1500)))
        );
        assert!(!c.check().unwrap_err().stops_guest());
        let c = Cancel::new(s.clone(), Some(past), Some(past));
        assert_eq!(c.check(), Err(Stop::CallDeadline(past.limit)));
        assert_eq!(c.deadline(), Some(past.at));
        s.begin_call();
        s.interrupt();
        assert_eq!(c.check(), Err(Stop::Interrupted));
        assert!(Stop::Interrupted.stops_guest());
        assert!(Stop::CallDeadline(past.limit).describe().contains("1.5 s"));
        assert!(Deadline::after(Duration::MAX).is_none());
    }

    /// A loop of `n` rounds on a metered engine.
    fn looper() -> (Store<()>, Func) {
        let mut c = wasmi::Config::default();
        c.consume_fuel(true);
        let engine = wasmi::Engine::new(&c);
        let m = wasmi::Module::new(
            &engine,
            r#"(module (func (export "f") (param $n i32)
                (block $d (loop $l
                  (br_if $d (i32.eqz (local.get $n)))
                  (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                  (br $l)))))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        store.set_fuel(u64::MAX).unwrap();
        let inst = wasmi::Linker::new(&engine)
            .instantiate_and_start(&mut store, &m)
            .unwrap();
        let f = inst.get_func(&store, "f").unwrap();
        (store, f)
    }

    #[test]
    fn slices_spend_a_budget_exactly_like_one_call() {
        let (mut store, f) = looper();
        let args = [Val::I32(3_000_000)]; // several slices
        for budget in [10_000_000u64, 12_000_001, 1_000] {
            store.set_fuel(budget).unwrap();
            let one_shot = f.call(&mut store, &args, &mut []);
            let one_left = store.get_fuel().unwrap();
            let mut left = budget;
            let sliced = call_in_slices(&mut store, f, &args, &mut [], &mut left, |_| None);
            match (one_shot, sliced) {
                (Ok(()), Ok(())) => assert_eq!(left, one_left, "budget {budget}"),
                (Err(a), Err(SlicedError::Wasm(b))) => {
                    assert_eq!(a.as_trap_code(), Some(wasmi::TrapCode::OutOfFuel));
                    assert_eq!(b.as_trap_code(), a.as_trap_code(), "budget {budget}");
                }
                (a, b) => panic!("budget {budget}: one call {a:?}, slices {b:?}"),
            }
        }
        // Unlimited: stopped only by `stop`, which is asked between slices.
        let mut left = u64::MAX;
        let asked = std::cell::Cell::new(0);
        let r = call_in_slices(&mut store, f, &[Val::I32(-1)], &mut [], &mut left, |_| {
            asked.set(asked.get() + 1);
            (asked.get() == 3).then_some(Stop::Interrupted)
        });
        assert!(
            matches!(r, Err(SlicedError::Stopped(Stop::Interrupted))),
            "{r:?}"
        );
        assert_eq!(left, u64::MAX);
        // The store is usable afterwards.
        let mut left = u64::MAX;
        call_in_slices(&mut store, f, &[Val::I32(10)], &mut [], &mut left, |_| None).unwrap();
    }
}
