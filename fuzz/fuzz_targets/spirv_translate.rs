//! The wasm -> SPIR-V translator on kernel-shaped wasm-smith modules (and on
//! raw bytes). Oracles: no panic; the answer is SPIR-V or `Unsupported`;
//! a sample of the successes (the first 64, then every 16th) passes
//! `spirv-val --target-env vulkan1.1` (spawning it for every success would
//! slow the fuzzer by two orders of magnitude). `SPIRV_VAL_EVERY=1` checks
//! every success, e.g. when replaying a corpus.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use wasi_parallel::spirv::{translate_kernel, words_to_bytes, TranslateOptions};

static SUCCESSES: AtomicU64 = AtomicU64::new(0);

fn every() -> u64 {
    static E: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *E.get_or_init(|| {
        std::env::var("SPIRV_VAL_EVERY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(16)
            .max(1)
    })
}

fn spirv_val(words: &[u32], wasm: &[u8]) {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("fuzz-spirv-{}.spv", std::process::id()));
    let mut f = std::fs::File::create(&path).expect("temp file");
    f.write_all(&words_to_bytes(words)).expect("write spv");
    drop(f);
    let out = std::process::Command::new("spirv-val")
        .args(["--target-env", "vulkan1.1"])
        .arg(&path)
        .output()
        .expect("spirv-val must be installed (apt-get install spirv-tools)");
    if !out.status.success() {
        let wasm_path = dir.join(format!("fuzz-spirv-{}.wasm", std::process::id()));
        let _ = std::fs::write(&wasm_path, wasm);
        panic!(
            "spirv-val rejects the translation of {} ({}): {}{}",
            wasm_path.display(),
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(raw) = u.ratio::<u8>(1, 16) else {
        return;
    };
    let opts = TranslateOptions {
        int64: u.ratio(7u8, 8).unwrap_or(true),
        float64: u.ratio(7u8, 8).unwrap_or(true),
        denorm_preserve_f32: bool::arbitrary(&mut u).unwrap_or(true),
        denorm_preserve_f64: bool::arbitrary(&mut u).unwrap_or(true),
        signed_zero_inf_nan_f32: bool::arbitrary(&mut u).unwrap_or(true),
        signed_zero_inf_nan_f64: bool::arbitrary(&mut u).unwrap_or(true),
        workgroup_size: [64, 1, 32, 256][u.choose_index(4).unwrap_or(0)],
        max_loop_depth: [None, Some(1), Some(2)][u.choose_index(3).unwrap_or(0)],
        fuel: bool::arbitrary(&mut u).unwrap_or(true),
        unroll: [4, 1, 2, 8][u.choose_index(4).unwrap_or(0)],
        stack_storage: [
            wasi_parallel::spirv::StackStorage::Private,
            wasi_parallel::spirv::StackStorage::ScratchInterleaved,
            wasi_parallel::spirv::StackStorage::ScratchContiguous,
        ][u.choose_index(3).unwrap_or(0)],
        // Fields added later keep their defaults.
        ..TranslateOptions::default()
    };
    let wasm = if raw {
        u.take_rest().to_vec()
    } else {
        match common::kernel_module(&mut u) {
            Ok((k, _)) => k,
            Err(_) => return,
        }
    };
    let Ok(t) = translate_kernel(&wasm, &opts) else {
        return;
    };
    if t.uses_int64 {
        assert!(opts.int64, "uses Int64 but the device lacks it");
    }
    if t.uses_float64 {
        assert!(opts.float64, "uses Float64 but the device lacks it");
    }
    let n = SUCCESSES.fetch_add(1, Ordering::Relaxed);
    if n < 64 || n % every() == 0 {
        spirv_val(&t.words, &wasm);
    }
});
