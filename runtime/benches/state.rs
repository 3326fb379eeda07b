//! Bytes of state per key at 1M keys, for groups of simple aggregates on the columnar path: the
//! key table, the latest event time per key and every window's slots, as allocated (capacity,
//! not length). The baseline is the state a plain `HashMap<i64, (i64, f64, f64, f64)>` holds
//! for the same keys (count, sum, min, max), computed from its capacity (a formula, not a
//! measurement of the process; the fraud group's bench measures resident memory).
//! Run: `cargo bench -p featc-runtime --bench state`.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc_runtime::operators::group::GroupRuntime;

const KEYS: i64 = 1_000_000;

fn ir(features: &str) -> featc::ir::FeatureIr {
    let text = format!(
        "source s {{\n    event_time ts\n    files \"s.parquet\"\n    schema {{ k: i64, x: f64, ts: timestamp }}\n}}\n\nentity e {{ key k: i64 }}\n\nfeatures g(e) from s {{\n{features}}}\n"
    );
    let mut sources = featc::SourceMap::new();
    sources.add("bench.feat", text);
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    featc::ir::lower(&checked.project).unwrap()
}

fn main() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]));
    // Two events per key, 0.25 and 12.34: their sum is exact in one f64, so no sum spills (a
    // spilled sum adds an exact-sum list beside the slots, see `columnar/slots.rs`).
    let batches: Vec<RecordBatch> = (0..2 * KEYS)
        .step_by(8192)
        .map(|start| {
            let rows: Vec<i64> = (start..(start + 8192).min(2 * KEYS)).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|i| i % KEYS))),
                    Arc::new(Float64Array::from_iter_values(rows.iter().map(|i| if *i < KEYS { 0.25 } else { 12.34 }))),
                    Arc::new(TimestampMillisecondArray::from_iter_values(rows.iter().map(|i| 1_700_000_000_000 + i))),
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let baseline = {
        let map: std::collections::HashMap<i64, (i64, f64, f64, f64)> =
            (0..KEYS).map(|k| (k, (2, 0.0, 0.0, 0.0))).collect();
        // hashbrown layout: a control byte and a (key, value) bucket per slot.
        map.capacity().next_power_of_two() * 8 / 7 * (1 + size_of::<(i64, (i64, f64, f64, f64))>())
    };
    println!("| group | bytes per key | baseline (std HashMap, count+sum+min+max) |");
    println!("|---|---|---|");
    for (name, features) in [
        ("count, sum over tumbling(1h)", "    n = count() over tumbling(1h)\n    total = sum(x) over tumbling(1h)\n"),
        (
            "count, sum, avg, min, max over tumbling(1h)",
            "    n = count() over tumbling(1h)\n    total = sum(x) over tumbling(1h)\n    mean = avg(x) over tumbling(1h)\n    low = min(x) over tumbling(1h)\n    high = max(x) over tumbling(1h)\n",
        ),
        (
            "count, sum, avg, min, max over lifetime",
            "    n = count() over lifetime\n    total = sum(x) over lifetime\n    mean = avg(x) over lifetime\n    low = min(x) over lifetime\n    high = max(x) over lifetime\n",
        ),
    ] {
        let ir = ir(features);
        let g = &ir.groups[0];
        let fields: Vec<_> =
            g.columns.iter().filter_map(|c| ir.sources[0].fields.iter().find(|f| &f.name == c).cloned()).collect();
        let mut runtime = GroupRuntime::new(&ir, g).unwrap_or_else(|e| panic!("{e}"));
        for b in &batches {
            runtime.process_batch(b, &fields);
        }
        let bytes = runtime.state_bytes().unwrap_or_else(|| panic!("{name}: not on the columnar path"));
        assert_eq!(runtime.key_count(), KEYS as usize);
        println!("| {name} | {:.1} | {:.1} |", bytes as f64 / KEYS as f64, baseline as f64 / KEYS as f64);
    }
}
