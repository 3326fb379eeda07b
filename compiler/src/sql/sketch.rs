//! A sketch aggregate's value in, Spark SQL that computes its partial out: HyperLogLog hashes or
//! register maxima (`__hll`) and DDSketch bucket counts (`__buckets`) per key and pane, with the
//! hash and the bucket formula featc's own sketches use, so that a sketch Spark builds is the
//! one featc builds, bit for bit (docs/plan-format.md).
//!
//! The hash is Spark's `xxhash64` (XXH64, seed 42) of the value, times as epoch milliseconds; the
//! bucket of `x` is `CEIL(LN(ABS(x)) / ln(gamma))`, Spark's `LN` being Java's `StrictMath.log`
//! (fdlibm), the logarithm featc's sketch uses. Other dialects have neither function and give
//! each value's count (`__values`) instead, from which featc builds the same sketches.

use sqlparser::ast::{BinaryOperator, DataType, Expr, Statement, TableFactor};

use super::build::{binary, call, cast, col, count_star, derived, int, select};
use super::{Dialect, exact};
use crate::types::Ty;

/// HyperLogLog: registers `2^12`, a set of at most this many hashes is kept exactly.
const PRECISION: i64 = 12;
const SPARSE_LIMIT: i64 = 512;

/// `ln(gamma)` for DDSketch's `gamma = 1.01 / 0.99`, the constant featc's sketch divides by.
const LN_GAMMA: &str = "0.020000666706669435";

/// The smallest magnitude with a bucket; smaller values count as zeros.
const MIN_MAGNITUDE: &str = "1e-9";

fn null() -> Expr {
    Expr::Value(sqlparser::ast::Value::Null.with_empty_span())
}

fn int_type() -> DataType {
    DataType::Int(None)
}

/// The value as Spark hashes it in featc's sketch: times as epoch milliseconds.
fn hashed(d: Dialect, value: Expr, input: &Ty) -> Expr {
    let value = if *input == Ty::Timestamp { d.epoch_millis(value) } else { value };
    call("XXHASH64", vec![value])
}

/// The `__hll` statement: per key and pane, `hashes` (the distinct hashes, when at most 512)
/// or `registers` (each register that saw a hash, as `register * 64 + rank`).
pub(super) fn hll(
    d: Dialect,
    keys: &[(Expr, String)],
    value: Expr,
    input: &Ty,
    from: TableFactor,
    filter: Option<Expr>,
) -> Option<Statement> {
    let pass = || -> Vec<(Expr, String)> { keys.iter().map(|(_, n)| (col(d, n), n.clone())).collect() };
    let by: Vec<Expr> = keys.iter().map(|(_, n)| col(d, n)).collect();
    let h = || col(d, "h");

    // a: each distinct hash of a key and pane.
    let mut a = keys.to_vec();
    a.push((hashed(d, value, input), "h".to_owned()));
    let a = select(d, a, from, filter, vec![])?;
    let mut distinct = pass();
    distinct.push((h(), "h".to_owned()));
    let mut distinct_by = by.clone();
    distinct_by.push(h());
    let a = select(d, distinct, derived(d, a, "a")?, None, distinct_by)?;

    // b: per register (the hash's top 12 bits), its hashes and the largest rank: the leading
    // zeros of the other 52 bits plus one (53 when they are all zero).
    let register = call("SHIFTRIGHTUNSIGNED", vec![h(), int(64 - PRECISION)]);
    let rest = call("SHIFTLEFT", vec![h(), int(PRECISION)]);
    let rank = exact::case(
        vec![(binary(rest.clone(), BinaryOperator::Eq, int(0)), int(64 - PRECISION + 1))],
        binary(int(65), BinaryOperator::Minus, call("LENGTH", vec![call("BIN", vec![rest])])),
    );
    let mut b = pass();
    b.push((register.clone(), "register".to_owned()));
    b.push((count_star(None), "n".to_owned()));
    b.push((call("MAX", vec![rank]), "rank".to_owned()));
    b.push((call("COLLECT_LIST", vec![h()]), "hs".to_owned()));
    let mut b_by = by.clone();
    b_by.push(register);
    let b = select(d, b, derived(d, a, "b")?, None, b_by)?;

    // The sketch of each key and pane: exact while small, registers beyond.
    let total = || call("SUM", vec![col(d, "n")]);
    let mut outer = pass();
    outer.push((
        exact::case(
            vec![(
                binary(total(), BinaryOperator::LtEq, int(SPARSE_LIMIT)),
                call("FLATTEN", vec![call("COLLECT_LIST", vec![col(d, "hs")])]),
            )],
            null(),
        ),
        "hashes".to_owned(),
    ));
    let packed =
        binary(binary(col(d, "register"), BinaryOperator::Multiply, int(64)), BinaryOperator::Plus, col(d, "rank"));
    outer.push((
        exact::case(
            vec![(binary(total(), BinaryOperator::Gt, int(SPARSE_LIMIT)), call("COLLECT_LIST", vec![packed]))],
            null(),
        ),
        "registers".to_owned(),
    ));
    select(d, outer, derived(d, b, "c")?, None, by)
}

/// The `__buckets` statement: per key and pane, `sign` (1, -1, or 0 for the zeros), `bucket`
/// (the DDSketch index; 0 for the zeros) and `count`.
pub(super) fn buckets(
    d: Dialect,
    keys: &[(Expr, String)],
    value: Expr,
    from: TableFactor,
    filter: Option<Expr>,
) -> Option<Statement> {
    let pass = || -> Vec<(Expr, String)> { keys.iter().map(|(_, n)| (col(d, n), n.clone())).collect() };
    let v = || col(d, "v");
    let magnitude = || call("ABS", vec![v()]);
    let small = || binary(magnitude(), BinaryOperator::Lt, number(MIN_MAGNITUDE));

    let mut a = keys.to_vec();
    a.push((cast(value, DataType::Double(sqlparser::ast::ExactNumberInfo::None)), "v".to_owned()));
    let a = select(d, a, from, filter, vec![])?;

    let sign = exact::case(vec![(small(), int(0)), (binary(v(), BinaryOperator::Gt, int(0)), int(1))], int(-1));
    let index = exact::case(
        vec![(small(), int(0))],
        cast(
            call("CEIL", vec![binary(call("LN", vec![magnitude()]), BinaryOperator::Divide, number(LN_GAMMA))]),
            int_type(),
        ),
    );
    let mut b = pass();
    b.push((sign, "sign".to_owned()));
    b.push((index, "bucket".to_owned()));
    let b = select(d, b, derived(d, a, "a")?, None, vec![])?;

    let mut outer = pass();
    outer.push((col(d, "sign"), "sign".to_owned()));
    outer.push((col(d, "bucket"), "bucket".to_owned()));
    outer.push((count_star(None), "count".to_owned()));
    let mut by: Vec<Expr> = keys.iter().map(|(_, n)| col(d, n)).collect();
    by.extend([col(d, "sign"), col(d, "bucket")]);
    select(d, outer, derived(d, b, "b")?, None, by)
}

fn number(text: &str) -> Expr {
    Expr::Value(sqlparser::ast::Value::Number(text.to_owned(), false).with_empty_span())
}
