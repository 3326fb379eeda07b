//! The central promise: for on-time events, Lambda = Kappa = the brute-force reference, at
//! every key and query time, over random specs, random events and random batch cutoffs. Each
//! case writes the events as a Parquet history, lets both runtimes read it (the Kappa log is
//! seeded from it) and runs `featc verify`'s comparison, which queries every key at its latest
//! event or the cutoff, at pane edges and just before them, and a day later.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{BooleanArray, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc::ir::{FeatureIr, lower};
use proptest::prelude::*;

const AGGREGATES: &[&str] = &[
    "count()",
    "count(x)",
    "sum(x)",
    "sum(n)",
    "avg(x)",
    "variance(x)",
    "min(x)",
    "max(c)",
    "first(c)",
    "last(x)",
    "last_n(n, 3)",
    "count_distinct(c)",
    "approx_count_distinct(c)",
    "approx_percentile(x, 0.5)",
    "top_k(c, 2)",
];
const FILTERS: &[&str] = &["", " where b", " where x > 0"];
const RULES: &[&str] = &["", "", "speed", "batch", "batch + speed"];
const BASE: i64 = 1_700_000_000_000;

fn window() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("lifetime".to_owned()),
        prop::sample::select(vec![5, 10, 30]).prop_map(|s| format!("tumbling({s}s)")),
        (prop::sample::select(vec![1, 2, 5]), 1u64..7).prop_map(|(h, m)| format!("sliding({}s, every: {h}s)", h * m)),
        prop::sample::select(vec![2, 5]).prop_map(|g| format!("session({g}s)")),
    ]
}

/// A random group with random merge rules, and its lateness in ms.
fn spec() -> impl Strategy<Value = (String, u64)> {
    let feature = (
        prop::sample::select(AGGREGATES.to_vec()),
        prop::sample::select(FILTERS.to_vec()),
        window(),
        prop::sample::select(RULES.to_vec()),
    );
    (prop::collection::vec(feature, 1..6), 0u64..10, any::<bool>()).prop_map(|(features, lateness, group_filter)| {
        let mut text = format!(
            "source s {{\n    event_time ts\n    lateness {lateness}s\n    files \"h.parquet\"\n    schema {{ k: string, x: f64?, n: i64, c: string?, b: bool, ts: timestamp }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s{} {{\n    f0 = count() over lifetime\n",
            if group_filter { " where n >= 0" } else { "" }
        );
        for (i, (agg, filter, window, _)) in features.iter().enumerate() {
            text.push_str(&format!("    f{} = {agg}{filter} over {window}\n", i + 1));
        }
        text.push_str("    ratio = f0 / (f0 + 1)\n}\n");
        let rules: Vec<String> = features
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.3.is_empty())
            .map(|(i, f)| format!("    merge f{} = {}\n", i + 1, f.3))
            .collect();
        if !rules.is_empty() {
            text.push_str(&format!("\nlambda g {{\n    batch every 10s\n{}}}\n", rules.concat()));
        }
        (text, lateness * 1000)
    })
}

fn compiled(text: &str) -> Option<FeatureIr> {
    let mut sources = featc::SourceMap::new();
    sources.add("random.feat", text);
    let checked = featc::check_project(&sources, &featc::Options::default());
    // Some random merge rules do not fit their aggregate (an error the checker reports).
    (!checked.has_errors()).then(|| lower(&checked.project))
}

/// One event: key, x, n, c, b, time in half seconds, arrival jitter within the lateness.
type Raw = (u8, i64, i64, u8, bool, i64, u64);

/// The events in arrival order: sorted by `ts + jitter`, so none is late.
fn history(raw: &[Raw]) -> RecordBatch {
    let mut evs: Vec<(i64, &Raw)> = raw.iter().map(|r| (BASE + r.5 * 500 + r.6 as i64, r)).collect();
    evs.sort_by_key(|e| e.0);
    let schema = Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int64, false),
        Field::new("c", DataType::Utf8, true),
        Field::new("b", DataType::Boolean, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from_iter_values(evs.iter().map(|(_, r)| format!("k{}", r.0)))),
            Arc::new(evs.iter().map(|(_, r)| (r.1 % 7 != 0).then_some(r.1 as f64 * 0.25)).collect::<Float64Array>()),
            Arc::new(Int64Array::from_iter_values(evs.iter().map(|(_, r)| r.2))),
            Arc::new(evs.iter().map(|(_, r)| ["a", "b", "c", "d"].get(r.3 as usize).copied()).collect::<StringArray>()),
            Arc::new(evs.iter().map(|(_, r)| Some(r.4)).collect::<BooleanArray>()),
            Arc::new(TimestampMillisecondArray::from_iter_values(evs.iter().map(|(_, r)| BASE + r.5 * 500))),
        ],
    )
    .unwrap()
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    featc_runtime::generate::write_parquet(path, batch).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn lambda_equals_kappa_equals_reference(
        (text, lateness) in spec(),
        raw in prop::collection::vec((0u8..5, -40i64..40, -5i64..20, 0u8..5, any::<bool>(), 0i64..240, any::<u64>()), 1..120),
        cutoff_half_seconds in 0i64..260,
    ) {
        let ir = compiled(&text);
        prop_assume!(ir.is_some(), "a merge rule that does not fit its aggregate");
        let Some(ir) = ir else { return Ok(()) };
        let raw: Vec<Raw> = raw.into_iter().map(|r| (r.0, r.1, r.2, r.3, r.4, r.5, r.6 % (lateness + 1))).collect();
        let dir = tempfile::tempdir().unwrap();
        write_parquet(&dir.path().join("h.parquet"), &history(&raw));
        let data_dir = dir.path().join(".featc");
        let cutoff = BASE + cutoff_half_seconds * 500;
        let report = featc_runtime::verify::verify(&ir, dir.path(), &data_dir, Some(cutoff), &mut |_| {}).unwrap();
        // Every event was read, and every key with an event the group keeps was compared.
        prop_assert_eq!(report.events, raw.len() as u64);
        let mut kept: Vec<u8> = raw.iter().filter(|r| !text.contains("where n >= 0") || r.2 >= 0).map(|r| r.0).collect();
        kept.sort_unstable();
        kept.dedup();
        prop_assert_eq!(report.keys, kept.len() as u64);
        prop_assert!(kept.is_empty() || report.compared > 0);
        prop_assert!(report.late.is_empty(), "events arrive within the lateness: {:?}", report.late.first());
        prop_assert!(report.differences.is_empty(), "{}\ncutoff +{} ms: {:#?}", text, cutoff - BASE, &report.differences[..report.differences.len().min(3)]);
    }
}
