//! Every aggregate against its definition, computed by brute force over the raw values; and
//! results that do not depend on how events were split, merged or retracted.

use std::collections::BTreeMap;
use std::sync::Arc;

use featc::ir::AggKind;
use featc::ir::Param;
use proptest::prelude::*;

use super::{AggSpec, Partial, Quantiles, ValueCounts};
use crate::value::Value;

/// An event: its time and its value (null sometimes). Times repeat to exercise ties; floats are
/// quarters, so plain addition in the reference is exact too.
#[derive(Debug, Clone)]
struct Ev {
    ts: i64,
    value: Value,
}

fn events(kind_of_value: u8) -> impl Strategy<Value = Vec<Ev>> {
    let value = match kind_of_value {
        0 => prop_oneof![1 => Just(Value::Null), 8 => (-400i64..400).prop_map(|q| Value::F64(q as f64 * 0.25))].boxed(),
        1 => prop_oneof![1 => Just(Value::Null), 8 => (-1000i64..1000).prop_map(Value::I64)].boxed(),
        _ => prop_oneof![1 => Just(Value::Null), 8 => "[a-e]".prop_map(|s| Value::Str(Arc::from(s.as_str())))].boxed(),
    };
    prop::collection::vec((0i64..50, value).prop_map(|(ts, value)| Ev { ts, value }), 0..80)
}

fn spec(kind: AggKind) -> AggSpec {
    let param = match kind {
        AggKind::FirstN | AggKind::LastN | AggKind::TopK => Some(Param::Int(3)),
        AggKind::ApproxPercentile => Some(Param::Float(0.9)),
        _ => None,
    };
    AggSpec::new(kind, param)
}

fn fold(kind: AggKind, evs: &[Ev], integer: bool) -> Partial {
    let spec = spec(kind);
    let mut p = Partial::new(spec, integer);
    for e in evs {
        p.update(spec, e.ts, Some(&e.value));
    }
    p
}

/// The definition of each aggregate, over the non-null values.
fn reference(kind: AggKind, evs: &[Ev], integer: bool) -> Value {
    let vals: Vec<&Ev> = evs.iter().filter(|e| !e.value.is_null()).collect();
    let nums: Vec<f64> = vals.iter().filter_map(|e| e.value.as_f64()).collect();
    let mut pairs: Vec<(i64, Value)> = vals.iter().map(|e| (e.ts, e.value.clone())).collect();
    pairs.sort();
    let list = |items: Vec<Value>| if items.is_empty() { Value::Null } else { Value::List(items.into()) };
    match kind {
        AggKind::Count => Value::I64(vals.len() as i64),
        AggKind::Sum if integer => {
            Value::I64(vals.iter().map(|e| if let Value::I64(x) = e.value { x } else { 0 }).sum())
        }
        AggKind::Sum => Value::F64(nums.iter().fold(0.0, |a, b| a + b)),
        AggKind::Avg => {
            if nums.is_empty() {
                Value::Null
            } else {
                Value::F64(nums.iter().fold(0.0, |a, b| a + b) / nums.len() as f64)
            }
        }
        AggKind::Variance | AggKind::Stddev => {
            if nums.len() < 2 {
                return Value::Null;
            }
            // Exact in integers: the inputs are quarters (or integers), so 4x is an integer and
            // n Σ(4x)² − (Σ4x)² = 16 (n Σx² − (Σx)²) exactly; one rounding, then one division.
            let xs: Vec<i128> = nums.iter().map(|x| (x * 4.0) as i128).collect();
            let n = xs.len() as i128;
            let numerator = n * xs.iter().map(|x| x * x).sum::<i128>() - xs.iter().sum::<i128>().pow(2);
            let var = (numerator as f64 / 16.0) / ((n * (n - 1)) as f64);
            Value::F64(if kind == AggKind::Stddev { var.sqrt() } else { var })
        }
        AggKind::Min => vals.iter().map(|e| e.value.clone()).min().unwrap_or(Value::Null),
        AggKind::Max => vals.iter().map(|e| e.value.clone()).max().unwrap_or(Value::Null),
        AggKind::First => pairs.first().map_or(Value::Null, |p| p.1.clone()),
        AggKind::Last => pairs.last().map_or(Value::Null, |p| p.1.clone()),
        AggKind::FirstN => list(pairs.iter().take(3).map(|p| p.1.clone()).collect()),
        AggKind::LastN => list(pairs[pairs.len().saturating_sub(3)..].iter().map(|p| p.1.clone()).collect()),
        AggKind::CountDistinct | AggKind::ApproxCountDistinct => {
            let distinct: std::collections::BTreeSet<&Value> = vals.iter().map(|e| &e.value).collect();
            Value::I64(distinct.len() as i64)
        }
        AggKind::TopK => {
            let mut counts: BTreeMap<&Value, i64> = BTreeMap::new();
            vals.iter().for_each(|e| *counts.entry(&e.value).or_insert(0) += 1);
            let mut ranked: Vec<(&Value, i64)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            list(ranked.into_iter().take(3).map(|(v, _)| v.clone()).collect())
        }
        AggKind::ApproxPercentile => {
            let mut sorted = nums.clone();
            sorted.sort_by(f64::total_cmp);
            sorted
                .get((0.9 * (sorted.len().max(1) - 1) as f64).floor() as usize)
                .map_or(Value::Null, |v| Value::F64(*v))
        }
    }
}

