//! Backfill of the fraud example's feature group from generated Parquet (10M events over the
//! example's 2,000 users by default; `FEATC_BACKFILL_EVENTS` and `FEATC_BACKFILL_KEYS` to
//! change): the Lambda batch layer (the features whose
//! merge rule reads the batch view, as the plan lists them), alone and with its view written,
//! against the equivalent hand-written DataFusion SQL and DuckDB SQL over the same file in the
//! same run; then a
//! training set against DuckDB computing the same point-in-time join (`FEATC_SPINE_ROWS` spine
//! rows, 1M by default, 0 to skip it; the sums of four exact features must agree). The backfills are the
//! median of three runs each; the training sets, one run each. DuckDB runs in Python
//! (`FEATC_DUCKDB_PYTHON`, a Python with the `duckdb` package; default
//! `/var/tmp/featc-tools/venv-bench/bin/python`) into a table in memory, its time measured
//! around the query alone. Run: `cargo bench -p featc-runtime --bench backfill`.

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

/// The median of three runs of `f`; what it returns (the result, as DuckDB's table is) is
/// freed after the clock stops, as `featc batch` leaves its view to the process's exit.
fn time<T>(mut f: impl FnMut() -> T) -> f64 {
    median(
        (0..3)
            .map(|_| {
                let t = Instant::now();
                let result = f();
                let seconds = t.elapsed().as_secs_f64();
                drop(result);
                seconds
            })
            .collect(),
    )
}

