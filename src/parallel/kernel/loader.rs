//! Decoding and checking a kernel module against the kernel ABI (the rules
//! are in `crate::kernel_abi`) and rewriting its memory import into a form
//! wasmi accepts.
//!
//! Accepted: exactly one import, a 32-bit memory with 64 KiB pages, under any
//! module/field names; its `shared` flag and declared maximum are ignored (the
//! import is re-encoded as a plain memory with the same minimum and no
//! maximum, because wasmi rejects shared memories and the runtime gives the
//! kernel more pages than the maximum when buffers follow its region). An
//! exported function `kernel` with only `i32` params, at least 3 and an odd
//! count, and no results. Active data segments must lie inside `[0, R)`, the
//! kernel's own region, so that instantiating a worker never writes into the
//! shared buffers.

use super::super::errno::{ParError, ParResult};
use crate::kernel_abi::{self, KERNEL_EXPORT, WASM_PAGE_LOG2};
use wasmparser::{
    CompositeInnerType, DataKind, ExternalKind, Operator, Parser, Payload, TypeRef, ValType,
};

/// What the loader learned about a kernel.
#[derive(Clone, Debug)]
pub struct KernelShape {
    /// Size of the kernel's own region in bytes: the declared minimum of its
    /// memory import.
    pub private_size: u64,
    /// Number of `(ptr, len)` buffer pairs the `kernel` export takes.
    pub num_buffer_params: usize,
    /// The module with the memory import rewritten (ready for wasmi).
    pub rewritten: Vec<u8>,
    /// Whether any of its functions has a `loop`.
    pub has_loop: bool,
    /// Size of its code section in bytes (0 without one).
    pub code_bytes: u64,
}

fn bad(msg: impl Into<String>) -> ParError {
    ParError::invalid_kernel(msg)
}

fn bin_err(e: wasmparser::BinaryReaderError) -> ParError {
    bad(format!("kernel does not decode: {e}"))
}

