//! The adaptive policy's cost model and its choice rule: pure bookkeeping
//! over measured times, with no device in sight (unit-tested below with
//! made-up times).
//!
//! - A call is keyed by its kernel (content hash) and size class: the
//!   iteration count and the bytes of its buffers, each rounded up to a
//!   power of two ([`Key`]).
//! - Per key and device the model keeps a moving average of the call's
//!   run time on that device, copies excluded ([`DeviceCost`]). Copies are
//!   modelled apart, per (source, target) device pair, in nanoseconds per
//!   byte, because what a call must copy depends on where its buffers are
//!   now, not on the kernel.
//! - [`choose`]: a device that has never run the key is tried first
//!   (*exploring*), and tried a second time when its first (cold) call came
//!   within [`CONFIRM`]x of the best, whose second measurement then
//!   replaces the first; then the one with the lowest estimate, run time
//!   plus the copies it needs now, wins (*cheapest*). Every other device is
//!   re-tried once the time spent on the key since it last ran, times
//!   [`EXPLORE_SHARE`], pays for one call there (*re-trying*): exploring
//!   costs at most about that share of the run. When the best device's
//!   last time is more than [`DRIFT`]x its average, the devices whose
//!   average beats that time are re-tried at once (*drift*).
//! - [`BuildBudget`], the build budget (ski rental): a GPU whose pipeline
//!   for a kernel is not built yet is asked to build it only once the
//!   kernel's calls have taken, in all, as long as a build of that kernel
//!   on that device is expected to take (the kernel's code size times the
//!   median cost per code byte of the device's recent builds, a prior
//!   before the first). A kernel whose calls are short never pays for a
//!   build it could not earn back; a heavy one builds after its first
//!   call. Meanwhile its calls run on the CPU device (*saving for the GPU
//!   build*).

use std::collections::{HashMap, VecDeque};

/// The share of a key's time that re-trying other devices may cost.
pub const EXPLORE_SHARE: f64 = 0.05;
/// A device measured once within this factor of the best is measured again
/// (its first call may have paid one-time costs). It was 5x while a GPU's
/// first call compiled its shader (lavapipe compiles at the first dispatch,
/// which made the first Mandelbrot call 8x its warm time); since a GPU
/// counts as ready only after its builder's warm-up dispatch, and the CPU
/// device's setup is not counted, first calls came within 1.1x of warm
/// ones in the placement bench, and 5x had compute's CPU device (3.4x
/// lavapipe's time) measured a second time for nothing: 60 ms of 300.
pub const CONFIRM: f64 = 2.0;
/// A measurement this many times above the average is a drift.
pub const DRIFT: f64 = 2.0;
/// Weight of a new measurement in the moving average.
const ALPHA: f64 = 0.3;
/// Copy cost assumed before a pair of devices has been measured (ns/byte;
/// 4 GB/s).
pub const DEFAULT_COPY_NS_PER_BYTE: f64 = 0.25;
/// Most keys kept (the model forgets everything when it has more).
pub const MAX_KEYS: usize = 4096;
/// The expected cost of a GPU pipeline build before any build on that
/// device was measured (the build budget's prior; see [`BuildBudget`]).
pub const DEFAULT_BUILD_PRIOR: std::time::Duration = std::time::Duration::from_millis(50);
/// Measured builds kept per device; the expected cost per code byte is
/// their median.
pub const BUILD_SAMPLES: usize = 9;
/// Code size (bytes) below which kernels are expected to cost the same to
/// build.
pub const MIN_BUILD_CODE_BYTES: u64 = 64;
/// What a build costs besides the kernel's own code (pipeline creation,
/// the driver's compile of the shader's entry point, bounds and loop
/// checks), counted as this many bytes of code. Fitted to lavapipe's
/// builds in the `placement` bench: 72-102 ms for 69 bytes of code, 100 ms
/// for nstream's 70, 161-188 ms for mandelbrot's 309, 422-470 ms for
/// matmul's 704, that is 0.37-0.56 ms per unit of [`build_units`] (where
/// the cost per code byte alone spread 0.5-1.5 ms).
pub const FIXED_BUILD_BYTES: u64 = 128;

/// A call that starts a build on a GPU that builds on the host's cores
/// waits for it at most this many times the build's expected cost (then the
/// build goes on in the background and the call runs on the CPU device).
pub const WAIT_FOR_BUILD: f64 = 4.0;

/// How a device's decline of a kernel for one call's block size begins
/// (llvmpipe's loop limit, predicted before any build): it holds for that
/// call only, so the placement history does not keep it.
pub const PREDICTED_DECLINE: &str = "not tried for a kernel with a loop at block size";

/// What a build on one device is expected to cost, a copy taken from the
/// [`BuildBudget`] (so that a builder can size each build without the
/// model's lock).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct BuildEstimate {
    /// Expected nanoseconds per [`build_units`].
    pub per_unit_ns: f64,
}

