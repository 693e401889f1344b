//! Unrolling of simple counted loops in a kernel, before the JIT compiles
//! it.
//!
//! Cranelift compiles wasm loops as written: no unrolling, and a loop
//! tested at its head and closed by an unconditional branch pays a compare,
//! two branches and its constants (rematerialised in every block) per trip.
//! On a streaming loop such as the prototype's nstream that is 15
//! instructions per element where gcc emits 8 (BENCHMARKS.md, "Left
//! (issue 23)"), and on a wide core the instruction count is the time.
//!
//! This pass rewrites the innermost loops of one shape, the one a counted
//! `for` takes in hand-written wat and in simple compilers,
//!
//! ```text
//! (block $done
//!   (loop $l
//!     (br_if $done (CMP (local.get $j) BOUND))   ;; CMP: i32.ge_u, i32.ge_s or i32.eq
//!     BODY                                       ;; writes neither $j nor BOUND
//!     (local.set $j (i32.add (local.get $j) (i32.const 1)))
//!     (br $l)))
//! ```
//!
//! (`BOUND` a `local.get` or an `i32.const`), into
//!
//! ```text
//! (block $done
//!   (br_if $done (CMP (local.get $j) BOUND))
//!   (block $rest
//!     (loop $u                                   ;; UNROLL trips of the loop per round
//!       (br_if $rest (i32.lt_u (i32.sub BOUND (local.get $j)) (i32.const UNROLL)))
//!       BODY ($j += 1) BODY ($j += 1) BODY ($j += 1) BODY ($j += 1)
//!       (br $u)))
//!   (loop $l ...the original loop, for the last trips...))
//! ```
//!
//! Why it is the same program: past the first test `$j` is short of the
//! bound (`$j < BOUND`, or for `i32.eq`, `$j != BOUND` in wrapping
//! arithmetic), so `BOUND - $j` (mod 2^32) is the number of trips left,
//! and a round runs only when at least `UNROLL` are; a round's trips are
//! the original trips in order, each with the test it skips known to be
//! false, so side effects, traps and their order are unchanged. BODY's
//! branches out of the loop keep their targets (depths past the loop are
//! shifted by the new block); a loop whose BODY branches back to its own
//! head (a `continue` that skips the increment) is left alone, as is every
//! loop not of this shape. An interrupt (epoch check at a loop head) is
//! noticed once per round instead of once per trip.
//!
//! The rewritten module is validated (a safeguard: a BODY that leaves
//! values for the `br` to drop leaves them in each copy, and the round's
//! `br` drops them all); if it does not validate, the kernel is compiled
//! as it was.
//! The pass is the JIT's only: off with fuel metering (it changes the
//! operator count, so fuel would run out at another point), and with
//! `WASI_PARALLEL_JIT_UNROLL=0` (for measuring it).

use super::runner::{copy_section, declared_locals, entries, section};
use std::borrow::Cow;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{BlockType, Encode, Function, Instruction as I};
use wasmparser::{Parser, Payload};

/// Trips of the loop per round of the unrolled copy.
pub const UNROLL: u32 = 4;

/// Loops whose BODY has more instructions than this are left alone: the
/// copies would cost compile time and code size for a per-trip saving that
/// is small against a large body.
pub const MAX_BODY: usize = 64;

/// Loops whose BODY loads more than this many times after its last
/// store are left alone. Cranelift places pure arithmetic next to its
/// first use: a store uses what the loads before it feed, but loads after
/// the last store feed a value carried to the next trip (a reduction),
/// used only at the end of the unrolled round, so all the copies' loads
/// come first and their values wait in registers. doitgen's reduction (8
/// loads, no store) unrolled 4x spilled 16 of them to the stack and ran
/// 1.4x slower; atax's (6 loads, each pair followed by a store) is still
/// unrolled.
pub const MAX_TRAILING_LOADS: usize = 2;

/// Whether `x` writes memory.
fn is_store(x: &I<'_>) -> bool {
    matches!(
        x,
        I::I32Store(_)
            | I::I64Store(_)
            | I::F32Store(_)
            | I::F64Store(_)
            | I::I32Store8(_)
            | I::I32Store16(_)
            | I::I64Store8(_)
            | I::I64Store16(_)
            | I::I64Store32(_)
            | I::V128Store(_)
            | I::V128Store8Lane { .. }
            | I::V128Store16Lane { .. }
            | I::V128Store32Lane { .. }
            | I::V128Store64Lane { .. }
    )
}

