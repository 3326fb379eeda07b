//! Bytes of state per key at 1M keys, for groups of simple aggregates on the columnar path,
//! measured twice: the process's resident growth while the group takes its events, and the
//! state's own count (the key table, the latest event time per key and every window's slots, as
//! allocated: capacity, not length). The baseline is a hashbrown map with foldhash of the same
//! keys to `(count, sum, min, max)`, the floor of any keyed state, measured the same way (its
//! resident growth). Each measurement runs in a fresh process (the bench runs itself with
//! `FEATC_STATE_PART`), so none reuses memory another freed. Amounts are cents, so float sums take the exact-sum spill path as real
//! amounts do; the allocator and huge-page setting are the binary's.
//! Run: `cargo bench -p featc-runtime --bench state`.

mod common;

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

/// The groups measured: a name and the features' text.
const GROUPS: [(&str, &str); 3] = [
    ("count, sum over tumbling(1h)", "    n = count() over tumbling(1h)\n    total = sum(x) over tumbling(1h)\n"),
    (
        "count, sum, avg, min, max over tumbling(1h)",
        "    n = count() over tumbling(1h)\n    total = sum(x) over tumbling(1h)\n    mean = avg(x) over tumbling(1h)\n    low = min(x) over tumbling(1h)\n    high = max(x) over tumbling(1h)\n",
    ),
    (
        "count, sum, avg, min, max over lifetime",
        "    n = count() over lifetime\n    total = sum(x) over lifetime\n    mean = avg(x) over lifetime\n    low = min(x) over lifetime\n    high = max(x) over lifetime\n",
    ),
];

/// Two events per key, cent amounts: most keys' sums are not exact in one f64 and spill (a
/// spilled sum lives beside the slots, see `columnar/spills.rs`).
fn batches() -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]));
    let cents = |i: i64| ((i.wrapping_mul(0x9e37_79b9) >> 8).rem_euclid(40_000) + 1) as f64 / 100.0;
    (0..2 * KEYS)
        .step_by(8192)
        .map(|start| {
            let rows: Vec<i64> = (start..(start + 8192).min(2 * KEYS)).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|i| i % KEYS))),
                    Arc::new(Float64Array::from_iter_values(rows.iter().map(|&i| cents(i)))),
                    Arc::new(TimestampMillisecondArray::from_iter_values(rows.iter().map(|i| 1_700_000_000_000 + i))),
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

/// Bytes per key of one part, in this process: `baseline` (resident) or a group's index
/// (resident, and counted by the state).
fn measure(part: &str) -> (f64, Option<f64>) {
    let batches = batches();
    let per_key = |b: usize| b as f64 / KEYS as f64;
    let before = common::rss();
    if part == "baseline" {
        let mut map: hashbrown::HashMap<i64, (i64, f64, f64, f64), _> =
            hashbrown::HashMap::with_hasher(foldhash::fast::FixedState::with_seed(7));
        for b in &batches {
            let k = b.column(0).as_any().downcast_ref::<Int64Array>().map(|a| a.values());
            let x = b.column(1).as_any().downcast_ref::<Float64Array>().map(|a| a.values());
            let (Some(k), Some(x)) = (k, x) else { continue };
            for (k, x) in k.iter().zip(x.iter()) {
                let e = map.entry(*k).or_insert((0, 0.0, f64::MAX, f64::MIN));
                *e = (e.0 + 1, e.1 + x, e.2.min(*x), e.3.max(*x));
            }
        }
        let resident = common::rss().saturating_sub(before);
        assert_eq!(std::hint::black_box(&map).len(), KEYS as usize);
        return (per_key(resident), None);
    }
    let (name, features) = GROUPS[part.parse::<usize>().unwrap_or_else(|e| panic!("{e}"))];
    let ir = ir(features);
    let g = &ir.groups[0];
    let fields: Vec<_> =
        g.columns.iter().filter_map(|c| ir.sources[0].fields.iter().find(|f| &f.name == c).cloned()).collect();
    let mut runtime = GroupRuntime::new(&ir, g).unwrap_or_else(|e| panic!("{e}"));
    for b in &batches {
        runtime.process_batch(b, &fields);
    }
    let resident = common::rss().saturating_sub(before);
    let bytes = runtime.state_bytes().unwrap_or_else(|| panic!("{name}: not on the columnar path"));
    assert_eq!(runtime.key_count(), KEYS as usize);
    (per_key(resident), Some(per_key(bytes)))
}

fn main() {
    featc_runtime::process::without_huge_pages();
    if let Ok(part) = std::env::var("FEATC_STATE_PART") {
        let (resident, counted) = measure(&part);
        println!("{resident} {}", counted.unwrap_or(0.0));
        return;
    }
    let run = |part: &str| -> (f64, f64) {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
        let out =
            std::process::Command::new(exe).env("FEATC_STATE_PART", part).output().unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut nums = text.split_whitespace().map(|n| n.parse::<f64>().unwrap_or_else(|e| panic!("{e}: {text}")));
        (nums.next().unwrap_or(0.0), nums.next().unwrap_or(0.0))
    };
    let (baseline, _) = run("baseline");
    println!(
        "| group | bytes per key, resident | bytes per key, counted by the state | baseline: foldhash map of (count, sum, min, max), resident |"
    );
    println!("|---|---|---|---|");
    for (i, (name, _)) in GROUPS.iter().enumerate() {
        let (resident, counted) = run(&i.to_string());
        println!("| {name} | {resident:.1} | {counted:.1} | {baseline:.1} |");
    }
}
