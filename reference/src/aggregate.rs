//! A window, a key's (event time, value) pairs and a query time in, each aggregate's value out.
//!
//! Straight from `docs/language.md` sections 7 and 8: pick the window's events by time, then
//! sort, count and add exactly. No partials, panes, merges or sketches.

use std::cmp::Ordering;
use std::ops::Range;

use featc::ir::{AggKind, Param, Ty, WindowSpec};

use crate::exact::Moments;
use crate::expected::Expected;
use crate::value::{Val, lang_cmp, lang_eq};

/// The relative tolerance of `approx_percentile` (docs: relative accuracy 1%).
pub(crate) const QUANTILE_RELATIVE: f64 = 0.01;

/// The relative tolerance of `approx_count_distinct`: 4 standard errors of 1.6%.
pub(crate) const DISTINCT_RELATIVE: f64 = 0.065;

/// What one aggregate needs to know of its feature.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) kind: AggKind,
    pub(crate) param: Option<Param>,
    /// The result type (`i64` for an integer sum).
    pub(crate) ty: Ty,
}

/// The expected value of an aggregate over `items`, the (event time, value) of every event in
/// its window that passes its filters. For `count()` every value is non-null.
pub(crate) fn aggregate(spec: &Spec, items: &[(i64, Val)]) -> Result<Expected, String> {
    // Every aggregate skips null inputs.
    let values: Vec<&(i64, Val)> = items.iter().filter(|(_, v)| !v.is_null()).collect();
    let exact = |v: Val| Ok(Expected::Exact(v));
    let null_if_empty = |v: Val| if values.is_empty() { Val::Null } else { v };
    match spec.kind {
        AggKind::Count => exact(Val::I64(values.len() as i64)),
        AggKind::Sum if spec.ty == Ty::I64 => {
            let mut total: i128 = 0;
            for (_, v) in &values {
                total += i128::from(integer(v)?);
            }
            // The docs do not say what an i64 sum beyond the range gives; we expect the
            // saturated value (see the crate docs).
            exact(Val::I64(i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })))
        }
        AggKind::Sum => {
            let m = moments(&values)?;
            Ok(Expected::Float { value: m.sum(), ulps: 0 })
        }
        AggKind::Avg => {
            let m = moments(&values)?;
            Ok(match m.mean() {
                None => Expected::Exact(Val::Null),
                Some(value) => Expected::Float { value, ulps: 1 },
            })
        }
        AggKind::Variance | AggKind::Stddev => {
            let m = moments(&values)?;
            if m.count < 2 {
                return exact(Val::Null);
            }
            if !m.finite() {
                return Ok(Expected::Unspecified("the variance of values that are not all finite".to_owned()));
            }
            let value = if spec.kind == AggKind::Variance { m.variance() } else { m.stddev() };
            Ok(value.map_or(Expected::Exact(Val::Null), |value| Expected::Float { value, ulps: 4 }))
        }
        AggKind::Min => {
            exact(values.iter().map(|(_, v)| v).min_by(|a, b| lang_cmp(a, b)).cloned().unwrap_or(Val::Null))
        }
        AggKind::Max => {
            exact(values.iter().map(|(_, v)| v).max_by(|a, b| lang_cmp(a, b)).cloned().unwrap_or(Val::Null))
        }
        AggKind::First => exact(values.iter().min_by(|a, b| by_time(a, b)).map_or(Val::Null, |(_, v)| v.clone())),
        AggKind::Last => exact(values.iter().max_by(|a, b| by_time(a, b)).map_or(Val::Null, |(_, v)| v.clone())),
        AggKind::FirstN | AggKind::LastN => {
            let n = count_param(spec)?;
            let mut sorted = values.clone();
            sorted.sort_by(|a, b| by_time(a, b));
            let kept = if spec.kind == AggKind::FirstN {
                &sorted[..n.min(sorted.len())]
            } else {
                &sorted[sorted.len().saturating_sub(n)..]
            };
            exact(null_if_empty(Val::List(kept.iter().map(|(_, v)| v.clone()).collect())))
        }
        AggKind::CountDistinct => exact(Val::I64(distinct(&values).len() as i64)),
        AggKind::ApproxCountDistinct => {
            let n = distinct(&values).len() as i64;
            let tolerance = if n == 0 { 0.0 } else { (DISTINCT_RELATIVE * n as f64).max(1.0) };
            Ok(Expected::ApproxCount { exact: n, tolerance })
        }
        AggKind::ApproxPercentile => {
            let p = match spec.param {
                Some(Param::Float(p)) => p,
                Some(Param::Int(p)) => p as f64,
                None => return Err("approx_percentile without p".to_owned()),
            };
            let mut xs = values
                .iter()
                .map(|(_, v)| v.number().ok_or_else(|| not_a_number(v)))
                .collect::<Result<Vec<f64>, _>>()?;
            if xs.is_empty() {
                return exact(Val::Null);
            }
            xs.sort_by(|a, b| a.total_cmp(b));
            let exact = ranks(p, xs.len()).into_iter().map(|r| xs[r]).collect();
            Ok(Expected::ApproxQuantile { exact, relative: QUANTILE_RELATIVE })
        }
        AggKind::TopK => {
            let k = count_param(spec)?;
            let mut counts: Vec<(Val, usize)> = Vec::new();
            for v in distinct(&values) {
                counts.push((v.clone(), values.iter().filter(|(_, w)| lang_eq(v, w)).count()));
            }
            // Most frequent first, ties by value ascending.
            counts.sort_by(|(a, ca), (b, cb)| cb.cmp(ca).then_with(|| lang_cmp(a, b)));
            exact(null_if_empty(Val::List(counts.into_iter().take(k).map(|(v, _)| v).collect())))
        }
    }
}

