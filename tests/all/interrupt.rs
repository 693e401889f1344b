//! Interrupts and deadlines (issue 15), through the public Rust API: a
//! guest spinning in its own code or in a kernel is stopped from another
//! thread within 100 ms on every device; a kernel of 2^32-1 iterations
//! stops at its deadline and the guest goes on; one interrupted instance
//! among 8 leaves the other 7 correct; interrupts racing with normal
//! completion never crash or corrupt.

use crate::common::{self, data_string};
use crate::parallel_util::PARALLEL_IMPORTS;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use wasi_parallel::parallel::{DeviceKind, DevicePolicy};
use wasi_parallel::{
    Config, Engine, ErrorCode, Instance, InstanceConfig, InterruptHandle, Module, TrapKind, Val,
};

const KERNEL_TRAP: i32 = 5;
/// Where the guest keeps the kernels and its scratch words.
const SPIN_AT: u32 = 4096;
const IOTA_AT: u32 = 8192;
const OUT_AT: u32 = 65536;

fn kernel(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/wat/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A guest with
/// - `spin()`: loops forever in its own code;
/// - `exec(hint, n, block) -> errno`: runs `spin.wat` (block rounds per
///   iteration, forever for -1) over `n` iterations on the device for `hint`;
/// - `forever(hint, n) -> errno`: runs `spin_forever.wat`;
/// - `iota(hint, n) -> sum`: runs `iota.wat` into a buffer, reads it back
///   and returns the sum of `out[i] = i` (or `-errno`).
fn guest() -> Vec<u8> {
    let spin = kernel("spin");
    let forever = kernel("spin_forever");
    let iota = kernel("iota");
    let forever_at = IOTA_AT + iota.len() as u32 + 64;
    let text = format!(
        r#"(module
  {PARALLEL_IMPORTS}  (memory (export "memory") 64)
  (data (i32.const {SPIN_AT}) "{spin}")
  (data (i32.const {IOTA_AT}) "{iota}")
  (data (i32.const {forever_at}) "{forever}")
  (func (export "spin") (loop $l (br $l)))
  (func $device (param $hint i32) (result i32)
    (drop (call $gd (local.get $hint) (i32.const 0)))
    (i32.load (i32.const 0)))
  (func (export "exec") (param $hint i32) (param $n i32) (param $bs i32) (result i32)
    (call $pe (call $device (local.get $hint)) (i32.const {SPIN_AT}) (i32.const {spin_len})
      (local.get $n) (local.get $bs) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "forever") (param $hint i32) (param $n i32) (result i32)
    (call $pe (call $device (local.get $hint)) (i32.const {forever_at}) (i32.const {forever_len})
      (local.get $n) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "iota") (param $hint i32) (param $n i32) (result i32)
    (local $dev i32) (local $e i32) (local $i i32) (local $sum i32)
    (local.set $dev (call $device (local.get $hint)))
    (local.set $e (call $cb (local.get $dev) (i32.mul (local.get $n) (i32.const 4))
      (i32.const 1) (i32.const 8)))
    (if (local.get $e) (then (return (i32.sub (i32.const 0) (local.get $e)))))
    (local.set $e (call $pe (local.get $dev) (i32.const {IOTA_AT}) (i32.const {iota_len})
      (local.get $n) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 8) (i32.const 1)))
    (if (local.get $e) (then (return (i32.sub (i32.const 0) (local.get $e)))))
    (local.set $e (call $rb (i32.load (i32.const 8)) (i32.const {OUT_AT})
      (i32.mul (local.get $n) (i32.const 4))))
    (if (local.get $e) (then (return (i32.sub (i32.const 0) (local.get $e)))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $sum (i32.add (local.get $sum)
        (i32.load (i32.add (i32.const {OUT_AT}) (i32.mul (local.get $i) (i32.const 4))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $sum)))"#,
        spin = data_string(&spin),
        iota = data_string(&iota),
        forever = data_string(&forever),
        spin_len = spin.len(),
        iota_len = iota.len(),
        forever_len = forever.len(),
    );
    wat::parse_str(text).expect("guest wat")
}

fn iota_sum(n: u32) -> i32 {
    (0..n).fold(0i32, |s, i| s.wrapping_add(i as i32))
}

fn engine(config: Config) -> Engine {
    Engine::new(config).expect("engine")
}

fn config(threads: usize) -> Config {
    let mut c = Config::default();
    c.parallel.threads = threads;
    // Kernels interruptible inside an iteration (off by default: only
    // between iterations; see `without_metering_...` for that case).
    c.parallel.interruptible = true;
    // These tests stop kernels on the device the guest asked for (the
    // adaptive policy would run the first GPU call on the CPU device).
    c.parallel.device_policy = wasi_parallel::parallel::DevicePolicy::Hint;
    c
}

fn instance(engine: &Engine) -> Instance {
    let module = Module::new(engine, &guest()).expect("module");
    Instance::new(&module, &InstanceConfig::default()).expect("instance")
}

fn i32s(args: &[i32]) -> Vec<Val> {
    args.iter().map(|&a| Val::I32(a)).collect()
}

fn result_i32(r: &[Val]) -> i32 {
    r[0].i32().expect("an i32 result")
}

/// Runs `name(args)` on `inst` on this thread while another thread
/// interrupts it after `after`; returns the call's result and how long the
/// call took to return after the interrupt.
fn interrupted_after(
    inst: &mut Instance,
    name: &str,
    args: &[i32],
    after: Duration,
) -> (wasi_parallel::Result<Vec<Val>>, Duration) {
    let handle = inst.interrupt_handle();
    let watchdog = thread::spawn(move || {
        thread::sleep(after);
        let at = Instant::now();
        assert!(handle.interrupt(), "the call was not in progress");
        at
    });
    let r = inst.call(name, &i32s(args));
    let returned = Instant::now();
    let at = watchdog.join().expect("watchdog");
    (r, returned.saturating_duration_since(at))
}

fn assert_interrupted(r: &wasi_parallel::Result<Vec<Val>>, latency: Duration, what: &str) {
    let e = r.as_ref().expect_err(what);
    assert_eq!(e.code(), ErrorCode::Trap, "{what}: {e}");
    assert_eq!(e.trap_kind(), TrapKind::Interrupted, "{what}: {e}");
    assert!(e.message().contains("interrupted"), "{what}: {e}");
    assert!(
        latency < Duration::from_millis(100),
        "{what}: stopped {latency:?} after the interrupt"
    );
}

/// The instance is usable after the interrupt: a normal call gives the
/// right result, on the same device.
fn assert_usable(inst: &mut Instance, hint: i32) {
    let r = inst.call("iota", &i32s(&[hint, 1000])).expect("iota after");
    assert_eq!(result_i32(&r), iota_sum(1000));
}

#[test]
fn a_guest_spinning_in_its_own_code_stops_within_100_ms() {
    let e = engine(config(2));
    let mut inst = instance(&e);
    let (r, latency) = interrupted_after(&mut inst, "spin", &[], Duration::from_millis(50));
    assert_interrupted(&r, latency, "spin");
    assert_usable(&mut inst, 1);
    // An interrupt with no call in progress does nothing.
    assert!(!inst.interrupt_handle().interrupt());
    assert_usable(&mut inst, 1);
}

fn kernel_spinning_forever_stops(hint: i32, threads: usize) -> Instance {
    let e = engine(config(threads));
    let mut inst = instance(&e);
    // Every iteration spins forever (block_size -1): only the fuel slices
    // inside an iteration can see the interrupt.
    let (r, latency) = interrupted_after(
        &mut inst,
        "exec",
        &[hint, 1000, -1],
        Duration::from_millis(50),
    );
    assert_interrupted(&r, latency, &format!("kernel on hint {hint}"));
    let last = inst.parallel().last_error().expect("a last error");
    assert!(
        last.contains("kernel_trap") && last.contains("interrupted"),
        "{last}"
    );
    assert_usable(&mut inst, hint);
    inst
}

#[test]
fn a_kernel_spinning_forever_stops_within_100_ms_on_sequential() {
    kernel_spinning_forever_stops(0, 2);
}

#[test]
fn a_kernel_spinning_forever_stops_within_100_ms_on_cpu() {
    kernel_spinning_forever_stops(1, 4);
}

#[cfg(feature = "vulkan")]
/// The Vulkan device of the engine, or `None` (skip) outside CI.
fn has_gpu(e: &Engine) -> bool {
    let found = e.parallel().devices().iter().any(|d| d.kind.is_gpu());
    if !found {
        assert!(
            !common::in_ci(),
            "CI=true but no Vulkan device was found (lavapipe: scripts/setup.sh)"
        );
        eprintln!("note: no Vulkan device; GPU interrupt test skipped");
    }
    found
}

#[cfg(feature = "vulkan")]
#[test]
fn a_long_kernel_on_vulkan_stops_between_dispatch_chunks_within_100_ms() {
    let mut c = config(2);
    c.parallel.gpu_fallback = false;
    let e = engine(c);
    if !has_gpu(&e) {
        return;
    }
    let mut inst = instance(&e);
    // 2^32-1 iterations of 200 rounds each: hours on lavapipe, far under
    // llvmpipe's loop limit, so it runs on the GPU device in chunks.
    let (r, latency) =
        interrupted_after(&mut inst, "exec", &[2, -1, 200], Duration::from_millis(300));
    assert_interrupted(&r, latency, "Vulkan");
    let stats = inst.parallel().stats();
    let rec = stats.recent_calls.back().expect("a call record");
    assert!(rec.device.is_gpu(), "ran on {:?}", rec.device);
    assert!(rec.fallback.is_none(), "{:?}", rec.fallback);
    assert_usable(&mut inst, 2);
}

#[cfg(feature = "vulkan")]
#[test]
fn a_kernel_spinning_forever_on_vulkan_falls_back_and_still_stops() {
    // llvmpipe cuts the endless loop (unsupported), the CPU device reruns
    // it: the interrupt must reach it there too.
    let e = engine(config(2));
    if !has_gpu(&e) {
        return;
    }
    let mut inst = instance(&e);
    let (r, latency) =
        interrupted_after(&mut inst, "forever", &[2, 64], Duration::from_millis(300));
    assert_interrupted(&r, latency, "Vulkan fallback");
    let stats = inst.parallel().stats();
    let rec = stats.recent_calls.back().expect("a call record");
    assert!(rec.fallback.is_some(), "went through Vulkan first: {rec:?}");
    assert_usable(&mut inst, 2);
}

fn kernel_deadline(hint: i32, device: &str) {
    let mut c = config(2);
    c.parallel.kernel_timeout = Some(Duration::from_millis(200));
    let e = engine(c);
    #[cfg(feature = "vulkan")]
    if hint >= 2 && !has_gpu(&e) {
        return;
    }
    let mut inst = instance(&e);
    let t = Instant::now();
    // 2^32-1 iterations (n = -1), each a few instructions.
    let r = inst
        .call("exec", &i32s(&[hint, -1, 3]))
        .unwrap_or_else(|e| panic!("{device}: the guest must go on: {e}"));
    let took = t.elapsed();
    assert_eq!(result_i32(&r), KERNEL_TRAP, "{device}");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{device}: {took:?}"
    );
    let last = inst.parallel().last_error().unwrap().to_string();
    assert!(
        last.contains("kernel_trap") && last.contains("deadline of 0.2 s"),
        "{device}: {last}"
    );
    let stats = inst.parallel().stats();
    let rec = stats.recent_calls.back().expect("a call record");
    assert_eq!(
        rec.device.is_gpu(),
        hint >= 2,
        "{device}: ran on {:?}",
        rec.device
    );
    assert!(rec.fallback.is_none(), "{device}: {:?}", rec.fallback);
    // The guest goes on: the same instance computes correctly.
    assert_usable(&mut inst, hint);
}

#[test]
fn a_kernel_of_2_pow_32_iterations_stops_at_its_deadline_on_sequential() {
    kernel_deadline(0, "sequential");
}

#[test]
fn a_kernel_of_2_pow_32_iterations_stops_at_its_deadline_on_cpu() {
    kernel_deadline(1, "cpu");
}

#[cfg(feature = "vulkan")]
#[test]
fn a_kernel_of_2_pow_32_iterations_stops_at_its_deadline_on_vulkan() {
    kernel_deadline(2, "vulkan");
}

#[test]
fn the_guest_call_deadline_stops_the_guest_and_its_kernel() {
    let mut c = config(2);
    c.timeout = Some(Duration::from_millis(150));
    let e = engine(c);
    let mut inst = instance(&e);
    for (name, args) in [("spin", vec![]), ("exec", vec![1, 1000, -1])] {
        let t = Instant::now();
        let err = inst.call(name, &i32s(&args)).expect_err(name);
        let took = t.elapsed();
        assert_eq!(err.trap_kind(), TrapKind::Interrupted, "{name}: {err}");
        assert!(
            err.message().contains("deadline of 0.15 s"),
            "{name}: {err}"
        );
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_millis(250),
            "{name}: {took:?}"
        );
    }
    // Each call has its own deadline: a short call succeeds afterwards.
    assert_usable(&mut inst, 1);
}

#[test]
fn a_fuel_budget_still_means_the_same_across_slices() {
    // A budget larger than one slice: the call traps with OutOfFuel, not
    // earlier (at a slice boundary) and not never.
    let mut c = config(1);
    c.fuel = Some(10 << 20);
    let e = engine(c);
    let mut inst = instance(&e);
    let err = inst.call("spin", &[]).unwrap_err();
    assert_eq!(err.trap_kind(), TrapKind::OutOfFuel, "{err}");
    assert!(
        inst.fuel_remaining().unwrap() < 16,
        "{:?}",
        inst.fuel_remaining()
    );
    let r = inst.call("iota", &i32s(&[1, 100])).unwrap();
    assert_eq!(result_i32(&r), iota_sum(100));
    let left = inst.fuel_remaining().unwrap();
    assert!(left < 10 << 20 && left > (10 << 20) - 100_000, "{left}");
}

#[test]
fn one_interrupted_instance_of_8_leaves_the_other_7_correct() {
    let e = engine(config(4));
    let n = 8;
    let start = Arc::new(Barrier::new(n + 1));
    let mut handles: Vec<InterruptHandle> = Vec::new();
    let mut threads = Vec::new();
    for k in 0..n {
        let mut inst = instance(&e);
        handles.push(inst.interrupt_handle());
        let start = start.clone();
        threads.push(thread::spawn(move || {
            start.wait();
            if k == 3 {
                // Spins in a kernel on the shared CPU pool until interrupted.
                return inst.call("exec", &i32s(&[1, 1000, -1])).map(|_| 0);
            }
            let mut rounds = 0;
            for round in 0..40u32 {
                let items = 1000 + 37 * round + k as u32;
                let hint = (round % 2) as i32; // SEQUENTIAL and CPU
                let r = inst.call("iota", &i32s(&[hint, items as i32]))?;
                assert_eq!(
                    result_i32(&r),
                    iota_sum(items),
                    "instance {k} round {round}"
                );
                rounds += 1;
            }
            Ok(rounds)
        }));
    }
    start.wait();
    thread::sleep(Duration::from_millis(200));
    assert!(handles[3].interrupt(), "instance 3 was not running");
    for (k, t) in threads.into_iter().enumerate() {
        let r = t.join().expect("no panic");
        if k == 3 {
            let e = r.expect_err("instance 3 is interrupted");
            assert_eq!(e.trap_kind(), TrapKind::Interrupted, "{e}");
        } else {
            assert_eq!(r.expect("others finish"), 40, "instance {k}");
        }
    }
    // The pool is unharmed: a new instance on the same engine computes.
    let mut inst = instance(&e);
    assert_usable(&mut inst, 1);
}

#[test]
fn interrupts_racing_with_completion_1000_rounds() {
    let e = engine(config(2));
    let mut inst = instance(&e);
    let handle = inst.interrupt_handle();
    let (mut done, mut stopped) = (0, 0);
    for round in 0..1000u32 {
        let h = handle.clone();
        let delay = Duration::from_micros((round as u64 * 7919) % 400);
        let t = thread::spawn(move || {
            thread::sleep(delay);
            h.interrupt()
        });
        let items = 64 + round % 200;
        match inst.call("iota", &i32s(&[(round % 2) as i32, items as i32])) {
            Ok(r) => {
                assert_eq!(result_i32(&r), iota_sum(items), "round {round}");
                done += 1;
            }
            Err(e) => {
                assert_eq!(e.trap_kind(), TrapKind::Interrupted, "round {round}: {e}");
                stopped += 1;
            }
        }
        t.join().unwrap();
    }
    eprintln!("racing: {done} completed, {stopped} interrupted");
    assert_eq!(done + stopped, 1000);
    assert_usable(&mut inst, 1);
}

#[test]
fn a_handle_outlives_its_instance_and_engine() {
    let handle = {
        let e = engine(config(1));
        let inst = instance(&e);
        inst.interrupt_handle()
    };
    assert!(!handle.interrupt());
    let h2 = handle.clone();
    thread::spawn(move || assert!(!h2.interrupt()))
        .join()
        .unwrap();
}

#[test]
fn bounded_settings_are_checked_when_the_engine_is_made() {
    let mut c = config(100_000);
    let t = Instant::now();
    let err = Engine::new(c.clone()).expect_err("100000 threads");
    assert!(t.elapsed() < Duration::from_secs(1), "no thread was made");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(
        err.message()
            .contains("threads: 100000 exceeds the limit of 1024"),
        "{err}"
    );
    c.parallel.threads = wasi_parallel::parallel::MAX_THREADS;
    c.parallel.kernel_timeout = Some(Duration::ZERO);
    let err = Engine::new(c.clone()).expect_err("zero kernel timeout");
    assert!(err.message().contains("kernel timeout"), "{err}");
    c.parallel.kernel_timeout = None;
    c.timeout = Some(Duration::ZERO);
    assert!(Engine::new(c).is_err());
    // Forcing SEQUENTIAL with a GPU hint still works with the bound (the
    // policy is unrelated; a sanity check that valid configs pass).
    let mut ok = config(2);
    ok.parallel.device_policy = DevicePolicy::Force(DeviceKind::Sequential);
    ok.timeout = Some(Duration::from_secs(3600 * 24 * 365 * 1000));
    let e = engine(ok);
    let mut inst = instance(&e);
    assert_usable(&mut inst, 2);
}

fn cli(args: &[&str]) -> (Option<i32>, String, String, Duration) {
    let dir = common::scratch("interrupt_cli");
    let path = dir.join("guest.wasm");
    std::fs::write(&path, guest()).unwrap();
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasi-parallel"))
        .arg("run")
        .args(args)
        .arg(&path)
        .args(args.iter().skip_while(|a| **a != "--").skip(1))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t.elapsed(),
    )
}

