//! The Flink job featc emits runs as emitted on real Flink (PyFlink 2.3's mini-cluster, batch
//! mode, parallelism 2) over the examples' events and a corpus spec's generated CSV (malformed
//! lines included), and every row it writes holds the values featc's definitions give for that
//! key as of the window's end: counts, minima and maxima exactly, real sums, averages and
//! deviations within 1e-9 relative (Flink adds doubles in its own order), checked against the
//! brute-force reference (`featc-reference`) over the events featc's decoder accepts.
//!
//! Needs Flink: `FEATC_FLINK_PYTHON` names a Python with the `apache-flink` package (scripts/test
//! installs it into a cached virtual environment). The test fails without it; it never skips.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use featc::ir::{EVENT_TIME_MAX_MS, Ty};
use featc::sql::flink::{FlinkJob, FlinkKafka, job};
use featc_reference::{Event, Expected, Oracle, Val, agrees};

mod engines;
use engines::{Case, corpus, example, lower};

/// Runs a job's statements on PyFlink's mini-cluster: settings applied, tables and views
/// created, every `INSERT` in one statement set.
const DRIVER: &str = r#"
import json, sys
from pyflink.table import EnvironmentSettings, TableEnvironment
statements = json.load(open(sys.argv[1]))
streaming = any(s["sql"] == "SET 'execution.runtime-mode' = 'streaming'" for s in statements)
t = TableEnvironment.create(EnvironmentSettings.in_streaming_mode() if streaming else EnvironmentSettings.in_batch_mode())
t.get_config().set("parallelism.default", "2")
if streaming:
    # A streaming file sink commits its files at checkpoints (the last one when the input ends).
    t.get_config().set("execution.checkpointing.interval", "2 s")
inserts = t.create_statement_set()
count = 0
for s in statements:
    sql = s["sql"]
    if sql.startswith("SET "):
        key, value = [p.strip().strip("'") for p in sql[4:].split("=", 1)]
        t.get_config().set(key, value)
    elif sql.startswith("INSERT "):
        inserts.add_insert_sql(sql)
        count += 1
    else:
        t.execute_sql(sql)
if count:
    inserts.execute().wait()
"#;

/// The fraud example with its Parquet history rewritten as NDJSON (Flink's Parquet format is not
/// in PyFlink).
async fn fraud_as_ndjson(tmp: &Path) -> Case {
    let example = example("fraud", i64::MAX);
    let dir = tmp.join("fraud");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let ctx = SessionContext::new();
    let parquet = example.dir.join("data/transactions.parquet");
    let batches = ctx
        .read_parquet(parquet.to_string_lossy().into_owned(), ParquetReadOptions::default())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let file = std::fs::File::create(dir.join("data/transactions.ndjson")).unwrap();
    let mut writer = LineDelimitedWriter::new(file);
    for b in &batches {
        // Text as plain strings (DataFusion reads Parquet text as views, which JSON has not).
        let columns = b
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                datafusion::arrow::datatypes::DataType::Utf8View => {
                    datafusion::arrow::compute::cast(c, &datafusion::arrow::datatypes::DataType::Utf8).unwrap()
                }
                _ => c.clone(),
            })
            .collect::<Vec<_>>();
        let fields = b
            .schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| datafusion::arrow::datatypes::Field::new(f.name(), c.data_type().clone(), true))
            .collect::<Vec<_>>();
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
        writer.write(&datafusion::arrow::array::RecordBatch::try_new(schema, columns).unwrap()).unwrap();
    }
    writer.finish().unwrap();
    let text = std::fs::read_to_string(example.dir.join("fraud.feat"))
        .unwrap()
        .replace("data/transactions.parquet", "data/transactions.ndjson");
    Case { name: "fraud".to_owned(), ir: lower("fraud", &text), dir, cutoff: i64::MAX }
}

/// The events of each group that featc's decoder accepts, as the reference takes them.
fn reference_events(case: &Case) -> Vec<Vec<Event>> {
    case.ir
        .groups
        .iter()
        .map(|g| {
            let source = &case.ir.sources[g.source];
            let fields: Vec<_> =
                g.columns.iter().filter_map(|c| source.fields.iter().find(|f| &f.name == c).cloned()).collect();
            let history = featc_runtime::io::history::read(&case.dir, source).unwrap();
            history
                .batches
                .iter()
                .flat_map(|b| featc_runtime::operators::decode::rows(b, &fields).0)
                .map(|row| Event { row: row.iter().map(featc_runtime::runners::verify::to_val).collect() })
                .collect()
        })
        .collect()
}

