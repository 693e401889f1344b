//! The guest's default memory for host functions.
//!
//! Host functions (the `wasi_ephemeral_parallel` imports, embedder
//! natives) take pointers into "the calling guest's exported/default
//! memory" (ABI.md section 1). wasmi lets a host function reach only the
//! caller's exports, so a guest that keeps its memory unexported, or
//! exports it under another name, would be left without one. At load
//! time such a module gets one more export, [`MEMORY_ALIAS`], naming memory
//! 0 (its default memory, imported or defined); `guest_memory` looks for
//! `memory` first, then for the alias. The guest cannot see the extra
//! export, and [`crate::Module::exports`] leaves it out. Modules that export
//! a memory named `memory`, or have no memory, are left as they are.

use wasm_encoder::Encode;
use wasmparser::{ExternalKind, Parser, Payload, TypeRef};

/// The name of the added export (not a name a toolchain writes).
pub const MEMORY_ALIAS: &str = "__wasi_parallel_default_memory";

/// The memory host functions use: the export `memory` if it is a memory,
/// else the alias of memory 0.
pub(crate) fn guest_memory<T>(caller: &wasmi::Caller<'_, T>) -> Option<wasmi::Memory> {
    caller
        .get_export("memory")
        .and_then(wasmi::Extern::into_memory)
        .or_else(|| {
            caller
                .get_export(MEMORY_ALIAS)
                .and_then(wasmi::Extern::into_memory)
        })
}

/// [`guest_memory`] for an instance (the embedder's view).
pub(crate) fn instance_memory<T>(
    instance: &wasmi::Instance,
    store: &wasmi::Store<T>,
) -> Option<wasmi::Memory> {
    instance
        .get_memory(store, "memory")
        .or_else(|| instance.get_memory(store, MEMORY_ALIAS))
}

/// `wasm` with the export [`MEMORY_ALIAS`] of memory 0 added, or `None`
/// when it needs none (no memory, or a memory exported as `memory`) or does
/// not decode (the caller then compiles the original, whose error it
/// reports).
pub(crate) fn add_memory_alias(wasm: &[u8]) -> Option<Vec<u8>> {
    let mut has_memory = false;
    let mut has_exports = false;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => return None,
            Payload::ImportSection(r) => {
                for i in r {
                    if matches!(i.ok()?.ty, TypeRef::Memory(_)) {
                        has_memory = true;
                    }
                }
            }
            Payload::MemorySection(r) => has_memory |= r.count() > 0,
            Payload::ExportSection(r) => {
                has_exports = true;
                for e in r {
                    let e = e.ok()?;
                    if e.name == MEMORY_ALIAS
                        || (e.name == "memory" && e.kind == ExternalKind::Memory)
                    {
                        return None;
                    }
                }
            }
            _ => {}
        }
    }
    if !has_memory {
        return None;
    }
    let mut entry = Vec::new();
    MEMORY_ALIAS.encode(&mut entry);
    entry.push(0x02); // memory
    0u32.encode(&mut entry);
    let mut out = Vec::with_capacity(wasm.len() + entry.len() + 8);
    out.extend_from_slice(wasm.get(..8)?);
    let mut added = false;
    for payload in Parser::new(0).parse_all(wasm) {
        let Some((id, range)) = payload.ok()?.as_section() else {
            continue;
        };
        let data = wasm.get(range)?;
        if id == 7 {
            let mut r = wasmparser::BinaryReader::new(data, 0);
            let count = r.read_var_u32().ok()?;
            let mut body = Vec::with_capacity(data.len() + entry.len() + 5);
            (count.checked_add(1)?).encode(&mut body);
            body.extend_from_slice(&data[r.original_position()..]);
            body.extend_from_slice(&entry);
            push_section(&mut out, 7, &body);
            added = true;
            continue;
        }
        // Without an export section, a new one goes before the first
        // section that follows exports: start, element, data count, code,
        // data.
        if !has_exports && !added && matches!(id, 8..=12) {
            let mut body = vec![1];
            body.extend_from_slice(&entry);
            push_section(&mut out, 7, &body);
            added = true;
        }
        push_section(&mut out, id, data);
    }
    if !added {
        let mut body = vec![1];
        body.extend_from_slice(&entry);
        push_section(&mut out, 7, &body);
    }
    Some(out)
}

fn push_section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    body.len().encode(out);
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(wasm: &[u8]) -> Vec<(String, ExternalKind, u32)> {
        let mut v = Vec::new();
        for p in Parser::new(0).parse_all(wasm) {
            if let Payload::ExportSection(r) = p.unwrap() {
                for e in r {
                    let e = e.unwrap();
                    v.push((e.name.to_string(), e.kind, e.index));
                }
            }
        }
        v
    }

    #[test]
    fn the_alias_names_memory_zero_and_the_module_still_validates() {
        let alias = (MEMORY_ALIAS.to_string(), ExternalKind::Memory, 0);
        for (wat, want) in [
            // No export section; code and data after it; a custom section.
            (
                r#"(module (memory 1) (func (export "f")) (data (i32.const 0) "x")
                   (@custom "c" "y"))"#,
                None,
            ),
            ("(module (memory 1))", None),
            ("(module (memory 1) (start 0) (func))", None),
            (
                r#"(module (memory 2) (export "mem" (memory 0)) (func (export "f")))"#,
                Some(vec![
                    ("mem".to_string(), ExternalKind::Memory, 0),
                    ("f".to_string(), ExternalKind::Func, 0),
                ]),
            ),
            (
                r#"(module (import "env" "m" (memory 1)) (func (export "memory")))"#,
                Some(vec![("memory".to_string(), ExternalKind::Func, 0)]),
            ),
        ] {
            let wasm = wat::parse_str(wat).unwrap();
            let out = add_memory_alias(&wasm).unwrap_or_else(|| panic!("{wat}"));
            wasmparser::Validator::new().validate_all(&out).unwrap();
            let mut want = want.unwrap_or_else(|| exports(&wasm));
            want.push(alias.clone());
            assert_eq!(exports(&out), want, "{wat}");
        }
        for wat in [
            r#"(module (memory (export "memory") 1))"#,
            "(module (func))",
            r#"(module (memory 1) (func (export "__wasi_parallel_default_memory")))"#,
        ] {
            assert!(
                add_memory_alias(&wat::parse_str(wat).unwrap()).is_none(),
                "{wat}"
            );
        }
        assert!(add_memory_alias(b"\0asm\x01\0\0\0\x07\xff").is_none());
    }
}
