//! The example guests (C guests offloading C kernels) built with clang and
//! run through the CLI on every device: each guest checks its own result
//! against a plain C computation, and every device must leave the same
//! checksum.

use crate::common::*;
use std::path::PathBuf;

fn checksum_of(stdout: &str) -> String {
    let at = stdout
        .find("checksum=")
        .unwrap_or_else(|| panic!("no checksum in {stdout}"));
    stdout[at..].split_whitespace().next().unwrap().to_string()
}

fn run(guest: &PathBuf, device_opts: &[&str], args: &[&str]) -> String {
    let out = cli()
        .arg("run")
        .arg("--stats")
        .arg("--dir")
        .arg(format!("{}::/out", guest.parent().unwrap().display()))
        .args(device_opts)
        .arg(guest)
        .args(args)
        .output()
        .unwrap();
    let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // The statistics (device, fallbacks) come on stderr.
    stdout.push_str(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} {:?}: {stdout}{}",
        guest.display(),
        device_opts,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("OK"), "{stdout}");
    stdout
}

#[test]
fn example_guests_agree_on_every_device() {
    let Some(dir) = example_dir() else { return };
    // Smaller sizes than the guests' defaults keep the debug-build test quick.
    let cases: [(&str, &[&str]); 6] = [
        ("saxpy", &["65536", "cpu"]),
        // A kernel written with SIMD intrinsics (always -msimd128).
        ("pixels", &["16384", "cpu"]),
        ("mandelbrot", &["128", "cpu", "1", "/out/mandelbrot.ppm"]),
        ("histogram", &["262144", "cpu"]),
        ("matmul", &["64", "cpu"]),
        ("demo", &[]),
    ];
    let devices: [&[&str]; 5] = [
        &["--device", "sequential"],
        &["--device", "cpu", "--threads", "1"],
        &["--device", "cpu", "--threads", "2"],
        &["--device", "cpu", "--threads", "4"],
        &["--device", "gpu"],
    ];
    for (name, args) in cases {
        let guest = dir.join(format!("{name}.wasm"));
        let mut sums = Vec::new();
        for d in devices {
            sums.push((d, checksum_of(&run(&guest, d, args))));
        }
        if name == "mandelbrot" {
            let ppm = std::fs::read(dir.join("mandelbrot.ppm")).unwrap();
            assert!(ppm.starts_with(b"P6\n128 "), "not a 128-wide PPM image");
        }
        for (d, s) in &sums[1..] {
            assert_eq!(s, &sums[0].1, "{name}: {d:?} differs from sequential");
        }
        // Asking for a GPU makes a guest split its work differently (one
        // row per iteration): same result, on the GPU and sequentially.
        if args.contains(&"cpu") {
            let gpu_args: Vec<&str> = args
                .iter()
                .map(|a| if *a == "cpu" { "gpu" } else { a })
                .collect();
            for d in [&["--device", "gpu"][..], &["--device", "sequential"][..]] {
                let s = checksum_of(&run(&guest, d, &gpu_args));
                assert_eq!(s, sums[0].1, "{name} split for a GPU, {d:?}");
            }
        }
    }
}

/// The example guests, each calling its kernel three times with a GPU hint,
/// under the `rotate` policy (the calls switch between the CPU device and
/// Vulkan, the buffers move at every call) and the default `adaptive` one:
/// the checksum the SEQUENTIAL device gives.
#[test]
fn example_guests_agree_when_the_host_moves_their_calls() {
    let Some(dir) = example_dir() else { return };
    let cases: [(&str, &[&str]); 4] = [
        ("saxpy", &["65536", "gpu", "3"]),
        ("mandelbrot", &["96", "gpu", "3", "/out/mandelbrot.ppm"]),
        ("histogram", &["262144", "gpu", "3"]),
        ("matmul", &["48", "gpu", "3"]),
    ];
    for (name, args) in cases {
        let guest = dir.join(format!("{name}.wasm"));
        let want = checksum_of(&run(&guest, &["--device", "sequential"], args));
        for policy in ["rotate", "adaptive"] {
            let out = run(&guest, &["--device-policy", policy], args);
            assert_eq!(
                checksum_of(&out),
                want,
                "{name} with --device-policy {policy}"
            );
            assert!(out.contains(&format!("device policy {policy}")), "{out}");
            if policy == "rotate" && in_ci() && cfg!(feature = "vulkan") {
                // The kernel ran on both devices (lavapipe runs them all;
                // a build without Vulkan has only the CPU device).
                assert!(
                    out.contains("[cpu") && out.contains("[vulkan: "),
                    "{name}: {out}"
                );
            }
        }
    }
}

