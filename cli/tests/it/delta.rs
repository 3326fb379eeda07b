//! Delta Lake as a source's history and stream and as featc's output, over real tables on
//! disk: written by featc and by the Python `deltalake` package (delta-rs's own binding, with
//! pyarrow: an independent writer and reader), the features compared with those of the same
//! events as Parquet, a pinned training set reproduced after more commits, a killed run
//! restarted, bad tables and rows refused or dead-lettered.
//!
//! `FEATC_PYTHON` names the Python with the package; `scripts/test` installs it. These tests
//! fail without it, they never skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// Runs a Python script in `dir`; gives its standard output. The interpreter exits through
/// `os._exit` (pyarrow and deltalake can abort in their teardown).
fn python(script: &str, dir: &Path) -> String {
    let py = std::env::var("FEATC_PYTHON")
        .expect("FEATC_PYTHON names a Python with the deltalake and pyarrow packages (scripts/test installs them)");
    let script = format!("import os, sys\n{script}\nsys.stdout.flush()\nsys.stderr.flush()\nos._exit(0)\n");
    let out = Command::new(py).arg("-c").arg(&script).current_dir(dir).output().expect("python runs");
    assert!(out.status.success(), "python failed:\n{script}\n{}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// The fraud example twice under `dir`: `parquet/` as shipped, and `delta/` whose history is a
/// Delta table written by Python from the same file in `commits` commits.
fn fraud_projects(dir: &Path, commits: usize) -> (PathBuf, PathBuf) {
    let example = root().join("examples/fraud");
    let spec = std::fs::read_to_string(example.join("fraud.feat")).expect("spec");
    let (parquet, delta) = (dir.join("parquet"), dir.join("delta"));
    for p in [&parquet, &delta] {
        std::fs::create_dir_all(p.join("data")).expect("folder");
        std::fs::copy(example.join("spine.csv"), p.join("spine.csv")).expect("spine");
    }
    std::fs::write(parquet.join("fraud.feat"), &spec).expect("spec");
    std::fs::copy(example.join("data/transactions.parquet"), parquet.join("data/transactions.parquet")).expect("data");
    let delta_spec = spec.replace("\"data/transactions.parquet\"", "\"data/transactions\" format delta");
    assert_ne!(delta_spec, spec, "the example's files binding changed: update this test");
    std::fs::write(delta.join("fraud.feat"), delta_spec).expect("spec");
    python(
        &format!(
            "import pyarrow.parquet as pq, deltalake
t = pq.read_table('parquet/data/transactions.parquet')
n, k = t.num_rows, {commits}
for i in range(k):
    deltalake.write_deltalake('delta/data/transactions', t.slice(i * n // k, (i + 1) * n // k - i * n // k), mode='append')
print(deltalake.DeltaTable('delta/data/transactions').version())"
        ),
        dir,
    );
    (parquet, delta)
}

fn run(args: &[&str], dir: &Path) -> String {
    ok(&featc(args, dir))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_delta_source_gives_the_features_of_the_same_events_as_parquet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (parquet, delta) = fraud_projects(dir.path(), 3);
    let at = "2030-01-01T00:00:00Z";
    for target in ["kappa", "lambda"] {
        for p in [&parquet, &delta] {
            run(&["materialize", ".", "--target", target, "--at", at, "--format", "csv", "--out", target], p);
        }
        let (a, b) =
            (read(&parquet.join(target).join("user_fraud.csv")), read(&delta.join(target).join("user_fraud.csv")));
        assert_eq!(a.lines().count(), 1802, "{target}: a header and 1,801 keys");
        assert!(a == b, "{target}: the Delta source's features differ from Parquet's");
    }
    // The batch layer read the table (Lambda) and the stream replayed it (Kappa); the reference
    // agrees with both over the table's events.
    let verified = run_stdout(&["verify", "."], &delta);
    assert!(verified.contains("1801 keys") && verified.contains(": 0 differences"), "{verified}");
    let plan = text(&featc(&["plan", ".", "--target", "kappa"], &delta).stdout);
    assert!(plan.contains("stream: Delta table data/transactions, commit by commit from version 0"), "{plan}");
}

#[test]
fn a_training_set_pinned_to_a_version_is_reproduced_after_more_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, delta) = fraud_projects(dir.path(), 2);
    let said = run(&["training-set", ".", "--spine", "spine.csv", "--out", "first.parquet"], &delta);
    assert!(said.contains("to read the same again: --as-of-version transactions=1"), "{said}");
    let metadata = python(
        "import pyarrow.parquet as pq, json
print(json.loads(pq.read_metadata('first.parquet').metadata[b'featc'])['reproduce'])",
        &delta,
    );
    assert_eq!(metadata.trim(), "--as-of-version transactions=1");

    // New events for the same users and times arrive in a third commit.
    python(
        "import deltalake
t = deltalake.DeltaTable('data/transactions', version=0).to_pyarrow_table()
deltalake.write_deltalake('data/transactions', t.slice(0, 3000), mode='append')",
        &delta,
    );
    run(&["training-set", ".", "--spine", "spine.csv", "--out", "latest.parquet"], &delta);
    run(
        &["training-set", ".", "--spine", "spine.csv", "--out", "again.parquet", "--as-of-version", "transactions=1"],
        &delta,
    );
    // The same pin written in the spec.
    let spec = read(&delta.join("fraud.feat"));
    std::fs::write(delta.join("fraud.feat"), spec.replace("format delta", "format delta version 1")).expect("spec");
    run(&["training-set", ".", "--spine", "spine.csv", "--out", "spec.parquet"], &delta);
    let compared = python(
        "import pyarrow.parquet as pq
first, latest, again, spec = (pq.read_table(f + '.parquet') for f in ['first', 'latest', 'again', 'spec'])
print(first.equals(again), first.equals(spec), first.equals(latest), first.num_rows)",
        &delta,
    );
    assert_eq!(compared.trim(), "True True False 24", "pinned equal, latest different (the new commit counts)");
    std::fs::write(delta.join("fraud.feat"), spec).expect("spec");

    let missing = featc(&["training-set", ".", "--spine", "spine.csv", "--as-of-version", "9"], &delta);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("there is no version 9 (the latest is 2)"), "{}", text(&missing.stderr));
    let early =
        featc(&["training-set", ".", "--spine", "spine.csv", "--as-of-timestamp", "2001-01-01T00:00:00Z"], &delta);
    assert!(text(&early.stderr).contains("no version at or before 2001-01-01"), "{}", text(&early.stderr));
}

#[test]
fn tables_featc_writes_read_back_with_their_metadata() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, delta) = fraud_projects(dir.path(), 1);
    let (t1, t2) = ("2024-01-15T00:00:00Z", "2024-01-20T00:00:00Z");
    for at in [t1, t2] {
        let said = run(&["materialize", ".", "--at", at, "--format", "delta", "--out", "store"], &delta);
        assert!(said.contains("Delta version"), "{said}");
    }
    run(&["materialize", ".", "--at", t1, "--format", "parquet", "--out", "plain"], &delta);
    // Made twice: the second replaces the first in a new version.
    for _ in 0..2 {
        run(&["training-set", ".", "--spine", "spine.csv", "--format", "delta", "--out", "training"], &delta);
    }
    let checked = python(
        "import deltalake, pyarrow as pa, pyarrow.parquet as pq
store = deltalake.DeltaTable('store/user_fraud.delta')
print(store.version())
first = [h for h in store.history() if h['version'] == 0][0]
print(first['featc.as_of'], first['featc.group'], first['featc.sources']['transactions']['version'], first['featc.reproduce'])
def times_in_us(t):
    return t.cast(pa.schema([pa.field(f.name, pa.timestamp('us', tz='UTC') if pa.types.is_timestamp(f.type) else f.type) for f in t.schema]))
v0 = times_in_us(deltalake.DeltaTable('store/user_fraud.delta', version=0).to_pyarrow_table())
plain = times_in_us(pq.read_table('plain/user_fraud.parquet'))
print(v0.num_rows, v0.sort_by('user_id').to_pylist() == plain.sort_by('user_id').to_pylist())
training = deltalake.DeltaTable('training')
print(training.history()[0]['featc.command'], training.history()[0]['featc.reproduce'], training.to_pyarrow_table().num_rows, training.version())",
        &delta,
    );
    let lines: Vec<&str> = checked.lines().collect();
    assert_eq!(lines[0], "1", "two commits, one per run");
    assert_eq!(lines[1], "2024-01-15T00:00:00.000Z user_fraud 0 --as-of-version transactions=0");
    assert!(lines[2].ends_with(" True"), "the Delta table holds what the Parquet file holds: {}", lines[2]);
    assert_eq!(lines[3], "training-set --as-of-version transactions=0 24 1");

    // A running pipeline's feature snapshots: as of the stream's now, equal to `materialize`.
    run(&["run", ".", "--target", "kappa", "--until-caught-up", "--features-to", "snapshots"], &delta);
    let as_of = python(
        "import deltalake
import glob
table = glob.glob('snapshots/user_fraud.*.delta')[0]
h = deltalake.DeltaTable(table).history()[0]
print(h['featc.command'], h['featc.as_of'])",
        &delta,
    );
    let (command, as_of) = as_of.trim().split_once(' ').expect("two words");
    assert_eq!(command, "run");
    run(&["materialize", ".", "--at", as_of, "--format", "parquet", "--out", "at-snapshot"], &delta);
    let same = python(
        "import deltalake, pyarrow as pa, pyarrow.parquet as pq
def times_in_us(t):
    return t.cast(pa.schema([pa.field(f.name, pa.timestamp('us', tz='UTC') if pa.types.is_timestamp(f.type) else f.type) for f in t.schema]))
import glob
table = glob.glob('snapshots/user_fraud.*.delta')[0]
a = times_in_us(deltalake.DeltaTable(table).to_pyarrow_table()).sort_by('user_id').to_pylist()
b = times_in_us(pq.read_table('at-snapshot/user_fraud.parquet')).sort_by('user_id').to_pylist()
print(len(a), a == b)",
        &delta,
    );
    assert_eq!(same.trim(), "1801 True", "the snapshot holds what materialize gives at its time");
}

