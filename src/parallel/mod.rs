//! TEMPORARY STUB until the `par` branch lands.
pub mod api;
use std::sync::Arc;
#[derive(Debug, Clone, Default)]
pub struct ParallelConfig {}
pub struct ParallelRuntime {}
impl ParallelRuntime {
    pub fn new(_c: ParallelConfig) -> Result<Self, String> {
        Ok(Self {})
    }
}
pub struct ParallelContext {}
impl ParallelContext {
    pub fn new(_r: Arc<ParallelRuntime>) -> Self {
        Self {}
    }
}
pub fn apply_cli_options(
    _c: &mut ParallelConfig,
    _device: &str,
    _threads: Option<usize>,
    _kf: Option<u64>,
    _fb: bool,
) {
}
impl ParallelContext {
    pub fn stats_report(&self) -> String {
        String::new()
    }
}
impl ParallelRuntime {
    pub fn devices(&self) -> Vec<String> {
        vec![]
    }
}
