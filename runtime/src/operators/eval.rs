//! An IR expression and a row of values in, a value out: filters, aggregate arguments and
//! derived features, with the semantics of `docs/language.md` (section 9).

use std::sync::Arc;

use featc::ir::{BinOp, Expr, Literal, ScalarFn, Ty, UnaryOp};

use crate::value::Value;

/// An expression ready to evaluate: literals as values.
#[derive(Debug, Clone)]
pub enum Compiled {
    Lit(Value),
    Col(usize),
    Call(ScalarFn, Vec<Compiled>),
    Unary(UnaryOp, Box<Compiled>),
    Binary(BinOp, Box<Compiled>, Box<Compiled>),
    InList(Box<Compiled>, Vec<Compiled>, bool),
    IsNull(Box<Compiled>, bool),
    Cast(Box<Compiled>, Ty),
    If(Box<Compiled>, Box<Compiled>, Box<Compiled>),
}

/// Prepares an IR expression for evaluation over rows of `width` values; fails on a column
/// past the row, which an IR of a checked spec never has.
pub fn compile(e: &Expr, width: usize) -> Result<Compiled, String> {
    let c = |x: &Expr| compile(x, width).map(Box::new);
    let all = |xs: &[Expr]| xs.iter().map(|x| compile(x, width)).collect::<Result<Vec<_>, _>>();
    Ok(match e {
        Expr::Lit(Literal::I64(v)) => Compiled::Lit(Value::I64(*v)),
        Expr::Lit(Literal::F64(v)) => Compiled::Lit(Value::F64(*v)),
        Expr::Lit(Literal::Str(s)) => Compiled::Lit(Value::Str(Arc::from(s.as_str()))),
        Expr::Lit(Literal::Bool(b)) => Compiled::Lit(Value::Bool(*b)),
        Expr::Lit(Literal::Null) => Compiled::Lit(Value::Null),
        Expr::Column(i) if *i < width => Compiled::Col(*i),
        Expr::Column(i) => return Err(format!("column {i} of a row of {width}")),
        Expr::Call(f, args) => Compiled::Call(*f, all(args)?),
        Expr::Unary(op, e) => Compiled::Unary(*op, c(e)?),
        Expr::Binary(op, l, r) => Compiled::Binary(*op, c(l)?, c(r)?),
        Expr::InList { expr, list, negated } => Compiled::InList(c(expr)?, all(list)?, *negated),
        Expr::IsNull { expr, negated } => Compiled::IsNull(c(expr)?, *negated),
        Expr::Cast { expr, to } => Compiled::Cast(c(expr)?, to.clone()),
        Expr::If { cond, then, otherwise } => Compiled::If(c(cond)?, c(then)?, c(otherwise)?),
    })
}

