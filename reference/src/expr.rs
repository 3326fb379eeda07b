//! An IR expression, a row and its column types in, the value of `docs/language.md` section 9 out.
//!
//! Every node is typed as the docs type it (`i64` and `f64` together give `f64`; `null` fits
//! anything) and its value converted to that type, so `if c then 1 else 2.5` is the float `1.0`.
//! Integer overflow gives null (the docs say nothing; see the crate docs).

use featc::ir::{BinOp, Expr, Literal, ScalarFn, Ty, UnaryOp};

use crate::value::{Val, rfc3339};

/// The value and static type of `e` over `row`, whose columns have the types `types`.
pub(crate) fn eval(e: &Expr, row: &[Val], types: &[Ty]) -> Result<(Val, Ty), String> {
    let (v, ty) = match e {
        Expr::Lit(l) => literal(l),
        Expr::Column(i) => {
            let v = row.get(*i).ok_or_else(|| format!("column {i} of a row of {}", row.len()))?;
            let ty = types.get(*i).ok_or_else(|| format!("column {i} has no type"))?;
            (v.clone(), ty.clone())
        }
        Expr::Call(f, args) => {
            let args = args.iter().map(|a| eval(a, row, types)).collect::<Result<Vec<_>, _>>()?;
            call(*f, args)?
        }
        Expr::Unary(op, x) => {
            let (x, ty) = eval(x, row, types)?;
            (unary(*op, x)?, ty)
        }
        Expr::Binary(op, l, r) => binary(*op, eval(l, row, types)?, eval(r, row, types)?)?,
        Expr::InList { expr, list, negated } => {
            let (x, mut ty) = eval(expr, row, types)?;
            let items = list.iter().map(|a| eval(a, row, types)).collect::<Result<Vec<_>, _>>()?;
            for (_, t) in &items {
                ty = unify(&ty, t)?;
            }
            (in_list(&coerce(x, &ty), items.into_iter().map(|(v, _)| coerce(v, &ty)), *negated)?, Ty::Bool)
        }
        Expr::IsNull { expr, negated } => {
            let (x, _) = eval(expr, row, types)?;
            (Val::Bool(x.is_null() != *negated), Ty::Bool)
        }
        Expr::Cast { expr, to } => {
            let (x, _) = eval(expr, row, types)?;
            (cast(x, to)?, to.clone())
        }
        Expr::If { cond, then, otherwise } => {
            let (c, _) = eval(cond, row, types)?;
            let (a, ta) = eval(then, row, types)?;
            let (b, tb) = eval(otherwise, row, types)?;
            let ty = unify(&ta, &tb)?;
            // A null condition takes the `else` branch.
            (if matches!(c, Val::Bool(true)) { a } else { b }, ty)
        }
    };
    Ok((coerce(v, &ty), ty))
}

fn literal(l: &Literal) -> (Val, Ty) {
    match l {
        Literal::Null => (Val::Null, Ty::Null),
        Literal::Bool(b) => (Val::Bool(*b), Ty::Bool),
        Literal::I64(v) => (Val::I64(*v), Ty::I64),
        Literal::F64(v) => (Val::F64(*v), Ty::F64),
        Literal::Str(s) => (Val::Str(s.clone()), Ty::String),
    }
}

/// A value of an integer-valued expression typed `f64` becomes the nearest float.
pub(crate) fn coerce(v: Val, ty: &Ty) -> Val {
    match (v, ty) {
        (Val::I64(x), Ty::F64) => Val::F64(x as f64),
        (v, _) => v,
    }
}

/// The common type of two operands (section 4): numbers widen to `f64`, `null` fits anything.
fn unify(a: &Ty, b: &Ty) -> Result<Ty, String> {
    match (a, b) {
        (a, b) if a == b => Ok(a.clone()),
        (Ty::Null, b) => Ok(b.clone()),
        (a, Ty::Null) => Ok(a.clone()),
        (Ty::I64, Ty::F64) | (Ty::F64, Ty::I64) => Ok(Ty::F64),
        (a, b) => Err(format!("no common type for {a} and {b}")),
    }
}

fn type_error(what: &str, v: &Val) -> String {
    format!("{what} of {v}: a type the checker rejects")
}

