//! The `wasi-parallel` runner, end to end, with real clang-built guests.

use crate::common::*;

#[test]
fn c_guest_behaves_as_natively_and_exits_with_its_code() {
    let dir = scratch("cli_smoke");
    let wasm = dir.join("smoke.wasm");
    if build_wasi_guest(&guest_src("wasi_smoke.c"), &wasm).is_none() {
        return;
    }
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("input.txt"), "first line\nsecond\n").unwrap();

    let out = cli()
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/data", data.display()))
        .args(["--env", "K=V"])
        .arg(&wasm)
        .args(["a", "b c"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm_stdout = String::from_utf8(out.stdout).unwrap();
    let wasm_file = std::fs::read_to_string(data.join("output.txt")).unwrap();

    // The same program built natively, with the data dir passed in DATA_DIR.
    if require_tool("cc").is_none() {
        return;
    }
    let native = dir.join("smoke-native");
    let st = std::process::Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&native)
        .arg(guest_src("wasi_smoke.c"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_file(data.join("output.txt")).unwrap();
    let nout = std::process::Command::new(&native)
        .env_clear()
        .env("K", "V")
        .env("DATA_DIR", &data)
        .args(["a", "b c"])
        .output()
        .unwrap();
    assert_eq!(nout.status.code(), Some(3));
    // argv[0] differs, everything printed after it must not.
    assert_eq!(wasm_stdout, String::from_utf8(nout.stdout).unwrap());
    assert_eq!(
        wasm_file,
        std::fs::read_to_string(data.join("output.txt")).unwrap()
    );
    assert!(wasm_stdout.contains("line 2: second"));
}

#[test]
fn guests_cannot_leave_their_preopens() {
    let dir = scratch("cli_escape");
    let wasm = dir.join("escape.wasm");
    if build_wasi_guest(&guest_src("escape.c"), &wasm).is_none() {
        return;
    }
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(dir.join("secret.txt"), "SECRET\n").unwrap();
    std::fs::write(data.join("ok.txt"), "fine\n").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), data.join("link.txt")).unwrap();
    let out = cli()
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/data", data.display()))
        .arg(&wasm)
        .args([
            "/data/ok.txt",
            "/data/../secret.txt",
            "/data/link.txt",
            "/secret.txt",
        ])
        .arg(dir.join("secret.txt"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OPENED /data/ok.txt: fine"), "{stdout}");
    assert!(!stdout.contains("SECRET"), "{stdout}");
    assert_eq!(stdout.matches("REFUSED").count(), 4, "{stdout}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_file_that_is_not_wasm_fails_with_one_line() {
    let dir = scratch("cli_notwasm");
    let f = dir.join("junk.wasm");
    std::fs::write(&f, b"\x7fELF\x02\x01\x01 not a wasm module").unwrap();
    let out = cli().arg("run").arg(&f).output().unwrap();
    let code = out.status.code().unwrap();
    assert_ne!(code, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("junk.wasm"), "{err}");

    let out = cli().args(["run", "/no/such/file.wasm"]).output().unwrap();
    assert_eq!(out.status.code(), Some(code));
}

#[test]
#[cfg(feature = "wat")] // the module is WAT text
fn invoke_parses_args_by_type_and_prints_results() {
    let dir = scratch("cli_invoke");
    let f = dir.join("m.wat");
    std::fs::write(
        &f,
        r#"(module
            (func (export "add") (param i32 i64) (result i64 i32)
                local.get 0 i64.extend_i32_s local.get 1 i64.add local.get 0)
            (func (export "half") (param f64) (result f64) local.get 0 f64.const 0.5 f64.mul)
            (func (export "boom") unreachable))"#,
    )
    .unwrap();
    let out = cli()
        .args(["run", "--invoke", "add"])
        .arg(&f)
        .args(["-5", "10000000000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "9999999995\n-5\n");
    let out = cli()
        .args(["run", "--invoke", "half"])
        .arg(&f)
        .arg("3")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1.5\n");

    let trap = cli()
        .args(["run", "--invoke", "boom"])
        .arg(&f)
        .output()
        .unwrap();
    let load = cli().args(["run", "/nonexistent.wasm"]).output().unwrap();
    let (t, l) = (trap.status.code().unwrap(), load.status.code().unwrap());
    assert!(
        t != 0 && l != 0 && t != l,
        "trap {t} and load failure {l} must differ"
    );
    assert!(String::from_utf8_lossy(&trap.stderr).contains("unreachable"));

    let bad = cli()
        .args(["run", "--invoke", "add"])
        .arg(&f)
        .args(["x", "1"])
        .output()
        .unwrap();
    assert_ne!(bad.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a valid i32"));
}

#[test]
#[cfg(feature = "wat")] // the module is WAT text
fn options_parse_and_devices_are_listed() {
    let out = cli().arg("devices").output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("sequential") && s.contains("cpu"), "{s}");

    let dir = scratch("cli_opts");
    let f = dir.join("m.wat");
    std::fs::write(&f, r#"(module (func (export "_start")))"#).unwrap();
    let out = cli()
        .args([
            "run",
            "--device",
            "cpu",
            "--threads",
            "2",
            "--fuel",
            "1000000",
            "--kernel-fuel",
            "5000",
            "--stats",
        ])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli()
        .args(["run", "--device", "tpu"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
