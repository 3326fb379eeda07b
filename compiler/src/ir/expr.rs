//! A checked AST expression in, a position-free IR expression out: names resolved to column
//! positions, scalar functions from a closed set, literals and cast targets typed. The runtime
//! evaluates these, the SQL emitter prints them, and versions hash their canonical form.

use serde::Serialize;

use crate::syntax::ast::{Expr as Ast, ExprKind};
use crate::types::Ty;

/// An expression over a row: the group's projected columns (filters, aggregate arguments) or
/// its feature vector (derived features).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    Lit(Literal),
    /// A position in the row the expression reads.
    Column(usize),
    Call(ScalarFn, Vec<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Cast {
        expr: Box<Expr>,
        to: Ty,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Literal {
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(String),
}

/// The scalar functions of the language. The checker types each, the runtime evaluates each
/// and the SQL emitter prints each with an exhaustive `match`, so a new one that a layer does
/// not handle does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalarFn {
    Coalesce,
    Abs,
    Sqrt,
    Ln,
    Round,
    Lower,
    Upper,
    Length,
}

impl ScalarFn {
    pub const ALL: [ScalarFn; 8] = [
        ScalarFn::Coalesce,
        ScalarFn::Abs,
        ScalarFn::Sqrt,
        ScalarFn::Ln,
        ScalarFn::Round,
        ScalarFn::Lower,
        ScalarFn::Upper,
        ScalarFn::Length,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ScalarFn::Coalesce => "coalesce",
            ScalarFn::Abs => "abs",
            ScalarFn::Sqrt => "sqrt",
            ScalarFn::Ln => "ln",
            ScalarFn::Round => "round",
            ScalarFn::Lower => "lower",
            ScalarFn::Upper => "upper",
            ScalarFn::Length => "length",
        }
    }

    pub fn from_name(name: &str) -> Option<ScalarFn> {
        ScalarFn::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// Binding strengths shared by the parser and the printer (higher binds tighter).
pub mod prec {
    pub const OR: u8 = 1;
    pub const AND: u8 = 2;
    pub const NOT: u8 = 3;
    /// Comparisons, `in` lists and `is null` tests.
    pub const CMP: u8 = 4;
    pub const ADD: u8 = 5;
    pub const MUL: u8 = 6;
    pub const NEG: u8 = 7;
    pub const CAST: u8 = 8;
    pub const ATOM: u8 = 9;
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }

    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => prec::OR,
            BinOp::And => prec::AND,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => prec::CMP,
            BinOp::Add | BinOp::Sub => prec::ADD,
            BinOp::Mul | BinOp::Div | BinOp::Rem => prec::MUL,
        }
    }

    pub fn is_comparison(self) -> bool {
        self.precedence() == prec::CMP
    }
}

/// Lowers a checked expression, resolving each name with `resolve`. Fails only on what the
/// checker rejects (an unknown name or function, a duration as a value).
pub(crate) fn lower(e: &Ast, resolve: &dyn Fn(&str) -> Option<usize>) -> Result<Expr, String> {
    let sub = |x: &Ast| lower(x, resolve).map(Box::new);
    let all = |xs: &[Ast]| xs.iter().map(|x| lower(x, resolve)).collect::<Result<Vec<_>, _>>();
    Ok(match &e.kind {
        ExprKind::Int(v) => Expr::Lit(Literal::I64(*v)),
        ExprKind::Float(v) => Expr::Lit(Literal::F64(*v)),
        ExprKind::Str(s) => Expr::Lit(Literal::Str(s.clone())),
        ExprKind::Bool(b) => Expr::Lit(Literal::Bool(*b)),
        ExprKind::Null => Expr::Lit(Literal::Null),
        ExprKind::Duration(_) => return Err("a duration is not a value".to_owned()),
        ExprKind::Name(id) => Expr::Column(resolve(&id.name).ok_or_else(|| format!("unknown name `{}`", id.name))?),
        ExprKind::Call { func, args } => Expr::Call(
            ScalarFn::from_name(&func.name).ok_or_else(|| format!("unknown function `{}`", func.name))?,
            all(args)?,
        ),
        ExprKind::Unary { op, expr } => Expr::Unary(*op, sub(expr)?),
        ExprKind::Binary { op, lhs, rhs } => Expr::Binary(*op, sub(lhs)?, sub(rhs)?),
        ExprKind::InList { expr, list, negated } => {
            Expr::InList { expr: sub(expr)?, list: all(list)?, negated: *negated }
        }
        ExprKind::IsNull { expr, negated } => Expr::IsNull { expr: sub(expr)?, negated: *negated },
        ExprKind::Cast { expr, ty } => Expr::Cast {
            expr: sub(expr)?,
            to: Ty::from_name(&ty.name.name).ok_or_else(|| format!("unknown type `{}`", ty.name.name))?,
        },
        ExprKind::If { cond, then, otherwise } => {
            Expr::If { cond: sub(cond)?, then: sub(then)?, otherwise: sub(otherwise)? }
        }
    })
}

