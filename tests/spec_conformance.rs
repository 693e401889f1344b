//! Spec conformance: the WebAssembly spec test suite's `assert_return`,
//! `assert_trap` and `invoke` directives run as kernels on every kernel
//! engine and device (see `tests/spec_harness/` and `docs/conformance.md`).
//!
//! A plain `cargo test --test spec_conformance` runs every in-scope file and
//! fails unless the interpreter engines pass every assertion that is a
//! kernel and the Vulkan device fails none and passes at least
//! [`VULKAN_TARGET`] of those it does not decline (recursion, tables other
//! than table 0, reference types a kernel reaches: the CPU device runs such
//! kernels in real use).
//! Arguments (after `--`): file names to run only those; `-v` lists every
//! failure and unsupported case; `--skip PATTERN` leaves out the files whose
//! name contains it (other libtest flags are ignored). `SPEC_SIMD=0` leaves the SIMD files out.
//! `scripts/spec-conformance.sh` wraps it.

mod spec_harness;

use spec_harness::exec::{engines, Outcome, Runner};
use spec_harness::kernel::Prepared;
use spec_harness::plan;
use std::collections::BTreeMap;
use std::time::Instant;

/// Share of the in-scope assertions the Vulkan device must pass.
const VULKAN_TARGET: f64 = 0.99;

/// Files the Vulkan device does not run by default, with the reason (none
/// today: `left-to-right.wast` was one until its memory-only state was
/// chained between kernels, see `spec_harness/chain.rs`).
const VULKAN_SLOW: &[(&str, &str)] = &[];

/// A module whose assertions are right and wrong in known ways: every
/// engine must pass the right ones and fail the wrong ones, so the harness
/// itself is shown to tell them apart (a wrong value, a wrong NaN kind, a
/// missing trap, a wrong trap kind, state carried between actions).
const SELF_CHECK: &str = r#"
(module
  (memory 1)
  (global $g (mut i32) (i32.const 5))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "nan") (result f32) (f32.div (f32.const 0) (f32.const 0)))
  (func (export "snan") (result f32) (f32.reinterpret_i32 (i32.const 0x7fa00000)))
  (func (export "bump") (global.set $g (i32.add (global.get $g) (i32.const 1))))
  (func (export "g") (result i32) (global.get $g))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 4))
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
(assert_trap (invoke "div" (i32.const 1) (i32.const 1)) "integer divide by zero")
(assert_trap (invoke "div" (i32.const 0x80000000) (i32.const -1)) "integer divide by zero")
(assert_return (invoke "nan") (f32.const nan:arithmetic))
(assert_return (invoke "snan") (f32.const nan:arithmetic))
(invoke "bump")
(assert_return (invoke "g") (i32.const 6))
(assert_return (invoke "g") (i32.const 5))
(invoke "store" (i32.const 65532) (i32.const 77))
(assert_return (invoke "load" (i32.const 65532)) (i32.const 77))
(assert_trap (invoke "load" (i32.const 65533)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 0)) (i32.const 0))
"#;

/// Which [`SELF_CHECK`] actions must pass (in order).
const SELF_CHECK_PASS: &[bool] = &[
    true, false, true, false, false, true, false, true, true, false, true, true, true, true,
];

/// A module whose state is its memory alone, run with one export per
/// kernel (`spec_harness/chain.rs`): each kernel must start from the memory
/// the previous one left, and stale or lost state must be caught.
const SELF_CHECK_CHAIN: &str = r#"
(module
  (memory 1)
  (func (export "put") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "get") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "add") (param i32 i32)
    (i32.store8 (local.get 0) (i32.add (i32.load8_u (local.get 0)) (local.get 1)))))
(invoke "put" (i32.const 5) (i32.const 7))
(assert_return (invoke "get" (i32.const 5)) (i32.const 7))
(invoke "add" (i32.const 5) (i32.const 3))
(assert_return (invoke "get" (i32.const 5)) (i32.const 10))
(assert_return (invoke "get" (i32.const 5)) (i32.const 7))
(invoke "put" (i32.const 6) (i32.const 1))
(assert_return (invoke "get" (i32.const 6)) (i32.const 0))
(assert_return (invoke "get" (i32.const 5)) (i32.const 10))
(assert_return (invoke "get" (i32.const 6)) (i32.const 1))
(assert_trap (invoke "get" (i32.const 65536)) "out of bounds memory access")
"#;