#[test]
fn cli_timeout_and_kernel_timeout() {
    // The guest call's deadline: a trap (exit 134) saying so.
    let (code, _, err, took) = cli(&["--timeout", "0.25", "--invoke", "spin"]);
    assert_eq!(code, Some(134), "{err}");
    assert!(err.contains("deadline of 0.25 s"), "{err}");
    assert!(took >= Duration::from_millis(250), "{took:?}");
    // The kernel's deadline: the guest gets kernel_trap (5) and goes on.
    let dir = common::scratch("interrupt_cli_kernel");
    let path = dir.join("guest.wasm");
    std::fs::write(&path, guest()).unwrap();
    for device in ["sequential", "cpu"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasi-parallel"))
            .args(["run", "--kernel-timeout=0.2", "--device", device])
            .args(["--invoke", "exec"])
            .arg(&path)
            .args(["1", "-1", "3"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{device}: {out:?}");
        assert_eq!(stdout.trim(), KERNEL_TRAP.to_string(), "{device}");
    }
    // Bad values are usage errors (exit 2), at once.
    for args in [
        &["--timeout", "-1"][..],
        &["--timeout", "0"],
        &["--timeout", "soon"],
        &["--kernel-timeout", "NaN"],
        &["--kernel-timeout", "inf"],
        &["--threads", "100000"],
    ] {
        let (code, _, err, took) = cli(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(took < Duration::from_secs(2), "{args:?} took {took:?}");
        assert!(err.contains(args[0]), "{args:?}: {err}");
    }
}

#[test]
fn without_metering_interrupts_stop_at_host_calls_and_between_iterations() {
    let mut c = config(2);
    c.interruptible = false;
    c.parallel.interruptible = false;
    let e = engine(c.clone());
    let mut inst = instance(&e);
    assert_eq!(inst.fuel_remaining(), None);
    // 2^32-1 short iterations: stopped between two of them.
    for hint in [0, 1] {
        let (r, latency) =
            interrupted_after(&mut inst, "exec", &[hint, -1, 3], Duration::from_millis(50));
        assert_interrupted(&r, latency, &format!("unmetered kernel on hint {hint}"));
        assert_usable(&mut inst, hint);
    }
    // A timeout meters what it needs: a guest spinning in its own code stops.
    c.timeout = Some(Duration::from_millis(100));
    let e = engine(c);
    let mut inst = instance(&e);
    let err = inst.call("spin", &[]).unwrap_err();
    assert_eq!(err.trap_kind(), TrapKind::Interrupted, "{err}");
    let err = inst.call("exec", &i32s(&[1, 64, -1])).unwrap_err();
    assert_eq!(err.trap_kind(), TrapKind::Interrupted, "{err}");
}
