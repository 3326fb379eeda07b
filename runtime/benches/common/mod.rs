//! A project folder of `.feat` files in, its checked and lowered IR out: what the benchmarks
//! that run a whole project share.

use std::path::Path;

/// The IR of the project in `dir` (every target checked).
pub(crate) fn project_ir(dir: &Path) -> featc::ir::FeatureIr {
    let mut sources = featc::SourceMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "feat") {
            sources.add(path.to_string_lossy().into_owned(), std::fs::read_to_string(&path).unwrap());
        }
    }
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors());
    featc::ir::lower(&checked.project).unwrap()
}
