//! Translates a kernel (.wasm or .wat) to SPIR-V: `cargo run --example translate -- kernel.wat out.spv`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: translate KERNEL.wasm|.wat OUT.spv");
        std::process::exit(2);
    }
    let bytes = wat::parse_file(&args[1])?;
    let t = wasi_parallel::spirv::translate_kernel(&bytes, &Default::default())?;
    std::fs::write(&args[2], wasi_parallel::spirv::words_to_bytes(&t.words))?;
    eprintln!(
        "{} words, R = {}, {} buffers, {} data segments",
        t.words.len(),
        t.region_size,
        t.num_buffers,
        t.data_segments.len()
    );
    Ok(())
}
