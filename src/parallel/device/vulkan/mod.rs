//! The GPU device: kernels translated to SPIR-V ([`crate::spirv`]) and run
//! through Vulkan (vulkano, `libvulkan` loaded at run time).
//!
//! - Discovery ([`discover`]): no loader, no driver or no usable device means
//!   no GPU device (GPU hints then fall back to the CPU device); never a
//!   crash or a link error. Devices are ranked discrete, integrated,
//!   virtual, other, CPU-type (lavapipe counts as a GPU device here: it runs
//!   the same SPIR-V). The configuration or the environment variable
//!   [`DEVICE_ENV`] may pick one by index (in ranked order) or by a
//!   case-insensitive substring of its name.
//! - The logical device is created on first use ([`gpu::Gpu`]).
//! - Buffers live in device memory and stay resident across calls;
//!   `write`/`read` move only the bytes asked for, through a staging buffer.
//! - An exec assembles the kernel's memory in one device "arena" buffer with
//!   device-side copies: `[0, R)` zeroed with the data segments applied, the
//!   call's buffers at the offsets of [`crate::parallel::kernel::layout`];
//!   after the dispatches the buffers are copied back (except those created
//!   with `read` access, `ExecRequest::read_only`). The next call with
//!   the same buffers at the same offsets skips copying them in (the arena
//!   still holds them; `write` updates both copies). The buffers' own
//!   storage stays authoritative, so a call that the driver cut short can
//!   rerun on the CPU device from untouched buffers. See [`crate::spirv`]
//!   for the shader interface.
//! - Pipelines are cached by kernel hash and buffer count (bytes compared on
//!   a hit). Generated SPIR-V passed naga's validator before it reaches the
//!   driver; the tests also run `spirv-val` on it.
//! - Kernels the translator rejects give `unsupported` with the reason, so the
//!   runtime can fall back to the CPU device. So do calls the driver cut
//!   short (llvmpipe's loop limiter) or that stored into `[0, R)`; the device
//!   then declines that kernel at once for calls with at least the block size
//!   that was cut (any block size after a store into `[0, R)`).

pub mod background;
pub mod chunks;
pub mod gpu;
pub mod pipeline_cache;
pub mod scratch;

use super::{Device, DeviceBuffer, DeviceInfo, DeviceKind, DeviceSession, ExecRequest, ExecStats};
use crate::parallel::errno::{ParError, ParResult};
use crate::parallel::kernel::Kernel;
use crate::parallel::placement::model::Status;
use crate::spirv::StackStorage;
use std::sync::{Arc, OnceLock};
use vulkano::device::physical::{PhysicalDevice, PhysicalDeviceType};
use vulkano::instance::{Instance, InstanceCreateFlags, InstanceCreateInfo};
use vulkano::VulkanLibrary;

/// Environment variable selecting the Vulkan device (index or name substring).
pub const DEVICE_ENV: &str = "WASI_PARALLEL_VULKAN_DEVICE";

/// A Vulkan physical device found by [`enumerate`].
#[derive(Clone)]
pub struct Candidate {
    /// The physical device.
    pub physical: Arc<PhysicalDevice>,
    /// Its name as the driver reports it.
    pub name: String,
    /// Its Vulkan type.
    pub device_type: PhysicalDeviceType,
}

fn rank(t: PhysicalDeviceType) -> u8 {
    match t {
        PhysicalDeviceType::DiscreteGpu => 0,
        PhysicalDeviceType::IntegratedGpu => 1,
        PhysicalDeviceType::VirtualGpu => 2,
        PhysicalDeviceType::Cpu => 4,
        _ => 3,
    }
}

