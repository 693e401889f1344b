//! Which device runs a call: the device policy ([`DevicePolicy`]), the
//! adaptive policy's measured cost model ([`model`]), and where each
//! buffer's valid copy lives ([`residency`]). Dispatch asks the
//! [`Placer`]; devices never do.
//!
//! With [`DevicePolicy::Adaptive`] a device handle from a CPU or GPU hint
//! stands for "the best device for each call" among the CPU device and the
//! Vulkan devices: each call is placed by [`model::choose`] on measured
//! costs, its buffers follow it ([`residency::Copies`]), and a GPU whose
//! pipeline for the kernel is not built yet builds it in the background
//! while calls run elsewhere: not before the kernel's calls have taken as
//! long as its build there is expected to take ([`model::BuildBudget`]), and
//! only once the call that asked has returned (on a GPU that builds on the
//! host's cores, lavapipe, the call that reaches the budget waits for the
//! build instead). With a placement history ([`history`]) a run starts
//! from an earlier run's measurements ([`model::plan_build`]). A SEQUENTIAL hint keeps its meaning
//! (iterations in order on the calling thread). The model is engine-wide,
//! shared by every instance, behind one mutex held for a lookup and a few
//! additions per call.

pub mod history;
pub mod model;
pub mod residency;

use history::History;
use model::{BuildBudget, Candidate, CopyRates, DeviceCost, Key, KeyModel, Plan, Reason};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How the host places calls.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum DevicePolicy {
    /// The host picks the device of each call by measured cost (CPU and
    /// GPU hints; a SEQUENTIAL hint stays sequential). The default.
    #[default]
    Adaptive,
    /// Honour the guest's hint (a missing GPU falls back to the CPU device).
    Hint,
    /// Always this kind, whatever the hint (a missing GPU: the CPU device).
    Force(super::DeviceKind),
    /// For testing kernels and the runtime: like `Adaptive`, but each call
    /// of a kernel runs on the next device that can run it, in turn (CPU
    /// device, then each GPU), so a sequence of calls switches devices and
    /// its buffers move at every call. Results must not change.
    Rotate,
}

impl DevicePolicy {
    /// The name the CLI and the docs use (`adaptive`, `hint`, `force`).
    pub fn name(self) -> &'static str {
        match self {
            DevicePolicy::Adaptive => "adaptive",
            DevicePolicy::Hint => "hint",
            DevicePolicy::Force(_) => "force",
            DevicePolicy::Rotate => "rotate",
        }
    }
}

/// Where one call runs and why (kept in the call's record).
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The device index.
    pub device: usize,
    /// Why.
    pub reason: Reason,
    /// The candidates' estimates at the time (ms, copies included; `None`
    /// before a measurement or for a device that cannot run the call), in
    /// candidate order.
    pub estimates: Vec<(usize, Option<f64>)>,
}

impl Decision {
    /// A call placed without the model (hint or forced policy).
    pub fn fixed(device: usize) -> Decision {
        Decision {
            device,
            reason: Reason::Hint,
            estimates: Vec::new(),
        }
    }
}

#[derive(Default)]
struct State {
    keys: HashMap<Key, KeyModel>,
    copies: CopyRates,
    /// (kernel hash, device) -> why the device cannot run the kernel.
    declined: HashMap<(u64, usize), String>,
    /// When a GPU may start a kernel's build.
    budget: BuildBudget,
    /// Calls per kernel in this run.
    calls: HashMap<u64, u64>,
    /// Calls per kernel in the run the placement history was written by.
    remembered_calls: HashMap<u64, u64>,
    /// (kernel hash, device) -> the cheapest build measured in this run
    /// (ns), or the remembered one (`true`) until this run measures one.
    builds: HashMap<(u64, usize), (f64, bool)>,
    /// Device identities by index, once a history was seeded.
    identities: Vec<String>,
    /// What the history held for devices this runtime does not have (kept
    /// and written back).
    foreign: History,
}

/// What the model says of one GPU for one kernel before a call.
#[derive(Clone, Debug, PartialEq)]
pub struct Gate {
    /// Why the device cannot run the kernel, if it declined it.
    pub declined: Option<String>,
    /// Whether the device may start building the kernel's pipeline (the
    /// build budget is reached or off).
    pub may_build: bool,
}

