//! Dispatching a call in chunks and recording one dispatch (a child of
//! `gpu.rs`, which it shares the device's private state with).

use super::{Bindings, Commands, CompiledKernel, ExecError, Gpu, Run, Variant};
use crate::parallel::device::vulkan::chunks::ChunkSizer;
use crate::parallel::errno::{ParError, ParResult};
use crate::spirv::{self, param};
use std::time::{Duration, Instant};
use vulkano::buffer::{BufferUsage, Subbuffer};
use vulkano::descriptor_set::{DescriptorSet, WriteDescriptorSet};
use vulkano::pipeline::Pipeline;

impl Gpu {
    /// Dispatch in chunks: one dispatch of a [`ChunkSizer`] chunk per
    /// submission (the first one after the arena set-up `first` recorded;
    /// a call the kernel's last call says is short in one, see
    /// [`ChunkSizer::for_call`]),
    /// each with its own parameter words, so that an interrupt or a
    /// deadline (`run.cancel`) is seen between two chunks. A chunk is a
    /// multiple of the workgroup size (except the last, whose excess
    /// invocations the shader skips) and at most `max_dispatch`
    /// invocations (`max_groups[0]` groups, fewer for a scratch stack, see
    /// `scratch.rs`), so dispatches never overlap. Stops after a chunk that trapped. Returns
    /// the control words (trap code, iteration) and the time the
    /// submissions took; a stop is `kernel_trap` with nothing copied back.
    pub(super) fn run_chunks(
        &self,
        first: Commands,
        kernel: &CompiledKernel,
        (variant, max_dispatch): (Variant, u64),
        run: &Run<'_>,
        mut words: Vec<u32>,
        bufs: Bindings<'_>,
    ) -> Result<(u32, u32, Duration), ExecError> {
        let wg = variant.workgroup_size.max(1) as u64;
        let n = run.num_iterations as u64;
        let control = bufs.1;
        // A call the kernel's last call says is short is one submission
        // (see `ChunkSizer::for_call`).
        let mut sizer = ChunkSizer::for_call(
            wg,
            max_dispatch,
            n,
            kernel.cost.get(),
            run.cancel.deadline().is_some(),
        );
        let mut first = Some(first);
        let mut gpu_time = Duration::ZERO;
        let mut chunks = Vec::new();
        let mut base = 0u64;
        loop {
            let len = sizer.len.min(n - base);
            let mut b = match first.take() {
                Some(b) => b,
                None => self.builder()?,
            };
            words[param::ITERATION_BASE] = base as u32;
            self.record_dispatch(&mut b, kernel, len.div_ceil(wg), &words, bufs)?;
            // The host reads the control words after the fence.
            b.compute_to_host()?;
            base += len;
            let t = Instant::now();
            self.submit(b)?;
            let took = t.elapsed();
            gpu_time += took;
            chunks.push((len, took));
            let (code, iteration) = Self::read_control(control)?;
            if code != 0 || base >= n {
                if code == 0 {
                    kernel.cost.record(&chunks);
                }
                return Ok((code, iteration, gpu_time));
            }
            if let Err(stop) = run.cancel.check() {
                // The buffers' own storage is untouched (nothing was copied
                // back) and the arena holds nothing reusable.
                return Err(ParError::kernel_trap(format!(
                    "stopped after {base} of {n} iterations: {}",
                    stop.describe()
                ))
                .into());
            }
            sizer.next(took);
        }
    }

    /// One dispatch of one workgroup in which every invocation returns at
    /// once (the parameter words say 0 iterations), for a pipeline built in
    /// the background: llvmpipe compiles a compute shader when it is first
    /// dispatched, not when the pipeline is created, so without this the
    /// first call placed on the device would wait for that compile (tens
    /// of ms to seconds). On other drivers it costs one tiny submission.
    /// Touches no arena or buffer of a call (its own small buffers only).
    pub(crate) fn warm_up(&self, kernel: &CompiledKernel, num_buffers: usize) -> ParResult<()> {
        let t = Instant::now();
        let usage = BufferUsage::STORAGE_BUFFER;
        let arena = self.device_buffer(16, usage)?;
        let scratch = self.device_buffer(16, usage)?;
        let control = self.upload(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])?;
        // NUM_ITERATIONS and ITERATION_BASE 0: every invocation is past
        // the end and returns before it reads anything else.
        let words = vec![0u32; param::words(num_buffers)];
        let mut b = self.builder()?;
        self.record_dispatch(
            &mut b,
            kernel,
            1,
            &words,
            (&arena, &control, Some(&scratch)),
        )?;
        b.compute_to_host()?;
        self.submit(b)?;
        self.count_warm_up(t.elapsed());
        Ok(())
    }

    /// Records one dispatch of `groups` workgroups (at most
    /// `max_groups[0]`) with the parameter `words` (a host-written buffer
    /// that `b` keeps until the commands ran).
    fn record_dispatch(
        &self,
        b: &mut Commands,
        kernel: &CompiledKernel,
        groups: u64,
        words: &[u32],
        (arena, control, scratch): Bindings<'_>,
    ) -> ParResult<()> {
        let pipeline = &kernel.pipeline;
        let set_layout = pipeline.layout().set_layouts()[0].clone();
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let params = self.upload(&bytes)?;
        // Unused bindings were compacted out of the shader: bind only
        // what its layout declares.
        let has = |b| set_layout.bindings().contains_key(&b);
        if has(spirv::BINDING_SCRATCH) && scratch.is_none() {
            return Err(ParError::device_error(
                "internal: the shader keeps its stack in a scratch buffer but none was made",
            ));
        }
        let writes = [
            (spirv::BINDING_ARENA, Some(arena)),
            (spirv::BINDING_ARENA_ATOMIC, Some(arena)),
            (spirv::BINDING_PARAMS, Some(&params as &Subbuffer<[u8]>)),
            (spirv::BINDING_CONTROL, Some(control)),
            (spirv::BINDING_SCRATCH, scratch),
        ]
        .into_iter()
        .filter_map(|(binding, buf)| Some((binding, buf?)))
        .filter(|&(binding, _)| has(binding))
        .map(|(binding, buf)| WriteDescriptorSet::buffer(binding, buf.clone()));
        let set = DescriptorSet::new(self.descriptor_sets.clone(), set_layout.clone(), writes, [])
            .map_err(|e| ParError::device_error(format!("Vulkan: descriptor set: {e:?}")))?;
        b.bind(pipeline, set)?;
        // SAFETY: the shader only indexes the arena after checking the
        // address against param MEMORY_SIZE (= the arena's bound size),
        // the params words it reads exist (their number follows from the
        // kernel's buffer count), and the control buffer has its 2 words.
        // A non-terminating loop is memory-safe too: it ends with the
        // fuel budget (calls with a kernel fuel limit), else llvmpipe's
        // loop limiter or a real driver's timeout (device lost, which
        // vulkano reports as an error, not undefined behaviour).
        unsafe { b.dispatch(groups as u32) }
    }
}
