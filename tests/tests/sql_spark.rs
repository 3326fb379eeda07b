//! The Spark job featc emits runs as emitted on real Spark (`spark-sql -f`, `local[2]`), over
//! the examples' files and generated files for the corpus specs that cover every aggregate and
//! window, and writes what DataFusion computes from the same statements: every cell equal,
//! exact sums and sketch inputs included; only the engines' own `SUM(double)` columns, which
//! depend on the order of addition, are allowed to differ in the last bits (the `__sums`
//! statements carry those sums exactly).
//!
//! Needs Spark: `FEATC_SPARK_SQL` names the `spark-sql` launcher (scripts/test installs pyspark
//! into a cached virtual environment and sets it). The test fails without it; it never skips.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};
use featc::ir::{FileFormat, Ty};
use featc::sql::spark::{SparkJob, job};
use featc::sql::{Dialect, emit};

mod engines;
use engines::{Case, corpus, example};

/// Registers each source's files with DataFusion in the types the spec declares.
async fn register(ctx: &SessionContext, case: &Case) {
    for source in &case.ir.sources {
        let Some(files) = &source.history else { continue };
        let base = if files.format == FileFormat::Csv { case.dir.join("clean") } else { case.dir.clone() };
        let path = base.join(&files.glob);
        let path = path.to_str().unwrap();
        let text_type = |ty: &Ty| match ty {
            Ty::String => DataType::Utf8,
            Ty::I64 => DataType::Int64,
            Ty::F64 => DataType::Float64,
            Ty::Bool => DataType::Boolean,
            _ => DataType::Timestamp(TimeUnit::Millisecond, None),
        };
        let schema = Schema::new(
            source.fields.iter().map(|f| Field::new(&f.name, text_type(&f.ty.ty), true)).collect::<Vec<_>>(),
        );
        match files.format {
            FileFormat::Parquet => ctx.register_parquet(&source.name, path, ParquetReadOptions::default()).await,
            FileFormat::Csv => {
                let schema = Schema::new(
                    source
                        .fields
                        .iter()
                        .map(|f| {
                            let t = if f.ty.ty == Ty::Timestamp { DataType::Int64 } else { text_type(&f.ty.ty) };
                            Field::new(&f.name, t, true)
                        })
                        .collect::<Vec<_>>(),
                );
                ctx.register_csv(&source.name, path, CsvReadOptions::new().schema(&schema)).await
            }
            FileFormat::Ndjson => {
                let extension = files.glob.rsplit('.').next().map(|e| format!(".{e}")).unwrap_or_default();
                let options = JsonReadOptions { file_extension: &extension, ..JsonReadOptions::default() };
                ctx.register_json(&source.name, path, options.schema(&schema)).await
            }
            FileFormat::Delta => panic!("no Delta case here"),
        }
        .unwrap();
    }
}

/// A result, row key (its leading key, pane, value and exponent columns) to column to text.
type Table = BTreeMap<Vec<String>, BTreeMap<String, String>>;

const KEYS_AFTER_ENTITY: [&str; 3] = ["pane_start", "value", "exponent"];

fn to_table(batches: &[RecordBatch], entity_keys: &[String]) -> Table {
    let options = FormatOptions::default().with_null("null");
    let mut table = Table::new();
    for b in batches {
        // Times as epoch milliseconds whatever their unit and zone: Spark writes instants.
        let columns: Vec<ArrayRef> = b
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Timestamp(..) => {
                    let ms = cast(c, &DataType::Timestamp(TimeUnit::Millisecond, None)).unwrap();
                    cast(&ms, &DataType::Int64).unwrap()
                }
                _ => c.clone(),
            })
            .collect();
        let formatters: Vec<ArrayFormatter> =
            columns.iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap()).collect();
        let names: Vec<String> = b.schema().fields().iter().map(|f| f.name().clone()).collect();
        let is_key = |n: &String| entity_keys.contains(n) || KEYS_AFTER_ENTITY.contains(&n.as_str());
        for row in 0..b.num_rows() {
            let mut key = Vec::new();
            let mut values = BTreeMap::new();
            for (name, f) in names.iter().zip(&formatters) {
                let cell = f.value(row).to_string();
                if is_key(name) {
                    key.push(cell)
                } else {
                    values.insert(name.clone(), cell);
                }
            }
            assert!(table.insert(key.clone(), values).is_none(), "two rows for {key:?}");
        }
    }
    table
}

/// The columns that hold an engine's `SUM(double)`: equal to a few units in the last place.
fn rounded_sum(case: &Case, column: &str) -> bool {
    column.ends_with("__sum")
        || column.ends_with("__sum_sq")
        || case.ir.groups.iter().any(|g| {
            g.aggregates.iter().any(|a| a.name == column && a.kind == featc::ir::AggKind::Sum && !a.integer_input())
        })
}