/// Which [`SELF_CHECK_CHAIN`] actions must pass (in order).
const SELF_CHECK_CHAIN_PASS: &[bool] =
    &[true, true, true, true, false, true, false, true, true, true];

fn self_check(runners: &[Runner]) {
    self_check_module(runners, SELF_CHECK, SELF_CHECK_PASS, None);
    self_check_module(runners, SELF_CHECK_CHAIN, SELF_CHECK_CHAIN_PASS, Some(1));
}

fn self_check_module(runners: &[Runner], text: &str, pass: &[bool], segment_cost: Option<u64>) {
    let fp = plan::plan(text).expect("self-check parses");
    let m = &fp.modules[0];
    let prep = Prepared::new(m.bytes.as_ref().expect("encodes"), &m.actions).expect("kernel");
    assert_eq!(m.actions.len(), pass.len());
    assert_eq!(prep.memory_only_state(), segment_cost.is_some());
    for r in runners {
        r.segment_cost.set(segment_cost);
        let got = r.run_module(&prep, &m.actions);
        r.segment_cost.set(None);
        for (k, (o, want)) in got.iter().zip(pass).enumerate() {
            let ok = matches!(o, Outcome::Pass);
            assert_eq!(
                ok, *want,
                "harness self-check on {}: action {k} (line {}) gave {o:?}",
                r.name, m.actions[k].line
            );
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Count {
    pass: usize,
    fail: usize,
    unsupported: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "-v" || a == "--verbose");
    // File names, and libtest's flags as `cargo test -- ...` passes them to
    // every test binary: `--skip PATTERN` leaves out the files whose name
    // contains it; other flags (and the values of those that take one) are
    // ignored.
    let (mut wanted, mut skip): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--skip" => skip.extend(it.next().map(String::as_str)),
            "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" => {
                it.next();
            }
            f if f.starts_with('-') => {}
            f => wanted.push(f.trim_end_matches(".wast")),
        }
    }
    let mut files: Vec<&str> = spec_harness::FILES.to_vec();
    if std::env::var("SPEC_SIMD").as_deref() != Ok("0") {
        files.extend_from_slice(spec_harness::SIMD_FILES);
    }
    files.retain(|f| !skip.iter().any(|s| f.contains(s)));
    if !wanted.is_empty() {
        files.retain(|f| wanted.contains(f));
        if files.is_empty() {
            eprintln!("no in-scope spec file matches {wanted:?}");
            std::process::exit(2);
        }
    }

    let runners: Vec<Runner> = engines().iter().filter_map(Runner::new).collect();
    self_check(&runners);
    let mut totals = vec![Count::default(); runners.len()];
    let mut times = vec![0f64; runners.len()];
    let mut in_scope = 0usize;
    let mut harness_unsupported = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut device_unsupported: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); runners.len()];
    let started = Instant::now();

    println!(
        "{:<20} {:<24} {:>7} {:>7} {:>11} {:>8}",
        "file", "engine/device", "passed", "failed", "unsupported", "time"
    );
    for file in &files {
        let path = spec_harness::suite_dir().join(format!("{file}.wast"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let fp = plan::plan(&text).unwrap_or_else(|e| panic!("{file}.wast: {e}"));
        let mut counts = vec![Count::default(); runners.len()];
        let mut file_times = vec![0f64; runners.len()];
        let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
        for (_, why) in &fp.skipped {
            *skipped.entry(why.clone()).or_default() += 1;
        }
        for m in &fp.modules {
            if m.actions.is_empty() {
                continue;
            }
            let prep = m.bytes.as_ref().map_err(|e| e.clone()).and_then(|b| {
                // Proposals the project's interpreter does not implement
                // (function references, GC, ...) are not kernels.
                wasmi::Module::new(&wasmi::Engine::default(), b)
                    .map_err(|e| format!("the interpreter does not accept the module: {e}"))?;
                Prepared::new(b, &m.actions)
            });
            let prep = match prep {
                Ok(p) => p,
                Err(why) => {
                    *skipped
                        .entry(format!("module (line {}): {why}", m.line))
                        .or_default() += m.actions.len();
                    continue;
                }
            };
            for (k, r) in prep.actions.iter().enumerate() {
                if let Err(why) = r {
                    let _ = k;
                    *skipped.entry(why.clone()).or_default() += 1;
                }
            }
            let mut all_outcomes = Vec::new();
            for (ri, runner) in runners.iter().enumerate() {
                let t = Instant::now();
                let slow = VULKAN_SLOW.iter().find(|(f, _)| f == file);
                if let (true, Some((_, why)), false) = (
                    runner.name == "vulkan",
                    slow,
                    std::env::var("SPEC_SLOW").as_deref() == Ok("1"),
                ) {
                    let o = Outcome::Unsupported(format!(
                        "not run on vulkan (SPEC_SLOW=1 runs it): {why}"
                    ));
                    all_outcomes.push(vec![o; m.actions.len()]);
                    continue;
                }
                all_outcomes.push(runner.run_module(&prep, &m.actions));
                times[ri] += t.elapsed().as_secs_f64();
                file_times[ri] += t.elapsed().as_secs_f64();
            }
            for k in 0..m.actions.len() {
                if prep.actions[k].is_err() {
                    continue;
                }
                // The harness' own limits (e.g. memory.grow past the pages
                // a kernel gets) are not the device's: out of scope.
                let harness = all_outcomes.iter().find_map(|o| match &o[k] {
                    Outcome::Unsupported(w) if w.starts_with("harness:") => Some(w.clone()),
                    _ => None,
                });
                if let Some(why) = harness {
                    *skipped.entry(why).or_default() += 1;
                    continue;
                }
                in_scope += 1;
                for (ri, runner) in runners.iter().enumerate() {
                    match &all_outcomes[ri][k] {
                        Outcome::Pass => counts[ri].pass += 1,
                        Outcome::Fail(why) => {
                            counts[ri].fail += 1;
                            failures.push(format!(
                                "FAIL {file}.wast:{} on {}: {why}",
                                m.actions[k].line, runner.name
                            ));
                        }
                        Outcome::Unsupported(why) => {
                            counts[ri].unsupported += 1;
                            let short: String = why.chars().take(160).collect();
                            *device_unsupported[ri]
                                .entry(format!("{file}.wast: {short}"))
                                .or_default() += 1;
                        }
                    }
                }
            }
        }
        let skipped_n: usize = skipped.values().sum();
        harness_unsupported += skipped_n;
        for (ri, runner) in runners.iter().enumerate() {
            let c = counts[ri];
            println!(
                "{:<20} {:<24} {:>7} {:>7} {:>11} {:>7.1}s",
                file,
                runner.name,
                c.pass,
                c.fail,
                c.unsupported + skipped_n,
                file_times[ri]
            );
            totals[ri].pass += c.pass;
            totals[ri].fail += c.fail;
            totals[ri].unsupported += c.unsupported;
        }
        if verbose {
            for (why, n) in &skipped {
                println!("    not a kernel ({n}): {why}");
            }
        }
    }

    let shown = if verbose { usize::MAX } else { 40 };
    for f in failures.iter().take(shown) {
        println!("{f}");
    }
    if failures.len() > shown {
        println!(
            "... {} more failures (-v lists all)",
            failures.len() - shown
        );
    }
    for (ri, runner) in runners.iter().enumerate() {
        for (why, n) in &device_unsupported[ri] {
            if verbose || runner.name == "vulkan" {
                println!("unsupported on {} ({n}): {why}", runner.name);
            }
        }
    }
    println!(
        "in scope: {in_scope} assertions; {harness_unsupported} runtime assertions are not kernels (-v lists why); total time {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut ok = true;
    for (ri, runner) in runners.iter().enumerate() {
        let c = totals[ri];
        println!(
            "spec: {} of {} assertions pass on {} ({}; {} failed, {} unsupported; {:.1} s)",
            c.pass, in_scope, runner.name, runner.device_name, c.fail, c.unsupported, times[ri]
        );
        // The interpreter engines: every assertion. A GPU device: no wrong
        // answer at all, and at least VULKAN_TARGET of the assertions it
        // runs; what it declines (features the translator does not take,
        // run by the CPU device in real use) is listed above.
        let (need, of) = if runner.name.starts_with("vulkan") {
            let runs = in_scope - c.unsupported;
            ((runs as f64 * VULKAN_TARGET).ceil() as usize, runs)
        } else {
            (in_scope, in_scope)
        };
        if c.pass < need || (runner.name.starts_with("vulkan") && c.fail > 0) {
            ok = false;
            println!(
                "error: {} passes {} of the {} assertions it runs (target {}, no failure on a GPU)",
                runner.name, c.pass, of, need
            );
        }
    }
    if !ok {
        std::process::exit(1);
    }
}
