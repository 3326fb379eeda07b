//! Replay from a Delta table, against reading the same table's Parquet files raw, and against
//! the same replay from the embedded log, in one run: 2M events in 10 commits.
//! Run: `cargo bench -p featc-runtime --bench delta`.

mod common;

use std::hint::black_box;
use std::path::Path;

use arrow::record_batch::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use featc_runtime::io::delta::Table;
use featc_runtime::io::delta::stream::DeltaSource;
use featc_runtime::io::log::Log;
use featc_runtime::io::stream::StreamSource as _;
use featc_runtime::runners::kappa::KappaRunner;

const EVENTS: i64 = 2_000_000;
const KEYS: i64 = 100_000;
const COMMITS: i64 = 10;

const SPEC: &str = "source s {
    event_time ts
    lateness 1m
    files \"table\" format delta
    schema { k: i64, x: f64, ts: timestamp }
}

entity e { key k: i64 }

features g(e) from s {
    n = count() over lifetime
    total = sum(x) over tumbling(1h)
    mean = avg(x) over sliding(1h, every: 5m)
    high = max(x) over sliding(1d, every: 1h)
}
";

fn ir(spec: &str) -> featc::ir::FeatureIr {
    let mut sources = featc::SourceMap::new();
    sources.add("delta.feat", spec);
    let checked = featc::check_project(&sources, &featc::Options { targets: vec![featc::ir::Target::Kappa] });
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    featc::ir::lower(&checked.project).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The events: a week, keys uniform, amounts in cents, as real money is.
fn batches() -> Vec<RecordBatch> {
    common::week_of_events(EVENTS, KEYS, |i| (i * 37 % 100_000) as f64 / 100.0)
}

/// The events as a Delta table of `COMMITS` commits under `dir/table`, and as the embedded log
/// of topic `s` under `dir/.featc-log`.
fn write(dir: &Path, batches: &[RecordBatch]) {
    let per_commit = batches.len().div_ceil(COMMITS as usize);
    for chunk in batches.chunks(per_commit) {
        featc_runtime::io::delta::write::write_table(&dir.join("table"), chunk, &serde_json::Map::new())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let log = Log::open(&dir.join(".featc-log").join("log"), "s").unwrap_or_else(|e| panic!("{e}"));
    log.append(batches).unwrap_or_else(|e| panic!("{e}"));
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("featc-delta-bench-{}", std::process::id()));
    write(&dir, &batches());
    let delta_ir = ir(SPEC);
    let log_ir = ir(&SPEC.replace("    files \"table\" format delta\n", ""));
    let table = Table::open(&dir.join("table")).unwrap_or_else(|e| panic!("{e}"));
    let files =
        table.files_at(table.latest_version().unwrap_or_else(|e| panic!("{e}"))).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("delta_2M_events_10_commits");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("baseline: the table's Parquet files read raw", |b| {
        b.iter(|| {
            let mut rows = 0;
            for path in &files {
                let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{e}"));
                let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .and_then(|b| b.with_batch_size(8192).build())
                    .unwrap_or_else(|e| panic!("{e}"));
                for batch in reader {
                    rows += batch.unwrap_or_else(|e| panic!("{e}")).num_rows();
                }
            }
            assert_eq!(rows as i64, EVENTS);
            black_box(rows)
        })
    });
    group.bench_function("the Delta stream: log read, commit by commit", |b| {
        b.iter(|| {
            let mut source = DeltaSource::open(&dir, &delta_ir.sources[0]).unwrap_or_else(|e| panic!("{e}"));
            let mut rows = 0;
            while let Some((_, _, batch)) = source.next_batch().unwrap_or_else(|e| panic!("{e}")) {
                rows += batch.num_rows();
            }
            assert_eq!(rows as i64, EVENTS);
            black_box(rows)
        })
    });
    group.bench_function("kappa replay through the plan, from the Delta table", |b| {
        b.iter(|| {
            let data = dir.join(".featc-delta");
            let (mut runner, _) = KappaRunner::open(delta_ir.clone(), &dir, &data).unwrap_or_else(|e| panic!("{e}"));
            let report = runner.catch_up(|_| {}).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(report.events as i64, EVENTS);
            black_box(report.accepted)
        })
    });
    group.bench_function("kappa replay through the plan, from the embedded log", |b| {
        b.iter(|| {
            let data = dir.join(".featc-log");
            let (mut runner, _) = KappaRunner::open(log_ir.clone(), &dir, &data).unwrap_or_else(|e| panic!("{e}"));
            let report = runner.catch_up(|_| {}).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(report.events as i64, EVENTS);
            black_box(report.accepted)
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