fn call(f: ScalarFn, args: Vec<(Val, Ty)>) -> Result<(Val, Ty), String> {
    let first = args.first().cloned().unwrap_or((Val::Null, Ty::Null));
    let (x, ty) = first;
    Ok(match f {
        ScalarFn::Coalesce => {
            let mut common = Ty::Null;
            for (_, t) in &args {
                common = unify(&common, t)?;
            }
            let v = args.into_iter().map(|(v, _)| v).find(|v| !v.is_null()).unwrap_or(Val::Null);
            (coerce(v, &common), common)
        }
        ScalarFn::Abs => match x {
            Val::Null => (Val::Null, ty),
            Val::I64(v) => (v.checked_abs().map_or(Val::Null, Val::I64), ty),
            Val::F64(v) => (Val::F64(v.abs()), ty),
            v => return Err(type_error("abs", &v)),
        },
        ScalarFn::Round => match x {
            Val::Null => (Val::Null, ty),
            Val::I64(v) => (Val::I64(v), ty),
            // `f64::round` rounds halves away from zero, as the docs say.
            Val::F64(v) => (Val::F64(v.round()), ty),
            v => return Err(type_error("round", &v)),
        },
        ScalarFn::Sqrt => match x.number() {
            _ if x.is_null() => (Val::Null, Ty::F64),
            Some(v) if v < 0.0 => (Val::Null, Ty::F64),
            Some(v) => (Val::F64(v.sqrt()), Ty::F64),
            None => return Err(type_error("sqrt", &x)),
        },
        ScalarFn::Ln => match x.number() {
            _ if x.is_null() => (Val::Null, Ty::F64),
            Some(v) if v <= 0.0 => (Val::Null, Ty::F64),
            Some(v) => (Val::F64(v.ln()), Ty::F64),
            None => return Err(type_error("ln", &x)),
        },
        ScalarFn::Lower | ScalarFn::Upper | ScalarFn::Length => {
            let out_ty = if f == ScalarFn::Length { Ty::I64 } else { Ty::String };
            let v = match (f, x) {
                (_, Val::Null) => Val::Null,
                (ScalarFn::Lower, Val::Str(s)) => Val::Str(s.to_lowercase()),
                (ScalarFn::Upper, Val::Str(s)) => Val::Str(s.to_uppercase()),
                (_, Val::Str(s)) => Val::I64(s.chars().count() as i64),
                (_, v) => return Err(type_error(f.name(), &v)),
            };
            (v, out_ty)
        }
    })
}

fn unary(op: UnaryOp, x: Val) -> Result<Val, String> {
    Ok(match (op, x) {
        (_, Val::Null) => Val::Null,
        (UnaryOp::Not, Val::Bool(b)) => Val::Bool(!b),
        (UnaryOp::Neg, Val::I64(v)) => v.checked_neg().map_or(Val::Null, Val::I64),
        (UnaryOp::Neg, Val::F64(v)) => Val::F64(-v),
        (_, v) => return Err(type_error("a prefix operator", &v)),
    })
}

/// `and` and `or` in three-valued logic.
fn logic(op: BinOp, a: &Val, b: &Val) -> Result<Val, String> {
    let bool_of = |v: &Val| match v {
        Val::Null => Ok(None),
        Val::Bool(b) => Ok(Some(*b)),
        v => Err(type_error("a logical operator", v)),
    };
    let (a, b) = (bool_of(a)?, bool_of(b)?);
    // `false and x` is false, `true or x` is true, otherwise null wins.
    let dominant = op == BinOp::Or;
    Ok(if a == Some(dominant) || b == Some(dominant) {
        Val::Bool(dominant)
    } else if a.is_none() || b.is_none() {
        Val::Null
    } else {
        Val::Bool(!dominant)
    })
}

fn binary(op: BinOp, (a, ta): (Val, Ty), (b, tb): (Val, Ty)) -> Result<(Val, Ty), String> {
    match op {
        BinOp::Or | BinOp::And => Ok((logic(op, &a, &b)?, Ty::Bool)),
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let ty = unify(&ta, &tb)?;
            Ok((compare(op, &coerce(a, &ty), &coerce(b, &ty))?, Ty::Bool))
        }
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
            let integers = matches!(ta, Ty::I64 | Ty::Null) && matches!(tb, Ty::I64 | Ty::Null);
            let ty = if integers && op != BinOp::Div { Ty::I64 } else { Ty::F64 };
            Ok((arithmetic(op, &a, &b)?, ty))
        }
    }
}

