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

/// A guest (WAT) whose `run(n, hint)` offloads `out[i] = 2 * in[i] + i` to
/// the device for `hint`, twice (a cache miss, then a hit), reads the result
/// back and checks it (0: right, 100: wrong, else the first `par_errno`),
/// then makes one call with a forged device handle.
#[cfg(feature = "wat")]
fn traced_guest() -> String {
    let kernel = wat::parse_str(
        r#"(module (memory (import "" "memory") 1)
          (func (export "kernel") (param $i i32) (param i32 i32)
                (param $in i32) (param i32) (param $out i32) (param i32)
            (local $o i32)
            (local.set $o (i32.shl (local.get $i) (i32.const 2)))
            (i32.store (i32.add (local.get $out) (local.get $o))
              (i32.add (i32.mul (i32.load (i32.add (local.get $in) (local.get $o))) (i32.const 2))
                       (local.get $i)))))"#,
    )
    .unwrap();
    let bytes: String = kernel.iter().map(|b| format!("\\{b:02x}")).collect();
    format!(
        r#"(module
  (import "wasi_ephemeral_parallel" "get_device" (func $get_device (param i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "create_buffer" (func $create_buffer (param i32 i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "write_buffer" (func $write_buffer (param i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "read_buffer" (func $read_buffer (param i32 i32 i32) (result i32)))
  (import "wasi_ephemeral_parallel" "parallel_exec"
    (func $exec (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 4096) "{bytes}")
  (func (export "run") (param $n i32) (param $hint i32) (result i32)
    (local $r i32) (local $bytes i32) (local $i i32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (loop $fill
      (i32.store (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2)))
        (i32.sub (i32.mul (local.get $i) (i32.const 3)) (i32.const 7)))
      (br_if $fill (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (if (local.tee $r (call $get_device (local.get $hint) (i32.const 0))) (then (return (local.get $r))))
    (if (local.tee $r (call $create_buffer (i32.load (i32.const 0)) (local.get $bytes) (i32.const 0) (i32.const 4)))
      (then (return (local.get $r))))
    (if (local.tee $r (call $create_buffer (i32.load (i32.const 0)) (local.get $bytes) (i32.const 1) (i32.const 8)))
      (then (return (local.get $r))))
    (if (local.tee $r (call $write_buffer (i32.const 1024) (local.get $bytes) (i32.load (i32.const 4))))
      (then (return (local.get $r))))
    (if (local.tee $r (call $exec (i32.load (i32.const 0)) (i32.const 4096) (i32.const {len})
                         (local.get $n) (i32.const 1) (i32.const 4) (i32.const 1) (i32.const 8) (i32.const 1)))
      (then (return (local.get $r))))
    (if (local.tee $r (call $exec (i32.load (i32.const 0)) (i32.const 4096) (i32.const {len})
                         (local.get $n) (i32.const 1) (i32.const 4) (i32.const 1) (i32.const 8) (i32.const 1)))
      (then (return (local.get $r))))
    (if (local.tee $r (call $read_buffer (i32.load (i32.const 8)) (i32.const 2048) (local.get $bytes)))
      (then (return (local.get $r))))
    ;; forged device handle: invalid_handle (2), the guest goes on
    (if (i32.ne (call $exec (i32.const 999) (i32.const 4096) (i32.const {len})
                  (i32.const 1) (i32.const 1) (i32.const 4) (i32.const 1) (i32.const 8) (i32.const 1)) (i32.const 2))
      (then (return (i32.const 101))))
    (local.set $i (i32.const 0))
    (loop $check
      (if (i32.ne (i32.load (i32.add (i32.const 2048) (i32.shl (local.get $i) (i32.const 2))))
                  (i32.add (i32.mul (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2))))
                                    (i32.const 2)) (local.get $i)))
        (then (return (i32.const 100))))
      (br_if $check (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (i32.const 0)))"#,
        len = kernel.len()
    )
}

/// `poll_oneoff` on stdin when stdin is /dev/null (a character device that
/// is not a terminal, whose ready bytes cannot be counted): readable, as
/// with a pipe or a file; wasi-common's own stdin trapped the guest.
#[test]
#[cfg(feature = "wat")]
fn polling_stdin_from_dev_null_does_not_trap() {
    let dir = scratch("cli_poll_stdin");
    let guest = dir.join("poll.wat");
    // subscription at 0 (userdata 7, FD_READ = 1, fd 0 at 16); event at 64
    // (its type at 74); nevents at 128. Returns nevents * 10 + the event's
    // type, or 100 + errno.
    std::fs::write(
        &guest,
        r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "f") (result i32) (local $e i32)
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store8 (i32.const 8) (i32.const 1))
    (i32.store (i32.const 16) (i32.const 0))
    (local.set $e (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    (if (local.get $e) (then (return (i32.add (i32.const 100) (local.get $e)))))
    (i32.add (i32.mul (i32.load (i32.const 128)) (i32.const 10)) (i32.load8_u (i32.const 74)))))"#,
    )
    .unwrap();
    for stdin in ["/dev/null", "/dev/zero"] {
        if !std::path::Path::new(stdin).exists() {
            continue;
        }
        let out = cli()
            .args(["run", "--invoke", "f"])
            .arg(&guest)
            .stdin(std::fs::File::open(stdin).unwrap())
            .output()
            .unwrap();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
            (Some(0), "11"),
            "{stdin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `--stats` ends with the message of the guest's last wasi-parallel error
/// (docs/wasi-parallel.md section 3), also when no parallel_exec ran.
#[test]
#[cfg(feature = "wat")]
fn stats_show_the_last_error() {
    let dir = scratch("cli_stats_error");
    let guest = dir.join("bad_hint.wat");
    std::fs::write(
        &guest,
        r#"(module
  (import "wasi_ephemeral_parallel" "get_device" (func $gd (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "f") (result i32) (call $gd (i32.const 9) (i32.const 0))))"#,
    )
    .unwrap();
    let out = cli()
        .args(["run", "--stats", "--invoke", "f"])
        .arg(&guest)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("wasi-parallel: last error: get_device: invalid_argument")),
        "{err}"
    );
    // Without an error, no such line.
    let ok = dir.join("ok.wat");
    std::fs::write(
        &ok,
        r#"(module (func (export "f") (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    let out = cli()
        .args(["run", "--stats", "--invoke", "f"])
        .arg(&ok)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("last error"));
}

/// The runner's own output going nowhere (a full disk: /dev/full) is a
/// one-line error and exit 74, never a panic; a failing stderr does not
/// change the exit code.
#[test]
#[cfg(feature = "wat")]
fn unwritable_output_is_an_error_not_a_panic() {
    let full = std::path::Path::new("/dev/full");
    if !full.exists() {
        eprintln!("note: no /dev/full; test skipped");
        return;
    }
    let dir = scratch("cli_dev_full");
    let guest = dir.join("two.wat");
    std::fs::write(
        &guest,
        r#"(module (func (export "f") (result i32 i32) (i32.const 1) (i32.const 2)))"#,
    )
    .unwrap();
    let open = || std::fs::OpenOptions::new().write(true).open(full).unwrap();
    let runs: [(&str, Vec<&std::ffi::OsStr>); 2] = [
        (
            "invoke",
            vec![
                "run".as_ref(),
                "--invoke".as_ref(),
                "f".as_ref(),
                guest.as_os_str(),
            ],
        ),
        ("devices", vec!["devices".as_ref()]),
    ];
    for (what, args) in runs {
        let out = cli().args(&args).stdout(open()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(74), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.contains("cannot write to stdout"), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
    let out = cli()
        .args(["run", "--stats", "--invoke", "f"])
        .arg(&guest)
        .stderr(open())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n2\n");
}

/// ABI.md section 1: pointers are offsets into the guest's exported or
/// default memory. A guest whose memory is not exported, or exported under
/// another name, gets the same results as one exporting `memory`, and its
/// exports (as `--invoke` sees them) do not change.
#[test]
#[cfg(feature = "wat")]
fn a_guest_memory_not_exported_as_memory_is_its_default_memory() {
    let dir = scratch("cli_default_memory");
    let exported = traced_guest();
    let decl = r#"(memory (export "memory") 1)"#;
    assert!(exported.contains(decl));
    for (name, memory) in [
        ("exported", decl),
        ("unexported", "(memory 1)"),
        ("renamed", r#"(memory (export "mem") 1)"#),
    ] {
        let guest = dir.join(format!("{name}.wat"));
        std::fs::write(&guest, exported.replace(decl, memory)).unwrap();
        for device in ["sequential", "cpu"] {
            let out = cli()
                .args(["run", "--device", device, "--invoke", "run"])
                .arg(&guest)
                .args(["64", "1"])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "0",
                "{name} on {device}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The hidden export cannot be invoked as a function.
        let out = cli()
            .args(["run", "--invoke", "__wasi_parallel_default_memory"])
            .arg(&guest)
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
}

#[test]
#[cfg(feature = "wat")]
fn trace_holds_a_span_per_call_on_every_device() {
    let dir = scratch("cli_trace");
    let guest = dir.join("traced.wat");
    std::fs::write(&guest, traced_guest()).unwrap();
    let list = cli().arg("devices").output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    // index \t kind \t name
    let devices: Vec<(String, String)> = list
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 3).then(|| (f[1].to_string(), f[2].to_string()))
        })
        .collect();
    assert!(devices.len() >= 2, "{list}");
    for (kind, name) in &devices {
        let force = match kind.as_str() {
            "sequential" => "sequential",
            "cpu" => "cpu",
            _ => "gpu",
        };
        let trace = dir.join(format!("{force}.json"));
        let n = 64;
        let out = cli()
            .args(["run", "--device", force, "--trace"])
            .arg(&trace)
            .args(["--invoke", "run"])
            .arg(&guest)
            .args([&n.to_string(), "1"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "0\n",
            "{force}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
        let events = doc["traceEvents"].as_array().unwrap();
        let spans: Vec<&serde_json::Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        let named = |n: &str| -> Vec<&serde_json::Value> {
            spans.iter().copied().filter(|e| e["name"] == n).collect()
        };
        let names: Vec<&str> = spans.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(named("get_device").len(), 1, "{names:?}");
        assert_eq!(named("create_buffer").len(), 2, "{names:?}");
        let w = named("write_buffer");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0]["cat"], "transfer");
        assert_eq!(w[0]["args"]["bytes"], 4 * n);
        assert_eq!(w[0]["args"]["device"], name.as_str());
        let r = named("read_buffer");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["args"]["bytes"], 4 * n);

        let execs = named("parallel_exec");
        assert_eq!(execs.len(), 3, "{names:?}");
        for (i, e) in execs.iter().take(2).enumerate() {
            let a = &e["args"];
            assert_eq!(a["errno"], "success", "{e}");
            assert_eq!(a["iterations"], n);
            assert_eq!(a["block_size"], 1);
            assert_eq!(a["cache_hit"], i == 1, "{e}");
            // The device that ran it: the forced one, or the CPU after a
            // GPU fallback (then the reason is in the span).
            if a.get("fallback").is_some() {
                assert_eq!(a["device_kind"], "cpu", "{e}");
            } else {
                assert_eq!(a["device"], name.as_str(), "{e}");
            }
            // The engine that really ran it: the JIT (where this build has
            // it) or the interpreter on the CPU devices, the translator on
            // a GPU.
            // The suite also runs with WASI_PARALLEL_KERNEL_ENGINE set
            // (scripts/test.sh re-runs it on the interpreter).
            let cpu_engine = wasi_parallel::parallel::KernelEngine::Auto
                .or_env()
                .and_then(|e| e.resolve())
                .expect("WASI_PARALLEL_KERNEL_ENGINE names an engine of this build")
                .name();
            let want = if a["device_kind"] == "cpu" || a["device_kind"] == "sequential" {
                cpu_engine
            } else {
                "vulkan (wasm -> SPIR-V)"
            };
            assert_eq!(a["engine"], want, "{e}");
            for t in ["compile_ms", "setup_ms", "run_ms"] {
                assert!(a[t].as_f64().is_some_and(|v| v >= 0.0), "{t}: {e}");
            }
            // Its run is a child span inside it.
            let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
            let run = spans
                .iter()
                .find(|s| {
                    s["cat"] == "kernel"
                        && s["name"].as_str().unwrap().starts_with("run on ")
                        && s["ts"].as_f64().unwrap() >= ts
                        && s["ts"].as_f64().unwrap() + s["dur"].as_f64().unwrap()
                            <= ts + dur + 0.002
                })
                .unwrap_or_else(|| panic!("no run span inside {e}: {names:?}"));
            assert!(
                (run["dur"].as_f64().unwrap() / 1e3 - a["run_ms"].as_f64().unwrap()).abs() < 0.01
            );
        }
        // One compilation: the first call; the second hit the cache.
        assert_eq!(named("compile kernel").len(), 1, "{names:?}");
        let bad = &execs[2]["args"];
        assert_eq!(bad["errno"], "invalid_handle");
        assert!(bad["error"].as_str().unwrap().contains("999"), "{bad}");
        // Spans are in call order on one thread.
        let order: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !n.starts_with("run on") && *n != "compile kernel" && *n != "worker setup")
            .collect();
        assert_eq!(
            order,
            [
                "get_device",
                "create_buffer",
                "create_buffer",
                "write_buffer",
                "parallel_exec",
                "parallel_exec",
                "read_buffer",
                "parallel_exec"
            ]
        );
    }

    // An unwritable trace path is a load failure with a one-line error.
    let out = cli()
        .args([
            "run",
            "--trace",
            "/nonexistent-dir/t.json",
            "--invoke",
            "run",
        ])
        .arg(&guest)
        .args(["4", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trace file"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn usage_errors_exit_2_with_one_line_and_suggestions() {
    for (args, want) in [
        (&["run", "--fule", "3", "x.wasm"][..], "'--fuel'"),
        (&["rnu"][..], "unrecognized subcommand"),
        (&["runn"][..], "'run'"),
        (
            &["run", "--device", "tpu", "x.wasm"][..],
            "auto, sequential, cpu, gpu",
        ),
        (&["run", "--threads", "0", "x.wasm"][..], "--threads"),
        (&["run", "--env", "x", "x.wasm"][..], "is not KEY=VALUE"),
        (
            &["run", "--dir", "box::", "x.wasm"][..],
            "neither may be empty",
        ),
        (
            &["run", "--dir", "::/x", "x.wasm"][..],
            "neither may be empty",
        ),
        (&["run"][..], "MODULE"),
        (&["embed"][..], "KERNEL.wasm"),
        (&["completions", "tcsh"][..], "bash"),
    ] {
        let out = cli().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("wasi-parallel: error: "), "{err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // No command at all: the help on stderr, exit 2.
    let out = cli().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage:"));
}

#[test]
fn help_per_subcommand_version_and_completions() {
    for (sub, want) in [
        ("run", "--kernel-fuel"),
        ("embed", "--name"),
        ("devices", "List the devices"),
        ("completions", "bash"),
    ] {
        let out = cli().args([sub, "--help"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{sub}");
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains(want), "{sub}: {s}");
    }
    let out = cli().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("wasi-parallel {}", env!("CARGO_PKG_VERSION"))
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = cli().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("wasi-parallel") && s.contains("kernel-fuel"),
            "{shell}"
        );
    }
}

#[test]
#[cfg(feature = "wat")]
fn arguments_after_the_module_go_to_the_guest() {
    // `--stats` after MODULE is the guest's argument, not the runner's.
    let dir = scratch("cli_trailing");
    let f = dir.join("m.wat");
    std::fs::write(
        &f,
        r#"(module (func (export "id") (param i32) (result i32) local.get 0))"#,
    )
    .unwrap();
    let out = cli()
        .args(["run", "--invoke=id"])
        .arg(&f)
        .arg("-7")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "-7\n");
    let out = cli()
        .args(["run", "--invoke", "id"])
        .arg(&f)
        .arg("--stats")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`--stats` is not a valid i32"));
}
/// `--kernel-engine` picks the engine, `--stats` names it per device, and
/// both engines compute the same (the guest checks its results itself).
#[test]
#[cfg(feature = "wat")] // the guest is WAT text
fn kernel_engine_option_and_stats_name_the_engine() {
    let guest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("c-examples/embedded/square_guest.wat");
    let mut engines = vec![("interpreter", "interpreter")];
    if wasi_parallel::parallel::KernelEngine::jit_available() {
        engines.push(("jit", "jit (cranelift)"));
        engines.push(("auto", "jit (cranelift)"));
    } else {
        engines.push(("auto", "interpreter"));
    }
    for (opt, name) in engines {
        for device in ["sequential", "cpu"] {
            let out = cli()
                .args(["run", "--kernel-engine", opt, "--device", device, "--stats"])
                .arg(&guest)
                .env_remove("WASI_PARALLEL_KERNEL_ENGINE")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{opt} {device}: {err}");
            assert!(
                err.lines()
                    .any(|l| l.contains(&format!("] {name}: 1 calls"))),
                "{opt} {device}: {err}"
            );
        }
    }
    let out = cli()
        .args(["run", "--kernel-engine", "fast"])
        .arg(&guest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    if !wasi_parallel::parallel::KernelEngine::jit_available() {
        let out = cli()
            .args(["run", "--kernel-engine", "jit"])
            .arg(&guest)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "jit asked for where it is compiled out"
        );
    }
}

/// `--bounds-checks` takes its three values (the guest checks its own
/// results on each) and refuses others with a usage error.
#[test]
#[cfg(feature = "wat")] // the guest is WAT text
fn bounds_checks_option() {
    let guest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("c-examples/embedded/square_guest.wat");
    for opt in ["explicit", "guard-pages", "auto"] {
        for device in ["sequential", "cpu"] {
            let out = cli()
                .args(["run", "--bounds-checks", opt, "--device", device])
                .arg(&guest)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{opt} {device}: {err}");
        }
    }
    let out = cli()
        .args(["run", "--bounds-checks", "none"])
        .arg(&guest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not one of auto, explicit, guard-pages"),
        "{err}"
    );
}