impl BuildEstimate {
    /// The expected cost of building a kernel with `code_bytes` of code.
    pub fn for_code(self, code_bytes: u64) -> std::time::Duration {
        std::time::Duration::from_nanos((self.per_unit_ns * build_units(code_bytes)) as u64)
    }
}

/// A build's size in the units its cost is modelled in: the kernel's code
/// bytes (at least [`MIN_BUILD_CODE_BYTES`]) plus [`FIXED_BUILD_BYTES`].
pub fn build_units(code_bytes: u64) -> f64 {
    (code_bytes.max(MIN_BUILD_CODE_BYTES) + FIXED_BUILD_BYTES) as f64
}

/// `ceil(log2(n))`, 0 for `n <= 1`.
pub fn size_class(n: u64) -> u8 {
    if n <= 1 {
        0
    } else {
        (64 - (n - 1).leading_zeros()) as u8
    }
}

/// What the model keeps apart.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// The kernel's content hash.
    pub kernel: u64,
    /// [`size_class`] of the iteration count.
    pub iterations: u8,
    /// [`size_class`] of the call's buffer bytes (each buffer once).
    pub bytes: u8,
}

impl Key {
    /// The key of a call.
    pub fn new(kernel: u64, num_iterations: u32, buffer_bytes: u64) -> Key {
        Key {
            kernel,
            iterations: size_class(num_iterations as u64),
            bytes: size_class(buffer_bytes),
        }
    }
}

/// One device's record for one key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceCost {
    /// Measurements taken.
    pub samples: u32,
    /// Moving average of the run time, copies excluded (ns).
    pub average_ns: f64,
    /// The last measurement (ns).
    pub last_ns: f64,
    /// Time spent on the key, all devices, since this device last ran it
    /// (ns, copies included).
    pub spent_since_ns: f64,
    /// Set by a drift of another device: re-try this one at the next call.
    pub due: bool,
    /// Taken from the placement history ([`super::history`]) and not
    /// measured in this run yet.
    pub remembered: bool,
}

/// Whether a candidate device can take the call now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// It can run the kernel now.
    Ready,
    /// Its pipeline for the kernel is being built in the background.
    Building,
    /// Its pipeline for the kernel is not built and no build was started:
    /// the build budget ([`BuildBudget`]) is not reached yet.
    Unbuilt,
    /// It cannot run the kernel (the reason).
    Declined(String),
    /// Its pipeline for the kernel is not built, and the placement history
    /// says a build would not pay in this run ([`plan_build`]).
    Skipped,
}

/// A device the call could run on.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Runtime device index.
    pub device: usize,
    /// Can it run now?
    pub status: Status,
    /// Estimated cost of the copies the call would need there (ns).
    pub copy_ns: f64,
}

/// Why a call runs where it runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The policy is `hint` (or a device is forced): the device the guest
    /// got from `get_device`.
    Hint,
    /// The only device that can run it.
    Only,
    /// No measurement of this kernel and size class there yet.
    Exploring,
    /// The lowest estimate.
    Cheapest,
    /// A periodic re-try of a device that was not the cheapest.
    Retrying,
    /// The cheapest device's time drifted: the others are re-tried.
    Drift,
    /// A better candidate is still compiling the kernel (in the
    /// background); this device runs the call meanwhile.
    CompilingElsewhere,
    /// A GPU could build the kernel, but the kernel's calls have not yet
    /// taken as long as the build is expected to take ([`BuildBudget`]):
    /// this device runs the call and no build is started yet.
    SavingForBuild,
    /// The GPU declined the kernel; it runs here.
    Declined,
    /// The `rotate` policy's turn.
    Rotating,
    /// The placement history of earlier runs says so: the cheapest device
    /// by remembered costs, or the CPU device because a GPU build would
    /// not pay ([`plan_build`]).
    Remembered,
}

impl Reason {
    /// How `--stats` and the trace name it.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Hint => "hint",
            Reason::Only => "only device",
            Reason::Exploring => "exploring",
            Reason::Cheapest => "cheapest",
            Reason::Retrying => "re-trying",
            Reason::Drift => "drift",
            Reason::CompilingElsewhere => "compiling elsewhere",
            Reason::SavingForBuild => "saving for the GPU build",
            Reason::Declined => "declined",
            Reason::Rotating => "rotating",
            Reason::Remembered => "remembered",
        }
    }
}

/// Per key: the devices' records, in candidate order.
#[derive(Clone, Debug, Default)]
pub struct KeyModel {
    /// `(device, record)`.
    pub devices: Vec<(usize, DeviceCost)>,
    /// Calls placed by the `rotate` policy so far.
    pub turn: u64,
}

impl KeyModel {
    /// The record of `device` (created empty).
    pub fn cost_mut(&mut self, device: usize) -> &mut DeviceCost {
        let i = match self.devices.iter().position(|(d, _)| *d == device) {
            Some(i) => i,
            None => {
                self.devices.push((device, DeviceCost::default()));
                self.devices.len() - 1
            }
        };
        &mut self.devices[i].1
    }

