//! A compiled, validated guest module. Shareable across threads and instances.

use crate::error::{Error, ErrorCode, Result};
use crate::runtime::Engine;

/// A validated WebAssembly module, compiled once for its engine.
#[derive(Clone)]
pub struct Module {
    engine: Engine,
    inner: wasmi::Module,
}

impl Module {
    /// Compiles `bytes`, which may be binary wasm or WAT text.
    ///
    /// Errors: `InvalidModule` with what is wrong and where (the byte offset
    /// wasmparser reports, or the line:column of a WAT parse error).
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Self> {
        if bytes.len() > engine.config().max_module_bytes {
            return Err(Error::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "module of {} bytes exceeds the limit of {} bytes",
                    bytes.len(),
                    engine.config().max_module_bytes
                ),
            ));
        }
        let wasm = to_binary(bytes)?;
        // Host functions reach the default memory through an export
        // (`memory_alias`). wasmi 2.0.0 miscompiles some `select`s
        // (fuzz/README.md, finding 5): compile the guarded module; should
        // it fail, the original, so that errors name the offsets of the
        // bytes the caller passed.
        let aliased = crate::runtime::memory_alias::add_memory_alias(&wasm);
        let base = aliased.as_deref().unwrap_or(&wasm);
        let guarded = crate::wasmi_select_fix::guard_selects(base).ok().flatten();
        let compiled = guarded
            .and_then(|g| wasmi::Module::new(engine.wasmi(), &g[..]).ok())
            .or_else(|| {
                aliased
                    .as_ref()
                    .and_then(|a| wasmi::Module::new(engine.wasmi(), &a[..]).ok())
            });
        let inner = match compiled {
            Some(inner) => inner,
            None => wasmi::Module::new(engine.wasmi(), &wasm[..]).map_err(|e| {
                Error::new(ErrorCode::InvalidModule, format!("invalid module: {e}"))
            })?,
        };
        Ok(Self {
            engine: engine.clone(),
            inner,
        })
    }

    /// Reads and compiles a `.wasm` or `.wat` file.
    pub fn from_file(engine: &Engine, path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorCode::Io,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Self::new(engine, &bytes)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn wasmi(&self) -> &wasmi::Module {
        &self.inner
    }

    /// Names and descriptions of the imports (`module.field: type`).
    pub fn imports(&self) -> Vec<(String, String, String)> {
        self.inner
            .imports()
            .map(|i| {
                (
                    i.module().to_string(),
                    i.name().to_string(),
                    crate::runtime::types::describe_extern(i.ty()),
                )
            })
            .collect()
    }

    /// Names and descriptions of the exports.
    pub fn exports(&self) -> Vec<(String, String)> {
        self.inner
            .exports()
            .filter(|e| e.name() != crate::runtime::memory_alias::MEMORY_ALIAS)
            .map(|e| {
                (
                    e.name().to_string(),
                    crate::runtime::types::describe_extern(e.ty()),
                )
            })
            .collect()
    }
}

/// Turns WAT text into binary wasm; binary input passes through unchanged.
impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("imports", &self.inner.imports().len())
            .field("exports", &self.exports().len())
            .finish()
    }
}

pub(crate) fn to_binary(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>> {
    if bytes.starts_with(b"\0asm") {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        Error::new(
            ErrorCode::InvalidModule,
            "invalid module: neither binary wasm (no \\0asm magic) nor UTF-8 WAT text",
        )
    })?;
    if !text.trim_start().starts_with('(') && !text.trim_start().starts_with(";;") {
        return Err(Error::new(
            ErrorCode::InvalidModule,
            "invalid module: neither binary wasm (no \\0asm magic) nor WAT text",
        ));
    }
    parse_wat(text)
}

#[cfg(feature = "wat")]
fn parse_wat(text: &str) -> Result<std::borrow::Cow<'static, [u8]>> {
    wat::parse_str(text)
        .map(std::borrow::Cow::Owned)
        .map_err(|e| {
            let msg = e.to_string().replace('\n', " ");
            Error::new(ErrorCode::InvalidModule, format!("invalid WAT: {msg}"))
        })
}

/// Built without the `wat` cargo feature (embedded footprint): text is
/// recognised, and refused with a message that says why.
#[cfg(not(feature = "wat"))]
fn parse_wat(_text: &str) -> Result<std::borrow::Cow<'static, [u8]>> {
    Err(Error::new(
        ErrorCode::InvalidModule,
        "invalid module: WAT text is not supported by this build (cargo feature `wat` is off); pass binary wasm",
    ))
}

#[cfg(test)]
mod tests {
    use super::to_binary;

    const TEXT: &[u8] = b"(module (func (export \"f\")))";

    #[test]
    fn binary_passes_through() {
        let wasm = b"\0asm\x01\0\0\0";
        assert_eq!(&*to_binary(wasm).unwrap(), &wasm[..]);
    }

    #[cfg(feature = "wat")]
    #[test]
    fn wat_text_is_assembled() {
        assert!(to_binary(TEXT).unwrap().starts_with(b"\0asm"));
    }

    #[cfg(not(feature = "wat"))]
    #[test]
    fn wat_text_is_refused_without_the_feature() {
        let e = to_binary(TEXT).unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::InvalidModule);
        assert!(e.to_string().contains("cargo feature `wat`"), "{e}");
    }
}
