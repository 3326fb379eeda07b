//! Versions by meaning, as a user meets them: a comment, `featc fmt` or reordering keeps every
//! snapshot and batch view; a feature added to one group recomputes that group only, and the
//! other group's stored view file stays untouched.

use std::path::Path;

use crate::common::*;

const SPEC: &str = "source clicks {
    event_time ts
    lateness   1m
    files      \"clicks.ndjson\"
    schema { user_id: string, page: string, amount: f64, ts: timestamp }
}

entity user { key user_id: string }
entity page { key page: string }

features per_user(user) from clicks {
    clicks = count() over lifetime
    spent  = sum(amount) over sliding(1h, every: 10m)
}

features per_page(page) from clicks {
    views = count() over lifetime
    top   = max(amount) over sliding(1h, every: 10m)
}

lambda per_user {
    batch every 1h
}
";

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("clicks.feat"), SPEC).expect("spec");
    let mut lines = String::new();
    for i in 0..200 {
        let s = i * 37;
        let t = format!("2024-01-01T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60);
        lines.push_str(&format!(
            "{{\"user_id\":\"u{}\",\"page\":\"p{}\",\"amount\":{}.{:02},\"ts\":\"{t}\"}}\n",
            i % 7,
            i % 3,
            i % 50,
            i % 100
        ));
    }
    std::fs::write(dir.path().join("clicks.ndjson"), lines).expect("history");
    dir
}

/// The stored files under a folder, with their modification times, sorted.
fn files(dir: &Path) -> Vec<(String, std::time::SystemTime)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .map(|es| {
            es.flatten()
                .filter(|e| e.path().is_file())
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().modified().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn cosmetic_edit(spec: &Path) {
    // A comment, features and items in another order, then the canonical layout.
    let text = std::fs::read_to_string(spec).unwrap();
    let text = text
        .replace(
            "    clicks = count() over lifetime\n    spent  = sum(amount) over sliding(1h, every: 10m)\n",
            "    // How much, lately.\n    spent = sum(amount)   over sliding(1h, every: 10m)\n    clicks = count() over lifetime\n",
        )
        .replace("entity user { key user_id: string }\nentity page { key page: string }\n", "entity page { key page: string }\n// Users.\nentity user { key user_id: string }\n");
    std::fs::write(spec, text).unwrap();
}

#[test]
fn cosmetic_edits_keep_snapshots_and_views_and_one_new_feature_recomputes_one_group() {
    let p = project();
    let dir = p.path();
    let spec = dir.join("clicks.feat");
    // The spec hash and every group's version, as the plan prints them.
    let hashes = || {
        let plan = String::from_utf8_lossy(&featc(&["plan", ".", "--target", "kappa"], dir).stdout).into_owned();
        let lines: Vec<String> = plan
            .lines()
            .filter(|l| l.contains(" layout, version ") || l.contains("(spec "))
            .map(str::to_owned)
            .collect();
        assert_eq!(lines.len(), 3, "{plan}");
        lines
    };
    let before = hashes();

    // Kappa: snapshots per group and version; Lambda: a view file per group and version.
    ok(&featc(&["run", ".", "--target", "kappa", "--until-caught-up"], dir));
    ok(&featc(&["batch", "."], dir));
    let state = files(&dir.join(".featc/state"));
    let views = files(&dir.join(".featc/batch/views"));
    let manifest = std::fs::read_to_string(dir.join(".featc/batch/CURRENT")).unwrap();
    assert_eq!(state.len(), 2, "{state:?}");
    assert_eq!(views.len(), 2, "{views:?}");

    cosmetic_edit(&spec);
    ok(&featc(&["fmt", "."], dir));
    assert_ne!(std::fs::read_to_string(&spec).unwrap(), SPEC, "the edit changed the text");
    assert_eq!(hashes(), before, "plans (and their versions) are the same");
    let kappa = ok(&featc(&["run", ".", "--target", "kappa", "--until-caught-up"], dir));
    assert!(kappa.contains("resumed group `per_user`") && kappa.contains("resumed group `per_page`"), "{kappa}");
    assert!(!kappa.contains("offset 0"), "{kappa}");
    let lambda = ok(&featc(&["run", ".", "--target", "lambda", "--until-caught-up"], dir));
    assert!(!lambda.contains("recomputed"), "{lambda}");
    assert_eq!(files(&dir.join(".featc/batch/views")), views);
    assert_eq!(std::fs::read_to_string(dir.join(".featc/batch/CURRENT")).unwrap(), manifest);

    // A new feature in one group: that group alone is recomputed.
    let text = std::fs::read_to_string(&spec).unwrap();
    let text: String = text
        .lines()
        .flat_map(|l| {
            let added =
                l.trim_start().starts_with("clicks").then_some("    pages = count_distinct(page) over lifetime");
            [Some(l), added].into_iter().flatten().map(|l| format!("{l}\n"))
        })
        .collect();
    assert!(text.contains("pages = count_distinct"), "{text}");
    std::fs::write(&spec, text).unwrap();
    let lambda = ok(&featc(&["run", ".", "--target", "lambda", "--until-caught-up"], dir));
    assert!(lambda.contains("recomputed the batch view of per_user"), "{lambda}");
    let after = files(&dir.join(".featc/batch/views"));
    let page_view = |v: &[(String, std::time::SystemTime)]| v.iter().find(|(n, _)| n.starts_with("per_page-")).cloned();
    assert_eq!(page_view(&after), page_view(&views), "the other group's view file is untouched");
    assert_ne!(after, views);
    let kappa = ok(&featc(&["run", ".", "--target", "kappa", "--until-caught-up"], dir));
    assert!(kappa.contains("resumed group `per_page`"), "{kappa}");
    assert!(kappa.contains("group `per_user`") && kappa.contains("offset 0"), "{kappa}");

    // The recomputed group answers with the new feature, equal on both targets.
    let get = |target: &str| {
        let out = featc(&["get", ".", "--target", target, "--key", "user_id=u3"], dir);
        ok(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        v[0]["features"].clone()
    };
    let kappa = get("kappa");
    assert_eq!(kappa["pages"].as_i64(), Some(3), "{kappa}");
    assert_eq!(get("lambda"), kappa);
}

#[test]
fn diff_says_what_an_edit_changes_with_exit_codes_for_ci() {
    let root = root();
    for (case, code) in
        [("layout-only", 0), ("add-feature", 1), ("lateness", 1), ("serving-only", 1), ("remove-group", 1)]
    {
        let dir = root.join("tests/diff").join(case);
        let out = featc(&["diff", "old", "new"], &dir);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(code), "{case}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let expected = std::fs::read_to_string(dir.join("expected.txt")).expect("expected output");
        assert_eq!(stdout, expected, "{case}");
        let json = featc(&["diff", "old", "new", "--format", "json"], &dir);
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
        assert_eq!(v["semantic_change"].as_bool(), Some(code == 1), "{case}");
    }
    // A project with errors: exit 2.
    let broken = tempfile::tempdir().expect("temp dir");
    std::fs::write(broken.path().join("a.feat"), "features g(nosuch) from nowhere { x = count() over lifetime }")
        .unwrap();
    let out = featc(&["diff", broken.path().to_str().unwrap(), broken.path().to_str().unwrap()], &root);
    assert_eq!(out.status.code(), Some(2));
}