/// `(event time, value)` order: the order of `first`, `last`, `first_n` and `last_n`.
fn by_time(a: &(i64, Val), b: &(i64, Val)) -> Ordering {
    a.0.cmp(&b.0).then_with(|| lang_cmp(&a.1, &b.1))
}

/// The distinct values, in ascending order, equal ones (`0.0` and `-0.0`) counted once.
fn distinct<'a>(values: &[&'a (i64, Val)]) -> Vec<&'a Val> {
    let mut all: Vec<&Val> = values.iter().map(|(_, v)| v).collect();
    all.sort_by(|a, b| lang_cmp(a, b));
    all.dedup_by(|a, b| lang_eq(a, b));
    all
}

fn count_param(spec: &Spec) -> Result<usize, String> {
    match spec.param {
        Some(Param::Int(n)) if n >= 1 => Ok(n as usize),
        p => Err(format!("{} with the parameter {p:?}", spec.kind.name())),
    }
}

/// The ranks (from 0) of the p-quantile among n sorted values: `floor(p * (n - 1))`. The
/// product in `f64` and the exact product of the binary `p` can floor differently (0.7 * 10 is
/// 7.0 in `f64`, 6.99999999999999955... exactly); both are admitted.
pub(crate) fn ranks(p: f64, n: usize) -> Vec<usize> {
    let last = n.saturating_sub(1);
    let float_rank = (p * last as f64).floor().clamp(0.0, last as f64) as usize;
    let mut out = vec![float_rank];
    if let Some(scaled) = crate::exact::scaled_f64(p) {
        // floor(p * (n - 1)) exactly: p = scaled / 2^1074.
        let product: num_bigint::BigInt = scaled * num_bigint::BigInt::from(last);
        let floor = product >> 1074u32;
        let exact_rank = num_traits::ToPrimitive::to_usize(&floor).unwrap_or(0).min(last);
        if exact_rank != float_rank {
            out.push(exact_rank);
        }
    }
    out
}

fn integer(v: &Val) -> Result<i64, String> {
    match v {
        Val::I64(x) => Ok(*x),
        v => Err(format!("an integer sum of {v}")),
    }
}

fn not_a_number(v: &Val) -> String {
    format!("a numeric aggregate of {v}")
}

/// The exact moments of numeric values; integers stay exact integers (no rounding to `f64`).
fn moments(values: &[&(i64, Val)]) -> Result<Moments, String> {
    let mut m = Moments::default();
    for (_, v) in values {
        match v {
            Val::I64(x) => m.add_i64(*x),
            Val::F64(x) => m.add_f64(*x),
            v => return Err(not_a_number(v)),
        }
    }
    Ok(m)
}

// Windows (section 8).

/// `floor(x, d)`: the largest multiple of `d` (from the epoch) at most `x`, toward negative
/// infinity. In 128 bits, so that `t - w` cannot overflow.
fn floor(x: i128, d: u64) -> i128 {
    let d = i128::from(d.max(1));
    x.div_euclid(d) * d
}

