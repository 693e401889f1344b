//! Pool workers that stay awake for a moment after a shared call, so the
//! next call can hand them work without waking a sleeping thread.
//!
//! Why: a rayon worker that finds no work goes to sleep within tens of
//! microseconds, and waking it (a futex wake, then the scheduler, in a VM
//! an idle vCPU's wake-up too) cost 20-50 us here: more than sharing saves
//! on calls of under ~100 us of work, so PolyBench's many-step kernels
//! (jacobi-2d: 200 calls of ~70 us) ran on one thread while OpenMP, whose
//! threads spin between parallel regions, used both. Here the same idea,
//! bounded: after a call that used several workers, each pool thread the
//! call could use runs a *lingerer* job that spins for [`Linger::spin`]
//! (default [`DEFAULT_SPIN`], `WASI_PARALLEL_CPU_SPIN_US` to change, 0 to
//! turn off); a call that comes in that time claims the spinning lingerers
//! and hands each its share directly (a few atomic operations), the rest
//! goes through rayon as before.
//!
//! Protocol, per slot (one per pool thread a call can use besides the
//! calling thread), in `state`:
//! `IDLE` -(lingerer starts)-> `SPINNING` -(a call claims it)-> `CLAIMED`
//! -(the call publishes its job)-> `READY` -(the lingerer ran it)-> `DONE`
//! -(the call saw it done)-> `SPINNING`; `SPINNING` -(spin time over)->
//! `IDLE`. Only the claiming call moves `CLAIMED`/`DONE` on, only the
//! lingerer `READY` and `SPINNING -> IDLE`; so the job cell is written by
//! the claimer before `READY` (release) and read by the lingerer after it
//! (acquire), never both at once.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a pool thread spins after a shared call (see the module docs).
pub const DEFAULT_SPIN: Duration = Duration::from_micros(100);
/// Environment variable overriding [`DEFAULT_SPIN`] (microseconds; 0: off).
pub const SPIN_ENV: &str = "WASI_PARALLEL_CPU_SPIN_US";
/// Most time a call waits for a lingerer that is queued on the pool but
/// has not started (it starts as soon as a pool thread takes it).
const QUEUED_WAIT: Duration = Duration::from_micros(500);

const IDLE: u32 = 0;
const SPINNING: u32 = 1;
const CLAIMED: u32 = 2;
const READY: u32 = 3;
const DONE: u32 = 4;

/// A job with its lifetime erased: `run(data)` calls it once.
#[derive(Clone, Copy)]
struct ErasedJob {
    data: *mut (),
    run: unsafe fn(*mut ()),
}

struct Slot {
    state: AtomicU32,
    /// A lingerer for this slot was spawned on the pool and has not
    /// started yet.
    queued: AtomicBool,
    job: UnsafeCell<Option<ErasedJob>>,
}

/// The lingering workers of one CPU device.
pub struct Linger {
    slots: Box<[Slot]>,
    spin: Duration,
}

// SAFETY: `job` is accessed only by the thread that holds the slot in the
// protocol of the module docs (the claimer between CLAIMED and READY, the
// lingerer between READY and DONE), ordered by `state`'s release/acquire
// operations; the job's data is only touched through `run`, and the
// claimer guarantees it stays alive until DONE (`Claim::run`).
unsafe impl Sync for Linger {}
// SAFETY: as above; nothing in a slot is tied to a thread.
unsafe impl Send for Linger {}