/// A comparison of two values of a common type; null when either is null. Floats follow IEEE
/// (`-0.0 == 0.0`, NaN unequal to everything).
pub(crate) fn compare(op: BinOp, a: &Val, b: &Val) -> Result<Val, String> {
    use std::cmp::Ordering;
    let order: Option<Ordering> = match (a, b) {
        (Val::Null, _) | (_, Val::Null) => return Ok(Val::Null),
        (Val::I64(x), Val::I64(y)) | (Val::Ts(x), Val::Ts(y)) => Some(x.cmp(y)),
        (Val::I64(_) | Val::F64(_), Val::I64(_) | Val::F64(_)) => {
            a.number().unwrap_or(f64::NAN).partial_cmp(&b.number().unwrap_or(f64::NAN))
        }
        (Val::Str(x), Val::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        _ => return Err(format!("comparison of {a} and {b}: types the checker rejects")),
    };
    let result = match op {
        BinOp::Eq => order == Some(Ordering::Equal),
        BinOp::Ne => order != Some(Ordering::Equal),
        BinOp::Lt => order == Some(Ordering::Less),
        BinOp::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
        BinOp::Gt => order == Some(Ordering::Greater),
        BinOp::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
        _ => return Err(format!("`{}` is not a comparison", op.symbol())),
    };
    Ok(Val::Bool(result))
}

/// `+ - * / %`: integers when both operands are, with null on overflow; `/` always real; `/`
/// and `%` null for a zero right operand.
fn arithmetic(op: BinOp, a: &Val, b: &Val) -> Result<Val, String> {
    if a.is_null() || b.is_null() {
        return Ok(Val::Null);
    }
    if let (Val::I64(x), Val::I64(y), true) = (a, b, op != BinOp::Div) {
        let (x, y) = (*x, *y);
        return Ok(match op {
            BinOp::Add => x.checked_add(y).map_or(Val::Null, Val::I64),
            BinOp::Sub => x.checked_sub(y).map_or(Val::Null, Val::I64),
            BinOp::Mul => x.checked_mul(y).map_or(Val::Null, Val::I64),
            // The remainder takes the sign of the left operand; it is always representable
            // (i64::MIN % -1 is 0).
            _ if y == 0 => Val::Null,
            _ => Val::I64(x.wrapping_rem(y)),
        });
    }
    let (Some(x), Some(y)) = (a.number(), b.number()) else {
        return Err(format!("arithmetic on {a} and {b}: types the checker rejects"));
    };
    Ok(match op {
        BinOp::Add => Val::F64(x + y),
        BinOp::Sub => Val::F64(x - y),
        BinOp::Mul => Val::F64(x * y),
        BinOp::Div | BinOp::Rem if y == 0.0 => Val::Null,
        BinOp::Div => Val::F64(x / y),
        BinOp::Rem => Val::F64(x % y),
        _ => return Err(format!("`{}` is not arithmetic", op.symbol())),
    })
}

/// `x in (...)`: null for a null `x`, true when an item equals it (a null item matches
/// nothing), false otherwise; negated for `not in`.
fn in_list(x: &Val, items: impl Iterator<Item = Val>, negated: bool) -> Result<Val, String> {
    if x.is_null() {
        return Ok(Val::Null);
    }
    let mut found = false;
    for item in items {
        if compare(BinOp::Eq, x, &item)? == Val::Bool(true) {
            found = true;
        }
    }
    Ok(Val::Bool(found != negated))
}

// Casts ("Casts" in section 9).

/// `x as to`, by the table of the docs. A string that does not parse gives null.
pub(crate) fn cast(x: Val, to: &Ty) -> Result<Val, String> {
    Ok(match (x, to) {
        // The literal null (and any null) casts to every type.
        (Val::Null, _) => Val::Null,

        (Val::Str(s), Ty::String) => Val::Str(s),
        (Val::Str(s), Ty::I64) => parse_i64(&s).map_or(Val::Null, Val::I64),
        (Val::Str(s), Ty::F64) => parse_f64(&s).map_or(Val::Null, Val::F64),
        (Val::Str(s), Ty::Bool) => match s.as_str() {
            "true" => Val::Bool(true),
            "false" => Val::Bool(false),
            _ => Val::Null,
        },

        (Val::I64(v), Ty::String) => Val::Str(v.to_string()),
        (Val::I64(v), Ty::I64) => Val::I64(v),
        // `as f64` on an integer is round to nearest, ties to even.
        (Val::I64(v), Ty::F64) => Val::F64(v as f64),
        (Val::I64(v), Ty::Timestamp) => Val::Ts(v),

        (Val::F64(v), Ty::String) => Val::Str(shortest(v)),
        // `as i64` on a float is toward zero and saturating (NaN gives 0: the docs are silent).
        (Val::F64(v), Ty::I64) => Val::I64(v as i64),
        (Val::F64(v), Ty::F64) => Val::F64(v),

        (Val::Bool(b), Ty::String) => Val::Str(if b { "true" } else { "false" }.to_owned()),
        (Val::Bool(b), Ty::I64) => Val::I64(i64::from(b)),
        (Val::Bool(b), Ty::F64) => Val::F64(if b { 1.0 } else { 0.0 }),
        (Val::Bool(b), Ty::Bool) => Val::Bool(b),

        (Val::Ts(ms), Ty::String) => Val::Str(rfc3339(ms)),
        (Val::Ts(ms), Ty::I64) => Val::I64(ms),
        (Val::Ts(ms), Ty::Timestamp) => Val::Ts(ms),

        (x, to) => return Err(format!("the cast of {x} to {to}, which the checker rejects")),
    })
}

/// A whole string as a decimal integer: an optional sign, then digits; `None` when it does not
/// parse or does not fit in `i64`.
fn parse_i64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A whole string as a decimal number: an optional sign, digits with an optional fraction
/// (digits on at least one side of the point), an optional exponent. Words such as `inf` and
/// `NaN` are not numbers, and neither is a number too large for `f64` (it would be infinite).
fn parse_f64(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return None;
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !digits(e) {
            return None;
        }
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// The shortest decimal that reads back as `v`, as Rust's `{:?}` writes it (`1.0`, `0.1`,
/// `1e300`); the docs do not fix the layout.
fn shortest(v: f64) -> String {
    format!("{v:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_parse_only_as_whole_numbers() {
        assert_eq!(cast(Val::from("42"), &Ty::I64), Ok(Val::I64(42)));
        assert_eq!(cast(Val::from("-1.5e3"), &Ty::F64), Ok(Val::F64(-1500.0)));
        for bad in [" 42", "42 kg", "", "-", "1e", "inf", "NaN", "1e999", "0x10", "."] {
            assert_eq!(cast(Val::from(bad), &Ty::F64), Ok(Val::Null), "{bad:?}");
        }
        for bad in [" 42", "4.2", "99999999999999999999", "", "+"] {
            assert_eq!(cast(Val::from(bad), &Ty::I64), Ok(Val::Null), "{bad:?}");
        }
        assert_eq!(cast(Val::from("True"), &Ty::Bool), Ok(Val::Null));
        assert_eq!(cast(Val::from("false"), &Ty::Bool), Ok(Val::Bool(false)));
    }

    #[test]
    fn numbers_cast_by_the_table() {
        assert_eq!(cast(Val::F64(-2.9), &Ty::I64), Ok(Val::I64(-2)));
        assert_eq!(cast(Val::F64(1e300), &Ty::I64), Ok(Val::I64(i64::MAX)));
        assert_eq!(cast(Val::F64(-1e300), &Ty::I64), Ok(Val::I64(i64::MIN)));
        assert_eq!(cast(Val::I64((1 << 53) + 1), &Ty::F64), Ok(Val::F64(9007199254740992.0)));
        assert_eq!(cast(Val::F64(0.1), &Ty::String), Ok(Val::from("0.1")));
        assert_eq!(cast(Val::Bool(true), &Ty::F64), Ok(Val::F64(1.0)));
        assert_eq!(cast(Val::Null, &Ty::Timestamp), Ok(Val::Null));
        assert!(cast(Val::from("1"), &Ty::Timestamp).is_err());
    }

    #[test]
    fn timestamps_print_as_rfc3339_with_milliseconds() {
        assert_eq!(cast(Val::Ts(0), &Ty::String), Ok(Val::from("1970-01-01T00:00:00.000Z")));
        assert_eq!(cast(Val::Ts(1_714_557_600_000), &Ty::String), Ok(Val::from("2024-05-01T10:00:00.000Z")));
        assert_eq!(cast(Val::Ts(-1), &Ty::String), Ok(Val::from("1969-12-31T23:59:59.999Z")));
        // Leap days: 2000-02-29 (a leap century), 2024-02-29, and the day after 2100-02-28.
        assert_eq!(cast(Val::Ts(951_782_400_000), &Ty::String), Ok(Val::from("2000-02-29T00:00:00.000Z")));
        assert_eq!(cast(Val::Ts(1_709_164_800_123), &Ty::String), Ok(Val::from("2024-02-29T00:00:00.123Z")));
        assert_eq!(cast(Val::Ts(4_107_542_400_000), &Ty::String), Ok(Val::from("2100-03-01T00:00:00.000Z")));
        assert_eq!(cast(Val::Ts(253_402_300_799_999), &Ty::String), Ok(Val::from("9999-12-31T23:59:59.999Z")));
        assert_eq!(cast(Val::Ts(-62_167_219_200_000), &Ty::String), Ok(Val::from("0000-01-01T00:00:00.000Z")));
        assert_eq!(cast(Val::Ts(1_714_557_600_000), &Ty::I64), Ok(Val::I64(1_714_557_600_000)));
    }
}
