//! Stream aggregation throughput of the window operators on decoded Arrow batches at 1M keys,
//! against a plain hash aggregation of the same events (the floor: one hash update per event,
//! no windows, with the hasher and table of the group's key tables: foldhash in hashbrown) and
//! against the row path. Amounts are cents (`123.45`), so float sums take the exact-sum spill
//! path as real amounts do.
//! Sliding windows of a day with 1 to 1,440 hops run at 10K keys with every pane filled, their
//! ingest and their lookups timed apart.
//! Run: `cargo bench -p featc-runtime --bench windows`.

mod common;

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use featc::ir::IrField;
use featc_runtime::operators::group::{GroupRuntime, Path};
use featc_runtime::value::Value;

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
    batches_of(EVENTS as u64, |i| event(day, i, skewed))
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

/// Keys of the sliding runs: each holds a full day of panes (one event per key per minute), so
/// 1,440 panes per key; at 1M keys that would be 1.44G panes, more than this machine holds.
const SLIDING_KEYS: u64 = 10_000;
/// Events of the timed part of the sliding runs: 200 minutes after the full day, unless
/// `FEATC_SLIDING_EVENTS` says otherwise (14,400,000: a second full day).
fn sliding_events() -> u64 {
    std::env::var("FEATC_SLIDING_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000)
}
/// Lookups timed after them.
const LOOKUPS: usize = 1_000;

/// The batches of `events` events `(k, x, ts)` given by `event(i)`.
fn batches_of(events: u64, event: impl Fn(u64) -> (i64, i64, f64)) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]));
    (0..events)
        .step_by(BATCH)
        .map(|start| {
            let evs: Vec<(i64, i64, f64)> = (start..(start + BATCH as u64).min(events)).map(&event).collect();
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

/// Sliding windows of one day with 1, 60 and 1,440 hops, every pane filled, lookups timed.
///
/// Before timing, a full day: every key has one event each minute (cent amounts), so each key
/// holds every pane of its window. Timed: the next 200 minutes at the same rate (keys drawn
/// uniformly or skewed among the 10K); then, apart, 1,000 lookups of the last batch's keys at
/// its last time (a lookup reads every pane of an aggregate without a running total).
fn sliding(c: &mut Criterion) {
    const DAY: i64 = 86_400_000;
    let start = 1_700_000_000_000_i64;
    let per_minute = SLIDING_KEYS as i64;
    let cents = |h: u64| ((h >> 24) % 40_000 + 1) as f64 / 100.0;
    let day = batches_of(SLIDING_KEYS * 1_440, |i| {
        let (minute, k) = ((i / SLIDING_KEYS) as i64, (i % SLIDING_KEYS) as i64);
        let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (k, start + minute * 60_000 + k * 60_000 / per_minute, cents(h))
    });
    let sliding_events = sliding_events();
    for skewed in [false, true] {
        let after = batches_of(sliding_events, |i| {
            let h = (i ^ 1 << 40).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let k = if skewed {
                ((SLIDING_KEYS as f64).powf((h >> 11) as f64 / (1u64 << 53) as f64) as u64 - 1).min(SLIDING_KEYS - 1)
            } else {
                h % SLIDING_KEYS
            };
            (k as i64, start + DAY + i as i64 * 60_000 / per_minute, cents(h))
        });
        let mut group = c.benchmark_group(if skewed {
            "sliding_1d_full_10K_keys_skewed"
        } else {
            "sliding_1d_full_10K_keys_uniform"
        });
        group.sample_size(10);
        for (name, window) in [
            ("1 hop", "sliding(1d, every: 1d)"),
            ("60 hops", "sliding(1d, every: 24m)"),
            ("1440 hops", "sliding(1d, every: 1m)"),
        ] {
            let ir = ir(window);
            let fields = fields(&ir);
            let mut full = GroupRuntime::new(&ir, &ir.groups[0]).unwrap_or_else(|e| panic!("{e}"));
            full.set_shards(1);
            assert!(full.is_columnar());
            for batch in &day {
                full.process_batch(batch, &fields);
            }
            group.throughput(Throughput::Elements(sliding_events));
            group.bench_function(format!("{name}: ingest"), |b| {
                b.iter_batched_ref(
                    || full.clone(),
                    |runtime| {
                        for batch in &after {
                            runtime.process_batch(batch, &fields);
                        }
                        assert_eq!(runtime.counters().0, SLIDING_KEYS * 1_440 + sliding_events);
                        black_box(runtime.counters())
                    },
                    BatchSize::PerIteration,
                )
            });
            // Lookups after the timed events, of the last batch's first keys at its last time.
            let mut done = full;
            after.iter().for_each(|batch| done.process_batch(batch, &fields));
            let last = after.last().unwrap_or_else(|| panic!("no events"));
            let keys = last.column(0).as_any().downcast_ref::<Int64Array>().map(|a| a.values().to_vec());
            let ts = last.column(2).as_any().downcast_ref::<TimestampMillisecondArray>().map(|a| a.value(a.len() - 1));
            let (Some(keys), Some(now)) = (keys, ts) else { panic!("bench batch columns") };
            let keys: Vec<[Value; 1]> = keys.iter().take(LOOKUPS).map(|&k| [Value::I64(k)]).collect();
            group.throughput(Throughput::Elements(LOOKUPS as u64));
            group.bench_function(format!("{name}: {LOOKUPS} lookups"), |b| {
                b.iter(|| {
                    let mut found = 0;
                    for key in &keys {
                        if let Ok(Some(v)) = done.lookup(key, now) {
                            found += v.len();
                        }
                    }
                    assert_eq!(found, LOOKUPS * 5);
                    black_box(found)
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench, sliding);
criterion_main!(benches);
