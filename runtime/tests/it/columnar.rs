//! The columnar path against the row path, over random groups of every aggregate (in words or
//! boxed, over a column or a computed input) and every window it takes, and random Arrow
//! batches: the same features at every probe time, the same dead letters (malformed and late
//! events) and counters, whatever the batch boundaries, and snapshots that restore across
//! the two paths. The row path itself is checked against the brute-force reference in
//! `stream_vs_reference.rs`.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc::ir::{FeatureIr, IrField, lower};
use featc_runtime::operators::group::{DeadLetter, GroupRuntime, Path};
use featc_runtime::value::Value;
use proptest::prelude::*;

/// This test's schema: a nullable float, an integer, a nullable string and a bool to aggregate.
pub(crate) const SCHEMA: &str = "x: f64?, n: i64, c: string?, b: bool, ts: timestamp";

/// The aggregate calls of the shared generator that run on the columnar layout over this
/// test's schema: every kind of aggregate, over every column it takes.
fn aggregates() -> Vec<String> {
    let columnar: Vec<String> = featc_tests::generate::aggregate_calls()
        .into_iter()
        .filter(|call| {
            let text = format!(
                "source s {{\n    event_time ts\n    files \"s.parquet\"\n    schema {{ k: string, {SCHEMA} }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s {{\n    f = {call} over lifetime\n}}\n"
            );
            let mut sources = featc::SourceMap::new();
            sources.add("probe.feat", text);
            let checked = featc::check_project(&sources, &featc::Options::default());
            !checked.has_errors() && lower(&checked.project).unwrap().groups[0].layout == featc::ir::Layout::Columnar
        })
        .collect();
    // Inputs computed from the event's columns, of each scalar type.
    let mut columnar = columnar;
    for call in [
        "sum(x * 2)",
        "avg(n + 1)",
        "last(n * 3)",
        "count_distinct(n % 3)",
        "max(x - n)",
        "first(x / 4)",
        "approx_count_distinct(n / 2)",
        "top_k(n % 4, 2)",
    ] {
        assert!(compiled_is_columnar(call), "{call}");
        columnar.push(call.to_owned());
    }
    for kind in featc::ir::AggKind::ALL {
        assert!(columnar.iter().any(|c| c.starts_with(&format!("{}(", kind.name()))), "{} {columnar:?}", kind.name());
    }
    for col in ["x", "n", "c", "b"] {
        assert!(columnar.iter().any(|c| c.contains(&format!("({col}"))), "{col} {columnar:?}");
    }
    columnar
}
/// Whether a one-feature group of `call` over this test's schema runs on the columnar layout.
fn compiled_is_columnar(call: &str) -> bool {
    let ir = compiled(&format!(
        "source s {{\n    event_time ts\n    files \"s.parquet\"\n    schema {{ k: string, {SCHEMA} }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s {{\n    f = {call} over lifetime\n}}\n"
    ));
    ir.groups[0].layout == featc::ir::Layout::Columnar
}

pub(crate) const BASE: i64 = 1_700_000_000_000;

fn window() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("lifetime".to_owned()),
        prop::sample::select(vec![5, 10, 30]).prop_map(|s| format!("tumbling({s}s)")),
        (prop::sample::select(vec![1, 2, 5]), 1u64..7).prop_map(|(h, m)| format!("sliding({}s, every: {h}s)", h * m)),
        prop::sample::select(vec![1, 2, 5]).prop_map(|g| format!("session({g}s)")),
    ]
}

/// Feature filters and group filters over this test's schema (a null `x` fails `x > 0`).
const FILTERS: [&str; 6] =
    ["", "", " where n > 3", " where x > 0", " where n % 2 == 0 or x is null", " where b and c is not null"];