impl Compiled {
    pub fn eval(&self, row: &[Value]) -> Value {
        match self {
            Compiled::Lit(v) => v.clone(),
            Compiled::Col(i) => row.get(*i).cloned().unwrap_or(Value::Null),
            Compiled::Call(f, args) => call(*f, &args.iter().map(|a| a.eval(row)).collect::<Vec<_>>()),
            Compiled::Unary(op, e) => match (op, e.eval(row)) {
                (_, Value::Null) => Value::Null,
                (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                (UnaryOp::Neg, Value::I64(v)) => v.checked_neg().map_or(Value::Null, Value::I64),
                (UnaryOp::Neg, Value::F64(v)) => Value::F64(-v),
                _ => Value::Null,
            },
            Compiled::Binary(op, l, r) => binary(*op, l, r, row),
            Compiled::InList(e, list, negated) => {
                let v = e.eval(row);
                if v.is_null() {
                    return Value::Null;
                }
                let found = list.iter().any(|item| equal(&v, &item.eval(row)) == Some(true));
                Value::Bool(found != *negated)
            }
            Compiled::IsNull(e, negated) => Value::Bool(e.eval(row).is_null() != *negated),
            Compiled::Cast(e, ty) => cast(e.eval(row), ty),
            Compiled::If(c, t, o) => {
                if matches!(c.eval(row), Value::Bool(true)) {
                    t.eval(row)
                } else {
                    o.eval(row)
                }
            }
        }
    }
}

fn binary(op: BinOp, l: &Compiled, r: &Compiled, row: &[Value]) -> Value {
    // Three-valued logic: `false and null` is false, `true or null` is true.
    if matches!(op, BinOp::And | BinOp::Or) {
        let a = l.eval(row);
        let short = if op == BinOp::And { Value::Bool(false) } else { Value::Bool(true) };
        if a == short {
            return short;
        }
        let b = r.eval(row);
        if b == short {
            return short;
        }
        return if a.is_null() || b.is_null() { Value::Null } else { Value::Bool(op == BinOp::And) };
    }
    let (a, b) = (l.eval(row), r.eval(row));
    if a.is_null() || b.is_null() {
        return Value::Null;
    }
    match op {
        BinOp::Eq => equal(&a, &b).map_or(Value::Null, Value::Bool),
        BinOp::Ne => equal(&a, &b).map_or(Value::Null, |e| Value::Bool(!e)),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let Some(ord) = compare(&a, &b) else { return Value::Null };
            Value::Bool(match op {
                BinOp::Lt => ord.is_lt(),
                BinOp::Le => ord.is_le(),
                BinOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        BinOp::Div => match (a.as_f64(), b.as_f64()) {
            (Some(_), Some(0.0)) => Value::Null,
            (Some(x), Some(y)) => Value::F64(x / y),
            _ => Value::Null,
        },
        _ => match (&a, &b) {
            (Value::I64(x), Value::I64(y)) => {
                let r = match op {
                    BinOp::Add => x.checked_add(*y),
                    BinOp::Sub => x.checked_sub(*y),
                    BinOp::Mul => x.checked_mul(*y),
                    _ => x.checked_rem(*y),
                };
                r.map_or(Value::Null, Value::I64)
            }
            _ => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => match op {
                    BinOp::Add => Value::F64(x + y),
                    BinOp::Sub => Value::F64(x - y),
                    BinOp::Mul => Value::F64(x * y),
                    _ if y == 0.0 => Value::Null,
                    _ => Value::F64(x % y),
                },
                _ => Value::Null,
            },
        },
    }
}

/// Equality across numeric kinds; `None` when the kinds cannot compare.
fn equal(a: &Value, b: &Value) -> Option<bool> {
    compare(a, b).map(|o| o.is_eq())
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::I64(x), Value::I64(y)) | (Value::Ts(x), Value::Ts(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => a.as_f64().zip(b.as_f64()).and_then(|(x, y)| x.partial_cmp(&y)),
    }
}

fn call(f: ScalarFn, args: &[Value]) -> Value {
    let first = args.first().unwrap_or(&Value::Null);
    if first.is_null() && f != ScalarFn::Coalesce {
        return Value::Null;
    }
    match (f, first) {
        (ScalarFn::Coalesce, _) => args.iter().find(|v| !v.is_null()).cloned().unwrap_or(Value::Null),
        (ScalarFn::Abs, Value::I64(v)) => v.checked_abs().map_or(Value::Null, Value::I64),
        (ScalarFn::Abs, Value::F64(v)) => Value::F64(v.abs()),
        (ScalarFn::Round, Value::I64(v)) => Value::I64(*v),
        (ScalarFn::Round, Value::F64(v)) => Value::F64(v.round()),
        (ScalarFn::Sqrt, v) => v.as_f64().filter(|x| *x >= 0.0).map_or(Value::Null, |x| Value::F64(x.sqrt())),
        (ScalarFn::Ln, v) => v.as_f64().filter(|x| *x > 0.0).map_or(Value::Null, |x| Value::F64(x.ln())),
        (ScalarFn::Lower, Value::Str(s)) => Value::Str(Arc::from(s.to_lowercase().as_str())),
        (ScalarFn::Upper, Value::Str(s)) => Value::Str(Arc::from(s.to_uppercase().as_str())),
        (ScalarFn::Length, Value::Str(s)) => Value::I64(s.chars().count() as i64),
        // The checker admits only numbers to abs and round, and strings to the text functions.
        (ScalarFn::Abs | ScalarFn::Round | ScalarFn::Lower | ScalarFn::Upper | ScalarFn::Length, _) => Value::Null,
    }
}

fn cast(v: Value, to: &Ty) -> Value {
    match (v, to) {
        (Value::Null, _) => Value::Null,
        (Value::I64(x), Ty::F64) => Value::F64(x as f64),
        (Value::F64(x), Ty::I64) => Value::I64(x as i64),
        (Value::Bool(b), Ty::I64) => Value::I64(i64::from(b)),
        (Value::Bool(b), Ty::F64) => Value::F64(if b { 1.0 } else { 0.0 }),
        (Value::I64(x), Ty::Timestamp) => Value::Ts(x),
        (Value::Ts(x), Ty::I64) => Value::I64(x),
        (Value::Str(s), Ty::I64) => s.parse().map_or(Value::Null, Value::I64),
        (Value::Str(s), Ty::F64) => s.parse::<f64>().ok().filter(|x| x.is_finite()).map_or(Value::Null, Value::F64),
        (Value::Str(s), Ty::Bool) => match &*s {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::Null,
        },
        (v @ Value::Str(_), Ty::String) => v,
        (Value::Ts(ms), Ty::String) => Value::Str(Arc::from(crate::io::time::rfc3339(ms).as_str())),
        (Value::F64(x), Ty::String) => Value::Str(Arc::from(format!("{x:?}").as_str())),
        (Value::I64(x), Ty::String) => Value::Str(Arc::from(x.to_string().as_str())),
        (Value::Bool(b), Ty::String) => Value::Str(Arc::from(b.to_string().as_str())),
        (v, t) if kind_of(&v) == Some(t.clone()) => v,
        _ => Value::Null,
    }
}

fn kind_of(v: &Value) -> Option<Ty> {
    Some(match v {
        Value::Bool(_) => Ty::Bool,
        Value::I64(_) => Ty::I64,
        Value::F64(_) => Ty::F64,
        Value::Str(_) => Ty::String,
        Value::Ts(_) => Ty::Timestamp,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowers `text` through the compiler as an aggregate's argument over the fields a, b, s
    /// and n, and evaluates it over `row` (their values in that order).
    fn eval(text: &str, row: &[Value]) -> Value {
        let spec = format!(
            "source src {{ event_time ts files \"x.parquet\" schema {{ k: string, ts: timestamp, a: i64, b: f64, s: string, n: i64? }} }}
             entity e {{ key k: string }}
             features g(e) from src {{ x = last({text}) over lifetime }}"
        );
        let mut sources = featc::SourceMap::new();
        sources.add("t.feat", spec);
        let checked = featc::check_project(&sources, &featc::Options::default());
        assert!(!checked.has_errors(), "{text}: {:?}", checked.diagnostics);
        let ir = featc::ir::lower(&checked.project).unwrap();
        let g = &ir.groups[0];
        let names = ["a", "b", "s", "n"];
        let row: Vec<Value> = g
            .columns
            .iter()
            .map(|c| names.iter().position(|n| n == c).map_or(Value::Null, |i| row[i].clone()))
            .collect();
        let value = g.aggregates[0].value.as_ref().unwrap();
        compile(&value.tree, row.len()).unwrap().eval(&row)
    }

    #[test]
    fn operators_follow_the_language_semantics() {
        let row = [Value::I64(7), Value::F64(2.0), Value::from("Hello"), Value::Null];
        assert_eq!(eval("a / 2", &row), Value::F64(3.5));
        assert_eq!(eval("a / 0", &row), Value::Null);
        assert_eq!(eval("a % 0", &row), Value::Null);
        assert_eq!(eval("-a % 4", &row), Value::I64(-3));
        assert_eq!(eval("a + b", &row), Value::F64(9.0));
        assert_eq!(eval("n + 1", &row), Value::Null);
        assert_eq!(eval("n > 1 or a > 1", &row), Value::Bool(true));
        assert_eq!(eval("n > 1 and a > 100", &row), Value::Bool(false));
        assert_eq!(eval("n > 1 and a > 1", &row), Value::Null);
        assert_eq!(eval("a in (1, 7.0)", &row), Value::Bool(true));
        assert_eq!(eval("n in (1)", &row), Value::Null);
        assert_eq!(eval("a not in (null)", &row), Value::Bool(true));
        assert_eq!(eval("if n > 0 then 1 else 2", &row), Value::I64(2));
        assert_eq!(eval("coalesce(n, b)", &row), Value::F64(2.0));
        assert_eq!(eval("length(lower(s))", &row), Value::I64(5));
        assert_eq!(eval("\"42\" as i64 + 1", &row), Value::I64(43));
        assert_eq!(eval("\"4x\" as i64", &row), Value::Null);
        assert_eq!(eval("2.9 as i64", &row), Value::I64(2));
        assert_eq!(eval("sqrt(-1.0)", &row), Value::Null);
        assert_eq!(eval("round(2.5)", &row), Value::F64(3.0));
        assert_eq!(eval("0 as timestamp as string", &row), Value::from("1970-01-01T00:00:00.000Z"));
    }
}