/// Decodes `bytes`, checks the kernel ABI and returns the rewritten module.
/// Full validation of the code happens when wasmi compiles the result.
pub fn load(bytes: &[u8]) -> ParResult<KernelShape> {
    let mut out = wasm_encoder::Module::new();
    let mut func_types: Vec<Option<(Vec<ValType>, usize)>> = Vec::new();
    let mut defined_funcs: Vec<u32> = Vec::new();
    let mut memory: Option<wasmparser::MemoryType> = None;
    let mut imported_memories = 0usize;
    let mut kernel_export: Option<u32> = None;
    let mut global_inits: Vec<Option<i64>> = Vec::new();
    let mut active_data: Vec<(Option<i64>, u64)> = Vec::new();
    let mut seen_version = false;
    let mut has_loop = false;
    let mut code_bytes = 0u64;

    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(bin_err)?;
        match &payload {
            Payload::Version { encoding, .. } => {
                if *encoding != wasmparser::Encoding::Module {
                    return Err(bad("kernel is a component, not a core module"));
                }
                seen_version = true;
            }
            Payload::TypeSection(reader) => {
                for group in reader.clone() {
                    let group = group.map_err(bin_err)?;
                    for sub in group.into_types() {
                        match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => {
                                func_types.push(Some((f.params().to_vec(), f.results().len())))
                            }
                            _ => func_types.push(None),
                        }
                    }
                }
            }
            Payload::ImportSection(reader) => {
                let (m, count) = rewrite_imports(reader, &mut out)?;
                imported_memories += count;
                memory = m.or(memory);
                continue;
            }
            Payload::FunctionSection(reader) => {
                for f in reader.clone() {
                    defined_funcs.push(f.map_err(bin_err)?);
                }
            }
            Payload::GlobalSection(reader) => {
                for g in reader.clone() {
                    let g = g.map_err(bin_err)?;
                    global_inits.push(const_i32(&g.init_expr, &[]));
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader.clone() {
                    let e = e.map_err(bin_err)?;
                    if e.name == KERNEL_EXPORT {
                        if e.kind != ExternalKind::Func {
                            return Err(bad("export `kernel` is not a function"));
                        }
                        kernel_export = Some(e.index);
                    }
                }
            }
            Payload::CodeSectionStart { size, .. } => code_bytes = u64::from(*size),
            // Undecodable bodies are left to the validator, which runs next.
            Payload::CodeSectionEntry(body) if !has_loop => {
                if let Ok(mut ops) = body.get_operators_reader() {
                    while let Ok(op) = ops.read() {
                        if matches!(op, wasmparser::Operator::Loop { .. }) {
                            has_loop = true;
                            break;
                        }
                    }
                }
            }
            Payload::DataSection(reader) => {
                for d in reader.clone() {
                    let d = d.map_err(bin_err)?;
                    if let DataKind::Active {
                        memory_index,
                        offset_expr,
                    } = &d.kind
                    {
                        if *memory_index == 0 {
                            active_data
                                .push((const_i32(offset_expr, &global_inits), d.data.len() as u64));
                        }
                    }
                }
            }
            _ => {}
        }
        if let Some((id, range)) = payload.as_section() {
            let data = bytes
                .get(range)
                .ok_or_else(|| bad("kernel section out of range"))?;
            out.section(&wasm_encoder::RawSection { id, data });
        }
    }
    if !seen_version {
        return Err(bad("empty kernel"));
    }
    if imported_memories != 1 {
        return Err(bad(format!(
            "kernel must import exactly one memory, it imports {imported_memories}"
        )));
    }
    let memory = memory.ok_or_else(|| bad("kernel must import exactly one memory"))?;
    let private_size = kernel_abi::region_size(memory.initial)
        .ok_or_else(|| bad("kernel memory minimum exceeds 4 GiB"))?;

    let num_buffer_params = kernel_signature(kernel_export, &defined_funcs, &func_types)?;
    check_data_segments(&active_data, private_size)?;
    // wasmi 2.0.0 miscompiles some `select`s (fuzz/README.md, finding 5);
    // both engines get the same guarded module. A body the rewrite cannot
    // decode is invalid: the unchanged module goes on to the validator,
    // which rejects it with its usual message.
    let rewritten = out.finish();
    let rewritten = crate::wasmi_select_fix::guard_selects(&rewritten)
        .ok()
        .flatten()
        .unwrap_or(rewritten);
    Ok(KernelShape {
        private_size,
        num_buffer_params,
        rewritten,
        has_loop,
        code_bytes,
    })
}

/// Re-encodes the import section into `out`: each memory import as a plain
/// memory (same minimum, no maximum, not shared); any other import is an
/// error. Returns the last memory import and how many there were.
fn rewrite_imports(
    reader: &wasmparser::ImportSectionReader<'_>,
    out: &mut wasm_encoder::Module,
) -> ParResult<(Option<wasmparser::MemoryType>, usize)> {
    let mut memory = None;
    let mut imported_memories = 0usize;
    let mut imports = wasm_encoder::ImportSection::new();
    for import in reader.clone() {
        let import = import.map_err(bin_err)?;
        match import.ty {
            TypeRef::Memory(m) => {
                imported_memories += 1;
                if m.memory64 {
                    return Err(bad("kernel memory must be 32-bit, not memory64"));
                }
                if m.page_size_log2.is_some_and(|p| p != WASM_PAGE_LOG2) {
                    return Err(bad("kernel memory must use 64 KiB pages"));
                }
                if kernel_abi::region_size(m.initial).is_none() {
                    return Err(bad("kernel memory minimum exceeds 4 GiB"));
                }
                memory = Some(m);
                imports.import(
                    import.module,
                    import.name,
                    wasm_encoder::EntityType::Memory(wasm_encoder::MemoryType {
                        minimum: m.initial,
                        maximum: None,
                        memory64: false,
                        shared: false,
                        page_size_log2: None,
                    }),
                );
            }
            other => {
                let what = match other {
                    TypeRef::Func(_) => "function",
                    TypeRef::Table(_) => "table",
                    TypeRef::Global(_) => "global",
                    TypeRef::Tag(_) => "tag",
                    TypeRef::Memory(_) => "memory",
                };
                return Err(bad(format!(
                    "kernel imports {what} `{}`.`{}`: a kernel may import only its memory",
                    import.module, import.name
                )));
            }
        }
    }
    out.section(&imports);
    Ok((memory, imported_memories))
}