impl Linger {
    /// Lingering for `slots` pool threads, spinning `spin` (the
    /// environment variable [`SPIN_ENV`] when `spin` is `None`).
    pub fn new(slots: usize, spin: Option<Duration>) -> Arc<Linger> {
        let spin = spin.unwrap_or_else(|| {
            std::env::var(SPIN_ENV)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_micros)
                .unwrap_or(DEFAULT_SPIN)
        });
        Arc::new(Linger {
            slots: (0..slots)
                .map(|_| Slot {
                    state: AtomicU32::new(IDLE),
                    queued: AtomicBool::new(false),
                    job: UnsafeCell::new(None),
                })
                .collect(),
            spin,
        })
    }

    /// Claims a spinning lingerer, or one that is queued and about to
    /// start (waited for up to [`QUEUED_WAIT`]); `None` when there is none.
    pub fn claim(&self) -> Option<Claim<'_>> {
        if self.spin.is_zero() {
            return None;
        }
        let mut waited: Option<Instant> = None;
        loop {
            let mut queued = false;
            for slot in self.slots.iter() {
                if slot
                    .state
                    .compare_exchange(SPINNING, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some(Claim {
                        slot,
                        started: false,
                    });
                }
                queued |= slot.queued.load(Ordering::Relaxed)
                    && slot.state.load(Ordering::Relaxed) == IDLE;
            }
            if !queued {
                return None;
            }
            let t = *waited.get_or_insert_with(Instant::now);
            if t.elapsed() > QUEUED_WAIT {
                return None;
            }
            std::hint::spin_loop();
        }
    }

    /// After a shared call: starts a lingerer on `pool` for every slot
    /// that has none (spinning or queued).
    pub fn rearm(self: &Arc<Linger>, pool: &rayon::ThreadPool) {
        if self.spin.is_zero() {
            return;
        }
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            if slot.state.load(Ordering::Relaxed) == IDLE
                && !slot.queued.swap(true, Ordering::Relaxed)
            {
                let me = self.clone();
                pool.spawn(move || me.linger(i));
            }
        }
    }

    /// The lingerer of slot `i`: spins until a call hands it a job (runs
    /// it, then spins again) or the spin time passes without one.
    fn linger(&self, i: usize) {
        let slot = &self.slots[i];
        slot.queued.store(false, Ordering::Relaxed);
        if slot
            .state
            .compare_exchange(IDLE, SPINNING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return; // another lingerer holds the slot
        }
        let mut deadline = Instant::now() + self.spin;
        let mut spins = 0u32;
        loop {
            match slot.state.load(Ordering::Acquire) {
                SPINNING => {
                    spins = spins.wrapping_add(1);
                    if spins % 64 == 0
                        && Instant::now() >= deadline
                        && slot
                            .state
                            .compare_exchange(SPINNING, IDLE, Ordering::Relaxed, Ordering::Relaxed)
                            .is_ok()
                    {
                        return;
                    }
                    std::hint::spin_loop();
                }
                READY => {
                    // SAFETY: READY (acquired above) means the claimer has
                    // written the job and will not touch the cell until
                    // DONE; the job's data lives until then (`Claim::run`).
                    let job = unsafe { (*slot.job.get()).take() };
                    if let Some(job) = job {
                        // SAFETY: `run` matches `data` (`Claim::run` made
                        // both from one closure) and is called once. A
                        // panic (the CPU device's jobs catch their own)
                        // must still end in DONE, or the claimer would
                        // wait for ever.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                            (job.run)(job.data)
                        }));
                    }
                    slot.state.store(DONE, Ordering::Release);
                    // The claimer hands the slot back (DONE -> SPINNING).
                    while slot.state.load(Ordering::Acquire) == DONE {
                        std::hint::spin_loop();
                    }
                    deadline = Instant::now() + self.spin;
                }
                // CLAIMED: the job is on its way.
                _ => std::hint::spin_loop(),
            }
        }
    }
}

/// A lingerer claimed by a call: [`Claim::run`] hands it a job; dropping
/// a claim that ran nothing gives the lingerer back.
pub struct Claim<'l> {
    slot: &'l Slot,
    started: bool,
}

