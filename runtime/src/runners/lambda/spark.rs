//! A project and a cutoff in, its batch view computed by Spark out: featc writes the emitted
//! Spark job (`featc::sql::spark`) and a small PySpark driver into the data directory, runs
//! them with `spark-submit` on the master given (local by default, a cluster's as well), checks
//! that every statement wrote its results, and installs them ([`super::partials`]).
//!
//! The run's folder, `<data-dir>/spark/run/`, holds what a person needs to look into or repeat
//! it: `job.sql` (runs as is with `spark-sql -f`), `job.json` (the same statements, which the
//! driver reads), `driver.py`, Spark's log `spark.log`, and the results under `out/`, one folder
//! of Parquet files per statement. It is replaced by the next run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use featc::ir::FeatureIr;
use featc::sql::spark::{SparkJob, job};

use crate::runners::lambda::batch::BatchView;

/// The PySpark driver: runs each statement of the job file in order.
const DRIVER: &str = r#"# Written by featc: runs the statements of a featc Spark job in order.
import json
import sys

from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("featc batch").getOrCreate()
with open(sys.argv[1]) as f:
    statements = json.load(f)
for s in statements:
    spark.sql(s["sql"])
spark.stop()
"#;

/// How to reach Spark.
#[derive(Debug, Clone)]
pub struct SparkRun {
    /// The `spark-submit` launcher.
    pub spark_submit: PathBuf,
    /// Spark's master URL: `local[*]`, `spark://...`, `yarn`, `k8s://...`.
    pub master: String,
}

impl SparkRun {
    /// `spark-submit` under `$SPARK_HOME/bin`, else the one on the `PATH`; master `local[*]`.
    pub fn from_env() -> SparkRun {
        let spark_submit = std::env::var_os("SPARK_HOME")
            .map(|home| PathBuf::from(home).join("bin").join("spark-submit"))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("spark-submit"));
        SparkRun { spark_submit, master: "local[*]".to_owned() }
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs the project's Spark job at `cutoff` and installs its results as the batch view;
/// `progress` is told the events featc itself reads (session windows).
pub fn compute(
    ir: &FeatureIr,
    project_dir: &Path,
    data_dir: &Path,
    cutoff: i64,
    run: &SparkRun,
    progress: &mut dyn FnMut(u64),
) -> Result<BatchView, String> {
    let folder = absolute(&data_dir.join("spark").join("run"));
    if folder.exists() {
        std::fs::remove_dir_all(&folder).map_err(|e| format!("cannot clear {}: {e}", folder.display()))?;
    }
    std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let out = folder.join("out");
    let spec = SparkJob {
        cutoff_ms: Some(cutoff),
        base_dir: Some(absolute(project_dir).to_string_lossy().into_owned()),
        output_dir: out.to_string_lossy().into_owned(),
    };
    let emitted = job(ir, &spec)?;
    for note in &emitted.notes {
        tracing::info!("spark job: {note}");
    }
    write(&folder.join("job.sql"), emitted.to_script().as_bytes())?;
    let statements: Vec<serde_json::Value> =
        emitted.statements.iter().map(|s| serde_json::json!({ "name": s.name, "sql": s.sql })).collect();
    let json = serde_json::to_vec_pretty(&statements).map_err(|e| e.to_string())?;
    write(&folder.join("job.json"), &json)?;
    write(&folder.join("driver.py"), DRIVER.as_bytes())?;

    let log_path = folder.join("spark.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    tracing::info!(
        "running the batch job on Spark ({} --master {}); its log: {}",
        run.spark_submit.display(),
        run.master,
        log_path.display()
    );
    let status = Command::new(&run.spark_submit)
        .args(["--master", &run.master, "--name", "featc batch"])
        .arg(folder.join("driver.py"))
        .arg(folder.join("job.json"))
        .current_dir(&folder)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(|e| {
            format!("cannot run {}: {e} (set SPARK_HOME or pass --spark-submit)", run.spark_submit.display())
        })?;
    if !status.success() {
        return Err(format!("the Spark job failed ({status}):\n{}", log_tail(&log_path)));
    }
    // Every statement wrote its results and marked them complete.
    for s in emitted.statements.iter().filter_map(|s| s.output.as_ref().map(|o| (s, o))) {
        let (s, output) = s;
        if !Path::new(output).join("_SUCCESS").is_file() {
            return Err(format!("the Spark job wrote no complete results for `{}` in {output}", s.name));
        }
    }
    super::partials::install(ir, project_dir, &out, cutoff, progress)
}

/// The last lines of Spark's log that say what went wrong (its warnings and notes left out).
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> =
        text.lines().filter(|l| !l.contains(" WARN ") && !l.contains(" INFO ") && !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}
