//! The aggregates of the language and their algebra: the facts every stage and layer shares.

use serde::Serialize;

/// How partial results of an aggregate combine, which decides how windows and merges run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algebra {
    /// Partials merge and can be subtracted: windows evict by subtraction.
    Invertible,
    /// Partials merge but cannot be subtracted: windows keep panes.
    Mergeable,
    /// The result needs every value (the exact set): partials do not merge into bounded state.
    Holistic,
}

impl Algebra {
    pub fn describe(self) -> &'static str {
        match self {
            Algebra::Invertible => "invertible",
            Algebra::Mergeable => "mergeable",
            Algebra::Holistic => "holistic (it needs the exact set of values)",
        }
    }

    /// Whether a batch partial and a speed partial combine exactly into bounded state.
    pub fn merges(self) -> bool {
        !matches!(self, Algebra::Holistic)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AggKind {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Variance,
    Stddev,
    First,
    Last,
    FirstN,
    LastN,
    CountDistinct,
    ApproxCountDistinct,
    ApproxPercentile,
    TopK,
}

impl AggKind {
    pub const ALL: [AggKind; 15] = [
        AggKind::Count,
        AggKind::Sum,
        AggKind::Avg,
        AggKind::Min,
        AggKind::Max,
        AggKind::Variance,
        AggKind::Stddev,
        AggKind::First,
        AggKind::Last,
        AggKind::FirstN,
        AggKind::LastN,
        AggKind::CountDistinct,
        AggKind::ApproxCountDistinct,
        AggKind::ApproxPercentile,
        AggKind::TopK,
    ];

    /// The form of the aggregate's state where it changed since the first release; it enters
    /// the aggregate's version, so a stored state of the older form (a checkpoint, a batch view)
    /// is never read as the newer. HyperLogLog hashes with XXH64 (Spark's `xxhash64`) and
    /// DDSketch buckets with fdlibm's logarithm (Java's `StrictMath.log`) since the engines'
    /// SQL computes them.
    pub fn state_form(self) -> Option<&'static str> {
        match self {
            AggKind::ApproxCountDistinct => Some("xxh64"),
            AggKind::ApproxPercentile => Some("fdlibm-ln"),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AggKind::Count => "count",
            AggKind::Sum => "sum",
            AggKind::Avg => "avg",
            AggKind::Min => "min",
            AggKind::Max => "max",
            AggKind::Variance => "variance",
            AggKind::Stddev => "stddev",
            AggKind::First => "first",
            AggKind::Last => "last",
            AggKind::FirstN => "first_n",
            AggKind::LastN => "last_n",
            AggKind::CountDistinct => "count_distinct",
            AggKind::ApproxCountDistinct => "approx_count_distinct",
            AggKind::ApproxPercentile => "approx_percentile",
            AggKind::TopK => "top_k",
        }
    }

    pub fn from_name(name: &str) -> Option<AggKind> {
        AggKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn algebra(self) -> Algebra {
        match self {
            AggKind::Count | AggKind::Sum | AggKind::Avg | AggKind::Variance | AggKind::Stddev => Algebra::Invertible,
            AggKind::Min
            | AggKind::Max
            | AggKind::First
            | AggKind::Last
            | AggKind::FirstN
            | AggKind::LastN
            | AggKind::ApproxCountDistinct
            | AggKind::ApproxPercentile => Algebra::Mergeable,
            AggKind::CountDistinct | AggKind::TopK => Algebra::Holistic,
        }
    }

    /// Whether the result is an estimate with a stated error bound.
    pub fn is_approximate(self) -> bool {
        matches!(self, AggKind::ApproxCountDistinct | AggKind::ApproxPercentile)
    }

    /// The aggregate to suggest when this one cannot merge batch and speed partials.
    pub fn mergeable_alternative(self) -> Option<AggKind> {
        match self {
            AggKind::CountDistinct => Some(AggKind::ApproxCountDistinct),
            _ => None,
        }
    }

    /// How it is called, for messages: `approx_percentile(value, p)`.
    pub fn signature(self) -> &'static str {
        match self {
            AggKind::Count => "count() or count(value)",
            AggKind::Sum => "sum(number)",
            AggKind::Avg => "avg(number)",
            AggKind::Min => "min(value)",
            AggKind::Max => "max(value)",
            AggKind::Variance => "variance(number)",
            AggKind::Stddev => "stddev(number)",
            AggKind::First => "first(value)",
            AggKind::Last => "last(value)",
            AggKind::FirstN => "first_n(value, n)",
            AggKind::LastN => "last_n(value, n)",
            AggKind::CountDistinct => "count_distinct(value)",
            AggKind::ApproxCountDistinct => "approx_count_distinct(value)",
            AggKind::ApproxPercentile => "approx_percentile(number, p)",
            AggKind::TopK => "top_k(value, k)",
        }
    }
}

/// The largest `n` of `first_n`/`last_n` and `k` of `top_k`: it bounds state per key.
pub const MAX_LIST_LEN: i64 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_algebra_matches_the_contract() {
        for k in AggKind::ALL {
            assert_eq!(AggKind::from_name(k.name()), Some(k));
        }
        assert_eq!(AggKind::Sum.algebra(), Algebra::Invertible);
        assert_eq!(AggKind::ApproxPercentile.algebra(), Algebra::Mergeable);
        assert!(!AggKind::CountDistinct.algebra().merges());
    }
}
