//! A project in, its Lambda batch view recomputed over the whole history and swapped in out:
//! featc batch.

use std::path::PathBuf;
use std::process::ExitCode;

use featc::ir::Target;

use crate::error::CliError;
use crate::project;

// `featc batch`; the help text is the doc comment of `Command::Batch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project folder.
    paths: Vec<PathBuf>,
    /// The cutoff: RFC 3339 or milliseconds (default: the latest history event, floored to
    /// the batch cadence).
    #[arg(long)]
    cutoff: Option<String>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    engine: crate::commands::EngineArgs,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let _lock = project::lock_writer(&args.paths, args.data_dir.as_deref())?;
    let (ir, dir) = project::load(&args.paths, Target::Lambda)?;
    let data_dir = project::data_dir(args.data_dir, &dir);
    let cutoff = args.cutoff.as_deref().map(project::parse_time).transpose()?;
    let view =
        project::backfill_with(&ir, &dir, &data_dir, cutoff, false, project::Access::Writer, &args.engine.engine())?;
    // Stored durably; the process ends here.
    project::leave(view);
    Ok(ExitCode::SUCCESS)
}