/// The events of one key in the window as of `t`, as a range of `times`, which must be sorted
/// ascending (docs section 8):
/// - `lifetime`: `ts <= t`;
/// - `tumbling(s)`: `floor(t, s) <= ts <= t`;
/// - `sliding(w, every: h)`: `floor(t - w, h) <= ts <= t`;
/// - `session(gap)`: the events with `ts <= t` split where consecutive times are more than
///   `gap` apart; the last session if `t - (its last time) <= gap`, else nothing.
pub(crate) fn select(spec: WindowSpec, times: &[i64], t: i64) -> Range<usize> {
    let end = times.partition_point(|&ts| ts <= t);
    let from = |lo: i128| times.partition_point(|&ts| i128::from(ts) < lo);
    let t = i128::from(t);
    let start = match spec {
        WindowSpec::Lifetime => 0,
        WindowSpec::Tumbling { size_ms } => from(floor(t, size_ms)),
        WindowSpec::Sliding { size_ms, hop_ms } => from(floor(t - i128::from(size_ms), hop_ms)),
        WindowSpec::Session { gap_ms } => {
            let gap = i128::from(gap_ms);
            let Some(&last) = times[..end].last() else { return 0..0 };
            if t - i128::from(last) > gap {
                return end..end;
            }
            let mut start = end - 1;
            while start > 0 && i128::from(times[start]) - i128::from(times[start - 1]) <= gap {
                start -= 1;
            }
            start
        }
    };
    start.min(end)..end
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    /// 10:00 is 10 hours after the epoch, so that floors are easy to read.
    fn at(h: i64, m: i64) -> i64 {
        h * HOUR + m * MIN
    }

    fn picked(spec: WindowSpec, times: &[i64], t: i64) -> Vec<i64> {
        times[select(spec, times, t)].to_vec()
    }

    #[test]
    fn lifetime_is_everything_up_to_t_inclusive() {
        let times = [at(9, 59), at(10, 0), at(10, 0) + 1];
        assert_eq!(picked(WindowSpec::Lifetime, &times, at(10, 0)), vec![at(9, 59), at(10, 0)]);
        assert_eq!(picked(WindowSpec::Lifetime, &times, at(9, 0)), Vec::<i64>::new());
    }

    #[test]
    fn tumbling_starts_at_the_bucket_that_holds_t() {
        let spec = WindowSpec::Tumbling { size_ms: HOUR as u64 };
        let times = [at(9, 59), at(10, 0), at(10, 42), at(11, 0), at(11, 1)];
        assert_eq!(picked(spec, &times, at(10, 42)), vec![at(10, 0), at(10, 42)]);
        // On the boundary, the new bucket holds only the events on the boundary.
        assert_eq!(picked(spec, &times, at(11, 0)), vec![at(11, 0)]);
        assert_eq!(picked(spec, &times, at(11, 0) - 1), vec![at(10, 0), at(10, 42)]);
    }

    #[test]
    fn sliding_is_a_sawtooth_from_a_multiple_of_the_hop() {
        let spec = WindowSpec::Sliding { size_ms: 5 * MIN as u64, hop_ms: MIN as u64 };
        let early = at(9, 58) + 20_000; // 09:58:20
        let times = [at(9, 57) + 59_999, at(9, 58), early, at(9, 59), at(10, 3) + 30_000];
        // As of 10:03:30 the window is 09:58:00 ..= 10:03:30.
        assert_eq!(picked(spec, &times, at(10, 3) + 30_000), vec![at(9, 58), early, at(9, 59), at(10, 3) + 30_000]);
        // As of 10:04:00 it is 09:59:00 ..= 10:04:00: 09:58:20 has left.
        assert_eq!(picked(spec, &times, at(10, 4)), vec![at(9, 59), at(10, 3) + 30_000]);
        assert_eq!(picked(spec, &times, at(10, 4) - 1), vec![at(9, 58), early, at(9, 59), at(10, 3) + 30_000]);
    }

    #[test]
    fn floors_go_toward_negative_infinity() {
        let spec = WindowSpec::Tumbling { size_ms: 1_000 };
        let times = [-2_001, -2_000, -1_500, -1_000];
        assert_eq!(picked(spec, &times, -1_001), vec![-2_000, -1_500]);
        assert_eq!(picked(spec, &times, -1_000), vec![-1_000]);
        let sliding = WindowSpec::Sliding { size_ms: 1_000, hop_ms: 500 };
        // floor(-1001 - 1000, 500) = -2500.
        assert_eq!(picked(sliding, &times, -1_001), vec![-2_001, -2_000, -1_500]);
        // No overflow at the ends of time.
        assert_eq!(picked(sliding, &[i64::MIN, i64::MIN + 1], i64::MIN + 1), vec![i64::MIN, i64::MIN + 1]);
        assert_eq!(picked(WindowSpec::Lifetime, &[i64::MAX], i64::MAX), vec![i64::MAX]);
    }

    #[test]
    fn session_is_the_last_run_if_still_open() {
        let spec = WindowSpec::Session { gap_ms: 30 * MIN as u64 };
        let times = [at(10, 0), at(10, 20), at(10, 45), at(12, 0)];
        let first = vec![at(10, 0), at(10, 20), at(10, 45)];
        // The table of the docs.
        assert_eq!(picked(spec, &times, at(10, 50)), first);
        assert_eq!(picked(spec, &times, at(11, 15)), first);
        assert_eq!(picked(spec, &times, at(11, 16)), Vec::<i64>::new());
        assert_eq!(picked(spec, &times, at(11, 15) + 1), Vec::<i64>::new());
        assert_eq!(picked(spec, &times, at(12, 0)), vec![at(12, 0)]);
        // Events after t do not bridge: as of 10:10 the session is 10:00 alone.
        assert_eq!(picked(spec, &times, at(10, 10)), vec![at(10, 0)]);
        // A gap of exactly `gap` joins; one millisecond more splits.
        let edge = [at(10, 0), at(10, 30), at(11, 0) + 1];
        assert_eq!(picked(spec, &edge, at(10, 30)), vec![at(10, 0), at(10, 30)]);
        assert_eq!(picked(spec, &edge, at(11, 0) + 1), vec![at(11, 0) + 1]);
        // Equal times belong to one session.
        assert_eq!(picked(spec, &[at(10, 0), at(10, 0)], at(10, 0)), vec![at(10, 0), at(10, 0)]);
        assert_eq!(picked(spec, &[], at(10, 0)), Vec::<i64>::new());
        // Before the first event there is no session.
        assert_eq!(picked(spec, &times, at(9, 0)), Vec::<i64>::new());
    }
}