impl Expr {
    /// Visits this expression and every sub-expression, parents first.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Lit(_) | Expr::Column(_) => {}
            Expr::Call(_, args) => args.iter().for_each(|a| a.walk(f)),
            Expr::Unary(_, e) | Expr::IsNull { expr: e, .. } | Expr::Cast { expr: e, .. } => e.walk(f),
            Expr::Binary(_, l, r) => {
                l.walk(f);
                r.walk(f);
            }
            Expr::InList { expr, list, .. } => {
                expr.walk(f);
                list.iter().for_each(|a| a.walk(f));
            }
            Expr::If { cond, then, otherwise } => {
                cond.walk(f);
                then.walk(f);
                otherwise.walk(f);
            }
        }
    }

    /// The columns the expression reads.
    pub fn columns(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Column(i) = e
                && !out.contains(i)
            {
                out.push(*i);
            }
        });
        out
    }

    /// A canonical prefix form with every column written by `name`: equal for expressions that
    /// mean the same over the same named inputs, whatever the layout, comments or column
    /// positions of the text they came from. Versions hash it.
    pub fn canonical(&self, name: &dyn Fn(usize) -> String) -> String {
        let mut out = String::new();
        self.write_canonical(name, &mut out);
        out
    }

    fn write_canonical(&self, name: &dyn Fn(usize) -> String, out: &mut String) {
        let list = |items: &[Expr], out: &mut String| {
            for item in items {
                out.push(' ');
                item.write_canonical(name, out);
            }
        };
        match self {
            Expr::Lit(Literal::Null) => out.push_str("null"),
            Expr::Lit(Literal::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
            Expr::Lit(Literal::I64(v)) => out.push_str(&format!("i{v}")),
            // The bits: exact, and distinct for 0.0 and -0.0.
            Expr::Lit(Literal::F64(v)) => out.push_str(&format!("f{:016x}", v.to_bits())),
            Expr::Lit(Literal::Str(s)) => out.push_str(&format!("{s:?}")),
            Expr::Column(i) => out.push_str(&format!("${}", name(*i))),
            Expr::Call(f, args) => {
                out.push('(');
                out.push_str(f.name());
                list(args, out);
                out.push(')');
            }
            Expr::Unary(op, e) => {
                out.push_str(match op {
                    UnaryOp::Neg => "(neg ",
                    UnaryOp::Not => "(not ",
                });
                e.write_canonical(name, out);
                out.push(')');
            }
            Expr::Binary(op, l, r) => {
                out.push('(');
                out.push_str(op.symbol());
                out.push(' ');
                l.write_canonical(name, out);
                out.push(' ');
                r.write_canonical(name, out);
                out.push(')');
            }
            Expr::InList { expr, list: items, negated } => {
                out.push_str(if *negated { "(not-in " } else { "(in " });
                expr.write_canonical(name, out);
                list(items, out);
                out.push(')');
            }
            Expr::IsNull { expr, negated } => {
                out.push_str(if *negated { "(is-not-null " } else { "(is-null " });
                expr.write_canonical(name, out);
                out.push(')');
            }
            Expr::Cast { expr, to } => {
                out.push_str(&format!("(as {to} "));
                expr.write_canonical(name, out);
                out.push(')');
            }
            Expr::If { cond, then, otherwise } => {
                out.push_str("(if");
                list(&[(**cond).clone(), (**then).clone(), (**otherwise).clone()], out);
                out.push(')');
            }
        }
    }
}

/// A lowered expression with the canonical text the formatter gives it, for plans and messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IrExpr {
    pub tree: Expr,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;
    use crate::syntax::ast::Item;

    fn lowered(text: &str, names: &[&str]) -> Expr {
        let (module, problems) = crate::syntax::parse(FileId(0), &format!("features g(e) from s {{ x = {text} }}"));
        assert!(problems.is_empty(), "{problems:?}");
        let Item::Group(g) = &module.items[0] else { panic!("not a group") };
        lower(&g.features[0].expr, &|n| names.iter().position(|x| *x == n)).unwrap()
    }

    #[test]
    fn names_resolve_to_positions_and_functions_to_the_closed_set() {
        let e = lowered("coalesce(b, 1) + a", &["a", "b"]);
        assert_eq!(e.columns(), vec![1, 0]);
        let Expr::Binary(BinOp::Add, l, _) = &e else { panic!("{e:?}") };
        assert!(matches!(**l, Expr::Call(ScalarFn::Coalesce, _)));
    }

    #[test]
    fn the_canonical_form_ignores_layout_and_positions_but_not_meaning() {
        let names = |i: usize| ["a", "b"][i].to_owned();
        let one = lowered("(a  +   b) * 2", &["a", "b"]).canonical(&names);
        let two = lowered("(a + b)*2 // a comment\n", &["a", "b"]).canonical(&names);
        assert_eq!(one, two);
        // Positions differ, names are the same: the same meaning.
        let swapped = lowered("(a + b) * 2", &["b", "a"]).canonical(&|i| ["b", "a"][i].to_owned());
        assert_eq!(one, swapped);
        assert_ne!(one, lowered("(a + b) * 3", &["a", "b"]).canonical(&names));
        assert_ne!(lowered("0.0", &[]).canonical(&names), lowered("-0.0", &[]).canonical(&names));
    }

    #[test]
    fn unknown_functions_do_not_lower() {
        let (module, _) = crate::syntax::parse(FileId(0), "features g(e) from s { x = nosuch(a) }");
        let Item::Group(g) = &module.items[0] else { panic!("not a group") };
        assert!(lower(&g.features[0].expr, &|_| Some(0)).is_err());
    }
}
