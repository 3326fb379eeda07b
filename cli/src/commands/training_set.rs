//! A project and a spine in, the point-in-time features of each spine row as a Parquet or CSV
//! file out: featc training-set.

use std::path::PathBuf;
use std::process::ExitCode;

use featc::ir::Target;
use featc_runtime::runners::{materialize, training};

use crate::commands::FileFormatArg;
use crate::error::CliError;
use crate::project;

// `featc training-set`; the help text is the doc comment of `Command::TrainingSet`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project folder.
    paths: Vec<PathBuf>,
    /// The spine: a Parquet or CSV file with the entity's key columns and a time column.
    #[arg(long)]
    spine: PathBuf,
    /// The spine's time column (a timestamp, epoch milliseconds or RFC 3339 text).
    #[arg(long, default_value = "ts")]
    time_column: String,
    /// The output file (default: the spine's name with `.features.parquet` or `.csv`).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "parquet")]
    format: FileFormatArg,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let (ir, dir) = project::load(&args.paths, Target::Kappa)?;
    let rows = training::read_spine(&args.spine)?;
    let started = std::time::Instant::now();
    let progress = project::bar(project::history_events(&ir, &dir), "training set", false);
    let set = training::training_set(&ir, &dir, &rows, &args.time_column, &mut |n| progress.inc(n))?;
    progress.finish_and_clear();
    let out = args.out.unwrap_or_else(|| args.spine.with_extension(format!("features.{}", args.format.extension())));
    materialize::write(&set, &out, args.format.format())?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} training rows ({} columns) to {} in {seconds:.2} s ({:.0} rows/s)",
        set.num_rows(),
        set.num_columns(),
        out.display(),
        set.num_rows() as f64 / seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
