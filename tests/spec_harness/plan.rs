//! Reading a spec `.wast` file into a plan: its modules (binary) and, per
//! module, the actions run against it (`assert_return`, `assert_trap` with
//! an invoke or a `get`, and bare `invoke`s), each with what the spec
//! expects. Directives that are not about running code (`assert_invalid`,
//! `assert_malformed`, `assert_unlinkable`, ...) are counted as not
//! applicable; runtime directives the harness cannot turn into a kernel
//! iteration are listed with the reason.

use wast::core::{NanPattern, V128Const, V128Pattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastRet};

/// A wasm value as bits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    I32(u32),
    I64(u64),
    F32(u32),
    F64(u64),
    V128(u128),
}

/// One float lane of an expected result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lane {
    Bits(u64),
    /// `nan:canonical`: sign free, payload exactly the canonical one.
    CanonNan,
    /// `nan:arithmetic`: sign free, the quiet bit set.
    ArithNan,
}

/// An expected result.
#[derive(Clone, Debug, PartialEq)]
pub enum Pat {
    I32(u32),
    I64(u64),
    F32(Lane),
    F64(Lane),
    /// Lanes of `lane_bits` each (as integers, or as floats when `float`).
    V128 {
        lane_bits: u32,
        float: bool,
        lanes: Vec<Lane>,
    },
    /// Any one of these (the spec's `(either ...)`).
    Either(Vec<Pat>),
}

/// The kinds of trap the spec names (by message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapKind {
    Unreachable,
    OutOfBounds,
    DivByZero,
    Overflow,
    BadConversion,
    UndefinedElement,
    UninitializedElement,
    IndirectTypeMismatch,
    Exhaustion,
    Other,
}

impl TrapKind {
    /// The kind a trap message (the spec's, wasmi's or the Vulkan
    /// device's) names.
    pub fn from_message(m: &str) -> TrapKind {
        let m = m.to_ascii_lowercase();
        if m.contains("divide by zero") || m.contains("division by zero") {
            TrapKind::DivByZero
        } else if m.contains("integer overflow") {
            TrapKind::Overflow
        } else if m.contains("invalid conversion to integer") {
            TrapKind::BadConversion
        } else if m.contains("out of bounds memory")
            || m.contains("out-of-bounds memory")
            || m.contains("memory access out of bounds")
        {
            TrapKind::OutOfBounds
        } else if m.contains("unreachable") {
            TrapKind::Unreachable
        } else if m.contains("undefined element") {
            TrapKind::UndefinedElement
        } else if m.contains("uninitialized element") {
            TrapKind::UninitializedElement
        } else if m.contains("indirect call type mismatch") {
            TrapKind::IndirectTypeMismatch
        } else if m.contains("call stack exhausted") || m.contains("stack overflow") {
            TrapKind::Exhaustion
        } else {
            TrapKind::Other
        }
    }
}

/// What the spec expects of an action.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// Returns these values.
    Return(Vec<Pat>),
    /// Traps with this kind (the spec's message kept for reports).
    Trap(TrapKind, String),
    /// A bare `invoke`: must complete; its results are not checked.
    Completes,
}

/// What an action runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Call the exported function.
    Func(String),
    /// Read the exported global.
    Global(String),
}

/// One action against a module instance.
#[derive(Clone, Debug)]
pub struct Action {
    /// Line in the `.wast` file.
    pub line: usize,
    pub target: Target,
    pub args: Vec<Val>,
    pub expect: Expect,
}

/// One module instance of a file and the actions run against it.
#[derive(Debug)]
pub struct ModulePlan {
    pub line: usize,
    /// The binary module, or why there is none.
    pub bytes: Result<Vec<u8>, String>,
    pub actions: Vec<Action>,
}

/// A whole file.
#[derive(Debug, Default)]
pub struct FilePlan {
    pub modules: Vec<ModulePlan>,
    /// Runtime directives that cannot be run as kernel iterations: (line, reason).
    pub skipped: Vec<(usize, String)>,
    /// Directives not about running code (validation, parsing, linking).
    pub not_applicable: usize,
}

impl FilePlan {
    /// Number of actions in all modules.
    pub fn actions(&self) -> usize {
        self.modules.iter().map(|m| m.actions.len()).sum()
    }
}