fn close(kind: AggKind, got: &Value, want: &Value) -> bool {
    match (kind, got, want) {
        (AggKind::ApproxPercentile, Value::F64(g), Value::F64(w)) => (g - w).abs() <= 0.01 * w.abs() * 1.000_001 + 1e-9,
        _ => got == want,
    }
}

const KINDS: [AggKind; 15] = AggKind::ALL;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_aggregate_matches_its_definition_however_the_events_are_split(
        evs in (0u8..3).prop_flat_map(events),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        order_seed in any::<u64>(),
    ) {
        let integer = evs.iter().any(|e| matches!(e.value, Value::I64(_)));
        let numeric = evs.iter().all(|e| matches!(e.value, Value::Null | Value::I64(_) | Value::F64(_)));
        for kind in KINDS {
            let needs_number = matches!(kind, AggKind::Sum | AggKind::Avg | AggKind::Variance | AggKind::Stddev | AggKind::ApproxPercentile);
            if needs_number && !numeric {
                continue;
            }
            let want = reference(kind, &evs, integer);
            let whole = fold(kind, &evs, integer);
            let got = whole.finalize(spec(kind));
            prop_assert!(close(kind, &got, &want), "{:?}: got {} want {}", kind, got, want);

            // Split at random points, fold each chunk, merge the chunks in a shuffled order.
            let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(evs.len() + 1)).collect();
            bounds.push(0);
            bounds.push(evs.len());
            bounds.sort_unstable();
            let mut chunks: Vec<Partial> = bounds.windows(2).map(|w| fold(kind, &evs[w[0]..w[1]], integer)).collect();
            let mut s = order_seed;
            for i in (1..chunks.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                chunks.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut merged = Partial::new(spec(kind), integer);
            for c in &chunks {
                merged.merge(spec(kind), c);
            }
            prop_assert_eq!(merged.finalize(spec(kind)), got.clone(), "{:?}: merging changed the result", kind);
            // States are canonical too, except exact sums, whose partial lists may differ in
            // form while holding the same exact total.
            let exact_sum_state = matches!(kind, AggKind::Avg | AggKind::Variance | AggKind::Stddev)
                || (kind == AggKind::Sum && !integer);
            if !exact_sum_state {
                prop_assert_eq!(&merged, &whole, "{:?}: merging changed the state", kind);
            }

            // Retract the first chunk: exactly the aggregate of the rest, for those that can.
            let first = fold(kind, &evs[..bounds[1]], integer);
            if merged.retract(&first) {
                let rest = reference(kind, &evs[bounds[1]..], integer);
                prop_assert!(close(kind, &merged.finalize(spec(kind)), &rest), "{:?}: retraction", kind);
            }
        }
    }
}

