//! A project and a spine in, the point-in-time features of each spine row as a Parquet or CSV
//! file or a Delta table out, with what was read in its metadata: featc training-set.

use std::path::PathBuf;
use std::process::ExitCode;

use featc::ir::{DeltaPin, FeatureIr, Target};
use featc_runtime::io::delta;
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
    /// Read the Delta-bound sources as of this version of their tables: `N` (every one) or
    /// `source=N`, repeatable. The output's metadata says what to pass to read them again.
    #[arg(long = "as-of-version", value_name = "[SOURCE=]N")]
    as_of_version: Vec<String>,
    /// Read the Delta-bound sources as of their latest commit at or before this time (RFC 3339
    /// or epoch milliseconds).
    #[arg(long = "as-of-timestamp", value_name = "TIME", conflicts_with = "as_of_version")]
    as_of_timestamp: Option<String>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let (mut ir, dir) = project::load(&args.paths, Target::Kappa)?;
    let mut pins = args.as_of_version.iter().map(|p| delta::parse_version_pin(p)).collect::<Result<Vec<_>, _>>()?;
    if let Some(t) = &args.as_of_timestamp {
        let ms = project::parse_time(t)
            .map_err(|_| CliError::Usage(format!("`--as-of-timestamp {t}`: an RFC 3339 time or milliseconds")))?;
        pins.push((None, DeltaPin::Timestamp(ms)));
    }
    // Every Delta table read at a version fixed now, which the output records.
    delta::pin_sources(&mut ir, &dir, &pins)?;
    let rows = training::read_spine(&args.spine)?;
    let started = std::time::Instant::now();
    let progress = project::bar(project::history_events(&ir, &dir), "training set", false);
    let set = training::training_set(&ir, &dir, &rows, &args.time_column, &mut |n| progress.inc(n))?;
    progress.finish_and_clear();
    let out = args.out.unwrap_or_else(|| args.spine.with_extension(format!("features.{}", args.format.extension())));
    let (read, reproduce) = delta::pinned(&ir);
    let mut metadata = serde_json::Map::new();
    metadata.insert("command".to_owned(), "training-set".into());
    metadata.insert("spec_version".to_owned(), ir.spec_hash.clone().into());
    metadata.insert("spine".to_owned(), args.spine.display().to_string().into());
    metadata.insert("sources".to_owned(), read.into());
    metadata.insert("reproduce".to_owned(), reproduce.join(" ").into());
    // Made again, a training set replaces the last (a Delta table keeps it by time travel).
    let version = materialize::write(
        std::slice::from_ref(&set),
        &out,
        args.format.format(),
        &metadata,
        delta::write::Mode::Overwrite,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} training rows ({} columns) to {}{} in {seconds:.2} s ({:.0} rows/s)",
        set.num_rows(),
        set.num_columns(),
        out.display(),
        version.map(|v| format!(" (Delta version {v})")).unwrap_or_default(),
        set.num_rows() as f64 / seconds.max(1e-9)
    );
    if !reproduce.is_empty() {
        eprintln!(
            "read {}; to read the same again: {}",
            serde_json::Value::Object(read_summary(&ir)),
            reproduce.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Each Delta-bound source's version read, for the closing line.
fn read_summary(ir: &FeatureIr) -> serde_json::Map<String, serde_json::Value> {
    let (read, _) = delta::pinned(ir);
    read.into_iter().map(|(name, r)| (name, r.get("version").cloned().unwrap_or_default())).collect()
}
