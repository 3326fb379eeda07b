//! Kappa replay of the embedded log through a plan, against a raw read of the same log (the
//! Arrow IPC segments decoded, nothing else). Honest inputs: cent amounts (the exact sums' spill
//! path), every 199th event two days late (behind its key's latest event by more than the
//! 1-minute lateness: a dead letter), and
//! the replay as `featc run --until-caught-up` does it: checkpoints every 30 s, then the dead
//! letters written and the final snapshot.
//! Run: `cargo bench -p featc-runtime --bench replay`.

mod common;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{AsArray, TimestampMillisecondArray};
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use featc_runtime::io::log::{EventSource, Log};
use featc_runtime::runners::kappa::KappaRunner;

const EVENTS: i64 = 2_000_000;
const KEYS: i64 = 100_000;

const SPEC: &str = "source s {
    event_time ts
    lateness 1m
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

fn ir() -> featc::ir::FeatureIr {
    let mut sources = featc::SourceMap::new();
    sources.add("replay.feat", SPEC);
    let checked = featc::check_project(&sources, &featc::Options { targets: vec![featc::ir::Target::Kappa] });
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    featc::ir::lower(&checked.project).unwrap()
}

/// Writes the events to the log of topic `s` under `data_dir/log`, a week in time order with a
/// little disorder, keys spread uniformly, cent amounts, every 199th event two days late.
fn write_log(data_dir: &Path) {
    let mut row = 0i64;
    let batches: Vec<RecordBatch> = common::week_of_events(EVENTS, KEYS, |i| ((i * 7_919) % 40_000 + 1) as f64 / 100.0)
        .into_iter()
        .map(|b| {
            let ts = b.column(2).as_primitive::<TimestampMillisecondType>();
            let late = TimestampMillisecondArray::from_iter_values(ts.values().iter().map(|&t| {
                row += 1;
                if row % 199 == 0 { t - 172_800_000 } else { t }
            }));
            let mut columns = b.columns().to_vec();
            columns[2] = Arc::new(late.with_timezone_opt(ts.timezone()));
            RecordBatch::try_new(b.schema(), columns).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let log = Log::open(&data_dir.join("log"), "s").unwrap_or_else(|e| panic!("{e}"));
    log.append(&batches).unwrap_or_else(|e| panic!("{e}"));
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("featc-replay-bench-{}", std::process::id()));
    let data_dir = dir.join(".featc");
    write_log(&data_dir);
    let ir = ir();
    let mut group = c.benchmark_group("replay_2M_events");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("baseline: raw read of the log", |b| {
        b.iter(|| {
            let log = Log::open(&data_dir.join("log"), "s").unwrap_or_else(|e| panic!("{e}"));
            let mut reader = log.reader(0);
            let mut rows = 0;
            while let Some((_, batch)) = reader.next_batch().unwrap_or_else(|e| panic!("{e}")) {
                rows += batch.num_rows();
            }
            assert_eq!(rows as i64, EVENTS);
            black_box(rows)
        })
    });
    let in_memory: Vec<RecordBatch> = {
        let log = Log::open(&data_dir.join("log"), "s").unwrap_or_else(|e| panic!("{e}"));
        let mut reader = log.reader(0);
        std::iter::from_fn(|| reader.next_batch().unwrap_or_else(|e| panic!("{e}")).map(|(_, b)| b)).collect()
    };
    let g = &ir.groups[0];
    let fields: Vec<_> =
        g.columns.iter().filter_map(|c| ir.sources[0].fields.iter().find(|f| &f.name == c).cloned()).collect();
    group.bench_function("operators alone on the same batches in memory", |b| {
        b.iter(|| {
            let mut runtime =
                featc_runtime::operators::group::GroupRuntime::new(&ir, g).unwrap_or_else(|e| panic!("{e}"));
            in_memory.iter().for_each(|batch| runtime.process_batch(batch, &fields));
            black_box(runtime.counters())
        })
    });
    group.bench_function("kappa replay through the plan (100K keys), dead letters and snapshot written", |b| {
        b.iter_batched(
            || {
                // Each replay from offset 0: no snapshot or dead letters of the one before.
                let _ = std::fs::remove_dir_all(data_dir.join("state"));
                let _ = std::fs::remove_dir_all(data_dir.join("dead_letters"));
            },
            |()| {
                let (mut runner, _) = KappaRunner::open(ir.clone(), &dir, &data_dir).unwrap_or_else(|e| panic!("{e}"));
                let every = std::time::Duration::from_secs(30);
                let (report, _) =
                    runner.catch_up_checkpointing(every, |_| {}, &mut |_| Ok(())).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(report.events as i64, EVENTS);
                assert!(report.dead_letters > 0, "the late events are dead letters: {report:?}");
                runner.write_dead_letters().unwrap_or_else(|e| panic!("{e}"));
                runner.snapshot().unwrap_or_else(|e| panic!("{e}"));
                black_box(report.accepted)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
