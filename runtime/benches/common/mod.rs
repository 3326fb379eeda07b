//! A project folder of `.feat` files in, its checked and lowered IR out; and a week of events
//! as record batches: what the benchmarks that run a whole project share, with the allocator.

#![allow(dead_code)]

/// The allocator the `featc` binary uses (see `cli/src/main.rs`), so these figures are the
/// binary's; the benchmarks with a `main` turn transparent huge pages off as it does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;

/// The process's resident size in bytes (`VmRSS`), 0 where it cannot be read.
pub(crate) fn rss() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// `events` events `k: i64, x: f64, ts: timestamp` over a week in time order with a little
/// disorder, `keys` keys spread uniformly, the amount of event `i` given by `amount`; in
/// batches of 8,192.
pub(crate) fn week_of_events(events: i64, keys: i64, amount: fn(i64) -> f64) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]));
    (0..events)
        .step_by(8192)
        .map(|start| {
            let rows: Vec<i64> = (start..(start + 8192).min(events)).collect();
            let ts = |i: i64| 1_700_000_000_000 + i * 604_800_000 / events - (i * 7919 % 13) * 1000;
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|i| i.wrapping_mul(2_654_435_761) % keys))),
                    Arc::new(Float64Array::from_iter_values(rows.iter().map(|i| amount(*i)))),
                    Arc::new(TimestampMillisecondArray::from_iter_values(rows.iter().map(|i| ts(*i)))),
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

/// The IR of the project in `dir` (every target checked).
pub(crate) fn project_ir(dir: &Path) -> featc::ir::FeatureIr {
    let mut sources = featc::SourceMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "feat") {
            sources.add(path.to_string_lossy().into_owned(), std::fs::read_to_string(&path).unwrap());
        }
    }
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors());
    featc::ir::lower(&checked.project).unwrap()
}

/// Writes `events` generated events of the fraud example (`featc example-data`'s generator, a
/// million per seed) over `users` users as one Parquet file: the example's 2,000 skewed as it
/// skews them, or more with half the events on users drawn uniformly (as the fraud group's
/// bench draws them), so that a large population is all active.
pub(crate) fn write_fraud_history(path: &Path, events: usize, users: u64) {
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
    let mut writer: Option<parquet::arrow::ArrowWriter<std::fs::File>> = None;
    let chunk = 1_000_000;
    for (i, start) in (0..events).step_by(chunk).enumerate() {
        let uniform = if users > 2_000 { 50 } else { 0 };
        let batch = featc_runtime::io::generate::fraud_for(chunk.min(events - start), 100 + i as u64, users, uniform)
            .unwrap_or_else(|e| panic!("{e}"));
        let w = writer.get_or_insert_with(|| {
            let f = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
            parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap_or_else(|e| panic!("{e}"))
        });
        w.write(&batch).unwrap_or_else(|e| panic!("{e}"));
    }
    if let Some(w) = writer {
        w.close().unwrap_or_else(|e| panic!("{e}"));
    }
}