#[test]
fn bad_tables_are_clear_errors_and_bad_rows_dead_letters() {
    let dir = project(&[(
        "spend.feat",
        "source events {
    event_time ts
    lateness   1m
    files      \"events\" format delta
    schema { user_id: string, amount: f64, ts: timestamp }
}

entity user { key user_id: string }

features spend(user) from events {
    total = sum(amount) over lifetime
    n     = count()     over lifetime
}
",
    )]);
    let dir = dir.path();
    let missing = featc(&["run", ".", "--target", "kappa", "--until-caught-up"], dir);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("is not a Delta table"), "{}", text(&missing.stderr));

    // A null key is dead-lettered with its reason; the rest counts.
    python(
        "import deltalake, pyarrow as pa, datetime
ts = [datetime.datetime(2024, 1, 1, 0, m, tzinfo=datetime.timezone.utc) for m in range(4)]
t = pa.table({'user_id': ['a', None, 'b', 'a'], 'amount': [1.5, 2.0, 4.0, 8.25], 'ts': ts, 'extra': [1, 2, 3, 4]})
deltalake.write_deltalake('events', t)",
        dir,
    );
    let said = run(&["run", ".", "--target", "kappa", "--until-caught-up"], dir);
    assert!(said.contains("4 events") && said.contains("3 counted, 1 dead-lettered"), "{said}");
    let key = run_stdout(&["get", ".", "--key", "user_id=a"], dir);
    assert!(key.contains("\"total\": 9.75") && key.contains("\"n\": 2"), "{key}");

    // A schema change that still fits (a new column) goes on; one that does not is E0800.
    python(
        "import deltalake, pyarrow as pa, datetime
ts = [datetime.datetime(2024, 1, 1, 1, 0, tzinfo=datetime.timezone.utc)]
t = pa.table({'user_id': ['a'], 'amount': [1.0], 'ts': ts, 'extra': [5], 'more': ['x']})
deltalake.write_deltalake('events', t, mode='append', schema_mode='merge')",
        dir,
    );
    let key = run_stdout(&["get", ".", "--key", "user_id=a"], dir);
    assert!(key.contains("\"total\": 10.75") && key.contains("\"n\": 3"), "{key}");
    python(
        "import deltalake, pyarrow as pa, datetime
ts = [datetime.datetime(2024, 1, 1, 2, 0, tzinfo=datetime.timezone.utc)]
t = pa.table({'user_id': ['a'], 'amount': ['lots'], 'ts': ts})
deltalake.write_deltalake('wrong', t)",
        dir,
    );
    std::fs::write(
        dir.join("spend.feat"),
        std::fs::read_to_string(dir.join("spend.feat")).expect("spec").replace("\"events\" format", "\"wrong\" format"),
    )
    .expect("spec");
    let wrong = featc(&["run", ".", "--target", "kappa", "--until-caught-up", "--data-dir", "other"], dir);
    assert_eq!(wrong.status.code(), Some(2));
    let stderr = text(&wrong.stderr);
    assert!(stderr.contains("error[E0800]") && stderr.contains("field `amount`: the table has Utf8"), "{stderr}");
    let explained = run_stdout(&["explain", "E0800"], dir);
    assert!(explained.starts_with("# E0800"), "{explained}");
}

