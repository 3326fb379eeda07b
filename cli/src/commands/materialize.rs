//! A project and a time in, every key's feature vector as of that time out, one Parquet or CSV
//! file per group: featc materialize.

use std::path::PathBuf;
use std::process::ExitCode;

use featc::ir::Target;
use featc_runtime::runners::materialize;

use crate::commands::{FileFormatArg, TargetArg};
use crate::error::CliError;
use crate::project;

// `featc materialize`; the help text is the doc comment of `Command::Materialize`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project folder.
    paths: Vec<PathBuf>,
    /// The target whose runtime answers (Lambda: `--at` must be at or after the cutoff).
    #[arg(long, value_enum, default_value = "kappa")]
    target: TargetArg,
    /// As of this time: RFC 3339, or milliseconds since the epoch.
    #[arg(long)]
    at: String,
    /// The folder the files go to (default: `materialized` under the data dir).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "parquet")]
    format: FileFormatArg,
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let t = project::parse_time(&args.at)?;
    let mut reader = project::open_reader(&args.paths, args.target, args.data_dir.clone(), Some(t), false)?;
    project::catch_up(&mut *reader, args.target.reading(), false)?;
    let out = match (args.out, args.data_dir) {
        (Some(out), _) => out,
        (None, Some(d)) => d.join("materialized"),
        // The project's folder, from loading the project for Kappa as this command always
        // has (so with `--target lambda` the project is checked for Kappa as well).
        (None, None) => {
            let (_, dir) = project::load(&args.paths, Target::Kappa)?;
            dir.join(".featc").join("materialized")
        }
    };
    std::fs::create_dir_all(&out).map_err(|e| CliError::Io(format!("cannot create {}: {e}", out.display())))?;
    for (gi, ir_group) in reader.ir().groups.iter().enumerate() {
        let keys = reader.keys(gi);
        let batch = materialize::snapshot(ir_group, &keys, &|k| reader.lookup(gi, k, t), t)?;
        let path = out.join(format!("{}.{}", ir_group.name, args.format.extension()));
        materialize::write(&batch, &path, args.format.format())?;
        eprintln!(
            "wrote {} keys of group {} as of {} to {}",
            batch.num_rows(),
            ir_group.name,
            featc_runtime::io::time::rfc3339(t),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