    /// The record of `device`, if it has one.
    pub fn cost(&self, device: usize) -> Option<&DeviceCost> {
        self.devices
            .iter()
            .find(|(d, _)| *d == device)
            .map(|(_, c)| c)
    }

    /// The estimate of a call on `c` (ns): its average plus the copies,
    /// `None` before its first measurement.
    pub fn estimate(&self, c: &Candidate) -> Option<f64> {
        self.cost(c.device)
            .filter(|r| r.samples > 0)
            .map(|r| r.average_ns + c.copy_ns)
    }

    /// Records that the call ran on `device` in `run_ns` (copies excluded)
    /// and took `total_ns` in all.
    pub fn observe(&mut self, device: usize, run_ns: f64, total_ns: f64) {
        let best = self.best_known();
        for (_, r) in self.devices.iter_mut() {
            r.spent_since_ns += total_ns;
        }
        let r = self.cost_mut(device);
        let drift = r.samples >= 2 && run_ns > r.average_ns * DRIFT;
        // A device's first call of a kernel pays one-time costs (page
        // faults, lazy allocations, cold caches): the second measurement
        // replaces it instead of being averaged with it.
        r.average_ns = if r.samples < 2 {
            run_ns
        } else {
            r.average_ns + ALPHA * (run_ns - r.average_ns)
        };
        r.last_ns = run_ns;
        r.samples = r.samples.saturating_add(1);
        r.spent_since_ns = 0.0;
        r.due = false;
        r.remembered = false;
        if drift && best == Some(device) {
            // Only a device that would have beaten the slowed-down time is
            // worth a re-try (a noisy microsecond kernel must not send its
            // calls to a device a thousand times slower).
            for (d, r) in self.devices.iter_mut() {
                if *d != device && r.samples > 0 && r.average_ns < run_ns {
                    r.due = true;
                }
            }
        }
    }

    /// The device with the lowest average (copies not counted), if any has
    /// one.
    fn best_known(&self) -> Option<usize> {
        self.devices
            .iter()
            .filter(|(_, r)| r.samples > 0)
            .min_by(|a, b| a.1.average_ns.total_cmp(&b.1.average_ns))
            .map(|(d, _)| *d)
    }
}

/// The rule: which of `candidates` (in preference order for ties and
/// first tries; at least one) runs the call, and why.
pub fn choose(model: &KeyModel, candidates: &[Candidate]) -> (usize, Reason) {
    let ready: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.status == Status::Ready)
        .collect();
    let building = candidates.iter().any(|c| c.status == Status::Building);
    let unbuilt = candidates.iter().any(|c| c.status == Status::Unbuilt);
    let skipped = candidates.iter().any(|c| c.status == Status::Skipped);
    let declined = candidates
        .iter()
        .any(|c| matches!(c.status, Status::Declined(_)));
    let Some(first) = ready.first() else {
        // Nothing is ready (cannot happen with the CPU device among the
        // candidates): the first one, which will build synchronously.
        return (candidates[0].device, Reason::Only);
    };
    if ready.len() == 1 {
        let why = if building {
            Reason::CompilingElsewhere
        } else if unbuilt {
            Reason::SavingForBuild
        } else if skipped {
            Reason::Remembered
        } else if declined {
            Reason::Declined
        } else {
            Reason::Only
        };
        return (first.device, why);
    }
    if let Some(c) = ready.iter().find(|c| model.estimate(c).is_none()) {
        return (c.device, Reason::Exploring);
    }
    let est = |c: &Candidate| model.estimate(c).unwrap_or(f64::INFINITY);
    let best = ready
        .iter()
        .min_by(|a, b| est(a).total_cmp(&est(b)))
        .expect("two or more ready");
    // A device measured once (a cold call) that came within CONFIRM x of
    // the best is measured a second time before it is ruled out.
    if let Some(c) = ready.iter().find(|c| {
        c.device != best.device
            && model.cost(c.device).is_some_and(|r| r.samples == 1)
            && est(c) < CONFIRM * est(best)
    }) {
        return (c.device, Reason::Exploring);
    }
    // Re-try the most overdue other device, if one is due.
    let due = ready
        .iter()
        .filter(|c| c.device != best.device)
        .filter_map(|c| {
            let r = model.cost(c.device)?;
            if r.due {
                return Some((c, f64::INFINITY, Reason::Drift));
            }
            let owed = r.spent_since_ns * EXPLORE_SHARE / est(c).max(1.0);
            (owed >= 1.0).then_some((c, owed, Reason::Retrying))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match due {
        Some((c, _, why)) => (c.device, why),
        None if building => (best.device, Reason::CompilingElsewhere),
        None if unbuilt => (best.device, Reason::SavingForBuild),
        None if skipped || model.cost(best.device).is_some_and(|r| r.remembered) => {
            (best.device, Reason::Remembered)
        }
        None => (best.device, Reason::Cheapest),
    }
}

/// What to do about a GPU whose pipeline for a kernel is not built, given
/// what the placement history says ([`plan_build`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing known: the build budget decides ([`BuildBudget`]).
    Budget,
    /// A build would not pay in this run: do not build.
    Never,
    /// Build in the background; calls run on the CPU device meanwhile.
    Background,
    /// Build now and run the call on the GPU: the call waits for the build
    /// (at most [`WAIT_FOR_BUILD`] times its expected cost).
    Wait,
}

