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
//!       (global.set $current (local.get $i))
//!       (call $kernel (local.get $i) (local.get $n) (local.get $bs) (local.get $p0) ...)
//!       (br_if 0 (i32.lt_u (local.tee $i (i32.add $i 1)) $end)))))
//! ```
//!
//! is exported as [`RUN_EXPORT`]; `$current` (exported as [`CURRENT_EXPORT`])
//! names the iteration that trapped, so trap messages stay per iteration.
//! The kernel itself is unchanged (same indices: the function and the
//! global are appended after the existing ones).

use crate::parallel::errno::{ParError, ParResult};
use wasm_encoder::{BlockType, ConstExpr, Encode, Function, GlobalType, Instruction, ValType};
use wasmparser::{BinaryReader, ExternalKind, Parser, Payload};

/// The export name of the generated range loop.
pub const RUN_EXPORT: &str = "__wasi_parallel_run_range";
/// The export name of the global holding the iteration being run.
pub const CURRENT_EXPORT: &str = "__wasi_parallel_iteration";

fn bad(msg: &str) -> ParError {
    ParError::invalid_kernel(format!("cannot add the range loop: {msg}"))
}

fn bin(e: wasmparser::BinaryReaderError) -> ParError {
    bad(&e.to_string())
}

/// A section's entries after its count (`data` starts with the count).
fn entries(data: &[u8]) -> ParResult<(u32, &[u8])> {
    let mut r = BinaryReader::new(data, 0);
    let count = r.read_var_u32().map_err(bin)?;
    Ok((count, &data[r.original_position()..]))
}

/// Appends section `id` with `count` entries: `old` (already encoded) then `new`.
fn section(out: &mut Vec<u8>, id: u8, count: u32, old: &[u8], new: &[u8]) {
    let mut body = Vec::new();
    count.encode(&mut body);
    body.extend_from_slice(old);
    body.extend_from_slice(new);
    out.push(id);
    body.len().encode(out);
    out.extend_from_slice(&body);
}

/// `module` (the JIT's form of a kernel: no imports, `kernel` exported
/// with i32 params only, checked by the loader) plus the range loop.
pub fn add_range_loop(module: &[u8]) -> ParResult<Vec<u8>> {
    // First pass: the counts and the kernel's index and parameter count.
    let (mut types, mut funcs, mut globals) = (0u32, Vec::new(), 0u32);
    let mut type_params: Vec<u32> = Vec::new();
    let mut kernel = None;
    let mut bodies: Vec<wasmparser::FunctionBody<'_>> = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload.map_err(bin)? {
            Payload::ImportSection(r) if r.count() > 0 => return Err(bad("the kernel imports")),
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
            Payload::GlobalSection(r) => globals = r.count(),
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
    let current = globals;

    // The new entries.
    let mut new_type = vec![0x60];
    (params + 1).encode(&mut new_type);
    new_type.extend(std::iter::repeat_n(0x7f, params as usize + 1));
    0u32.encode(&mut new_type);
    let mut new_func = Vec::new();
    types.encode(&mut new_func);
    let mut new_global = Vec::new();
    GlobalType {
        val_type: ValType::I32,
        mutable: true,
        shared: false,
    }
    .encode(&mut new_global);
    ConstExpr::i32_const(-1).encode(&mut new_global);
    let mut new_exports = Vec::new();
    RUN_EXPORT.encode(&mut new_exports);
    new_exports.push(0x00);
    run_index.encode(&mut new_exports);
    CURRENT_EXPORT.encode(&mut new_exports);
    new_exports.push(0x03);
    current.encode(&mut new_exports);
    let mut new_code = Vec::new();
    // The kernel's body inlined into the loop where it can be (no call per
    // iteration), else a loop calling it.
    let inlined = bodies
        .get(kernel as usize)
        .and_then(|b| inlined_body(b, current, params).ok().flatten());
    match inlined {
        Some(f) => f.encode(&mut new_code),
        None => run_body(kernel, current, params).encode(&mut new_code),
    }

    // Second pass: copy every section, with the new entries appended.
    let mut out = Vec::with_capacity(module.len() + 256);
    out.extend_from_slice(&module[..8]);
    let mut globals_done = false;
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
                section(&mut out, 3, n + 1, old, &new_func);
            }
            6 => {
                let (n, old) = entries(data)?;
                section(&mut out, 6, n + 1, old, &new_global);
                globals_done = true;
            }
            7 => {
                if !globals_done {
                    section(&mut out, 6, 1, &[], &new_global);
                    globals_done = true;
                }
                let (n, old) = entries(data)?;
                section(&mut out, 7, n + 2, old, &new_exports);
            }
            10 => {
                let (n, old) = entries(data)?;
                section(&mut out, 10, n + 1, old, &new_code);
            }
            _ => {
                out.push(id);
                data.len().encode(&mut out);
                out.extend_from_slice(data);
            }
        }
    }
    Ok(out)
}

