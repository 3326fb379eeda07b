//! Paths of specs in, their diagnostics and a summary out (human or JSON): featc check.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use featc::diagnostic::{json, render};
use featc::{Options, Severity, Target, check_project};

use crate::commands::{Format, TargetArg};
use crate::error::CliError;
use crate::files;

// `featc check`; the help text is the doc comment of `Command::Check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Files and folders to check (default: the current folder).
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Treat warnings as errors.
    #[arg(long)]
    deny_warnings: bool,
    /// Check for one target only (default: both).
    #[arg(long, value_enum)]
    target: Option<TargetArg>,
    /// When to colour human output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

/// Exit status: 0 clean, 1 errors (or warnings with `--deny-warnings`), 2 usage or I/O errors.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let projects = files::projects(&args.paths)?;
    let targets = match args.target {
        Some(t) => vec![t.target()],
        None => Target::ALL.to_vec(),
    };
    let options = Options { targets };
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut checked = Vec::new();
    for project in &projects {
        let sources = files::load(project)?;
        let result = check_project(&sources, &options);
        checked.push((sources, result));
    }
    let errors: usize =
        checked.iter().map(|(_, c)| c.diagnostics.iter().filter(|d| d.severity() == Severity::Error).count()).sum();
    let warnings: usize = checked.iter().map(|(_, c)| c.warnings()).sum();
    let file_count: usize = checked.iter().map(|(s, _)| s.len()).sum();
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    match args.format {
        Format::Human => {
            for (sources, result) in &checked {
                eprint!("{}", render::render(&result.diagnostics, sources, color));
            }
            let status = if failed { "failed" } else { "ok" };
            let n = |count: usize, word: &str| format!("{count} {word}{}", if count == 1 { "" } else { "s" });
            eprintln!(
                "check {status}: {} in {}, {}, {}",
                n(file_count, "file"),
                n(projects.len(), "project"),
                n(errors, "error"),
                n(warnings, "warning")
            );
        }
        Format::Json => {
            let diagnostics = checked.iter().flat_map(|(s, c)| json::report(&c.diagnostics, s).diagnostics).collect();
            let report = CheckReport {
                version: json::JSON_VERSION,
                diagnostics,
                summary: Summary { projects: projects.len(), files: file_count, errors, warnings },
            };
            let text = serde_json::to_string_pretty(&report).map_err(|e| CliError::Runtime(e.to_string()))?;
            writeln!(std::io::stdout(), "{text}").map_err(|e| CliError::Io(e.to_string()))?;
        }
    }
    if failed { Err(CliError::Exit(1)) } else { Ok(ExitCode::SUCCESS) }
}

/// `featc check --format json`: the diagnostics of every project, then a summary.
#[derive(Debug, serde::Serialize)]
struct CheckReport<'a> {
    version: u32,
    diagnostics: Vec<json::JsonDiagnostic<'a>>,
    summary: Summary,
}

#[derive(Debug, serde::Serialize)]
struct Summary {
    projects: usize,
    files: usize,
    errors: usize,
    warnings: usize,
}
