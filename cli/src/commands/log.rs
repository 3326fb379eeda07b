//! A project, a source and event files in, the events appended to the source's embedded log
//! out: featc log append.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use featc::ir::{FileFormat, HistoryFiles, Target};
use featc_runtime::io::history;
use featc_runtime::io::log::Log;

use crate::error::CliError;
use crate::project;

// `featc log`; the help text is the doc comment of `Command::Log`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: LogCommand,
}

#[derive(Debug, clap::Subcommand)]
enum LogCommand {
    /// Append events from Parquet, CSV or NDJSON files to a source's log.
    Append {
        /// The project folder.
        project: PathBuf,
        /// The source whose log receives the events.
        #[arg(long)]
        source: String,
        /// The files to append, in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    match args.command {
        LogCommand::Append { project, source, files, data_dir } => append(project, &source, &files, data_dir),
    }
}

/// Appends each file's events, in order, to the log of `source`; malformed lines go to the
/// source's dead letters.
fn append(folder: PathBuf, source: &str, files: &[PathBuf], data_dir: Option<PathBuf>) -> Result<ExitCode, CliError> {
    let (ir, dir) = project::load(&[folder], Target::Kappa)?;
    let Some(src) = ir.sources.iter().find(|s| s.name == source) else {
        return Err(CliError::Usage(format!("no source `{source}` in the project")));
    };
    let data_dir = project::data_dir(data_dir, &dir);
    let _lock = featc_runtime::io::lock::WriterLock::acquire(&data_dir)?;
    // Every file must exist before anything is appended: a typo appends nothing, loudly.
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return Err(CliError::Io(format!("{}: no such file; nothing was appended", missing.display())));
    }
    let log = Log::open(&data_dir.join("log"), &src.topic)?;
    for file in files {
        let name = file.to_string_lossy();
        let format = FileFormat::from_path(&name)
            .ok_or_else(|| CliError::Usage(format!("{name}: say .parquet, .csv or .ndjson")))?;
        let mut one = src.clone();
        one.history = Some(HistoryFiles { glob: name.into_owned(), format });
        let events = history::read(Path::new(""), &one)?;
        let (start, end) = log.append(&events.batches)?;
        eprintln!(
            "appended {} events from {} to log `{}` (offsets {start}..{end})",
            end - start,
            file.display(),
            src.topic
        );
        if !events.rejected.is_empty() {
            let path = featc_runtime::runners::kappa::write_rejected(&data_dir, &src.name, &events.rejected)?;
            eprintln!("{} malformed lines dead-lettered to {}", events.rejected.len(), path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
