//! One Vulkan logical device: buffers, the pipeline cache and dispatch.

use super::chunks::IterationCost;
use super::pipeline_cache::DriverCache;
use crate::parallel::cancel::Cancel;
use crate::parallel::device::DeviceBuffer;
use crate::parallel::errno::{ParError, ParResult};
use crate::parallel::kernel::layout::Layout;
use crate::spirv::{self, param, TranslateOptions, Translation, Unsupported};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vulkano::buffer::{Buffer, BufferCreateInfo, BufferUsage, Subbuffer};
use vulkano::command_buffer::allocator::StandardCommandBufferAllocator;
use vulkano::descriptor_set::allocator::StandardDescriptorSetAllocator;
use vulkano::device::physical::{PhysicalDevice, PhysicalDeviceType};
use vulkano::device::{
    Device as VkDevice, DeviceCreateInfo, DeviceExtensions, DeviceFeatures, Queue, QueueCreateInfo,
    QueueFlags,
};
use vulkano::memory::allocator::{AllocationCreateInfo, MemoryTypeFilter, StandardMemoryAllocator};
use vulkano::pipeline::compute::ComputePipelineCreateInfo;
use vulkano::pipeline::layout::PipelineDescriptorSetLayoutCreateInfo;
use vulkano::pipeline::{ComputePipeline, PipelineLayout, PipelineShaderStageCreateInfo};
use vulkano::shader::{ShaderModule, ShaderModuleCreateInfo};

/// Workgroup size for large calls on CPU-type devices; see [`Gpu::variant`].
const LLVMPIPE_WORKGROUP_SIZE: u32 = 256;

/// What a pipeline is built for besides the kernel itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Variant {
    /// The shader counts loop iterations against `param[FUEL]` (calls with
    /// a kernel fuel limit); without, loops run a little faster.
    pub fuel: bool,
    /// Invocations per workgroup.
    pub workgroup_size: u32,
}

/// Most pipelines kept per device.
const PIPELINE_CACHE_ENTRIES: usize = 64;

fn dev_err(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> ParError {
    move |e| ParError::device_error(format!("Vulkan: {what}: {e}"))
}

macro_rules! vk {
    ($e:expr, $what:expr) => {
        $e.map_err(|e| dev_err($what)(&e))
    };
}

mod commands;
mod dispatch;

use commands::Commands;

/// A buffer on a [`Gpu`]: device memory, resident between calls.
pub struct VulkanBuffer {
    /// The storage, its size rounded up to a multiple of 4 (at least 4).
    pub storage: Subbuffer<[u8]>,
    size: u64,
    device_id: usize,
    /// Process-wide unique id (never reused), for the arena's record.
    uid: u64,
}

/// The arena of the last exec and, when still true, what it holds.
#[derive(Default)]
struct ArenaState {
    buffer: Option<Subbuffer<[u8]>>,
    /// The shadow stack's scratch buffer (see `scratch.rs`).
    scratch: super::scratch::ScratchState,
    /// Set after a call whose buffers were copied back: the arena's buffer
    /// ranges equal these buffers' storage (kept so by `write`), so the next
    /// call with the same placements skips copying them in.
    holds: Option<ArenaHolds>,
}

/// Only the buffer ranges are reused: `[0, R)`, the gaps and the data
/// segments are written by every exec, so the kernel may differ.
#[derive(PartialEq)]
struct ArenaHolds {
    total: u64,
    /// `(buffer uid, offset, len)` of every placement, in layout order.
    placements: Vec<(u64, u64, u64)>,
}

impl DeviceBuffer for VulkanBuffer {
    fn size(&self) -> u64 {
        self.size
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A compiled kernel: its pipeline and what the host must set up.
pub struct CompiledKernel {
    bytes: Arc<[u8]>,
    pipeline: Arc<ComputePipeline>,
    translation: Translation,
    /// Time per iteration of its last completed call (chunk sizes).
    cost: IterationCost,
}

/// Built pipelines by (kernel hash, buffer count, variant); the bytes are
/// compared on a hit.
type PipelineCache = HashMap<(u64, usize, Variant), Vec<Arc<CompiledKernel>>>;

/// One exec request in this device's terms.
pub struct Run<'a> {
    /// The kernel module bytes (what the translator reads).
    pub kernel_bytes: &'a [u8],
    /// Content hash of the bytes (cache key, with the buffer count).
    pub kernel_hash: u64,
    /// What the kernel loader learned (the bytes are not validated again).
    pub loaded: spirv::LoadedKernel,
    /// Iterations.
    pub num_iterations: u32,
    /// Block size, passed through.
    pub block_size: u32,
    /// Every occurrence, inputs then outputs.
    pub buffers: &'a [&'a VulkanBuffer],
    /// Placement of the buffers (the shared layout rule).
    pub layout: &'a Layout,
    /// Per-invocation budget of loop iterations.
    pub fuel: Option<u64>,
    /// Per occurrence: created with `read` access (not copied back).
    pub read_only: &'a [bool],
    /// Polled between dispatch chunks.
    pub cancel: &'a Cancel,
}

/// What an exec reports.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Translation and pipeline creation time (zero on a cache hit).
    pub setup_time: Duration,
    /// Whether the pipeline came from the cache.
    pub pipeline_cached: bool,
    /// Time from submission to completion (copies + dispatches).
    pub gpu_time: Duration,
}

