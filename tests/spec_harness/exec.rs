//! Running a prepared spec module on one engine/device and judging each
//! action against the spec's expectation.
//!
//! All actions expected to return run in one dispatch (one iteration per
//! action). A trap in it is attributed through the iteration id the device
//! reports (`iteration N trapped`): that action fails, and the dispatch is
//! rerun without it. Actions expected to trap run one per dispatch (the
//! same compiled kernel and pipeline, `ctl` enabling only that iteration),
//! since every device stops a call at its first trap. When the Vulkan
//! device declines the whole kernel (`unsupported`), the module is split
//! into one kernel per export, so one untranslatable function (recursion,
//! `call_indirect`, ...) only takes its own actions to the "unsupported"
//! column.

use super::kernel::{Prepared, Ty};
use super::plan::{matches, Action, Expect, TrapKind, Val};
use std::sync::Arc;
use wasi_parallel::parallel::device::{DeviceBuffer, ExecRequest};
use wasi_parallel::parallel::kernel::layout::Layout;
use wasi_parallel::parallel::kernel::Kernel;
use wasi_parallel::parallel::{Errno, ParError, ParallelConfig, ParallelRuntime};

/// The result of one action on one device.
#[derive(Clone, Debug)]
pub enum Outcome {
    Pass,
    Fail(String),
    /// The device (or the harness) cannot run it, with the reason.
    Unsupported(String),
}

/// Which device of a runtime an engine runs on.
#[derive(Clone, Copy, Debug)]
pub enum DeviceSel {
    Sequential,
    Cpu,
    Gpu,
}

/// One engine/device combination the suite runs on.
pub struct Engine {
    /// Short name in reports (`interpreter/sequential`, ...).
    pub name: &'static str,
    /// The runtime configuration (selects the kernel engine).
    pub config: fn() -> ParallelConfig,
    pub device: DeviceSel,
}

fn base_config() -> ParallelConfig {
    ParallelConfig {
        threads: 2,
        ..Default::default()
    }
}

fn interpreter_config() -> ParallelConfig {
    ParallelConfig {
        kernel_engine: wasi_parallel::parallel::KernelEngine::Interpreter,
        ..base_config()
    }
}

fn jit_config() -> ParallelConfig {
    ParallelConfig {
        kernel_engine: wasi_parallel::parallel::KernelEngine::Jit,
        bounds_checks: wasi_parallel::parallel::BoundsChecks::Explicit,
        ..base_config()
    }
}

/// The JIT without bounds checks in the code: guard pages and signal
/// handlers (the CLI's default).
fn jit_guard_config() -> ParallelConfig {
    ParallelConfig {
        bounds_checks: wasi_parallel::parallel::BoundsChecks::GuardPages,
        ..jit_config()
    }
}

/// Every engine/device the suite runs on. Adding an engine is one line
/// (a configuration selecting it and a device).
pub fn engines() -> Vec<Engine> {
    let all = vec![
        Engine {
            name: "interpreter/sequential",
            config: interpreter_config,
            device: DeviceSel::Sequential,
        },
        Engine {
            name: "interpreter/cpu",
            config: interpreter_config,
            device: DeviceSel::Cpu,
        },
        Engine {
            name: "jit/sequential",
            config: jit_config,
            device: DeviceSel::Sequential,
        },
        Engine {
            name: "jit/cpu",
            config: jit_config,
            device: DeviceSel::Cpu,
        },
        Engine {
            name: "jit-guard/sequential",
            config: jit_guard_config,
            device: DeviceSel::Sequential,
        },
        Engine {
            name: "jit-guard/cpu",
            config: jit_guard_config,
            device: DeviceSel::Cpu,
        },
        #[cfg(feature = "vulkan")]
        Engine {
            name: "vulkan",
            config: base_config,
            device: DeviceSel::Gpu,
        },
    ];
    // The JIT engines only where this build has the JIT.
    let all: Vec<Engine> = all
        .into_iter()
        .filter(|e| {
            !e.name.starts_with("jit") || wasi_parallel::parallel::KernelEngine::jit_available()
        })
        .collect();
    // SPEC_ENGINES=name,name: only these (for debugging).
    match std::env::var("SPEC_ENGINES") {
        Ok(only) => all
            .into_iter()
            .filter(|e| only.split(',').any(|o| o == e.name))
            .collect(),
        Err(_) => all,
    }
}

