//! Generates Rust bindings from the committed C header (not from the Rust
//! source), with bindgen's layout tests, so the tests of this crate use the
//! library exactly as a C program compiled against the header would.

use std::path::PathBuf;

fn main() {
    let header = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include/wasi_parallel.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let bindings = bindgen::Builder::default()
        .header(header.to_str().expect("UTF-8 path"))
        .allowlist_item("wp_.*|WP_.*")
        .layout_tests(true)
        .derive_debug(true)
        .derive_default(true)
        .prepend_enum_name(false)
        .generate()
        .expect("bindgen failed on include/wasi_parallel.h");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("bindings.rs");
    bindings.write_to_file(out).expect("write bindings");
}