/// The Vulkan devices with a compute queue, best first; `Err` says why there
/// are none (no loader, no driver, ...).
pub fn enumerate() -> Result<Vec<Candidate>, String> {
    let library = VulkanLibrary::new().map_err(|e| format!("no Vulkan loader: {e}"))?;
    let instance = Instance::new(
        library.clone(),
        InstanceCreateInfo {
            flags: InstanceCreateFlags::ENUMERATE_PORTABILITY,
            enabled_extensions: vulkano::instance::InstanceExtensions {
                khr_portability_enumeration: library
                    .supported_extensions()
                    .khr_portability_enumeration,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .map_err(|e| format!("cannot create a Vulkan instance (no driver?): {e}"))?;
    let devices = instance
        .enumerate_physical_devices()
        .map_err(|e| format!("cannot enumerate Vulkan devices: {e}"))?;
    let mut out: Vec<Candidate> = devices
        .filter(|p| {
            p.queue_family_properties().iter().any(|q| {
                q.queue_flags
                    .intersects(vulkano::device::QueueFlags::COMPUTE)
            })
        })
        .map(|p| Candidate {
            name: p.properties().device_name.clone(),
            device_type: p.properties().device_type,
            physical: p,
        })
        .collect();
    out.sort_by_key(|c| rank(c.device_type));
    if out.is_empty() {
        return Err("no Vulkan device with a compute queue".into());
    }
    Ok(out)
}

/// Applies a selector (an index into the ranked list, a case-insensitive
/// name substring, or `none`/`off` for no Vulkan device) to the candidates.
pub fn select(
    candidates: Vec<Candidate>,
    selector: Option<&str>,
) -> Result<Vec<Candidate>, String> {
    let Some(sel) = selector.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(candidates);
    };
    if sel.eq_ignore_ascii_case("none") || sel.eq_ignore_ascii_case("off") {
        return Err("Vulkan devices switched off by configuration".into());
    }
    if let Ok(i) = sel.parse::<usize>() {
        return candidates
            .into_iter()
            .nth(i)
            .map(|c| vec![c])
            .ok_or_else(|| format!("no Vulkan device number {i}"));
    }
    let lower = sel.to_lowercase();
    let found: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| c.name.to_lowercase().contains(&lower))
        .take(1)
        .collect();
    if found.is_empty() {
        return Err(format!("no Vulkan device named like {sel:?}"));
    }
    Ok(found)
}

static DISCOVERY_NOTE: OnceLock<String> = OnceLock::new();

/// Why discovery found no GPU device, if it did not (for logs and `devices`).
pub fn discovery_note() -> Option<&'static str> {
    DISCOVERY_NOTE.get().map(String::as_str)
}

/// The GPU devices of a runtime, numbered from `first_index`. `selector`
/// (else the environment variable [`DEVICE_ENV`]) picks one device. Never
/// fails: problems leave the list empty and are kept in [`discovery_note`].
pub fn discover(first_index: usize, selector: Option<&str>) -> Vec<Arc<dyn Device>> {
    discover_with(first_index, selector, true)
}

/// [`discover`], optionally letting llvmpipe run nested loops (see
/// `ParallelConfig::vulkan_llvmpipe_nested_loops`).
pub fn discover_with(
    first_index: usize,
    selector: Option<&str>,
    llvmpipe_nested_loops: bool,
) -> Vec<Arc<dyn Device>> {
    discover_stack(
        first_index,
        selector,
        llvmpipe_nested_loops,
        stack_storage_from_env(),
    )
}

/// [`discover_with`] with the shadow stack's storage (see
/// [`VulkanDevice::stack_storage`]).
pub fn discover_stack(
    first_index: usize,
    selector: Option<&str>,
    llvmpipe_nested_loops: bool,
    stack_storage: StackStorage,
) -> Vec<Arc<dyn Device>> {
    discover_configured(
        first_index,
        selector,
        llvmpipe_nested_loops,
        stack_storage,
        None,
    )
}

/// [`discover_stack`] with a pipeline cache directory (see
/// [`VulkanDevice::pipeline_cache_dir`]).
pub fn discover_configured(
    first_index: usize,
    selector: Option<&str>,
    llvmpipe_nested_loops: bool,
    stack_storage: StackStorage,
    pipeline_cache_dir: Option<&std::path::Path>,
) -> Vec<Arc<dyn Device>> {
    let env = std::env::var(DEVICE_ENV).ok();
    let selector = selector.or(env.as_deref());
    // `none` never loads the Vulkan loader or a driver at all (a host that
    // wants no GPU, or a leak checker that should not see the driver's
    // process-lifetime allocations).
    let off = selector
        .map(str::trim)
        .is_some_and(|s| s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("off"));
    let found = if off {
        Err("Vulkan devices switched off by configuration".to_string())
    } else {
        enumerate().and_then(|c| select(c, selector))
    };
    match found {
        Ok(cands) => cands
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut d = VulkanDevice::new(first_index + i, c);
                d.llvmpipe_nested_loops = llvmpipe_nested_loops;
                d.stack_storage = stack_storage;
                d.pipeline_cache_dir = pipeline_cache_dir.map(Into::into);
                Arc::new(d) as Arc<dyn Device>
            })
            .collect(),
        Err(note) => {
            let _ = DISCOVERY_NOTE.set(note);
            Vec::new()
        }
    }
}

/// Environment variable choosing where Vulkan invocations keep their shadow
/// stack: `private` (default), `scratch` (a lane-interleaved scratch
/// buffer) or `scratch-contiguous`; see [`StackStorage`]. Other values are
/// ignored (private).
pub const STACK_ENV: &str = "WASI_PARALLEL_VULKAN_STACK";

