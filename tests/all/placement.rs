//! The adaptive device policy (`DevicePolicy::Adaptive`, the default) and
//! its testing twin `Rotate`: which device runs each call, buffers that
//! follow the calls, the CPU running while a GPU builds, declined kernels,
//! engine-wide sharing. A stand-in "GPU" (a sequential CPU device that
//! reports a GPU kind, with a settable delay, readiness and refusal) makes
//! the choices deterministic; the real Vulkan device is covered at the end.

use crate::parallel_util::*;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasi_parallel::parallel::device::cpu::CpuDevice;
use wasi_parallel::parallel::device::{
    Device, DeviceBuffer, DeviceInfo, DeviceKind, DeviceSession, ExecRequest, ExecStats,
};
use wasi_parallel::parallel::kernel::Kernel;
use wasi_parallel::parallel::placement::model::{Reason, Status};
use wasi_parallel::parallel::{DevicePolicy, ParError, ParResult, ParallelConfig, ParallelRuntime};

/// How the stand-in GPU behaves.
#[derive(Default)]
struct Script {
    /// Sleep this long in every exec (a slow device).
    delay: Mutex<Duration>,
    /// `prepare` answers `Building` while this is set.
    building: AtomicBool,
    /// `prepare` answers `Declined`.
    declines_in_prepare: AtomicBool,
    /// `exec` answers `unsupported` (declined mid-call).
    declines_in_exec: AtomicBool,
    /// `exec` answers `device_error` (the device was lost).
    lost: AtomicBool,
    /// Execs run (including declined ones).
    execs: AtomicU32,
    /// `prepare` calls.
    prepares: AtomicU32,
}

struct StandIn {
    info: DeviceInfo,
    inner: CpuDevice,
    script: Arc<Script>,
}

impl Device for StandIn {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
    fn create_buffer(&self, size: u64) -> ParResult<Box<dyn DeviceBuffer>> {
        self.inner.create_buffer(size)
    }
    fn write(&self, b: &dyn DeviceBuffer, data: &[u8]) -> ParResult<()> {
        self.inner.write(b, data)
    }
    fn read(&self, b: &dyn DeviceBuffer, out: &mut [u8]) -> ParResult<()> {
        self.inner.read(b, out)
    }
    fn exec(&self, s: &mut DeviceSession, req: &ExecRequest<'_>) -> ParResult<ExecStats> {
        self.script.execs.fetch_add(1, Ordering::SeqCst);
        if self.script.declines_in_exec.load(Ordering::SeqCst) {
            return Err(ParError::unsupported("the stand-in declines this kernel"));
        }
        if self.script.lost.load(Ordering::SeqCst) {
            return Err(ParError::device_error("the stand-in lost its device"));
        }
        std::thread::sleep(*self.script.delay.lock().unwrap());
        self.inner.exec(s, req)
    }
    fn prepare(&self, _: &Arc<Kernel>, _: usize, _: u32, _: u32, _: bool, _: bool) -> Status {
        self.script.prepares.fetch_add(1, Ordering::SeqCst);
        if self.script.declines_in_prepare.load(Ordering::SeqCst) {
            Status::Declined("the stand-in cannot build it".into())
        } else if self.script.building.load(Ordering::SeqCst) {
            Status::Building
        } else {
            Status::Ready
        }
    }
}

fn stand_in_runtime(policy: DevicePolicy) -> (Arc<ParallelRuntime>, Arc<Script>) {
    let script = Arc::new(Script::default());
    let s = script.clone();
    let rt = ParallelRuntime::with_devices(
        ParallelConfig {
            threads: 2,
            device_policy: policy,
            ..ParallelConfig::default()
        },
        move |index| {
            vec![Arc::new(StandIn {
                info: DeviceInfo {
                    kind: DeviceKind::DiscreteGpu,
                    name: "stand-in gpu".into(),
                    index,
                },
                inner: CpuDevice::sequential(index),
                script: s,
            }) as Arc<dyn Device>]
        },
    )
    .unwrap();
    (Arc::new(rt), script)
}

const CPU_DEV: usize = 1;
const GPU_DEV: usize = 2;

/// out[i] += 1 for each i (one element per iteration): a call's result
/// depends on every earlier call, so a lost or stale copy shows.
const INCREMENT: &str = r#"(module
  (memory (import "env" "memory") 1)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32) (param $p i32) (param $l i32)
    (local $a i32)
    (local.set $a (i32.add (local.get $p) (i32.shl (local.get $id) (i32.const 2))))
    (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))))"#;

