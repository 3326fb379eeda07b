//! Expression texts and rows in, values checked against section 9 of the docs.

use featc::ir::Ty;

use super::ir;
use crate::Val;
use crate::expr::eval;

/// The value of `expr` over one event with the given fields (the others null), through the
/// compiler's IR: `first(expr)` of a group reading a source with every type of field.
fn value(expr: &str, fields: &[(&str, Val)]) -> Val {
    let text = format!(
        r#"
source s {{
    event_time ts
    files "s.parquet"
    schema {{ k: string, a: i64?, b: f64?, s: string?, f: bool?, g: bool?, t: timestamp?, ts: timestamp }}
}}
entity e {{ key k: string }}
features x(e) from s {{
    x = first({expr}) over lifetime
}}
"#
    );
    let ir = ir(&text);
    let g = &ir.groups[0];
    let source = &ir.sources[g.source];
    let types: Vec<Ty> =
        g.columns.iter().map(|c| source.fields.iter().find(|f| &f.name == c).unwrap().ty.ty.clone()).collect();
    let row: Vec<Val> =
        g.columns.iter().map(|c| fields.iter().find(|(n, _)| n == c).map_or(Val::Null, |(_, v)| v.clone())).collect();
    eval(&g.aggregates[0].value.as_ref().unwrap().tree, &row, &types).unwrap().0
}

fn lit(expr: &str) -> Val {
    value(expr, &[])
}

fn b(x: Option<bool>) -> Val {
    x.map_or(Val::Null, Val::Bool)
}

#[test]
fn and_or_not_follow_three_valued_logic() {
    let all = [Some(true), Some(false), None];
    for x in all {
        for y in all {
            let row = [("f", b(x)), ("g", b(y))];
            let and = match (x, y) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
            let or = match (x, y) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            };
            assert_eq!(value("f and g", &row), b(and), "{x:?} and {y:?}");
            assert_eq!(value("f or g", &row), b(or), "{x:?} or {y:?}");
        }
        assert_eq!(value("not f", &[("f", b(x))]), b(x.map(|v| !v)));
    }
    assert_eq!(lit("false and null"), Val::Bool(false));
    assert_eq!(lit("true or null"), Val::Bool(true));
    assert_eq!(lit("true and null"), Val::Null);
}

#[test]
fn comparisons_with_null_are_null_and_is_null_never_is() {
    assert_eq!(value("a == null", &[("a", Val::I64(1))]), Val::Null);
    assert_eq!(value("a < 2", &[]), Val::Null);
    assert_eq!(value("a is null", &[]), Val::Bool(true));
    assert_eq!(value("a is not null", &[]), Val::Bool(false));
    assert_eq!(value("a is null", &[("a", Val::I64(0))]), Val::Bool(false));
    // Integers and floats compare as numbers; strings by bytes; timestamps in time.
    assert_eq!(value("a == b", &[("a", Val::I64(2)), ("b", Val::F64(2.0))]), Val::Bool(true));
    assert_eq!(value("b == 0.0", &[("b", Val::F64(-0.0))]), Val::Bool(true));
    assert_eq!(value("s < \"b\"", &[("s", Val::from("B"))]), Val::Bool(true));
    assert_eq!(value("s > \"z\"", &[("s", Val::from("é"))]), Val::Bool(true));
    assert_eq!(value("t >= ts", &[("t", Val::Ts(5)), ("ts", Val::Ts(5))]), Val::Bool(true));
    assert_eq!(value("f == true", &[("f", Val::Bool(false))]), Val::Bool(false));
}

#[test]
fn division_is_real_and_null_by_zero() {
    assert_eq!(lit("7 / 2"), Val::F64(3.5));
    assert_eq!(value("a / 0", &[("a", Val::I64(1))]), Val::Null);
    assert_eq!(value("b / 0", &[("b", Val::F64(1.0))]), Val::Null);
    assert_eq!(value("b / a", &[("b", Val::F64(1.0)), ("a", Val::I64(0))]), Val::Null);
    assert_eq!(value("a / b", &[("a", Val::I64(1)), ("b", Val::F64(-0.0))]), Val::Null);
    assert_eq!(value("0 / a", &[("a", Val::I64(4))]), Val::F64(0.0));
    assert_eq!(lit("-7 % 2"), Val::I64(-1));
    assert_eq!(lit("7 % -2"), Val::I64(1));
    assert_eq!(value("a % 0", &[("a", Val::I64(5))]), Val::Null);
    assert_eq!(value("b % 2", &[("b", Val::F64(-7.5))]), Val::F64(-1.5));
    assert_eq!(value("b % 0.0", &[("b", Val::F64(1.0))]), Val::Null);
    assert_eq!(value("a / 3", &[("a", Val::I64(1))]), Val::F64(1.0 / 3.0));
}

