//! Backfill of the fraud example's feature group from generated Parquet (10M events by
//! default; `FEATC_BACKFILL_EVENTS` to change): the Lambda batch layer against the equivalent
//! hand-written DataFusion SQL and DuckDB SQL over the same file in the same run, and
//! training-set rows per second. The backfills are the median of three runs each; the training
//! set, one run. DuckDB runs in Python (`FEATC_DUCKDB_PYTHON`, a Python with the `duckdb`
//! package; default `/var/tmp/featc-tools/venv-bench/bin/python`), its time measured around
//! the query alone. Run: `cargo bench -p featc-runtime --bench backfill`.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use featc_runtime::runners::lambda::batch;

mod common;

const SPEC: &str = include_str!("../../examples/fraud/fraud.feat");
/// 2024-01-31T00:00:00Z: after every generated event (they span January 2024).
const CUTOFF: i64 = 1_706_659_200_000;

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn time(mut f: impl FnMut()) -> f64 {
    median(
        (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// The fraud group's features as of the cutoff, written by hand for DataFusion.
fn sql() -> String {
    let ts = |ms: i64| format!("to_timestamp_millis({ms})");
    let (d30, m5, h1) = (ts(CUTOFF - 30 * 86_400_000), ts(CUTOFF - 5 * 60_000), ts(CUTOFF - 3_600_000));
    format!(
        "SELECT user_id,
            count(*) AS lifetime_transactions,
            sum(CASE WHEN fraud_flag THEN 1 ELSE 0 END) AS historical_fraud_count,
            avg(amount) AS avg_transaction_size,
            stddev(amount) AS transaction_stddev,
            approx_distinct(category) AS lifetime_categories,
            count(DISTINCT CASE WHEN ts >= {d30} THEN merchant_id END) AS merchants_30d,
            sum(CASE WHEN ts >= {m5} THEN 1 ELSE 0 END) AS transactions_5m,
            sum(CASE WHEN ts >= {m5} THEN amount ELSE 0 END) AS amount_5m,
            approx_distinct(CASE WHEN ts >= {m5} THEN merchant_id END) AS unique_merchants_5m,
            max(CASE WHEN ts >= {h1} THEN amount END) AS max_amount_1h,
            approx_percentile_cont(CASE WHEN ts >= {d30} THEN amount END, 0.95) AS p95_amount_30d,
            array_slice(array_agg(merchant_id ORDER BY ts DESC), 1, 5) AS recent_merchants
        FROM transactions WHERE ts <= {}
        GROUP BY user_id",
        ts(CUTOFF)
    )
}

/// The same features for DuckDB: one query over the Parquet file.
fn duckdb_sql(path: &std::path::Path) -> String {
    let ts = |ms: i64| format!("make_timestamp({}::BIGINT)", ms * 1000);
    let (d30, m5, h1) = (ts(CUTOFF - 30 * 86_400_000), ts(CUTOFF - 5 * 60_000), ts(CUTOFF - 3_600_000));
    format!(
        "SELECT user_id,
            count(*) AS lifetime_transactions,
            count(*) FILTER (WHERE fraud_flag) AS historical_fraud_count,
            avg(amount) AS avg_transaction_size,
            stddev_samp(amount) AS transaction_stddev,
            approx_count_distinct(category) AS lifetime_categories,
            count(DISTINCT merchant_id) FILTER (WHERE t >= {d30}) AS merchants_30d,
            count(*) FILTER (WHERE t >= {m5}) AS transactions_5m,
            sum(amount) FILTER (WHERE t >= {m5}) AS amount_5m,
            approx_count_distinct(merchant_id) FILTER (WHERE t >= {m5}) AS unique_merchants_5m,
            max(amount) FILTER (WHERE t >= {h1}) AS max_amount_1h,
            approx_quantile(amount, 0.95) FILTER (WHERE t >= {d30}) AS p95_amount_30d,
            list(merchant_id ORDER BY t DESC)[1:5] AS recent_merchants
        FROM (SELECT *, ts::TIMESTAMP AS t FROM read_parquet('{}')) WHERE t <= {}
        GROUP BY user_id",
        path.display(),
        ts(CUTOFF)
    )
}

/// DuckDB's time for the query (median of 3, measured in Python around the query), and the
/// rows it gave; `None` when no Python with `duckdb` is found.
fn duckdb(path: &std::path::Path) -> Option<(f64, usize)> {
    let python = std::env::var("FEATC_DUCKDB_PYTHON")
        .unwrap_or_else(|_| "/var/tmp/featc-tools/venv-bench/bin/python".to_owned());
    let script = format!(
        "import duckdb, time, statistics\ncon = duckdb.connect()\ncon.execute(\"SET TimeZone = 'UTC'\")\nsql = {:?}\nruns = []\nfor _ in range(3):\n    t = time.perf_counter()\n    rows = con.execute(sql).fetchall()\n    runs.append(time.perf_counter() - t)\nprint(statistics.median(runs), len(rows))\n",
        duckdb_sql(path)
    );
    let out = std::process::Command::new(python).arg("-c").arg(script).output().ok()?;
    if !out.status.success() {
        eprintln!("duckdb: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn main() {
    let events: usize = std::env::var("FEATC_BACKFILL_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let dir = std::env::temp_dir().join(format!("featc-backfill-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("fraud.feat"), SPEC).unwrap_or_else(|e| panic!("{e}"));
    let history = dir.join("data/transactions.parquet");
    common::write_fraud_history(&history, events);
    let mut sources = featc::SourceMap::new();
    sources.add("fraud.feat", SPEC);
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let ir = featc::ir::lower(&checked.project).unwrap();

    let mut keys = 0;
    let ours = time(|| {
        let view = batch::compute(&ir, &dir, CUTOFF, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
        keys = view.groups[0].key_count();
    });
    let mut rows = 0;
    let baseline = time(|| {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        let out = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .block_on(async {
                ctx.register_parquet("transactions", history.to_string_lossy().as_ref(), ParquetReadOptions::default())
                    .await?;
                ctx.sql(&sql()).await?.collect().await
            })
            .unwrap_or_else(|e| panic!("{e}"));
        rows = out.iter().map(RecordBatch::num_rows).sum();
    });
    assert_eq!(rows, keys, "both compute every user");
    let duck = duckdb(&history);
    if let Some((_, duck_rows)) = duck {
        assert_eq!(duck_rows, keys, "DuckDB computes every user");
    }
    println!("| measurement ({events} events, {keys} users) | time | ratio |");
    println!("|---|---|---|");
    println!(
        "| baseline: hand-written DataFusion SQL, features as of the cutoff (median of 3) | {baseline:.2} s | 1.00 |"
    );
    println!(
        "| featc batch layer: batch view (partials at pane grain) as of the cutoff (median of 3) | {ours:.2} s | {:.2} |",
        ours / baseline
    );

    // A spine of 1M rows: random users at random times in the month.
    let spine_rows = 1_000_000u64;
    let mut s = 7u64;
    let mut next = || {
        s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        s >> 33
    };
    let (users, times): (Vec<String>, Vec<i64>) = (0..spine_rows)
        .map(|_| (format!("u{:05}", next() % 2000), 1_704_067_200_000 + (next() % 2_592_000) as i64 * 1000))
        .unzip();
    let spine = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        ])),
        vec![Arc::new(StringArray::from(users)), Arc::new(TimestampMillisecondArray::from(times))],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let training = time(|| {
        let set = featc_runtime::runners::training::training_set(&ir, &dir, &spine, "ts", &mut |_| {})
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.num_rows() as u64, spine_rows);
    });
    let _ = std::fs::remove_dir_all(&dir);

    println!("| measurement ({events} events, {keys} users) | median of 3 | ratio |");
    println!("|---|---|---|");
    println!("| baseline: hand-written DataFusion SQL, features as of the cutoff | {baseline:.2} s | 1.00 |");
    println!(
        "| featc batch layer: batch view (partials at pane grain) as of the cutoff | {ours:.2} s | {:.2} |",
        ours / baseline
    );
    match duck {
        Some((d, _)) => println!(
            "| DuckDB (Python package, all cores), the same features as of the cutoff | {d:.2} s | {:.2} |",
            d / baseline
        ),
        None => println!("| DuckDB | not measured: no Python with the duckdb package | |"),
    }
    println!(
        "| training set, {spine_rows} spine rows (history read and sorted included; one run) | {training:.2} s | {:.0} rows/s |",
        spine_rows as f64 / training
    );
}