/// The guest-side conformance test of the ABI (every import, every error
/// code a guest can provoke, layout, isolation, recovery), on every device.
#[test]
fn abi_conformance_guest_passes_on_every_device() {
    if require_tool("clang").is_none() || require_tool("wat2wasm").is_none() {
        return;
    }
    let out = scratch("conformance");
    let st = std::process::Command::new("sh")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests/build.sh"))
        .arg(&out)
        .env("WASI_PARALLEL", env!("CARGO_BIN_EXE_wasi-parallel"))
        .status()
        .unwrap();
    assert!(st.success(), "tests/guests/build.sh failed");
    let guest = out.join("abi_conformance.wasm");
    for (opts, hint) in [
        (&["--device", "auto"][..], "cpu"),
        (&["--device", "auto"][..], "sequential"),
        (&["--device", "auto"][..], "gpu"),
        (&["--device", "cpu", "--threads", "3"][..], "cpu"),
    ] {
        let o = cli()
            .arg("run")
            .args(opts)
            .args(["--kernel-fuel", "1000000"])
            .arg(&guest)
            .args([hint, "fuel"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{opts:?} {hint}:\n{stdout}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!stdout.contains("not ok"), "{stdout}");
        assert!(stdout.matches("\nok ").count() >= 60, "{stdout}");
    }
}

/// Whether rustup has `target` installed (a failure in CI, like a missing tool).
fn rust_target(target: &str) -> Option<()> {
    let installed = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == target)
        })
        .unwrap_or(false);
    if installed {
        Some(())
    } else if in_ci() {
        panic!("the Rust target {target} is required in CI (run scripts/setup.sh)");
    } else {
        eprintln!("note: Rust target {target} not installed, skipping (run scripts/setup.sh)");
        None
    }
}

/// The Rust guest and its Rust kernel (guest/rust/: the guest crate's build
/// script builds the no_std kernel for wasm32-unknown-unknown and embeds
/// it) on every device: each run checks itself against the guest's own
/// loop; the CPU devices agree bit for bit, and no device falls back.
#[test]
fn rust_guest_with_a_rust_kernel_runs_on_every_device() {
    if rust_target("wasm32-wasip1").is_none() || rust_target("wasm32-unknown-unknown").is_none() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = scratch("rust-guest");
    let mut build = std::process::Command::new(env!("CARGO"));
    build
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "-p",
            "saxpy",
        ])
        .arg("--manifest-path")
        .arg(root.join("guest/rust/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for v in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        build.env_remove(v);
    }
    let st = build.status().unwrap();
    assert!(st.success(), "building guest/rust failed");
    let guest = target_dir.join("wasm32-wasip1/release/saxpy.wasm");

    let list = cli().arg("devices").output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    let mut checksums = Vec::new();
    for line in list.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (index, kind) = (f[0], f[1]);
        let (force, hint) = match kind {
            "sequential" => ("sequential", "sequential"),
            "cpu" => ("cpu", "cpu"),
            _ => ("gpu", "gpu"),
        };
        let out = cli()
            .args(["run", "--stats", "--device", force])
            .env("WASI_PARALLEL_VULKAN_DEVICE", "0")
            .arg(&guest)
            .args(["20000", hint])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{kind}: {stdout}{stderr}");
        assert!(stdout.contains(" OK"), "{stdout}");
        // The device it was forced to ran the one call, without a fallback.
        assert!(
            stderr.contains("1 calls (0 failed)") && stderr.contains("0 fallbacks"),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("  device {index} [")),
            "{kind}: {stderr}"
        );
        if !kind.ends_with("gpu") {
            checksums.push(
                stdout
                    .split_whitespace()
                    .find(|w| w.starts_with("checksum="))
                    .unwrap()
                    .to_string(),
            );
        }
        if kind.ends_with("gpu") {
            break; // the first GPU (WASI_PARALLEL_VULKAN_DEVICE=0)
        }
    }
    assert_eq!(checksums.len(), 2);
    assert_eq!(checksums[0], checksums[1], "sequential and CPU differ");
}

/// The example guests and kernels built with `-O3 -msimd128` (clang
/// vectorises saxpy's and matmul's loops into `f32x4` code): every device
/// leaves the checksum of the scalar build, and the GPU runs the vectorised
/// kernels itself (no fallback to the CPU device, checked under CI).
#[test]
fn example_guests_built_with_simd128_agree_with_the_scalar_build() {
    let Some(scalar) = example_dir() else { return };
    let Some(simd) = simd_example_dir() else {
        return;
    };
    let objdump = std::process::Command::new("wasm-objdump")
        .arg("-d")
        .arg(simd.join("saxpy_kernel.wasm"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&objdump.stdout).contains("f32x4.mul"),
        "clang did not vectorise the saxpy kernel"
    );
    let cases: [(&str, &[&str]); 3] = [
        ("saxpy", &["4096", "gpu"]),
        ("mandelbrot", &["48", "gpu", "1", "/out/mandelbrot.ppm"]),
        ("matmul", &["24", "gpu"]),
    ];
    let devices: [&[&str]; 3] = [
        &["--device", "sequential"],
        &["--device", "cpu", "--threads", "2"],
        &["--device", "gpu"],
    ];
    for (name, args) in cases {
        let want = checksum_of(&run(&scalar.join(format!("{name}.wasm")), devices[0], args));
        for d in devices {
            let out = run(&simd.join(format!("{name}.wasm")), d, args);
            assert_eq!(checksum_of(&out), want, "{name} -msimd128 on {d:?}");
            if d[1] == "gpu" && in_ci() {
                assert!(
                    out.contains(" 0 fallbacks"),
                    "{name}: the GPU fell back:\n{out}"
                );
            }
        }
    }
}