/// Whether `x` reads memory (a load of any width, SIMD loads included).
fn is_load(x: &I<'_>) -> bool {
    matches!(
        x,
        I::I32Load(_)
            | I::I64Load(_)
            | I::F32Load(_)
            | I::F64Load(_)
            | I::I32Load8S(_)
            | I::I32Load8U(_)
            | I::I32Load16S(_)
            | I::I32Load16U(_)
            | I::I64Load8S(_)
            | I::I64Load8U(_)
            | I::I64Load16S(_)
            | I::I64Load16U(_)
            | I::I64Load32S(_)
            | I::I64Load32U(_)
            | I::V128Load(_)
            | I::V128Load8x8S(_)
            | I::V128Load8x8U(_)
            | I::V128Load16x4S(_)
            | I::V128Load16x4U(_)
            | I::V128Load32x2S(_)
            | I::V128Load32x2U(_)
            | I::V128Load8Splat(_)
            | I::V128Load16Splat(_)
            | I::V128Load32Splat(_)
            | I::V128Load64Splat(_)
            | I::V128Load32Zero(_)
            | I::V128Load64Zero(_)
            | I::V128Load8Lane { .. }
            | I::V128Load16Lane { .. }
            | I::V128Load32Lane { .. }
            | I::V128Load64Lane { .. }
    )
}

/// The environment variable that turns the pass off (`0`).
pub const UNROLL_ENV: &str = "WASI_PARALLEL_JIT_UNROLL";

/// Whether the pass is on for this process (`WASI_PARALLEL_JIT_UNROLL`
/// is not `0`).
pub fn enabled_by_env() -> bool {
    std::env::var(UNROLL_ENV).as_deref() != Ok("0")
}

/// `module` with its simple counted loops unrolled, and how many loops
/// were. The module itself (borrowed, count 0) when none was, or when the
/// rewritten module would not be valid, or `module` cannot be read (the
/// compiler then reports what is wrong with it).
pub fn unroll_loops(module: &[u8]) -> (Cow<'_, [u8]>, usize) {
    match rewrite(module) {
        Some((out, n)) if n > 0 && validates(&out) => (Cow::Owned(out), n),
        _ => (Cow::Borrowed(module), 0),
    }
}

fn validates(module: &[u8]) -> bool {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(module)
        .is_ok()
}

/// The module with every function's loops unrolled (unchanged functions
/// copied byte for byte), and the number unrolled; `None` if anything in
/// it cannot be read or re-encoded.
fn rewrite(module: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut code = Vec::new();
    let (mut count, mut unrolled) = (0u32, 0usize);
    // The range loop's block size 1 copy is left as it is: there the loops
    // over the kernel's block make one trip, and a round's tests would
    // only add to each iteration (jacobi-1d: 2.2 -> 2.9 ms). A kernel
    // imports no functions (`runner`), so code entry k is function k.
    let mut skip = None;
    for payload in Parser::new(0).parse_all(module) {
        match payload.ok()? {
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.ok()?;
                    if e.name == super::runner::RUN_BS1_EXPORT {
                        skip = Some(e.index);
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                count += 1;
                let unroll = if skip == Some(count - 1) {
                    Some(None)
                } else {
                    unroll_function(&body)
                };
                match unroll? {
                    Some((f, n)) => {
                        unrolled += n;
                        f.encode(&mut code);
                    }
                    None => {
                        let raw = &module[body.range()];
                        raw.len().encode(&mut code);
                        code.extend_from_slice(raw);
                    }
                }
            }
            _ => {}
        }
    }
    if unrolled == 0 {
        return Some((Vec::new(), 0));
    }
    let mut out = Vec::with_capacity(module.len() + code.len());
    out.extend_from_slice(module.get(..8)?);
    for payload in Parser::new(0).parse_all(module) {
        let Some((id, range)) = payload.ok()?.as_section() else {
            continue;
        };
        let data = &module[range];
        if id == 10 {
            let (n, _) = entries(data).ok()?;
            if n != count {
                return None;
            }
            section(&mut out, 10, count, &[], &code);
        } else {
            copy_section(&mut out, id, data);
        }
    }
    Some((out, unrolled))
}