/// [`STACK_ENV`]'s storage, else the default.
pub fn stack_storage_from_env() -> StackStorage {
    std::env::var(STACK_ENV)
        .ok()
        .and_then(|v| StackStorage::parse(&v))
        .unwrap_or_default()
}

/// llvmpipe's loop limiter: an invocation (a SIMD vector of them) stops
/// after this many loop back-edges, all loops together; the translator
/// detects the cut and the call is declined (`spirv::trap::DRIVER_LOOP_LIMIT`).
pub const LLVMPIPE_LOOP_LIMIT: u32 = 65535;

/// The most iterations a loop can run on llvmpipe before the cut: the
/// limit times the translator's unrolling of small innermost loops
/// ([`crate::spirv::DEFAULT_UNROLL`] iterations per back-edge). The adaptive
/// policy does not try a CPU-type device for a kernel with a loop at a
/// block size above it ([`Device::prepare`]).
pub const LLVMPIPE_MAX_LOOP_ITERATIONS: u32 = LLVMPIPE_LOOP_LIMIT * crate::spirv::DEFAULT_UNROLL;

/// The runtime's view of one Vulkan device; the logical device is created
/// on first use.
pub struct VulkanDevice {
    info: DeviceInfo,
    candidate: Candidate,
    gpu: background::SharedGpu,
    /// Pipelines being built in the background (the adaptive policy).
    builds: background::Builds,
    /// See `ParallelConfig::vulkan_llvmpipe_nested_loops`.
    pub llvmpipe_nested_loops: bool,
    /// Where invocations keep their shadow stack window (default: the
    /// environment variable [`STACK_ENV`], else [`StackStorage::Auto`]).
    /// Read when the logical device is created (first use).
    pub stack_storage: StackStorage,
    /// Directory of the pipeline cache kept across runs (default: none).
    /// Read when the logical device is created (first use).
    pub pipeline_cache_dir: Option<std::path::PathBuf>,
}

impl VulkanDevice {
    /// A device with runtime index `index`.
    pub fn new(index: usize, candidate: Candidate) -> VulkanDevice {
        let kind = match candidate.device_type {
            PhysicalDeviceType::DiscreteGpu => DeviceKind::DiscreteGpu,
            // Integrated, virtual, CPU-type (lavapipe) and other devices all
            // answer the GPU hints when no better device is there.
            _ => DeviceKind::IntegratedGpu,
        };
        let type_name = match candidate.device_type {
            PhysicalDeviceType::DiscreteGpu => "discrete GPU",
            PhysicalDeviceType::IntegratedGpu => "integrated GPU",
            PhysicalDeviceType::VirtualGpu => "virtual GPU",
            PhysicalDeviceType::Cpu => "CPU-type",
            _ => "other",
        };
        VulkanDevice {
            info: DeviceInfo {
                kind,
                name: format!("vulkan: {} ({type_name})", candidate.name),
                index,
            },
            candidate,
            gpu: Default::default(),
            builds: Default::default(),
            llvmpipe_nested_loops: true,
            stack_storage: stack_storage_from_env(),
            pipeline_cache_dir: None,
        }
    }

    /// The logical device, created on first call.
    pub fn gpu(&self) -> ParResult<&gpu::Gpu> {
        self.gpu
            .get_or_init(self.make_gpu())
            .as_ref()
            .map_err(|e| ParError::device_error(format!("{}: {e}", self.info.name)))
    }

    /// What creates the logical device (here or on the builder thread).
    fn make_gpu(&self) -> background::MakeGpu {
        let physical = self.candidate.physical.clone();
        let nested = self.llvmpipe_nested_loops;
        let stack = self.stack_storage;
        let cache_dir = self.pipeline_cache_dir.clone();
        Box::new(move || gpu::Gpu::new(physical, nested, stack, cache_dir.as_deref()))
    }
}

impl VulkanDevice {
    /// Background pipeline builds finished so far (successful or not).
    pub fn background_builds_finished(&self) -> u64 {
        self.builds.finished()
    }

    /// Pipeline build time so far, in all and in the translator (zero
    /// before the logical device exists); see [`gpu::Gpu::pipeline_build_time`].
    pub fn pipeline_build_time(&self) -> (std::time::Duration, std::time::Duration) {
        match self.gpu.get() {
            Some(Ok(g)) => g.pipeline_build_time(),
            _ => Default::default(),
        }
    }