/// Why an exec failed.
#[derive(Debug)]
pub enum ExecError {
    /// A runtime error (unsupported, device error, resource exhausted).
    Par(ParError),
    /// An invocation trapped.
    Trap {
        /// The trap code ([`spirv::trap`]).
        code: u32,
        /// The iteration that set it.
        iteration: u32,
        /// Description of the code.
        what: &'static str,
    },
}

impl From<ParError> for ExecError {
    fn from(e: ParError) -> Self {
        ExecError::Par(e)
    }
}

/// The buffers a dispatch binds: the arena, the control words and the
/// shadow stack's scratch buffer (when the shader has one).
type Bindings<'b> = (
    &'b Subbuffer<[u8]>,
    &'b Subbuffer<[u8]>,
    Option<&'b Subbuffer<[u8]>>,
);

/// A Vulkan logical device with everything needed to run kernels.
pub struct Gpu {
    device: Arc<VkDevice>,
    queue: Arc<Queue>,
    memory: Arc<StandardMemoryAllocator>,
    command_buffers: Arc<StandardCommandBufferAllocator>,
    descriptor_sets: Arc<StandardDescriptorSetAllocator>,
    options: TranslateOptions,
    max_groups: [u32; 2],
    max_storage_range: u64,
    id: usize,
    /// Keyed by kernel hash, buffer count and shader variant.
    pipelines: Mutex<PipelineCache>,
    /// CPU-type device (llvmpipe): see [`Gpu::variant`].
    cpu_type: bool,
    /// Kernels (by content hash) whose calls this device could not finish:
    /// the smallest block size at which the driver cut a loop short
    /// (llvmpipe's limiter), or 0 after a store into `[0, R)`. A later call
    /// with at least that block size (at least as much work per
    /// invocation, for kernels that split their work by it) is declined at
    /// once instead of being run until the same cut.
    declined: Mutex<HashMap<u64, u32>>,
    /// The arena of the last exec, reused when large enough; the lock also
    /// serializes execs (and writes) on this device.
    arena: Mutex<ArenaState>,
    /// The driver's pipeline cache every pipeline is built through, and
    /// its file.
    pipeline_cache: DriverCache,
    /// Time spent building pipelines (translation + driver), in ns.
    build_nanos: std::sync::atomic::AtomicU64,
    /// Of `build_nanos`, the time spent in our translator, in ns.
    translate_nanos: std::sync::atomic::AtomicU64,
    /// Warm-up dispatches run ([`Gpu::warm_up`]) and their time, in ns.
    warm_ups: std::sync::atomic::AtomicU64,
    warm_up_nanos: std::sync::atomic::AtomicU64,
}

