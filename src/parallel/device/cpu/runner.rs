//! A loop around `kernel`, generated into the JIT's form of a kernel, so
//! that a worker runs a whole range of iterations with one entry into
//! compiled code instead of one per iteration.
//!
//! Entering wasmtime-compiled code from the host costs a trampoline, the
//! store's entry bookkeeping and a trap-handling frame: tens of
//! nanoseconds, more than a one-element kernel's own work (BENCHMARKS.md,
//! "Block size 1"). The generated function
//!
//! ```text
//! (func $run (param $i i32) (param $end i32) (param $n i32) (param $bs i32)
//!            (param $p0 i32) (param $l0 i32) ...
//!   (block (br_if 0 (i32.ge_u $i $end))
//!     (loop
//!       (call $kernel (local.get $i) (local.get $n) (local.get $bs) (local.get $p0) ...)
//!       (br_if 0 (i32.lt_u (local.tee $i (i32.add $i 1)) $end)))))
//! ```
//!
//! is exported as [`RUN_EXPORT`], with the kernel's body inlined where it
//! can be. For block size 1 (one element per iteration, a GPU-style
//! kernel) a second copy, [`RUN_BS1_EXPORT`], has the block size as the
//! constant 1, so Cranelift folds the kernel's `iteration * block_size`
//! arithmetic (jacobi-1d: 3% fewer instructions per iteration, BENCHMARKS.md).
//! The loop does not record which iteration it is in (a store per
//! iteration, 8% of a one-element iteration): after a trap the worker runs
//! the batch again one iteration at a time to name it (`jit.rs`). The
//! kernel itself is unchanged (same indices: the functions are appended
//! after the existing ones).

use crate::parallel::errno::{ParError, ParResult};
use wasm_encoder::{BlockType, Encode, Function, Instruction, ValType};
use wasmparser::{BinaryReader, ExternalKind, Parser, Payload};

/// The export name of the generated range loop.
pub const RUN_EXPORT: &str = "__wasi_parallel_run_range";
/// The export name of the range loop for block size 1 (the block size
/// param is ignored), when there is one.
pub const RUN_BS1_EXPORT: &str = "__wasi_parallel_run_range_bs1";

/// Kernels whose body is larger than this (bytes of code) get no block
/// size 1 copy: it would double the time to compile them, and a large
/// body's iteration gains little from the folded arithmetic.
const BS1_MAX_BODY: usize = 4096;

fn bad(msg: &str) -> ParError {
    ParError::invalid_kernel(format!("cannot add the range loop: {msg}"))
}

fn bin(e: wasmparser::BinaryReaderError) -> ParError {
    bad(&e.to_string())
}

/// A section's entries after its count (`data` starts with the count).
pub(super) fn entries(data: &[u8]) -> ParResult<(u32, &[u8])> {
    let mut r = BinaryReader::new(data, 0);
    let count = r.read_var_u32().map_err(bin)?;
    Ok((count, &data[r.original_position()..]))
}

/// Appends section `id` with `count` entries: `old` (already encoded) then `new`.
pub(super) fn section(out: &mut Vec<u8>, id: u8, count: u32, old: &[u8], new: &[u8]) {
    let mut body = Vec::new();
    count.encode(&mut body);
    body.extend_from_slice(old);
    body.extend_from_slice(new);
    out.push(id);
    body.len().encode(out);
    out.extend_from_slice(&body);
}

