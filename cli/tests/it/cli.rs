//! The `featc` binary: exit codes, output formats and colour, run as a user would.

use crate::common::*;

/// A spec in the canonical layout; its only feature is on line 14, its argument at column 17.
const CLEAN: &str = "source s {
    event_time ts
    files      \"s.parquet\"
    schema {
        k: string,
        amount: f64,
        ts: timestamp,
    }
}

entity e { key k: string }

features g(e) from s {
    total = sum(amount) over lifetime
}
";

#[test]
fn check_of_the_examples_is_clean() {
    let out = featc(&["check", "--deny-warnings", "examples"], &root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("check ok: 2 files in 2 projects, 0 errors, 0 warnings"));
}

#[test]
fn errors_exit_1_warnings_exit_0_unless_denied() {
    let bad = CLEAN.replace("sum(amount)", "sum(k)");
    let dir = project(&[("bad.feat", &bad)]);
    let out = featc(&["check", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error[E0301]: `sum` takes a number, not `string`"), "{stderr}");
    assert!(stderr.contains("./bad.feat:14:17"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour when not on a terminal");

    let warned = CLEAN.replace("over lifetime", "over sliding(5m, every: 5m)");
    let dir = project(&[("warn.feat", &warned)]);
    assert_eq!(featc(&["check"], dir.path()).status.code(), Some(0));
    assert_eq!(featc(&["check", "--deny-warnings"], dir.path()).status.code(), Some(1));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = project(&[]);
    let missing = featc(&["check", "nope.feat"], dir.path());
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read nope.feat"));
    assert_eq!(featc(&["check"], dir.path()).status.code(), Some(2), "a folder without specs");
    assert_eq!(featc(&["check", "--format", "yaml"], dir.path()).status.code(), Some(2));
    assert_eq!(featc(&["frobnicate"], dir.path()).status.code(), Some(2));
}

#[test]
fn json_output_is_valid_and_complete() {
    let bad = CLEAN.replace("sum(amount)", "sum(amout)");
    let dir = project(&[("bad.feat", &bad)]);
    let out = featc(&["check", "--format", "json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(report["version"], 1);
    assert_eq!(report["summary"]["errors"], 1);
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "E0202");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["message"], "unknown field `amout`");
    assert_eq!(d["file"], "./bad.feat");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(14), Some(17)));
    let start = d["byte_start"].as_u64().expect("byte_start") as usize;
    let end = d["byte_end"].as_u64().expect("byte_end") as usize;
    assert_eq!(&bad[start..end], "amout");
    assert_eq!(d["help"], "did you mean `amount`?");
    assert_eq!(d["labels"][0]["primary"], true);
    assert!(d["labels"].as_array().is_some_and(|l| l.len() >= 2), "the source's label too");
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let dir = project(&[("bad.feat", &CLEAN.replace("sum(amount)", "sum(k)"))]);
    let out = featc(&["check", "--color", "always"], dir.path());
    assert!(text(&out.stderr).contains('\u{1b}'));
}

#[test]
fn explain_answers_for_every_code() {
    for code in featc::diagnostic::codes::ALL {
        let out = featc(&["explain", &code.id.to_lowercase()], &root());
        assert_eq!(out.status.code(), Some(0), "{}", code.id);
        assert!(text(&out.stdout).starts_with(&format!("# {}: {}", code.id, code.title)));
    }
    let out = featc(&["explain", "E9999"], &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no diagnostic code"));
}

#[test]
fn fmt_check_lists_unformatted_files_and_fmt_rewrites_them() {
    let messy = "source s { event_time ts\nfiles \"s.parquet\"\n  schema { k: string, x: f64, ts: timestamp } }\nentity e { key k: string }\nfeatures g(e) from s {\n total = sum( x ) over lifetime }\n";
    let dir = project(&[
        ("messy.feat", messy),
        (
            "clean.feat",
            &CLEAN
                .replace("s {", "t {")
                .replace("from s", "from t")
                .replace("g(e)", "h(e)")
                .replace("entity e { key k: string }\n\n", ""),
        ),
    ]);
    let out = featc(&["fmt", "--check"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("would reformat ./messy.feat") && !stdout.contains("clean.feat"), "{stdout}");
    assert_eq!(std::fs::read_to_string(dir.path().join("messy.feat")).ok().as_deref(), Some(messy), "--check wrote");

    assert_eq!(featc(&["fmt"], dir.path()).status.code(), Some(0));
    assert_eq!(featc(&["fmt", "--check"], dir.path()).status.code(), Some(0));
    let formatted = std::fs::read_to_string(dir.path().join("messy.feat")).expect("formatted file");
    assert!(formatted.contains("    total = sum(x) over lifetime\n"), "{formatted}");
    assert_eq!(featc(&["check"], dir.path()).status.code(), Some(0));
}

#[test]
fn a_file_reached_twice_is_checked_once() {
    let out = featc(&["check", "examples", "examples", "examples/fraud/fraud.feat"], &root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("check ok: 2 files in 2 projects"), "{}", text(&out.stderr));
}

#[test]
fn plan_prints_text_json_dot_and_sql() {
    let text_plan = featc(&["plan", "examples/fraud", "--target", "lambda"], &root());
    assert_eq!(text_plan.status.code(), Some(0), "{}", text(&text_plan.stderr));
    let stdout = text(&text_plan.stdout);
    assert!(stdout.starts_with("plan for target lambda") && stdout.contains("batch layer, every 1d:"), "{stdout}");
    let json = featc(&["plan", "examples/recsys", "--target", "kappa", "--format", "json"], &root());
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(value["format"], "featc.plan/v1");
    assert_eq!(value["target"], "kappa");
    let dot = featc(&["plan", "examples/recsys", "--target", "kappa", "--format", "dot"], &root());
    assert!(text(&dot.stdout).starts_with("digraph plan {"));
    for dialect in ["datafusion", "spark", "flink"] {
        let sql =
            featc(&["plan", "examples/fraud", "--target", "lambda", "--emit", "sql", "--dialect", dialect], &root());
        assert_eq!(sql.status.code(), Some(0));
        assert!(text(&sql.stdout).contains("SELECT"), "{dialect}");
    }
    // The streaming Flink job reads the topics of the project's Kafka settings, and needs them.
    let args =
        ["plan", "examples/fraud", "--target", "kappa", "--emit", "sql", "--dialect", "flink", "--from", "kafka"];
    let out = featc(&args, &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Kafka settings"), "{}", text(&out.stderr));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_featc"))
        .args(args)
        .env("FEATC_KAFKA_BROKERS", "broker-1:9092")
        .current_dir(root())
        .output()
        .expect("featc runs");
    let job = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for part in [
        "SET 'execution.runtime-mode' = 'streaming'",
        "'connector' = 'kafka', 'topic' = 'transactions', 'properties.bootstrap.servers' = 'broker-1:9092'",
        "WATERMARK FOR `__featc_time` AS `__featc_time` - INTERVAL '10' MINUTE",
        "'connector' = 'upsert-kafka', 'topic' = 'featc.user_fraud__lifetime'",
    ] {
        assert!(job.contains(part), "no {part} in\n{job}");
    }
}

#[test]
fn plan_refuses_a_project_with_errors_or_several_projects() {
    let dir = project(&[("bad.feat", &CLEAN.replace("sum(amount)", "sum(k)"))]);
    let out = featc(&["plan", ".", "--target", "kappa"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("error[E0301]"));
    assert_eq!(featc(&["plan", "examples", "--target", "kappa"], &root()).status.code(), Some(2));
    assert_eq!(featc(&["plan", "examples/fraud"], &root()).status.code(), Some(2), "--target is required");
}

#[test]
fn fmt_refuses_a_file_that_does_not_parse() {
    let dir = project(&[("broken.feat", "source s {\n    lateness 5 minutes\n}\n")]);
    let out = featc(&["fmt"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot format ./broken.feat"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("broken.feat")).ok().as_deref(),
        Some("source s {\n    lateness 5 minutes\n}\n")
    );
}

/// The recsys example's sample data, read independently of the runtime: per (user, category),
/// the counts of each event type among views, clicks and purchases.
fn recsys_counts() -> std::collections::HashMap<(String, String), (i64, i64, i64)> {
    recsys_counts_until("9999")
}

/// [`recsys_counts`] over the events at or before `until` (an RFC 3339 time, as the data
/// writes them, so that text order is time order).
fn recsys_counts_until(until: &str) -> std::collections::HashMap<(String, String), (i64, i64, i64)> {
    let text = std::fs::read_to_string(root().join("examples/recsys/data/user_events.ndjson")).expect("sample data");
    let mut counts = std::collections::HashMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("NDJSON line");
        if v["ts"].as_str().unwrap_or("") > until {
            continue;
        }
        let key =
            (v["user_id"].as_str().unwrap_or("").to_owned(), v["product_category"].as_str().unwrap_or("").to_owned());
        let e: &mut (i64, i64, i64) = counts.entry(key).or_default();
        match v["event_type"].as_str() {
            Some("view") => e.0 += 1,
            Some("click") => e.1 += 1,
            Some("purchase") => e.2 += 1,
            _ => {}
        }
    }
    counts
}

#[test]
fn materialize_writes_every_key_as_of_a_past_time() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let at = "2024-01-04T12:00:00.000Z";
    let out =
        featc(&["materialize", "examples/recsys", "--at", at, "--format", "csv", "--data-dir", data_dir], &root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let csv = std::fs::read_to_string(data.path().join("materialized/preferences.csv")).expect("CSV written");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let counts = recsys_counts_until(at);
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let key = (cells[col("user_id")].to_owned(), cells[col("product_category")].to_owned());
        let (views, clicks, purchases) = counts[&key];
        let got: Vec<i64> =
            ["views", "clicks", "purchases"].iter().map(|c| cells[col(c)].parse().expect("int")).collect();
        assert_eq!(got, vec![views, clicks, purchases], "{key:?}");
        assert_eq!(cells[col("as_of")], "2024-01-04T12:00:00Z");
        rows += 1;
    }
    // Every key with an event the group reads at or before the time, and no other.
    assert_eq!(rows, counts.values().filter(|c| **c != (0, 0, 0)).count());
    assert!(rows > 100, "{rows}");
    // The live state was left alone: no snapshot was written.
    assert!(!data.path().join("state/snapshot.json").exists());
}

/// Materializing reuses the live checkpoint where it holds no event after the time asked for,
/// and replays from offset 0 where it does; either way the features are a replay's.
#[test]
fn materialize_resumes_from_a_checkpoint_at_or_before_its_time() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    ok(&featc(&["run", "examples/recsys", "--target", "kappa", "--until-caught-up", "--data-dir", data_dir], &root()));
    let fresh = tempfile::tempdir().expect("temp dir");
    let fresh_dir = fresh.path().to_str().expect("utf-8 path");
    for (at, resumes) in [("2030-01-01T00:00:00.000Z", true), ("2024-01-04T12:00:00.000Z", false)] {
        let args = |dir: &str| {
            ["materialize", "examples/recsys", "--at", at, "--format", "csv", "--data-dir", dir].map(str::to_owned)
        };
        let said = ok(&featc(&args(data_dir).each_ref().map(String::as_str), &root()));
        assert_eq!(said.contains("resumed group `preferences` from its snapshot"), resumes, "{at}: {said}");
        assert_eq!(said.contains("replaying group `preferences` from offset 0"), !resumes, "{at}: {said}");
        ok(&featc(&args(fresh_dir).each_ref().map(String::as_str), &root()));
        let read = |dir: &std::path::Path| {
            std::fs::read_to_string(dir.join("materialized/preferences.csv")).expect("CSV written")
        };
        let (resumed, replayed) = (read(data.path()), read(fresh.path()));
        assert!(resumed.lines().count() > 100, "{resumed}");
        assert_eq!(resumed, replayed, "{at}: materialized from the checkpoint against a replay from offset 0");
    }
}

/// A run continues the checkpoint chain of the run before it (a delta of the keys it changed),
/// and materializing as of a time between two runs resumes from the last checkpoint at or
/// before it, giving what a replay from offset 0 gives.
#[test]
fn materialize_resumes_from_the_last_delta_at_or_before_its_time() {
    let (data, fresh, files) = (tempfile::tempdir(), tempfile::tempdir(), tempfile::tempdir());
    let (data, fresh, files) = (data.expect("temp dir"), fresh.expect("temp dir"), files.expect("temp dir"));
    let dir = |d: &tempfile::TempDir| d.path().to_str().expect("utf-8 path").to_owned();
    let (data_dir, fresh_dir) = (dir(&data), dir(&fresh));
    // The example's first 2,000 events again, in February, then in March.
    let events = std::fs::read_to_string(root().join("examples/recsys/data/user_events.ndjson")).expect("sample data");
    let month = |m: &str| {
        let lines: Vec<String> =
            events.lines().take(2000).map(|l| l.replace("\"2024-01-", &format!("\"2024-{m}-"))).collect();
        let path = files.path().join(format!("{m}.ndjson"));
        std::fs::write(&path, lines.join("\n") + "\n").expect("events written");
        path.to_str().expect("utf-8 path").to_owned()
    };
    let months = [month("02"), month("03")];
    let run = ["run", "examples/recsys", "--target", "kappa", "--until-caught-up", "--data-dir"];
    ok(&featc(&[&run[..], &[data_dir.as_str()]].concat(), &root()));
    for (n, file) in months.iter().enumerate() {
        for d in [&data_dir, &fresh_dir] {
            let append = ["log", "append", "examples/recsys", "--source", "user_events", file, "--data-dir", d];
            ok(&featc(&append, &root()));
        }
        let said = ok(&featc(&[&run[..], &[data_dir.as_str()]].concat(), &root()));
        // The second run resumes from the base; the third from the base and delta 1.
        let resumed = if n == 0 { "from its snapshot at".to_owned() } else { format!("(delta {n} of generation 1)") };
        assert!(said.contains("resumed group `preferences` from its snapshot") && said.contains(&resumed), "{said}");
    }
    let mut state: Vec<String> = std::fs::read_dir(data.path().join("state"))
        .expect("state written")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("preferences."))
        .map(|name| name.split('.').skip(2).collect::<Vec<_>>().join("."))
        .collect();
    state.sort();
    assert_eq!(state, ["1.1.delta", "1.2.delta", "1.base"], "a base, then a delta per run");
    for (at, resumed) in [
        ("2024-01-20T00:00:00.000Z", "from its snapshot at"),
        ("2024-02-20T00:00:00.000Z", "(delta 1 of generation 1)"),
        ("2024-03-20T00:00:00.000Z", "(delta 2 of generation 1)"),
    ] {
        let args = |d: &str| {
            ["materialize", "examples/recsys", "--at", at, "--format", "csv", "--data-dir", d].map(str::to_owned)
        };
        let said = ok(&featc(&args(&data_dir).each_ref().map(String::as_str), &root()));
        assert!(
            said.contains("resumed group `preferences` from its snapshot") && said.contains(resumed),
            "{at}: {said}"
        );
        let said = ok(&featc(&args(&fresh_dir).each_ref().map(String::as_str), &root()));
        assert!(!said.contains("resumed"), "{at}: {said}");
        let read =
            |d: &std::path::Path| std::fs::read_to_string(d.join("materialized/preferences.csv")).expect("CSV written");
        let (resumed, replayed) = (read(data.path()), read(fresh.path()));
        assert!(resumed.lines().count() > 100, "{resumed}");
        assert_eq!(resumed, replayed, "{at}: materialized from a checkpoint against a replay from offset 0");
    }
}

#[test]
fn run_replays_the_example_and_get_serves_its_features() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let run =
        featc(&["run", "examples/recsys", "--target", "kappa", "--until-caught-up", "--data-dir", data_dir], &root());
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("seeded log `user_events` with 20000 events"), "{stderr}");
    assert!(stderr.contains("replayed 20000 events"), "{stderr}");

    let counts = recsys_counts();
    let mut keys: Vec<_> = counts.keys().cloned().collect();
    keys.sort();
    for (user, category) in keys.iter().step_by(97).take(12) {
        let out = featc(
            &[
                "get",
                "examples/recsys",
                "--key",
                &format!("user_id={user}"),
                "--key",
                &format!("product_category={category}"),
                "--data-dir",
                data_dir,
            ],
            &root(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let f = &v[0]["features"];
        let (views, clicks, purchases) = counts[&(user.clone(), category.clone())];
        assert_eq!(
            (f["views"].as_i64(), f["clicks"].as_i64(), f["purchases"].as_i64()),
            (Some(views), Some(clicks), Some(purchases)),
            "{user}/{category}"
        );
        assert_eq!(f["preference_score"].as_f64(), Some((purchases * 10 + clicks * 2 + views) as f64));
    }
    // The second run reads the existing log; it does not seed it again.
    let again =
        featc(&["run", "examples/recsys", "--target", "kappa", "--until-caught-up", "--data-dir", data_dir], &root());
    assert!(!text(&again.stderr).contains("seeded"), "{}", text(&again.stderr));
}

#[test]
fn example_data_is_what_the_deterministic_generator_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (example, file) in [("fraud", "transactions.parquet"), ("recsys", "user_events.ndjson")] {
        let out = featc(&["example-data", example, "--dir", dir.path().to_str().expect("utf-8")], &root());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let fresh = std::fs::read(dir.path().join(example).join("data").join(file)).expect("generated");
        let bundled = std::fs::read(root().join("examples").join(example).join("data").join(file)).expect("bundled");
        assert!(fresh == bundled, "examples/{example}/data/{file} differs from the generator's output");
    }
}