/// A runtime and the device an engine uses.
pub struct Runner {
    pub name: String,
    /// The device's own description (e.g. the Vulkan driver's name).
    pub device_name: String,
    rt: ParallelRuntime,
    dev: usize,
    device: DeviceSel,
    /// While a chained module runs (`chain.rs`): what its dispatches start from.
    pub(super) segment: std::cell::RefCell<Option<super::chain::Segment>>,
    /// The code budget of one segment's kernel, instead of the default (the
    /// self-check sets 1: one export per segment, so memory is carried
    /// between many kernels).
    pub segment_cost: std::cell::Cell<Option<u64>>,
}

/// Most bytes of `mem` copies one dispatch may use.
const MAX_MEM_BYTES: usize = 96 << 20;
/// Traps attributed and rerun around in one batch before the rest runs one by one.
const MAX_BATCH_RETRIES: usize = 64;

impl Runner {
    /// The runner for `e`, or `None` when its device is missing (a failure
    /// under `CI=true`).
    pub fn new(e: &Engine) -> Option<Runner> {
        let rt = ParallelRuntime::new((e.config)()).expect("runtime");
        let infos = rt.devices();
        let info = match e.device {
            DeviceSel::Sequential => infos
                .iter()
                .find(|d| d.kind == wasi_parallel::parallel::DeviceKind::Sequential),
            DeviceSel::Cpu => infos
                .iter()
                .find(|d| d.kind == wasi_parallel::parallel::DeviceKind::Cpu),
            DeviceSel::Gpu => infos.iter().find(|d| d.kind.is_gpu()),
        };
        let Some(info) = info.cloned() else {
            #[cfg(feature = "vulkan")]
            let why = wasi_parallel::parallel::device::vulkan::discovery_note().unwrap_or("?");
            #[cfg(not(feature = "vulkan"))]
            let why = "built without the vulkan feature";
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but {} has no device: {why}", e.name);
            }
            eprintln!("note: {} skipped: no device ({why})", e.name);
            return None;
        };
        Some(Runner {
            name: e.name.to_string(),
            device_name: info.name.clone(),
            rt,
            dev: info.index,
            device: e.device,
            segment: Default::default(),
            segment_cost: Default::default(),
        })
    }

    /// Runs every action of a module; one outcome per action.
    pub fn run_module(&self, prep: &Prepared, actions: &[Action]) -> Vec<Outcome> {
        let mut out: Vec<Option<Outcome>> = prep
            .actions
            .iter()
            .map(|r| {
                r.as_ref()
                    .err()
                    .map(|e| Outcome::Unsupported(format!("harness: {e}")))
            })
            .collect();
        let all: Vec<usize> = (0..actions.len()).filter(|k| out[*k].is_none()).collect();
        let caps = prep.caps();
        if prep.memory_only_state() {
            self.run_chained(prep, actions, &all, &mut out, caps[0]);
        } else {
            for (sels, list) in chunks(prep, &all) {
                self.run_declinable(prep, actions, &sels, &list, &mut out, caps[0]);
            }
        }
        // Actions that failed or hit the page limit of a module using
        // memory.grow: again with more pages.
        for &cap in &caps[1..] {
            let again: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&k| match &out[k] {
                    Some(Outcome::Fail(_)) => true,
                    Some(Outcome::Unsupported(w)) => w.contains("memory accessed past"),
                    _ => false,
                })
                .collect();
            if again.is_empty() {
                break;
            }
            for &k in &again {
                out[k] = None;
            }
            for (sels, list) in chunks(prep, &again) {
                self.run_declinable(prep, actions, &sels, &list, &mut out, cap);
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::Fail("not run (harness bug)".into())))
            .collect()
    }

    /// Runs `all` with one kernel; when the device declines it, with one
    /// kernel per export.
    pub(super) fn run_declinable(
        &self,
        prep: &Prepared,
        actions: &[Action],
        sels: &[bool],
        all: &[usize],
        out: &mut [Option<Outcome>],
        cap: u64,
    ) {
        if all.is_empty() {
            return;
        }
        // Exports the translator does not take (found by halving, without
        // the driver) leave the kernel; the rest run in one kernel.
        let mut own: Vec<usize> = Vec::new();
        for &k in all {
            let s = resolved(prep, k).sel;
            if !own.contains(&s) {
                own.push(s);
            }
        }
        let replay: Vec<bool> = (0..sels.len())
            .map(|s| sels[s] && !own.contains(&s))
            .collect();
        let mut bad: Vec<(usize, String)> = Vec::new();
        self.find_untranslatable(prep, &own, &replay, cap, &mut bad);
        for &k in all {
            let s = resolved(prep, k).sel;
            if let Some((_, why)) = bad.iter().find(|(b, _)| *b == s) {
                out[k] = Some(Outcome::Unsupported(why.clone()));
            }
        }
        let list: Vec<usize> = all.iter().copied().filter(|&k| out[k].is_none()).collect();
        if list.is_empty() {
            return;
        }
        let mut enabled = replay.clone();
        for &k in &list {
            enabled[resolved(prep, k).sel] = true;
        }
        if let Err(why) = self.run_group(prep, actions, &enabled, &list, out, cap) {
            // The driver declined what the translator took: one kernel per export.
            if own.len() > 1 {
                for s in own {
                    let mine: Vec<usize> = list
                        .iter()
                        .copied()
                        .filter(|&k| resolved(prep, k).sel == s)
                        .collect();
                    let mut e = replay.clone();
                    e[s] = true;
                    if let Err(why) = self.run_group(prep, actions, &e, &mine, out, cap) {
                        for k in mine {
                            out[k] = Some(Outcome::Unsupported(why.clone()));
                        }
                    }
                }
            } else {
                for k in list {
                    out[k] = Some(Outcome::Unsupported(why.clone()));
                }
            }
        }
    }

    /// Collects the selectors of `set` whose kernel (with the `replay`
    /// selectors) the translator declines, halving `set`.
    fn find_untranslatable(
        &self,
        prep: &Prepared,
        set: &[usize],
        replay: &[bool],
        cap: u64,
        bad: &mut Vec<(usize, String)>,
    ) {
        if set.is_empty() {
            return;
        }
        let mut enabled = replay.to_vec();
        for &s in set {
            enabled[s] = true;
        }
        let Err(why) = self.translates(&prep.kernel(&enabled, cap)) else {
            return;
        };
        if set.len() == 1 {
            bad.push((set[0], why));
            return;
        }
        let (a, b) = set.split_at(set.len() / 2);
        self.find_untranslatable(prep, a, replay, cap, bad);
        self.find_untranslatable(prep, b, replay, cap, bad);
    }

    /// For the Vulkan device: whether the translator takes the kernel (a
    /// cheap check before the driver compiles it).
    fn translates(&self, bytes: &[u8]) -> Result<(), String> {
        #[cfg(feature = "vulkan")]
        if matches!(self.device, DeviceSel::Gpu) {
            return wasi_parallel::spirv::translate_kernel(bytes, &Default::default())
                .map(|_| ())
                .map_err(|e| e.to_string());
        }
        let _ = bytes;
        Ok(())
    }

    /// Runs actions `list` with a kernel of the `enabled` selectors. `Err`:
    /// the device declined the kernel (nothing recorded).
    fn run_group(
        &self,
        prep: &Prepared,
        actions: &[Action],
        enabled: &[bool],
        list: &[usize],
        out: &mut [Option<Outcome>],
        cap: u64,
    ) -> Result<(), String> {
        let bytes = prep.kernel(enabled, cap);
        if let Ok(dir) = std::env::var("SPEC_DUMP") {
            let _ = std::fs::write(format!("{dir}/kernel-{:016x}.wasm", hash(&bytes)), &bytes);
        }
        let kernel = match Kernel::compile(self.rt.kernel_engine(), &bytes, hash(&bytes)) {
            Ok(k) => Arc::new(k),
            Err(e) => {
                for &k in list {
                    out[k] = Some(Outcome::Fail(format!("the kernel does not load: {e}")));
                }
                return Ok(());
            }
        };
        let mut pending: Vec<usize> = list
            .iter()
            .copied()
            .filter(|&k| !resolved(prep, k).trap_expected)
            .collect();
        let mut retries = 0;
        let mut first = true;
        while !pending.is_empty() {
            let res = self.dispatch_all(&kernel, prep, &pending, cap);
            match res {
                Ok(bufs) => {
                    for &k in &pending {
                        out[k] = Some(judge(prep, actions, k, &bufs));
                    }
                    break;
                }
                Err(e) if e.errno == Errno::Unsupported && first => return Err(e.message),
                Err(e) if e.errno == Errno::KernelTrap && retries < MAX_BATCH_RETRIES => {
                    match trapped_iteration(&e.message).filter(|j| pending.contains(j)) {
                        Some(j) => {
                            out[j] = Some(trapped(actions, j, &e));
                            pending.retain(|&k| k != j);
                            retries += 1;
                        }
                        None => {
                            self.one_by_one(&kernel, prep, actions, &pending, out, cap);
                            break;
                        }
                    }
                }
                Err(_) => {
                    self.one_by_one(&kernel, prep, actions, &pending, out, cap);
                    break;
                }
            }
            first = false;
        }
        let traps: Vec<usize> = list
            .iter()
            .copied()
            .filter(|&k| resolved(prep, k).trap_expected)
            .collect();
        self.one_by_one(&kernel, prep, actions, &traps, out, cap);
        self.snapshot(&kernel, prep, enabled, cap);
        Ok(())
    }

    /// In a chained module (`chain.rs`), with a kernel holding every export
    /// of the segment: runs the snapshot iteration and keeps its memory.
    fn snapshot(&self, kernel: &Arc<Kernel>, prep: &Prepared, enabled: &[bool], cap: u64) {
        let j = match &*self.segment.borrow() {
            Some(seg) if seg.next.is_none() => match seg.snapshot {
                Some(j) if (0..seg.need.len()).all(|s| !seg.need[s] || enabled[s]) => j,
                _ => return,
            },
            _ => return,
        };
        let taken = match self.dispatch(kernel, prep, &[j], cap, true) {
            Ok(d) => d.mem.ok_or_else(|| "no memory read back".to_string()),
            Err(e) => Err(e.to_string()),
        };
        let len = prep.mem.as_ref().map_or(0, |m| m.image.len());
        if let Some(seg) = self.segment.borrow_mut().as_mut() {
            seg.next = Some(taken.map(|mut m| {
                m.truncate(len);
                m
            }));
        }
    }

    fn one_by_one(
        &self,
        kernel: &Arc<Kernel>,
        prep: &Prepared,
        actions: &[Action],
        list: &[usize],
        out: &mut [Option<Outcome>],
        cap: u64,
    ) {
        for &k in list {
            out[k] = Some(match self.dispatch(kernel, prep, &[k], cap, false) {
                Ok(bufs) => judge(prep, actions, k, &bufs),
                Err(e) if e.errno == Errno::Unsupported => Outcome::Unsupported(e.message),
                Err(e) if e.errno == Errno::KernelTrap => trapped(actions, k, &e),
                Err(e) => Outcome::Fail(format!("{e}")),
            });
        }
    }

    /// Dispatches `list` in as few calls as the memory copies allow; the
    /// `out` bytes of all of them (records at their action index).
    fn dispatch_all(
        &self,
        kernel: &Arc<Kernel>,
        prep: &Prepared,
        list: &[usize],
        cap: u64,
    ) -> Result<Dispatched, ParError> {
        let per_iter = prep
            .mem
            .as_ref()
            .filter(|m| m.per_iteration)
            .map(|_| prep.copy_bytes(cap))
            .unwrap_or(0);
        let mut all = Dispatched {
            lo: 0,
            mem: None,
            out: vec![0u8; prep.out_rec * (list.iter().max().map_or(0, |m| m + 1))],
        };
        let mut start = 0;
        while start < list.len() {
            let mut end = start + 1;
            while end < list.len() && (list[end] - list[start] + 1) * per_iter <= MAX_MEM_BYTES {
                end += 1;
            }
            let d = self.dispatch(kernel, prep, &list[start..end], cap, false)?;
            for &k in &list[start..end] {
                let r = k * prep.out_rec;
                all.out[r..r + prep.out_rec].copy_from_slice(d.record(prep, k));
            }
            start = end;
        }
        Ok(all)
    }

    /// One `exec` running the actions of `list` (ascending); `want_mem`:
    /// also reads back the memory copy of `list[0]`.
    fn dispatch(
        &self,
        kernel: &Arc<Kernel>,
        prep: &Prepared,
        list: &[usize],
        cap: u64,
        want_mem: bool,
    ) -> Result<Dispatched, ParError> {
        let seg = self.segment.borrow();
        let lo = list[0];
        let hi = list[list.len() - 1] + 1;
        let mut ctl = vec![0u8; hi];
        for &k in list {
            ctl[k] = 1;
        }
        let tab = seg.as_ref().map_or(&prep.tab, |s| &s.tab);
        let mut inputs: Vec<Vec<u8>> = vec![tab.clone(), ctl, vec![0u8; prep.out_rec * hi]];
        if let Some(m) = &prep.mem {
            let image = seg.as_ref().map_or(&m.image, |s| &s.image);
            let copies = if m.per_iteration { hi - lo } else { 1 };
            let one = prep.copy_bytes(cap);
            let mut mem = vec![0u8; one * copies];
            for c in 0..copies {
                mem[c * one..c * one + image.len()].copy_from_slice(image);
            }
            if mem.is_empty() {
                mem.push(0);
            }
            inputs.push(mem);
        }
        let device = self.rt.device(self.dev).expect("device");
        let mut bufs: Vec<Box<dyn DeviceBuffer>> = Vec::new();
        for data in &inputs {
            let b = device.create_buffer(data.len() as u64)?;
            device.write(&*b, data)?;
            bufs.push(b);
        }
        let occ: Vec<&dyn DeviceBuffer> = bufs.iter().map(|b| &**b).collect();
        let keyed: Vec<(usize, u64)> = inputs
            .iter()
            .enumerate()
            .map(|(j, d)| (j, d.len() as u64))
            .collect();
        let layout = Layout::compute(kernel.private_size, &keyed)?;
        let mut session = None;
        let t = std::time::Instant::now();
        let r = device.exec(
            &mut session,
            &ExecRequest {
                kernel,
                num_iterations: hi as u32,
                block_size: lo as u32,
                buffers: &occ,
                layout: &layout,
                fuel: None,
                read_only: &[],
                cancel: &wasi_parallel::parallel::Cancel::never(),
            },
        );
        if std::env::var("SPEC_TIMING").is_ok() {
            eprintln!(
                "exec {} iterations ({} enabled): {:.1} ms",
                hi,
                list.len(),
                t.elapsed().as_secs_f64() * 1e3
            );
        }
        r?;
        let mut out = vec![0u8; inputs[2].len()];
        device.read(&*bufs[2], &mut out)?;
        let mut mem = None;
        if want_mem && bufs.len() > 3 {
            let one = prep.copy_bytes(cap).min(inputs[3].len());
            let mut m = vec![0u8; inputs[3].len()];
            device.read(&*bufs[3], &mut m)?;
            m.truncate(one);
            mem = Some(m);
        }
        Ok(Dispatched { lo: 0, out, mem })
    }
}