/// Checks the exported `kernel`'s signature: only `i32` params, the fixed
/// three and one `(ptr, len)` pair per buffer, no results. Returns the
/// number of buffer pairs.
fn kernel_signature(
    kernel_export: Option<u32>,
    defined_funcs: &[u32],
    func_types: &[Option<(Vec<ValType>, usize)>],
) -> ParResult<usize> {
    let func = kernel_export.ok_or_else(|| bad("kernel exports no function `kernel`"))?;
    let type_index = defined_funcs
        .get(func as usize)
        .ok_or_else(|| bad("export `kernel` refers to an unknown function"))?;
    let (params, results) = func_types
        .get(*type_index as usize)
        .and_then(|t| t.clone())
        .ok_or_else(|| bad("export `kernel` has an unknown type"))?;
    if results != 0 {
        return Err(bad("function `kernel` must return nothing"));
    }
    if params.iter().any(|p| *p != ValType::I32) {
        return Err(bad("function `kernel` must take only i32 params"));
    }
    let num_buffer_params = kernel_abi::buffer_pairs(params.len()).ok_or_else(|| {
        bad(format!(
            "function `kernel` must take (iteration_id, num_iterations, block_size) and one (ptr, len) pair per buffer; it takes {} params",
            params.len()
        ))
    })?;
    Ok(num_buffer_params)
}

/// Checks that every active data segment `(offset, len)` lies inside the
/// kernel's own region `[0, private_size)`.
fn check_data_segments(active_data: &[(Option<i64>, u64)], private_size: u64) -> ParResult<()> {
    for &(offset, len) in active_data {
        let offset = offset.ok_or_else(|| {
            bad("kernel data segment offset is not a constant the loader understands")
        })?;
        let offset = offset as u32 as u64;
        if !kernel_abi::segment_in_region(offset, len, private_size) {
            return Err(bad(format!(
                "kernel data segment [{offset}, {}) lies outside its own region [0, {private_size})",
                offset + len
            )));
        }
    }
    Ok(())
}

/// The JIT's form of a kernel: `rewritten` (as [`load`] returns it) with
/// its memory import turned into memory 0 *defined* by the module (minimum
/// `R`, no maximum). Wasmtime hands only defined memories to a custom memory
/// creator, which is how a worker's window (private `[0, R)` followed by the
/// shared buffer pages) becomes the kernel's memory. The kernel sees the same
/// indices (memory 0 stays memory 0; the import was the only import).
pub fn define_memory(rewritten: &[u8]) -> ParResult<Vec<u8>> {
    // Position of a non-custom section in the module order.
    fn rank(id: u8) -> u8 {
        match id {
            1..=5 => id,     // type, import, function, table, memory
            13 => 6,         // tag
            6..=9 => id + 1, // global, export, start, element
            12 => 11,        // data count
            10 => 12,        // code
            11 => 13,        // data
            _ => 0,
        }
    }
    let mut out = wasm_encoder::Module::new();
    let mut memory: Option<wasm_encoder::MemoryType> = None;
    let mut emitted = false;
    for payload in Parser::new(0).parse_all(rewritten) {
        let payload = payload.map_err(bin_err)?;
        match &payload {
            Payload::ImportSection(reader) => {
                for import in reader.clone() {
                    if let TypeRef::Memory(m) = import.map_err(bin_err)?.ty {
                        memory = Some(wasm_encoder::MemoryType {
                            minimum: m.initial,
                            maximum: None,
                            memory64: false,
                            shared: false,
                            page_size_log2: None,
                        });
                    }
                }
                continue;
            }
            Payload::MemorySection(reader) => {
                let mut section = wasm_encoder::MemorySection::new();
                section.memory(memory.ok_or_else(|| bad("kernel memory import missing"))?);
                for m in reader.clone() {
                    let m = m.map_err(bin_err)?;
                    section.memory(wasm_encoder::MemoryType {
                        minimum: m.initial,
                        maximum: m.maximum,
                        memory64: m.memory64,
                        shared: m.shared,
                        page_size_log2: m.page_size_log2,
                    });
                }
                out.section(&section);
                emitted = true;
                continue;
            }
            _ => {}
        }
        if let Some((id, range)) = payload.as_section() {
            if !emitted && rank(id) > 5 {
                let mut section = wasm_encoder::MemorySection::new();
                section.memory(memory.ok_or_else(|| bad("kernel memory import missing"))?);
                out.section(&section);
                emitted = true;
            }
            let data = rewritten
                .get(range)
                .ok_or_else(|| bad("kernel section out of range"))?;
            out.section(&wasm_encoder::RawSection { id, data });
        }
    }
    if !emitted {
        let mut section = wasm_encoder::MemorySection::new();
        section.memory(memory.ok_or_else(|| bad("kernel memory import missing"))?);
        out.section(&section);
    }
    Ok(out.finish())
}