/// A function body with its loops unrolled and how many (`Some(None)`
/// when it has none to unroll); `None` when it cannot be read.
fn unroll_function(body: &wasmparser::FunctionBody<'_>) -> Option<Option<(Function, usize)>> {
    let mut ins = Vec::new();
    let mut ops = body.get_operators_reader().ok()?;
    while !ops.eof() {
        ins.push(RoundtripReencoder.instruction(ops.read().ok()?).ok()?);
    }
    let (out, n) = unroll_instructions(&ins);
    if n == 0 {
        return Some(None);
    }
    let mut f = Function::new(declared_locals(body).ok()?);
    for i in &out {
        f.instruction(i);
    }
    Some(Some((f, n)))
}

/// Where a counted loop tests its counter, and with what.
enum Test<'a> {
    /// At its head, after a `block` it leaves (hand-written wat): the
    /// exit test `(EXIT $j BOUND)`, `i32.ge_u`, `i32.ge_s` or `i32.eq`.
    Head { exit: I<'a> },
    /// At its foot, after the step, branching back to its head (clang's
    /// rotated loops: the body runs before the first test): the test that
    /// goes on looping, `(GO_ON $j BOUND)`: `i32.lt_u`, `i32.lt_s` or
    /// `i32.ne` counting up, `i32.gt_u`, `i32.gt_s` or `i32.ne` counting
    /// down; and `leave`, for a loop that ends with a branch out when its
    /// test fails (`br_if $l ...` then `br N`): N, as seen from its body.
    Foot {
        go_on: I<'static>,
        leave: Option<u32>,
    },
}

/// Largest step (in either direction) of a loop that is unrolled, so
/// that `UNROLL * step` stays far from wrapping.
const MAX_STEP: i32 = 1 << 12;

/// A counted loop found at some index.
struct Counted<'a, 'b> {
    test: Test<'a>,
    /// The counter local.
    j: u32,
    /// What each trip adds to it (`Head`: positive; `Foot`: either sign).
    step: i32,
    /// `local.get` of the bound, or the constant bound.
    bound: I<'a>,
    /// BODY.
    body: &'b [I<'a>],
    /// Index of the loop's `end`.
    end: usize,
}

impl<'a> Counted<'a, '_> {
    /// `$j += step`.
    fn step(&self) -> [I<'a>; 4] {
        [
            I::LocalGet(self.j),
            I::I32Const(self.step),
            I::I32Add,
            I::LocalSet(self.j),
        ]
    }

    /// Pushes 1 when fewer than `UNROLL` trips may be left: the distance
    /// still to go (`BOUND - $j` counting up, `$j - BOUND` down), unsigned,
    /// is under `UNROLL * |step|`. Valid once the loop's own test has
    /// said that at least one more trip is due.
    fn too_few(&self) -> [I<'a>; 5] {
        let (x, y) = if self.step > 0 {
            (self.bound.clone(), I::LocalGet(self.j))
        } else {
            (I::LocalGet(self.j), self.bound.clone())
        };
        [
            x,
            y,
            I::I32Sub,
            I::I32Const(UNROLL as i32 * self.step.abs()),
            I::I32LtU,
        ]
    }
}