/// The `out` bytes of a dispatch.
struct Dispatched {
    lo: usize,
    out: Vec<u8>,
    /// The memory copy of the first iteration, when asked for.
    mem: Option<Vec<u8>>,
}

impl Dispatched {
    fn record(&self, prep: &Prepared, k: usize) -> &[u8] {
        let r = (k - self.lo) * prep.out_rec;
        &self.out[r..r + prep.out_rec]
    }
}

/// Exports one kernel calls at most: lavapipe's compile time (LLVM's
/// coroutine passes) grows faster than linearly with the shader's size.
const SELECTORS_PER_KERNEL: usize = 64;
/// Most estimated code ([`Prepared::selector_cost`]) per kernel, for the
/// same reason.
const KERNEL_COST: u64 = 1500;

/// The greedy rule that fills kernels with exports, in the order they are
/// offered: a kernel is closed when the next export would take it past
/// [`SELECTORS_PER_KERNEL`] exports or past the cost budget
/// ([`KERNEL_COST`], `SPEC_KERNEL_COST` or the caller's).
pub(super) struct KernelFill {
    budget: u64,
    exports: usize,
    cost: u64,
}

impl KernelFill {
    pub(super) fn new(budget: Option<u64>) -> KernelFill {
        let budget = budget.unwrap_or_else(|| {
            std::env::var("SPEC_KERNEL_COST")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(KERNEL_COST)
        });
        KernelFill {
            budget,
            exports: 0,
            cost: 0,
        }
    }

