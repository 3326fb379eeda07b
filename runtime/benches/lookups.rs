//! Lookups of sliding windows over non-retractable aggregates (`max`, `last`, HyperLogLog) with
//! 1,440 panes per window, all filled: the two-stacks aggregator the plan names against merging
//! every pane at each lookup (the `merge_panes` eviction, what the row path did before), in the
//! same run; and the ingest cost of each.
//! Run: `cargo bench -p featc-runtime --bench lookups`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use featc::ir::{Eviction, FeatureIr, Layout};
use featc_runtime::operators::group::GroupRuntime;
use featc_runtime::value::Value;

const KEYS: i64 = 200;
/// One event per key per minute for a day: every pane of `sliding(1d, every: 1m)` filled.
const MINUTES: i64 = 1_440;
const BASE: i64 = 1_700_006_400_000;

fn ir(eviction: Eviction) -> FeatureIr {
    let text = "source s {\n    event_time ts\n    files \"s.parquet\"\n    schema { k: i64, x: f64, c: string, ts: timestamp }\n}\n\nentity e { key k: i64 }\n\nfeatures g(e) from s {\n    high = max(x) over sliding(1d, every: 1m)\n    latest = last(c) over sliding(1d, every: 1m)\n    seen = approx_count_distinct(c) over sliding(1d, every: 1m)\n}\n";
    let mut sources = featc::SourceMap::new();
    sources.add("bench.feat", text);
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let mut ir = featc::ir::lower(&checked.project).unwrap();
    let g = &mut ir.groups[0];
    g.layout = Layout::Rows;
    g.aggregates.iter_mut().for_each(|a| a.eviction = eviction);
    ir
}

/// Events in time order: every key once a minute, cent amounts, a few hundred strings.
fn rows() -> Vec<Vec<Value>> {
    let mut out = Vec::with_capacity((KEYS * MINUTES) as usize);
    for minute in 0..MINUTES {
        for k in 0..KEYS {
            let x = ((k * 7919 + minute * 104_729) % 100_000) as f64 / 100.0;
            let c: Arc<str> = Arc::from(format!("m{}", (k * 31 + minute * 17) % 300).as_str());
            // Columns in the group's order: k, ts, x, c.
            out.push(vec![Value::I64(k), Value::Ts(BASE + minute * 60_000 + k), Value::F64(x), Value::Str(c)]);
        }
    }
    out
}

fn filled(ir: &FeatureIr, rows: &[Vec<Value>]) -> GroupRuntime {
    let mut g = GroupRuntime::new(ir, &ir.groups[0]).unwrap();
    assert_eq!(g.columns, ["k", "ts", "x", "c"]);
    rows.iter().for_each(|r| g.process(r.clone()));
    g
}

fn bench(c: &mut Criterion) {
    let rows = rows();
    let now = BASE + MINUTES * 60_000;
    let mut group = c.benchmark_group("sliding 1d every 1m, 1440 panes, max + last + hll");
    group.sample_size(20);
    for (name, eviction) in [("two_stacks", Eviction::TwoStacks), ("merge_panes", Eviction::MergePanes)] {
        let ir = ir(eviction);
        let state = filled(&ir, &rows);
        group.bench_function(format!("lookup/{name}"), |b| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % KEYS;
                black_box(state.lookup(&[Value::I64(k)], now).unwrap())
            });
        });
        let day = &rows[..(KEYS * 120) as usize];
        group.bench_function(format!("ingest 2h of events/{name}"), |b| {
            b.iter_batched(
                || GroupRuntime::new(&ir, &ir.groups[0]).unwrap(),
                |mut g| {
                    day.iter().for_each(|r| g.process(r.clone()));
                    g
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
    // The two evictions agree on every key.
    let (a, b) = (filled(&ir(Eviction::TwoStacks), &rows), filled(&ir(Eviction::MergePanes), &rows));
    for k in 0..KEYS {
        assert_eq!(a.lookup(&[Value::I64(k)], now).unwrap(), b.lookup(&[Value::I64(k)], now).unwrap());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