fn run_stdout(args: &[&str], dir: &Path) -> String {
    let out = featc(args, dir);
    ok(&out);
    text(&out.stdout)
}

fn spawn(args: &[&str], dir: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_featc"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("featc starts")
}

/// A Delta-bound source of events with ids, and a group over it with a sliding window.
const EVENTS_SPEC: &str = "source events {
    event_time ts
    lateness   30s
    files      \"events\" format delta
    schema { id: i64, user_id: string, amount: f64, ts: timestamp }
}

entity user { key user_id: string }

features spend(user) from events {
    n      = count()           over lifetime
    total  = sum(amount)       over lifetime
    recent = sum(amount)       over sliding(2m, every: 30s)
    last   = last(id)          over lifetime
}
";

/// Events of `user` 0..8 at one-second steps from `start` (seconds into 2024), as NDJSON.
fn ndjson(first_id: i64, count: i64, start: i64) -> String {
    (0..count)
        .map(|i| {
            let id = first_id + i;
            let ts = featc_runtime::io::time::rfc3339(1_704_067_200_000 + (start + i) * 1000);
            format!("{{\"id\":{id},\"user_id\":\"u{}\",\"amount\":{}.25,\"ts\":\"{ts}\"}}\n", id % 8, id % 100)
        })
        .collect()
}

