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
//! `FEATC_BENCH_KEYS`, default 1M; `FEATC_BENCH_RUNS=1` for the columnar 1-shard run only).

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

/// The checkpoints of the first run: a base of every key before its last 1% of events, in the
/// compact binary format and, from the same exported state, as the JSON snapshot the Kappa
/// runner wrote before (`featc.snapshot/v3`: one JSON document, written durably the same way);
/// then the delta of the keys those events changed.
struct Checkpoints {
    dir: std::path::PathBuf,
    /// The base's generation and mark.
    base: Option<(u64, featc_runtime::operators::group::ChangeMark)>,
}

impl Checkpoints {
    fn new() -> Checkpoints {
        let dir = std::env::temp_dir().join(format!("featc-fraud-bench-{}", std::process::id()));
        Checkpoints { dir, base: None }
    }

    /// The base (binary, then JSON), each timed apart from the export of the state they share.
    fn base(&mut self, group: &GroupRuntime, g: &featc::ir::IrGroup) {
        let keys = group.key_count().max(1) as f64;
        let start = Instant::now();
        let mark = group.change_mark();
        let state = group.snapshot();
        let export = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let json = serde_json::to_vec(&state).unwrap_or_else(|e| panic!("{e}"));
        let mut file = format!("featc.snapshot/v3 {:08x}\n", crc32fast::hash(&json)).into_bytes();
        file.extend(json);
        featc_runtime::io::durable::write_file(&self.dir.join("v3.snapshot.json"), &file)
            .unwrap_or_else(|e| panic!("{e}"));
        let json_secs = start.elapsed().as_secs_f64();
        let json_bytes = file.len();
        drop(file);

        let start = Instant::now();
        let (_, bytes) = featc_runtime::store::snapshot::write(&self.dir, &g.name, &g.version, Vec::new(), state)
            .unwrap_or_else(|e| panic!("{e}"));
        let secs = start.elapsed().as_secs_f64();

        // The way a run writes its base: from the state in place, a chunk of keys at a time.
        let start = Instant::now();
        let (generation, streamed) =
            featc_runtime::store::snapshot::write_group(&self.dir, &g.name, &g.version, Vec::new(), group)
                .unwrap_or_else(|e| panic!("{e}"));
        let streamed_secs = start.elapsed().as_secs_f64();
        assert_eq!(streamed, bytes, "the same base either way");
        self.base = Some((generation, mark));
        println!("| the state of every key exported (shared by both formats below) | {export:.2} s | | |");
        println!(
            "| baseline checkpoint: the JSON snapshot (v3) of every key, {:.0} bytes/key | {json_secs:.2} s | | 1.00 |",
            json_bytes as f64 / keys
        );
        println!(
            "| checkpoint base (v4, postcard) of every key, {:.0} bytes/key | {secs:.2} s | | {:.2} |",
            bytes as f64 / keys,
            json_secs / secs
        );
        println!(
            "| checkpoint base (v4) encoded from the state in place on every core, as `featc run` writes it (export included; the JSON baseline with its export: {:.2} s) | {streamed_secs:.2} s | | {:.2} |",
            export + json_secs,
            (export + json_secs) / streamed_secs
        );
    }