/// A random group of simple aggregates with random filters; keys are strings or integers.
pub(crate) fn spec() -> impl Strategy<Value = (String, bool)> {
    let feature = (prop::sample::select(aggregates()), prop::sample::select(FILTERS.to_vec()), window());
    (prop::collection::vec(feature, 1..7), 0u64..10, any::<bool>(), prop::sample::select(FILTERS.to_vec()))
        .prop_map(|(features, lateness, int_key, group_filter)| {
            let key_ty = if int_key { "i64" } else { "string" };
            let mut text = format!(
                "source s {{\n    event_time ts\n    lateness {lateness}s\n    files \"s.parquet\"\n    schema {{ k: {key_ty}, {SCHEMA} }}\n}}\n\nentity e {{ key k: {key_ty} }}\n\nfeatures g(e) from s{group_filter} {{\n"
            );
            for (i, (agg, filter, window)) in features.iter().enumerate() {
                text.push_str(&format!("    f{i} = {agg}{filter} over {window}\n"));
            }
            text.push_str("    empty = f0 is null\n}\n");
            (text, int_key)
        })
}

pub(crate) fn compiled(text: &str) -> FeatureIr {
    let mut sources = featc::SourceMap::new();
    sources.add("random.feat", text);
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors(), "{text}\n{:?}", checked.diagnostics);
    lower(&checked.project).unwrap()
}

/// One raw event: key, x (None = null), n (None = null: malformed, `n` is not nullable), the
/// time in half seconds, c (one of a few strings, or null) and b; some times go far back (late)
/// and some x are NaN (malformed).
pub(crate) type Raw = (u8, Option<f64>, Option<i64>, i64, Option<u8>, bool);

pub(crate) fn raw_events() -> impl Strategy<Value = Vec<Raw>> {
    let x = prop_oneof![8 => (-40i64..40).prop_map(|v| Some(v as f64 * 0.25)), 2 => (-40_00i64..40_00).prop_map(|v| Some(v as f64 / 100.0)), 1 => Just(None), 1 => Just(Some(f64::NAN)), 1 => (-1e6f64..1e6).prop_map(Some)];
    let n = prop_oneof![12 => (-5i64..20).prop_map(Some), 1 => Just(None)];
    let c = prop_oneof![6 => (0u8..5).prop_map(Some), 1 => Just(None)];
    prop::collection::vec((0u8..6, x, n, 0i64..240, c, any::<bool>()), 0..150)
}