#[test]
fn a_killed_run_over_a_delta_stream_restarts_to_the_features_of_an_uninterrupted_one() {
    let dir = project(&[("spend.feat", EVENTS_SPEC)]);
    let dir = dir.path();
    // The history, the table's first commit; then a commit per file while a following `run`
    // is killed at random instants.
    std::fs::write(dir.join("history.ndjson"), ndjson(0, 500, 0)).expect("history");
    run(&["log", "append", ".", "--source", "events", "history.ndjson"], dir);
    let files = 12;
    for f in 0..files {
        std::fs::write(dir.join(format!("f{f:02}.ndjson")), ndjson(1000 + f * 200, 200, 500 + f * 200)).expect("file");
    }
    let log = dir.join("run.log");
    let mut seed: u64 = 0x00de_17a5;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut kills = 0;
    for f in 0..files {
        let mut runner = spawn(&["run", ".", "--target", "kappa", "--checkpoint-every", "1"], dir, &log);
        run(&["log", "append", ".", "--source", "events", &format!("f{f:02}.ndjson")], dir);
        std::thread::sleep(Duration::from_millis(50 + next() % 1500));
        if let Some(status) = runner.try_wait().expect("wait") {
            panic!("run stopped by itself ({status}): {}", read(&log));
        }
        runner.kill().expect("kill");
        runner.wait().expect("reap");
        kills += 1;
    }
    let resumed = run(&["run", ".", "--target", "kappa", "--until-caught-up"], dir);
    assert!(resumed.contains("resumed group `spend` from its snapshot"), "{resumed}");
    run(&["run", ".", "--target", "kappa", "--until-caught-up", "--data-dir", "reference"], dir);
    let versions = python("import deltalake\nprint(deltalake.DeltaTable('events').version())", dir);
    assert_eq!(versions.trim(), files.to_string(), "the history and one commit per file");
    for user in 0..8 {
        let key = format!("user_id=u{user}");
        let a = run_stdout(&["get", ".", "--key", &key], dir);
        let b = run_stdout(&["get", ".", "--key", &key, "--data-dir", "reference"], dir);
        assert!(a.contains("\"n\": ") && a == b, "u{user} after {kills} kills: {a} against {b}");
    }
    assert!(
        checkpoints(&dir.join(".featc")) == checkpoints(&dir.join("reference")),
        "the state differs from the uninterrupted run's"
    );
}

