//! Expressions, types, windows and literals in, canonical text out, with minimal parentheses.

use crate::syntax::ast::{BinOp, Duration, Expr, ExprKind, TypeRef, UnaryOp, Window, prec};

/// How tightly an expression binds, to decide where parentheses are needed.
fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Unary { op: UnaryOp::Not, .. } => prec::NOT,
        ExprKind::Unary { op: UnaryOp::Neg, .. } => prec::NEG,
        ExprKind::InList { .. } | ExprKind::IsNull { .. } => prec::CMP,
        ExprKind::Cast { .. } => prec::CAST,
        // `if` extends as far right as it can: parenthesise it inside any operator.
        ExprKind::If { .. } => 0,
        _ => prec::ATOM,
    }
}

pub(crate) fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(e, &mut out);
    out
}

fn write_operand(e: &Expr, min: u8, out: &mut String) {
    if precedence(e) < min {
        out.push('(');
        write_expr(e, out);
        out.push(')');
    } else {
        write_expr(e, out);
    }
}

fn write_expr(e: &Expr, out: &mut String) {
    match &e.kind {
        ExprKind::Int(v) => out.push_str(&v.to_string()),
        ExprKind::Float(v) => out.push_str(&float(*v)),
        ExprKind::Str(s) => out.push_str(&string(s)),
        ExprKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ExprKind::Null => out.push_str("null"),
        ExprKind::Duration(d) => out.push_str(&duration(d)),
        ExprKind::Name(id) => out.push_str(&id.name),
        ExprKind::Call { func, args } => {
            out.push_str(&func.name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(a, out);
            }
            out.push(')');
        }
        ExprKind::Unary { op, expr: inner } => {
            let p = precedence(e);
            out.push_str(if *op == UnaryOp::Not { "not " } else { "-" });
            // `- -x`: keep the operators apart so they read as two.
            if *op == UnaryOp::Neg && matches!(inner.kind, ExprKind::Unary { op: UnaryOp::Neg, .. }) {
                out.push(' ');
            }
            write_operand(inner, p, out);
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            // `x as i64 < y > z` would read back as a cast to `i64<y>`: keep the cast apart.
            if matches!(op, BinOp::Lt | BinOp::Le) && ends_with_cast(lhs) {
                out.push('(');
                write_expr(lhs, out);
                out.push(')');
            } else {
                write_operand(lhs, p, out);
            }
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            // Left-associative: an equal-precedence right operand needs parentheses.
            write_operand(rhs, p + 1, out);
        }
        ExprKind::InList { expr: inner, list, negated } => {
            write_operand(inner, prec::CMP, out);
            out.push_str(if *negated { " not in (" } else { " in (" });
            for (i, a) in list.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(a, out);
            }
            out.push(')');
        }
        ExprKind::IsNull { expr: inner, negated } => {
            write_operand(inner, prec::CMP, out);
            out.push_str(if *negated { " is not null" } else { " is null" });
        }
        ExprKind::Cast { expr: inner, ty } => {
            write_operand(inner, prec::CAST, out);
            out.push_str(" as ");
            out.push_str(&type_ref(ty));
        }
        ExprKind::If { cond, then, otherwise } => {
            out.push_str("if ");
            write_expr(cond, out);
            out.push_str(" then ");
            write_expr(then, out);
            out.push_str(" else ");
            write_expr(otherwise, out);
        }
    }
}

/// Whether the text of `e` ends with a type (`... as T`).
fn ends_with_cast(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Cast { .. } => true,
        ExprKind::Binary { rhs, .. } => ends_with_cast(rhs),
        ExprKind::Unary { expr, .. } => ends_with_cast(expr),
        ExprKind::If { otherwise, .. } => ends_with_cast(otherwise),
        _ => false,
    }
}

/// A float in the shortest form that reads back to the same value, always with a `.`.
pub(crate) fn float(v: f64) -> String {
    let s = format!("{v:?}");
    match (s.contains('.'), s.find('e')) {
        (false, Some(e)) => format!("{}.0{}", &s[..e], &s[e..]),
        (false, None) => format!("{s}.0"),
        _ => s,
    }
}

pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn duration(d: &Duration) -> String {
    format!("{}{}", d.amount, d.unit.suffix())
}

pub(crate) fn type_ref(t: &TypeRef) -> String {
    let mut out = t.name.name.clone();
    if let Some(arg) = &t.arg {
        out.push('<');
        out.push_str(&type_ref(arg));
        out.push('>');
    }
    if t.nullable {
        out.push('?');
    }
    out
}

pub(crate) fn window(w: &Window) -> String {
    let mut out = w.kind.name.clone();
    if let Some(args) = &w.args {
        out.push('(');
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if let Some(name) = &a.name {
                out.push_str(&name.name);
                out.push_str(": ");
            }
            out.push_str(&duration(&a.value));
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::float;

    #[test]
    fn floats_always_read_back_as_floats() {
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(0.95), "0.95");
        assert_eq!(float(1e21), "1.0e21");
        assert_eq!(float(1.5e-7), "1.5e-7");
    }
}
