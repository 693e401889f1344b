//! `FunctionBuilder`: one naga function under construction.

use super::{Types, H};
use crate::spirv::analyze::Ty;
use naga::{
    AtomicFunction, BinaryOperator as Bo, Block, Expression, Function, FunctionArgument,
    GlobalVariable, Handle, Literal, LocalVariable, MathFunction as Mf, ScalarKind, Span,
    Statement, SwitchCase, SwitchValue, Type, UnaryOperator as Uo,
};
use std::collections::HashMap;

/// A function under construction: expression arena, nested blocks and the
/// emit bookkeeping naga needs (every non-constant expression inside an
/// `Emit` range of the block where it is evaluated).
pub(super) struct FunctionBuilder {
    pub(super) f: Function,
    pub(super) blocks: Vec<Block>,
    pub(super) emit_start: usize,
    pub(super) lits: HashMap<(u8, u64), H>,
    pub(super) gexprs: HashMap<Handle<GlobalVariable>, H>,
    pub(super) t: Types,
}

impl FunctionBuilder {
    pub(super) fn new(name: &str, t: Types) -> FunctionBuilder {
        FunctionBuilder {
            f: Function {
                name: Some(name.to_string()),
                ..Default::default()
            },
            blocks: vec![Block::new()],
            emit_start: 0,
            lits: HashMap::new(),
            gexprs: HashMap::new(),
            t,
        }
    }

    pub(super) fn finish(mut self) -> Function {
        self.flush();
        debug_assert_eq!(self.blocks.len(), 1);
        self.f.body = self.blocks.pop().unwrap_or_default();
        self.f
    }

    pub(super) fn expr(&mut self, e: Expression) -> H {
        if e.needs_pre_emit() {
            self.flush();
            let h = self.f.expressions.append(e, Span::UNDEFINED);
            self.emit_start = self.f.expressions.len();
            h
        } else {
            self.f.expressions.append(e, Span::UNDEFINED)
        }
    }

    /// An expression defined by a statement (call or atomic result): never
    /// inside an `Emit` range.
    pub(super) fn special(&mut self, e: Expression) -> H {
        self.flush();
        let h = self.f.expressions.append(e, Span::UNDEFINED);
        self.emit_start = self.f.expressions.len();
        h
    }

    pub(super) fn flush(&mut self) {
        let len = self.f.expressions.len();
        if len > self.emit_start {
            let range = self.f.expressions.range_from(self.emit_start);
            if let Some(b) = self.blocks.last_mut() {
                b.push(Statement::Emit(range), Span::UNDEFINED);
            }
        }
        self.emit_start = len;
    }

    pub(super) fn stmt(&mut self, s: Statement) {
        self.flush();
        if let Some(b) = self.blocks.last_mut() {
            b.push(s, Span::UNDEFINED);
        }
    }

    pub(super) fn open(&mut self) {
        self.flush();
        self.blocks.push(Block::new());
    }

    pub(super) fn close(&mut self) -> Block {
        self.flush();
        self.blocks.pop().unwrap_or_default()
    }

