//! The committed C header must be exactly what cbindgen generates from the
//! source with the committed `cbindgen.toml`.
//!
//! To update it: `scripts/gen-header.sh` (runs this test with
//! `WP_BLESS_HEADER=1`, which writes the header instead of comparing).

use std::path::Path;

fn generate() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config =
        cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(version_macros());
    // Only the C API (src/capi/): the rest of the crate's public items are
    // not part of it.
    let bindings = cbindgen::Builder::new()
        .with_src(root.join("src/capi/mod.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen failed on the crate");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

/// The header's version macros, from the crate version (Cargo.toml), so
/// the header, `wp_version()` and the SONAME (build.rs) cannot disagree.
fn version_macros() -> String {
    format!(
        "\n/* The version of this header (and of the library built with it; see\n \
         * wp_version, wp_version_check_header). */\n\
         #define WASI_PARALLEL_VERSION_MAJOR {}\n\
         #define WASI_PARALLEL_VERSION_MINOR {}\n\
         #define WASI_PARALLEL_VERSION_PATCH {}\n\
         #define WASI_PARALLEL_VERSION \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}

#[test]
fn committed_header_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("include/wasi_parallel.h");
    let generated = generate();
    if std::env::var_os("WP_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || committed.lines().count().min(generated.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "include/wasi_parallel.h is stale (first difference at line {line}); \
             run scripts/gen-header.sh and commit the result"
        );
    }
}

#[test]
fn header_declares_the_whole_c_api() {
    let h = generate();
    for name in [
        "wp_error_t",
        "wp_error_code_t",
        "WP_ERROR_OK",
        "wp_engine_new",
        "wp_module_new",
        "wp_instance_new",
        "wp_instance_call",
        "wp_instance_run_start",
        "wp_instance_config_register_natives",
        "wp_exec_env_set_exception",
        "wp_engine_device_info",
        "wp_instance_parallel_stats",
        "wp_version_check",
        "#define WASI_PARALLEL_VERSION_MAJOR",
        "#define WASI_PARALLEL_VERSION ",
    ] {
        assert!(h.contains(name), "header lacks {name}");
    }
    assert!(!h.contains("RECENT_CALLS") && !h.contains("WASM_PAGE"));
}
