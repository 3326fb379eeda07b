//! Stream aggregation throughput of the window operators on decoded Arrow batches at 1M keys,
//! against a plain hash aggregation of the same events (the floor: one hash update per event,
//! no windows, with the hasher and table of the group's key tables: foldhash in hashbrown) and
//! against the row path. Amounts are cents (`123.45`), so float sums take the exact-sum spill
//! path as real amounts do.
//! Run: `cargo bench -p featc-runtime --bench windows`.

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use featc::ir::IrField;
use featc_runtime::operators::group::{GroupRuntime, Path};

const KEYS: u64 = 1_000_000;
const EVENTS: usize = 2_000_000;
const BATCH: usize = 8192;

fn ir(window: &str) -> featc::ir::FeatureIr {
    let text = format!(
        "source s {{\n    event_time ts\n    files \"s.parquet\"\n    schema {{ k: i64, x: f64, ts: timestamp }}\n}}\n\nentity e {{ key k: i64 }}\n\nfeatures g(e) from s {{\n    n = count() over {window}\n    total = sum(x) over {window}\n    mean = avg(x) over {window}\n    low = min(x) over {window}\n    high = max(x) over {window}\n}}\n"
    );
    let mut sources = featc::SourceMap::new();
    sources.add("bench.feat", text);
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    featc::ir::lower(&checked.project).unwrap()
}

/// The event `i` of day `day`: in time order over the day, keys spread uniformly with a
/// multiplicative hash, or skewed (`k = KEYS^u` for a uniform `u`: a few keys take most events,
/// as users' activity does).
fn event(day: i64, i: u64, skewed: bool) -> (i64, i64, f64) {
    let h = (i ^ (day as u64) << 40).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let k = if skewed {
        ((KEYS as f64).powf((h >> 11) as f64 / (1u64 << 53) as f64) as u64 - 1).min(KEYS - 1)
    } else {
        h % KEYS
    };
    let ts = 1_700_000_000_000 + day * 86_400_000 + (i as i64) * 86_400_000 / EVENTS as i64;
    // Cents from 0.01 to 400.00: most are not exact in binary, as real amounts are not.
    (k as i64, ts, ((h >> 24) % 40_000 + 1) as f64 / 100.0)
}

/// One day of events, in batches.
fn batches(day: i64, skewed: bool) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]));
    (0..EVENTS as u64)
        .step_by(BATCH)
        .map(|start| {
            let evs: Vec<(i64, i64, f64)> =
                (start..(start + BATCH as u64).min(EVENTS as u64)).map(|i| event(day, i, skewed)).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(evs.iter().map(|e| e.0))),
                    Arc::new(Float64Array::from_iter_values(evs.iter().map(|e| e.2))),
                    Arc::new(TimestampMillisecondArray::from_iter_values(evs.iter().map(|e| e.1))),
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

fn fields(ir: &featc::ir::FeatureIr) -> Vec<IrField> {
    let g = &ir.groups[0];
    g.columns.iter().filter_map(|c| ir.sources[0].fields.iter().find(|f| &f.name == c).cloned()).collect()
}

/// The state after a first day in which every key had an event: the stream at 1M keys.
fn warm(ir: &featc::ir::FeatureIr, path: Path, fields: &[IrField], shards: usize) -> GroupRuntime {
    let mut runtime = GroupRuntime::on_path(ir, &ir.groups[0], path).unwrap_or_else(|e| panic!("{e}"));
    runtime.set_shards(shards);
    let schema = batches(0, false)[0].schema();
    for start in (0..KEYS as i64).step_by(BATCH) {
        let keys: Vec<i64> = (start..(start + BATCH as i64).min(KEYS as i64)).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(keys.iter().copied())),
                Arc::new(Float64Array::from_iter_values(keys.iter().map(|k| (k % 7) as f64))),
                Arc::new(TimestampMillisecondArray::from_iter_values(keys.iter().map(|_| 1_700_000_000_000))),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        runtime.process_batch(&batch, fields);
    }
    runtime
}

fn bench(c: &mut Criterion) {
    for skewed in [false, true] {
        let mut group = c.benchmark_group(if skewed {
            "stream_aggregation_1M_keys_skewed"
        } else {
            "stream_aggregation_1M_keys_uniform"
        });
        group.sample_size(10);
        group.throughput(Throughput::Elements(EVENTS as u64));
        let batches = batches(1, skewed);
        let hasher = foldhash::fast::FixedState::with_seed(7);
        let mut base: hashbrown::HashMap<i64, (i64, f64, f64, f64), _> =
            hashbrown::HashMap::with_capacity_and_hasher(KEYS as usize, hasher);
        (0..KEYS as i64).for_each(|k| {
            base.insert(k, (1, 0.0, 0.0, 0.0));
        });
        group.bench_function("baseline: foldhash HashMap count+sum+min+max, no windows", |b| {
            b.iter_batched_ref(
                || base.clone(),
                |state| {
                    for batch in &batches {
                        let k = batch.column(0).as_any().downcast_ref::<Int64Array>().map(|a| a.values());
                        let x = batch.column(1).as_any().downcast_ref::<Float64Array>().map(|a| a.values());
                        let (Some(k), Some(x)) = (k, x) else { continue };
                        for (k, x) in k.iter().zip(x.iter()) {
                            let e = state.entry(*k).or_insert((0, 0.0, f64::MAX, f64::MIN));
                            e.0 += 1;
                            e.1 += x;
                            e.2 = e.2.min(*x);
                            e.3 = e.3.max(*x);
                        }
                    }
                    black_box(state.len())
                },
                BatchSize::PerIteration,
            )
        });
        // One shard (one core) unless named: the per-core figures.
        let mut runs: Vec<(&str, &str, Path, usize)> = vec![
            ("tumbling(1h)", "tumbling(1h)", Path::Auto, 1),
            ("tumbling(1h), 2 shards", "tumbling(1h)", Path::Auto, 2),
            ("sliding, 1 hop per window", "sliding(1h, every: 1h)", Path::Auto, 1),
            ("sliding, 60 hops per window", "sliding(1h, every: 1m)", Path::Auto, 1),
            ("sliding, 1440 hops per window", "sliding(1d, every: 1m)", Path::Auto, 1),
        ];
        if !skewed {
            runs.insert(0, ("row path: tumbling(1h)", "tumbling(1h)", Path::Rows, 1));
        }
        for (name, window, path, shards) in runs {
            let ir = ir(window);
            let fields = fields(&ir);
            let warm = warm(&ir, path, &fields, shards);
            group.bench_function(name, |b| {
                b.iter_batched_ref(
                    || warm.clone(),
                    |runtime| {
                        for batch in &batches {
                            runtime.process_batch(batch, &fields);
                        }
                        black_box(runtime.counters())
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