/// The instructions with every loop of the module docs' shapes unrolled,
/// and how many were.
fn unroll_instructions<'a>(ins: &[I<'a>]) -> (Vec<I<'a>>, usize) {
    let mut out = Vec::with_capacity(ins.len());
    let (mut i, mut n) = (0, 0);
    while i < ins.len() {
        let Some(c) = head_loop(ins, i).or_else(|| foot_loop(ins, i)) else {
            out.push(ins[i].clone());
            i += 1;
            continue;
        };
        match &c.test {
            Test::Head { exit } => {
                // (block $done  -- kept as it was
                out.push(ins[i].clone());
                // (br_if $done (EXIT (local.get $j) BOUND))
                out.extend([I::LocalGet(c.j), c.bound.clone(), exit.clone(), I::BrIf(0)]);
                // (block $rest (loop $u (br_if $rest TOO_FEW)
                out.extend([I::Block(BlockType::Empty), I::Loop(BlockType::Empty)]);
                out.extend(c.too_few());
                out.push(I::BrIf(1));
                for _ in 0..UNROLL {
                    out.extend(shifted(c.body, 1));
                    out.extend(c.step());
                }
                // (br $u)))  then the original loop for the trips left
                out.extend([I::Br(0), I::End, I::End]);
                out.extend(ins[i + 1..=c.end].iter().cloned());
            }
            Test::Foot { go_on, leave } => {
                // (block $done (block $rest
                out.extend([I::Block(BlockType::Empty), I::Block(BlockType::Empty)]);
                // (br_if $rest (i32.eqz (GO_ON $j BOUND)))  -- the trip
                // due is the last one (the body runs before the first
                // test): the original loop runs it
                out.extend([
                    I::LocalGet(c.j),
                    c.bound.clone(),
                    go_on.clone(),
                    I::I32Eqz,
                    I::BrIf(0),
                ]);
                // (loop $u (br_if $rest TOO_FEW)
                out.push(I::Loop(BlockType::Empty));
                out.extend(c.too_few());
                out.push(I::BrIf(1));
                for _ in 1..UNROLL {
                    out.extend(shifted(c.body, 2));
                    out.extend(c.step());
                }
                // The last copy keeps the loop's own test: on to $u, or
                // the loop is over (out of $done, or where it branched).
                out.extend(shifted(c.body, 2));
                out.extend([
                    I::LocalGet(c.j),
                    I::I32Const(c.step),
                    I::I32Add,
                    I::LocalTee(c.j),
                    c.bound.clone(),
                    go_on.clone(),
                    I::BrIf(0),
                    I::Br(leave.map_or(2, |r| r + 2)),
                    I::End,
                    I::End,
                ]);
                // The original loop (its body is due) inside $done: its
                // branches past the loop cross $done too.
                out.push(ins[i].clone());
                out.extend(shifted(&ins[i + 1..c.end], 1));
                out.extend([I::End, I::End]);
            }
        }
        i = c.end + 1;
        n += 1;
    }
    (out, n)
}

/// The `Head` loop whose `block` is at `ins[at]` (module docs).
fn head_loop<'a, 'b>(ins: &'b [I<'a>], at: usize) -> Option<Counted<'a, 'b>> {
    let (j, bound, exit) = match ins.get(at..at + 6)? {
        [I::Block(BlockType::Empty), I::Loop(BlockType::Empty), I::LocalGet(j), bound @ (I::LocalGet(_) | I::I32Const(_)), exit @ (I::I32GeU | I::I32GeS | I::I32Eq), I::BrIf(1)] => {
            (*j, bound, exit)
        }
        _ => return None,
    };
    let end = loop_end(ins, at + 6)?;
    let step = match ins.get(end.checked_sub(5)?..end)? {
        [I::LocalGet(a), I::I32Const(s), I::I32Add, I::LocalSet(b), I::Br(0)]
            if *a == j && *b == j && (1..=MAX_STEP).contains(s) =>
        {
            *s
        }
        _ => return None,
    };
    let body = ins.get(at + 6..end - 5)?;
    body_is_plain(body, j, bound)?;
    Some(Counted {
        test: Test::Head { exit: exit.clone() },
        j,
        step,
        bound: bound.clone(),
        body,
        end,
    })
}

/// The `Foot` loop whose `loop` is at `ins[at]`:
///
/// ```text
/// (loop $l BODY (br_if $l (GO_ON (local.tee $j (i32.add (local.get $j) (i32.const STEP))) BOUND)) [(br N)])
/// ```
///
/// or, counting down to 0, `(br_if $l (local.tee $j (i32.add (local.get $j) (i32.const -STEP))))`.
fn foot_loop<'a, 'b>(ins: &'b [I<'a>], at: usize) -> Option<Counted<'a, 'b>> {
    if !matches!(ins.get(at)?, I::Loop(BlockType::Empty)) {
        return None;
    }
    let end = loop_end(ins, at + 1)?;
    // A branch out after the test fails (never back to the loop: that
    // would be a `continue` past the test).
    let (last, leave) = match ins.get(end.checked_sub(1)?)? {
        I::Br(r) if *r > 0 => (end - 1, Some(*r)),
        _ => (end, None),
    };
    let tee = |a: &I<'_>, s: &I<'_>, b: &I<'_>| match (a, s, b) {
        (I::LocalGet(a), I::I32Const(s), I::LocalTee(b)) if a == b && *s != 0 => {
            (s.abs() <= MAX_STEP).then_some((*a, *s))
        }
        _ => None,
    };
    let (j, step, bound, go_on, body_end) = match ins.get(last.checked_sub(7)?..last)? {
        [a, s, I::I32Add, b, bound @ (I::LocalGet(_) | I::I32Const(_)), go_on, I::BrIf(0)] => {
            let (j, step) = tee(a, s, b)?;
            let go_on = match (go_on, step > 0) {
                (I::I32LtU, true) => I::I32LtU,
                (I::I32LtS, true) => I::I32LtS,
                (I::I32GtU, false) => I::I32GtU,
                (I::I32GtS, false) => I::I32GtS,
                (I::I32Ne, _) => I::I32Ne,
                _ => return None,
            };
            (j, step, bound.clone(), go_on, last - 7)
        }
        [.., a, s, I::I32Add, b, I::BrIf(0)] if step_down(s) => {
            let (j, step) = tee(a, s, b)?;
            (j, step, I::I32Const(0), I::I32Ne, last - 5)
        }
        _ => return None,
    };
    let body = ins.get(at + 1..body_end)?;
    body_is_plain(body, j, &bound)?;
    Some(Counted {
        test: Test::Foot { go_on, leave },
        j,
        step,
        bound,
        body,
        end,
    })
}