/// Parses the text of a `.wast` file.
pub fn plan(text: &str) -> Result<FilePlan, String> {
    let buf = ParseBuffer::new(text).map_err(|e| e.to_string())?;
    let wast: Wast<'_> = parser::parse(&buf).map_err(|e| e.to_string())?;
    let line_of = |span: wast::token::Span| span.linecol_in(text).0 + 1;
    let mut out = FilePlan::default();
    // Module ids ($M) to indices in out.modules.
    let mut ids: Vec<(String, usize)> = Vec::new();
    for directive in wast.directives {
        let line = line_of(directive.span());
        match directive {
            WastDirective::Module(mut qw) => {
                let id = match &qw {
                    QuoteWat::Wat(wast::Wat::Module(m)) => m.id.map(|i| i.name().to_string()),
                    _ => None,
                };
                let bytes = match &qw {
                    QuoteWat::Wat(wast::Wat::Component(_)) | QuoteWat::QuoteComponent(..) => {
                        Err("a component, not a core module".to_string())
                    }
                    _ => qw.encode().map_err(|e| format!("does not encode: {e}")),
                };
                if let Some(id) = id {
                    ids.push((id, out.modules.len()));
                }
                out.modules.push(ModulePlan {
                    line,
                    bytes,
                    actions: Vec::new(),
                });
            }
            WastDirective::ModuleDefinition(_) | WastDirective::ModuleInstance { .. } => {
                out.skipped.push((
                    line,
                    "module definitions/instances (wasm 3.0 syntax) are not run".into(),
                ));
                // Later actions would go to the wrong instance: stop the
                // current module from taking them.
                out.modules.push(ModulePlan {
                    line,
                    bytes: Err("module instance syntax".into()),
                    actions: Vec::new(),
                });
            }
            WastDirective::Register { .. } => {}
            WastDirective::Invoke(inv) => {
                let module = inv.module.map(|i| i.name().to_string());
                let act = invoke_action(line, inv.name, &inv.args, Expect::Completes);
                push(&mut out, &ids, module, line, act);
            }
            WastDirective::AssertReturn { exec, results, .. } => {
                let expect = results
                    .iter()
                    .map(ret_pat)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Expect::Return);
                match expect {
                    Err(e) => out.skipped.push((line, e)),
                    Ok(expect) => {
                        let (module, act) = exec_action(line, &exec, expect);
                        push(&mut out, &ids, module, line, act);
                    }
                }
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                let expect = Expect::Trap(TrapKind::from_message(message), message.to_string());
                let (module, act) = exec_action(line, &exec, expect);
                push(&mut out, &ids, module, line, act);
            }
            WastDirective::AssertExhaustion { .. } => out.skipped.push((
                line,
                "assert_exhaustion: call stack exhaustion (unbounded recursion) is not a kernel"
                    .into(),
            )),
            WastDirective::AssertMalformed { .. }
            | WastDirective::AssertMalformedCustom { .. }
            | WastDirective::AssertInvalid { .. }
            | WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertUnlinkable { .. } => out.not_applicable += 1,
            _ => out
                .skipped
                .push((line, "directive not supported by the harness".into())),
        }
    }
    Ok(out)
}

fn push(
    out: &mut FilePlan,
    ids: &[(String, usize)],
    module: Option<String>,
    line: usize,
    act: Result<Action, String>,
) {
    let act = match act {
        Ok(a) => a,
        Err(e) => return out.skipped.push((line, e)),
    };
    let idx = match module {
        None => out.modules.len().checked_sub(1),
        Some(id) => ids.iter().rev().find(|(n, _)| *n == id).map(|(_, i)| *i),
    };
    match idx {
        Some(i) => out.modules[i].actions.push(act),
        None => out
            .skipped
            .push((line, "action without a module instance".into())),
    }
}

fn exec_action(
    line: usize,
    exec: &WastExecute<'_>,
    expect: Expect,
) -> (Option<String>, Result<Action, String>) {
    match exec {
        WastExecute::Invoke(inv) => (
            inv.module.map(|i| i.name().to_string()),
            invoke_action(line, inv.name, &inv.args, expect),
        ),
        WastExecute::Get { module, global, .. } => (
            module.map(|i| i.name().to_string()),
            Ok(Action {
                line,
                target: Target::Global(global.to_string()),
                args: Vec::new(),
                expect,
            }),
        ),
        WastExecute::Wat(_) => (
            None,
            Err("a trap while instantiating a module is not a kernel iteration".into()),
        ),
    }
}

