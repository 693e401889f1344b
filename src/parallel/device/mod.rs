//! Devices: where kernels run and where buffers live.
//!
//! A device owns its buffers' storage (resident between calls) and runs
//! kernels over them. SEQUENTIAL and CPU share one implementation
//! ([`cpu::CpuDevice`]); a GPU device (Vulkan) implements the same trait and
//! may answer `exec` with an `unsupported` error, after which the runtime
//! falls back to the CPU device when the configuration allows it.

pub mod cpu;
pub mod sequential;
pub(crate) mod shm;
#[cfg(feature = "vulkan")]
pub mod vulkan;

use super::cancel::Cancel;
use super::errno::ParResult;
use super::kernel::layout::Layout;
use super::kernel::Kernel;
use super::placement::model::Status;
use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

/// The `device_kind` enum of the ABI (witx tag order).
#[repr(i32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// Iterations one after another on the calling thread.
    Sequential = 0,
    /// Iterations on a CPU thread pool.
    Cpu = 1,
    /// A discrete GPU.
    DiscreteGpu = 2,
    /// An integrated GPU.
    IntegratedGpu = 3,
}

impl DeviceKind {
    /// The kind for an ABI value, if valid.
    pub fn from_raw(v: i32) -> Option<DeviceKind> {
        Some(match v {
            0 => DeviceKind::Sequential,
            1 => DeviceKind::Cpu,
            2 => DeviceKind::DiscreteGpu,
            3 => DeviceKind::IntegratedGpu,
            _ => return None,
        })
    }

    /// Whether this is one of the GPU kinds.
    pub fn is_gpu(self) -> bool {
        matches!(self, DeviceKind::DiscreteGpu | DeviceKind::IntegratedGpu)
    }

    /// Lower-case name (`sequential`, `cpu`, `discrete_gpu`, `integrated_gpu`).
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Sequential => "sequential",
            DeviceKind::Cpu => "cpu",
            DeviceKind::DiscreteGpu => "discrete_gpu",
            DeviceKind::IntegratedGpu => "integrated_gpu",
        }
    }
}

/// Description of a device of the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Its kind.
    pub kind: DeviceKind,
    /// A name for people (e.g. "cpu (4 threads)", the GPU's name).
    pub name: String,
    /// Its index in [`crate::parallel::ParallelRuntime::devices`].
    pub index: usize,
}

/// A buffer's storage on a device. Created zero-filled.
pub trait DeviceBuffer: Send + Sync {
    /// Size in bytes.
    fn size(&self) -> u64;
    /// For the owning device to get its concrete type back.
    fn as_any(&self) -> &dyn Any;
}

/// Per-(instance, device) state a device may keep between calls, e.g. cached
/// workers. Owned by the [`crate::parallel::ParallelContext`].
pub type DeviceSession = Option<Box<dyn Any + Send>>;

/// One `parallel_exec` request, already validated by the context.
pub struct ExecRequest<'a> {
    /// The compiled kernel; its buffer count matches `buffers.len()`.
    pub kernel: &'a Arc<Kernel>,
    /// Number of iterations (> 0).
    pub num_iterations: u32,
    /// Passed to the kernel unchanged.
    pub block_size: u32,
    /// Every occurrence, inputs then outputs; all of this device.
    pub buffers: &'a [&'a dyn DeviceBuffer],
    /// Where the buffers live in the kernel's memory (ABI section 2).
    pub layout: &'a Layout,
    /// Fuel budget per iteration, if any.
    pub fuel: Option<u64>,
    /// Per occurrence: the buffer was created with `read` access, so a
    /// kernel's writes to it are unspecified (ABI section 1) and a device
    /// that copies buffers back need not copy it. Empty: nothing known.
    pub read_only: &'a [bool],
    /// Polled while the kernel runs: an interrupt or a passed deadline
    /// stops the exec with `kernel_trap` (see [`crate::parallel::cancel`]).
    pub cancel: &'a Cancel,
}

/// What a device reports about one exec.
#[derive(Clone, Debug, Default)]
pub struct ExecStats {
    /// Workers (threads) that ran iterations.
    pub workers: usize,
    /// Time spent preparing workers (instantiation, mapping).
    pub setup_time: Duration,
    /// Whether cached workers were reused.
    pub reused_workers: bool,
}