/// The README's steps for the fraud example with its history in Delta Lake, as written there.
#[test]
fn the_readme_runs_the_fraud_example_from_a_delta_table() {
    let readme = read(&root().join("README.md"));
    let start = readme.find("mkdir -p /tmp/fraud-delta").expect("the README's Delta steps");
    let steps: Vec<&str> = readme[start..].lines().take_while(|l| !l.starts_with("```")).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("fraud-delta");
    let mut last = String::new();
    for step in steps.iter().filter(|l| !l.starts_with('#')) {
        // The README's commands with the temporary folder for /tmp/fraud-delta and the binary
        // for `cargo run`.
        let step = step.replace("/tmp/fraud-delta", &copy.to_string_lossy());
        let out = match step.strip_prefix("cargo run --release -p featc-cli -- ") {
            Some(args) => featc(&args.split_whitespace().collect::<Vec<_>>(), &root()),
            None => Command::new("sh").arg("-c").arg(&step).current_dir(root()).output().expect("sh"),
        };
        last = ok(&out);
    }
    assert!(steps.len() >= 6, "{steps:?}");
    assert!(last.contains("wrote 24 training rows") && last.contains("transactions=0"), "{last}");
    assert!(copy.join("spine.features.parquet").is_file(), "the training set is written beside the spine");
}

/// A restart lists the table's log from its checkpoint's version on: the commits before it may
/// be gone (cleaned up after a Delta checkpoint), and a replay from version 0 says so.
#[test]
fn a_restart_reads_only_the_commits_after_its_checkpoint() {
    let dir = project(&[("spend.feat", EVENTS_SPEC)]);
    let dir = dir.path();
    for (f, (first, start)) in [(0, 0), (300, 300), (600, 600)].into_iter().enumerate() {
        std::fs::write(dir.join(format!("f{f}.ndjson")), ndjson(first, 300, start)).expect("file");
    }
    run(&["log", "append", ".", "--source", "events", "f0.ndjson", "f1.ndjson"], dir);
    for data in [".featc", "reference"] {
        run(&["run", ".", "--target", "kappa", "--until-caught-up", "--data-dir", data], dir);
    }
    let full = run_stdout(&["get", ".", "--key", "user_id=u3"], dir);
    // The table is checkpointed and its first commit cleaned up; then a third commit lands.
    python(
        "import deltalake, os
deltalake.DeltaTable('events').create_checkpoint()
os.remove('events/_delta_log/00000000000000000000.json')",
        dir,
    );
    run(&["log", "append", ".", "--source", "events", "f2.ndjson"], dir);
    for data in [".featc", "reference"] {
        let said = run(&["run", ".", "--target", "kappa", "--until-caught-up", "--data-dir", data], dir);
        assert!(said.contains("replayed 300 events"), "only the new commit is read: {said}");
    }
    let a = run_stdout(&["get", ".", "--key", "user_id=u3"], dir);
    assert!(a != full && a == run_stdout(&["get", ".", "--key", "user_id=u3", "--data-dir", "reference"], dir));
    let fresh = featc(&["run", ".", "--target", "kappa", "--until-caught-up", "--data-dir", "fresh"], dir);
    assert_eq!(fresh.status.code(), Some(2));
    assert!(text(&fresh.stderr).contains("version 0 is no longer in its log"), "{}", text(&fresh.stderr));
}
