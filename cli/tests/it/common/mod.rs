//! The binary, run as a user would: arguments and a folder in, its output out; plus the
//! workspace root and temporary projects. Shared by every CLI test.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `featc` with `args` in `dir`.
pub fn featc(args: &[&str], dir: &Path) -> Output {
    // The embedded log, whatever the environment says (the Kafka tests bind it themselves).
    Command::new(env!("CARGO_BIN_EXE_featc"))
        .args(args)
        .env_remove("FEATC_KAFKA_BROKERS")
        .current_dir(dir)
        .output()
        .expect("featc runs")
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that the command exited 0; gives its standard error.
pub fn ok(out: &Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}{stderr}", text(&out.stdout));
    stderr
}

/// A temporary project of the given files.
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).expect("write file");
    }
    dir
}

/// A project of one source, `clicks` (history `clicks.ndjson`, the given lines), and one group
/// `user_clicks` with a lifetime count and a sliding sum.
pub fn clicks_project(lines: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("clicks.feat"),
        "source clicks {
    event_time ts
    lateness   1m
    files      \"clicks.ndjson\"
    schema { user_id: string, amount: f64, ts: timestamp }
}

entity user { key user_id: string }

features user_clicks(user) from clicks {
    clicks = count() over lifetime
    spent  = sum(amount) over sliding(1h, every: 10m)
}

lambda user_clicks {
    batch every 1h
}
",
    )
    .expect("spec");
    std::fs::write(dir.path().join("clicks.ndjson"), lines.join("\n") + "\n").expect("history");
    dir
}

/// Each group's checkpointed state in a data folder's `state` (base and deltas, read back), as
/// `state/<group>.<version>` with its offsets and state as JSON values. Checkpoints are compared
/// by what they hold, not by file: a run restarted often writes later generations (and deltas)
/// than an uninterrupted one.
pub fn checkpoints(data: &Path) -> std::collections::BTreeMap<String, Vec<serde_json::Value>> {
    use featc_runtime::store::snapshot::{Loaded, read};
    let mut out = std::collections::BTreeMap::new();
    let state = data.join("state");
    for entry in std::fs::read_dir(&state).expect("state").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // `<group>.<version>.<generation>.base` or `….<n>.delta`
        let mut parts = name.split('.');
        let (group, version) = (parts.next().expect("group"), parts.next().expect("version"));
        let checkpoint = match read(&state, group, version) {
            Loaded::Found(s, _) => s,
            other => panic!("{name}: {other:?}"),
        };
        let values = vec![
            serde_json::to_value(&checkpoint.offsets).expect("offsets"),
            serde_json::to_value(&checkpoint.state).expect("state"),
        ];
        out.insert(format!("state/{group}.{version}"), values);
    }
    out
}