#[test]
fn integer_overflow_is_null() {
    let max = [("a", Val::I64(i64::MAX))];
    let min = [("a", Val::I64(i64::MIN))];
    assert_eq!(value("a + 1", &max), Val::Null);
    assert_eq!(value("a - 1", &min), Val::Null);
    assert_eq!(value("a * 2", &max), Val::Null);
    assert_eq!(value("-a", &min), Val::Null);
    assert_eq!(value("abs(a)", &min), Val::Null);
    assert_eq!(value("a - 1", &max), Val::I64(i64::MAX - 1));
    // The remainder is representable: i64::MIN % -1 is 0.
    assert_eq!(value("a % -1", &min), Val::I64(0));
    // Floats do not overflow to null: they follow IEEE.
    assert_eq!(value("b * 10.0", &[("b", Val::F64(1e308))]), Val::F64(f64::INFINITY));
    // A float operand makes the operation a float one, without overflow.
    assert_eq!(value("a + 1.0", &max), Val::F64(9.223372036854776e18));
}

#[test]
fn mixed_numbers_take_the_common_type() {
    assert_eq!(value("if f then 1 else 2.5", &[("f", Val::Bool(true))]), Val::F64(1.0));
    // A null condition takes the else branch.
    assert_eq!(value("if f then 1 else 2", &[]), Val::I64(2));
    assert_eq!(value("coalesce(a, 2.5)", &[("a", Val::I64(3))]), Val::F64(3.0));
    assert_eq!(value("coalesce(a, 2.5)", &[]), Val::F64(2.5));
    assert_eq!(value("coalesce(null, a, 7)", &[]), Val::I64(7));
    assert_eq!(value("a + b", &[("a", Val::I64(1)), ("b", Val::F64(0.5))]), Val::F64(1.5));
    assert_eq!(value("a * 2", &[("a", Val::I64(21))]), Val::I64(42));
    // (if ... 1 else 0.5) + i64::MAX is a float sum, not an integer overflow.
    assert_eq!(
        value("(if f then 1 else 0.5) + a", &[("f", Val::Bool(true)), ("a", Val::I64(i64::MAX))]),
        Val::F64(9.223372036854776e18)
    );
}

#[test]
fn in_lists_match_items_and_skip_null_items() {
    let a = |v: Option<i64>| [("a", v.map_or(Val::Null, Val::I64))];
    assert_eq!(value("a in (1, null, 3)", &a(Some(3))), Val::Bool(true));
    assert_eq!(value("a in (1, null, 3)", &a(Some(2))), Val::Bool(false));
    assert_eq!(value("a in (1, 3)", &a(None)), Val::Null);
    assert_eq!(value("a not in (1, 2)", &a(Some(2))), Val::Bool(false));
    assert_eq!(value("a not in (1, 2)", &a(Some(5))), Val::Bool(true));
    assert_eq!(value("a not in (1, 2)", &a(None)), Val::Null);
    assert_eq!(value("a in (1.0, 2.5)", &a(Some(1))), Val::Bool(true));
    assert_eq!(value("lower(s) in (\"fr\", \"de\")", &[("s", Val::from("DE"))]), Val::Bool(true));
}

#[test]
fn scalar_functions() {
    assert_eq!(lit("abs(-2.5)"), Val::F64(2.5));
    assert_eq!(lit("abs(-3)"), Val::I64(3));
    assert_eq!(lit("sqrt(4)"), Val::F64(2.0));
    assert_eq!(lit("sqrt(-1.0)"), Val::Null);
    assert_eq!(value("sqrt(b)", &[("b", Val::F64(-0.0))]), Val::F64(-0.0));
    assert_eq!(lit("ln(1)"), Val::F64(0.0));
    assert_eq!(lit("ln(0)"), Val::Null);
    assert_eq!(lit("ln(-2.0)"), Val::Null);
    // Halves away from zero.
    assert_eq!(lit("round(2.5)"), Val::F64(3.0));
    assert_eq!(lit("round(-2.5)"), Val::F64(-3.0));
    assert_eq!(lit("round(0.49999999999999994)"), Val::F64(0.0));
    assert_eq!(lit("round(7)"), Val::I64(7));
    assert_eq!(value("lower(s)", &[("s", Val::from("ÀB c"))]), Val::from("àb c"));
    assert_eq!(value("upper(s)", &[("s", Val::from("àb"))]), Val::from("ÀB"));
    assert_eq!(value("length(s)", &[("s", Val::from("héllo"))]), Val::I64(5));
    assert_eq!(value("length(s)", &[]), Val::Null);
    assert_eq!(value("coalesce(s, \"none\")", &[]), Val::from("none"));
}

#[test]
fn casts_through_expressions() {
    assert_eq!(value("s as i64", &[("s", Val::from("42"))]), Val::I64(42));
    assert_eq!(value("s as f64", &[("s", Val::from("42 kg"))]), Val::Null);
    assert_eq!(value("a as string", &[("a", Val::I64(-7))]), Val::from("-7"));
    assert_eq!(value("ts as i64", &[("ts", Val::Ts(1_714_557_600_000))]), Val::I64(1_714_557_600_000));
    assert_eq!(value("a as timestamp", &[("a", Val::I64(5))]), Val::Ts(5));
    assert_eq!(value("ts as string", &[("ts", Val::Ts(1_714_557_600_000))]), Val::from("2024-05-01T10:00:00.000Z"));
    assert_eq!(value("f as i64", &[("f", Val::Bool(true))]), Val::I64(1));
    assert_eq!(value("b as i64", &[("b", Val::F64(-3.99))]), Val::I64(-3));
    assert_eq!(lit("null as string"), Val::Null);
    assert_eq!(value("-a as f64", &[("a", Val::I64(2))]), Val::F64(-2.0));
}
