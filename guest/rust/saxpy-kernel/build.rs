// The kernel ABI's memory: one imported memory whose declared minimum (R,
// here 64 KiB) is the kernel's private region; a 16 KiB shadow stack at its
// bottom (--stack-first), static data above it. The runtime maps buffers
// at or above R.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        for arg in [
            "--import-memory",
            "--stack-first",
            "-zstack-size=16384",
            "--initial-memory=65536",
        ] {
            println!("cargo:rustc-link-arg-cdylib={arg}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