pub(crate) fn batch(raw: &[Raw], int_key: bool) -> RecordBatch {
    let key: ArrayRef = if int_key {
        Arc::new(Int64Array::from_iter_values(raw.iter().map(|r| i64::from(r.0) * 1000)))
    } else {
        Arc::new(StringArray::from_iter_values(raw.iter().map(|r| format!("k{}", r.0))))
    };
    let schema = Schema::new(vec![
        Field::new("k", if int_key { DataType::Int64 } else { DataType::Utf8 }, false),
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("c", DataType::Utf8, true),
        Field::new("b", DataType::Boolean, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            key,
            Arc::new(raw.iter().map(|r| r.1).collect::<Float64Array>()),
            Arc::new(raw.iter().map(|r| r.2).collect::<Int64Array>()),
            Arc::new(TimestampMillisecondArray::from_iter_values(raw.iter().map(|r| BASE + r.3 * 500))),
            Arc::new(
                raw.iter().map(|r| r.4.map(|c| ["a", "b", "merchant_7", "", "é"][c as usize])).collect::<StringArray>(),
            ),
            Arc::new(raw.iter().map(|r| Some(r.5)).collect::<BooleanArray>()),
        ],
    )
    .unwrap()
}

pub(crate) fn fields(ir: &FeatureIr) -> Vec<IrField> {
    let g = &ir.groups[0];
    let source = &ir.sources[g.source];
    g.columns.iter().filter_map(|c| source.fields.iter().find(|f| &f.name == c).cloned()).collect()
}

fn sorted_letters(g: &GroupRuntime, taken: &[DeadLetter]) -> Vec<String> {
    let mut out: Vec<String> =
        taken.iter().chain(g.dead_letters()).map(|d| format!("{} {:?}", d.reason, d.row)).collect();
    out.sort();
    out
}

/// Every key's features at its latest event and at the probes after it.
pub(crate) fn features(g: &GroupRuntime, probes: &[i64]) -> Vec<(Vec<Value>, i64, Vec<Value>)> {
    let mut out = Vec::new();
    for key in g.keys() {
        let latest = g.latest(&key).unwrap();
        for t in std::iter::once(latest).chain(probes.iter().map(|p| latest + p)) {
            out.push((key.clone(), t, g.lookup(&key, t).unwrap().unwrap()));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn columnar_path_equals_row_path(
        (text, int_key) in spec(),
        raw in raw_events(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        stop in any::<prop::sample::Index>(),
        probes in prop::collection::vec(0i64..20_000, 1..4),
        (defer, settle) in (any::<bool>(), any::<bool>()),
    ) {
        let ir = compiled(&text);
        let g = &ir.groups[0];
        let fields = fields(&ir);
        let whole = batch(&raw, int_key);

        let mut rows = GroupRuntime::on_path(&ir, g, Path::Rows).unwrap();
        rows.process_batch(&whole, &fields);

        // The columnar path over the same events cut into random batches, and stopped once
        // midway: its snapshot restored into a fresh runtime of each path, which both go on.
        let mut edges: Vec<usize> = cuts.iter().map(|c| c.index(raw.len() + 1)).collect();
        edges.extend([0, raw.len()]);
        edges.sort_unstable();
        let stop = stop.index(raw.len() + 1);
        let mut columnar = GroupRuntime::new(&ir, g).unwrap();
        prop_assert!(columnar.is_columnar(), "{}", text);
        // Running totals kept at each event, or built once at the end (the batch layer's way),
        // or not built at all (lookups then merge the panes).
        if defer {
            columnar.defer_totals();
        }
        let mut resumed_rows: Option<GroupRuntime> = None;
        // The dead letters written out before the snapshot (a snapshot holds only their count).
        let mut taken = Vec::new();
        for pair in edges.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            for (a, b) in [(from, stop.clamp(from, to)), (stop.clamp(from, to), to)] {
                if a == b {
                    continue;
                }
                let part = whole.slice(a, b - a);
                columnar.process_batch(&part, &fields);
                if let Some(r) = resumed_rows.as_mut() {
                    r.process_batch(&part, &fields);
                }
                if b == stop && resumed_rows.is_none() {
                    taken = columnar.pending_dead_letters().1.to_vec();
                    columnar.written_dead_letters(taken.len());
                    let snapshot = columnar.snapshot();
                    let mut r = GroupRuntime::on_path(&ir, g, Path::Rows).unwrap();
                    r.restore(snapshot.clone());
                    resumed_rows = Some(r);
                    let mut c = GroupRuntime::new(&ir, g).unwrap();
                    c.restore(snapshot);
                    if defer {
                        c.defer_totals();
                    }
                    columnar = c;
                }
            }
        }

        if settle {
            columnar.settle_totals();
        }
        prop_assert_eq!(columnar.counters(), rows.counters());
        prop_assert_eq!(sorted_letters(&columnar, &taken), sorted_letters(&rows, &[]));
        let want = features(&rows, &probes);
        prop_assert_eq!(&features(&columnar, &probes), &want, "{}", text);
        if let Some(r) = resumed_rows {
            prop_assert_eq!(&features(&r, &probes), &want);
        }
    }
}

/// Every aggregate and window runs columnar; a group with more feature filters than an event's
/// 64-bit mask holds takes the row path.
#[test]
fn groups_outside_the_columnar_subset_take_the_row_path() {
    for filters in [64, 65] {
        let features: String =
            (0..filters).map(|i| format!("    f{i} = count() where n > {i} over lifetime\n")).collect();
        let ir = compiled(&format!(
            "source s {{\n    event_time ts\n    files \"s.parquet\"\n    schema {{ k: string, {SCHEMA} }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s {{\n{features}}}\n"
        ));
        assert_eq!(GroupRuntime::new(&ir, &ir.groups[0]).unwrap().is_columnar(), filters <= 64, "{filters} filters");
    }
}

/// A late event within the gap of two sessions bridges them into one on both paths: the
/// columnar path merges the two sessions' slots (rare in random events, so drawn here).
#[test]
fn an_event_that_bridges_two_sessions_merges_them_on_both_paths() {
    let ir = compiled(&format!(
        "source s {{\n    event_time ts\n    lateness 10s\n    files \"s.parquet\"\n    schema {{ k: string, {SCHEMA} }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s {{\n    n_s = count() over session(3s)\n    x_s = sum(x) over session(3s)\n    l_s = last_n(c, 3) over session(3s)\n    d_s = count_distinct(n * 2) over session(3s)\n}}\n"
    ));
    let g = &ir.groups[0];
    // Times in half seconds: sessions at 0-1 s and 6-7 s, then events at 3.5 s and 2.5 s that
    // reach both (within 3 s of each).
    let raw: Vec<Raw> = [0, 2, 12, 14, 7, 5]
        .iter()
        .enumerate()
        .map(|(i, &t)| (1, Some(i as f64 + 0.25), Some(i as i64), t, Some(i as u8 % 5), true))
        .collect();
    let mut rows = GroupRuntime::on_path(&ir, g, Path::Rows).unwrap();
    let mut columnar = GroupRuntime::new(&ir, g).unwrap();
    assert!(columnar.is_columnar());
    for r in &raw {
        let one = batch(std::slice::from_ref(r), false);
        rows.process_batch(&one, &fields(&ir));
        columnar.process_batch(&one, &fields(&ir));
    }
    let want = features(&rows, &[0, 1_000, 5_000]);
    assert_eq!(features(&columnar, &[0, 1_000, 5_000]), want);
    // One session holds all six events.
    assert_eq!(want[0].2[0], Value::I64(6), "{want:?}");
}

/// Sums of cent amounts are not exact in one f64, so a sliding window's running total spills
/// to an exact accumulator, and a pane that leaves is taken out of it exactly: the columnar
/// running totals against the row path's, looked up after every event and as the panes leave
/// (random events reach this case only now and then, so it is drawn here).
#[test]
fn running_totals_of_cent_amounts_take_leaving_panes_out_exactly() {
    let ir = compiled(&format!(
        "source s {{\n    event_time ts\n    lateness 2s\n    files \"s.parquet\"\n    schema {{ k: string, {SCHEMA} }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s {{\n    s = sum(x) over sliding(3s, every: 1s)\n    m = avg(x) where n > 2 over sliding(3s, every: 1s)\n    v = stddev(x) over sliding(3s, every: 1s)\n    d = count_distinct(c) over sliding(3s, every: 1s)\n    hi = max(x) over sliding(3s, every: 1s)\n}}\n"
    ));
    let g = &ir.groups[0];
    // Cent amounts over 12 seconds (times in half seconds), some out of order within the
    // lateness, a big one whose cents are lost when rounded with the others.
    let amounts = [19.99, 0.01, 5.37, 1e15 + 0.25, 0.1, 0.2, 0.3, 12.34, 99.99, 0.07, 3.33, 7.77, 0.05, 1.1];
    let times = [0, 1, 3, 4, 2, 6, 8, 7, 11, 14, 13, 18, 22, 24];
    let raw: Vec<Raw> = amounts
        .iter()
        .zip(times)
        .enumerate()
        .map(|(i, (&x, t))| (1, Some(x), Some(i as i64 % 5), t, Some(i as u8 % 3), true))
        .collect();
    let mut rows = GroupRuntime::on_path(&ir, g, Path::Rows).unwrap();
    let mut columnar = GroupRuntime::new(&ir, g).unwrap();
    assert!(columnar.is_columnar());
    let probes = [0, 500, 1_000, 2_000, 3_000, 4_500];
    for r in &raw {
        let one = batch(std::slice::from_ref(r), false);
        rows.process_batch(&one, &fields(&ir));
        columnar.process_batch(&one, &fields(&ir));
        assert_eq!(features(&columnar, &probes), features(&rows, &probes), "after the event at {}", r.3);
    }
    // At the last event (12 s) the window holds the panes from 9 s: 7.77, 0.05 and 1.1, the
    // exact sum correctly rounded (Python's `math.fsum`), the 1e15 pane long gone.
    let last = &features(&columnar, &[])[0].2;
    assert_eq!(last[0], Value::F64(8.92), "{last:?}");
}
