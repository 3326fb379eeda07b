//! The Lambda batch layer of the fraud example's group on its two engines, over the same
//! generated Parquet history (10M events by default; `FEATC_ENGINE_EVENTS` to change): featc's
//! operators over DataFusion, and the emitted Spark job run with `spark-submit` on `local[2]`
//! and installed by featc. Each engine also runs over 1,000 events, which measures what a run
//! costs whatever its size (Spark's start, featc's plan and view setup); the work is the
//! difference. One run each (a Spark run at 10M events takes minutes).
//! Needs Spark: `SPARK_HOME` naming pyspark's folder (scripts/test installs it).
//! Run: `cargo bench -p featc-runtime --bench engines`.

use std::path::Path;
use std::time::Instant;

use featc_runtime::runners::lambda::Engine;
use featc_runtime::runners::lambda::spark::SparkRun;

mod common;

const SPEC: &str = include_str!("../../examples/fraud/fraud.feat");
/// 2024-01-31T00:00:00Z: after every generated event (they span January 2024).
const CUTOFF: i64 = 1_706_659_200_000;

/// A project folder with the fraud spec and `events` generated events as its history.
fn project(dir: &Path, events: usize) {
    std::fs::create_dir_all(dir.join("data")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("fraud.feat"), SPEC).unwrap_or_else(|e| panic!("{e}"));
    common::write_fraud_history(&dir.join("data/transactions.parquet"), events, 2_000);
}

/// Seconds to compute the batch view, and its key count.
fn run(engine: &Engine, dir: &Path) -> (f64, usize) {
    let (sources, checked) = {
        let mut sources = featc::SourceMap::new();
        sources.add("fraud.feat", SPEC);
        let checked = featc::check_project(&sources, &featc::Options::default());
        (sources, checked)
    };
    assert!(!checked.has_errors(), "{}", featc::diagnostic::render::render(&checked.diagnostics, &sources, false));
    let ir = featc::ir::lower(&checked.project).unwrap_or_else(|e| panic!("{e:?}"));
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let view = engine.compute(&ir, dir, data.path(), CUTOFF, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let seconds = t.elapsed().as_secs_f64();
    (seconds, view.groups.iter().map(|g| g.key_count()).sum())
}

fn main() {
    featc_runtime::process::without_huge_pages();
    let events: usize = std::env::var("FEATC_ENGINE_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000_000);
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (small, large) = (tmp.path().join("small"), tmp.path().join("large"));
    project(&small, 1_000);
    project(&large, events);
    let mut spark = SparkRun::from_env();
    spark.master = "local[2]".to_owned();
    println!("batch layer, fraud group, {events} events; seconds (one run each)");
    println!("| engine | 1,000 events (fixed cost) | {events} events | work (difference) | events/s of work | keys |");
    println!("|---|---|---|---|---|---|");
    for (name, engine) in [("featc on DataFusion", Engine::DataFusion), ("Spark local[2]", Engine::Spark(spark))] {
        let (fixed, _) = run(&engine, &small);
        let (total, keys) = run(&engine, &large);
        let work = (total - fixed).max(f64::MIN_POSITIVE);
        println!("| {name} | {fixed:.2} | {total:.2} | {work:.2} | {:.2}M | {keys} |", events as f64 / work / 1e6);
    }
}
