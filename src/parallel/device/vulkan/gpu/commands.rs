//! Command buffers with explicit synchronisation (a child of `gpu.rs`).
//!
//! vulkano's `AutoCommandBufferBuilder` puts a barrier over
//! `ALL_COMMANDS` with every memory access before the first use of each
//! buffer in a command buffer (it cannot know what ran before): on a real
//! GPU that drains the whole pipeline at every copy and dispatch, and the
//! validation layer's best-practices check warns about each one. A call's
//! command buffers are simple enough to synchronise by hand, so they are
//! recorded raw ([`Commands`]) with exactly the dependencies they need:
//!
//! - between submissions, none: every submission is waited for on a fence
//!   before the host reads its results or records the next one (a fence
//!   signal makes the device's writes available, a queue submission makes
//!   host-visible memory visible to the device);
//! - transfer writes (fills, copies) before a dispatch that reads or writes
//!   the same arena: [`Commands::transfer_to_compute`];
//! - overlapping transfer writes (a word-rounded fill or a later data
//!   segment over an earlier one): [`Commands::transfer_to_transfer`];
//! - the dispatch's writes to the control words, and a copy into a staging
//!   buffer, before the host reads them after the fence:
//!   [`Commands::compute_to_host`], [`Commands::transfer_to_host`].
//!
//! The validation layer with synchronization validation checks these in CI
//! (`scripts/vk-validate.sh`).

use super::{dev_err, ParError, ParResult};
use std::sync::Arc;
use vulkano::buffer::Subbuffer;
use vulkano::command_buffer::allocator::StandardCommandBufferAllocator;
use vulkano::command_buffer::{
    BufferCopy, CommandBufferBeginInfo, CommandBufferLevel, CommandBufferUsage, CopyBufferInfo,
    RecordingCommandBuffer,
};
use vulkano::descriptor_set::DescriptorSet;
use vulkano::device::{DeviceOwned, Queue};
use vulkano::pipeline::{ComputePipeline, Pipeline, PipelineBindPoint};
use vulkano::sync::fence::{Fence, FenceCreateInfo};
use vulkano::sync::{AccessFlags, DependencyInfo, MemoryBarrier, PipelineStages};
use vulkano::VulkanObject;

/// A primary command buffer being recorded, with every object its commands
/// use (kept alive until the submission finished).
pub(in crate::parallel::device::vulkan) struct Commands {
    cb: RecordingCommandBuffer,
    buffers: Vec<Subbuffer<[u8]>>,
    pipelines: Vec<Arc<ComputePipeline>>,
    sets: Vec<Arc<DescriptorSet>>,
}

fn rec_err(what: &'static str) -> impl Fn(Box<vulkano::ValidationError>) -> ParError {
    move |e| ParError::device_error(format!("Vulkan: {what}: {e}"))
}

impl Commands {
    /// Begins a one-time-submit primary command buffer.
    pub(super) fn new(
        allocator: &Arc<StandardCommandBufferAllocator>,
        queue_family_index: u32,
    ) -> ParResult<Self> {
        let cb = RecordingCommandBuffer::new(
            allocator.clone(),
            queue_family_index,
            CommandBufferLevel::Primary,
            CommandBufferBeginInfo {
                usage: CommandBufferUsage::OneTimeSubmit,
                ..Default::default()
            },
        )
        .map_err(|e| dev_err("command buffer")(&e))?;
        Ok(Commands {
            cb,
            buffers: Vec::new(),
            pipelines: Vec::new(),
            sets: Vec::new(),
        })
    }

    /// Fills `dst` (a whole number of words) with zeros.
    pub(super) fn zero(&mut self, dst: &Subbuffer<[u8]>) -> ParResult<()> {
        let words = dst.clone().reinterpret::<[u32]>();
        // SAFETY: vulkano validates the range and usage; the buffer is kept
        // alive (`self.buffers`) until the submission finished, and every
        // hazard with other commands of this buffer is ordered by the
        // barriers the callers record (see the module documentation).
        unsafe { self.cb.fill_buffer(&words, 0) }.map_err(rec_err("fill"))?;
        self.buffers.push(dst.clone());
        Ok(())
    }

    /// Copies `size` bytes from `src` at `src_offset` to `dst` at `dst_offset`.
    pub(super) fn copy(
        &mut self,
        (src, src_offset): (&Subbuffer<[u8]>, u64),
        (dst, dst_offset): (&Subbuffer<[u8]>, u64),
        size: u64,
        what: &'static str,
    ) -> ParResult<()> {
        let info = CopyBufferInfo {
            regions: [BufferCopy {
                src_offset,
                dst_offset,
                size,
                ..Default::default()
            }]
            .into_iter()
            .collect(),
            ..CopyBufferInfo::buffers(src.clone(), dst.clone())
        };
        // SAFETY: as in `zero`: validated by vulkano, both buffers kept
        // alive, hazards ordered by the callers' barriers.
        unsafe { self.cb.copy_buffer(&info) }.map_err(rec_err(what))?;
        self.buffers.push(src.clone());
        self.buffers.push(dst.clone());
        Ok(())
    }