/// The build decision with a history: the kernel's cost per call on the
/// CPU device (`cpu`) and on the GPU (`gpu`) for this size class, what a
/// build of it costs there (`build_ns`), and how many calls are left
/// (`remaining`: the calls it had in the last run less those made so far).
/// With all of them known the choice is no longer ski rental's guess: a
/// build pays when `build + remaining * gpu < remaining * cpu`. Then a GPU
/// that takes the host's cores to build (`shares_cores`: lavapipe, whose
/// builds ran 1.7-2.5x longer beside the CPU device's calls than alone)
/// builds at once and the call waits for it (at most [`WAIT_FOR_BUILD`]
/// times its expected cost); any other GPU builds in the background while
/// the CPU device runs calls.
/// A GPU no faster than the CPU device, or whose build the remaining calls
/// would not pay back, is not built ([`Plan::Never`]). Anything missing:
/// [`Plan::Budget`].
pub fn plan_build(
    cpu: Option<&DeviceCost>,
    gpu: Option<&DeviceCost>,
    build_ns: Option<f64>,
    remaining: Option<u64>,
    shares_cores: bool,
) -> Plan {
    let known = |r: Option<&DeviceCost>| r.filter(|r| r.samples > 0).map(|r| r.average_ns);
    let (Some(c), Some(g), Some(b), Some(n)) = (known(cpu), known(gpu), build_ns, remaining) else {
        return Plan::Budget;
    };
    let n = n.max(1) as f64;
    if g >= c || b + n * g >= n * c {
        Plan::Never
    } else if shares_cores {
        Plan::Wait
    } else {
        Plan::Background
    }
}

/// The build budget (ski rental): when a GPU may start building a kernel's
/// pipeline. Renting is running the kernel's calls on the CPU device;
/// buying is the build, which on a CPU-type Vulkan device (lavapipe) takes
/// the cores the calls run on and may take longer than the whole run. So a
/// device is asked to build a kernel only once the kernel's measured calls
/// (all size classes, copies included) have taken, in all, at least the
/// build's expected cost on that device. Ski rental's bound (never more
/// than twice the better choice) holds only if that cost is right, and a
/// build's cost grows with the kernel (on lavapipe from 100 ms for 70
/// bytes of code to 450 ms for matmul's 704). So the expected cost is the
/// kernel's [`build_units`] times the median cost per unit of the last
/// [`BUILD_SAMPLES`] builds measured there (build and warm-up, wall time);
/// before the first one, the prior is the cost of a kernel of up to
/// [`MIN_BUILD_CODE_BYTES`] bytes of code, and a larger one scales with
/// its units. A kernel that never runs that long never pays for a build;
/// one whose first call takes longer than a build starts it after that
/// call. With no prior (`None`) the budget is off and every build starts
/// at once.
#[derive(Clone, Debug, Default)]
pub struct BuildBudget {
    /// The expected cost before any measurement (ns); `None`: no budget.
    prior_ns: Option<f64>,
    /// Time the kernel's calls took so far (ns), by kernel hash.
    spent: HashMap<u64, f64>,
    /// Recent measured builds (ns per [`build_units`]), by device.
    builds: HashMap<usize, VecDeque<f64>>,
}

impl BuildBudget {
    /// A budget with `prior` as the expected cost of a device's first
    /// build; `None` turns the budget off.
    pub fn new(prior: Option<std::time::Duration>) -> BuildBudget {
        BuildBudget {
            prior_ns: prior.map(|d| d.as_nanos() as f64),
            ..BuildBudget::default()
        }
    }

    /// A call of `kernel` took `ns`.
    pub fn observe_call(&mut self, kernel: u64, ns: f64) {
        if self.prior_ns.is_none() {
            return;
        }
        if self.spent.len() >= MAX_KEYS && !self.spent.contains_key(&kernel) {
            self.spent.clear();
        }
        *self.spent.entry(kernel).or_default() += ns;
    }

    /// A build on `device` of a kernel with `code_bytes` of code took `ns`
    /// (wall time, warm-up included).
    pub fn observe_build(&mut self, device: usize, ns: f64, code_bytes: u64) {
        let b = self.builds.entry(device).or_default();
        if b.len() == BUILD_SAMPLES {
            b.pop_front();
        }
        b.push_back(ns / build_units(code_bytes));
    }

    /// Whether there is a budget (a prior; `None` turns it off).
    pub fn enabled(&self) -> bool {
        self.prior_ns.is_some()
    }

    /// The expected cost of building a kernel with `code_bytes` of code on
    /// `device` (ns): its [`build_units`] times the median cost per unit of
    /// the device's recent builds, else the prior scaled the same way from
    /// a kernel of [`MIN_BUILD_CODE_BYTES`] (0 with the budget off).
    pub fn expected_ns(&self, device: usize, code_bytes: u64) -> f64 {
        self.estimate(device).per_unit_ns * build_units(code_bytes)
    }