/// out[i] = in[i] * 3 + i: reads one buffer, writes another.
const SCALE: &str = r#"(module
  (memory (import "env" "memory") 1)
  (func (export "kernel") (param $id i32) (param $n i32) (param $bs i32)
        (param $i i32) (param $il i32) (param $o i32) (param $ol i32)
    (local $off i32)
    (local.set $off (i32.shl (local.get $id) (i32.const 2)))
    (i32.store (i32.add (local.get $o) (local.get $off))
      (i32.add (i32.mul (i32.load (i32.add (local.get $i) (local.get $off))) (i32.const 3))
               (local.get $id)))))"#;

fn last_call(g: &Guest) -> wasi_parallel::parallel::stats::CallRecord {
    g.ctx().stats().recent_calls.back().unwrap().clone()
}

fn compute_out(g: &mut Guest, buf: u32, n: usize) -> Vec<u32> {
    bytes_to_u32s(&g.read_buffer(buf, 4 * n).unwrap())
}

#[test]
fn adaptive_explores_each_device_then_keeps_the_cheaper() {
    let (rt, script) = stand_in_runtime(DevicePolicy::Adaptive);
    // Slow enough that a loaded machine's cold CPU call (up to 30 ms)
    // stays outside CONFIRM (2x) of it: the stand-in is then not
    // measured a second time. (30 ms made this flaky under load.)
    *script.delay.lock().unwrap() = Duration::from_millis(150);
    let mut g = Guest::new(&rt);
    // A GPU hint: the handle stands for the best device of each call.
    let dev = g.get_device(DISCRETE_GPU).unwrap();
    let out = g.create_buffer(dev, 4 * 64, WRITE).unwrap();
    let k = wat("compute");
    let mut placed = Vec::new();
    for steps in 1..=6u32 {
        assert_eq!(g.exec(dev, &k, 64, steps, &[], &[out]), 0);
        let rec = last_call(&g);
        placed.push((rec.device_index, rec.reason));
        let want: Vec<u32> = (0..64).map(|i| compute_ref(i, steps)).collect();
        assert_eq!(compute_out(&mut g, out, 64), want, "call {steps}");
    }
    assert_eq!(placed[0], (CPU_DEV, Reason::Exploring));
    assert_eq!(placed[1], (GPU_DEV, Reason::Exploring));
    for p in &placed[2..] {
        assert_eq!(*p, (CPU_DEV, Reason::Cheapest), "{placed:?}");
    }
    assert_eq!(script.execs.load(Ordering::SeqCst), 1);
    // The model saw both devices, the slow one about 150 ms.
    let key =
        wasi_parallel::parallel::placement::model::Key::new(last_call(&g).kernel_hash, 64, 4 * 64);
    let est = rt.placer().estimates(key);
    let gpu = est.iter().find(|e| e.0 == GPU_DEV).unwrap();
    assert!(gpu.1 >= 140.0, "{est:?}");
    assert_eq!(est.iter().find(|e| e.0 == CPU_DEV).unwrap().2, 5);
    // The estimates are in the record and in --stats' lines.
    let rec = last_call(&g);
    assert_eq!(rec.estimates.len(), 2);
    let lines = g.ctx().stats().call_lines(&rt.devices());
    assert!(lines.contains("(cheapest; "), "{lines}");
    assert!(lines.contains("stand-in gpu est"), "{lines}");
    let kernels = g.ctx().stats().kernel_lines(&rt.devices(), rt.placer());
    assert!(kernels.contains("6 calls"), "{kernels}");
    assert!(kernels.contains("last on cpu"), "{kernels}");
}

#[test]
fn the_hint_policy_never_moves_a_call() {
    let (rt, script) = stand_in_runtime(DevicePolicy::Hint);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(DISCRETE_GPU).unwrap();
    let out = g.create_buffer(dev, 4 * 16, WRITE).unwrap();
    for _ in 0..4 {
        assert_eq!(g.exec(dev, &wat("compute"), 16, 3, &[], &[out]), 0);
        let rec = last_call(&g);
        assert_eq!((rec.device_index, rec.reason), (GPU_DEV, Reason::Hint));
        assert_eq!(rec.copied_bytes, 0);
    }
    assert_eq!(script.execs.load(Ordering::SeqCst), 4);
    assert_eq!(script.prepares.load(Ordering::SeqCst), 0);
}

