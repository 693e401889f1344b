//! A workaround for a miscompilation in wasmi 2.0.0 (the interpreter that
//! runs every guest and the interpreter kernel engine): `select` whose
//! condition is `i32.eqz x` (or `i32.eq x 0`, `i32.ne x 0`, `ref.is_null`)
//! of a value `x` held in a stack slot (a local or parameter) ignores the
//! condition and reads a stale register instead.
//!
//! Cause (wasmi 2.0.0, `engine/translator/func/mod.rs`): `translate_select`
//! resolves the condition (the result of the staged compare, in the integer
//! register) and then calls `try_fuse_select`, which fuses a staged
//! `I32Eq_Rri`/`I32Eq_Rsi`/`I32NotEq_Rri`/`I32NotEq_Rsi` with `rhs == 0` into
//! the `select` (dropping the compare and swapping the operands for `eq`).
//! That is right for the `_Rri` forms (the compared value is already in the
//! register), but for the `_Rsi` forms the compared value is in a slot: the
//! compare is dropped, the condition stays "the register", and nothing puts
//! the value there. fuzz/README.md, finding 5, has the full write-up.
//!
//! The rewrite: every `select` and `select (result t)` gets
//! `local.set $c; local.get $c` in front of it, `$c` a fresh `i32` local of
//! its function. The condition is then a local, which wasmi never fuses
//! with a staged compare (a compare writing a local is an observable
//! effect, so `try_fuse_select` refuses it); when the condition was a
//! compare in the register, wasmi fuses the `local.set` into the compare
//! (it writes `$c` directly), so the rewrite costs no instruction there,
//! and one copy where the condition was already a local. Semantics are
//! unchanged (`$c` is written right before its only read). Functions
//! without a `select` are copied byte for byte.

use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasmparser::{BinaryReaderError, CompositeInnerType, Encoding, Operator, Parser, Payload};

/// An error of the rewrite: the module does not decode, or a function body
/// could not be re-encoded.
#[derive(Debug)]
pub(crate) struct RewriteError(pub String);

impl std::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<BinaryReaderError> for RewriteError {
    fn from(e: BinaryReaderError) -> Self {
        RewriteError(e.to_string())
    }
}

/// Returns `wasm` with every `select`'s condition passed through a fresh
/// local (see the module docs), or `None` when no function has a `select`
/// (or `wasm` is a component): then `wasm` is what wasmi should compile.
pub(crate) fn guard_selects(wasm: &[u8]) -> Result<Option<Vec<u8>>, RewriteError> {
    let mut out = wasm_encoder::Module::new();
    // Param count per type index (None: not a function type).
    let mut type_params: Vec<Option<u32>> = Vec::new();
    // Type index of each defined function, in code-section order.
    let mut defined: Vec<u32> = Vec::new();
    let mut code: Option<(wasm_encoder::CodeSection, u32)> = None;
    let mut next_body = 0usize;
    let mut changed = false;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::Version { encoding, .. } if *encoding != Encoding::Module => {
                return Ok(None);
            }
            Payload::TypeSection(reader) => {
                for group in reader.clone() {
                    for sub in group?.into_types() {
                        type_params.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(f.params().len() as u32),
                            _ => None,
                        });
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for f in reader.clone() {
                    defined.push(f?);
                }
            }
            Payload::CodeSectionStart { count, .. } => {
                let section = wasm_encoder::CodeSection::new();
                if *count == 0 {
                    out.section(&section);
                } else {
                    code = Some((section, *count));
                }
                continue;
            }
            Payload::CodeSectionEntry(body) => {
                let (section, left) = code
                    .as_mut()
                    .ok_or_else(|| RewriteError("function body outside a code section".into()))?;
                let params = defined
                    .get(next_body)
                    .and_then(|t| type_params.get(*t as usize).copied().flatten())
                    .ok_or_else(|| RewriteError("function body without a function type".into()))?;
                next_body += 1;
                changed |= rewrite_body(body, params, section)?;
                *left -= 1;
                if *left == 0 {
                    out.section(&code.take().expect("code section in progress").0);
                }
                continue;
            }
            _ => {}
        }
        if let Some((id, range)) = payload.as_section() {
            let data = wasm
                .get(range)
                .ok_or_else(|| RewriteError("section out of range".into()))?;
            out.section(&wasm_encoder::RawSection { id, data });
        }
    }
    if code.is_some() {
        return Err(RewriteError("code section ends early".into()));
    }
    Ok(changed.then(|| out.finish()))
}

/// wasmparser's limit on a function's locals (params included).
const MAX_LOCALS: u64 = 50_000;

fn is_select(op: &Operator<'_>) -> bool {
    matches!(op, Operator::Select | Operator::TypedSelect { .. })
}

