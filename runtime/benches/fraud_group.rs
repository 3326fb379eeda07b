//! The fraud example's group (`examples/fraud/fraud.feat`: filters, distinct counts, sketches,
//! last_n, sliding windows) over many users and events, through the stream operators: the
//! columnar path on 1 and 2 shards, against two baselines in the same run: the row path (the
//! reference the columnar path is tested against, and what ran this group before) and one pass
//! over the same batches that hashes each event's user (the same hasher as the group's key
//! tables) and counts it.
//!
//! Honest inputs: cent amounts (the exact sums' spill path), skewed users with half the events
//! spread uniformly so that the population is all active, events out of order within the
//! lateness and 0.5% of them late beyond it (dead letters). Memory per key is measured from the
//! process's resident size, not computed.
//!
//! Run: `cargo bench -p featc-runtime --bench fraud_group` (`FEATC_BENCH_EVENTS`, default 10M;
//! `FEATC_BENCH_KEYS`, default 1M).

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray, TimestampMillisecondArray};
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use featc_runtime::operators::group::{GroupRuntime, Path};

mod common;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Resident memory of this process in bytes (Linux), for the per-key figure.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The events in arrival order, in batches of 8,192, with every 200th event moved 30 minutes
/// back (late: the source's lateness is 10 minutes).
fn events(n: usize, users: u64) -> Vec<RecordBatch> {
    let whole = featc_runtime::io::generate::fraud_for(n, 2026, users, 50).unwrap_or_else(|e| panic!("{e}"));
    let ts = whole.column_by_name("ts").unwrap().as_primitive::<TimestampMillisecondType>();
    let moved: TimestampMillisecondArray = (0..ts.len())
        .map(|r| Some(if r % 200 == 199 { ts.value(r) - 30 * 60_000 } else { ts.value(r) }))
        .collect::<TimestampMillisecondArray>()
        .with_timezone("UTC");
    let at = whole.schema().index_of("ts").unwrap();
    let mut columns = whole.columns().to_vec();
    columns[at] = Arc::new(moved);
    let whole = RecordBatch::try_new(whole.schema(), columns).unwrap_or_else(|e| panic!("{e}"));
    (0..n).step_by(8192).map(|s| whole.slice(s, 8192.min(n - s))).collect()
}

/// Writes the group's state as the Kappa runner's durable snapshot (JSON, fsynced, renamed into
/// place) and prints its time and size per key: the figure a compact incremental checkpoint is
/// to be measured against.
fn snapshot(group: &GroupRuntime, g: &featc::ir::IrGroup, keys: f64) {
    let dir = std::env::temp_dir().join(format!("featc-fraud-bench-{}", std::process::id()));
    let start = Instant::now();
    let state = group.snapshot();
    let taken = start.elapsed().as_secs_f64();
    featc_runtime::store::snapshot::write(&dir, &g.name, &g.version, Vec::new(), state)
        .unwrap_or_else(|e| panic!("{e}"));
    let secs = start.elapsed().as_secs_f64();
    let bytes: u64 =
        std::fs::read_dir(&dir).map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0);
    println!(
        "| JSON snapshot of the whole state (the Kappa runner's): {:.0} bytes/key on disk; state exported in {taken:.2} s | {secs:.2} s | | |",
        bytes as f64 / keys
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let n = env("FEATC_BENCH_EVENTS", 10_000_000);
    let users = env("FEATC_BENCH_KEYS", 1_000_000) as u64;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fraud");
    let ir = common::project_ir(&dir);
    let g = &ir.groups[0];
    let source = &ir.sources[g.source];
    let fields: Vec<_> =
        g.columns.iter().filter_map(|c| source.fields.iter().find(|f| &f.name == c).cloned()).collect();
    eprintln!("generating {n} events over {users} users");
    let batches = events(n, users);

    // Baseline: each event's user hashed into a map of counts (foldhash, as the key tables).
    let start = Instant::now();
    let hasher = foldhash::fast::FixedState::with_seed(7);
    let mut counts: hashbrown::HashMap<&str, u64, _> = hashbrown::HashMap::with_hasher(hasher);
    for b in &batches {
        let users = b.column_by_name("user_id").unwrap().as_string::<i32>();
        for r in 0..users.len() {
            *counts.entry(users.value(r)).or_default() += 1;
        }
    }
    let base = start.elapsed().as_secs_f64();
    let keys = counts.len();
    drop(counts);
    println!("| measurement | time | events/s | vs baseline |");
    println!("|---|---|---|---|");
    println!(
        "| baseline: hash each event's user into a map of counts ({keys} users) | {base:.2} s | {:.2}M | 1.00 |",
        n as f64 / base / 1e6
    );

    let mut one = None;
    // The columnar runs first: the resident size is measured on the first run only (memory a
    // run frees is not always given back); the state's own count of its bytes on every run.
    for (path, shards) in [(Path::Auto, 1), (Path::Auto, 2), (Path::Rows, 1)] {
        let before = rss();
        let mut group = GroupRuntime::on_path(&ir, g, path).unwrap_or_else(|e| panic!("{e}"));
        group.set_shards(shards);
        let start = Instant::now();
        for b in &batches {
            group.process_batch(b, &fields);
        }
        let secs = start.elapsed().as_secs_f64();
        // Measured on the first run only: memory freed by a run is not always given back.
        let keys = group.key_count().max(1) as f64;
        let mut per_key = match one {
            None => format!(", {:.0} bytes/key resident", rss().saturating_sub(before) as f64 / keys),
            Some(_) => String::new(),
        };
        if let Some(bytes) = group.state_bytes() {
            per_key.push_str(&format!(", {:.0} bytes/key counted by the state", bytes as f64 / keys));
        }
        let (accepted, dead) = group.counters();
        let name = if group.is_columnar() { "columnar" } else { "row" };
        println!(
            "| fraud group, {name} path, {shards} shard(s): {} keys, {accepted} counted, {dead} dead letters{per_key} | {secs:.2} s | {:.2}M | {:.3} |",
            group.key_count(),
            n as f64 / secs / 1e6,
            base / secs,
        );
        if one.is_none() {
            snapshot(&group, g, keys);
        }
        match &one {
            None => one = Some((secs, group.counters(), group.key_count())),
            Some((secs1, counters, keys)) => {
                assert_eq!((group.counters(), group.key_count()), (*counters, *keys), "every run counts the same");
                match path {
                    Path::Rows => println!("| columnar path (1 shard) over the row path | | | {:.2} x |", secs / secs1),
                    Path::Auto => println!("| speed-up of {shards} shards over one | | | {:.2} x |", secs1 / secs),
                }
            }
        }
        drop(group);
    }
}
