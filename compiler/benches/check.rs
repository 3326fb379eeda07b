//! `featc check` of a generated 1,000-feature project (10 files, 50 groups of 20 features),
//! against parsing alone as the baseline. Run: `cargo bench -p featc-compiler --bench check`.

use criterion::{Criterion, criterion_group, criterion_main};
use featc::{Options, SourceMap, check_project, parse_project};
use std::hint::black_box;

const FILES: usize = 10;
const GROUPS_PER_FILE: usize = 5;
const FEATURES_PER_GROUP: usize = 20;

/// One file: a source, an entity, five groups of 16 aggregates and 4 derived features, and a
/// lambda block per group.
fn file(f: usize) -> String {
    let mut out = format!(
        "source events_{f} {{\n    event_time ts\n    lateness   5m\n    files      \"data/events_{f}.parquet\"\n    topic      \"events_{f}\"\n    schema {{\n        user_id: string,\n        merchant: string,\n        kind: string,\n        amount: f64,\n        qty: i64,\n        flag: bool?,\n        ts: timestamp,\n    }}\n}}\n\nentity user_{f} {{ key user_id: string }}\n"
    );
    let aggregates = [
        "count()",
        "sum(amount)",
        "avg(amount * qty)",
        "min(amount)",
        "max(amount)",
        "stddev(amount)",
        "variance(qty)",
        "last(merchant)",
        "first_n(kind, 3)",
        "last_n(merchant, 5)",
        "approx_count_distinct(merchant)",
        "approx_percentile(amount, 0.95)",
        "count() where kind in (\"a\", \"b\") and coalesce(flag, false)",
        "sum(if amount > 100.0 then 1 else 0)",
        "count_distinct(kind)",
        "top_k(merchant, 3)",
    ];
    let windows = ["lifetime", "sliding(1h, every: 5m)", "tumbling(1d)", "sliding(30d, every: 1d)", "session(30m)"];
    for g in 0..GROUPS_PER_FILE {
        out.push_str(&format!("\nfeatures group_{f}_{g}(user_{f}) from events_{f} where amount >= 0.0 {{\n"));
        for (i, agg) in aggregates.iter().enumerate() {
            let window = if i >= 14 { windows[1] } else { windows[(i + g) % windows.len()] };
            out.push_str(&format!("    f{i} = {agg} over {window}\n"));
        }
        for d in 0..FEATURES_PER_GROUP - aggregates.len() {
            out.push_str(&format!("    d{d} = f0 / (f1 + {d}.5) * coalesce(f2, 0.0)\n"));
        }
        out.push_str("}\n");
        out.push_str(&format!("\nlambda group_{f}_{g} {{\n    batch every 1d\n    merge f0 = batch + speed\n    merge f14, f15 = speed\n}}\n"));
    }
    out
}

fn project() -> SourceMap {
    let mut sources = SourceMap::new();
    for f in 0..FILES {
        sources.add(format!("features_{f}.feat"), file(f));
    }
    sources
}

fn bench(c: &mut Criterion) {
    let sources = project();
    // The project must be the real thing: clean, with every feature checked.
    let checked = check_project(&sources, &Options::default());
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics.first());
    let features: usize = checked.project.groups.iter().map(|g| g.features.len()).sum();
    assert_eq!(features, FILES * GROUPS_PER_FILE * FEATURES_PER_GROUP);

    let mut group = c.benchmark_group("check_1000_features");
    group.sample_size(30);
    group.bench_function("baseline: parse only", |b| b.iter(|| parse_project(black_box(&sources))));
    group.bench_function("check: parse + check + diagnostics", |b| {
        b.iter(|| check_project(black_box(&sources), &Options::default()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
