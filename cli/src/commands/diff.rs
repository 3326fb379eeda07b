//! Two project folders in, what an edit changes out: `featc diff OLD NEW`, per feature added,
//! removed, renamed, changed or unchanged, and what each target must recompute.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use featc::diagnostic::render;
use featc::ir::FeatureIr;

use crate::files;

/// Exit status: 0 no semantic change, 1 changes, 2 errors (a project that does not check, or
/// usage and I/O errors).
pub(crate) fn run(old: &PathBuf, new: &PathBuf, json: bool) -> Result<ExitCode, String> {
    let (Some(old), Some(new)) = (lowered(old)?, lowered(new)?) else { return Ok(ExitCode::from(2)) };
    let diff = featc::diff::diff(&old, &new);
    let text = if json { diff.to_json() } else { diff.to_text() };
    write!(std::io::stdout(), "{text}").map_err(|e| e.to_string())?;
    Ok(if diff.has_changes() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// A project's IR, or `None` after printing its errors.
fn lowered(path: &PathBuf) -> Result<Option<FeatureIr>, String> {
    let projects = files::projects(std::slice::from_ref(path))?;
    let [project] = projects.as_slice() else {
        return Err(format!("{}: diff takes one project on each side", path.display()));
    };
    let sources = files::load(project)?;
    let checked = featc::check_project(&sources, &featc::Options::default());
    if checked.has_errors() {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!("{}", render::render(&checked.diagnostics, &sources, color));
        eprintln!("diff: {} has errors", path.display());
        return Ok(None);
    }
    featc::ir::lower(&checked.project).map(Some)
}