    /// What a build on `device` is expected to cost per [`build_units`]:
    /// see [`Self::expected_ns`].
    pub fn estimate(&self, device: usize) -> BuildEstimate {
        let per_unit_ns = match self.builds.get(&device).filter(|b| !b.is_empty()) {
            Some(b) => {
                let mut v: Vec<f64> = b.iter().copied().collect();
                v.sort_by(f64::total_cmp);
                let n = v.len();
                if n % 2 == 1 {
                    v[n / 2]
                } else {
                    (v[n / 2 - 1] + v[n / 2]) / 2.0
                }
            }
            None => self.prior_ns.unwrap_or(0.0) / build_units(0),
        };
        BuildEstimate { per_unit_ns }
    }

    /// Time the calls of `kernel` took so far (ns; 0 with the budget off).
    pub fn spent_ns(&self, kernel: u64) -> f64 {
        self.spent.get(&kernel).copied().unwrap_or(0.0)
    }

    /// Whether `device` may start building `kernel` (`code_bytes` of code)
    /// now: the budget is off, or the kernel's calls took at least the
    /// expected build cost.
    pub fn may_build(&self, kernel: u64, code_bytes: u64, device: usize) -> bool {
        self.prior_ns.is_none() || self.spent_ns(kernel) >= self.expected_ns(device, code_bytes)
    }
}

/// Measured copy costs per (source, target) device pair.
#[derive(Clone, Debug, Default)]
pub struct CopyRates {
    ns_per_byte: HashMap<(usize, usize), f64>,
}

impl CopyRates {
    /// The estimate for copying `bytes` from `from` to `to` (ns).
    pub fn estimate(&self, from: usize, to: usize, bytes: u64) -> f64 {
        if from == to {
            return 0.0;
        }
        let rate = self
            .ns_per_byte
            .get(&(from, to))
            .copied()
            .unwrap_or(DEFAULT_COPY_NS_PER_BYTE);
        rate * bytes as f64
    }

    /// Records a copy of `bytes` that took `ns`. Small copies are mostly
    /// fixed cost and say little about the rate: below 4 KiB they are not
    /// recorded.
    pub fn observe(&mut self, from: usize, to: usize, bytes: u64, ns: f64) {
        if bytes < 4096 {
            return;
        }
        let rate = ns / bytes as f64;
        self.ns_per_byte
            .entry((from, to))
            .and_modify(|r| *r += ALPHA * (rate - *r))
            .or_insert(rate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(device: usize, status: Status) -> Candidate {
        Candidate {
            device,
            status,
            copy_ns: 0.0,
        }
    }

    const CPU: usize = 1;
    const GPU: usize = 2;

    #[test]
    fn size_classes_round_up_to_powers_of_two() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(1), 0);
        assert_eq!(size_class(2), 1);
        assert_eq!(size_class(3), 2);
        assert_eq!(size_class(4), 2);
        assert_eq!(size_class(5), 3);
        assert_eq!(size_class(1 << 20), 20);
        assert_eq!(size_class((1 << 20) + 1), 21);
        assert_eq!(size_class(u64::MAX), 64);
        assert_eq!(Key::new(7, 1000, 4096), Key::new(7, 1024, 3000));
        assert_ne!(Key::new(7, 1000, 4096), Key::new(7, 1025, 4096));
    }

    #[test]
    fn explores_each_ready_device_then_takes_the_cheapest() {
        let mut m = KeyModel::default();
        let both = [cand(CPU, Status::Ready), cand(GPU, Status::Ready)];
        assert_eq!(choose(&m, &both), (CPU, Reason::Exploring));
        m.observe(CPU, 10e6, 10e6);
        assert_eq!(choose(&m, &both), (GPU, Reason::Exploring));
        m.observe(GPU, 60e6, 60e6);
        assert_eq!(choose(&m, &both), (CPU, Reason::Cheapest));
        // A GPU that is faster wins once measured.
        let mut m = KeyModel::default();
        m.observe(CPU, 10e6, 10e6);
        m.observe(GPU, 2e6, 2e6);
        assert_eq!(choose(&m, &both), (GPU, Reason::Cheapest));
    }

