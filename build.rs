//! Gives the shared library a versioned SONAME, `libwasi_parallel.so.MAJOR`
//! (the crate's major version), so programs linked against it record that
//! name, not the build path, and a library of another major version is never
//! picked up in its place (the CMake install and the packages add the
//! `.so -> .so.MAJOR -> .so.MAJOR.MINOR.PATCH` links); and sets the `wp_jit`
//! cfg where the JIT kernel engine is compiled in.

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
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwasi_parallel.so.{major}");
    }
}
