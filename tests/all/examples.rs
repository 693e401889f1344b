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
    let cases: [(&str, &[&str]); 5] = [
        ("saxpy", &["65536", "cpu"]),
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
