//! Training sets against the brute-force reference on random specs, random events (late ones
//! included: the training set, like the batch layer, reads the history in event-time order)
//! and random spines: each row holds exactly the features as of its time, from the events at
//! or before it, so nothing after it leaks in.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc::ir::lower;
use featc_runtime::decode;
use featc_runtime::group::GroupRuntime;
use featc_runtime::reference::Reference;
use featc_runtime::value::Value;
use proptest::prelude::*;

const AGGREGATES: &[&str] = &[
    "count()",
    "sum(x)",
    "avg(x)",
    "min(x)",
    "last(c)",
    "count_distinct(c)",
    "approx_percentile(x, 0.9)",
    "last_n(c, 2)",
];
const BASE: i64 = 1_700_000_000_000;

fn window() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("lifetime".to_owned()),
        prop::sample::select(vec![5, 10]).prop_map(|s| format!("tumbling({s}s)")),
        (prop::sample::select(vec![1, 2]), 1u64..5).prop_map(|(h, m)| format!("sliding({}s, every: {h}s)", h * m)),
        prop::sample::select(vec![2, 5]).prop_map(|g| format!("session({g}s)")),
    ]
}

fn spec() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(AGGREGATES.to_vec()), window(), any::<bool>()), 1..5).prop_map(|features| {
        let mut text = "source s {\n    event_time ts\n    lateness 2s\n    files \"h.parquet\"\n    schema { k: string, x: f64?, c: string?, ts: timestamp }\n}\n\nentity e { key k: string }\n\nfeatures g(e) from s {\n".to_owned();
        for (i, (agg, window, filtered)) in features.iter().enumerate() {
            let filter = if *filtered { " where x > 0" } else { "" };
            text.push_str(&format!("    f{i} = {agg}{filter} over {window}\n"));
        }
        text.push_str("    both = f0\n}\n");
        text
    })
}

/// Events in the given (arrival) order: key, x, c, time in half seconds.
fn events(raw: &[(u8, i64, u8, i64)]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("x", DataType::Float64, true),
        Field::new("c", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from_iter_values(raw.iter().map(|r| format!("k{}", r.0)))),
            Arc::new(raw.iter().map(|r| (r.1 % 5 != 0).then_some(r.1 as f64 * 0.5)).collect::<Float64Array>()),
            Arc::new(raw.iter().map(|r| ["a", "b", "c"].get(r.2 as usize).copied()).collect::<StringArray>()),
            Arc::new(TimestampMillisecondArray::from_iter_values(raw.iter().map(|r| BASE + r.3 * 500))),
        ],
    )
    .unwrap()
}

/// A value of an output column.
fn cell(a: &dyn Array, r: usize) -> Value {
    if a.is_null(r) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Int64 => Value::I64(a.as_primitive::<arrow::datatypes::Int64Type>().value(r)),
        DataType::Float64 => Value::F64(a.as_primitive::<arrow::datatypes::Float64Type>().value(r)),
        DataType::Utf8 => Value::Str(Arc::from(a.as_string::<i32>().value(r))),
        DataType::Boolean => Value::Bool(a.as_boolean().value(r)),
        DataType::Timestamp(..) => Value::Ts(a.as_primitive::<arrow::datatypes::TimestampMillisecondType>().value(r)),
        other => panic!("unexpected output type {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn training_rows_equal_the_reference_as_of_their_time(
        text in spec(),
        raw in prop::collection::vec((0u8..4, -10i64..30, 0u8..4, 0i64..200), 0..100),
        spine in prop::collection::vec((0u8..5, 0i64..2200, any::<bool>()), 1..40),
    ) {
        let mut sources = featc::SourceMap::new();
        sources.add("t.feat", text.as_str());
        let checked = featc::check_project(&sources, &featc::Options { targets: vec![featc::Target::Kappa] });
        prop_assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let ir = lower(&checked.project);
        let dir = tempfile::tempdir().unwrap();
        let history = events(&raw);
        featc_runtime::generate::write_parquet(&dir.path().join("h.parquet"), &history).unwrap();
        // Spine times in tenths of a second: on pane edges (whole seconds) and between them.
        let spine_batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("k", DataType::Utf8, false),
                Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
                Field::new("label", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from_iter_values(spine.iter().map(|s| format!("k{}", s.0)))),
                Arc::new(TimestampMillisecondArray::from_iter_values(spine.iter().map(|s| BASE + s.1 * 100))),
                Arc::new(Int64Array::from_iter_values(spine.iter().map(|s| i64::from(s.2)))),
            ],
        )
        .unwrap();
        let out = featc_runtime::training::training_set(&ir, dir.path(), &spine_batch, "ts", &mut |_| {}).unwrap();
        prop_assert_eq!(out.num_rows(), spine.len());
        prop_assert_eq!(out.column(2).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec(), spine.iter().map(|s| i64::from(s.2)).collect::<Vec<_>>());

        let g = &ir.groups[0];
        let fields: Vec<_> = g.columns.iter().filter_map(|c| ir.sources[0].fields.iter().find(|f| &f.name == c).cloned()).collect();
        let mut reference = Reference::new(&ir).unwrap();
        decode::rows(&history, &fields).0.into_iter().for_each(|row| reference.add(0, row));
        let finisher = GroupRuntime::new(&ir, g).unwrap();
        for (r, s) in spine.iter().enumerate() {
            let key = [Value::Str(Arc::from(format!("k{}", s.0).as_str()))];
            let want = finisher.finish(&reference.partials(0, &key, BASE + s.1 * 100));
            for (i, name) in g.outputs.iter().enumerate() {
                let got = cell(out.column_by_name(name).unwrap().as_ref(), r);
                let want = match &want[i] {
                    // Lists are written as JSON text.
                    v @ Value::List(_) => Value::Str(Arc::from(featc_runtime::kappa::json_value(v).to_string().as_str())),
                    v => v.clone(),
                };
                prop_assert_eq!(got, want, "row {} ({:?} at +{} ms), {}\n{}", r, key, s.1 * 100, name, text);
            }
        }
    }
}