/// A background build that finished ([`Device::start_queued_builds`]).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct MeasuredBuild {
    /// Wall time, warm-up included.
    pub took: Duration,
    /// The kernel's content hash.
    pub kernel: u64,
    /// The kernel's code size (bytes).
    pub code_bytes: u64,
}

/// A device. Shared by all instances of a runtime, so `Send + Sync`.
pub trait Device: Send + Sync {
    /// Its description.
    fn info(&self) -> &DeviceInfo;
    /// A zero-filled buffer of `size` bytes.
    fn create_buffer(&self, size: u64) -> ParResult<Box<dyn DeviceBuffer>>;
    /// Copies `data` (at most the buffer's size) into the start of `buffer`.
    fn write(&self, buffer: &dyn DeviceBuffer, data: &[u8]) -> ParResult<()>;
    /// Copies the first `out.len()` bytes (at most the buffer's size) of `buffer` into `out`.
    fn read(&self, buffer: &dyn DeviceBuffer, out: &mut [u8]) -> ParResult<()>;
    /// Runs `req.num_iterations` iterations of the kernel. Errors: `kernel_trap`
    /// (with the trap message; also when `req.cancel` fired),
    /// `resource_exhausted`, `device_error`, or `unsupported` (the runtime
    /// may fall back to the CPU device).
    fn exec(&self, session: &mut DeviceSession, req: &ExecRequest<'_>) -> ParResult<ExecStats>;
    /// Whether a call of `kernel` (with `num_buffers` buffers,
    /// `num_iterations` iterations, `block_size`, a fuel limit or not)
    /// could run now without compiling first. A device that compiles per
    /// kernel (Vulkan) answers `Declined` with the reason when it cannot
    /// run the kernel; when the kernel is not built, it queues a build and
    /// answers `Building` if `may_build` (the adaptive policy's build
    /// budget is reached), else answers `Unbuilt` and queues nothing.
    /// Queued builds start at [`Device::start_queued_builds`], after the
    /// call. Default: `Ready`.
    fn prepare(
        &self,
        kernel: &Arc<Kernel>,
        num_buffers: usize,
        num_iterations: u32,
        block_size: u32,
        fuel: bool,
        may_build: bool,
    ) -> Status {
        let _ = (kernel, num_buffers, num_iterations, block_size, fuel);
        let _ = may_build;
        Status::Ready
    }
    /// Whether a background build (see [`Device::prepare`]) is queued or
    /// running. Default: false.
    fn building(&self) -> bool {
        false
    }
    /// Called by the adaptive policy after each call has returned: starts
    /// the background builds queued by [`Device::prepare`] (so that they
    /// do not take the cores from the call that asked), and returns the
    /// wall time of each background build (warm-up included) that finished
    /// since the last time, with its kernel, for the build budget.
    /// `expected`: what building a kernel with that many bytes of code on
    /// this device is expected to cost (the budget's
    /// estimate; `None` without a budget): a build running far longer is
    /// given the lowest priority. Default: none.
    fn start_queued_builds(
        &self,
        expected: Option<crate::parallel::placement::model::BuildEstimate>,
    ) -> Vec<MeasuredBuild> {
        let _ = expected;
        Vec::new()
    }
    /// What names this device in the placement history across runs
    /// ([`crate::parallel::placement::history`]): stable for the same
    /// hardware and driver, different when either changes. Default: its
    /// name.
    fn identity(&self) -> String {
        self.info().name.clone()
    }
    /// Whether the device's builds and runs use the host's CPU cores (a
    /// CPU-type Vulkan device such as lavapipe): the adaptive policy then
    /// waits for a build it starts instead of running calls on the CPU
    /// device beside it ([`crate::parallel::placement::model::plan_build`]).
    /// Default: false.
    fn shares_host_cores(&self) -> bool {
        false
    }
    /// The device's concrete type, for callers that need what only it
    /// offers (tests and benches read the Vulkan device's build counters).
    /// Default: `None`.
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }
}
