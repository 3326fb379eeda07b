//! `featc batch --engine spark` and `featc verify --engine spark` run as a user would, on real
//! Spark (pyspark's `spark-submit`, `local[2]`; scripts/test installs it and sets SPARK_HOME):
//! the batch view Spark computed serves every feature exactly as the one featc computes, and a
//! broken launcher is a clear error, not a half-written view.

use crate::common::*;

fn spark_home() -> String {
    std::env::var("SPARK_HOME")
        .expect("SPARK_HOME must name Spark (pyspark's folder): run the tests with scripts/test, which installs it")
}

#[test]
fn a_batch_view_built_by_spark_verifies_with_no_difference() {
    let _ = spark_home();
    for example in ["examples/fraud", "examples/recsys"] {
        let data = tempfile::tempdir().expect("temp dir");
        let data_dir = data.path().to_str().expect("utf-8");
        let out =
            featc(&["batch", example, "--engine", "spark", "--master", "local[2]", "--data-dir", data_dir], &root());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{example}: {stderr}");
        assert!(stderr.contains("running the batch job on Spark"), "{stderr}");
        assert!(stderr.contains("batch view as of"), "{stderr}");
        // The run's files, for a person to look into or repeat it.
        let run = data.path().join("spark/run");
        for file in ["job.sql", "job.json", "driver.py", "spark.log"] {
            assert!(run.join(file).is_file(), "{example}: no {file}");
        }
        assert!(data.path().join("batch/CURRENT").is_file(), "{example}: no view installed");

        let out =
            featc(&["verify", example, "--engine", "spark", "--master", "local[2]", "--data-dir", data_dir], &root());
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{example}: {stdout}{}", text(&out.stderr));
        assert!(stdout.contains(": 0 differences"), "{stdout}");
        let keys: u64 = stdout.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("key count");
        assert!(keys > 100, "{stdout}");
    }
}

#[test]
fn a_spark_job_that_cannot_run_leaves_no_view() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().to_str().expect("utf-8");
    let missing = data.path().join("no-spark-submit");
    let out = featc(
        &[
            "batch",
            "examples/fraud",
            "--engine",
            "spark",
            "--spark-submit",
            missing.to_str().expect("utf-8"),
            "--data-dir",
            data_dir,
        ],
        &root(),
    );
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cannot run") && stderr.contains("no-spark-submit"), "{stderr}");
    assert!(!data.path().join("batch/CURRENT").exists(), "a view was installed: {stderr}");
}

/// A tool named by an environment variable that scripts/test sets.
fn tool(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} must be set: run the tests with scripts/test, which installs it"))
}

/// The batch view's Parquet file is for people too: Spark SQL and pandas read its partials as
/// they are, and agree with each other and with featc on the keys and the counts it holds.
#[test]
fn the_batch_view_reads_in_spark_and_pandas() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().to_str().expect("utf-8");
    let out = featc(&["batch", "examples/fraud", "--data-dir", data_dir], &root());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let keys: u64 = stderr
        .split(" keys)")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no key count in {stderr}"));
    let views = data.path().join("batch/views");
    let file = std::fs::read_dir(&views).expect("views").next().expect("a view file").expect("entry").path();
    let file = file.to_str().expect("utf-8");

    // pandas (with pyarrow), from the Flink tests' Python.
    let script = format!(
        "import pandas as pd\ndf = pd.read_parquet({file:?})\nprint(df['user_id'].nunique(), int(df['lifetime_transactions__count'].sum()), int(df['p95_amount_30d__positive_count'].dropna().map(len).sum()))\n"
    );
    let pandas = std::process::Command::new(tool("FEATC_FLINK_PYTHON")).args(["-c", &script]).output().expect("python");
    assert!(pandas.status.success(), "{}", text(&pandas.stderr));
    let pandas = text(&pandas.stdout).trim().to_owned();

    let _ = spark_home();
    let sql = format!(
        "SELECT count(DISTINCT user_id), sum(lifetime_transactions__count), sum(size(p95_amount_30d__positive_count)) FROM parquet.`{file}` -- featc"
    );
    let spark = std::process::Command::new(tool("FEATC_SPARK_SQL"))
        .args(["--master", "local[2]", "-S", "-e", &sql])
        // Spark leaves its metastore in the folder it runs in.
        .current_dir(data.path())
        .output()
        .expect("spark-sql");
    assert!(spark.status.success(), "{}", text(&spark.stderr));
    let spark_out = text(&spark.stdout);
    let spark = spark_out.lines().last().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");

    assert_eq!(pandas, spark, "pandas and Spark read the view differently");
    let fields: Vec<u64> = pandas.split(' ').map(|n| n.parse().expect("a number")).collect();
    assert_eq!(fields[0], keys, "{pandas}");
    assert!(fields[1] >= keys && fields[2] > 0, "{pandas}");
}
