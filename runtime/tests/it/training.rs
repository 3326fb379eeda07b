//! Training sets against the independent reference on random specs from the shared generator,
//! random events (late ones included: the training set, like the batch layer, reads the
//! history in event-time order, so every event counts) and random spines: each row holds
//! exactly the features as of its time, from the events at or before it, so nothing after it
//! leaks in.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc_reference::{Oracle, Val, agrees};
use featc_runtime::runners::verify::to_val;
use featc_runtime::value::Value;
use featc_tests::generate::{BASE, events, spec};
use proptest::prelude::*;

/// A value of an output column; lists come back from their JSON text.
fn cell(a: &dyn Array, r: usize) -> Val {
    if a.is_null(r) {
        return Val::Null;
    }
    match a.data_type() {
        DataType::Int64 => Val::I64(a.as_primitive::<arrow::datatypes::Int64Type>().value(r)),
        DataType::Float64 => Val::F64(a.as_primitive::<arrow::datatypes::Float64Type>().value(r)),
        DataType::Utf8 => Val::Str(a.as_string::<i32>().value(r).to_owned()),
        DataType::Boolean => Val::Bool(a.as_boolean().value(r)),
        DataType::Timestamp(..) => Val::Ts(a.as_primitive::<arrow::datatypes::TimestampMillisecondType>().value(r)),
        other => panic!("unexpected output type {other}"),
    }
}

/// A list as the training set writes it: JSON text.
fn as_written(v: &Val) -> Option<Val> {
    fn json(v: &Val) -> serde_json::Value {
        match v {
            Val::Null => serde_json::Value::Null,
            Val::Bool(b) => serde_json::Value::Bool(*b),
            Val::I64(x) => serde_json::Value::from(*x),
            Val::F64(x) => serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, serde_json::Value::Number),
            Val::Str(s) => serde_json::Value::String(s.clone()),
            Val::Ts(t) => serde_json::Value::from(*t),
            Val::List(items) => serde_json::Value::Array(items.iter().map(json).collect()),
        }
    }
    matches!(v, Val::List(_)).then(|| Val::Str(json(v).to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn training_rows_equal_the_reference_as_of_their_time(
        (text, evs) in spec(false).prop_flat_map(|(text, lateness)| (Just(text), events(lateness, true))),
        spine in prop::collection::vec((0u8..7, 0i64..2200, any::<bool>()), 1..40),
    ) {
        let ir = crate::common::compiled_for(&text, vec![featc::ir::Target::Kappa]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        featc_runtime::io::generate::write_parquet(&dir.path().join("h.parquet"), &crate::common::batch(&evs)).unwrap();
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
        let out = featc_runtime::runners::training::training_set(&ir, dir.path(), &spine_batch, "ts", &mut |_| {}).unwrap();
        prop_assert_eq!(out.num_rows(), spine.len());
        prop_assert_eq!(out.column(2).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec(), spine.iter().map(|s| i64::from(s.2)).collect::<Vec<_>>());

        let g = &ir.groups[0];
        let rows: Vec<Vec<Value>> = evs.iter().map(|e| crate::common::row(g, e)).collect();
        let oracle = Oracle::new(&ir, 0, &crate::common::reference_events(&rows)).unwrap();
        let empty = oracle.empty().unwrap();
        for (r, s) in spine.iter().enumerate() {
            let key = vec![to_val(&Value::Str(Arc::from(format!("k{}", s.0).as_str())))];
            let want = oracle.key_at(&key, BASE + s.1 * 100).unwrap().unwrap_or_else(|| empty.clone());
            for (i, name) in g.outputs.iter().enumerate() {
                let got = cell(out.column_by_name(name).unwrap().as_ref(), r);
                let verdict = match &want[i] {
                    featc_reference::Expected::Exact(v) if as_written(v).is_some() => {
                        if Some(&got) == as_written(v).as_ref() { Ok(()) } else { Err(format!("{got} is not {v}")) }
                    }
                    w => agrees(w, &got),
                };
                prop_assert!(verdict.is_ok(), "row {} ({:?} at +{} ms), {}: {}\n{}", r, key, s.1 * 100, name, verdict.unwrap_err(), text);
            }
        }
    }
}
