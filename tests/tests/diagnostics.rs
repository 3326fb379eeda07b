//! One case per diagnostic code, taken from its page in docs/diagnostics/: the example must give
//! the code, and the source with its rendered and JSON diagnostics is snapshotted.

use featc::diagnostic::codes;
use featc_tests::{check_text, codes as codes_of, feat_blocks, root, snapshot_body};

#[test]
fn every_code_has_a_page_whose_example_gives_it() {
    let mut missing = Vec::new();
    for code in codes::ALL {
        let page = root().join("docs/diagnostics").join(format!("{}.md", code.id));
        let text = std::fs::read_to_string(&page).unwrap_or_default();
        assert_eq!(text, code.explanation, "{}: the registry embeds a stale page", code.id);
        if code.is_runtime() {
            // The runtime reports it from the data (its tests: `runtime/tests/it/delta.rs`);
            // the page's spec is a valid one, and the page shows the error text.
            let spec = feat_blocks(&text).into_iter().next();
            let spec = spec.unwrap_or_else(|| panic!("{}: the page has no spec", code.id));
            let (_, checked) = check_text(&format!("{}.feat", code.id), &spec.code);
            assert!(codes_of(&checked).is_empty(), "{}: the page's spec does not check clean", code.id);
            assert!(text.contains(&format!("error[{}]", code.id)), "{}: the page shows no error", code.id);
            continue;
        }
        let tag = if code.id.starts_with('E') { "error" } else { "warning" };
        let example = feat_blocks(&text).into_iter().find(|b| {
            b.info.get(1).map(String::as_str) == Some(tag) && b.info.get(2).map(String::as_str) == Some(code.id)
        });
        let Some(example) = example else {
            missing.push(code.id);
            continue;
        };
        let (sources, checked) = check_text(&format!("{}.feat", code.id), &example.code);
        let found = codes_of(&checked);
        assert!(found.contains(&code.id), "{}: the page's example gives {found:?}", code.id);
        // The code's first diagnostic carries a primary label inside the example.
        let first = checked.diagnostics.iter().find(|d| d.code.id == code.id).and_then(|d| d.primary_span());
        assert!(first.is_some_and(|s| (s.end as usize) <= example.code.len()), "{}: no primary label", code.id);
        insta::assert_snapshot!(code.id, snapshot_body(&sources, &checked, true));
    }
    assert!(missing.is_empty(), "codes without an example on their page: {missing:?}");
}

#[test]
fn every_page_belongs_to_a_registered_code() {
    let dir = root().join("docs/diagnostics");
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .map(|es| es.flatten().filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned())).collect())
        .unwrap_or_default();
    pages.sort();
    let registered: Vec<String> = codes::ALL.iter().map(|c| c.id.to_owned()).collect();
    assert_eq!(pages, registered);
}