fn invoke_action(
    line: usize,
    name: &str,
    args: &[WastArg<'_>],
    expect: Expect,
) -> Result<Action, String> {
    let args = args.iter().map(arg_val).collect::<Result<Vec<_>, _>>()?;
    Ok(Action {
        line,
        target: Target::Func(name.to_string()),
        args,
        expect,
    })
}

fn arg_val(a: &WastArg<'_>) -> Result<Val, String> {
    match a {
        WastArg::Core(WastArgCore::I32(x)) => Ok(Val::I32(*x as u32)),
        WastArg::Core(WastArgCore::I64(x)) => Ok(Val::I64(*x as u64)),
        WastArg::Core(WastArgCore::F32(x)) => Ok(Val::F32(x.bits)),
        WastArg::Core(WastArgCore::F64(x)) => Ok(Val::F64(x.bits)),
        WastArg::Core(WastArgCore::V128(v)) => Ok(Val::V128(v128_bits(v))),
        _ => Err("reference-typed arguments cannot be passed to a kernel".into()),
    }
}

fn v128_bits(v: &V128Const) -> u128 {
    u128::from_le_bytes(v.to_le_bytes())
}

fn lane<T>(p: &NanPattern<T>, bits: impl Fn(&T) -> u64) -> Lane {
    match p {
        NanPattern::CanonicalNan => Lane::CanonNan,
        NanPattern::ArithmeticNan => Lane::ArithNan,
        NanPattern::Value(v) => Lane::Bits(bits(v)),
    }
}

fn ret_pat(r: &WastRet<'_>) -> Result<Pat, String> {
    match r {
        WastRet::Core(c) => core_pat(c),
        #[allow(unreachable_patterns)]
        _ => Err("component-model result".into()),
    }
}

fn core_pat(c: &WastRetCore<'_>) -> Result<Pat, String> {
    Ok(match c {
        WastRetCore::I32(x) => Pat::I32(*x as u32),
        WastRetCore::I64(x) => Pat::I64(*x as u64),
        WastRetCore::F32(p) => Pat::F32(lane(p, |f| f.bits as u64)),
        WastRetCore::F64(p) => Pat::F64(lane(p, |f| f.bits)),
        WastRetCore::V128(p) => match p {
            V128Pattern::I8x16(l) => ints(8, l.iter().map(|x| *x as u8 as u64)),
            V128Pattern::I16x8(l) => ints(16, l.iter().map(|x| *x as u16 as u64)),
            V128Pattern::I32x4(l) => ints(32, l.iter().map(|x| *x as u32 as u64)),
            V128Pattern::I64x2(l) => ints(64, l.iter().map(|x| *x as u64)),
            V128Pattern::F32x4(l) => Pat::V128 {
                lane_bits: 32,
                float: true,
                lanes: l.iter().map(|p| lane(p, |f| f.bits as u64)).collect(),
            },
            V128Pattern::F64x2(l) => Pat::V128 {
                lane_bits: 64,
                float: true,
                lanes: l.iter().map(|p| lane(p, |f| f.bits)).collect(),
            },
        },
        WastRetCore::Either(alts) => {
            Pat::Either(alts.iter().map(core_pat).collect::<Result<Vec<_>, _>>()?)
        }
        _ => return Err("reference-typed results cannot be stored by a kernel".into()),
    })
}

fn ints(lane_bits: u32, it: impl Iterator<Item = u64>) -> Pat {
    Pat::V128 {
        lane_bits,
        float: false,
        lanes: it.map(Lane::Bits).collect(),
    }
}

/// Whether `got` (a result's bits) matches `pat`.
pub fn matches(pat: &Pat, got: Val) -> bool {
    match (pat, got) {
        (Pat::I32(a), Val::I32(b)) => *a == b,
        (Pat::I64(a), Val::I64(b)) => *a == b,
        (Pat::F32(l), Val::F32(b)) => lane_matches(*l, b as u64, 32),
        (Pat::F64(l), Val::F64(b)) => lane_matches(*l, b, 64),
        (
            Pat::V128 {
                lane_bits,
                float,
                lanes,
            },
            Val::V128(b),
        ) => lanes.iter().enumerate().all(|(i, l)| {
            let mask = if *lane_bits == 64 {
                u64::MAX
            } else {
                (1u64 << lane_bits) - 1
            };
            let v = (b >> (i as u32 * lane_bits)) as u64 & mask;
            if *float {
                lane_matches(*l, v, *lane_bits)
            } else {
                *l == Lane::Bits(v)
            }
        }),
        (Pat::Either(alts), v) => alts.iter().any(|p| matches(p, v)),
        _ => false,
    }
}

fn lane_matches(l: Lane, bits: u64, width: u32) -> bool {
    let (exp_mant, quiet, canon) = if width == 32 {
        (0x7fff_ffffu64, 0x7fc0_0000u64, 0x7fc0_0000u64)
    } else {
        (
            0x7fff_ffff_ffff_ffffu64,
            0x7ff8_0000_0000_0000u64,
            0x7ff8_0000_0000_0000u64,
        )
    };
    match l {
        Lane::Bits(b) => b == bits,
        Lane::CanonNan => bits & exp_mant == canon,
        Lane::ArithNan => bits & quiet == quiet,
    }
}