    #[test]
    fn a_cold_first_call_close_to_the_best_is_measured_again() {
        let both = [cand(CPU, Status::Ready), cand(GPU, Status::Ready)];
        let mut m = KeyModel::default();
        m.observe(CPU, 80e6, 80e6);
        // The GPU's first call paid 150 ms of one-time costs.
        m.observe(GPU, 150e6, 150e6);
        assert_eq!(choose(&m, &both), (GPU, Reason::Exploring));
        m.observe(GPU, 30e6, 30e6);
        // Its second measurement replaced the cold one.
        assert_eq!(m.cost(GPU).unwrap().average_ns, 30e6);
        // Now the CPU, measured once (80 ms) over 2x the GPU's 30, is not
        // measured again: the GPU wins.
        assert_eq!(choose(&m, &both), (GPU, Reason::Cheapest));
        // One within 2x is.
        let mut m = KeyModel::default();
        m.observe(CPU, 50e6, 50e6);
        m.observe(GPU, 30e6, 30e6);
        assert_eq!(choose(&m, &both), (CPU, Reason::Exploring));
        m.observe(CPU, 52e6, 52e6);
        assert_eq!(choose(&m, &both), (GPU, Reason::Cheapest));
        // A device far off is not measured twice.
        let mut m = KeyModel::default();
        m.observe(CPU, 10e6, 10e6);
        m.observe(GPU, 400e6, 400e6);
        assert_eq!(choose(&m, &both), (CPU, Reason::Cheapest));
    }

    #[test]
    fn copies_count_against_a_device() {
        let mut m = KeyModel::default();
        for _ in 0..2 {
            m.observe(CPU, 10e6, 10e6);
            m.observe(GPU, 6e6, 6e6);
        }
        let mut both = [cand(CPU, Status::Ready), cand(GPU, Status::Ready)];
        assert_eq!(choose(&m, &both).0, GPU);
        // The buffers are on the CPU and moving them costs 5 ms.
        both[1].copy_ns = 5e6;
        assert_eq!(choose(&m, &both), (CPU, Reason::Cheapest));
    }

    #[test]
    fn building_and_declined_devices_are_not_chosen() {
        let m = KeyModel::default();
        let c = [cand(CPU, Status::Ready), cand(GPU, Status::Building)];
        assert_eq!(choose(&m, &c), (CPU, Reason::CompilingElsewhere));
        let c = [
            cand(CPU, Status::Ready),
            cand(GPU, Status::Declined("x".into())),
        ];
        assert_eq!(choose(&m, &c), (CPU, Reason::Declined));
        let c = [cand(CPU, Status::Ready)];
        assert_eq!(choose(&m, &c), (CPU, Reason::Only));
    }

    #[test]
    fn retrying_costs_a_bounded_share() {
        let mut m = KeyModel::default();
        m.observe(CPU, 1e6, 1e6);
        m.observe(GPU, 10e6, 10e6);
        let both = [cand(CPU, Status::Ready), cand(GPU, Status::Ready)];
        let mut on_gpu = 0;
        let mut total = 0.0;
        let mut gpu_time = 0.0;
        for _ in 0..10_000 {
            let (d, why) = choose(&m, &both);
            let t = if d == GPU { 10e6 } else { 1e6 };
            if d == GPU {
                assert_eq!(why, Reason::Retrying);
                on_gpu += 1;
                gpu_time += t;
            } else {
                assert_eq!(why, Reason::Cheapest);
            }
            total += t;
            m.observe(d, t, t);
        }
        assert!(on_gpu > 0, "the slower device is re-tried now and then");
        let share = gpu_time / total;
        assert!(
            share <= EXPLORE_SHARE * 1.1,
            "re-tries cost {share:.3} of the time"
        );
    }

    #[test]
    fn a_drift_of_the_best_device_retries_the_others() {
        let mut m = KeyModel::default();
        for _ in 0..3 {
            m.observe(CPU, 1e6, 1e6);
        }
        m.observe(GPU, 3e6, 3e6);
        m.observe(GPU, 3e6, 3e6);
        let both = [cand(CPU, Status::Ready), cand(GPU, Status::Ready)];
        assert_eq!(choose(&m, &both), (CPU, Reason::Cheapest));
        // A 2.5 ms blip: slower than twice the average, but still faster
        // than the GPU: no re-try.
        m.observe(CPU, 2.5e6, 2.5e6);
        assert_eq!(choose(&m, &both), (CPU, Reason::Cheapest));
        let mut m = KeyModel::default();
        for _ in 0..3 {
            m.observe(CPU, 1e6, 1e6);
        }
        m.observe(GPU, 3e6, 3e6);
        m.observe(GPU, 3e6, 3e6);
        // The CPU gets 5x slower (another program took the cores).
        m.observe(CPU, 5e6, 5e6);
        assert_eq!(choose(&m, &both), (GPU, Reason::Drift));
        m.observe(GPU, 3e6, 3e6);
        // The CPU's average (2.2 ms) still beats the GPU's 3 ms, and the
        // re-try is done: back to the cheapest.
        assert_eq!(choose(&m, &both), (CPU, Reason::Cheapest));
        // Two more slow CPU calls bring its average above the GPU's.
        m.observe(CPU, 5e6, 5e6);
        m.observe(CPU, 5e6, 5e6);
        assert_eq!(choose(&m, &both), (GPU, Reason::Cheapest));
    }

