//! The interpreter kernel engine: one wasmi `Store` + `Instance` of the
//! kernel per worker, over a window whose bytes wasmi uses as a static
//! memory (see [`crate::parallel::device::shm::build_window`] for why the
//! window is covered by scratch pages while wasmi zero-fills it). A range
//! of iterations runs as batches of the generated range loop
//! ([`super::batches`]) when the kernel has it and no per-iteration fuel
//! budget is set: one wasmi call per batch, not one per iteration (each
//! call takes a stack from the engine's pool under a lock that all
//! workers share).

use super::batches::{self, BatchEnd, RangeLoop};
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
    /// The generated range loop and its block size 1 copy, when the
    /// kernel's module has them ([`super::runner`]).
    range_loop: Option<(Func, Option<Func>)>,
    /// The range loop's params: first, end, then the kernel's after the
    /// iteration.
    loop_params: Vec<Val>,
    /// Iterations of the next batch.
    batch: u32,
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
        let loop_params: Vec<Val> = [Val::I32(0)].into_iter().chain(params.clone()).collect();
        let range_loop = batches::find_loops(|name| {
            instance
                .get_func(&store, name)
                .filter(|f| f.ty(&store).params().len() == loop_params.len())
        });
        Ok(InterpWorker {
            store,
            func,
            params,
            range_loop,
            loop_params,
            batch: 1,
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
        match self.range_loop {
            // Fuel is a budget per iteration: only the per-iteration path
            // resets it before each one.
            Some(_) if call.fuel.is_none() => batches::run_batches(self, call, range, stop),
            _ => self.run_iterations(call, range, stop),
        }
    }
}

impl RangeLoop for InterpWorker {
    fn call_loop(&mut self, call: &CallArgs<'_>, range: Range<u32>) -> BatchEnd {
        let Some(loops) = self.range_loop else {
            unreachable!("run_batches is only called with a range loop");
        };
        let run = batches::pick(loops, call.block_size);
        self.loop_params[0] = Val::I32(range.start as i32);
        self.loop_params[1] = Val::I32(range.end as i32);
        self.loop_params[2] = Val::I32(call.num_iterations as i32);
        self.loop_params[3] = Val::I32(call.block_size as i32);
        // In fuel slices where the engine meters (an interruptible call),
        // polling `cancel` between them; unlimited budget.
        let mut left = u64::MAX;
        match call_in_slices(
            &mut self.store,
            run,
            &self.loop_params,
            &mut [],
            &mut left,
            |_| call.cancel.check().err(),
        ) {
            Ok(()) => BatchEnd::Done,
            Err(SlicedError::Stopped(s)) => BatchEnd::Stopped(s),
            Err(SlicedError::Wasm(e)) => BatchEnd::Trapped(e.to_string()),
        }
    }

    fn batch(&mut self) -> &mut u32 {
        &mut self.batch
    }

    fn run_iterations(
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

#[cfg(test)]
mod tests {
    //! The interpreter's range-loop path: same results as one call per
    //! iteration, traps named by their iteration.
    use super::*;
    use crate::parallel::cancel::Cancel;
    use crate::parallel::kernel::{BoundsChecks, KernelCompilers, KernelEngine};

    fn kernel(wat: &str) -> Kernel {
        let c = KernelCompilers::new(
            KernelEngine::Interpreter,
            false,
            false,
            BoundsChecks::Explicit,
        )
        .unwrap();
        Kernel::compile(&c, &wat::parse_str(wat).unwrap(), 1).unwrap()
    }

    fn call(n: u32, block: u32, fuel: Option<u64>) -> CallArgs<'static> {
        CallArgs {
            num_iterations: n,
            block_size: block,
            fuel,
            cancel: Box::leak(Box::new(Cancel::never())),
        }
    }

    fn words(fd: &Memfd, n: usize) -> Vec<u32> {
        let mut b = vec![0u8; 4 * n];
        fd.read_at(&mut b, 0).unwrap();
        b.chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// buf[i] = i * 1000 + block size; iteration 37 traps when `n` is 100.
    const K: &str = r#"(module (memory (import "" "memory") 1)
      (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
        (i32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))
                   (i32.add (i32.mul (local.get $i) (i32.const 1000)) (local.get $b)))
        (if (i32.and (i32.eq (local.get $n) (i32.const 100)) (i32.eq (local.get $i) (i32.const 37)))
          (then (unreachable)))))"#;

    #[test]
    fn batches_compute_what_single_iterations_do_and_name_a_trap() {
        let k = kernel(K);
        let layout = Layout::compute(65536, &[(0, 400)]).unwrap();
        let stop = AtomicBool::new(false);
        for block in [1, 3] {
            for fuel in [None, Some(1_000_000)] {
                let buf = Memfd::new(400).unwrap();
                let mut w = InterpWorker::build(&k, &layout, &[&buf], fuel).unwrap();
                assert!(w.range_loop.is_some_and(|(_, bs1)| bs1.is_some()));
                w.batch = 64;
                w.run_range(&call(99, block, fuel), 0..99, &stop)
                    .ok()
                    .expect("runs");
                let want: Vec<u32> = (0..99).map(|i| i * 1000 + block).collect();
                assert_eq!(words(&buf, 99), want, "block {block}, fuel {fuel:?}");
                let e = match w.run_range(&call(100, block, fuel), 0..100, &stop) {
                    Err(RunError::Trap(m)) => m,
                    _ => panic!("iteration 37 traps"),
                };
                assert!(e.starts_with("iteration 37 trapped"), "{e}");
            }
        }
    }
}