/// `module` (a kernel as the loader checked it: no imported functions,
/// `kernel` exported with i32 params only; the JIT's form defines its
/// memory, the interpreter's imports it) plus the range loops.
pub fn add_range_loop(module: &[u8]) -> ParResult<Vec<u8>> {
    // First pass: the counts and the kernel's index and parameter count.
    let (mut types, mut funcs) = (0u32, Vec::new());
    let mut type_params: Vec<u32> = Vec::new();
    let mut kernel = None;
    let mut bodies: Vec<wasmparser::FunctionBody<'_>> = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload.map_err(bin)? {
            Payload::ImportSection(r) => {
                // Imported functions would shift the function indices;
                // the interpreter's form imports its memory, which is fine.
                for i in r {
                    if matches!(i.map_err(bin)?.ty, wasmparser::TypeRef::Func(_)) {
                        return Err(bad("the kernel imports a function"));
                    }
                }
            }
            Payload::TypeSection(r) => {
                for group in r {
                    for t in group.map_err(bin)?.into_types() {
                        types += 1;
                        let params = match t.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => f.params().len() as u32,
                            _ => u32::MAX,
                        };
                        type_params.push(params);
                    }
                }
            }
            Payload::FunctionSection(r) => {
                for f in r {
                    funcs.push(f.map_err(bin)?);
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.map_err(bin)?;
                    if e.name == "kernel" && e.kind == ExternalKind::Func {
                        kernel = Some(e.index);
                    }
                }
            }
            _ => {}
        }
    }
    let kernel = kernel.ok_or_else(|| bad("no function `kernel`"))?;
    let ty = *funcs
        .get(kernel as usize)
        .ok_or_else(|| bad("`kernel` is not a defined function"))?;
    let params = *type_params
        .get(ty as usize)
        .filter(|&&p| p >= 3 && p != u32::MAX)
        .ok_or_else(|| bad("unexpected `kernel` type"))?;
    let run_index = funcs.len() as u32;

    // The new entries.
    let mut new_type = vec![0x60];
    (params + 1).encode(&mut new_type);
    new_type.extend(std::iter::repeat_n(0x7f, params as usize + 1));
    0u32.encode(&mut new_type);
    let body = bodies.get(kernel as usize);
    // The kernel's body inlined into the loop where it can be (no call per
    // iteration), else a loop calling it.
    let inlined = body.and_then(|b| inlined_body(b, params, None).ok().flatten());
    let bs1 = body
        .filter(|b| inlined.is_some() && b.range().len() <= BS1_MAX_BODY)
        .and_then(|b| inlined_body(b, params, Some(1)).ok().flatten());
    let mut loops = vec![(
        RUN_EXPORT,
        inlined.unwrap_or_else(|| run_body(kernel, params)),
    )];
    loops.extend(bs1.map(|f| (RUN_BS1_EXPORT, f)));
    let (mut new_func, mut new_exports, mut new_code) = (Vec::new(), Vec::new(), Vec::new());
    for (k, (name, f)) in loops.iter().enumerate() {
        types.encode(&mut new_func);
        name.encode(&mut new_exports);
        new_exports.push(0x00);
        (run_index + k as u32).encode(&mut new_exports);
        f.encode(&mut new_code);
    }
    let added = loops.len() as u32;

    // Second pass: copy every section, with the new entries appended.
    let mut out = Vec::with_capacity(module.len() + 256);
    out.extend_from_slice(&module[..8]);
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.map_err(bin)?;
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        let data = &module[range];
        match id {
            1 => {
                let (n, old) = entries(data)?;
                section(&mut out, 1, n + 1, old, &new_type);
            }
            3 => {
                let (n, old) = entries(data)?;
                section(&mut out, 3, n + added, old, &new_func);
            }
            7 => {
                let (n, old) = entries(data)?;
                section(&mut out, 7, n + added, old, &new_exports);
            }
            10 => {
                let (n, old) = entries(data)?;
                section(&mut out, 10, n + added, old, &new_code);
            }
            _ => copy_section(&mut out, id, data),
        }
    }
    Ok(out)
}

/// Appends section `id` whose contents are `data`, as it was.
pub(super) fn copy_section(out: &mut Vec<u8>, id: u8, data: &[u8]) {
    out.push(id);
    data.len().encode(out);
    out.extend_from_slice(data);
}

/// A function body's declared locals, as `wasm_encoder` takes them.
pub(super) fn declared_locals(
    body: &wasmparser::FunctionBody<'_>,
) -> ParResult<Vec<(u32, ValType)>> {
    use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
    let mut declared = Vec::new();
    for l in body.get_locals_reader().map_err(bin)? {
        let (n, t) = l.map_err(bin)?;
        let t = RoundtripReencoder
            .val_type(t)
            .map_err(|e| bad(&e.to_string()))?;
        declared.push((n, t));
    }
    Ok(declared)
}