    #[test]
    fn waiting_for_the_build_budget_is_its_own_reason() {
        let m = KeyModel::default();
        let c = [cand(CPU, Status::Ready), cand(GPU, Status::Unbuilt)];
        assert_eq!(choose(&m, &c), (CPU, Reason::SavingForBuild));
        assert_eq!(Reason::SavingForBuild.name(), "saving for the GPU build");
        // A build in progress elsewhere is named first.
        let c = [
            cand(CPU, Status::Ready),
            cand(GPU, Status::Unbuilt),
            cand(3, Status::Building),
        ];
        assert_eq!(choose(&m, &c), (CPU, Reason::CompilingElsewhere));
        // Two ready devices and an unbuilt one: the cheapest runs it.
        let mut m = KeyModel::default();
        m.observe(CPU, 5e6, 5e6);
        m.observe(CPU, 5e6, 5e6);
        m.observe(GPU, 1e6, 1e6);
        m.observe(GPU, 1e6, 1e6);
        let c = [
            cand(CPU, Status::Ready),
            cand(GPU, Status::Ready),
            cand(3, Status::Unbuilt),
        ];
        assert_eq!(choose(&m, &c), (GPU, Reason::SavingForBuild));
    }

    #[test]
    fn a_short_kernel_never_pays_for_a_build_and_a_heavy_one_does() {
        let prior = DEFAULT_BUILD_PRIOR.as_nanos() as f64;
        assert_eq!(prior, 50e6);
        let mut b = BuildBudget::new(Some(DEFAULT_BUILD_PRIOR));
        // The prior is a small kernel's (up to 64 bytes of code) ...
        assert_eq!(b.expected_ns(GPU, 0), prior);
        assert_eq!(b.expected_ns(GPU, MIN_BUILD_CODE_BYTES), prior);
        // ... and grows with a larger one: 100 bytes are 228 units of 192.
        assert_eq!(b.expected_ns(GPU, 100), prior * 228.0 / 192.0);
        let small = |b: &BuildBudget, k| b.may_build(k, 64, GPU);
        // histogram-like: 1.2 ms a call, 20 calls = 24 ms < 50 ms.
        let calls = |b: &mut BuildBudget, kernel, call_ns: f64| {
            (1..=20).find(|c| {
                assert!(!small(b, kernel), "before call {c}");
                b.observe_call(kernel, call_ns);
                small(b, kernel)
            })
        };
        assert_eq!(calls(&mut b, 1, 1.2e6), None);
        assert!((b.spent_ns(1) - 24e6).abs() < 1.0);
        // compute-like: 76 ms a call: after the first call.
        assert_eq!(calls(&mut b, 2, 76e6), Some(1));
        // 20 ms a call: after the third (60 ms >= 50 ms, 40 ms is not).
        assert_eq!(calls(&mut b, 3, 20e6), Some(3));
        // Exactly the budget is enough.
        assert_eq!(calls(&mut b, 4, 25e6), Some(2));
        // Kernels are kept apart: kernel 1 is still below.
        assert!(!small(&b, 1));
        // A matmul-sized kernel (704 bytes of code: 832 units, 217 ms
        // expected) is not built after 20 calls of 7 ms.
        for _ in 0..20 {
            b.observe_call(5, 7e6);
        }
        assert!(!b.may_build(5, 704, GPU));
        assert!(b.may_build(5, 64, GPU));
    }

    #[test]
    fn the_expected_build_cost_follows_measured_builds_and_the_kernels_size() {
        let mut b = BuildBudget::new(Some(DEFAULT_BUILD_PRIOR));
        // 400 ms for 72 bytes of code: 200 units, 2 ms a unit.
        b.observe_build(GPU, 400e6, 72);
        assert_eq!(b.expected_ns(GPU, 72), 400e6);
        // 272 bytes are twice the units; any size under 64 bytes is 192.
        assert_eq!(b.expected_ns(GPU, 272), 800e6);
        assert_eq!(
            b.estimate(GPU).for_code(272),
            std::time::Duration::from_millis(800)
        );
        assert_eq!(b.expected_ns(GPU, 1), 384e6);
        // Another device keeps the prior.
        assert_eq!(b.expected_ns(3, 64), 50e6);
        // The median of the recent rates: one fast build does not move it.
        b.observe_build(GPU, 10e6, 72);
        assert_eq!(b.expected_ns(GPU, 72), 205e6);
        b.observe_build(GPU, 20e6, 72);
        assert_eq!(b.expected_ns(GPU, 72), 20e6);
        b.observe_build(GPU, 3900e6, 72);
        assert_eq!(b.expected_ns(GPU, 72), 210e6);
        // Only the last BUILD_SAMPLES count.
        for _ in 0..BUILD_SAMPLES {
            b.observe_build(GPU, 10e6, 272);
        }
        assert_eq!(b.expected_ns(GPU, 72), 5e6);
        // The placement bench's lavapipe builds (ms, code bytes) agree
        // within about 1.5x on the cost per unit, where the cost per code
        // byte alone spread 3x.
        let runs: [(f64, u64); 5] = [
            (72.0, 69),
            (102.0, 69),
            (100.0, 70),
            (175.0, 309),
            (446.0, 704),
        ];
        let per_unit: Vec<f64> = runs.iter().map(|(ms, b)| ms / build_units(*b)).collect();
        let per_byte: Vec<f64> = runs.iter().map(|(ms, b)| ms / *b as f64).collect();
        let spread = |v: &[f64]| {
            v.iter().cloned().fold(f64::MIN, f64::max) / v.iter().cloned().fold(f64::MAX, f64::min)
        };
        assert!(spread(&per_unit) < 1.5, "{per_unit:?}");
        assert!(spread(&per_byte) > 2.5, "{per_byte:?}");
    }

