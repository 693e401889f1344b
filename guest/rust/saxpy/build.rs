// Builds the kernel crate (../saxpy-kernel) for wasm32-unknown-unknown with
// the same cargo, in release, and leaves its bytes in
// $OUT_DIR/saxpy_kernel.wasm for `include_bytes!`.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let kernel = manifest.join("../saxpy-kernel");
    let target_dir = out.join("kernel-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "--manifest-path",
        ])
        .arg(kernel.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags are for wasm32-wasip1, not for the kernel.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cannot run cargo to build the kernel");
    assert!(
        status.success(),
        "building the kernel failed (is the target installed? rustup target add wasm32-unknown-unknown)"
    );
    std::fs::copy(
        target_dir.join("wasm32-unknown-unknown/release/saxpy_kernel.wasm"),
        out.join("saxpy_kernel.wasm"),
    )
    .expect("the kernel's .wasm is missing");
    for p in [
        "../saxpy-kernel/src",
        "../saxpy-kernel/build.rs",
        "../saxpy-kernel/Cargo.toml",
        "../wasi-parallel-guest/src",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
}