/// The range loop with the kernel's body inlined: the kernel's params and
/// locals become locals of the loop function (`base + x`), set afresh for
/// every iteration (params from the loop's params, the iteration from the
/// counter, declared locals zero, as a call would), and the body runs in a
/// block that its `return`s (and branches to the function's label) leave
/// for the next iteration. `Ok(None)` for bodies it does not handle (tail
/// calls): the loop then calls `kernel`.
fn inlined_body(
    body: &wasmparser::FunctionBody<'_>,
    current: u32,
    kernel_params: u32,
) -> ParResult<Option<Function>> {
    use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
    use Instruction as I;
    let (i, end) = (0u32, 1u32);
    // The loop's own params: i, end, then the kernel's after the iteration.
    let base = kernel_params + 1;
    let mut declared: Vec<(u32, ValType)> = Vec::new();
    for l in body.get_locals_reader().map_err(bin)? {
        let (n, t) = l.map_err(bin)?;
        let t = RoundtripReencoder
            .val_type(t)
            .map_err(|e| bad(&e.to_string()))?;
        declared.push((n, t));
    }
    let mut locals = vec![(kernel_params, ValType::I32)];
    locals.extend(declared.iter().copied());
    let mut f = Function::new(locals);
    loop_head(&mut f, i, end, current);
    f.instruction(&I::LocalGet(i))
        .instruction(&I::LocalSet(base));
    for p in 1..kernel_params {
        f.instruction(&I::LocalGet(p + 1))
            .instruction(&I::LocalSet(base + p));
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
fn run_body(kernel: u32, current: u32, kernel_params: u32) -> Function {
    use Instruction as I;
    let (i, end) = (0u32, 1u32);
    let mut f = Function::new([]);
    loop_head(&mut f, i, end, current);
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
/// loop, record the current iteration in global `current`.
fn loop_head(f: &mut Function, i: u32, end: u32, current: u32) {
    use Instruction as I;
    f.instruction(&I::Block(BlockType::Empty))
        .instruction(&I::LocalGet(i))
        .instruction(&I::LocalGet(end))
        .instruction(&I::I32GeU)
        .instruction(&I::BrIf(0))
        .instruction(&I::Loop(BlockType::Empty))
        .instruction(&I::LocalGet(i))
        .instruction(&I::GlobalSet(current));
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

    /// The loop calls `kernel` for exactly first..end, in order, with the
    /// other arguments passed through, and leaves the last iteration in
    /// the global; the module still validates (checked by wasmparser).
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
            assert_eq!(exports, ["kernel", RUN_EXPORT, CURRENT_EXPORT]);
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
            let engine = wasmtime::Engine::default();
            let run = |bytes: &[u8], looped: bool| -> (Vec<u8>, i32) {
                let module = wasmtime::Module::new(&engine, bytes).unwrap();
                let mut store = wasmtime::Store::new(&engine, ());
                let inst = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
                if looped {
                    let f = inst
                        .get_typed_func::<(i32, i32, i32, i32, i32, i32), ()>(
                            &mut store, RUN_EXPORT,
                        )
                        .unwrap();
                    f.call(&mut store, (2, 9, 20, 5, 1000, 64)).unwrap();
                    f.call(&mut store, (9, 9, 20, 5, 1000, 64)).unwrap(); // empty range
                    let cur = inst.get_global(&mut store, CURRENT_EXPORT).unwrap();
                    assert_eq!(cur.get(&mut store).i32(), Some(8));
                } else {
                    let f = inst
                        .get_typed_func::<(i32, i32, i32, i32, i32), ()>(&mut store, "kernel")
                        .unwrap();
                    for i in 2..9 {
                        f.call(&mut store, (i, 20, 5, 1000, 64)).unwrap();
                    }
                }
                let mem = inst
                    .get_memory(&mut store, "memory")
                    .map(|m| m.data(&store)[..2048].to_vec());
                let g = inst
                    .get_global(&mut store, "g")
                    .unwrap()
                    .get(&mut store)
                    .i32()
                    .unwrap();
                (mem.unwrap_or_default(), g)
            };
            // Inlined: the loop calls `kernel` (function 2) only with a tail call.
            let mut last_calls = Vec::new();
            for p in Parser::new(0).parse_all(&looped) {
                if let Payload::CodeSectionEntry(b) = p.unwrap() {
                    last_calls.clear();
                    let mut ops = b.get_operators_reader().unwrap();
                    while !ops.eof() {
                        if let wasmparser::Operator::Call { function_index } = ops.read().unwrap() {
                            last_calls.push(function_index);
                        }
                    }
                }
            }
            assert_eq!(last_calls.contains(&2), tail, "{last_calls:?}");
            let want = run(&plain, false);
            assert_eq!(want.1, 7);
            assert_eq!(run(&looped, true), want, "tail call: {tail}");
        }
    }
}
