//! An expression and its scope in, its [`Type`] out: operators, scalar functions, casts, nulls.
//!
//! `None` means the expression has an error that was already reported; callers then stay
//! quiet about it, so one mistake gives one diagnostic.

use super::source::SourceInfo;
use super::suggest;
use crate::aggregates::AggKind;
use crate::ir::ScalarFn;
use crate::problem::{NameKind, Problem};
use crate::source::Span;
use crate::syntax::ast::{BinOp, Expr, ExprKind, UnaryOp};
use crate::types::{Ty, Type};

/// What names mean where an expression is written.
pub(super) enum Scope<'a> {
    /// Aggregate arguments and filters: the fields of each event.
    Fields { source: &'a SourceInfo, features: &'a [String] },
    /// Derived features: the group's features, with the types known so far.
    Features { features: &'a [(String, Option<Type>)], source: Option<&'a SourceInfo> },
}

pub(super) struct Typer<'a, 'p> {
    pub(super) scope: Scope<'a>,
    pub(super) problems: &'p mut Vec<Problem>,
    /// Where an aggregate call would be, for the message when one appears.
    pub(super) context: &'static str,
}

impl Typer<'_, '_> {
    pub(super) fn type_of(&mut self, expr: &Expr) -> Option<Type> {
        let span = expr.span;
        match &expr.kind {
            ExprKind::Int(_) => Some(Type::not_null(Ty::I64)),
            ExprKind::Float(_) => Some(Type::not_null(Ty::F64)),
            ExprKind::Str(_) => Some(Type::not_null(Ty::String)),
            ExprKind::Bool(_) => Some(Type::not_null(Ty::Bool)),
            ExprKind::Null => Some(Type::nullable(Ty::Null)),
            ExprKind::Duration(_) => {
                self.problems.push(Problem::DurationAsValue { span });
                None
            }
            ExprKind::Name(ident) => self.name(&ident.name, ident.span),
            ExprKind::Call { func, args } => self.call(&func.name, func.span, args, span),
            ExprKind::Unary { op, expr: inner } => {
                let t = self.type_of(inner)?;
                match op {
                    UnaryOp::Neg if t.is_numeric() => Some(t),
                    UnaryOp::Not if matches!(t.ty, Ty::Bool | Ty::Null) => Some(Type::new(Ty::Bool, t.nullable)),
                    _ => {
                        let (sym, expected) = if *op == UnaryOp::Neg { ("-", "a number") } else { ("not", "a bool") };
                        self.problems.push(Problem::OperandType { span: inner.span, op: sym, expected, found: t });
                        None
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, span),
            ExprKind::InList { expr: inner, list, .. } => {
                let t = self.type_of(inner);
                if let Some(list_ty) = t.as_ref().filter(|t| matches!(t.ty, Ty::List(_))) {
                    let found = list_ty.clone();
                    self.problems.push(Problem::OperandType {
                        span: inner.span,
                        op: "in",
                        expected: "a single value",
                        found,
                    });
                    return None;
                }
                let mut ok = t.is_some();
                for item in list {
                    let Some(it) = self.type_of(item) else {
                        ok = false;
                        continue;
                    };
                    if let Some(t) = &t
                        && t.ty.unify(&it.ty).is_none()
                    {
                        self.mismatch("an `in` list", span, (inner.span, t.clone()), (item.span, it), None);
                        ok = false;
                    }
                }
                ok.then(|| Type::new(Ty::Bool, t.is_some_and(|t| t.nullable)))
            }
            ExprKind::IsNull { expr: inner, .. } => {
                self.type_of(inner)?;
                Some(Type::not_null(Ty::Bool))
            }
            ExprKind::Cast { expr: inner, ty } => {
                let from = self.type_of(inner);
                let to = super::source::scalar_type(ty, self.problems)?;
                let from = from?;
                if castable(&from.ty, &to.ty) {
                    // A string that does not parse casts to null.
                    let fallible = from.ty == Ty::String && to.ty != Ty::String;
                    Some(Type::new(to.ty, from.nullable || fallible || to.nullable))
                } else {
                    self.problems.push(Problem::InvalidCast { span, from, to });
                    None
                }
            }
            ExprKind::If { cond, then, otherwise } => {
                let c = self.type_of(cond);
                let a = self.type_of(then);
                let b = self.type_of(otherwise);
                if let Some(c) = &c
                    && !matches!(c.ty, Ty::Bool | Ty::Null)
                {
                    self.problems.push(Problem::OperandType {
                        span: cond.span,
                        op: "if",
                        expected: "a bool",
                        found: c.clone(),
                    });
                    return None;
                }
                let (_, a, b) = (c?, a?, b?);
                match a.ty.unify(&b.ty) {
                    Some(ty) => Some(Type::new(ty, a.nullable || b.nullable)),
                    None => {
                        self.mismatch("the branches of `if`", span, (then.span, a), (otherwise.span, b), None);
                        None
                    }
                }
            }
        }
    }

    fn name(&mut self, name: &str, span: Span) -> Option<Type> {
        match &self.scope {
            Scope::Fields { source, features } => {
                if let Some(t) = source.field(name) {
                    return Some(t.clone());
                }
                if features.iter().any(|f| f == name) {
                    self.problems.push(Problem::FeatureInAggregate { name: name.to_owned(), span });
                    return None;
                }
                // A field whose type failed to resolve was reported with the schema.
                if source.field_spans.contains_key(name) {
                    return None;
                }
                let suggestion = suggest(name, source.field_names());
                let scope = Some((source.name_span, format!("fields of `{}`", source.checked.name)));
                self.problems.push(Problem::Unknown {
                    kind: NameKind::Field,
                    name: name.to_owned(),
                    span,
                    suggestion,
                    scope,
                });
                None
            }
            Scope::Features { features, source } => {
                if let Some((_, t)) = features.iter().find(|(n, _)| n == name) {
                    return t.clone();
                }
                if let Some(source) = source.filter(|s| s.field(name).is_some()) {
                    self.problems.push(Problem::FieldInDerived {
                        name: name.to_owned(),
                        span,
                        source: source.checked.name.clone(),
                    });
                    return None;
                }
                let suggestion = suggest(name, features.iter().map(|(n, _)| n.as_str()));
                self.problems.push(Problem::Unknown {
                    kind: NameKind::Feature,
                    name: name.to_owned(),
                    span,
                    suggestion,
                    scope: None,
                });
                None
            }
        }
    }

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, span: Span) -> Option<Type> {
        let l = self.type_of(lhs);
        let r = self.type_of(rhs);
        let (l, r) = (l?, r?);
        let nullable = l.nullable || r.nullable;
        match op {
            BinOp::And | BinOp::Or => {
                for (side, t) in [(lhs, &l), (rhs, &r)] {
                    if !matches!(t.ty, Ty::Bool | Ty::Null) {
                        self.problems.push(Problem::OperandType {
                            span: side.span,
                            op: op.symbol(),
                            expected: "bools",
                            found: t.clone(),
                        });
                        return None;
                    }
                }
                Some(Type::new(Ty::Bool, nullable))
            }
            _ if op.is_comparison() => {
                for (side, t) in [(lhs, &l), (rhs, &r)] {
                    if t.ty == Ty::Null && matches!(&side.kind, ExprKind::Null) {
                        self.problems.push(Problem::NullComparison { span, op: op.symbol() });
                    }
                }
                let Some(ty) = l.ty.unify(&r.ty) else {
                    let help = (l.ty == Ty::Timestamp || r.ty == Ty::Timestamp)
                        .then(|| "timestamps compare with timestamps; windows select time ranges".to_owned());
                    self.mismatch("a comparison", span, (lhs.span, l), (rhs.span, r), help);
                    return None;
                };
                let ordered = matches!(op, BinOp::Eq | BinOp::Ne) || ty.is_ordered();
                if !ordered || matches!(ty, Ty::List(_)) {
                    self.problems.push(Problem::OperandType {
                        span,
                        op: op.symbol(),
                        expected: "values with an order",
                        found: l,
                    });
                    return None;
                }
                Some(Type::new(Ty::Bool, nullable))
            }
            _ => {
                for (side, t) in [(lhs, &l), (rhs, &r)] {
                    if !t.is_numeric() {
                        let help = (t.ty == Ty::String && op == BinOp::Add).then(|| "strings do not add".to_owned());
                        if help.is_some() || (l.is_numeric() || r.is_numeric()) {
                            self.mismatch("arithmetic", span, (lhs.span, l.clone()), (rhs.span, r.clone()), help);
                        } else {
                            self.problems.push(Problem::OperandType {
                                span: side.span,
                                op: op.symbol(),
                                expected: "numbers",
                                found: t.clone(),
                            });
                        }
                        return None;
                    }
                }
                let both_int = l.ty == Ty::I64 && r.ty == Ty::I64;
                Some(match op {
                    // Division is always real, and by zero gives null.
                    BinOp::Div => Type::nullable(Ty::F64),
                    BinOp::Rem => Type::nullable(if both_int { Ty::I64 } else { Ty::F64 }),
                    _ => Type::new(if both_int { Ty::I64 } else { Ty::F64 }, nullable),
                })
            }
        }
    }

    fn call(&mut self, func: &str, func_span: Span, args: &[Expr], span: Span) -> Option<Type> {
        if AggKind::from_name(func).is_some() {
            self.problems.push(Problem::MisplacedAggregate { span, func: func.to_owned(), context: self.context });
            return None;
        }
        let Some(f) = ScalarFn::from_name(func) else {
            let candidates = ScalarFn::ALL.iter().map(|f| f.name()).chain(AggKind::ALL.iter().map(|k| k.name()));
            self.problems.push(Problem::Unknown {
                kind: NameKind::Function,
                name: func.to_owned(),
                span: func_span,
                suggestion: suggest(func, candidates),
                scope: None,
            });
            return None;
        };
        let types: Vec<Option<Type>> = args.iter().map(|a| self.type_of(a)).collect();
        let variadic = f == ScalarFn::Coalesce;
        if (variadic && args.is_empty()) || (!variadic && args.len() != 1) {
            let expected = if variadic { "at least 1 argument" } else { "1 argument" };
            self.problems.push(Problem::WrongArgCount {
                span,
                func: func.to_owned(),
                expected: expected.to_owned(),
                found: args.len(),
            });
            return None;
        }
        let types: Vec<Type> = types.into_iter().collect::<Option<_>>()?;
        let t = &types[0];
        let string = matches!(t.ty, Ty::String | Ty::Null);
        // Each function's signature: whether the argument fits, and the result type.
        let (wanted, expected, result) = match f {
            ScalarFn::Coalesce => {
                let mut acc = types[0].clone();
                for (t, a) in types.iter().zip(args).skip(1) {
                    match acc.ty.unify(&t.ty) {
                        Some(ty) => acc = Type::new(ty, acc.nullable && t.nullable),
                        None => {
                            self.mismatch(
                                "`coalesce`",
                                span,
                                (args[0].span, types[0].clone()),
                                (a.span, t.clone()),
                                None,
                            );
                            return None;
                        }
                    }
                }
                return Some(acc);
            }
            ScalarFn::Abs | ScalarFn::Round => (t.is_numeric(), "a number", t.clone()),
            ScalarFn::Sqrt | ScalarFn::Ln => (t.is_numeric(), "a number", Type::nullable(Ty::F64)),
            ScalarFn::Lower | ScalarFn::Upper => (string, "a string", t.clone()),
            ScalarFn::Length => (string, "a string", Type::new(Ty::I64, t.nullable)),
        };
        if !wanted {
            self.problems.push(Problem::OperandType { span: args[0].span, op: f.name(), expected, found: t.clone() });
            return None;
        }
        Some(result)
    }

    pub(super) fn mismatch(
        &mut self,
        what: &str,
        span: Span,
        left: (Span, Type),
        right: (Span, Type),
        help: Option<String>,
    ) {
        self.problems.push(Problem::TypeMismatch { span, what: what.to_owned(), left, right, help });
    }
}

/// The casts the language allows (see `docs/language.md`, "Casts").
fn castable(from: &Ty, to: &Ty) -> bool {
    use Ty::*;
    from == to
        || matches!(
            (from, to),
            (Null, _)
                | (I64 | F64, I64 | F64)
                | (_, String)
                | (String, I64 | F64 | Bool)
                | (Bool, I64 | F64)
                | (I64, Timestamp)
                | (Timestamp, I64)
        ) && !matches!(from, List(_))
}