/// Value of a constant expression made of `i32.const` or `global.get` of an
/// earlier constant global.
fn const_i32(expr: &wasmparser::ConstExpr<'_>, globals: &[Option<i64>]) -> Option<i64> {
    let mut reader = expr.get_operators_reader();
    let value = match reader.read().ok()? {
        Operator::I32Const { value } => value as i64,
        Operator::GlobalGet { global_index } => (*globals.get(global_index as usize)?)?,
        _ => return None,
    };
    match reader.read().ok()? {
        Operator::End => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(s: &str) -> Vec<u8> {
        wat::parse_str(s).unwrap()
    }

    #[test]
    fn prototype_style_kernel_loads() {
        let k = wat(r#"(module (memory (import "" "memory") 1 1 shared)
            (func (export "kernel") (param i32 i32 i32 i32 i32)))"#);
        let s = load(&k).unwrap();
        assert_eq!(s.private_size, 65536);
        assert_eq!(s.num_buffer_params, 1);
        let engine = wasmi::Engine::default();
        wasmi::Module::new(&engine, &s.rewritten).unwrap();
    }

    #[test]
    fn rejects() {
        let cases = [
            "(module)",
            r#"(module (memory (import "a" "m") 1) (func (export "kernel") (param i32 i32)))"#,
            r#"(module (memory (import "a" "m") 1) (func (export "kernel") (param i32 i32 i32 i32)))"#,
            r#"(module (memory (import "a" "m") 1) (func (export "kernel") (param i32 i32 i32) (result i32) i32.const 0))"#,
            r#"(module (memory (import "a" "m") 1) (func (export "kernel") (param i32 i32 i64)))"#,
            r#"(module (memory (import "a" "m") 1) (func (export "kern") (param i32 i32 i32)))"#,
            r#"(module (import "a" "f" (func)) (memory (import "a" "m") 1) (func (export "kernel") (param i32 i32 i32)))"#,
            r#"(module (memory 1) (func (export "kernel") (param i32 i32 i32)))"#,
            r#"(module (memory (import "a" "m") 1) (data (i32.const 65530) "0123456789") (func (export "kernel") (param i32 i32 i32)))"#,
        ];
        for c in cases {
            let e = load(&wat(c)).unwrap_err();
            assert_eq!(e.errno, crate::parallel::errno::Errno::InvalidKernel, "{c}");
        }
        assert!(load(b"\0asm\x01\0\0\0garbage").is_err());
        assert!(load(b"").is_err());
        assert!(load(b"not wasm at all").is_err());
    }
}
