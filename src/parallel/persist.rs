//! What the files the runtime keeps across runs (the Vulkan pipeline cache,
//! the placement history) share: a file is replaced whole or not at all,
//! and a problem with one is a warning on stderr, never an error of the
//! guest's call.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` (its directory made if missing) through a
/// temporary file in the same directory renamed over it, so a reader never
/// sees half a file. Each write has its own temporary file: engines of one
/// process, or a device's builder thread and a call, may write the same
/// file at once (with one name per process, one writer's rename took the
/// other's file away).
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!("{name}.{}.{n}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// A warning on stderr; a stderr that cannot be written is ignored
/// (`eprintln!` would panic, in a library called from C).
pub(crate) fn warn(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "wasi-parallel: warning: {msg}");
}