/// The range loop with the kernel's body inlined: the kernel's params and
/// locals become locals of the loop function (`base + x`), set afresh for
/// every iteration (params from the loop's params, the iteration from the
/// counter, declared locals zero, as a call would), and the body runs in a
/// block that its `return`s (and branches to the function's label) leave
/// for the next iteration. `Ok(None)` for bodies it does not handle (tail
/// calls): the loop then calls `kernel`. With `block_size`, the kernel's
/// block size param is that constant instead of the loop's param.
fn inlined_body(
    body: &wasmparser::FunctionBody<'_>,
    kernel_params: u32,
    block_size: Option<i32>,
) -> ParResult<Option<Function>> {
    use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
    use Instruction as I;
    let (i, end) = (0u32, 1u32);
    // The loop's own params: i, end, then the kernel's after the iteration.
    let base = kernel_params + 1;
    let declared = declared_locals(body)?;
    let mut locals = vec![(kernel_params, ValType::I32)];
    locals.extend(declared.iter().copied());
    let mut f = Function::new(locals);
    loop_head(&mut f, i, end);
    f.instruction(&I::LocalGet(i))
        .instruction(&I::LocalSet(base));
    for p in 1..kernel_params {
        match block_size {
            // Kernel param 2 is the block size.
            Some(bs) if p == 2 => f.instruction(&I::I32Const(bs)),
            _ => f.instruction(&I::LocalGet(p + 1)),
        };
        f.instruction(&I::LocalSet(base + p));
    }
    let mut x = base + kernel_params;
    for (n, t) in &declared {
        for _ in 0..*n {
            let zero = match t {
                ValType::I32 => I::I32Const(0),
                ValType::I64 => I::I64Const(0),
                ValType::F32 => I::F32Const(0.0),
                ValType::F64 => I::F64Const(0.0),
                ValType::V128 => I::V128Const(0),
                ValType::Ref(r) if r.nullable => I::RefNull(r.heap_type),
                ValType::Ref(_) => return Ok(None),
            };
            f.instruction(&zero).instruction(&I::LocalSet(x));
            x += 1;
        }
    }
    f.instruction(&I::Block(BlockType::Empty));
    // Blocks open inside the body (the body's own label is the block above).
    let mut depth = 0u32;
    let mut ops = body.get_operators_reader().map_err(bin)?;
    while !ops.eof() {
        let op = ops.read().map_err(bin)?;
        let ins = RoundtripReencoder
            .instruction(op)
            .map_err(|e| bad(&e.to_string()))?;
        let ins = match ins {
            I::LocalGet(l) => I::LocalGet(base + l),
            I::LocalSet(l) => I::LocalSet(base + l),
            I::LocalTee(l) => I::LocalTee(base + l),
            I::Return => I::Br(depth),
            // Tail calls, legacy exceptions (`delegate` closes a block
            // without `end`): not inlined.
            I::ReturnCall(_)
            | I::ReturnCallIndirect { .. }
            | I::ReturnCallRef(_)
            | I::Try(_)
            | I::Delegate(_) => return Ok(None),
            I::Block(_) | I::Loop(_) | I::If(_) | I::TryTable(..) => {
                depth += 1;
                ins
            }
            I::End if depth == 0 => break, // the function's end
            I::End => {
                depth -= 1;
                ins
            }
            other => other,
        };
        f.instruction(&ins);
    }
    f.instruction(&I::End); // the body's block
    loop_tail(&mut f, i, end);
    Ok(Some(f))
}