    /// Binds `pipeline` and its descriptor set 0.
    pub(super) fn bind(
        &mut self,
        pipeline: &Arc<ComputePipeline>,
        set: Arc<DescriptorSet>,
    ) -> ParResult<()> {
        // SAFETY: vulkano validates both bindings against the pipeline's
        // layout; the pipeline and the set (which holds its buffers) are
        // kept alive until the submission finished.
        unsafe {
            self.cb
                .bind_pipeline_compute(pipeline)
                .map_err(rec_err("bind pipeline"))?
                .bind_descriptor_sets(
                    PipelineBindPoint::Compute,
                    pipeline.layout(),
                    0,
                    &[set.as_raw()],
                    &[],
                )
                .map_err(rec_err("bind descriptor set"))?;
        }
        self.pipelines.push(pipeline.clone());
        self.sets.push(set);
        Ok(())
    }

    /// Dispatches `groups` workgroups of the bound pipeline.
    ///
    /// # Safety
    ///
    /// The bound shader must be safe to run with the bound descriptor set
    /// (what the caller's own SAFETY comment states).
    pub(super) unsafe fn dispatch(&mut self, groups: u32) -> ParResult<()> {
        // SAFETY: the caller's contract; vulkano validates the group count.
        unsafe { self.cb.dispatch([groups, 1, 1]) }.map_err(rec_err("dispatch"))?;
        Ok(())
    }

    fn barrier(
        &mut self,
        (src_stages, src_access): (PipelineStages, AccessFlags),
        (dst_stages, dst_access): (PipelineStages, AccessFlags),
    ) -> ParResult<()> {
        let info = DependencyInfo {
            memory_barriers: [MemoryBarrier {
                src_stages,
                src_access,
                dst_stages,
                dst_access,
                ..Default::default()
            }]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        // SAFETY: a global memory barrier only orders commands; vulkano
        // validates the stages and accesses (Vulkan 1.0 flags only).
        unsafe { self.cb.pipeline_barrier(&info) }.map_err(rec_err("barrier"))?;
        Ok(())
    }

    /// Fills and copies recorded so far, before a dispatch that reads and
    /// writes what they wrote.
    pub(super) fn transfer_to_compute(&mut self) -> ParResult<()> {
        self.barrier(
            (PipelineStages::ALL_TRANSFER, AccessFlags::TRANSFER_WRITE),
            (
                PipelineStages::COMPUTE_SHADER,
                AccessFlags::SHADER_READ | AccessFlags::SHADER_WRITE,
            ),
        )
    }

    /// Fills and copies recorded so far, before copies that write over
    /// (part of) what they wrote.
    pub(super) fn transfer_to_transfer(&mut self) -> ParResult<()> {
        self.barrier(
            (PipelineStages::ALL_TRANSFER, AccessFlags::TRANSFER_WRITE),
            (
                PipelineStages::ALL_TRANSFER,
                AccessFlags::TRANSFER_READ | AccessFlags::TRANSFER_WRITE,
            ),
        )
    }

    /// Dispatches recorded so far, before the host reads what they wrote.
    pub(super) fn compute_to_host(&mut self) -> ParResult<()> {
        self.barrier(
            (PipelineStages::COMPUTE_SHADER, AccessFlags::SHADER_WRITE),
            (PipelineStages::HOST, AccessFlags::HOST_READ),
        )
    }

    /// Copies recorded so far, before the host reads what they wrote.
    pub(super) fn transfer_to_host(&mut self) -> ParResult<()> {
        self.barrier(
            (PipelineStages::ALL_TRANSFER, AccessFlags::TRANSFER_WRITE),
            (PipelineStages::HOST, AccessFlags::HOST_READ),
        )
    }

    /// Ends the command buffer, submits it to `queue` and waits for it.
    pub(super) fn submit(self, queue: &Arc<Queue>) -> ParResult<()> {
        let Commands {
            cb,
            buffers,
            pipelines,
            sets,
        } = self;
        // SAFETY: every command was recorded through vulkano's validated
        // calls above; ending a command buffer in the recording state.
        let cb = unsafe { cb.end() }.map_err(|e| dev_err("end command buffer")(&e))?;
        let device = cb.device().clone();
        let fence = Fence::new(device.clone(), FenceCreateInfo::default())
            .map_err(|e| dev_err("fence")(&e))?;
        let handles = [cb.handle()];
        let submit = ash::vk::SubmitInfo::default().command_buffers(&handles);
        // SAFETY: the queue is externally synchronised by holding vulkano's
        // queue guard; the command buffer is one-time-submit, executable
        // (ended above) and never submitted before; it, the fence and every
        // object its commands use (`buffers`, `pipelines`, `sets`) stay
        // alive until the fence is signalled (waited for below; on a
        // failed wait they are leaked, since the device may still use
        // them); the fence is new and unsignalled.
        let submitted = queue.with(|_guard| unsafe {
            (device.fns().v1_0.queue_submit)(queue.handle(), 1, &submit, fence.handle()).result()
        });
        if let Err(e) = submitted {
            return Err(ParError::device_error(format!("Vulkan: submit: {e}")));
        }
        match fence.wait(None) {
            Ok(()) => {
                drop((buffers, pipelines, sets, cb));
                Ok(())
            }
            Err(e) => {
                std::mem::forget((buffers, pipelines, sets, cb, fence));
                Err(dev_err("wait")(&e))
            }
        }
    }
}
