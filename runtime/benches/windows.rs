//! Stream aggregation throughput of the window operators on decoded rows, against a plain hash
//! aggregation of the same events (the floor: one hash update per event, no windows).
//! Run: `cargo bench -p featc-runtime --bench windows`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use featc_runtime::group::GroupRuntime;
use featc_runtime::value::Value;

const KEYS: u64 = 1_000_000;
const EVENTS: usize = 2_000_000;

fn ir(window: &str) -> featc::ir::FeatureIr {
    let text = format!(
        "source s {{\n    event_time ts\n    files \"s.parquet\"\n    schema {{ k: i64, x: f64, ts: timestamp }}\n}}\n\nentity e {{ key k: i64 }}\n\nfeatures g(e) from s {{\n    n = count() over {window}\n    total = sum(x) over {window}\n    mean = avg(x) over {window}\n    low = min(x) over {window}\n    high = max(x) over {window}\n}}\n"
    );
    let mut sources = featc::SourceMap::new();
    sources.add("bench.feat", text);
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    featc::ir::lower(&checked.project)
}

/// Events in time order over a day, keys spread with a multiplicative hash; rows in the
/// group's column order (k, ts, x).
fn rows(columns: &[String]) -> Vec<Vec<Value>> {
    (0..EVENTS as u64)
        .map(|i| {
            let k = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % KEYS;
            let ts = 1_700_000_000_000 + (i as i64) * 86_400_000 / EVENTS as i64;
            let x = (i % 1000) as f64 * 0.25;
            columns
                .iter()
                .map(|c| match c.as_str() {
                    "k" => Value::I64(k as i64),
                    "ts" => Value::Ts(ts),
                    _ => Value::F64(x),
                })
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream_aggregation_1M_keys");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVENTS as u64));
    let probe = ir("lifetime");
    let events = rows(&probe.groups[0].columns);
    group.bench_function("baseline: hash count+sum+min+max, no windows", |b| {
        b.iter(|| {
            let mut state: HashMap<i64, (i64, f64, f64, f64)> = HashMap::with_capacity(KEYS as usize);
            for row in &events {
                let (Value::I64(k), Value::F64(x)) = (&row[0], &row[2]) else { continue };
                let e = state.entry(*k).or_insert((0, 0.0, f64::MAX, f64::MIN));
                e.0 += 1;
                e.1 += x;
                e.2 = e.2.min(*x);
                e.3 = e.3.max(*x);
            }
            black_box(state.len())
        })
    });
    for (name, window) in [
        ("tumbling(1h)", "tumbling(1h)"),
        ("sliding, 1 hop per window", "sliding(1h, every: 1h)"),
        ("sliding, 60 hops per window", "sliding(1h, every: 1m)"),
        ("sliding, 1440 hops per window", "sliding(1d, every: 1m)"),
    ] {
        let ir = ir(window);
        let g = &ir.groups[0];
        let events: Vec<Vec<Value>> = events.clone();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut runtime = GroupRuntime::new(&ir, g).unwrap_or_else(|e| panic!("{e}"));
                for row in &events {
                    runtime.process(row.clone());
                }
                black_box(runtime.counters())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