#[test]
fn the_cpu_runs_while_the_gpu_builds() {
    let (rt, script) = stand_in_runtime(DevicePolicy::Adaptive);
    script.building.store(true, Ordering::SeqCst);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(INTEGRATED_GPU).unwrap();
    let out = g.create_buffer(dev, 4 * 32, WRITE).unwrap();
    for _ in 0..3 {
        assert_eq!(g.exec(dev, &wat("compute"), 32, 2, &[], &[out]), 0);
        let rec = last_call(&g);
        assert_eq!(
            (rec.device_index, rec.reason),
            (CPU_DEV, Reason::CompilingElsewhere)
        );
    }
    assert_eq!(script.execs.load(Ordering::SeqCst), 0, "never waited for");
    // Built: the next call tries it.
    script.building.store(false, Ordering::SeqCst);
    assert_eq!(g.exec(dev, &wat("compute"), 32, 2, &[], &[out]), 0);
    let rec = last_call(&g);
    assert_eq!((rec.device_index, rec.reason), (GPU_DEV, Reason::Exploring));
    let want: Vec<u32> = (0..32).map(|i| compute_ref(i, 2)).collect();
    assert_eq!(compute_out(&mut g, out, 32), want);
}

#[test]
fn a_kernel_the_gpu_declines_stays_on_the_cpu() {
    // Declined while running (the device found out mid-call).
    let (rt, script) = stand_in_runtime(DevicePolicy::Adaptive);
    script.declines_in_exec.store(true, Ordering::SeqCst);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(DISCRETE_GPU).unwrap();
    let x = g.buffer_with(dev, &u32s_to_bytes(&(0..100).collect::<Vec<_>>()), READ);
    let out = g.create_buffer(dev, 400, WRITE).unwrap();
    let k = wat_str(SCALE);
    let mut reasons = Vec::new();
    for _ in 0..6 {
        assert_eq!(g.exec(dev, &k, 100, 1, &[x], &[out]), 0);
        let rec = last_call(&g);
        assert_eq!(rec.device_index, CPU_DEV);
        reasons.push(rec.reason);
        let want: Vec<u32> = (0..100).map(|i| i * 3 + i).collect();
        assert_eq!(compute_out(&mut g, out, 100), want);
    }
    assert_eq!(reasons[0], Reason::Exploring);
    assert_eq!(
        reasons[1],
        Reason::Declined,
        "tried, declined, rerun on the CPU"
    );
    assert!(
        reasons[2..].iter().all(|r| *r == Reason::Declined),
        "{reasons:?}"
    );
    assert_eq!(script.execs.load(Ordering::SeqCst), 1, "never tried again");
    let st = g.ctx().stats();
    assert_eq!(st.fallbacks, 1);
    assert!(st.fallback_reasons[0].contains("stand-in declines"));

    // Declined before running (the build failed).
    let (rt, script) = stand_in_runtime(DevicePolicy::Adaptive);
    script.declines_in_prepare.store(true, Ordering::SeqCst);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(DISCRETE_GPU).unwrap();
    let out = g.create_buffer(dev, 4 * 8, WRITE).unwrap();
    for _ in 0..3 {
        assert_eq!(g.exec(dev, &wat("compute"), 8, 4, &[], &[out]), 0);
        assert_eq!(last_call(&g).reason, Reason::Declined);
    }
    assert_eq!(script.execs.load(Ordering::SeqCst), 0);
    assert_eq!(script.prepares.load(Ordering::SeqCst), 1, "not asked again");
}

fn wat_str(src: &str) -> Vec<u8> {
    wat::parse_str(src).unwrap()
}

#[test]
fn buffers_follow_calls_that_switch_devices() {
    let (rt, script) = stand_in_runtime(DevicePolicy::Rotate);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(DISCRETE_GPU).unwrap();
    let n = 256usize;
    let start: Vec<u32> = (0..n as u32).map(|i| i * 7).collect();
    let buf = g.buffer_with(dev, &u32s_to_bytes(&start), READ_WRITE);
    let inc = wat_str(INCREMENT);
    let mut want = start.clone();
    let mut devices = Vec::new();
    for call in 0..10u32 {
        assert_eq!(g.exec(dev, &inc, n as u32, 1, &[], &[buf]), 0);
        for w in want.iter_mut() {
            *w += 1;
        }
        let rec = last_call(&g);
        devices.push(rec.device_index);
        assert_eq!(rec.reason, Reason::Rotating);
        if call > 0 {
            // The other device had the valid copy: it moved.
            assert_eq!(rec.copied_bytes, 4 * n as u64, "call {call}");
        }
        if call % 3 == 0 {
            // read_buffer reads the valid copy, wherever it is.
            assert_eq!(compute_out(&mut g, buf, n), want, "call {call}");
        }
        if call == 4 {
            // A partial write lands in the valid copy only; the next call
            // (on the other device) sees it.
            let head: Vec<u32> = vec![1000; 16];
            assert_eq!(g.write_buffer(buf, &u32s_to_bytes(&head)), 0);
            want[..16].copy_from_slice(&head);
        }
    }
    assert_eq!(compute_out(&mut g, buf, n), want);
    assert_eq!(
        devices,
        [CPU_DEV, GPU_DEV].repeat(5),
        "rotate alternates the devices"
    );
    assert_eq!(script.execs.load(Ordering::SeqCst), 5);
}

