//! Several featc processes on one data folder in, writes that take turns or are refused, and
//! no event lost or counted twice out: the runner lock, the log's append lock, seeding.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;
use featc_runtime::io::log::{EventSource as _, Log};

fn event(user: &str, minute: u32) -> String {
    format!("{{\"user_id\":\"{user}\",\"amount\":1.0,\"ts\":\"2024-01-01T01:{minute:02}:00Z\"}}")
}

/// The users of the `clicks` log in offset order.
fn log_users(dir: &Path) -> Vec<String> {
    let log = Log::open(&dir.join(".featc/log"), "clicks").expect("log");
    let mut reader = log.reader(0);
    let mut users = Vec::new();
    while let Some((_, batch)) = reader.next_batch().expect("readable log") {
        let column = batch.column_by_name("user_id").expect("user_id");
        let column = column.as_any().downcast_ref::<arrow::array::StringArray>().expect("strings");
        users.extend(column.iter().map(|u| u.unwrap_or_default().to_owned()));
    }
    users
}

fn clicks(dir: &Path, user: &str) -> Option<i64> {
    let get = featc(&["get", ".", "--target", "kappa", "--key", &format!("user_id={user}")], dir);
    ok(&get);
    let v: serde_json::Value = serde_json::from_slice(&get.stdout).expect("JSON");
    v[0]["features"]["clicks"].as_i64()
}

#[test]
fn a_second_runner_is_refused_while_appends_go_on() {
    let dir = clicks_project(&[&event("u1", 0)]);
    std::fs::write(dir.path().join("more.ndjson"), event("u2", 5) + "\n").expect("more");
    // Another process runs on the data folder (here, this test holds its lock).
    let held = featc_runtime::io::lock::WriterLock::acquire(&dir.path().join(".featc")).expect("lock");
    for args in [&["run", ".", "--target", "kappa", "--until-caught-up"][..], &["batch", "."][..]] {
        let out = featc(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("another featc process (pid"), "{args:?}: {}", text(&out.stderr));
    }
    // Appending does not wait for the runner: a following `run` reads what is appended.
    let append = featc(&["log", "append", ".", "--source", "clicks", "more.ndjson"], dir.path());
    assert!(ok(&append).contains("appended 1 events"), "{}", text(&append.stderr));
    drop(held);
    let missing = featc(&["log", "append", ".", "--source", "clicks", "more.ndjson", "typo.ndjson"], dir.path());
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("typo.ndjson: no such file; nothing was appended"),
        "{}",
        text(&missing.stderr)
    );
    assert_eq!(log_users(dir.path()), ["u1", "u2"]);
}

#[test]
fn appends_at_once_take_turns_and_lose_nothing() {
    let dir = clicks_project(&[&event("h", 0)]);
    let writers = 6;
    for w in 0..writers {
        let lines: Vec<String> = (0..40).map(|i| event(&format!("w{w}"), i % 60)).collect();
        std::fs::write(dir.path().join(format!("w{w}.ndjson")), lines.join("\n") + "\n").expect("file");
    }
    let children: Vec<_> = (0..writers)
        .map(|w| {
            Command::new(env!("CARGO_BIN_EXE_featc"))
                .args(["log", "append", ".", "--source", "clicks", &format!("w{w}.ndjson")])
                .current_dir(dir.path())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let users = log_users(dir.path());
    // The history first, seeded once; then each file whole, in some order.
    assert_eq!(users.len(), 1 + 40 * writers);
    assert_eq!(users[0], "h");
    for run in users[1..].chunks(40) {
        assert!(run.iter().all(|u| *u == run[0]), "one file's events are contiguous: {run:?}");
    }
    ok(&featc(&["run", ".", "--target", "kappa", "--until-caught-up"], dir.path()));
    for w in 0..writers {
        assert_eq!(clicks(dir.path(), &format!("w{w}")), Some(40));
    }
    assert_eq!(clicks(dir.path(), "h"), Some(1));
}

#[test]
fn the_history_is_seeded_once_whatever_comes_first() {
    let dir = clicks_project(&[&event("u1", 0), &event("u1", 1), &event("u1", 2)]);
    std::fs::write(dir.path().join("more.ndjson"), event("u1", 10) + "\n").expect("more");
    let append = || featc(&["log", "append", ".", "--source", "clicks", "more.ndjson"], dir.path());
    // `log append` before any `run`: the history goes in first.
    assert!(ok(&append()).contains("seeded log `clicks` with 3 events"));
    let run = featc(&["run", ".", "--target", "kappa", "--until-caught-up"], dir.path());
    assert!(!ok(&run).contains("seeded"), "seeded twice: {}", text(&run.stderr));
    assert_eq!(clicks(dir.path(), "u1"), Some(4));
    assert!(!ok(&append()).contains("seeded"));
    assert_eq!(clicks(dir.path(), "u1"), Some(5));
    assert_eq!(log_users(dir.path()).len(), 5);
}

#[test]
fn a_seeding_cut_short_by_a_crash_starts_over() {
    let dir = clicks_project(&[&event("u1", 0), &event("u1", 1)]);
    let topic = dir.path().join(".featc/log/clicks");
    // A reader seeds the log too (under the append lock), then a crash is simulated: the
    // marker of a seeding under way, as a process killed before it finished leaves it.
    assert_eq!(clicks(dir.path(), "u1"), Some(2));
    std::fs::remove_file(topic.join("SEEDED")).expect("marker");
    std::fs::write(topic.join("SEEDING"), "0").expect("marker");
    let run = featc(&["run", ".", "--target", "kappa", "--until-caught-up"], dir.path());
    assert!(ok(&run).contains("was cut short: started over"), "{}", text(&run.stderr));
    assert_eq!(log_users(dir.path()).len(), 2, "not seeded twice");
    assert!(topic.join("SEEDED").exists() && !topic.join("SEEDING").exists());
    assert_eq!(clicks(dir.path(), "u1"), Some(2));
}
