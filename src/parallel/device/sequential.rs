//! The SEQUENTIAL device: iterations one after another on the calling thread.
//!
//! It is the CPU device's machinery with a single worker that runs on the
//! caller's thread (same buffers, same memory layout, same trap and fuel
//! semantics), so the two can be compared byte for byte.

use super::cpu::CpuDevice;

/// Creates the SEQUENTIAL device with index `index` in the runtime.
pub fn new_sequential_device(index: usize) -> CpuDevice {
    CpuDevice::sequential(index)
}
