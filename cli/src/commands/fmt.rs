//! Paths of specs in, the specs rewritten in the canonical layout (or with `--check` the list of
//! those that differ) out: featc fmt.

use std::path::PathBuf;
use std::process::ExitCode;

use featc::diagnostic::render;

use crate::error::CliError;
use crate::files;

// `featc fmt`; the help text is the doc comment of `Command::Fmt`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Files and folders to format (default: the current folder).
    paths: Vec<PathBuf>,
    /// Change nothing; exit 1 if a file is not formatted.
    #[arg(long)]
    check: bool,
}

/// Exit status: 1 when a file does not parse, or with `--check` when one is not formatted.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut unformatted = 0;
    let mut broken = 0;
    for path in files::projects(&args.paths)?.into_iter().flatten() {
        let text =
            std::fs::read_to_string(&path).map_err(|e| CliError::Io(format!("cannot read {}: {e}", path.display())))?;
        match featc::format::format_text(&text) {
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => {
                unformatted += 1;
                if args.check {
                    println!("would reformat {}", path.display());
                } else {
                    std::fs::write(&path, formatted)
                        .map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))?;
                    println!("formatted {}", path.display());
                }
            }
            Err(problems) => {
                broken += 1;
                let mut sources = featc::SourceMap::new();
                sources.add(path.display().to_string(), text);
                let diagnostics: Vec<_> = problems.iter().map(featc::Problem::to_diagnostic).collect();
                eprint!("{}", render::render(&diagnostics, &sources, false));
                eprintln!("cannot format {}: it does not parse", path.display());
            }
        }
    }
    if broken > 0 || (args.check && unformatted > 0) { Err(CliError::Exit(1)) } else { Ok(ExitCode::SUCCESS) }
}