/// A value Flink wrote (JSON), as the reference's value of a type.
fn val(json: &serde_json::Value, ty: &Ty) -> Val {
    match (json, ty) {
        (serde_json::Value::Null, _) => Val::Null,
        (v, Ty::I64) => Val::I64(v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))),
        (v, Ty::F64) => Val::F64(v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))),
        (v, Ty::Bool) => Val::Bool(v.as_bool().unwrap_or_else(|| panic!("not a boolean: {v}"))),
        (serde_json::Value::String(s), Ty::Timestamp) => {
            Val::Ts(featc_runtime::io::time::parse_rfc3339(s).unwrap_or_else(|| panic!("not a time: {s}")))
        }
        (serde_json::Value::String(s), _) => Val::Str(s.clone()),
        (v, ty) => panic!("{v} is not a {ty}"),
    }
}

/// Flink's doubles are its own additions: within 1e-9 relative of the exact value.
fn agrees_within(expected: &Expected, actual: &Val) -> Result<(), String> {
    match (expected, actual) {
        (Expected::Float { value, .. }, Val::F64(x)) if (x - value).abs() <= 1e-9 * value.abs().max(1.0) => Ok(()),
        _ => agrees(expected, actual),
    }
}

/// The rows of one statement's JSON lines.
fn rows(folder: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            let serde_json::Value::Object(row) = serde_json::from_str(line).unwrap() else { panic!("{line}") };
            out.push(row);
        }
    }
    out
}

#[tokio::test]
async fn the_emitted_flink_job_runs_on_flink_and_gives_featcs_values() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let cases = vec![example("recsys", i64::MAX), fraud_as_ndjson(tmp).await, corpus("windows.feat", tmp)];
    let mut checked_rows = 0;
    for case in &cases {
        let out = tmp.join("out").join(&case.name);
        let spec = FlinkJob {
            base_dir: Some(case.dir.to_string_lossy().into_owned()),
            output_dir: out.to_string_lossy().into_owned(),
            kafka: None,
        };
        let emitted = job(&case.ir, &spec).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let statements: Vec<(&str, &str)> =
            emitted.statements.iter().map(|s| (s.name.as_str(), s.sql.as_str())).collect();
        run_on_flink(tmp, &case.name, &statements, &emitted.to_script());

        let outputs: Vec<(String, PathBuf)> = emitted
            .statements
            .iter()
            .filter_map(|s| s.output.as_ref().map(|o| (s.name.clone(), PathBuf::from(o))))
            .collect();
        checked_rows += check_rows(case, &outputs);
    }
    assert!(checked_rows > 1000, "only {checked_rows} rows checked");
}

/// Runs statements `(name, sql)` on PyFlink's mini-cluster through [`DRIVER`] (the Python
/// `FEATC_FLINK_PYTHON` names), in folder `tmp`; fails the test with Flink's errors and
/// `script` (the job as emitted) when the job fails.
fn run_on_flink(tmp: &Path, name: &str, statements: &[(&str, &str)], script: &str) {
    let python = std::env::var_os("FEATC_FLINK_PYTHON").map(PathBuf::from).expect(
        "FEATC_FLINK_PYTHON must name a Python with apache-flink: run the tests with scripts/test, which installs it",
    );
    let driver = tmp.join("driver.py");
    std::fs::write(&driver, DRIVER).unwrap();
    let job: Vec<serde_json::Value> =
        statements.iter().map(|(name, sql)| serde_json::json!({ "name": name, "sql": sql })).collect();
    let job_path = tmp.join(format!("{name}.json"));
    std::fs::write(&job_path, serde_json::to_vec(&job).unwrap()).unwrap();
    let run = std::process::Command::new(&python).arg(&driver).arg(&job_path).output().expect("python runs");
    let errors: Vec<String> =
        String::from_utf8_lossy(&run.stderr).lines().filter(|l| !l.contains(" WARN ")).map(str::to_owned).collect();
    assert!(run.status.success(), "{name}: the Flink job failed:\n{}\n{script}", errors.join("\n"));
}

