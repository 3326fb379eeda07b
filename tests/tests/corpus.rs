//! The corpus through every stage: parse, check (for both targets) and format.
//!
//! `tests/corpus/ok` specs must check clean; `tests/corpus/errors` specs must give exactly the
//! diagnostics their `//~ CODE` markers announce, on those lines. Each project's source and
//! rendered diagnostics are snapshotted, and the JSON form for the bad ones.

use featc_tests::{actual_markers, ast_without_spans, corpus, expected_markers, load, snapshot_body};

fn snapshot_name(project: &str) -> String {
    project.trim_start_matches("tests/corpus/").replace(['/', '.'], "_")
}

#[test]
fn good_specs_check_clean_for_both_targets() {
    let projects = corpus("ok");
    assert!(projects.len() >= 5, "corpus/ok is missing specs");
    for project in projects {
        let sources = load(&project);
        let checked = featc::check_project(&sources, &featc::Options::default());
        let rendered = featc::diagnostic::render::render(&checked.diagnostics, &sources, false);
        assert!(checked.diagnostics.is_empty(), "{}:\n{rendered}", project.name);
        assert!(!checked.project.groups.is_empty(), "{} has no checked group", project.name);
        insta::assert_snapshot!(snapshot_name(&project.name), snapshot_body(&sources, &checked, false));
    }
}

#[test]
fn bad_specs_report_their_codes_on_their_lines() {
    let projects = corpus("errors");
    assert!(projects.len() >= 5, "corpus/errors is missing specs");
    for project in projects {
        let sources = load(&project);
        let checked = featc::check_project(&sources, &featc::Options::default());
        let expected = expected_markers(&sources);
        assert!(!expected.is_empty(), "{} has no //~ markers", project.name);
        let actual = actual_markers(&sources, &checked);
        let rendered = featc::diagnostic::render::render(&checked.diagnostics, &sources, false);
        assert_eq!(actual, expected, "{}:\n{rendered}", project.name);
        insta::assert_snapshot!(snapshot_name(&project.name), snapshot_body(&sources, &checked, true));
    }
}

#[test]
fn formatting_the_corpus_keeps_the_ast_and_is_idempotent() {
    for project in corpus("ok") {
        let sources = load(&project);
        for (id, file) in sources.files() {
            let formatted = featc::format::format_text(&file.text).unwrap_or_else(|p| panic!("{}: {p:?}", file.name));
            let again = featc::format::format_text(&formatted).unwrap_or_else(|p| panic!("{}: {p:?}", file.name));
            assert_eq!(again, formatted, "{}: formatting twice changed the text", file.name);
            let (before, _) = featc::syntax::parse(id, &file.text);
            let (after, _) = featc::syntax::parse(id, &formatted);
            assert_eq!(
                ast_without_spans(&after),
                ast_without_spans(&before),
                "{}: formatting changed the AST",
                file.name
            );
            // Every comment survives.
            let count = |t: &str| t.matches("//").count();
            assert_eq!(count(&formatted), count(&file.text), "{}: a comment was lost", file.name);
            insta::assert_snapshot!(format!("fmt_{}", snapshot_name(&file.name)), formatted);
        }
    }
}