    /// Adds an export of estimated cost `c`; `true` when it starts a new
    /// kernel (the first export of all does not).
    pub(super) fn add(&mut self, c: u64) -> bool {
        let new = self.exports > 0
            && (self.exports >= SELECTORS_PER_KERNEL || self.cost + c > self.budget);
        if new {
            self.exports = 0;
            self.cost = 0;
        }
        self.exports += 1;
        self.cost += c;
        new
    }
}

/// Splits `all` into groups of actions on at most [`SELECTORS_PER_KERNEL`]
/// exports, each with the selectors its kernel needs (its own plus those of
/// the earlier actions it replays).
fn chunks(prep: &Prepared, all: &[usize]) -> Vec<(Vec<bool>, Vec<usize>)> {
    let mut order: Vec<usize> = Vec::new();
    for &k in all {
        let s = resolved(prep, k).sel;
        if !order.contains(&s) {
            order.push(s);
        }
    }
    let mut groups = Vec::new();
    // Greedy: exports in order of first use.
    let mut parts: Vec<Vec<usize>> = Vec::new();
    let mut fill = KernelFill::new(None);
    for &s in &order {
        let new_kernel = fill.add(prep.selector_cost(s));
        match parts.last_mut() {
            Some(last) if !new_kernel => last.push(s),
            _ => parts.push(vec![s]),
        }
    }
    for chunk in &parts {
        let list: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&k| chunk.contains(&resolved(prep, k).sel))
            .collect();
        let mut enabled = vec![false; prep.num_selectors()];
        for &s in chunk {
            enabled[s] = true;
        }
        if let Some(&last) = list.last() {
            replayed_before(prep, last, &mut enabled);
        }
        groups.push((enabled, list));
    }
    groups
}

