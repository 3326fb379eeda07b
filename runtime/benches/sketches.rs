//! The sketches: HyperLogLog (`approx_count_distinct`) and DDSketch (`approx_percentile`)
//! updates and merges, against the exact aggregates they stand in for (featc's own value counts
//! for `count_distinct`, a sorted copy for a percentile). Amounts are cents.
//! Run: `cargo bench -p featc-runtime --bench sketches`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use featc_runtime::operators::aggregate::{Hll, Quantiles, ValueCounts, value_hash};
use featc_runtime::value::Value;

const VALUES: u64 = 1_000_000;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("sketches_1M_values");
    group.sample_size(10);
    group.throughput(Throughput::Elements(VALUES));
    // 100K distinct values, each seen about 10 times.
    let values: Vec<u64> = (0..VALUES).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 100_000).collect();
    // The hash production takes: `value_hash` (XXH64, Spark's `xxhash64`) of an integer value.
    let hashes: Vec<u64> = values.iter().map(|v| value_hash(&Value::I64(*v as i64))).collect();
    group.bench_function("baseline: exact count_distinct (featc's value counts)", |b| {
        b.iter(|| {
            let mut counts = ValueCounts::default();
            values.iter().for_each(|v| counts.add(&Value::I64(*v as i64), 1));
            black_box(counts.len())
        })
    });
    group.bench_function("approx_count_distinct: HLL insert (hash given)", |b| {
        b.iter(|| {
            let mut h = Hll::default();
            hashes.iter().for_each(|x| h.insert_hash(*x));
            black_box(h.estimate())
        })
    });
    group.bench_function("approx_count_distinct: hash + HLL insert", |b| {
        b.iter(|| {
            let mut h = Hll::default();
            values.iter().for_each(|v| h.insert_hash(value_hash(&Value::I64(*v as i64))));
            black_box(h.estimate())
        })
    });
    let amounts: Vec<f64> =
        (0..VALUES).map(|i| ((i.wrapping_mul(2_654_435_761) % 40_000) + 1) as f64 / 100.0).collect();
    group.bench_function("baseline: exact percentile (sort a copy)", |b| {
        b.iter(|| {
            let mut sorted = amounts.clone();
            sorted.sort_by(f64::total_cmp);
            black_box(sorted[(sorted.len() - 1) * 95 / 100])
        })
    });
    group.bench_function("approx_percentile: DDSketch insert", |b| {
        b.iter(|| {
            let mut q = Quantiles::default();
            amounts.iter().for_each(|x| q.insert(*x));
            black_box(q.quantile(0.95))
        })
    });
    group.finish();

    // Merges: 1,000 partials (panes) of 1,000 values each folded into one.
    let mut merges = c.benchmark_group("sketch_merges_1000_partials");
    merges.sample_size(10);
    merges.throughput(Throughput::Elements(1000));
    let hlls: Vec<Hll> = hashes
        .chunks(1000)
        .map(|c| {
            let mut h = Hll::default();
            c.iter().for_each(|x| h.insert_hash(*x));
            h
        })
        .collect();
    let sketches: Vec<Quantiles> = amounts
        .chunks(1000)
        .map(|c| {
            let mut q = Quantiles::default();
            c.iter().for_each(|x| q.insert(*x));
            q
        })
        .collect();
    merges.bench_function("HLL merge", |b| {
        b.iter(|| {
            let mut acc = Hll::default();
            hlls.iter().for_each(|h| acc.merge(h));
            black_box(acc.estimate())
        })
    });
    merges.bench_function("DDSketch merge", |b| {
        b.iter(|| {
            let mut acc = Quantiles::default();
            sketches.iter().for_each(|q| acc.merge(q));
            black_box(acc.quantile(0.95))
        })
    });
    merges.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