    /// After the run: the delta of the keys its last events changed (export included).
    fn delta(&self, group: &GroupRuntime, g: &featc::ir::IrGroup, tail_events: usize) {
        let Some((generation, mark)) = self.base else { return };
        // Counted before the clock starts: the delta finds them once, in `snapshot_since`.
        let changed_keys = group.changed_since(Some(mark)).len();
        let start = Instant::now();
        let (changed, _) = group.snapshot_since(mark);
        let bytes = featc_runtime::store::snapshot::write_delta(
            &self.dir,
            &g.name,
            &g.version,
            (generation, 1),
            Vec::new(),
            changed,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let secs = start.elapsed().as_secs_f64();
        println!(
            "| checkpoint delta (v4) after the last {tail_events} events: {changed_keys} keys changed, {:.1} MB (export included) | {secs:.2} s | | |",
            bytes as f64 / 1e6,
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn main() {
    featc_runtime::process::without_huge_pages();
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
    // The first run also pays for touching fresh memory, so the columnar path runs once more
    // last, after the row path, for a comparison on equal terms.
    // `FEATC_BENCH_RUNS=1` runs the first only (for a profile).
    let runs = env("FEATC_BENCH_RUNS", 4);
    let mut rows_secs = None;
    for (run, (path, shards)) in
        [(Path::Auto, 1), (Path::Auto, 2), (Path::Rows, 1), (Path::Auto, 1)].into_iter().take(runs).enumerate()
    {
        let before = common::rss();
        let mut group = GroupRuntime::on_path(&ir, g, path).unwrap_or_else(|e| panic!("{e}"));
        group.set_shards(shards);
        // The first run checkpoints before its last 1% of events (time not counted), and
        // writes the delta of what they changed after it.
        let mut checkpoints = Checkpoints::new();
        let tail = if one.is_none() { batches.len() / 100 } else { 0 };
        let mut secs = 0.0;
        // The resident size of the state, taken before the checkpoint: what a checkpoint
        // allocates and frees stays in the process's resident size and would be counted too.
        let mut resident = None;
        for (i, b) in batches.iter().enumerate() {
            if tail > 0 && i == batches.len() - tail {
                resident = Some((common::rss().saturating_sub(before), group.key_count().max(1)));
                checkpoints.base(&group, g);
            }
            let start = Instant::now();
            group.process_batch(b, &fields);
            secs += start.elapsed().as_secs_f64();
        }
        let keys = group.key_count().max(1) as f64;
        let mut per_key = match resident {
            Some((bytes, at)) => format!(", {:.0} bytes/key resident (at 99% of the events)", bytes as f64 / at as f64),
            None => String::new(),
        };
        if let Some(bytes) = group.state_bytes() {
            per_key.push_str(&format!(", {:.0} bytes/key counted by the state", bytes as f64 / keys));
        }
        let (accepted, dead) = group.counters();
        let name = if group.is_columnar() { "columnar" } else { "row" };
        println!(
            "| run {}: fraud group, {name} path, {shards} shard(s): {} keys, {accepted} counted, {dead} dead letters{per_key} | {secs:.2} s | {:.2}M | {:.3} |",
            run + 1,
            group.key_count(),
            n as f64 / secs / 1e6,
            base / secs,
        );
        if run == 0 {
            // Where the memory per key goes, as the state counts it.
            for (part, bytes) in group.state_bytes_by_part() {
                println!("| state of run 1 by part: {part} | | {:.0} bytes/key | |", bytes as f64 / keys);
            }
        }
        if tail > 0 {
            checkpoints.delta(&group, g, batches[batches.len() - tail..].iter().map(RecordBatch::num_rows).sum());
        }
        match &one {
            None => one = Some((secs, group.counters(), group.key_count())),
            Some((secs1, counters, keys)) => {
                assert_eq!((group.counters(), group.key_count()), (*counters, *keys), "every run counts the same");
                match (path, rows_secs) {
                    (Path::Rows, _) => rows_secs = Some(secs),
                    (Path::Auto, Some(rows)) => {
                        println!(
                            "| columnar path (1 shard, run {}) over the row path | | | {:.2} x |",
                            run + 1,
                            rows / secs
                        )
                    }
                    (Path::Auto, None) => {
                        println!("| speed-up of {shards} shards over one | | | {:.2} x |", secs1 / secs)
                    }
                }
            }
        }
        drop(group);
    }

    // A replay's way (`featc run` reading a log's backlog): the batches handed over a million
    // events at a time, each shard regrouping its keys' rows by key (each key's in arrival
    // order: the same state as batch after batch, `runtime/tests/it/shards.rs`).
    let Some((_, counters, keys)) = one else { return };
    let per = usize::try_from(featc_runtime::runners::kappa::BACKLOG).unwrap_or(usize::MAX).div_ceil(8192);
    let mut backlog_one = None;
    for shards in [1, 2] {
        let mut group = GroupRuntime::new(&ir, g).unwrap_or_else(|e| panic!("{e}"));
        group.set_shards(shards);
        let start = Instant::now();
        for part in batches.chunks(per) {
            group.process_backlog(part, &fields).unwrap_or_else(|e| panic!("{e}"));
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!((group.counters(), group.key_count()), (counters, keys), "the backlog counts the same");
        println!(
            "| fraud group read as a replay's backlog (a million events at a time, regrouped by key), columnar path, {shards} shard(s) | {secs:.2} s | {:.2}M ({:.2}M per core) | {:.3} |",
            n as f64 / secs / 1e6,
            n as f64 / secs / 1e6 / shards as f64,
            base / secs,
        );
        match backlog_one {
            None => backlog_one = Some(secs),
            Some(secs1) => {
                println!("| speed-up of {shards} shards over one, as a backlog | | | {:.2} x |", secs1 / secs)
            }
        }
        drop(group);
    }
}