/// The streaming job over Kafka (`featc plan --emit sql --dialect flink --from kafka`) runs on
/// Flink as emitted but for its connectors: PyFlink has no Kafka connector (and these machines
/// cannot fetch it), so the test gives the source table the fraud events as files, in the JSON
/// featc's producer writes (times in RFC 3339), and the sinks files (windows, appended) and a
/// `blackhole` (lifetime features, an upsert stream). Everything else, the watermarked
/// `TIMESTAMP_LTZ` event time, the streaming windows and the upsert sink's key, is Flink's own
/// planning and running of the emitted statements, and every windowed row is checked against
/// featc's definitions.
#[tokio::test]
async fn the_kafka_job_runs_on_flink_with_its_topics_as_files() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let case = fraud_as_ndjson(tmp).await;
    // The events as featc's producer writes them: times in RFC 3339 with their zone.
    let events = tmp.join("topic.ndjson");
    let mut lines = String::new();
    for line in std::fs::read_to_string(case.dir.join("data/transactions.ndjson")).unwrap().lines() {
        let mut row: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        let ms = featc_runtime::io::time::parse_event_time(row["ts"].as_str().unwrap()).unwrap();
        row.insert("ts".to_owned(), serde_json::Value::String(featc_runtime::io::time::rfc3339(ms)));
        lines.push_str(&serde_json::to_string(&row).unwrap());
        lines.push('\n');
    }
    std::fs::write(&events, lines).unwrap();

    let kafka = FlinkKafka {
        brokers: "broker.invalid:9092".to_owned(),
        group: "featc-flink".to_owned(),
        topics: vec![("transactions".to_owned(), "transactions".to_owned())],
        sink_prefix: "featc.".to_owned(),
    };
    let spec = FlinkJob { base_dir: None, output_dir: String::new(), kafka: Some(kafka) };
    let emitted = job(&case.ir, &spec).unwrap();
    let with = |sql: &str, options: &str| {
        let at = sql.rfind(") WITH (").unwrap_or_else(|| panic!("no options in {sql}"));
        format!("{}) WITH ({options})", &sql[..at])
    };
    let mut outputs = Vec::new();
    let mut statements = Vec::new();
    for s in &emitted.statements {
        let sql = if s.name.ends_with("__source") {
            assert!(
                s.sql.contains("'connector' = 'kafka'") && s.sql.contains("WATERMARK FOR `__featc_time`"),
                "{}",
                s.sql
            );
            with(
                &s.sql,
                &format!(
                    "'connector' = 'filesystem', 'path' = '{}', 'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601', 'json.ignore-parse-errors' = 'true'",
                    events.display()
                ),
            )
        } else if s.sql.contains("'connector' = 'upsert-kafka'") {
            assert!(s.sql.contains("PRIMARY KEY (`user_id`) NOT ENFORCED"), "{}", s.sql);
            with(&s.sql, "'connector' = 'blackhole'")
        } else if s.sql.contains("'connector' = 'kafka'") {
            let folder = tmp.join("out").join(s.name.trim_end_matches("__sink"));
            outputs.push((s.name.trim_end_matches("__sink").to_owned(), folder.clone()));
            with(
                &s.sql,
                &format!(
                    "'connector' = 'filesystem', 'path' = '{}', 'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601'",
                    folder.display()
                ),
            )
        } else {
            s.sql.clone()
        };
        statements.push((s.name.as_str(), sql));
    }
    assert!(outputs.len() >= 2, "{}", emitted.to_script());
    let statements: Vec<(&str, &str)> = statements.iter().map(|(n, sql)| (*n, sql.as_str())).collect();
    run_on_flink(tmp, "kafka", &statements, &emitted.to_script());
    let checked = check_rows(&case, &outputs);
    assert!(checked > 1000, "only {checked} rows checked");
}

/// Checks every row (every 20th of a statement over 20,000) each statement wrote under its
/// folder against the brute-force reference; returns how many rows were checked.
fn check_rows(case: &Case, outputs: &[(String, PathBuf)]) -> usize {
    let events = reference_events(case);
    let mut checked_rows = 0;
    for (name, folder) in outputs {
        let (gi, g) =
            case.ir.groups.iter().enumerate().find(|(_, g)| name.starts_with(&format!("{}__", g.name))).unwrap();
        let oracle = Oracle::new(&case.ir, gi, &events[gi]).unwrap();
        let written = rows(folder);
        assert!(!written.is_empty(), "{}/{}: Flink wrote nothing; the case tests nothing", case.name, name);
        // Every row, or every 20th of a statement with more than 20,000 (the fraud example's
        // sliding windows write 336,000, each checked against a brute-force computation).
        let step = if written.len() > 20_000 { 20 } else { 1 };
        for row in written.iter().step_by(step) {
            let key: Vec<Val> = g.keys.iter().map(|k| val(&row[&k.name], &k.ty.ty)).collect();
            // A window's value is featc's as of the last millisecond before its end.
            let t = match row.get("window_end") {
                Some(end) => match val(end, &Ty::Timestamp) {
                    Val::Ts(ms) => ms - 1,
                    other => panic!("window_end {other}"),
                },
                None => EVENT_TIME_MAX_MS,
            };
            let expected = oracle
                .key_at(&key, t)
                .unwrap()
                .unwrap_or_else(|| panic!("{}/{}: Flink wrote key {key:?}, which has no event", case.name, name));
            for (column, value) in
                row.iter().filter(|(c, _)| *c != "window_end" && !g.keys.iter().any(|k| &k.name == *c))
            {
                let at = g.outputs.iter().position(|o| o == column).unwrap_or_else(|| panic!("no feature {column}"));
                let a = g.aggregates.iter().find(|a| &a.name == column).unwrap();
                agrees_within(&expected[at], &val(value, &a.ty.ty)).unwrap_or_else(|e| {
                    panic!("{}/{} {key:?} at {t} {column}: Flink against featc's definition: {e}", case.name, name)
                });
            }
        }
        checked_rows += written.len().div_ceil(step);
        eprintln!(
            "{}/{}: {} rows checked of {}, every value as featc's definitions give it",
            case.name,
            name,
            written.len().div_ceil(step),
            written.len()
        );
    }
    checked_rows
}
