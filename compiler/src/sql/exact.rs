//! A real-valued sum in, the SQL of its exact parts out: each finite double split into an
//! integer mantissa and a power of two, and the mantissas summed as integers per exponent.
//!
//! Engines add doubles in whatever order their partitions arrive, so `SUM(double)` can differ
//! in the last bits between two runs, and from featc's exact sums. Integer sums do not depend on
//! the order. A finite nonzero `v` is exactly `m * 2^u`, where `u = max(e, -1022) - 52` for its
//! binary exponent `e` and `m` is an integer below 2^53 in magnitude; the statement sums `m` per
//! key, pane and `u` as `DECIMAL(38, 0)` (no overflow before 2^73 values). Squares, for
//! variances, are split the same way: with `|m| = hi * 2^26 + lo`,
//! `v^2 = hi^2 * 2^(2u + 52) + 2 hi lo * 2^(2u + 26) + lo^2 * 2^(2u)`, three integer sums.
//! featc adds the parts back into its exact sum, so a sum built by any engine has the bits of
//! the one featc builds. Every step is exact: `LOG2` may be one off near a power of two, which
//! the two comparisons correct; `POWER(2, n)` of an integer `n` is exact wherever the result is
//! a double (Java specifies it; so does the C library DataFusion calls); dividing by a power of
//! two is exact.

use sqlparser::ast::{BinaryOperator, DataType, ExactNumberInfo, Expr, Statement};

use super::Dialect;
use super::build::{and_all, binary, call, cast, col, derived, int, nested, select};
use crate::aggregates::AggKind;
use crate::ir::IrAggregate;

/// 2^26: the split of a mantissa for its square.
const HALF: i64 = 1 << 26;

/// Whether an aggregate's partials hold a real-valued sum that the engines cannot add exactly.
pub(super) fn needs_exact_sum(a: &IrAggregate) -> bool {
    let real_input = !a.integer_input();
    match a.kind {
        AggKind::Sum | AggKind::Avg => real_input,
        AggKind::Variance | AggKind::Stddev => true,
        _ => false,
    }
}

/// Whether the exact parts include the squares (variance and standard deviation).
pub(super) fn with_squares(a: &IrAggregate) -> bool {
    matches!(a.kind, AggKind::Variance | AggKind::Stddev)
}

fn double() -> DataType {
    DataType::Double(ExactNumberInfo::None)
}

fn decimal() -> DataType {
    DataType::Decimal(ExactNumberInfo::PrecisionAndScale(38, 0))
}

fn bigint() -> DataType {
    DataType::BigInt(None)
}

/// `POWER(2.0, n)` in doubles.
fn pow2(n: Expr) -> Expr {
    call("POWER", vec![cast(int(2), double()), cast(n, double())])
}

pub(super) fn case(branches: Vec<(Expr, Expr)>, otherwise: Expr) -> Expr {
    Expr::Case {
        case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: branches
            .into_iter()
            .map(|(condition, result)| sqlparser::ast::CaseWhen { condition, result })
            .collect(),
        else_result: Some(Box::new(otherwise)),
    }
}

fn plus(e: Expr, n: i64) -> Expr {
    binary(e, if n < 0 { BinaryOperator::Minus } else { BinaryOperator::Plus }, int(n.abs()))
}

/// The statement of one aggregate's exact parts: per key (and pane), per exponent, the integer
/// sums. `keys` are the projected key and pane columns of the source query (expression and
/// name); `value` is the real value, already a double; `filter` selects its rows (it must
/// exclude nulls; zeros are excluded here).
pub(super) fn statement(
    d: Dialect,
    keys: &[(Expr, String)],
    value: Expr,
    from: sqlparser::ast::TableFactor,
    filter: Vec<Expr>,
    squares: bool,
) -> Option<Statement> {
    let pass = || -> Vec<(Expr, String)> { keys.iter().map(|(_, n)| (col(d, n), n.clone())).collect() };
    let by: Vec<Expr> = keys.iter().map(|(_, n)| col(d, n)).collect();
    let v = col(d, "v");
    let abs_v = || call("ABS", vec![col(d, "v")]);

    // a: the rows, their value and the floor of its log2.
    let mut a = keys.to_vec();
    a.push((value.clone(), "v".to_owned()));
    a.push((
        cast(call("FLOOR", vec![call("LOG2", vec![call("ABS", vec![value.clone()])])]), bigint()),
        "e0".to_owned(),
    ));
    let mut where_a = filter;
    where_a.push(binary(nested(value), BinaryOperator::NotEq, int(0)));
    let a = select(d, a, from, and_all(where_a), vec![])?;

    // b: the exponent of the value's last mantissa bit.
    let e0 = || col(d, "e0");
    let exponent = case(
        vec![
            (binary(abs_v(), BinaryOperator::GtEq, pow2(plus(e0(), 1))), plus(e0(), 1)),
            (binary(abs_v(), BinaryOperator::Lt, pow2(e0())), plus(e0(), -1)),
        ],
        e0(),
    );
    let mut b = pass();
    b.push((v.clone(), "v".to_owned()));
    b.push((plus(call("GREATEST", vec![exponent, int(-1022)]), -52), "u".to_owned()));
    let b = select(d, b, derived(d, a, "a")?, None, vec![])?;

    // c: the integer mantissa, and its high half for the squares.
    let u = || col(d, "u");
    let mut c = pass();
    c.push((u(), "exponent".to_owned()));
    c.push((cast(binary(v, BinaryOperator::Divide, pow2(u())), bigint()), "m".to_owned()));
    if squares {
        c.push((
            cast(call("FLOOR", vec![binary(abs_v(), BinaryOperator::Divide, pow2(plus(u(), 26)))]), bigint()),
            "hi".to_owned(),
        ));
    }
    let c = select(d, c, derived(d, b, "b")?, None, vec![])?;

    // The sums, per key, pane and exponent.
    let sum = |e: Expr| call("SUM", vec![cast(e, decimal())]);
    let m = || col(d, "m");
    let hi = || col(d, "hi");
    let lo = || {
        nested(binary(call("ABS", vec![m()]), BinaryOperator::Minus, binary(hi(), BinaryOperator::Multiply, int(HALF))))
    };
    let mut outer = pass();
    outer.push((col(d, "exponent"), "exponent".to_owned()));
    outer.push((sum(m()), "mantissa_sum".to_owned()));
    if squares {
        outer.push((sum(binary(hi(), BinaryOperator::Multiply, hi())), "square_hi".to_owned()));
        outer.push((
            sum(binary(binary(int(2), BinaryOperator::Multiply, hi()), BinaryOperator::Multiply, lo())),
            "square_mid".to_owned(),
        ));
        outer.push((sum(binary(lo(), BinaryOperator::Multiply, lo())), "square_lo".to_owned()));
    }
    let mut group_by = by;
    group_by.push(col(d, "exponent"));
    select(d, outer, derived(d, c, "c")?, None, group_by)
}
