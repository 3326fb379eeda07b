//! Every ```feat block in docs/ and the README is compiled: plain blocks must check clean,
//! `feat error CODE` and `feat warning CODE` blocks must report that code.

use featc_tests::{check_text, codes, feat_blocks, markdown_files, root};

#[test]
fn every_feat_block_in_the_docs_checks_as_it_says() {
    let mut files = markdown_files(&root().join("docs"));
    files.push(root().join("README.md"));
    files.extend(markdown_files(&root().join("examples")));
    let mut failures = Vec::new();
    let mut count = 0;
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for block in feat_blocks(&text) {
            count += 1;
            let name = format!("{}:{}", file.strip_prefix(root()).unwrap_or(&file).display(), block.line);
            let (sources, checked) = check_text(&name, &block.code);
            let found = codes(&checked);
            let ok = match block.info.get(1).map(String::as_str) {
                None => found.is_empty(),
                Some("error" | "warning") => match block.info.get(2) {
                    Some(code) => found.contains(&code.as_str()),
                    None => false,
                },
                Some(_) => false,
            };
            if !ok {
                let rendered = featc::diagnostic::render::render(&checked.diagnostics, &sources, false);
                failures.push(format!("{name} ({}): found {found:?}\n{rendered}", block.info.join(" ")));
            }
        }
    }
    assert!(count > 0, "no feat blocks found");
    assert!(failures.is_empty(), "{} of {count} blocks failed:\n{}", failures.len(), failures.join("\n"));
}
