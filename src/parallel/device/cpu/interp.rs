//! The interpreter kernel engine: one wasmi `Store` + `Instance` of the
//! kernel per worker, over a window whose bytes wasmi uses as a static
//! memory (see [`crate::parallel::device::shm::build_window`] for why the
//! window is covered by scratch pages while wasmi zero-fills it).

use super::{CallArgs, KernelWorker, RunError};
use crate::parallel::cancel::{call_in_slices, SlicedError};
use crate::parallel::device::shm::{build_window, Memfd, Window};
use crate::parallel::errno::{ParError, ParResult};
use crate::parallel::kernel::layout::Layout;
use crate::parallel::kernel::Kernel;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use wasmi::{Func, Instance, Memory, MemoryType, Store, Val};

/// One worker: a store and instance of the kernel over its own window.
/// Field order matters: the store (which holds the `&'static mut` slice of the
/// window) is dropped before the window is unmapped.
pub(super) struct InterpWorker {
    store: Store<()>,
    func: Func,
    params: Vec<Val>,
    _window: Option<Window>,
}

// The worker is built and used on whichever pool thread picks it up.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<InterpWorker>();
};

impl InterpWorker {
    pub(super) fn build(
        kernel: &Kernel,
        layout: &Layout,
        memfds: &[&Memfd],
        fuel: Option<u64>,
    ) -> ParResult<InterpWorker> {
        let engine = kernel.module.engine().clone();
        let pages = layout.total_pages() as u32;
        let (window, (mut store, memory)) = build_window(layout, memfds, |bytes| {
            let mut store = Store::new(&engine, ());
            let ty = MemoryType::new(pages, Some(pages));
            let memory = match bytes {
                Some(b) => Memory::new_static(&mut store, ty, b),
                None => Memory::new(&mut store, ty),
            }
            .map_err(|e| ParError::device_error(format!("cannot create kernel memory: {e}")))?;
            Ok((store, memory))
        })?;
        // Instantiation (data segments, a start function) gets one
        // iteration's budget, or an unlimited one without a budget; each
        // iteration sets its own. (Without fuel metering this is an error
        // we ignore.)
        let _ = store.set_fuel(fuel.unwrap_or(u64::MAX));
        let instance = Instance::new(&mut store, &kernel.module, &[memory.into()])
            .map_err(|e| ParError::kernel_trap(format!("kernel instantiation failed: {e}")))?;
        let func = instance
            .get_func(&store, "kernel")
            .ok_or_else(|| ParError::invalid_kernel("kernel exports no function `kernel`"))?;
        let mut params = vec![Val::I32(0); 3];
        for (ptr, len) in layout.params() {
            params.push(Val::I32(ptr as i32));
            params.push(Val::I32(len as i32));
        }
        Ok(InterpWorker {
            store,
            func,
            params,
            _window: window,
        })
    }
}

impl KernelWorker for InterpWorker {
    fn run_range(
        &mut self,
        call: &CallArgs<'_>,
        range: Range<u32>,
        stop: &AtomicBool,
    ) -> Result<(), RunError> {
        self.params[1] = Val::I32(call.num_iterations as i32);
        self.params[2] = Val::I32(call.block_size as i32);
        let first = range.start;
        for iteration in range {
            call.cancel
                .check_between(iteration, iteration == first)
                .map_err(|s| RunError::Stopped(s, iteration))?;
            self.params[0] = Val::I32(iteration as i32);
            // In fuel slices, polling `cancel` between them (an engine
            // without metering runs the call in one piece).
            let mut left = call.fuel.unwrap_or(u64::MAX);
            call_in_slices(
                &mut self.store,
                self.func,
                &self.params,
                &mut [],
                &mut left,
                |_| call.cancel.check().err(),
            )
            .map_err(|e| match e {
                SlicedError::Stopped(s) => RunError::Stopped(s, iteration),
                SlicedError::Wasm(e) if e.as_trap_code() == Some(wasmi::TrapCode::OutOfFuel) => {
                    RunError::Trap(super::out_of_fuel(iteration, call.fuel))
                }
                SlicedError::Wasm(e) => {
                    RunError::Trap(format!("iteration {iteration} trapped: {e}"))
                }
            })?;
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        Ok(())
    }
}