#[test]
fn over_no_input_counts_and_sums_give_zero_and_the_rest_null() {
    for kind in KINDS {
        let got = Partial::new(spec(kind), false).finalize(spec(kind));
        let zero = matches!(kind, AggKind::Count | AggKind::CountDistinct | AggKind::ApproxCountDistinct);
        match kind {
            AggKind::Sum => assert_eq!(got, Value::F64(0.0)),
            _ if zero => assert_eq!(got, Value::I64(0), "{kind:?}"),
            _ => assert_eq!(got, Value::Null, "{kind:?}"),
        }
    }
    assert_eq!(Partial::new(spec(AggKind::Sum), true).finalize(spec(AggKind::Sum)), Value::I64(0));
}

#[test]
fn count_without_argument_counts_every_event() {
    let s = spec(AggKind::Count);
    let mut p = Partial::new(s, false);
    p.update(s, 1, None);
    p.update(s, 1, None);
    p.update(s, 2, Some(&Value::Null));
    assert_eq!(p.finalize(s), Value::I64(2));
}

fn moments_of(xs: &[f64], kind: AggKind) -> Value {
    let spec = AggSpec::new(kind, None);
    let mut p = Partial::new(spec, false);
    xs.iter().for_each(|&x| p.update(spec, 0, Some(&Value::F64(x))));
    p.finalize(spec)
}

#[test]
fn variance_is_exact_where_the_textbook_formula_cancels() {
    // Large offsets: (Σx² − (Σx)²/n) from rounded squares gave 0 here.
    assert_eq!(moments_of(&[1e9 + 0.25, 1e9 + 0.5, 1e9 + 0.75], AggKind::Variance), Value::F64(0.0625));
    assert_eq!(moments_of(&[1e9 + 0.25, 1e9 + 0.5, 1e9 + 0.75], AggKind::Stddev), Value::F64(0.25));
    // Pressure-like readings: the old formula was off in the fourth significant digit. The
    // decimal inputs are not exact in binary, hence a bound far below that, not equality.
    let Value::F64(v) = moments_of(&[101_325.37, 101_325.41, 101_325.29], AggKind::Variance) else { panic!() };
    assert!((v - 0.003_733_333_333_333).abs() < 1e-9, "{v}");
    // The result depends on the multiset only, not on the order.
    assert_eq!(
        moments_of(&[0.1, 1e8, 0.3, -7.25], AggKind::Variance),
        moments_of(&[-7.25, 0.3, 1e8, 0.1], AggKind::Variance)
    );
}

/// A partial takes 48 bytes, a sketch's and a value count's first value held inline (the
/// columnar slots keep one per pane and aggregate: docs/benchmarks.md, "The fraud example's
/// group at 1M keys").
#[test]
fn a_partial_is_48_bytes() {
    assert_eq!(size_of::<Partial>(), 48);
    assert_eq!(size_of::<Quantiles>(), 40);
    assert!(size_of::<ValueCounts>() <= 40);
    // A value counted, kept by `last_n` or held in a pane: a list is a boxed slice.
    assert_eq!(size_of::<Value>(), 24);
}

/// Partials' vectors grow by an eighth, not by doubling: a 30-day total of nine merchants keeps
/// room for nine (doubling gave sixteen), a sketch of nine buckets room for nine, and `last_n(5)`
/// never room for more than five, however many events it saw.
#[test]
fn partials_grow_by_an_eighth() {
    let merchants = AggSpec::new(AggKind::CountDistinct, None);
    let mut counts = Partial::new(merchants, false);
    for i in 0..9 {
        counts.update(merchants, i, Some(&Value::Str(Arc::from(format!("m{i}").as_str()))));
    }
    assert_eq!(counts.heap_bytes(), 9 * size_of::<(Value, i64)>());

    let mut sketch = Quantiles::default();
    // Amounts far enough apart to fall in nine buckets.
    (0..9).for_each(|i| sketch.insert(f64::from(1u32 << (2 * i))));
    assert_eq!(sketch.bytes(), 9 * size_of::<(i32, u64)>());

    let last = AggSpec::new(AggKind::LastN, Some(Param::Int(5)));
    let mut kept = Partial::new(last, false);
    for ts in 0..100 {
        kept.update(last, ts, Some(&Value::I64(ts)));
        assert!(kept.heap_bytes() <= 5 * size_of::<(i64, Value)>(), "after {ts}: {}", kept.heap_bytes());
    }
    assert_eq!(kept.finalize(last), Value::List((95..100).map(Value::I64).collect()));
}