    /// Warm-up dispatches after background builds, and their total time
    /// (zero before the logical device exists).
    pub fn warm_ups(&self) -> (u64, std::time::Duration) {
        match self.gpu.get() {
            Some(Ok(g)) => g.warm_ups(),
            _ => (0, std::time::Duration::ZERO),
        }
    }
}

impl Device for VulkanDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn prepare(
        &self,
        kernel: &Arc<Kernel>,
        num_buffers: usize,
        num_iterations: u32,
        block_size: u32,
        fuel: bool,
        may_build: bool,
    ) -> Status {
        if self.candidate.device_type == PhysicalDeviceType::Cpu
            && kernel.has_loop
            && block_size > LLVMPIPE_MAX_LOOP_ITERATIONS
        {
            // Such a kernel most likely loops over its block, and the cut
            // would only be found after a build and a run (sum.wat at
            // block size 20M: a 56 ms build beside six calls, then a
            // wasted run). A forced or hinted call still tries.
            return Status::Declined(format!(
                "{}: {} {block_size}: \
                 the driver stops an invocation after {LLVMPIPE_MAX_LOOP_ITERATIONS} loop iterations \
                 (a loop over the block would be cut)",
                self.info.name,
                crate::parallel::placement::model::PREDICTED_DECLINE,
            ));
        }
        let gpu = match self.gpu.get() {
            Some(Ok(g)) => g,
            Some(Err(e)) => return Status::Declined(format!("{}: {e}", self.info.name)),
            // Not created yet, and not before a build is due: on the
            // builder thread, after this call, followed by this kernel.
            None if !may_build => return Status::Unbuilt,
            None => {
                let then = background::FollowUp {
                    kernel: kernel.clone(),
                    num_buffers,
                    num_iterations,
                    block_size,
                    fuel,
                };
                return self.builds.make_device(self.make_gpu(), Some(then));
            }
        };
        if let Err(e) = gpu.check_declined_at(kernel.hash, block_size) {
            return Status::Declined(e.message);
        }
        let variant = gpu.variant(num_iterations, fuel);
        self.builds
            .status(gpu, kernel, num_buffers, variant, may_build)
    }

    fn building(&self) -> bool {
        self.builds.busy()
    }

    fn start_queued_builds(
        &self,
        expected: Option<crate::parallel::placement::model::BuildEstimate>,
    ) -> Vec<crate::parallel::device::MeasuredBuild> {
        self.builds.start_queued(&self.gpu, expected)
    }

    fn identity(&self) -> String {
        let p = self.candidate.physical.properties();
        format!(
            "vulkan {:x}:{:x} driver {:x} {}",
            p.vendor_id, p.device_id, p.driver_version, self.candidate.name
        )
    }

    fn shares_host_cores(&self) -> bool {
        self.candidate.device_type == PhysicalDeviceType::Cpu
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn create_buffer(&self, size: u64) -> ParResult<Box<dyn DeviceBuffer>> {
        Ok(Box::new(self.gpu()?.create_buffer(size)?))
    }

    fn write(&self, buffer: &dyn DeviceBuffer, data: &[u8]) -> ParResult<()> {
        let gpu = self.gpu()?;
        gpu.write(gpu.own(buffer)?, data)
    }

    fn read(&self, buffer: &dyn DeviceBuffer, out: &mut [u8]) -> ParResult<()> {
        let gpu = self.gpu()?;
        gpu.read(gpu.own(buffer)?, out)
    }

    fn exec(&self, _session: &mut DeviceSession, req: &ExecRequest<'_>) -> ParResult<ExecStats> {
        let gpu = self.gpu()?;
        let mut bufs = Vec::with_capacity(req.buffers.len());
        for b in req.buffers {
            bufs.push(gpu.own(*b)?);
        }
        let run = gpu::Run {
            kernel_bytes: &req.kernel.bytes,
            kernel_hash: req.kernel.hash,
            loaded: crate::spirv::LoadedKernel {
                region_size: req.kernel.private_size,
                num_buffers: req.kernel.num_buffer_params,
            },
            num_iterations: req.num_iterations,
            block_size: req.block_size,
            buffers: &bufs,
            layout: req.layout,
            fuel: req.fuel,
            read_only: req.read_only,
            cancel: req.cancel,
        };
        let out = gpu.exec(&run).map_err(|e| match e {
            gpu::ExecError::Par(p) => p,
            gpu::ExecError::Trap {
                code,
                iteration,
                what,
            } => ParError::kernel_trap(format!(
                "iteration {iteration} trapped on {}: {what} (code {code})",
                self.info.name
            )),
        })?;
        Ok(ExecStats {
            workers: 1,
            setup_time: out.setup_time,
            reused_workers: out.pipeline_cached,
        })
    }
}