fn same(case: &Case, column: &str, spark: &str, datafusion: &str) -> bool {
    if spark == datafusion {
        return true;
    }
    match (spark.parse::<f64>(), datafusion.parse::<f64>()) {
        (Ok(a), Ok(b)) if rounded_sum(case, column) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0),
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[tokio::test]
async fn the_emitted_spark_job_runs_on_spark_and_writes_what_datafusion_computes() {
    let spark_sql = std::env::var_os("FEATC_SPARK_SQL").map(PathBuf::from).expect(
        "FEATC_SPARK_SQL must name Spark's spark-sql launcher: run the tests with scripts/test, which installs pyspark",
    );
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let cases = vec![
        example("fraud", 1_706_400_000_000),
        example("recsys", 1_704_500_000_000),
        corpus("aggregates.feat", tmp),
        corpus("windows.feat", tmp),
        dense_sketches(tmp),
    ];

    // One script for every case (one Spark start), each case writing under a folder of its own.
    let mut script = String::new();
    let mut jobs = Vec::new();
    for case in &cases {
        let out = tmp.join("out").join(&case.name);
        let spec = SparkJob {
            cutoff_ms: Some(case.cutoff),
            base_dir: Some(case.dir.to_string_lossy().into_owned()),
            output_dir: out.to_string_lossy().into_owned(),
        };
        let j = job(&case.ir, &spec).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        writeln!(script, "{}", j.to_script()).unwrap();
        jobs.push(j);
    }
    let script_path = tmp.join("job.sql");
    std::fs::write(&script_path, &script).unwrap();
    let run = std::process::Command::new(&spark_sql)
        .args(["--master", "local[2]", "--conf", "spark.ui.enabled=false", "-f"])
        .arg(&script_path)
        .current_dir(tmp)
        .output()
        .expect("spark-sql runs");
    assert!(
        run.status.success(),
        "spark-sql failed:\n{}\n{script}",
        String::from_utf8_lossy(&run.stderr).lines().filter(|l| !l.contains(" WARN ")).collect::<Vec<_>>().join("\n")
    );

    let mut compared = 0;
    let mut sketches = 0;
    for (case, spark_job) in cases.iter().zip(&jobs) {
        let ctx = SessionContext::new();
        register(&ctx, case).await;
        let reference = emit(&case.ir, Dialect::DataFusion, Some(case.cutoff));
        // Spark computes the sketches itself (`__hll`, `__buckets`) where DataFusion gives each
        // value's count (`__values`): those are compared through the view installed below.
        let sketch = |name: &str| name.ends_with("__hll") || name.ends_with("__buckets");
        let spark_sketches = spark_job.statements.iter().filter(|s| s.output.is_some() && sketch(&s.name)).count();
        let counted: Vec<String> = case
            .ir
            .groups
            .iter()
            .flat_map(|g| {
                g.aggregates
                    .iter()
                    .filter(|a| featc::sql::sketch_in_sql(Dialect::Spark, a.kind) && a.merge.uses_batch())
                    .filter(|a| g.windows[a.window].strategy != featc::ir::WindowStrategy::Session)
                    .map(|a| featc::sql::values_statement(g, a))
            })
            .collect();
        sketches += spark_sketches;
        let written: Vec<_> = spark_job.statements.iter().filter(|s| s.output.is_some() && !sketch(&s.name)).collect();
        let reference: Vec<_> = reference.statements.iter().filter(|r| !counted.contains(&r.name)).collect();
        assert_eq!(spark_sketches, counted.len(), "{}: sketch statements", case.name);
        assert_eq!(written.len(), reference.len(), "{}: statements", case.name);
        for (s, r) in written.iter().zip(reference) {
            assert_eq!(s.name, r.name);
            let keys: Vec<String> = case.ir.groups.iter().flat_map(|g| g.keys.iter().map(|k| k.name.clone())).collect();
            let expected = ctx.sql(&r.sql).await.unwrap_or_else(|e| panic!("{}: {e}\n{}", r.name, r.sql));
            let expected = to_table(&expected.collect().await.unwrap(), &keys);
            let frame = ctx
                .read_parquet(s.output.clone().unwrap(), ParquetReadOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{}: no output from Spark: {e}", s.name));
            let actual = to_table(&frame.collect().await.unwrap(), &keys);
            assert!(
                !expected.is_empty(),
                "{}/{}: DataFusion computed no row; the case tests nothing",
                case.name,
                s.name
            );
            assert_eq!(actual.len(), expected.len(), "{}/{}: rows", case.name, s.name);
            for (key, want) in &expected {
                let got =
                    actual.get(key).unwrap_or_else(|| panic!("{}/{}: Spark has no row {key:?}", case.name, s.name));
                assert_eq!(got.len(), want.len(), "{}/{} {key:?}: columns", case.name, s.name);
                for (column, value) in want {
                    let cell =
                        got.get(column).unwrap_or_else(|| panic!("{}/{}: no column {column}", case.name, s.name));
                    assert!(
                        same(case, column, cell, value),
                        "{}/{} {key:?} {column}: Spark wrote {cell}, DataFusion computed {value}",
                        case.name,
                        s.name
                    );
                }
            }
            compared += 1;
        }
    }
    eprintln!("{compared} statements compared; {sketches} sketches computed by Spark, compared through the view");
    assert!(compared >= 20, "only {compared} statements compared");
    assert!(sketches >= 6, "only {sketches} sketch statements");

    let fraud = &cases[0];
    sums_rebuild_featcs_exact_sums(fraud, &tmp.join("out").join(&fraud.name)).await;
    // featc's batch layer runs its own async runtime: off this one.
    std::thread::scope(|scope| {
        for case in &cases {
            let out = tmp.join("out").join(&case.name);
            scope.spawn(move || installed_view_equals_featcs(case, &out)).join().unwrap();
        }
    });
}

/// A key with thousands of distinct values, reals of every magnitude and sign and zeros: its
/// HyperLogLog turns dense (registers, not hashes) and its quantile sketch spans many buckets,
/// in Spark's statements as in featc's.
fn dense_sketches(tmp: &Path) -> Case {
    let dir = tmp.join("dense");
    std::fs::create_dir_all(&dir).unwrap();
    let base = 1_704_067_200_000i64;
    let mut lines = String::new();
    for i in 0..6000i64 {
        let key = if i % 5 == 0 { "b" } else { "a" };
        let x = match i % 7 {
            0 => 0.0,
            1 => -(i as f64) / 100.0,
            2 => (i as f64) * 1e-11,
            _ => (i as f64).powi(3) / 1000.0 + 0.01,
        };
        let when = featc_runtime::io::time::rfc3339(base + i * 37_000);
        writeln!(
            lines,
            r#"{{"k": "{key}", "n": {}, "x": {x:?}, "c": "v{}", "ts": "{when}"}}"#,
            i * 7919 % 100_003,
            i % 700
        )
        .unwrap();
    }
    std::fs::write(dir.join("events.ndjson"), lines).unwrap();
    let text = "source s {\n    event_time ts\n    files \"events.ndjson\"\n    schema { k: string, n: i64, x: f64, c: string, ts: timestamp }\n}\n\nentity e { key k: string }\n\nfeatures dense(e) from s {\n    distinct_n = approx_count_distinct(n) over lifetime\n    distinct_c = approx_count_distinct(c) over sliding(2d, every: 1d)\n    distinct_t = approx_count_distinct(ts) over lifetime\n    p50 = approx_percentile(x, 0.5) over lifetime\n    p99 = approx_percentile(x, 0.99) over sliding(2d, every: 1d)\n}\n";
    std::fs::write(dir.join("dense.feat"), text).unwrap();
    Case { name: "dense".to_owned(), ir: engines::lower("dense.feat", text), dir, cutoff: base + 6000 * 37_000 }
}

/// The batch view installed from Spark's results serves, for every key, the same batch
/// features, bit for bit, as the view featc's own batch layer computes from the same files.
/// Session windows, which the SQL does not compute, are computed by featc, as `featc batch
/// --engine spark` does.
fn installed_view_equals_featcs(case: &Case, out: &Path) {
    use featc_runtime::runners::lambda::{batch, partials};

    let installed = partials::install(&case.ir, &case.dir, out, case.cutoff, &mut |_| {})
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let finished_by_featc: Vec<usize> = case.ir.groups.iter().map(|g| partials::featc_windows(g).len()).collect();
    let finished_by_featc: usize = finished_by_featc.iter().sum();
    let reference = batch::compute(&case.ir, &case.dir, case.cutoff, &mut |_| {}).unwrap();
    let mut compared = 0;
    for (gi, g) in case.ir.groups.iter().enumerate() {
        let batch_features: Vec<(usize, &str)> = g
            .outputs
            .iter()
            .enumerate()
            .filter(|(_, name)| g.aggregates.iter().any(|a| &a.name == *name && a.merge.uses_batch()))
            .map(|(i, n)| (i, n.as_str()))
            .collect();
        if batch_features.is_empty() {
            continue;
        }
        let (ours, theirs) = (&installed.groups[gi], &reference.groups[gi]);
        let mut keys = theirs.keys();
        keys.sort();
        let mut installed_keys = ours.keys();
        installed_keys.sort();
        assert_eq!(installed_keys, keys, "{}/{}: keys", case.name, g.name);
        for key in &keys {
            let want = theirs.lookup(key, case.cutoff).unwrap().unwrap();
            let got = ours.lookup(key, case.cutoff).unwrap().unwrap();
            for &(i, name) in &batch_features {
                assert_eq!(
                    format!("{:?}", got[i]),
                    format!("{:?}", want[i]),
                    "{}/{} {key:?} {name}: the view installed from Spark against featc's batch layer",
                    case.name,
                    g.name
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 0, "{}: no batch feature compared", case.name);
    eprintln!(
        "{}: {compared} batch feature values of the view installed from Spark equal featc's{}",
        case.name,
        if finished_by_featc == 0 {
            String::new()
        } else {
            format!(" ({finished_by_featc} session window(s) computed by featc)")
        }
    );
}

/// A column of text as `Utf8` (DataFusion reads Parquet text as views).
fn utf8(c: &ArrayRef) -> ArrayRef {
    cast(c, &DataType::Utf8).unwrap()
}

/// The exact parts Spark wrote for the fraud example's standard deviation rebuild, for every
/// user, the bits of the sum and sum of squares featc's exact accumulator holds over the same
/// amounts; Spark's own `SUM(double)` differs for some users.
async fn sums_rebuild_featcs_exact_sums(case: &Case, out: &Path) {
    use datafusion::arrow::array::{AsArray, Decimal128Array};
    use featc_runtime::operators::aggregate::ExactSum;

    let ctx = SessionContext::new();
    let read = |dir: PathBuf| {
        let ctx = ctx.clone();
        async move {
            let frame = ctx.read_parquet(dir.to_string_lossy().into_owned(), ParquetReadOptions::default()).await;
            frame.unwrap().collect().await.unwrap()
        }
    };
    let mut rebuilt: BTreeMap<String, (ExactSum, ExactSum)> = BTreeMap::new();
    for b in read(out.join("user_fraud__transaction_stddev__sums")).await {
        let user = utf8(b.column_by_name("user_id").unwrap());
        let user = user.as_string::<i32>();
        let exponent = b.column_by_name("exponent").unwrap().as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let part =
            |name: &str| b.column_by_name(name).unwrap().as_any().downcast_ref::<Decimal128Array>().unwrap().clone();
        let (m, hi, mid, lo) = (part("mantissa_sum"), part("square_hi"), part("square_mid"), part("square_lo"));
        for r in 0..b.num_rows() {
            let u = exponent.value(r);
            let (sum, squares) = rebuilt.entry(user.value(r).to_owned()).or_default();
            sum.add_scaled(m.value(r), u);
            squares.add_scaled(hi.value(r), 2 * u + 52);
            squares.add_scaled(mid.value(r), 2 * u + 26);
            squares.add_scaled(lo.value(r), 2 * u);
        }
    }
    let mut engine_sums: BTreeMap<String, f64> = BTreeMap::new();
    for b in read(out.join("user_fraud__lifetime__partials")).await {
        let user = utf8(b.column_by_name("user_id").unwrap());
        let user = user.as_string::<i32>();
        let sum = b
            .column_by_name("transaction_stddev__sum")
            .unwrap()
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        for r in 0..b.num_rows() {
            engine_sums.insert(user.value(r).to_owned(), sum.value(r));
        }
    }
    let mut featc: BTreeMap<String, (ExactSum, ExactSum)> = BTreeMap::new();
    let path = case.dir.join("data/transactions.parquet");
    ctx.register_parquet("history", path.to_string_lossy().as_ref(), ParquetReadOptions::default()).await.unwrap();
    let query = format!(
        "SELECT user_id, amount FROM history WHERE CAST(CAST(ts AS TIMESTAMP(3)) AS BIGINT) <= {}",
        case.cutoff
    );
    let events = ctx.sql(&query).await.unwrap().collect().await.unwrap();
    for b in events {
        let user = utf8(b.column(0));
        let user = user.as_string::<i32>();
        let amount = b.column(1).as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        for r in 0..b.num_rows() {
            let (sum, squares) = featc.entry(user.value(r).to_owned()).or_default();
            sum.add(amount.value(r));
            squares.add_product(amount.value(r), amount.value(r));
        }
    }
    assert_eq!(rebuilt.len(), featc.len(), "users");
    let mut engine_differs = 0;
    for (user, (sum, squares)) in &featc {
        let (s, q) = &rebuilt[user];
        assert_eq!(
            s.value().to_bits(),
            sum.value().to_bits(),
            "{user}: sum {} against featc's {}",
            s.value(),
            sum.value()
        );
        assert_eq!(q.value().to_bits(), squares.value().to_bits(), "{user}: sum of squares");
        engine_differs += usize::from(engine_sums[user].to_bits() != sum.value().to_bits());
    }
    eprintln!(
        "fraud: {} users' exact sums rebuilt bit for bit from Spark's parts; Spark's SUM(double) differs for {engine_differs}",
        featc.len()
    );
}