impl Gpu {
    /// Creates the logical device and its allocators.
    pub fn new(
        physical: Arc<PhysicalDevice>,
        llvmpipe_nested_loops: bool,
        stack_storage: spirv::StackStorage,
        pipeline_cache_dir: Option<&std::path::Path>,
    ) -> Result<Gpu, String> {
        static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let family = physical
            .queue_family_properties()
            .iter()
            .position(|q| q.queue_flags.intersects(QueueFlags::COMPUTE))
            .ok_or("no compute queue")? as u32;
        let supported = physical.supported_features();
        let props = physical.properties();
        let api12 = physical.api_version() >= vulkano::Version::V1_2;
        let float_controls_ext =
            !api12 && physical.supported_extensions().khr_shader_float_controls;
        let float_controls = api12 || float_controls_ext;
        let has = |p: Option<bool>| float_controls && p.unwrap_or(false);
        let options = TranslateOptions {
            int64: supported.shader_int64,
            float64: supported.shader_float64,
            denorm_preserve_f32: has(props.shader_denorm_preserve_float32),
            denorm_preserve_f64: has(props.shader_denorm_preserve_float64),
            signed_zero_inf_nan_f32: has(props.shader_signed_zero_inf_nan_preserve_float32),
            signed_zero_inf_nan_f64: has(props.shader_signed_zero_inf_nan_preserve_float64),
            // Chosen per call (see `variant`).
            workgroup_size: spirv::WORKGROUP_SIZE,
            // llvmpipe's loop limiter (65535 loop iterations per SIMD vector)
            // cuts loops silently; the translator detects every cut (see
            // `spirv` module docs). The depth gate is only the opt-out
            // `ParallelConfig::vulkan_llvmpipe_nested_loops = false`.
            max_loop_depth: if props.device_type == PhysicalDeviceType::Cpu
                && !llvmpipe_nested_loops
            {
                Some(1)
            } else {
                None
            },
            // Chosen per call (see `variant`).
            fuel: true,
            unroll: spirv::DEFAULT_UNROLL,
            stack_storage,
        };
        let (device, mut queues) = VkDevice::new(
            physical.clone(),
            DeviceCreateInfo {
                queue_create_infos: vec![QueueCreateInfo {
                    queue_family_index: family,
                    ..Default::default()
                }],
                enabled_features: DeviceFeatures {
                    shader_int64: supported.shader_int64,
                    shader_float64: supported.shader_float64,
                    ..DeviceFeatures::empty()
                },
                enabled_extensions: DeviceExtensions {
                    khr_shader_float_controls: float_controls_ext,
                    ..DeviceExtensions::empty()
                },
                ..Default::default()
            },
        )
        .map_err(|e| format!("cannot create the Vulkan device: {e}"))?;
        let queue = queues.next().ok_or("the driver returned no queue")?;
        let wg = props.max_compute_work_group_count;
        let pipeline_cache = DriverCache::open(&device, pipeline_cache_dir);
        Ok(Gpu {
            memory: Arc::new(StandardMemoryAllocator::new_default(device.clone())),
            command_buffers: Arc::new(StandardCommandBufferAllocator::new(
                device.clone(),
                Default::default(),
            )),
            descriptor_sets: Arc::new(StandardDescriptorSetAllocator::new(
                device.clone(),
                Default::default(),
            )),
            device,
            queue,
            options,
            max_groups: [wg[0].clamp(1, 65535), wg[1].clamp(1, 1024)],
            max_storage_range: props.max_storage_buffer_range as u64,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            pipelines: Mutex::new(HashMap::new()),
            cpu_type: props.device_type == PhysicalDeviceType::Cpu,
            declined: Mutex::new(HashMap::new()),
            arena: Mutex::new(ArenaState::default()),
            pipeline_cache,
            build_nanos: Default::default(),
            translate_nanos: Default::default(),
            warm_ups: Default::default(),
            warm_up_nanos: Default::default(),
        })
    }