/// The fraud group's batch features as of the cutoff (the features whose merge rule reads the
/// batch view: what the batch layer computes; the plan's `partials for` lines), written by hand
/// for DataFusion.
fn sql() -> String {
    let ts = |ms: i64| format!("to_timestamp_millis({ms})");
    let d30 = ts(CUTOFF - 30 * 86_400_000);
    format!(
        "SELECT user_id,
            count(*) AS lifetime_transactions,
            sum(CASE WHEN fraud_flag THEN 1 ELSE 0 END) AS historical_fraud_count,
            avg(amount) AS avg_transaction_size,
            stddev(amount) AS transaction_stddev,
            approx_distinct(category) AS lifetime_categories,
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
    let d30 = ts(CUTOFF - 30 * 86_400_000);
    format!(
        "SELECT user_id,
            count(*) AS lifetime_transactions,
            count(*) FILTER (WHERE fraud_flag) AS historical_fraud_count,
            avg(amount) AS avg_transaction_size,
            stddev_samp(amount) AS transaction_stddev,
            approx_count_distinct(category) AS lifetime_categories,
            approx_quantile(amount, 0.95) FILTER (WHERE t >= {d30}) AS p95_amount_30d,
            list(merchant_id ORDER BY t DESC)[1:5] AS recent_merchants
        FROM (SELECT *, ts::TIMESTAMP AS t FROM read_parquet('{}')) WHERE t <= {}
        GROUP BY user_id",
        path.display(),
        ts(CUTOFF)
    )
}

/// The training set for DuckDB: the same point-in-time features for every spine row, in one
/// query. Spine rows are merged into the events of their user and each feature is a window
/// aggregate ending at the row (events at the row's own time included), over the spec's
/// sawtooth frames (`floor(t - w, h) <= ts <= t`, a frame start that varies per row);
/// `last_n` is the last five merchants of the events, carried to each spine row.
fn duckdb_training_sql(history: &std::path::Path, spine: &std::path::Path) -> String {
    let frame = |hop: &str, size: &str| {
        format!(
            "PARTITION BY user_id ORDER BY t RANGE BETWEEN (t - time_bucket(INTERVAL {hop}, t - INTERVAL {size})) PRECEDING AND CURRENT ROW"
        )
    };
    format!(
        "WITH ev AS (
            SELECT user_id, ts::TIMESTAMP AS t, merchant_id, category, amount, fraud_flag,
                list(merchant_id) OVER (PARTITION BY user_id ORDER BY ts ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS l5
            FROM read_parquet('{}')),
        sp AS (SELECT row_number() OVER () AS rid, user_id, ts::TIMESTAMP AS t FROM read_parquet('{}')),
        u AS (
            SELECT user_id, t, false AS spine, NULL::BIGINT AS rid, merchant_id, category, amount, fraud_flag, l5 FROM ev
            UNION ALL
            SELECT user_id, t, true, rid, NULL, NULL, NULL, NULL, NULL FROM sp),
        w AS (
            SELECT rid, spine,
                count(*) FILTER (WHERE NOT spine) OVER life AS lifetime_transactions,
                count(*) FILTER (WHERE fraud_flag) OVER life AS historical_fraud_count,
                avg(amount) OVER life AS avg_transaction_size,
                stddev_samp(amount) OVER life AS transaction_stddev,
                approx_count_distinct(category) OVER life AS lifetime_categories,
                count(DISTINCT merchant_id) OVER d30 AS merchants_30d,
                count(*) FILTER (WHERE NOT spine) OVER m5 AS transactions_5m,
                sum(amount) OVER m5 AS amount_5m,
                approx_count_distinct(merchant_id) OVER m5 AS unique_merchants_5m,
                max(amount) OVER h1 AS max_amount_1h,
                quantile_cont(amount, 0.95) OVER d30 AS p95_amount_30d,
                last_value(l5 IGNORE NULLS) OVER life AS recent_merchants
            FROM u
            WINDOW life AS (PARTITION BY user_id ORDER BY t, spine ROWS UNBOUNDED PRECEDING),
                m5 AS ({}), h1 AS ({}), d30 AS ({}))
        SELECT * FROM w WHERE spine",
        history.display(),
        spine.display(),
        frame("1 minute", "5 minute"),
        frame("5 minute", "1 hour"),
        frame("1 day", "30 day"),
    )
}

/// Runs `sql` in DuckDB from Python, `runs` times, into a table in memory: the median time
/// around the query (reading the Parquet files included), the rows it gave and the sums of `sums` over them (a check that both sides computed the same thing).
/// `None` when no Python with `duckdb` is found.
fn duckdb_run(sql: &str, runs: usize, sums: &[&str]) -> Option<(f64, usize, Vec<i64>)> {
    let python = std::env::var("FEATC_DUCKDB_PYTHON")
        .unwrap_or_else(|_| "/var/tmp/featc-tools/venv-bench/bin/python".to_owned());
    let script = format!(
        "import duckdb, time, statistics
con = duckdb.connect()
con.execute(\"SET TimeZone = 'UTC'\")
con.execute(\"SET enable_progress_bar = false\")
sql = {sql:?}
runs = []
for _ in range({runs}):
    con.execute('DROP TABLE IF EXISTS r')
    t = time.perf_counter()
    con.execute('CREATE TEMP TABLE r AS ' + sql)
    runs.append(time.perf_counter() - t)
row = con.execute('SELECT count(*)' + ''.join(', coalesce(sum(' + c + '), 0)::BIGINT' for c in {sums:?}) + ' FROM r').fetchone()
print(statistics.median(runs), *row)
"
    );
    let out = match std::process::Command::new(&python).arg("-c").arg(script).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("duckdb: cannot run {python}: {e}");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed = || {
        let mut parts = text.split_whitespace();
        let secs = parts.next()?.parse().ok()?;
        let rows = parts.next()?.parse().ok()?;
        Some((secs, rows, parts.map(|p| p.parse().ok()).collect::<Option<_>>()?))
    };
    match (out.status.success(), parsed()) {
        (true, Some(result)) => Some(result),
        _ => {
            eprintln!("duckdb failed ({}): {text}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
            None
        }
    }
}

/// Sum of an integer column of featc's training set.
fn column_sum(set: &RecordBatch, name: &str) -> i64 {
    let c = set.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    let c = arrow::compute::cast(c, &DataType::Int64).unwrap_or_else(|e| panic!("{e}"));
    arrow::compute::sum(c.as_any().downcast_ref::<arrow::array::Int64Array>().unwrap()).unwrap_or(0)
}

fn main() {
    featc_runtime::process::without_huge_pages();
    let events: usize = std::env::var("FEATC_BACKFILL_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let dir = std::env::temp_dir().join(format!("featc-backfill-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("fraud.feat"), SPEC).unwrap_or_else(|e| panic!("{e}"));
    let history = dir.join("data/transactions.parquet");
    let users: u64 = std::env::var("FEATC_BACKFILL_KEYS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    common::write_fraud_history(&history, events, users);
    let mut sources = featc::SourceMap::new();
    sources.add("fraud.feat", SPEC);
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let ir = featc::ir::lower(&checked.project).unwrap();

    let mut keys = 0;
    let ours = time(|| {
        let view = batch::compute(&ir, &dir, CUTOFF, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
        keys = view.groups[0].key_count();
        view
    });
    // What `featc batch` does: the same, then the view written durably (Parquet, synced).
    let stored = time(|| {
        let mut view = batch::compute(&ir, &dir, CUTOFF, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
        featc_runtime::store::view::write(&ir, &mut view, &dir.join("store")).unwrap_or_else(|e| panic!("{e}"));
        view
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
        out
    });
    assert_eq!(rows, keys, "both compute every user");
    let duck = duckdb_run(&duckdb_sql(&history), 3, &[]);
    if let Some((_, duck_rows, _)) = duck {
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

    let spine_rows: u64 = std::env::var("FEATC_SPINE_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let trained = (spine_rows > 0).then(|| training(&ir, &dir, users, spine_rows));
    let _ = std::fs::remove_dir_all(&dir);

    println!("| measurement ({events} events, {keys} users) | median of 3 | ratio |");
    println!("|---|---|---|");
    println!("| baseline: hand-written DataFusion SQL, features as of the cutoff | {baseline:.2} s | 1.00 |");
    println!(
        "| featc batch layer: batch view (partials at pane grain) as of the cutoff | {ours:.2} s | {:.2} |",
        ours / baseline
    );
    println!(
        "| featc batch layer and the view written (what `featc batch` does) | {stored:.2} s | {:.2} |",
        stored / baseline
    );
    match duck {
        Some((d, _, _)) => println!(
            "| DuckDB (Python package, all cores), the same features as of the cutoff | {d:.2} s | {:.2} |",
            d / baseline
        ),
        None => println!("| DuckDB | not measured: no Python with the duckdb package | |"),
    }
    let Some((training, duck_training)) = trained else { return };
    println!(
        "| featc training set, {spine_rows} spine rows (history read and sorted included; one run) | {training:.2} s | {:.0} rows/s |",
        spine_rows as f64 / training
    );
    match duck_training {
        Some((d, _, _)) => println!(
            "| DuckDB, the same point-in-time join (window aggregates over events and spine; one run) | {d:.2} s | featc/DuckDB {:.2} |",
            training / d
        ),
        None => println!("| DuckDB training set | not measured: no Python with the duckdb package | |"),
    }
}

/// A training set of `spine_rows` rows (random users at random times in the month) from the
/// history in `dir`, featc against DuckDB: featc's time, and DuckDB's (time, rows, sums).
fn training(
    ir: &featc::ir::FeatureIr,
    dir: &std::path::Path,
    users: u64,
    spine_rows: u64,
) -> (f64, Option<(f64, usize, Vec<i64>)>) {
    let history = dir.join("data/transactions.parquet");
    let mut s = 7u64;
    let mut next = || {
        s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        s >> 33
    };
    let (users, times): (Vec<String>, Vec<i64>) = (0..spine_rows)
        .map(|_| (format!("u{:05}", next() % users), 1_704_067_200_000 + (next() % 2_592_000) as i64 * 1000))
        .unzip();
    let spine = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        ])),
        vec![Arc::new(StringArray::from(users)), Arc::new(TimestampMillisecondArray::from(times))],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let spine_path = dir.join("spine.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&spine_path).unwrap_or_else(|e| panic!("{e}")),
        spine.schema(),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    w.write(&spine).unwrap_or_else(|e| panic!("{e}"));
    w.close().unwrap_or_else(|e| panic!("{e}"));
    // One run each: the training sets are the longest part of the benchmark.
    let checked = ["lifetime_transactions", "historical_fraud_count", "transactions_5m", "merchants_30d"];
    let start = Instant::now();
    let set = featc_runtime::runners::training::training_set(ir, dir, &spine, "ts", &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let training = start.elapsed().as_secs_f64();
    assert_eq!(set.num_rows() as u64, spine_rows);
    let ours_sums: Vec<i64> = checked.iter().map(|c| column_sum(&set, c)).collect();
    drop(set);
    let duck_training = duckdb_run(&duckdb_training_sql(&history, &spine_path), 1, &checked);
    if let Some((_, rows, sums)) = &duck_training {
        assert_eq!(*rows as u64, spine_rows, "DuckDB answers every spine row");
        assert_eq!(*sums, ours_sums, "featc and DuckDB compute the same point-in-time values ({checked:?} summed)");
    }
    (training, duck_training)
}
