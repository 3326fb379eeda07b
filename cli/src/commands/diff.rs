//! Two project folders in, what an edit changes out: `featc diff OLD NEW`, per feature added,
//! removed, renamed, changed or unchanged, and what each target must recompute.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use featc::diagnostic::render;
use featc::ir::FeatureIr;

use crate::commands::Format;
use crate::error::CliError;
use crate::files;

// `featc diff`; the help text is the doc comment of `Command::Diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project before the edit (a folder of .feat files).
    old: PathBuf,
    /// The project after the edit.
    new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// Exit status: 0 no semantic change, 1 changes, 2 errors (a project that does not check, or
/// usage and I/O errors).
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let (Some(old), Some(new)) = (lowered(&args.old)?, lowered(&args.new)?) else { return Err(CliError::Exit(2)) };
    let diff = featc::diff::diff(&old, &new);
    let text = if args.format == Format::Json { diff.to_json() } else { diff.to_text() };
    write!(std::io::stdout(), "{text}").map_err(|e| CliError::Io(e.to_string()))?;
    if diff.has_changes() { Err(CliError::Exit(1)) } else { Ok(ExitCode::SUCCESS) }
}

/// A project's IR, or `None` after printing its errors.
fn lowered(path: &PathBuf) -> Result<Option<FeatureIr>, CliError> {
    let projects = files::projects(std::slice::from_ref(path))?;
    let [project] = projects.as_slice() else {
        return Err(CliError::Usage(format!("{}: diff takes one project on each side", path.display())));
    };
    let sources = files::load(project)?;
    let checked = featc::check_project(&sources, &featc::Options::default());
    if checked.has_errors() {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!("{}", render::render(&checked.diagnostics, &sources, color));
        eprintln!("diff: {} has errors", path.display());
        return Ok(None);
    }
    Ok(Some(featc::ir::lower(&checked.project)?))
}