    /// Time spent building pipelines so far: in all (translation and
    /// driver), and of that in the translator.
    pub fn pipeline_build_time(&self) -> (Duration, Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            Duration::from_nanos(self.build_nanos.load(Relaxed)),
            Duration::from_nanos(self.translate_nanos.load(Relaxed)),
        )
    }

    /// Warm-up dispatches run so far and the time they took (for llvmpipe,
    /// the shader compile it does at a pipeline's first dispatch).
    pub fn warm_ups(&self) -> (u64, Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.warm_ups.load(Relaxed),
            Duration::from_nanos(self.warm_up_nanos.load(Relaxed)),
        )
    }

    pub(super) fn count_warm_up(&self, took: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.warm_ups.fetch_add(1, Relaxed);
        self.warm_up_nanos
            .fetch_add(took.as_nanos() as u64, Relaxed);
    }

    /// Why the pipeline cache file was not used, if it was not.
    pub fn pipeline_cache_warning(&self) -> Option<&str> {
        self.pipeline_cache.warning.as_deref()
    }

    /// What the translator may use on this device.
    pub fn translate_options(&self) -> TranslateOptions {
        self.options
    }

    /// The driver's device name.
    pub fn name(&self) -> String {
        self.device
            .physical_device()
            .properties()
            .device_name
            .clone()
    }

    /// The buffer as one of this device's, or `invalid_handle`.
    pub fn own<'b>(&self, b: &'b dyn DeviceBuffer) -> ParResult<&'b VulkanBuffer> {
        b.as_any()
            .downcast_ref::<VulkanBuffer>()
            .filter(|v| v.device_id == self.id)
            .ok_or_else(|| {
                ParError::invalid_handle("the buffer does not belong to this Vulkan device")
            })
    }

    /// The device's `maxStorageBufferRange`.
    pub(super) fn max_storage_range(&self) -> u64 {
        self.max_storage_range
    }

    pub(super) fn device_buffer(
        &self,
        bytes: u64,
        usage: BufferUsage,
    ) -> ParResult<Subbuffer<[u8]>> {
        let len = bytes.max(4).div_ceil(4) * 4;
        Buffer::new_slice::<u8>(
            self.memory.clone(),
            BufferCreateInfo {
                usage,
                ..Default::default()
            },
            AllocationCreateInfo {
                memory_type_filter: MemoryTypeFilter::PREFER_DEVICE,
                ..Default::default()
            },
            len,
        )
        .map_err(|e| {
            ParError::resource_exhausted(format!("Vulkan: cannot allocate {len} bytes: {e}"))
        })
    }

    fn host_buffer(&self, len: u64, upload: bool) -> ParResult<Subbuffer<[u8]>> {
        Buffer::new_slice::<u8>(
            self.memory.clone(),
            BufferCreateInfo {
                usage: if upload {
                    BufferUsage::TRANSFER_SRC | BufferUsage::STORAGE_BUFFER
                } else {
                    BufferUsage::TRANSFER_DST
                },
                ..Default::default()
            },
            AllocationCreateInfo {
                memory_type_filter: MemoryTypeFilter::PREFER_HOST
                    | if upload {
                        MemoryTypeFilter::HOST_SEQUENTIAL_WRITE
                    } else {
                        MemoryTypeFilter::HOST_RANDOM_ACCESS
                    },
                ..Default::default()
            },
            len.max(4),
        )
        .map_err(|e| {
            ParError::resource_exhausted(format!("Vulkan: cannot allocate a staging buffer: {e}"))
        })
    }

    fn upload(&self, data: &[u8]) -> ParResult<Subbuffer<[u8]>> {
        let staging = self.host_buffer(data.len() as u64, true)?;
        {
            let mut w = vk!(staging.write(), "map staging buffer")?;
            w[..data.len()].copy_from_slice(data);
        }
        Ok(staging)
    }

    fn builder(&self) -> ParResult<Commands> {
        Commands::new(&self.command_buffers, self.queue.queue_family_index())
    }

    fn submit(&self, b: Commands) -> ParResult<()> {
        b.submit(&self.queue)
    }

    /// A zero-filled buffer of `size` bytes.
    pub fn create_buffer(&self, size: u64) -> ParResult<VulkanBuffer> {
        let storage = self.device_buffer(
            size,
            BufferUsage::STORAGE_BUFFER | BufferUsage::TRANSFER_SRC | BufferUsage::TRANSFER_DST,
        )?;
        let mut b = self.builder()?;
        b.zero(&storage)?;
        self.submit(b)?;
        static NEXT_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(VulkanBuffer {
            storage,
            size,
            device_id: self.id,
            uid: NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Copies `data` into the start of `buffer`.
    pub fn write(&self, buffer: &VulkanBuffer, data: &[u8]) -> ParResult<()> {
        if data.len() as u64 > buffer.size {
            return Err(ParError::out_of_bounds("write longer than the buffer"));
        }
        if data.is_empty() {
            return Ok(());
        }
        let staging = self.upload(data)?;
        let mut b = self.builder()?;
        let len = data.len() as u64;
        b.copy((&staging, 0), (&buffer.storage, 0), len, "copy")?;
        // Keep the arena's copy of this buffer current too, if it has one.
        let state = self
            .arena
            .lock()
            .map_err(|_| ParError::device_error("poisoned lock"))?;
        if let (Some(arena), Some(holds)) = (state.buffer.as_ref(), state.holds.as_ref()) {
            for &(_, offset, _) in holds.placements.iter().filter(|p| p.0 == buffer.uid) {
                b.copy((&staging, 0), (arena, offset), len, "copy")?;
            }
        }
        self.submit(b)
    }

    /// Copies the first `out.len()` bytes of `buffer` into `out`.
    pub fn read(&self, buffer: &VulkanBuffer, out: &mut [u8]) -> ParResult<()> {
        if out.len() as u64 > buffer.size {
            return Err(ParError::out_of_bounds("read longer than the buffer"));
        }
        if out.is_empty() {
            return Ok(());
        }
        let staging = self.host_buffer(out.len() as u64, false)?;
        let mut b = self.builder()?;
        let len = out.len() as u64;
        b.copy((&buffer.storage, 0), (&staging, 0), len, "copy")?;
        b.transfer_to_host()?;
        self.submit(b)?;
        let r = vk!(staging.read(), "map staging buffer")?;
        out.copy_from_slice(&r[..out.len()]);
        Ok(())
    }

    /// The shader variant for a call of `num_iterations` iterations.
    /// llvmpipe runs each workgroup as one task with a fixed cost: 256
    /// invocations per group halved the time of 4Mi one-element iterations
    /// (73 -> 35 ms), but a call of a few hundred long iterations needs
    /// several groups to use every core, so large calls get 256 and the
    /// rest (and GPUs) the portable 64.
    pub fn variant(&self, num_iterations: u32, fuel: bool) -> Variant {
        let large = num_iterations as u64 >= 16 * LLVMPIPE_WORKGROUP_SIZE as u64;
        Variant {
            fuel,
            workgroup_size: if self.cpu_type && large {
                LLVMPIPE_WORKGROUP_SIZE
            } else {
                spirv::WORKGROUP_SIZE
            },
        }
    }

    /// Whether the pipeline for these bytes and variant is built (a call
    /// would not compile first).
    pub fn has_pipeline(&self, bytes: &[u8], hash: u64, num_buffers: usize, v: Variant) -> bool {
        self.pipelines.lock().is_ok_and(|cache| {
            cache
                .get(&(hash, num_buffers, v))
                .is_some_and(|hits| hits.iter().any(|c| &*c.bytes == bytes))
        })
    }

    /// Translates and builds a pipeline (cached by hash, buffer count and
    /// variant, the bytes compared on a hit).
    pub fn compile(
        &self,
        bytes: &[u8],
        hash: u64,
        num_buffers: usize,
        variant: Variant,
        loaded: &spirv::LoadedKernel,
    ) -> ParResult<(Arc<CompiledKernel>, bool)> {
        let key = (hash, num_buffers, variant);
        {
            let cache = self
                .pipelines
                .lock()
                .map_err(|_| ParError::device_error("poisoned lock"))?;
            if let Some(hit) = cache
                .get(&key)
                .and_then(|v| v.iter().find(|c| &*c.bytes == bytes))
            {
                return Ok((hit.clone(), true));
            }
        }
        let t = Instant::now();
        let options = TranslateOptions {
            fuel: variant.fuel,
            workgroup_size: variant.workgroup_size,
            ..self.options
        };
        let translation = spirv::translate_loaded(bytes, loaded, &options)
            .map_err(|Unsupported { reason }| ParError::unsupported(reason))?;
        self.translate_nanos.fetch_add(
            t.elapsed().as_nanos() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        if translation.num_buffers != num_buffers {
            return Err(ParError::invalid_kernel(format!(
                "function `kernel` takes {} buffer pairs but the call passes {num_buffers} buffers",
                translation.num_buffers
            )));
        }
        // SAFETY: the words come from naga's SPIR-V writer after naga's
        // validator accepted the module, and our post-pass only adds
        // decorations and execution modes of the declared extension; the
        // translator's tests run `spirv-val --target-env vulkan1.1` on such
        // output.
        let module = unsafe {
            ShaderModule::new(
                self.device.clone(),
                ShaderModuleCreateInfo::new(&translation.words),
            )
        }
        .map_err(|e| ParError::unsupported(format!("the driver rejected the shader: {e}")))?;
        let entry = module
            .entry_point(spirv::ENTRY_POINT)
            .ok_or_else(|| ParError::device_error("generated shader lacks its entry point"))?;
        let stage = PipelineShaderStageCreateInfo::new(entry);
        let layout_info = PipelineDescriptorSetLayoutCreateInfo::from_stages([&stage])
            .into_pipeline_layout_create_info(self.device.clone())
            .map_err(|e| ParError::device_error(format!("pipeline layout: {e:?}")))?;
        let layout = vk!(
            PipelineLayout::new(self.device.clone(), layout_info),
            "pipeline layout"
        )?;
        let pipeline = ComputePipeline::new(
            self.device.clone(),
            self.pipeline_cache.vk.clone(),
            ComputePipelineCreateInfo::stage_layout(stage, layout),
        )
        .map_err(|e| ParError::unsupported(format!("the driver cannot build the pipeline: {e}")))?;
        self.build_nanos.fetch_add(
            t.elapsed().as_nanos() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.pipeline_cache.save();
        let compiled = Arc::new(CompiledKernel {
            bytes: bytes.into(),
            pipeline,
            translation,
            cost: IterationCost::default(),
        });
        let mut cache = self
            .pipelines
            .lock()
            .map_err(|_| ParError::device_error("poisoned lock"))?;
        if cache.values().map(Vec::len).sum::<usize>() >= PIPELINE_CACHE_ENTRIES {
            cache.clear();
        }
        cache.entry(key).or_default().push(compiled.clone());
        Ok((compiled, false))
    }

    /// Runs a kernel: assemble the arena, dispatch, copy the buffers back.
    pub fn exec(&self, run: &Run<'_>) -> Result<RunOutcome, ExecError> {
        let t0 = Instant::now();
        self.check_declined(run)?;
        let variant = self.variant(run.num_iterations, run.fuel.is_some());
        let (kernel, cached) = self.compile(
            run.kernel_bytes,
            run.kernel_hash,
            run.buffers.len(),
            variant,
            &run.loaded,
        )?;
        let setup_time = if cached { Duration::ZERO } else { t0.elapsed() };
        let tr = &kernel.translation;
        let layout = run.layout;
        if layout.private_size != tr.region_size {
            return Err(ParError::invalid_kernel("layout and kernel disagree on R").into());
        }
        let total = layout.total_size;
        if total > self.max_storage_range || total >= 1 << 32 {
            return Err(ParError::unsupported(format!(
                "the kernel's memory ({total} bytes) exceeds this device's maxStorageBufferRange ({})",
                self.max_storage_range
            ))
            .into());
        }
        if run.num_iterations == 0 {
            return Ok(RunOutcome {
                setup_time,
                pipeline_cached: cached,
                gpu_time: Duration::ZERO,
            });
        }
        let mut state = self
            .arena
            .lock()
            .map_err(|_| ParError::device_error("poisoned lock"))?;
        // At least 16 bytes: a trapped load (up to a v128) reads address 0 (see the translator).
        let arena_len = total.max(16).div_ceil(4) * 4;
        let arena = self.arena_buffer(&mut state, arena_len)?;
        let holds = ArenaHolds {
            total,
            placements: layout
                .placements
                .iter()
                .map(|p| (run.buffers[p.first_occurrence].uid, p.offset, p.len))
                .collect(),
        };
        // The buffers are already in place when the last call had the same
        // placements (and `write` kept them current). Until this
        // call's buffers are copied back, the arena holds nothing reusable.
        let buffers_in_place = state.holds.take().is_some_and(|h| h == holds);

        let mut b = self.builder()?;
        // A fill rounded outward to words may cover the first bytes a
        // buffer copy or data segment writes after it.
        Self::zero_uncovered(&mut b, &arena, layout, arena_len)?;
        b.transfer_to_transfer()?;
        self.copy_data_segments(&mut b, &arena, tr)?;
        if !buffers_in_place {
            Self::copy_buffers_in(&mut b, &arena, run)?;
        }
        b.transfer_to_compute()?;
        let control = self.upload(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])?;
        let words = Self::param_words(run, total);
        let wg = variant.workgroup_size.max(1) as u64;
        let (max_dispatch, scratch) = self.scratch_for(
            &mut state.scratch,
            tr,
            tr.stack_storage,
            (
                run.num_iterations as u64,
                wg,
                self.max_groups[0] as u64 * wg,
            ),
        )?;
        let (code, iteration, mut gpu_time) = self.run_chunks(
            b,
            &kernel,
            (variant, max_dispatch),
            run,
            words,
            (&arena, &control, scratch.as_ref()),
        )?;
        if spirv::trap::is_device_limit(code) {
            return Err(self.decline(run, code, iteration)?.into());
        }
        let t1 = Instant::now();
        self.copy_back(&arena, run)?;
        gpu_time += t1.elapsed();
        state.holds = Some(holds);
        if code != 0 {
            return Err(ExecError::Trap {
                code,
                iteration,
                what: spirv::trap::describe(code),
            });
        }
        Ok(RunOutcome {
            setup_time,
            pipeline_cached: cached,
            gpu_time,
        })
    }

    /// Declined check: a kernel that an earlier call found this device
    /// cannot run (see [`Self::decline`]) is not tried again.
    fn check_declined(&self, run: &Run<'_>) -> ParResult<()> {
        self.check_declined_at(run.kernel_hash, run.block_size)
    }

    /// Declined check (see `check_declined`) for a kernel hash and block
    /// size: an `unsupported` error when an earlier call found that this
    /// device cannot run the kernel at this block size.
    pub fn check_declined_at(&self, kernel_hash: u64, block_size: u32) -> ParResult<()> {
        if let Some(&b) = self
            .declined
            .lock()
            .map_err(|_| ParError::device_error("poisoned lock"))?
            .get(&kernel_hash)
        {
            if block_size >= b {
                return Err(ParError::unsupported(if b == 0 {
                    "an earlier call of this kernel stored into its own region [0, R), which GPU invocations share".to_string()
                } else {
                    format!(
                        "an earlier call of this kernel with block size {b} was cut short by the driver (llvmpipe: 65535 loop iterations per invocation); not retried with block size {block_size}"
                    )
                }));
            }
        }
        Ok(())
    }

    /// Arena preparation: the device-local arena of at least `arena_len`
    /// bytes (the last one when large enough; a new one forgets what the
    /// old one held), sliced to `arena_len`.
    fn arena_buffer(&self, state: &mut ArenaState, arena_len: u64) -> ParResult<Subbuffer<[u8]>> {
        let arena = match state.buffer.as_ref() {
            Some(a) if a.size() >= arena_len => a.clone(),
            _ => {
                state.holds = None;
                let a = self.device_buffer(
                    arena_len,
                    BufferUsage::STORAGE_BUFFER
                        | BufferUsage::TRANSFER_SRC
                        | BufferUsage::TRANSFER_DST,
                )?;
                state.buffer = Some(a.clone());
                a
            }
        };
        Ok(arena.slice(0..arena_len))
    }

    /// Zeroes everything no buffer covers: `[0, R)`, the gaps, the tail.
    fn zero_uncovered(
        b: &mut Commands,
        arena: &Subbuffer<[u8]>,
        layout: &Layout,
        arena_len: u64,
    ) -> ParResult<()> {
        let mut covered: Vec<(u64, u64)> = layout
            .placements
            .iter()
            .filter(|p| p.len > 0)
            .map(|p| (p.offset, p.offset + p.len))
            .collect();
        covered.sort();
        let mut cursor = 0u64;
        let mut zero_ranges = Vec::new();
        for &(s, e) in &covered {
            if s > cursor {
                zero_ranges.push((cursor, s));
            }
            cursor = cursor.max(e);
        }
        if cursor < arena_len {
            zero_ranges.push((cursor, arena_len));
        }
        for (s, e) in zero_ranges {
            // Buffer offsets are 4096-aligned, R and the total 65536-aligned;
            // round inward/outward to words (the bytes in between belong to
            // a buffer copied afterwards).
            let s4 = s / 4 * 4;
            let e4 = e.div_ceil(4) * 4;
            if e4 > s4 {
                b.zero(&arena.clone().slice(s4..e4))?;
            }
        }
        Ok(())
    }

    /// The kernel's data segments into `[0, R)`.
    fn copy_data_segments(
        &self,
        b: &mut Commands,
        arena: &Subbuffer<[u8]>,
        tr: &Translation,
    ) -> ParResult<()> {
        if tr.data_segments.is_empty() {
            return Ok(());
        }
        let mut image = Vec::new();
        let mut regions = Vec::new();
        for seg in tr.data_segments.iter().filter(|s| !s.bytes.is_empty()) {
            regions.push((
                image.len() as u64,
                seg.offset as u64,
                seg.bytes.len() as u64,
            ));
            image.extend_from_slice(&seg.bytes);
        }
        if !regions.is_empty() {
            let staging = self.upload(&image)?;
            // Later segments overwrite earlier ones: one copy each, in
            // order, with a barrier before one that overlaps an earlier one.
            let mut written: Vec<(u64, u64)> = Vec::new();
            for (from, to, len) in regions {
                if written.iter().any(|&(s, e)| to < e && s < to + len) {
                    b.transfer_to_transfer()?;
                    written.clear();
                }
                b.copy((&staging, from), (arena, to), len, "copy data segment")?;
                written.push((to, to + len));
            }
        }
        Ok(())
    }

    /// The call's buffers into their places in the arena.
    fn copy_buffers_in(b: &mut Commands, arena: &Subbuffer<[u8]>, run: &Run<'_>) -> ParResult<()> {
        for p in run.layout.placements.iter().filter(|p| p.len > 0) {
            let src = &run.buffers[p.first_occurrence].storage;
            b.copy((src, 0), (arena, p.offset), p.len, "copy buffer in")?;
        }
        Ok(())
    }

    /// Parameter words (see [`spirv::param`]) but `ITERATION_BASE`, which
    /// each dispatch sets.
    fn param_words(run: &Run<'_>, total: u64) -> Vec<u32> {
        let layout = run.layout;
        let fuel = run
            .fuel
            .map(|f| f.min(u32::MAX as u64) as u32)
            .unwrap_or(u32::MAX);
        let mut words = vec![0u32; param::words(run.buffers.len())];
        words[param::NUM_ITERATIONS] = run.num_iterations;
        words[param::BLOCK_SIZE] = run.block_size;
        words[param::MEMORY_SIZE] = total as u32;
        words[param::FUEL] = fuel;
        for (k, &pi) in layout.occurrence.iter().enumerate() {
            let p = &layout.placements[pi];
            words[param::PAIRS + 2 * k] = p.offset as u32;
            words[param::PAIRS + 2 * k + 1] = p.len as u32;
        }
        words
    }

    /// Control read-back: the trap code (0: none) and the smallest
    /// trapping iteration.
    fn read_control(control: &Subbuffer<[u8]>) -> ParResult<(u32, u32)> {
        let ctl = vk!(control.read(), "read control")?;
        Ok((
            u32::from_le_bytes([ctl[0], ctl[1], ctl[2], ctl[3]]),
            u32::from_le_bytes([ctl[4], ctl[5], ctl[6], ctl[7]]),
        ))
    }

    /// After a driver cut, a store into `[0, R)` or a stack beyond the
    /// private window ([`spirv::trap::is_device_limit`]): not the kernel's fault
    /// but this device's limit, and the buffers were not touched yet, so the
    /// call can run elsewhere. Remembers the kernel as declined (at this
    /// block size, or at any for the others) and returns the
    /// `unsupported` error.
    fn decline(&self, run: &Run<'_>, code: u32, iteration: u32) -> ParResult<ParError> {
        let at = if code == spirv::trap::DRIVER_LOOP_LIMIT {
            run.block_size
        } else {
            0
        };
        let mut declined = self
            .declined
            .lock()
            .map_err(|_| ParError::device_error("poisoned lock"))?;
        if declined.len() >= PIPELINE_CACHE_ENTRIES {
            declined.clear();
        }
        let e = declined.entry(run.kernel_hash).or_insert(at);
        *e = (*e).min(at);
        Ok(ParError::unsupported(format!(
            "iteration {iteration}: {}",
            spirv::trap::describe(code)
        )))
    }

    /// Copy back: the buffers from the arena to their storage (also after a
    /// trap: their contents are unspecified then, as on the other devices),
    /// except `read` ones: a kernel's writes to those are unspecified (ABI
    /// section 1), so their storage stays as it was.
    fn copy_back(&self, arena: &Subbuffer<[u8]>, run: &Run<'_>) -> ParResult<()> {
        let mut b = self.builder()?;
        let mut copies = 0;
        for p in run.layout.placements.iter().filter(|p| {
            p.len > 0
                && !run
                    .read_only
                    .get(p.first_occurrence)
                    .copied()
                    .unwrap_or(false)
        }) {
            let dst = &run.buffers[p.first_occurrence].storage;
            b.copy((arena, p.offset), (dst, 0), p.len, "copy buffer out")?;
            copies += 1;
        }
        if copies > 0 {
            self.submit(b)?;
        }
        Ok(())
    }
}