    pub(super) fn lit(&mut self, l: Literal) -> H {
        let key = match l {
            Literal::U32(v) => (0, v as u64),
            Literal::U64(v) => (1, v),
            Literal::Bool(v) => (2, v as u64),
            Literal::I32(v) => (3, v as u32 as u64),
            _ => return self.expr(Expression::Literal(l)),
        };
        if let Some(&h) = self.lits.get(&key) {
            return h;
        }
        let h = self.expr(Expression::Literal(l));
        self.lits.insert(key, h);
        h
    }
    pub(super) fn u32(&mut self, v: u32) -> H {
        self.lit(Literal::U32(v))
    }
    pub(super) fn u64(&mut self, v: u64) -> H {
        self.lit(Literal::U64(v))
    }
    pub(super) fn bool(&mut self, v: bool) -> H {
        self.lit(Literal::Bool(v))
    }
    pub(super) fn f32_bits(&mut self, bits: u32) -> H {
        let u = self.u32(bits);
        self.bitcast(u, ScalarKind::Float)
    }
    pub(super) fn f64_bits(&mut self, bits: u64) -> H {
        let u = self.u64(bits);
        self.bitcast(u, ScalarKind::Float)
    }
    pub(super) fn global(&mut self, g: Handle<GlobalVariable>) -> H {
        if let Some(&h) = self.gexprs.get(&g) {
            return h;
        }
        let h = self.expr(Expression::GlobalVariable(g));
        self.gexprs.insert(g, h);
        h
    }
    pub(super) fn load(&mut self, pointer: H) -> H {
        self.expr(Expression::Load { pointer })
    }
    pub(super) fn load_global(&mut self, g: Handle<GlobalVariable>) -> H {
        let p = self.global(g);
        self.load(p)
    }
    pub(super) fn store(&mut self, pointer: H, value: H) {
        self.stmt(Statement::Store { pointer, value });
    }
    pub(super) fn store_global(&mut self, g: Handle<GlobalVariable>, value: H) {
        let p = self.global(g);
        self.store(p, value);
    }
    pub(super) fn bin(&mut self, op: Bo, left: H, right: H) -> H {
        self.expr(Expression::Binary { op, left, right })
    }
    pub(super) fn un(&mut self, op: Uo, expr: H) -> H {
        self.expr(Expression::Unary { op, expr })
    }
    pub(super) fn sel(&mut self, condition: H, accept: H, reject: H) -> H {
        self.expr(Expression::Select {
            condition,
            accept,
            reject,
        })
    }
    /// Bitcast to `kind` of the same width.
    pub(super) fn bitcast(&mut self, expr: H, kind: ScalarKind) -> H {
        self.expr(Expression::As {
            expr,
            kind,
            convert: None,
        })
    }
    /// Value conversion to `kind`/`width`.
    pub(super) fn conv(&mut self, expr: H, kind: ScalarKind, width: u8) -> H {
        self.expr(Expression::As {
            expr,
            kind,
            convert: Some(width),
        })
    }
    pub(super) fn math(&mut self, fun: Mf, arg: H) -> H {
        self.expr(Expression::Math {
            fun,
            arg,
            arg1: None,
            arg2: None,
            arg3: None,
        })
    }
    pub(super) fn isnan(&mut self, argument: H) -> H {
        self.expr(Expression::Relational {
            fun: naga::RelationalFunction::IsNan,
            argument,
        })
    }
    pub(super) fn arg(&mut self, i: u32) -> H {
        self.expr(Expression::FunctionArgument(i))
    }
    pub(super) fn index(&mut self, g: Handle<GlobalVariable>, index: H) -> H {
        let base = self.global(g);
        self.expr(Expression::Access { base, index })
    }
    pub(super) fn local(&mut self, name: String, ty: Handle<Type>, init: Option<H>) -> H {
        let lv = self.f.local_variables.append(
            LocalVariable {
                name: Some(name),
                ty,
                init,
            },
            Span::UNDEFINED,
        );
        self.expr(Expression::LocalVariable(lv))
    }
    pub(super) fn ret(&mut self, value: Option<H>) {
        self.stmt(Statement::Return { value });
    }
    /// `body` in a construct that `Break` leaves and nothing loops: a switch
    /// with only a default case.
    pub(super) fn breakable(&mut self, body: Block) {
        let selector = self.u32(0);
        self.stmt(Statement::Switch {
            selector,
            cases: vec![SwitchCase {
                value: SwitchValue::Default,
                body,
                fall_through: false,
            }],
        });
    }

    pub(super) fn if_(&mut self, condition: H, accept: Block, reject: Block) {
        self.stmt(Statement::If {
            condition,
            accept,
            reject,
        });
    }
    pub(super) fn call(
        &mut self,
        function: Handle<Function>,
        arguments: Vec<H>,
        has_result: bool,
    ) -> Option<H> {
        let result = if has_result {
            Some(self.special(Expression::CallResult(function)))
        } else {
            None
        };
        self.stmt(Statement::Call {
            function,
            arguments,
            result,
        });
        result
    }
    pub(super) fn atomic(&mut self, pointer: H, fun: AtomicFunction, value: H) {
        self.stmt(Statement::Atomic {
            pointer,
            fun,
            value,
            result: None,
        });
    }
    pub(super) fn ty_of(&self, t: Ty) -> Handle<Type> {
        match t {
            Ty::I32 => self.t.u32,
            Ty::I64 => self.t.u64,
            Ty::F32 => self.t.f32,
            Ty::F64 => self.t.f64,
            Ty::V128 => self.t.vec4u,
        }
    }
    pub(super) fn zero(&mut self, t: Ty) -> H {
        match t {
            Ty::I32 => self.u32(0),
            Ty::I64 => self.u64(0),
            Ty::F32 => self.lit(Literal::F32(0.0)),
            Ty::F64 => self.lit(Literal::F64(0.0)),
            Ty::V128 => self.expr(Expression::ZeroValue(self.t.vec4u)),
        }
    }
}

pub(super) fn u32_arg(t: &Types, name: &str) -> FunctionArgument {
    FunctionArgument {
        name: Some(name.to_string()),
        ty: t.u32,
        binding: None,
    }
}