/// The engine-wide cost model of the adaptive policy.
#[derive(Default)]
pub struct Placer {
    state: Mutex<State>,
}

impl Placer {
    /// A model whose build budget starts from `build_prior` (see
    /// [`model::BuildBudget`]; `None`: no budget, builds start at once).
    pub fn new(build_prior: Option<Duration>) -> Placer {
        Placer {
            state: Mutex::new(State {
                budget: BuildBudget::new(build_prior),
                ..State::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain numbers: one left half-updated by a panic is
        // still usable, so a poisoned lock is taken over.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Chooses among `candidates` (preference order, the CPU device
    /// first) for a call of `key`. A candidate whose device declined the
    /// kernel earlier is marked declined here.
    /// With `rotate`, the call goes to the next device in turn that did not
    /// decline the kernel (a pipeline still building is built by the call).
    pub fn decide(&self, key: Key, mut candidates: Vec<Candidate>, rotate: bool) -> Decision {
        let mut state = self.state();
        for c in candidates.iter_mut() {
            if let Some(why) = state.declined.get(&(key.kernel, c.device)) {
                c.status = model::Status::Declined(why.clone());
            }
        }
        if rotate {
            let turn = state.keys.entry(key).or_default().turn;
            let able: Vec<usize> = candidates
                .iter()
                .filter(|c| !matches!(c.status, model::Status::Declined(_)))
                .map(|c| c.device)
                .collect();
            let device = able[turn as usize % able.len().max(1)];
            state.keys.get_mut(&key).expect("inserted").turn += 1;
            return Decision {
                device,
                reason: Reason::Rotating,
                estimates: Vec::new(),
            };
        }
        let empty = KeyModel::default();
        let m = state.keys.get(&key).unwrap_or(&empty);
        let (device, reason) = model::choose(m, &candidates);
        let estimates = candidates
            .iter()
            .map(|c| {
                let ready = c.status == model::Status::Ready;
                (c.device, m.estimate(c).filter(|_| ready).map(|ns| ns / 1e6))
            })
            .collect();
        Decision {
            device,
            reason,
            estimates,
        }
    }

    /// The copy estimate for `bytes` from `from` to `to` (ns).
    pub fn copy_estimate(&self, from: usize, to: usize, bytes: u64) -> f64 {
        self.state().copies.estimate(from, to, bytes)
    }

    /// Records a call of `key` on `device`: `run` without copies, `total`
    /// with them.
    pub fn observe(&self, key: Key, device: usize, run: Duration, total: Duration) {
        let mut state = self.state();
        if state.keys.len() >= model::MAX_KEYS && !state.keys.contains_key(&key) {
            state.keys.clear();
        }
        state.keys.entry(key).or_default().observe(
            device,
            run.as_nanos() as f64,
            total.as_nanos() as f64,
        );
        state
            .budget
            .observe_call(key.kernel, total.as_nanos() as f64);
        *state.calls.entry(key.kernel).or_default() += 1;
    }

    /// Whether `device` declined `kernel` (`code_bytes` of code), and
    /// whether it may start building it (one lock for both).
    pub fn gate(&self, kernel: u64, code_bytes: u64, device: usize) -> Gate {
        let state = self.state();
        Gate {
            declined: state.declined.get(&(kernel, device)).cloned(),
            may_build: state.budget.may_build(kernel, code_bytes, device),
        }
    }

    /// A build on `device` of `kernel` (`code_bytes` of code) took `took`
    /// (build and warm-up).
    pub fn observe_build(&self, device: usize, took: Duration, kernel: u64, code_bytes: u64) {
        let ns = took.as_nanos() as f64;
        let mut state = self.state();
        state.budget.observe_build(device, ns, code_bytes);
        let b = state.builds.entry((kernel, device)).or_insert((ns, false));
        *b = if b.1 {
            (ns, false)
        } else {
            (b.0.min(ns), false)
        };
    }

    /// The build of `kernel` on `device` the placement history remembers
    /// (until this run measures one).
    pub fn remembered_build(&self, kernel: u64, device: usize) -> Option<Duration> {
        let state = self.state();
        let &(ns, remembered) = state.builds.get(&(kernel, device))?;
        remembered.then(|| Duration::from_nanos(ns as u64))
    }

    /// What to do about `device`, a GPU that has not built the kernel of
    /// `key`, by the placement history ([`model::plan_build`]; `cpu` is the
    /// CPU device's index, `shares_cores` whether `device` builds on the
    /// host's cores).
    pub fn plan(&self, key: Key, cpu: usize, device: usize, shares_cores: bool) -> Plan {
        let state = self.state();
        let Some(m) = state.keys.get(&key) else {
            return Plan::Budget;
        };
        let remaining = state
            .remembered_calls
            .get(&key.kernel)
            .map(|n| n.saturating_sub(state.calls.get(&key.kernel).copied().unwrap_or(0)));
        model::plan_build(
            m.cost(cpu),
            m.cost(device),
            state.builds.get(&(key.kernel, device)).map(|b| b.0),
            remaining,
            shares_cores,
        )
    }

    /// Starts the model from a placement history: `identities` names this
    /// runtime's devices by index (see [`history`]). Costs become
    /// remembered records, declines are declines, builds and call counts
    /// feed [`Placer::plan`]; entries of other devices are kept for
    /// [`Placer::history`].
    pub fn seed(&self, h: History, identities: Vec<String>) {
        let mut state = self.state();
        let index = |id: &str| identities.iter().position(|d| d == id);
        for c in h.costs {
            let Some(d) = index(&c.device) else {
                state.foreign.costs.push(c);
                continue;
            };
            let key = Key {
                kernel: c.kernel,
                iterations: c.iterations,
                bytes: c.bytes,
            };
            if state.keys.len() >= model::MAX_KEYS {
                continue;
            }
            *state.keys.entry(key).or_default().cost_mut(d) = DeviceCost {
                // A record measured more than once is taken as confirmed.
                samples: c.samples.min(2),
                average_ns: c.average_ns,
                last_ns: c.average_ns,
                remembered: true,
                ..DeviceCost::default()
            };
        }
        for ((k, id), ns) in h.builds {
            match index(&id) {
                Some(d) => {
                    state.builds.insert((k, d), (ns, true));
                }
                None => {
                    state.foreign.builds.insert((k, id), ns);
                }
            }
        }
        for ((k, id), why) in h.declined {
            match index(&id) {
                Some(d) => {
                    state.declined.insert((k, d), why);
                }
                None => {
                    state.foreign.declined.insert((k, id), why);
                }
            }
        }
        state.remembered_calls = h.calls;
        state.identities = identities;
    }

    /// The model as a placement history, to be written at the end of the
    /// run: what was measured or remembered, the declines, the cheapest
    /// builds and each kernel's calls (this run's, or the remembered count
    /// of a kernel this run did not call), plus the entries of devices
    /// this runtime does not have.
    pub fn history(&self, identities: &[String]) -> History {
        let state = self.state();
        let mut h = History::default();
        let id = |d: usize| identities.get(d).cloned();
        let mut keys: Vec<_> = state.keys.iter().collect();
        keys.sort_by_key(|(k, _)| (k.kernel, k.iterations, k.bytes));
        for (k, m) in keys {
            for (d, r) in &m.devices {
                if let (Some(device), true) = (id(*d), r.samples > 0) {
                    h.costs.push(history::Cost {
                        kernel: k.kernel,
                        iterations: k.iterations,
                        bytes: k.bytes,
                        device,
                        average_ns: r.average_ns,
                        samples: r.samples,
                    });
                }
            }
        }
        // Other devices' costs after this runtime's: the file keeps the
        // first `MAX_ENTRIES`.
        h.costs.extend(state.foreign.costs.iter().cloned());
        h.builds = state.foreign.builds.clone();
        h.declined = state.foreign.declined.clone();
        for (&(k, d), &(ns, _)) in &state.builds {
            if let Some(device) = id(d) {
                h.builds.insert((k, device), ns);
            }
        }
        for ((k, d), why) in &state.declined {
            if why.contains(model::PREDICTED_DECLINE) {
                continue;
            }
            if let Some(device) = id(*d) {
                h.declined.insert((*k, device), why.clone());
            }
        }
        h.calls = state.remembered_calls.clone();
        h.calls.extend(state.calls.iter().map(|(k, n)| (*k, *n)));
        h
    }

    /// What a build on `device` is expected to cost, by its kernel's code
    /// size (`None` without a build budget).
    pub fn build_estimate(&self, device: usize) -> Option<model::BuildEstimate> {
        let state = self.state();
        state
            .budget
            .enabled()
            .then(|| state.budget.estimate(device))
    }

    /// The expected cost of building `kernel` (`code_bytes` of code) on
    /// `device` (ms) and the time the kernel's calls took so far (ms): the
    /// build budget's two sides.
    pub fn build_budget(&self, kernel: u64, code_bytes: u64, device: usize) -> (f64, f64) {
        let state = self.state();
        (
            state.budget.expected_ns(device, code_bytes) / 1e6,
            state.budget.spent_ns(kernel) / 1e6,
        )
    }

    /// Records copies made for a call.
    pub fn observe_copies(&self, moves: &[residency::Move]) {
        if moves.is_empty() {
            return;
        }
        let mut state = self.state();
        for m in moves {
            state
                .copies
                .observe(m.from, m.to, m.bytes, m.time.as_nanos() as f64);
        }
    }

    /// Device `device` cannot run kernel `kernel` (`why`): it is not tried
    /// there again.
    pub fn decline(&self, kernel: u64, device: usize, why: String) {
        self.state().declined.insert((kernel, device), why);
    }

    /// Why `device` declined `kernel`, if it did.
    pub fn declined(&self, kernel: u64, device: usize) -> Option<String> {
        self.state().declined.get(&(kernel, device)).cloned()
    }

    /// The model's estimates for `key` (device, average ms, samples).
    pub fn estimates(&self, key: Key) -> Vec<(usize, f64, u32)> {
        self.state().keys.get(&key).map_or_else(Vec::new, |m| {
            m.devices
                .iter()
                .map(|(d, c)| (*d, c.average_ns / 1e6, c.samples))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_model_plans_and_writes_back_what_it_holds() {
        let ids = vec!["cpu a".to_string(), "gpu b".to_string()];
        let p = Placer::new(Some(model::DEFAULT_BUILD_PRIOR));
        let key = Key::new(0xabc, 1000, 1 << 20);
        let ms = Duration::from_millis(1);
        for _ in 0..3 {
            p.observe(key, 0, 76 * ms, 76 * ms);
        }
        p.observe(key, 1, 12 * ms, 12 * ms);
        p.observe_build(1, 60 * ms, key.kernel, 70);
        p.observe_build(1, 90 * ms, key.kernel, 70);
        p.decline(0xdef, 1, "the driver said no".into());
        p.decline(
            0x123,
            1,
            format!("{} 300000: cut", model::PREDICTED_DECLINE),
        );
        let mut h = p.history(&ids);
        // Entries of a device this runtime does not have.
        h.costs.push(history::Cost {
            kernel: 0xabc,
            iterations: key.iterations,
            bytes: key.bytes,
            device: "gpu elsewhere".into(),
            average_ns: 1.0,
            samples: 5,
        });
        assert_eq!(
            h.builds[&(0xabc, "gpu b".to_string())],
            60e6,
            "the cheapest build"
        );
        assert_eq!(h.calls[&0xabc], 4);
        assert_eq!(h.declined.len(), 1, "a predicted decline is not kept");
        let h = history::History::decode(&h.encode()).unwrap();

        // A new model from the file: no exploring, the GPU planned at once.
        let q = Placer::new(Some(model::DEFAULT_BUILD_PRIOR));
        q.seed(h, ids.clone());
        assert_eq!(q.plan(key, 0, 1, true), Plan::Wait);
        assert_eq!(q.plan(key, 0, 1, false), Plan::Background);
        assert_eq!(q.plan(Key::new(0xabc, 7, 8), 0, 1, true), Plan::Budget);
        assert!(q.declined(0xdef, 1).is_some());
        // The foreign entry survives the round trip; the calls remembered
        // are kept for a kernel this run did not call.
        let back = q.history(&ids);
        // It comes after this runtime's own costs (the bound drops it first).
        assert_eq!(back.costs.last().unwrap().device, "gpu elsewhere");
        assert!(back.costs.iter().any(|c| c.device == "gpu b"));
        assert_eq!(back.calls[&0xabc], 4);
        // The calls left shrink as this run calls the kernel; none left
        // counts as one, and a 60 ms build plus a 12 ms call still beats a
        // 76 ms call.
        for _ in 0..4 {
            q.observe(key, 0, 76 * ms, 76 * ms);
        }
        assert_eq!(q.plan(key, 0, 1, true), Plan::Wait);
    }
}