#[test]
fn a_read_buffer_is_copied_once_and_stays_valid_everywhere() {
    let (rt, _) = stand_in_runtime(DevicePolicy::Rotate);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(CPU).unwrap();
    let input: Vec<u32> = (0..64).map(|i| i * i).collect();
    let x = g.buffer_with(dev, &u32s_to_bytes(&input), READ);
    let out = g.create_buffer(dev, 4 * 64, WRITE).unwrap();
    let k = wat_str(SCALE);
    let mut copied = Vec::new();
    for _ in 0..4 {
        assert_eq!(g.exec(dev, &k, 64, 1, &[x], &[out]), 0);
        copied.push(last_call(&g).copied_bytes);
        let want: Vec<u32> = input.iter().zip(0..).map(|(v, i)| v * 3 + i).collect();
        assert_eq!(compute_out(&mut g, out, 64), want);
    }
    // Call 1 on the CPU: nothing to move. Call 2 on the GPU: the input and
    // the output move. Later: only the output, which the last call wrote.
    assert_eq!(copied, [0, 512, 256, 256]);
}

#[test]
fn a_sequential_hint_is_never_moved() {
    let (rt, script) = stand_in_runtime(DevicePolicy::Adaptive);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(SEQUENTIAL).unwrap();
    let out = g.create_buffer(dev, 4 * 8, WRITE).unwrap();
    for _ in 0..3 {
        assert_eq!(g.exec(dev, &wat("compute"), 8, 3, &[], &[out]), 0);
        let rec = last_call(&g);
        assert_eq!(
            (rec.device, rec.reason),
            (DeviceKind::Sequential, Reason::Hint)
        );
    }
    assert_eq!(script.prepares.load(Ordering::SeqCst), 0);
}

#[test]
fn instances_on_one_engine_share_the_model() {
    let (rt, script) = stand_in_runtime(DevicePolicy::Adaptive);
    // 50 ms: the four instances' first calls queue on the stand-in (about
    // 100-200 ms each), far beyond CONFIRM (2x) of a cold CPU call even on
    // a loaded machine. (5 ms let such a machine confirm and re-try it
    // from every thread: 22 of 80 calls.)
    *script.delay.lock().unwrap() = Duration::from_millis(50);
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let rt = rt.clone();
            std::thread::spawn(move || {
                let mut g = Guest::new(&rt);
                let dev = g.get_device(DISCRETE_GPU).unwrap();
                let start: Vec<u32> = (0..128).map(|i| i + t * 1000).collect();
                let buf = g.buffer_with(dev, &u32s_to_bytes(&start), READ_WRITE);
                let inc = wat_str(INCREMENT);
                for _ in 0..20 {
                    assert_eq!(g.exec(dev, &inc, 128, 1, &[], &[buf]), 0);
                }
                let want: Vec<u32> = start.iter().map(|v| v + 20).collect();
                assert_eq!(bytes_to_u32s(&g.read_buffer(buf, 512).unwrap()), want);
                g.ctx().stats().recent_calls.back().unwrap().kernel_hash
            })
        })
        .collect();
    let hashes: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let key = wasi_parallel::parallel::placement::model::Key::new(hashes[0], 128, 512);
    let est = rt.placer().estimates(key);
    let samples: u32 = est.iter().map(|e| e.2).sum();
    assert_eq!(
        samples, 80,
        "every call of every instance was measured: {est:?}"
    );
    // The slow stand-in was explored, not chosen over and over.
    assert!(script.execs.load(Ordering::SeqCst) < 20, "{est:?}");
}

#[test]
fn a_gpu_that_loses_its_device_costs_the_guest_nothing() {
    let (rt, script) = stand_in_runtime(DevicePolicy::Adaptive);
    script.lost.store(true, Ordering::SeqCst);
    let mut g = Guest::new(&rt);
    let dev = g.get_device(DISCRETE_GPU).unwrap();
    let start: Vec<u32> = (0..64).collect();
    let buf = g.buffer_with(dev, &u32s_to_bytes(&start), READ_WRITE);
    let inc = wat_str(INCREMENT);
    for call in 1..=4u32 {
        assert_eq!(g.exec(dev, &inc, 64, 1, &[], &[buf]), 0, "call {call}");
        // The failed GPU call left nothing behind: each call adds one.
        let want: Vec<u32> = start.iter().map(|v| v + call).collect();
        assert_eq!(compute_out(&mut g, buf, 64), want, "call {call}");
        assert_eq!(last_call(&g).device_index, CPU_DEV);
    }
    assert_eq!(script.execs.load(Ordering::SeqCst), 1, "tried once");
    assert!(g.ctx().stats().fallback_reasons[0].contains("lost its device"));
}