/// Whether `s` is `i32.const` of a negative step.
fn step_down(s: &I<'_>) -> bool {
    matches!(s, I::I32Const(s) if *s < 0)
}

/// The index of the `end` of the loop whose body starts at `ins[from]`;
/// `None` if the body has a loop (only innermost loops are unrolled) or
/// exception handling.
fn loop_end(ins: &[I<'_>], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, x) in ins.iter().enumerate().skip(from) {
        match x {
            I::Block(_) | I::If(_) => depth += 1,
            I::Loop(_) | I::Try(_) | I::TryTable(..) | I::Delegate(_) => return None,
            I::End if depth == 0 => return Some(k),
            I::End => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `Some(())` if BODY is small, writes neither the counter `j` nor the
/// bound, and does not branch back to the loop's head (a `continue` that
/// skips the increment); its other branches are kept (shifted).
fn body_is_plain(body: &[I<'_>], j: u32, bound: &I<'_>) -> Option<()> {
    // Loads after the body's last store (all of them without a store).
    let trailing = body
        .iter()
        .rev()
        .take_while(|x| !is_store(x))
        .filter(|x| is_load(x))
        .count();
    if body.len() > MAX_BODY || trailing > MAX_TRAILING_LOADS {
        return None;
    }
    let bound_local = match bound {
        I::LocalGet(e) if *e == j => return None,
        I::LocalGet(e) => Some(*e),
        _ => None,
    };
    let writes = |l: u32| l == j || Some(l) == bound_local;
    let mut depth = 0u32;
    for x in body {
        match x {
            I::LocalSet(l) | I::LocalTee(l) if writes(*l) => return None,
            I::Block(_) | I::If(_) => depth += 1,
            I::End => depth -= 1,
            I::Br(r) | I::BrIf(r) if *r == depth => return None,
            I::BrTable(ts, d) if *d == depth || ts.contains(&depth) => return None,
            I::BrOnNull(_) | I::BrOnNonNull(_) | I::BrOnCast { .. } | I::BrOnCastFail { .. } => {
                return None
            }
            _ => {}
        }
    }
    Some(())
}

/// BODY for its place in the unrolled loop: a branch past the loop (to
/// `$done` or further out) crosses `by` more blocks.
fn shifted<'a>(body: &[I<'a>], by: u32) -> Vec<I<'a>> {
    let mut depth = 0u32;
    let past = |r: u32, depth: u32| if r > depth { r + by } else { r };
    body.iter()
        .map(|x| match x {
            I::Block(_) | I::If(_) => {
                depth += 1;
                x.clone()
            }
            I::End => {
                depth -= 1;
                x.clone()
            }
            I::Br(r) => I::Br(past(*r, depth)),
            I::BrIf(r) => I::BrIf(past(*r, depth)),
            I::BrTable(ts, d) => I::BrTable(
                ts.iter()
                    .map(|&t| past(t, depth))
                    .collect::<Vec<_>>()
                    .into(),
                past(*d, depth),
            ),
            _ => x.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How `f(args)` of `wasm` ends, how many trips its loop made (a
    /// global counts them) and what it left in memory, on wasmi (with fuel
    /// for a few thousand trips, so a loop run past its end fails the test
    /// instead of wrapping round for minutes).
    fn run(wasm: &[u8], args: &[i32]) -> (Result<(), String>, i32, Vec<u8>) {
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        let engine = wasmi::Engine::new(&config);
        let module = wasmi::Module::new(&engine, wasm).unwrap();
        let mut store = wasmi::Store::new(&engine, ());
        store.set_fuel(1_000_000).unwrap();
        let inst = wasmi::Instance::new(&mut store, &module, &[]).unwrap();
        let f = inst.get_func(&store, "f").unwrap();
        let params: Vec<wasmi::Val> = args.iter().map(|&a| wasmi::Val::I32(a)).collect();
        let r = f
            .call(&mut store, &params, &mut [])
            .map_err(|e| e.to_string());
        let trips = inst
            .get_global(&store, "trips")
            .unwrap()
            .get(&store)
            .i32()
            .unwrap();
        let mem = inst.get_memory(&store, "m").unwrap().data(&store)[..4096].to_vec();
        (r, trips, mem)
    }

    /// Where a test loop tests its counter (`Test` without its data).
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Shape {
        Head,
        Foot,
    }

    /// A loop for the tests: its shape, its test as written (`""`: a
    /// `Foot` loop counting down to 0), its step, and for a `Foot` loop
    /// what follows the test (`""`, or a `br` out).
    #[derive(Clone, Copy, Debug)]
    struct Form {
        shape: Shape,
        cmp: &'static str,
        step: i32,
        after: &'static str,
    }

    /// A module `f($j, $end, $x)` around one loop of `form` with bound
    /// `bound`, whose body is `body`; each trip counts itself in the
    /// global `trips` and writes `$j` at `(j & 1023) * 4`.
    fn module(form: Form, bound: &str, body: &str) -> Vec<u8> {
        let Form {
            shape,
            cmp,
            step,
            after,
        } = form;
        let next = format!("(i32.add (local.get $j) (i32.const {step}))");
        let (head, foot) = match shape {
            Shape::Head => (
                format!("(br_if $done ({cmp} (local.get $j) {bound}))"),
                format!("(local.set $j {next}) (br $l)"),
            ),
            Shape::Foot if cmp.is_empty() => (
                String::new(),
                format!("(br_if $l (local.tee $j {next})) {after}"),
            ),
            Shape::Foot => (
                String::new(),
                format!("(br_if $l ({cmp} (local.tee $j {next}) {bound})) {after}"),
            ),
        };
        wat::parse_str(format!(
            r#"(module (memory (export "m") 1) (global $trips (export "trips") (mut i32) (i32.const 0))
              (func (export "f") (param $j i32) (param $end i32) (param $x i32) (local $t i32)
                (block $done
                  (loop $l
                    {head}
                    (global.set $trips (i32.add (global.get $trips) (i32.const 1)))
                    (i32.store (i32.shl (i32.and (local.get $j) (i32.const 1023)) (i32.const 2))
                               (i32.add (local.get $j) (i32.load (i32.const 4092))))
                    {body}
                    {foot}))
                (i32.store (i32.const 4092) (i32.add (i32.load (i32.const 4092)) (i32.const 1000)))))"#
        ))
        .unwrap()
    }

    /// How many trips a loop of `form` makes from `j` to bound `e`,
    /// counted up to 101.
    fn trips(form: Form, mut j: i32, e: i32) -> u32 {
        let test = |j: i32| match form.cmp {
            "i32.ge_u" => (j as u32) >= (e as u32),
            "i32.ge_s" => j >= e,
            "i32.eq" => j == e,
            "i32.lt_u" => (j as u32) < (e as u32),
            "i32.lt_s" => j < e,
            "i32.gt_u" => (j as u32) > (e as u32),
            "i32.gt_s" => j > e,
            "i32.ne" => j != e,
            "" => j != 0,
            _ => unreachable!(),
        };
        let mut t = 0;
        while t <= 100 {
            if form.shape == Shape::Head && test(j) {
                break;
            }
            t += 1;
            j = j.wrapping_add(form.step);
            if form.shape == Shape::Foot && !test(j) {
                break;
            }
        }
        t
    }

    /// Unrolled, and running it gives the original's trips, memory and
    /// trap for ranges around every round boundary, empty and reversed
    /// ranges, and ranges that wrap.
    #[test]
    fn unrolled_loops_run_like_the_original() {
        let bodies = [
            "",
            // A break out of the loop from inside a block (to $done), and
            // one past it (the function's label): both must keep going
            // where they went.
            "(block (br_if $done (i32.eq (local.get $j) (local.get $x))))
             (if (i32.eq (local.get $j) (i32.add (local.get $x) (i32.const 3))) (then (br 3)))",
            // A branch table whose targets are inside, $done and past it.
            "(block $a (block $b (br_table $a $b $done 4 (i32.and (local.get $j) (i32.const 3)))))",
            // Loads followed by a store (any number), then a few more.
            "(i32.store offset=8 (i32.const 0) (i32.add (i32.load (i32.const 0))
               (i32.add (i32.load (i32.const 4)) (i32.load (i32.const 8)))))
             (drop (i32.load (i32.const 12))) (drop (i32.load (i32.const 16)))",
            // A trap at a given trip: the trips before it are done.
            "(local.set $t (i32.div_u (i32.const 1) (i32.sub (local.get $j) (local.get $x))))",
            // A value left for the `br` to drop (each round's `br` drops
            // its copies' values; a foot loop cannot leave one).
            "(i32.const 7)",
        ];
        let mut forms = Vec::new();
        for step in [1, 3] {
            for cmp in ["i32.ge_u", "i32.ge_s", "i32.eq"] {
                forms.push(Form {
                    shape: Shape::Head,
                    cmp,
                    step,
                    after: "",
                });
            }
        }
        for (step, cmps) in [
            (1, ["i32.lt_u", "i32.lt_s", "i32.ne"]),
            (2, ["i32.lt_u", "i32.lt_s", "i32.ne"]),
            (-1, ["i32.gt_u", "i32.gt_s", "i32.ne"]),
            (-2, ["i32.gt_u", "i32.gt_s", ""]),
        ] {
            for cmp in cmps {
                // Leaving the loop past the function's label once the
                // test fails, or falling out.
                for after in ["", "(br 2)"] {
                    forms.push(Form {
                        shape: Shape::Foot,
                        cmp,
                        step,
                        after,
                    });
                }
            }
        }
        let mut cases = Vec::new();
        for start in [0i32, 5, -3, i32::MAX - 2, -1, 13, 24] {
            for len in -10..11 {
                cases.push((start, start.wrapping_add(len)));
            }
        }
        cases.extend([(7, 2), (i32::MIN, i32::MIN + 9), (-6, 3)]);
        for form in forms {
            let bodies = match form.shape {
                Shape::Head => &bodies[..],
                Shape::Foot => &bodies[..5],
            };
            for bound in ["(local.get $end)", "(i32.const 13)"] {
                for body in bodies {
                    let plain = module(form, bound, body);
                    let (out, n) = unroll_loops(&plain);
                    assert_eq!(n, 1, "{form:?} {bound} {body}");
                    assert!(out.len() > plain.len());
                    for &(j, end) in &cases {
                        let e = if bound.contains("const") { 13 } else { end };
                        if trips(form, j, e) > 100 {
                            continue; // (wraps round)
                        }
                        for x in [j.wrapping_add(2), j.wrapping_add(6), j.wrapping_sub(1)] {
                            let args = [j, end, x];
                            let (a, b) = (run(&out, &args), run(&plain, &args));
                            assert!(
                                a == b,
                                "{form:?} {bound} {body} {args:?}: unrolled {:?}, original {:?}",
                                (&a.0, a.1),
                                (&b.0, b.1)
                            );
                        }
                    }
                }
            }
        }
    }

    /// Loops of other shapes, and bodies it cannot keep the same, are left
    /// as they are (the module comes back unchanged, not rewritten).
    #[test]
    fn other_loops_are_left_alone() {
        let form = |shape, cmp, step| Form {
            shape,
            cmp,
            step,
            after: "",
        };
        let (h, f, end) = (Shape::Head, Shape::Foot, "(local.get $end)");
        for (form, bound, body) in [
            // writes the counter or the bound
            (form(h, "i32.ge_u", 1), end, "(local.set $j (local.get $j))"),
            (
                form(h, "i32.ge_u", 1),
                end,
                "(local.set $end (i32.const 3))",
            ),
            (
                form(h, "i32.ge_u", 1),
                end,
                "(drop (local.tee $j (i32.const 3)))",
            ),
            (form(f, "i32.lt_u", 1), end, "(local.set $j (local.get $j))"),
            (
                form(f, "i32.lt_s", 1),
                end,
                "(local.set $end (i32.const 3))",
            ),
            (form(f, "", -1), end, "(local.set $j (local.get $j))"),
            // branches back to the head (skipping the test or the step)
            (
                form(h, "i32.ge_u", 1),
                end,
                "(br_if $l (i32.eqz (local.get $x)))",
            ),
            (
                form(h, "i32.ge_u", 1),
                end,
                "(block (br_table 0 1 (local.get $x)))",
            ),
            (
                form(f, "i32.lt_u", 1),
                end,
                "(br_if $l (i32.eqz (local.get $x)))",
            ),
            // an inner loop
            (form(h, "i32.ge_u", 1), end, "(loop (nop))"),
            (form(f, "i32.ne", 1), end, "(loop (nop))"),
            // tests that do not fit the step's direction, or no test
            (form(h, "i32.lt_u", 1), end, ""),
            (form(h, "i32.ge_u", -1), end, ""),
            (form(f, "i32.ge_u", 1), end, ""),
            (form(f, "i32.gt_s", 1), end, ""),
            (form(f, "i32.lt_u", -1), end, ""),
            (form(f, "", 1), end, ""),
            // steps of 0 or too large
            (form(h, "i32.ge_u", 0), end, ""),
            (form(f, "i32.ne", MAX_STEP + 1), end, ""),
            (form(f, "i32.ne", -MAX_STEP - 1), end, ""),
            // the counter as its own bound
            (form(h, "i32.ge_u", 1), "(local.get $j)", ""),
            (form(f, "i32.lt_u", 1), "(local.get $j)", ""),
            // a body too large, or loading too much
            (form(h, "i32.ge_u", 1), end, &"(nop)".repeat(MAX_BODY)),
            (
                form(f, "i32.lt_u", 1),
                end,
                &"(drop (i32.load (i32.const 8)))".repeat(MAX_TRAILING_LOADS + 1),
            ),
            (form(f, "i32.lt_u", 1), end, &"(nop)".repeat(MAX_BODY)),
        ] {
            let plain = module(form, bound, body);
            let (out, n) = unroll_loops(&plain);
            assert_eq!((n, &out[..]), (0, &plain[..]), "{form:?} {bound} {body}");
        }
        // A foot loop that branches back after its test; a loop with a
        // result: left alone.
        for wat in [
            r#"(module (func (param $j i32) (loop (br_if 0 (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 9))) (br 0))))"#,
            r#"(module (func (param $j i32) (result i32) (block (result i32) (loop (result i32) (br_if 1 (i32.const 0) (i32.ge_u (local.get $j) (i32.const 9)))
                 (local.set $j (i32.add (local.get $j) (i32.const 1))) (br 0)))))"#,
        ] {
            let plain = wat::parse_str(wat).unwrap();
            assert_eq!(unroll_loops(&plain).1, 0);
        }
    }

    /// The prototype's nstream kernel, with the range loop around it, has
    /// its loop unrolled in the kernel and the range loop, not in the
    /// block size 1 copy (whose loops over the block make one trip), and
    /// the rest of the module is byte for byte the same.
    #[test]
    fn nstream_is_unrolled() {
        let wat = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/wat/nstream.wat"
        ))
        .unwrap();
        let shape = crate::parallel::kernel::loader::load(&wat::parse_str(wat).unwrap()).unwrap();
        let looped = super::super::runner::add_range_loop(&shape.rewritten).unwrap();
        let (out, n) = unroll_loops(&looped);
        assert_eq!(n, 2, "the kernel and the range loop");
        let sections = |m: &[u8]| -> Vec<(u8, Vec<u8>)> {
            Parser::new(0)
                .parse_all(m)
                .filter_map(|p| p.unwrap().as_section())
                .map(|(id, r)| (id, m[r].to_vec()))
                .collect()
        };
        let (a, b) = (sections(&looped), sections(&out));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.0, y.0);
            if x.0 != 10 {
                assert_eq!(x, y, "section {} changed", x.0);
            }
        }
        let bodies = |m: &[u8]| -> Vec<Vec<u8>> {
            Parser::new(0)
                .parse_all(m)
                .filter_map(|p| match p.unwrap() {
                    Payload::CodeSectionEntry(b) => Some(m[b.range()].to_vec()),
                    _ => None,
                })
                .collect()
        };
        let (a, b) = (bodies(&looped), bodies(&out));
        // kernel, range loop, block size 1 copy
        assert_eq!((a.len(), b.len()), (3, 3));
        assert!(a[0] != b[0] && a[1] != b[1]);
        assert_eq!(a[2], b[2], "the block size 1 copy changed");
    }
}
