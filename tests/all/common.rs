//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// True when running under CI: tools the tests need must then be present.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Returns `None` (after printing why) when `tool` is missing outside CI;
/// panics when it is missing in CI, so CI can never silently skip.
pub fn require_tool(tool: &str) -> Option<()> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        Some(())
    } else if in_ci() {
        panic!("{tool} is required in CI (run scripts/setup.sh)");
    } else {
        eprintln!("note: {tool} not found, skipping this test (run scripts/setup.sh)");
        None
    }
}

/// A scratch directory under the target dir, fresh for `name`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles a C guest with `clang --target=wasm32-wasi -O2`.
pub fn build_wasi_guest(src: &Path, out: &Path) -> Option<()> {
    require_tool("clang")?;
    let st = Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2", "-o"])
        .arg(out)
        .arg(src)
        .status()
        .expect("run clang");
    assert!(st.success(), "clang failed for {}", src.display());
    Some(())
}

pub fn guest_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guests")
        .join(name)
}

pub fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasi-parallel"))
}

/// The example guests and kernels of `c-examples/guests`, built with clang
/// once per test process (`c-examples/guests/build.sh`) into a scratch
/// directory. `None` (after a note) when a tool is missing outside CI;
/// under CI a missing tool fails the test. `WP_EXAMPLES_DIR` names a folder
/// where they were built already (`scripts/gpu-check.sh` carries them to a
/// machine without clang).
pub fn example_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("WP_EXAMPLES_DIR") {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("mandelbrot_kernel.wasm").is_file(),
                "WP_EXAMPLES_DIR={} holds no built examples",
                dir.display()
            );
            return Some(dir);
        }
        require_tool("clang")?;
        require_tool("wasm-objdump")?;
        let out = scratch("examples");
        let st = Command::new("sh")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("c-examples/guests/build.sh"))
            .arg(&out)
            .env("WASI_PARALLEL", env!("CARGO_BIN_EXE_wasi-parallel"))
            .status()
            .unwrap();
        assert!(st.success(), "c-examples/guests/build.sh failed");
        Some(out)
    })
    .as_deref()
}

/// The examples built with `SIMD=1` (`-O3 -msimd128`, see `example_dir`);
/// `WP_EXAMPLES_SIMD_DIR` names a folder where they were built already.
pub fn simd_example_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("WP_EXAMPLES_SIMD_DIR") {
            return Some(PathBuf::from(dir));
        }
        require_tool("clang")?;
        require_tool("wasm-objdump")?;
        let out = scratch("examples-simd");
        let st = Command::new("sh")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("c-examples/guests/build.sh"))
            .arg(&out)
            .env("WASI_PARALLEL", env!("CARGO_BIN_EXE_wasi-parallel"))
            .env("SIMD", "1")
            .status()
            .unwrap();
        assert!(st.success(), "SIMD=1 c-examples/guests/build.sh failed");
        Some(out)
    })
    .as_deref()
}

/// `bytes` as the contents of a WAT string (`\xx` escapes), for a data
/// segment that holds a kernel.
pub fn data_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}