/// Appends `body` to `section`, rewritten if it has a `select` (returns
/// `true` then) and copied otherwise. The operators are copied byte for
/// byte; only the locals declaration is re-encoded (one more `i32`) and the
/// two instructions are spliced in before each `select`.
fn rewrite_body(
    body: &wasmparser::FunctionBody<'_>,
    params: u32,
    section: &mut wasm_encoder::CodeSection,
) -> Result<bool, RewriteError> {
    use wasm_encoder::Encode;
    let data = body.as_bytes();
    // `select` is the byte 0x1b, `select (result t)` 0x1c: a body with
    // neither byte anywhere has no `select` (the common case, no parse).
    if !data.iter().any(|&b| b == 0x1b || b == 0x1c) {
        section.raw(data);
        return Ok(false);
    }
    let base = body.range().start;
    let mut ops = body.get_operators_reader()?;
    let ops_start = ops.original_position() - base;
    let mut selects = Vec::new();
    while !ops.eof() {
        let at = ops.original_position() - base;
        if is_select(&ops.read()?) {
            selects.push(at);
        }
    }
    if selects.is_empty() {
        section.raw(data);
        return Ok(false);
    }
    let mut enc = RoundtripReencoder;
    let mut locals = Vec::new();
    let mut count = u64::from(params);
    for local in body.get_locals_reader()? {
        let (n, ty) = local?;
        count += u64::from(n);
        let ty = enc
            .val_type(ty)
            .map_err(|e| RewriteError(format!("{e:?}")))?;
        locals.push((n, ty));
    }
    // The fresh local's index. A function already at the validator's
    // limit of locals (50 000, params included) stays as it is: one more
    // would make a valid module invalid.
    let cond = match u32::try_from(count) {
        Ok(cond) if count < MAX_LOCALS => cond,
        _ => {
            section.raw(data);
            return Ok(false);
        }
    };
    locals.push((1, wasm_encoder::ValType::I32));
    let mut code = Vec::with_capacity(data.len() - ops_start + 8 * selects.len());
    let mut copied = ops_start;
    for at in selects {
        code.extend_from_slice(&data[copied..at]);
        wasm_encoder::Instruction::LocalSet(cond).encode(&mut code);
        wasm_encoder::Instruction::LocalGet(cond).encode(&mut code);
        copied = at;
    }
    code.extend_from_slice(&data[copied..]);
    let mut f = wasm_encoder::Function::new(locals);
    f.raw(code);
    section.function(&f);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(wasm: &[u8], arg: i32) -> i32 {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, wasm).unwrap();
        let mut store = wasmi::Store::new(&engine, ());
        let inst = wasmi::Linker::<()>::new(&engine)
            .instantiate_and_start(&mut store, &module)
            .unwrap();
        let f = inst.get_typed_func::<i32, i32>(&store, "f").unwrap();
        f.call(&mut store, arg).unwrap()
    }

    /// `select(7, 9, cond(v))` for the condition shapes wasmi fuses, checked
    /// against the plain Rust value: the unguarded module shows the wasmi
    /// bug (so this test notices when wasmi is fixed), the guarded one is
    /// right for every shape.
    #[test]
    fn guarded_select_is_right_where_wasmi_is_wrong() {
        type Shape = (&'static str, fn(i32) -> bool);
        let shapes: [Shape; 6] = [
            ("local.get $v i32.eqz", |v| v == 0),
            ("local.get $v i32.const 0 i32.eq", |v| v == 0),
            ("local.get $v i32.const 0 i32.ne", |v| v != 0),
            ("local.get $v i32.eqz i32.eqz", |v| v != 0),
            ("local.get $v i32.eqz nop", |v| v == 0),
            ("local.get $v i32.const 1 i32.sub i32.eqz", |v| v == 1),
        ];
        let mut wrong_before = 0;
        for (cond, expect) in shapes {
            for typed in ["", "(result i32)"] {
                let src = format!(
                    r#"(module (func (export "f") (param $v i32) (result i32)
                        (local $x i64)
                        i32.const 7 i32.const 9 {cond} select {typed}))"#
                );
                let wasm = wat::parse_str(&src).unwrap();
                let guarded = guard_selects(&wasm).unwrap().expect("has a select");
                wasmparser::Validator::new().validate_all(&guarded).unwrap();
                for v in [0, 1, 3, -1] {
                    let want = if expect(v) { 7 } else { 9 };
                    assert_eq!(run(&guarded, v), want, "{cond} {typed} v={v}");
                    if run(&wasm, v) != want {
                        wrong_before += 1;
                    }
                }
            }
        }
        assert!(
            wrong_before > 0,
            "wasmi computes every unguarded select right: the workaround may be obsolete"
        );
    }

    #[test]
    fn a_function_at_the_locals_limit_stays_valid() {
        // 1 param + 49 999 locals: the validator's limit of 50 000.
        let src = r#"(module (func (export "f") (param $v i32) (result i32)
            (local i32) LOCALS
            i32.const 7 i32.const 9 local.get $v i32.eqz select))"#;
        let full = src.replace("(local i32) LOCALS", "(local i32)".repeat(49_999).as_str());
        let wasm = wat::parse_str(&full).unwrap();
        wasmparser::Validator::new().validate_all(&wasm).unwrap();
        assert!(guard_selects(&wasm).unwrap().is_none());
        let one_less = src.replace("(local i32) LOCALS", "(local i32)".repeat(49_998).as_str());
        let guarded = guard_selects(&wat::parse_str(&one_less).unwrap())
            .unwrap()
            .expect("rewritten");
        wasmparser::Validator::new().validate_all(&guarded).unwrap();
    }

    #[test]
    fn modules_without_select_are_left_alone() {
        let wasm = wat::parse_str(
            r#"(module (memory 1) (func (export "f") (param i32) (result i32) local.get 0))"#,
        )
        .unwrap();
        assert!(guard_selects(&wasm).unwrap().is_none());
    }
}
