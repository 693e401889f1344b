//! The interpreter core: engine, modules, instances, host natives and WASI.

pub mod engine;
pub mod instance;
pub mod interrupt;
pub mod memory_alias;
pub mod module;
pub mod natives;
pub mod types;
pub mod wasi;

pub use engine::{Config, Engine};
pub use instance::{Instance, InstanceConfig};
pub use interrupt::InterruptHandle;
pub use module::Module;
pub use natives::{NativeCallback, NativeCaller, Natives};
pub use wasi::{Stdio, WasiConfig};