/// Enables the selectors of the actions before `last` that iterations replay.
fn replayed_before(prep: &Prepared, last: usize, enabled: &mut [bool]) {
    for r in prep.actions[..last].iter().flatten() {
        if r.replayed {
            enabled[r.sel] = true;
        }
    }
}

pub(super) fn resolved(prep: &Prepared, k: usize) -> &super::kernel::Resolved {
    prep.actions[k].as_ref().expect("resolved action")
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    h
}

/// The iteration id in a device's trap message (`iteration N trapped ...`).
fn trapped_iteration(msg: &str) -> Option<usize> {
    let rest = &msg[msg.find("iteration ")? + "iteration ".len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// The outcome of action `k` whose dispatch trapped with `e`.
fn trapped(actions: &[Action], k: usize, e: &ParError) -> Outcome {
    let got = TrapKind::from_message(&e.message);
    match &actions[k].expect {
        Expect::Trap(want, msg) if *want == got => {
            let _ = msg;
            Outcome::Pass
        }
        Expect::Trap(want, msg) => Outcome::Fail(format!(
            "expected trap {want:?} ({msg:?}), got {got:?}: {}",
            e.message
        )),
        _ => Outcome::Fail(format!("trapped: {}", e.message)),
    }
}

/// The outcome of action `k` whose dispatch returned.
fn judge(prep: &Prepared, actions: &[Action], k: usize, d: &Dispatched) -> Outcome {
    let rec = d.record(prep, k);
    let done = u32::from_le_bytes(rec[0..4].try_into().unwrap());
    let r = resolved(prep, k);
    if u32::from_le_bytes(rec[4..8].try_into().unwrap()) == super::kernel::GROW_LIMIT_HIT {
        return Outcome::Unsupported(format!(
            "harness: memory accessed past the {} pages beyond its minimum that the harness places (after memory.grow)",
            64
        ));
    }
    match &actions[k].expect {
        Expect::Trap(_, msg) => {
            if done == 1 {
                Outcome::Fail(format!("returned instead of trapping ({msg:?})"))
            } else {
                Outcome::Fail(format!(
                    "neither returned nor trapped (expected trap {msg:?})"
                ))
            }
        }
        _ if done != 1 => Outcome::Fail("did not complete (no results written)".into()),
        Expect::Completes => Outcome::Pass,
        Expect::Return(pats) => {
            let got: Vec<Val> = r
                .results
                .iter()
                .enumerate()
                .map(|(j, t)| t.read(&rec[16 + 16 * j..]))
                .collect();
            if pats.len() == got.len() && pats.iter().zip(&got).all(|(p, v)| matches(p, *v)) {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("expected {pats:?}, got {}", show(&got)))
            }
        }
    }
}

fn show(vals: &[Val]) -> String {
    let parts: Vec<String> = vals
        .iter()
        .map(|v| match v {
            Val::I32(x) => format!("i32 {:#x}", x),
            Val::I64(x) => format!("i64 {:#x}", x),
            Val::F32(x) => format!("f32 {:#x} ({})", x, f32::from_bits(*x)),
            Val::F64(x) => format!("f64 {:#x} ({})", x, f64::from_bits(*x)),
            Val::V128(x) => format!("v128 {:#034x}", x),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

#[allow(dead_code)]
fn _ty(_: Ty) {}
