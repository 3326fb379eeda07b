//! A project, a source and event files in, the events appended to the source's embedded log
//! (or, for a Delta-bound source, as commits to its table) out: featc log append.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use featc::ir::{FileFormat, IrSource, Target};
use featc_runtime::io::log::Log;
use featc_runtime::io::{dead_letters, delta, history, seed};

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

/// Appends each file's events, in order, to the log of `source`, each file as one segment
/// (all of it or, after a crash, none); malformed lines go to the source's dead letters. The
/// log is seeded from the source's history first if it never was, so the history comes first
/// whatever the order of `run` and `log append`. Appenders take the topic's append lock in
/// turn; a running `featc run` follows what is appended.
fn append(folder: PathBuf, source: &str, files: &[PathBuf], data_dir: Option<PathBuf>) -> Result<ExitCode, CliError> {
    let (ir, dir) = project::load(&[folder], Target::Kappa)?;
    let Some(src) = ir.sources.iter().find(|s| s.name == source) else {
        return Err(CliError::Usage(format!("no source `{source}` in the project")));
    };
    let data_dir = project::data_dir(data_dir, &dir);
    // Every file must exist before anything is appended: a typo appends nothing, loudly.
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return Err(CliError::Io(format!("{}: no such file; nothing was appended", missing.display())));
    }
    let mut formats = Vec::new();
    for file in files {
        let name = file.to_string_lossy();
        let format = FileFormat::from_path(&name)
            .ok_or_else(|| CliError::Usage(format!("{name}: say .parquet, .csv or .ndjson")))?;
        formats.push(format);
    }
    if src.history.as_ref().is_some_and(|h| h.format == FileFormat::Delta) {
        return append_delta(&dir, src, files, &formats, &data_dir);
    }
    if let Some(said) = seed::seed(&dir, src, &data_dir)? {
        eprintln!("{said}");
    }
    let log = Log::open(&data_dir.join("log"), &src.topic)?;
    for (file, format) in files.iter().zip(formats) {
        let mut rejected = Vec::new();
        let chunks = history::file_chunks(file, format, src, seed::SEGMENT_ROWS);
        let batches = chunks.flat_map(|chunk| match chunk {
            Ok(chunk) => {
                rejected.extend(chunk.rejected);
                chunk.batches.into_iter().map(Ok).collect::<Vec<_>>()
            }
            Err(e) => vec![Err(e)],
        });
        // The append lock is held until the rejected lines are written too, so concurrent
        // appenders never interleave them.
        let appender = log.lock()?;
        let (start, end) = appender.append(batches)?;
        eprintln!(
            "appended {} events from {} to log `{}` (offsets {start}..{end})",
            end - start,
            file.display(),
            src.topic
        );
        let name = format!("{}.appended", src.name);
        if let Some(path) = dead_letters::append_rejected(&data_dir, &name, &rejected)? {
            eprintln!("{} malformed lines dead-lettered to {}", rejected.len(), path.display());
        }
        drop(appender);
    }
    Ok(ExitCode::SUCCESS)
}

/// Appends each file's events to the Delta table of a Delta-bound source, each file as one
/// commit (the table is the source's stream: a running `featc run` follows the new version).
fn append_delta(
    dir: &Path,
    src: &IrSource,
    files: &[PathBuf],
    formats: &[FileFormat],
    data_dir: &Path,
) -> Result<ExitCode, CliError> {
    let table = dir.join(src.history.as_ref().map(|h| h.glob.as_str()).unwrap_or_default());
    for (file, &format) in files.iter().zip(formats) {
        let mut rejected = Vec::new();
        let mut batches = Vec::new();
        for chunk in history::file_chunks(file, format, src, usize::MAX) {
            let chunk = chunk?;
            rejected.extend(chunk.rejected);
            for batch in chunk.batches {
                batches.push(delta::write::events_as_declared(src, &batch)?);
            }
        }
        let events: usize = batches.iter().map(|b| b.num_rows()).sum();
        if events == 0 {
            eprintln!("{}: no events to append", file.display());
            continue;
        }
        let mut metadata = serde_json::Map::new();
        metadata.insert("featc.appended_from".to_owned(), file.display().to_string().into());
        let version = delta::write::write_table(&table, &batches, &metadata)?;
        eprintln!(
            "appended {events} events from {} to Delta table {} (version {version})",
            file.display(),
            table.display()
        );
        let name = format!("{}.appended", src.name);
        if let Some(path) = dead_letters::append_rejected(data_dir, &name, &rejected)? {
            eprintln!("{} malformed lines dead-lettered to {}", rejected.len(), path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
