//! Gives the shared library a SONAME, so programs linked against
//! `libwasi_parallel.so` record the name, not the build path; and sets the
//! `wp_jit` cfg where the JIT kernel engine is compiled in.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // `wp_jit`: the JIT kernel engine is compiled in (feature `jit` on a
    // target with a Cranelift backend; the wasmtime dependency exists only there).
    println!("cargo:rustc-check-cfg=cfg(wp_jit)");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if std::env::var_os("CARGO_FEATURE_JIT").is_some() && (arch == "x86_64" || arch == "aarch64") {
        println!("cargo:rustc-cfg=wp_jit");
    }
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" || os.ends_with("bsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwasi_parallel.so");
    }
}
