//! Gives the shared library a SONAME, so programs linked against
//! `libwasi_parallel.so` record the name, not the build path.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" || os.ends_with("bsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwasi_parallel.so");
    }
}
