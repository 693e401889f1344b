//! Host functions ("natives") that an embedder registers for guests to import.
//!
//! A native is a name, a wasm function type and a callback. The callback gets
//! a [`NativeCaller`] (for bounds-checked access to the calling guest's
//! memory), the arguments, and a slice to write the results into. Returning
//! `Err` aborts the guest with a `Host` trap carrying the message.

use std::sync::Arc;

use wasmi::{FuncType, Val, ValType};

use crate::error::{Error, ErrorCode, Result};
use crate::runtime::instance::HostState;

/// The callback of a native function.
pub type NativeCallback =
    Arc<dyn Fn(&mut NativeCaller<'_, '_>, &[Val], &mut [Val]) -> Result<()> + Send + Sync>;

/// What a native function sees of its caller: the guest memory.
pub struct NativeCaller<'a, 'b> {
    pub(crate) caller: &'a mut wasmi::Caller<'b, HostState>,
}

impl NativeCaller<'_, '_> {
    fn memory(&mut self) -> Option<wasmi::Memory> {
        crate::runtime::memory_alias::guest_memory(self.caller)
    }

    /// The calling guest's whole linear memory (the export `memory`, else
    /// its default memory), if any.
    pub fn memory_mut(&mut self) -> Option<&mut [u8]> {
        let mem = self.memory()?;
        Some(mem.data_mut(&mut *self.caller))
    }

    /// Checks that `[offset, offset+len)` lies in guest memory and returns it.
    pub fn slice_mut(&mut self, offset: u32, len: u32) -> Result<&mut [u8]> {
        let mem = self
            .memory_mut()
            .ok_or_else(|| Error::new(ErrorCode::NotFound, "the guest has no memory"))?;
        checked_range(mem.len(), offset as u64, len as u64).map(move |r| &mut mem[r])
    }

    /// Reads a NUL-terminated string at `offset` (must end inside memory, valid UTF-8).
    pub fn c_str(&mut self, offset: u32) -> Result<String> {
        let mem = self
            .memory_mut()
            .ok_or_else(|| Error::new(ErrorCode::NotFound, "the guest has no memory"))?;
        let start = offset as usize;
        if start >= mem.len() {
            return Err(oob(offset as u64, 1, mem.len()));
        }
        let end = mem[start..]
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| Error::new(ErrorCode::OutOfBounds, "string runs past guest memory"))?;
        String::from_utf8(mem[start..start + end].to_vec())
            .map_err(|_| Error::invalid_argument("guest string is not UTF-8"))
    }
}

pub(crate) fn oob(offset: u64, len: u64, mem_len: usize) -> Error {
    Error::new(
        ErrorCode::OutOfBounds,
        format!(
            "guest range [{offset}, {offset}+{len}) is outside guest memory of {mem_len} bytes"
        ),
    )
}

/// `offset..offset+len` if it lies inside a memory of `mem_len` bytes.
pub(crate) fn checked_range(
    mem_len: usize,
    offset: u64,
    len: u64,
) -> Result<std::ops::Range<usize>> {
    match offset.checked_add(len) {
        Some(end) if end <= mem_len as u64 => Ok(offset as usize..end as usize),
        _ => Err(oob(offset, len, mem_len)),
    }
}

#[derive(Clone)]
pub(crate) struct NativeFunc {
    pub module: String,
    pub name: String,
    pub ty: FuncType,
    pub callback: NativeCallback,
}

/// A set of host functions to offer to guests at instantiation.
#[derive(Clone, Default)]
pub struct Natives {
    pub(crate) funcs: Vec<NativeFunc>,
}

/// Import modules whose functions the runtime defines itself: a native
/// there would clash with them when an instance is linked.
const RESERVED_MODULES: [(&str, &str); 2] = [
    ("wasi_snapshot_preview1", "WASI preview 1"),
    (crate::parallel::api::MODULE, "wasi-parallel"),
];

impl Natives {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `module.name` with the given signature. A second definition of the
    /// same name, or one in a module the runtime defines itself (WASI's
    /// `wasi_snapshot_preview1`, `wasi_ephemeral_parallel`), is an error
    /// (`InvalidArgument`).
    pub fn define(
        &mut self,
        module: &str,
        name: &str,
        params: &[ValType],
        results: &[ValType],
        callback: NativeCallback,
    ) -> Result<()> {
        if let Some(what) = RESERVED_MODULES
            .iter()
            .find(|(m, _)| *m == module)
            .map(|(_, what)| what)
        {
            return Err(Error::invalid_argument(format!(
                "native `{module}.{name}`: module `{module}` is the runtime's own ({what}); \
                 natives go in another module"
            )));
        }
        if self
            .funcs
            .iter()
            .any(|f| f.module == module && f.name == name)
        {
            return Err(Error::invalid_argument(format!(
                "native `{module}.{name}` is already defined"
            )));
        }
        self.funcs.push(NativeFunc {
            module: module.to_string(),
            name: name.to_string(),
            ty: FuncType::new(params.iter().copied(), results.iter().copied()),
            callback,
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.funcs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.funcs.is_empty()
    }

    pub(crate) fn add_to_linker(&self, linker: &mut wasmi::Linker<HostState>) -> Result<()> {
        for f in &self.funcs {
            let cb = f.callback.clone();
            linker
                .func_new(
                    &f.module,
                    &f.name,
                    f.ty.clone(),
                    move |mut caller, args, results| {
                        let mut nc = NativeCaller {
                            caller: &mut caller,
                        };
                        cb(&mut nc, args, results).map_err(|e| wasmi::Error::new(e.to_string()))
                    },
                )
                .map_err(|e| {
                    Error::invalid_argument(format!(
                        "cannot define native `{}.{}`: {e}",
                        f.module, f.name
                    ))
                })?;
        }
        Ok(())
    }
}