impl Claim<'_> {
    /// Runs `job` on the claimed lingerer's thread while `here` runs on
    /// this one, and returns `here`'s result once both are done. `job` may
    /// borrow from the caller: it is finished before this returns (also
    /// when `here` panics: the wait is in a drop guard).
    pub fn run<J: FnOnce() + Send, R>(self, job: J, here: impl FnOnce() -> R) -> R {
        let mut job = Some(job);
        // Declared after `job`, so dropped before it: the wait for DONE
        // (in `Claim::drop`) ends before `job` is dropped. (A parameter is
        // dropped after every local: `self` itself would wait too late.)
        let mut claim = self;
        /// Calls the `Option<J>` behind `data` once.
        unsafe fn call<J: FnOnce()>(data: *mut ()) {
            // SAFETY: `data` is `&mut Option<J>` of the `run` frame below,
            // alive until the lingerer reports DONE, which that frame waits
            // for; nobody else touches it meanwhile.
            let job = unsafe { &mut *(data as *mut Option<J>) };
            if let Some(j) = job.take() {
                j();
            }
        }
        let erased = ErasedJob {
            data: (&mut job as *mut Option<J>).cast(),
            run: call::<J>,
        };
        // SAFETY: the slot is CLAIMED by us: the lingerer does not read the
        // cell until READY, stored (release) right after.
        unsafe { *claim.slot.job.get() = Some(erased) };
        claim.slot.state.store(READY, Ordering::Release);
        claim.started = true;
        // `claim` (dropped at the end of this frame, also on unwinding)
        // waits for DONE before `job` goes out of scope.
        here()
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.started {
            while self.slot.state.load(Ordering::Acquire) != DONE {
                std::hint::spin_loop();
            }
        }
        // Back to spinning: the lingerer resets its spin time.
        self.slot.state.store(SPINNING, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn pool(n: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    }

    /// A lingerer started after a call is claimed by the next one, runs its
    /// job (borrowing the caller's data) and keeps lingering; after its
    /// spin time it is gone and `claim` finds nothing.
    #[test]
    fn a_lingerer_takes_the_next_call_and_leaves_after_its_spin() {
        let p = pool(2);
        let l = Linger::new(1, Some(Duration::from_millis(200)));
        assert!(l.claim().is_none(), "nothing lingers before a call");
        l.rearm(&p);
        let hits = AtomicUsize::new(0);
        // The pool thread may take a while to pick the lingerer up (a
        // loaded machine); once it spins, every later call finds it.
        let t = Instant::now();
        while l.slots[0].state.load(Ordering::Acquire) != SPINNING {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "the lingerer never started"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        for round in 0..50 {
            let c = l.claim().expect("the lingerer is spinning");
            let mine = c.run(
                || {
                    hits.fetch_add(1, Ordering::Relaxed);
                },
                || round,
            );
            assert_eq!(mine, round);
            assert_eq!(
                hits.load(Ordering::Relaxed),
                round + 1,
                "done before run returns"
            );
        }
        // A claim given back unused leaves the lingerer spinning.
        drop(l.claim().expect("still spinning"));
        assert!(l.claim().is_some());
        // A job that panics still ends (the claimer is not left waiting)
        // and the lingerer takes the next one.
        let c = l.claim().expect("still spinning");
        assert_eq!(c.run(|| panic!("a job panicked (expected)"), || 7), 7);
        let c = l.claim().expect("spinning after a panicked job");
        c.run(
            || {
                hits.fetch_add(1, Ordering::Relaxed);
            },
            || (),
        );
        assert_eq!(hits.load(Ordering::Relaxed), 51);
        let l2 = Linger::new(1, Some(Duration::from_micros(200)));
        l2.rearm(&p);
        std::thread::sleep(Duration::from_millis(50));
        assert!(l2.claim().is_none(), "gone after its spin time");
        assert!(Linger::new(1, Some(Duration::ZERO)).claim().is_none());
    }

    /// Several calls from several threads: each claim is exclusive (every
    /// job runs exactly once, on one lingerer at a time).
    #[test]
    fn claims_are_exclusive() {
        let p = pool(3);
        let l = Linger::new(2, Some(Duration::from_millis(50)));
        let runs = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        l.rearm(&p);
                        let job = || {
                            runs.fetch_add(1, Ordering::Relaxed);
                        };
                        match l.claim() {
                            Some(c) => c.run(job, || ()),
                            None => job(),
                        }
                    }
                });
            }
        });
        assert_eq!(runs.load(Ordering::Relaxed), 800);
    }
}