#[test]
fn malformed_events_reach_the_dead_letters_and_the_rest_is_counted() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().to_str().expect("utf-8 path");
    let extra = data.path().join("more.ndjson");
    std::fs::write(
        &extra,
        "{\"user_id\": \"zz\", \"product_category\": \"books\", \"event_type\": \"view\", \"ts\": \"2024-02-01T00:00:00Z\"}\n\
         {\"user_id\": \"zz\", \"product_category\": \n\
         {\"user_id\": \"zz\", \"product_category\": \"books\", \"event_type\": \"view\", \"ts\": \"last tuesday\"}\n\
         {\"user_id\": \"zz\", \"product_category\": \"books\", \"event_type\": \"click\", \"ts\": \"2024-02-01T00:00:05Z\"}\n\
         {\"user_id\": \"zz\", \"product_category\": null, \"event_type\": \"click\", \"ts\": \"2024-02-01T00:00:06Z\"}\n",
    )
    .expect("write events");
    let run =
        featc(&["run", "examples/recsys", "--target", "kappa", "--until-caught-up", "--data-dir", data_dir], &root());
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let append = featc(
        &[
            "log",
            "append",
            "examples/recsys",
            "--source",
            "user_events",
            extra.to_str().expect("utf-8"),
            "--data-dir",
            data_dir,
        ],
        &root(),
    );
    assert_eq!(append.status.code(), Some(0), "{}", text(&append.stderr));
    assert!(text(&append.stderr).contains("appended 3 events"), "{}", text(&append.stderr));
    // A line that is not JSON and a time that is not one are rejected as they are read.
    assert!(text(&append.stderr).contains("2 malformed lines dead-lettered"), "{}", text(&append.stderr));
    let rejected =
        std::fs::read_to_string(data.path().join("dead_letters/user_events.appended.ndjson")).expect("rejected");
    assert!(rejected.contains("`last tuesday` is not an RFC 3339 time"), "{rejected}");
    let again =
        featc(&["run", "examples/recsys", "--target", "kappa", "--until-caught-up", "--data-dir", data_dir], &root());
    assert!(text(&again.stderr).contains("1 dead-lettered"), "{}", text(&again.stderr));
    // The group's dead letters, one file per group and version, appended to and never doubled.
    let file = std::fs::read_dir(data.path().join("dead_letters"))
        .expect("dead letters")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("preferences.")))
        .expect("the group's dead-letter file");
    let dead = std::fs::read_to_string(&file).expect("dead letters");
    assert!(dead.contains("null"), "{dead}");
    assert!(dead.contains("\"seq\":0") && dead.lines().count() == 1, "{dead}");
    let third =
        featc(&["run", "examples/recsys", "--target", "kappa", "--until-caught-up", "--data-dir", data_dir], &root());
    assert_eq!(third.status.code(), Some(0), "{}", text(&third.stderr));
    assert_eq!(std::fs::read_to_string(&file).expect("dead letters"), dead, "nothing written twice");
    let out = featc(
        &["get", "examples/recsys", "--key", "user_id=zz", "--key", "product_category=books", "--data-dir", data_dir],
        &root(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((v[0]["features"]["views"].as_i64(), v[0]["features"]["clicks"].as_i64()), (Some(1), Some(1)));
}
