//! Generated events in, what the runtime's tests feed it out: Arrow batches of the generated
//! schema, rows of a group's columns, and the independent reference's events.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use arrow::array::{BooleanArray, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc::ir::{FeatureIr, IrGroup};
use featc_reference::Event;
use featc_runtime::runners::verify::to_val;
use featc_runtime::value::Value;
use featc_tests::generate::RawEvent;

/// The IR of a spec text, or `None` when the checker refuses it (some random merge rules do
/// not fit their aggregate).
pub fn compiled(text: &str) -> Option<FeatureIr> {
    compiled_for(text, featc::ir::Target::ALL.to_vec())
}

/// The IR of a spec text checked for the given targets only.
pub fn compiled_for(text: &str, targets: Vec<featc::ir::Target>) -> Option<FeatureIr> {
    let mut sources = featc::SourceMap::new();
    sources.add("random.feat", text);
    let checked = featc::check_project(&sources, &featc::Options { targets });
    (!checked.has_errors()).then(|| featc::ir::lower(&checked.project).unwrap())
}

/// The events as one Arrow batch of the generated schema, in arrival order.
pub fn batch(evs: &[RawEvent]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("x", DataType::Float64, true),
        Field::new("m", DataType::Float64, false),
        Field::new("n", DataType::Int64, false),
        Field::new("c", DataType::Utf8, true),
        Field::new("b", DataType::Boolean, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from_iter_values(evs.iter().map(|e| e.k.clone()))),
            Arc::new(evs.iter().map(|e| e.x).collect::<Float64Array>()),
            Arc::new(Float64Array::from_iter_values(evs.iter().map(|e| e.m))),
            Arc::new(Int64Array::from_iter_values(evs.iter().map(|e| e.n))),
            Arc::new(evs.iter().map(|e| e.c).collect::<StringArray>()),
            Arc::new(evs.iter().map(|e| Some(e.b)).collect::<BooleanArray>()),
            Arc::new(TimestampMillisecondArray::from_iter_values(evs.iter().map(|e| e.ts))),
        ],
    )
    .unwrap()
}

/// One event as a row of the group's columns.
pub fn row(g: &IrGroup, e: &RawEvent) -> Vec<Value> {
    g.columns
        .iter()
        .map(|col| match col.as_str() {
            "k" => Value::Str(Arc::from(e.k.as_str())),
            "x" => e.x.map_or(Value::Null, Value::F64),
            "m" => Value::F64(e.m),
            "n" => Value::I64(e.n),
            "c" => e.c.map_or(Value::Null, |c| Value::Str(Arc::from(c))),
            "b" => Value::Bool(e.b),
            "ts" => Value::Ts(e.ts),
            other => panic!("no generated column {other}"),
        })
        .collect()
}

/// Rows as the reference's events.
pub fn reference_events(rows: &[Vec<Value>]) -> Vec<Event> {
    rows.iter().map(|r| Event { row: r.iter().map(to_val).collect() }).collect()
}