    #[test]
    fn without_a_prior_the_budget_is_off() {
        let mut b = BuildBudget::new(None);
        assert!(b.may_build(1, 100, GPU), "at once, before any call");
        b.observe_build(GPU, 400e6, 100);
        b.observe_call(1, 1e3);
        assert!(b.may_build(1, 100, GPU));
        assert!(b.may_build(2, 100, GPU));
        // A zero prior: the first kernel builds at once, later ones by
        // what builds measured.
        let mut b = BuildBudget::new(Some(std::time::Duration::ZERO));
        assert!(b.may_build(1, 100, GPU));
        b.observe_build(GPU, 30e6, 100);
        assert!(!b.may_build(2, 100, GPU));
    }

    #[test]
    fn copy_rates_are_learned_per_pair() {
        let mut r = CopyRates::default();
        assert_eq!(r.estimate(1, 1, 1 << 20), 0.0);
        assert_eq!(
            r.estimate(1, 2, 1 << 20),
            DEFAULT_COPY_NS_PER_BYTE * (1 << 20) as f64
        );
        r.observe(1, 2, 1 << 20, 2.0 * (1 << 20) as f64);
        assert_eq!(r.estimate(1, 2, 1000), 2000.0);
        assert_eq!(r.estimate(2, 1, 1000), DEFAULT_COPY_NS_PER_BYTE * 1000.0);
        r.observe(1, 2, 100, 1e9);
        assert_eq!(r.estimate(1, 2, 1000), 2000.0, "small copies are ignored");
    }

    fn remembered(ns: f64) -> DeviceCost {
        DeviceCost {
            samples: 2,
            average_ns: ns,
            last_ns: ns,
            remembered: true,
            ..DeviceCost::default()
        }
    }

    #[test]
    fn with_a_history_a_build_happens_only_where_it_pays() {
        let ms = 1e6;
        let (c, g) = (remembered(76.0 * ms), remembered(12.0 * ms));
        // compute: 20 calls left, a 60 ms build pays back in one call.
        let wait = plan_build(Some(&c), Some(&g), Some(60.0 * ms), Some(20), true);
        assert_eq!(wait, Plan::Wait);
        // The same on a GPU that does not build on the host's cores.
        let bg = plan_build(Some(&c), Some(&g), Some(60.0 * ms), Some(20), false);
        assert_eq!(bg, Plan::Background);
        // One call left and a build longer than the saving: not built.
        let one = plan_build(Some(&c), Some(&g), Some(80.0 * ms), Some(1), true);
        assert_eq!(one, Plan::Never);
        // No calls left counts as one.
        let none_left = plan_build(Some(&c), Some(&g), Some(60.0 * ms), Some(0), true);
        assert_eq!(none_left, Plan::Wait);
        // matmul: the GPU is slower per call: never built, whatever the horizon.
        let (c, g) = (remembered(3.5 * ms), remembered(67.0 * ms));
        let never = plan_build(Some(&c), Some(&g), Some(1.0), Some(1_000_000), true);
        assert_eq!(never, Plan::Never);
        // Anything unknown: the build budget decides.
        assert_eq!(
            plan_build(Some(&c), None, Some(1.0), Some(20), true),
            Plan::Budget
        );
        assert_eq!(
            plan_build(Some(&c), Some(&g), None, Some(20), true),
            Plan::Budget
        );
        assert_eq!(
            plan_build(Some(&c), Some(&g), Some(1.0), None, true),
            Plan::Budget
        );
        let empty = DeviceCost::default();
        assert_eq!(
            plan_build(Some(&empty), Some(&g), Some(1.0), Some(9), true),
            Plan::Budget
        );
    }

    #[test]
    fn remembered_choices_say_so_until_measured_here() {
        let mut m = KeyModel::default();
        *m.cost_mut(CPU) = remembered(76e6);
        *m.cost_mut(GPU) = remembered(12e6);
        let both = [cand(CPU, Status::Ready), cand(GPU, Status::Ready)];
        // No exploring: both are known from the history.
        assert_eq!(choose(&m, &both), (GPU, Reason::Remembered));
        m.observe(GPU, 13e6, 13e6);
        assert!(!m.cost(GPU).unwrap().remembered);
        assert_eq!(choose(&m, &both), (GPU, Reason::Cheapest));
        // A GPU skipped by the history leaves the CPU device, remembered.
        let skipped = [cand(CPU, Status::Ready), cand(GPU, Status::Skipped)];
        assert_eq!(choose(&m, &skipped), (CPU, Reason::Remembered));
    }
}