/// The body of the range loop calling `kernel` (see the module docs).
fn run_body(kernel: u32, kernel_params: u32) -> Function {
    use Instruction as I;
    let (i, end) = (0u32, 1u32);
    let mut f = Function::new([]);
    loop_head(&mut f, i, end);
    f.instruction(&I::LocalGet(i));
    // n, block size, then the buffer params: locals 2 ..= kernel_params
    for p in 2..=kernel_params {
        f.instruction(&I::LocalGet(p));
    }
    f.instruction(&I::Call(kernel));
    loop_tail(&mut f, i, end);
    f
}

/// The start of both generated loops: skip an empty range, enter the
/// loop.
fn loop_head(f: &mut Function, i: u32, end: u32) {
    use Instruction as I;
    f.instruction(&I::Block(BlockType::Empty))
        .instruction(&I::LocalGet(i))
        .instruction(&I::LocalGet(end))
        .instruction(&I::I32GeU)
        .instruction(&I::BrIf(0))
        .instruction(&I::Loop(BlockType::Empty));
}

/// The end of both generated loops: `i += 1`, loop while `i < end`, then
/// close the loop, its block and the function.
fn loop_tail(f: &mut Function, i: u32, end: u32) {
    use Instruction as I;
    f.instruction(&I::LocalGet(i))
        .instruction(&I::I32Const(1))
        .instruction(&I::I32Add)
        .instruction(&I::LocalTee(i))
        .instruction(&I::LocalGet(end))
        .instruction(&I::I32LtU)
        .instruction(&I::BrIf(0))
        .instruction(&I::End)
        .instruction(&I::End)
        .instruction(&I::End);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The module with the loops still validates (checked by wasmparser)
    /// and keeps the kernel's exports; small inlinable bodies get the
    /// block size 1 copy.
    #[test]
    fn generated_loop_validates_and_keeps_the_kernel() {
        for wat in [
            // no globals at all
            r#"(module (memory 1)
              (func (export "kernel") (param i32 i32 i32 i32 i32)
                (i32.store (i32.add (local.get 3) (i32.shl (local.get 0) (i32.const 2)))
                           (i32.add (local.get 1) (local.get 2)))))"#,
            // a global, a start-less table, a helper before `kernel`
            r#"(module (memory 1) (global $sp (mut i32) (i32.const 16)) (table 1 funcref)
              (func $h (param i32) (result i32) (local.get 0))
              (func (export "kernel") (param i32 i32 i32) (global.set $sp (call $h (local.get 0)))))"#,
        ] {
            let m = add_range_loop(&wat::parse_str(wat).unwrap()).unwrap();
            wasmparser::Validator::new().validate_all(&m).unwrap();
            let mut exports = Vec::new();
            for p in Parser::new(0).parse_all(&m) {
                if let Payload::ExportSection(r) = p.unwrap() {
                    for e in r {
                        exports.push(e.unwrap().name.to_string());
                    }
                }
            }
            assert_eq!(exports, ["kernel", RUN_EXPORT, RUN_BS1_EXPORT]);
        }
        assert!(add_range_loop(
            &wat::parse_str(
                r#"(module (import "a" "b" (func)) (func (export "kernel") (param i32 i32 i32)))"#
            )
            .unwrap()
        )
        .is_err());
    }

    /// The range loop (inlined) leaves memory exactly as calling `kernel`
    /// once per iteration does, for a body that relies on its declared
    /// locals starting at zero, overwrites its params, returns early, and
    /// branches to its function label from inside blocks; a body with a
    /// tail call gets the calling loop, with the same result.
    #[test]
    fn range_loop_runs_like_one_call_per_iteration() {
        let kernel = |tail: bool| {
            format!(
                r#"(module (memory (export "memory") 1) (global $g (mut i32) (i32.const 0))
              (func $h (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
              (func $t (param i32 i32 i32 i32 i32) (i32.store offset=400 (local.get 3) (local.get 0)))
              (func (export "kernel") (param $i i32) (param $n i32) (param $b i32) (param $p i32) (param $l i32)
                (local $acc i32) (local $f f64)
                (local.set $acc (i32.add (local.get $acc) (i32.const 7)))
                (local.set $f (f64.add (local.get $f) (f64.const 1.5)))
                (local.set $p (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2))))
                (i32.store (local.get $p) (i32.add (local.get $acc) (call $h (local.get $i))))
                (global.set $g (i32.add (global.get $g) (i32.const 1)))
                (if (i32.and (local.get $i) (i32.const 1)) (then (return)))
                (block (block
                  (br_if 2 (i32.eqz (i32.rem_u (local.get $i) (i32.const 3))))
                  (i32.store offset=200 (local.get $p) (i32.trunc_f64_s (local.get $f)))))
                {}
                (i32.store offset=100 (local.get $p) (i32.add (local.get $b) (local.get $n))))
              (export "g" (global $g)))"#,
                if tail {
                    "(return_call $t (local.get $i) (local.get $n) (local.get $b) (local.get $p) (local.get $l))"
                } else {
                    ""
                }
            )
        };
        for tail in [false, true] {
            let plain = wat::parse_str(kernel(tail)).unwrap();
            let looped = add_range_loop(&plain).unwrap();
            wasmparser::Validator::new().validate_all(&looped).unwrap();
            // Run on wasmi (in every build); the JIT runs the same module
            // (`jit.rs` tests, the spec suite's JIT engines).
            let engine = wasmi::Engine::default();
            let run = |bytes: &[u8], looped: bool| -> (Vec<u8>, i32) {
                let module = wasmi::Module::new(&engine, bytes).unwrap();
                let mut store = wasmi::Store::new(&engine, ());
                let inst = wasmi::Instance::new(&mut store, &module, &[]).unwrap();
                if looped {
                    let f = inst
                        .get_typed_func::<(i32, i32, i32, i32, i32, i32), ()>(&store, RUN_EXPORT)
                        .unwrap();
                    f.call(&mut store, (2, 9, 20, 5, 1000, 64)).unwrap();
                    // An empty range.
                    f.call(&mut store, (9, 9, 20, 5, 1000, 64)).unwrap();
                    // The block size 1 copy ignores its block size param.
                    match inst.get_typed_func::<(i32, i32, i32, i32, i32, i32), ()>(
                        &store,
                        RUN_BS1_EXPORT,
                    ) {
                        Ok(f) => f.call(&mut store, (11, 14, 20, 77, 1000, 64)).unwrap(),
                        Err(_) => assert!(tail, "no block size 1 copy"),
                    }
                } else {
                    let f = inst
                        .get_typed_func::<(i32, i32, i32, i32, i32), ()>(&store, "kernel")
                        .unwrap();
                    for i in 2..9 {
                        f.call(&mut store, (i, 20, 5, 1000, 64)).unwrap();
                    }
                    if !tail {
                        for i in 11..14 {
                            f.call(&mut store, (i, 20, 1, 1000, 64)).unwrap();
                        }
                    }
                }
                let mem = inst
                    .get_memory(&store, "memory")
                    .map(|m| m.data(&store)[..2048].to_vec());
                let g = inst
                    .get_global(&store, "g")
                    .unwrap()
                    .get(&store)
                    .i32()
                    .unwrap();
                (mem.unwrap_or_default(), g)
            };
            // Inlined: the loops (functions 3 and 4) call `kernel` (function
            // 2) only with a tail call.
            let mut calls = Vec::new();
            for p in Parser::new(0).parse_all(&looped) {
                if let Payload::CodeSectionEntry(b) = p.unwrap() {
                    let mut mine = Vec::new();
                    let mut ops = b.get_operators_reader().unwrap();
                    while !ops.eof() {
                        if let wasmparser::Operator::Call { function_index } = ops.read().unwrap() {
                            mine.push(function_index);
                        }
                    }
                    calls.push(mine);
                }
            }
            assert_eq!(calls.len(), if tail { 4 } else { 5 });
            for c in &calls[3..] {
                assert_eq!(c.contains(&2), tail, "{calls:?}");
            }
            let want = run(&plain, false);
            assert_eq!(want.1, if tail { 7 } else { 10 });
            assert_eq!(run(&looped, true), want, "tail call: {tail}");
        }
    }
}
