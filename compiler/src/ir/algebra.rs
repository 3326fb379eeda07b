//! An aggregate kind and its input type in, its algebra out: partial state, the operations on
//! it, how windows evict it, its error bound and its size per key.

use serde::Serialize;

use crate::aggregates::{AggKind, Algebra};
use crate::types::Ty;

/// One field of an aggregate's partial state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateField {
    pub name: &'static str,
    /// `i64`, `f64`, `timestamp`, the input type, or a described collection.
    pub ty: String,
}

/// The algebra every layer implements for one aggregate (see `docs/language.md`, section 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AggregateAlgebra {
    pub class: Algebra,
    pub state: Vec<StateField>,
    pub init: &'static str,
    pub update: &'static str,
    pub merge: &'static str,
    /// How a partial is subtracted on eviction, for aggregates whose partials subtract
    /// exactly (invertible ones, value counts, quantile bucket counts); windows of panes keep
    /// a running total of these and a two-stacks aggregator for the others.
    pub retract: Option<&'static str>,
    pub finalize: &'static str,
    /// `None` when exact; otherwise the stated error bound.
    pub error_bound: Option<&'static str>,
}

/// Bytes of a value of type `ty` in state, for the per-key estimate.
pub(crate) fn value_bytes(ty: &Ty) -> u64 {
    match ty {
        Ty::Bool => 1,
        Ty::I64 | Ty::F64 | Ty::Timestamp | Ty::Null => 8,
        // A short identifier: 24-byte inline string.
        Ty::String => 24,
        Ty::List(inner) => 24 + 4 * value_bytes(inner),
    }
}

/// Distinct values assumed per key and window for holistic aggregates in size estimates.
pub const ASSUMED_DISTINCT_VALUES: u64 = 16;

/// HyperLogLog precision: 2^12 registers, relative standard error 1.04/sqrt(4096), about 1.6%.
pub const HLL_PRECISION: u8 = 12;

/// Relative accuracy of the quantile sketch.
pub const QUANTILE_RELATIVE_ACCURACY: f64 = 0.01;

pub(crate) fn algebra(kind: AggKind, input: Option<&Ty>, param: Option<i64>) -> (AggregateAlgebra, u64) {
    let t = input.map_or_else(|| "-".to_owned(), ToString::to_string);
    let vb = input.map_or(8, value_bytes);
    let field = |name: &'static str, ty: &str| StateField { name, ty: ty.to_owned() };
    let sum_ty = if input == Some(&Ty::I64) { "i64" } else { "f64 (exact accumulator)" };
    let sum_bytes = if input == Some(&Ty::I64) { 8 } else { 16 };
    let n = param.unwrap_or(1).max(1) as u64;
    let a = |class, state, init, update, merge, retract, finalize, error_bound| AggregateAlgebra {
        class,
        state,
        init,
        update,
        merge,
        retract,
        finalize,
        error_bound,
    };
    use Algebra::*;
    match kind {
        AggKind::Count => (
            a(
                Invertible,
                vec![field("count", "i64")],
                "0",
                "count += 1 if value is not null",
                "a + b",
                Some("a - b"),
                "count",
                None,
            ),
            8,
        ),
        AggKind::Sum => (
            a(Invertible, vec![field("sum", sum_ty)], "0", "sum += value", "a + b", Some("a - b"), "sum", None),
            sum_bytes,
        ),
        AggKind::Avg => (
            a(
                Invertible,
                vec![field("sum", "f64 (exact accumulator)"), field("count", "i64")],
                "(0, 0)",
                "sum += value; count += 1",
                "field-wise +",
                Some("field-wise -"),
                "sum / count, null when count = 0",
                None,
            ),
            24,
        ),
        AggKind::Variance | AggKind::Stddev => (
            a(
                Invertible,
                vec![
                    field("count", "i64"),
                    field("sum", "f64 (exact accumulator)"),
                    field("sum_sq", "f64 (exact accumulator)"),
                ],
                "(0, 0, 0)",
                "count += 1; sum += value; sum_sq += value^2",
                "field-wise +",
                Some("field-wise -"),
                if kind == AggKind::Variance {
                    "(sum_sq - sum^2 / count) / (count - 1), null when count < 2"
                } else {
                    "sqrt of the sample variance, null when count < 2"
                },
                None,
            ),
            40,
        ),
        AggKind::Min | AggKind::Max => (
            a(
                Mergeable,
                vec![field(if kind == AggKind::Min { "min" } else { "max" }, &t)],
                "null",
                if kind == AggKind::Min { "min(state, value)" } else { "max(state, value)" },
                if kind == AggKind::Min { "min(a, b)" } else { "max(a, b)" },
                None,
                "state",
                None,
            ),
            vb + 1,
        ),
        AggKind::First | AggKind::Last => (
            a(
                Mergeable,
                vec![field("ts", "timestamp"), field("value", &t)],
                "null",
                if kind == AggKind::First { "keep the smaller (ts, value)" } else { "keep the larger (ts, value)" },
                if kind == AggKind::First {
                    "the smaller of a, b by (ts, value)"
                } else {
                    "the larger of a, b by (ts, value)"
                },
                None,
                "value",
                None,
            ),
            8 + vb + 1,
        ),
        AggKind::FirstN | AggKind::LastN => (
            a(
                Mergeable,
                vec![field("items", &format!("up to {n} (ts, {t}), ordered by (ts, value)"))],
                "[]",
                if kind == AggKind::FirstN { "insert, keep the n smallest" } else { "insert, keep the n largest" },
                if kind == AggKind::FirstN { "the n smallest of a ++ b" } else { "the n largest of a ++ b" },
                None,
                "the values, oldest first",
                None,
            ),
            24 + n * (8 + vb),
        ),
        AggKind::CountDistinct | AggKind::TopK => (
            a(
                Holistic,
                vec![field("counts", &format!("map {t} -> i64"))],
                "{}",
                "counts[value] += 1",
                "key-wise +",
                // Counts can be subtracted: windows evict panes by subtraction, but the state
                // grows with the distinct values.
                Some("key-wise -, dropping zero counts"),
                if kind == AggKind::CountDistinct {
                    "number of keys"
                } else {
                    "the k most frequent values, ties by value ascending"
                },
                None,
            ),
            48 + ASSUMED_DISTINCT_VALUES * (vb + 8),
        ),
        AggKind::ApproxCountDistinct => (
            a(
                Mergeable,
                vec![field("hll", "HyperLogLog p=12: sparse list of hashes, dense 4096 x 6-bit registers")],
                "empty sparse sketch",
                "insert hash(value)",
                "union (register-wise max); sparse + sparse stays sparse while small",
                None,
                "estimate; exact while sparse",
                Some("relative standard error 1.6% (1.04 / sqrt(4096)); exact below the sparse limit"),
            ),
            // Sparse mode, a few hashes.
            16 + 4 * ASSUMED_DISTINCT_VALUES,
        ),
        AggKind::ApproxPercentile => (
            a(
                Mergeable,
                vec![field("bins", "DDSketch, relative accuracy 1%: map log-bucket -> i64, plus zero count")],
                "empty sketch",
                "bins[bucket(value)] += 1",
                "bin-wise +",
                Some("bin-wise -, dropping empty bins"),
                "value at rank floor(p * (n - 1))",
                Some("relative error 1% of the true quantile value"),
            ),
            32 + 12 * ASSUMED_DISTINCT_VALUES,
        ),
    }
}
