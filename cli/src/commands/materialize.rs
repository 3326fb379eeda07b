//! A project and a time in, every key's feature vector as of that time out, one Parquet or CSV
//! file per group: featc materialize.

use std::path::PathBuf;
use std::process::ExitCode;

use featc::ir::Target;
use featc_runtime::io::delta;
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
    /// Read the Delta-bound sources as of this version of their tables: `N` (every one) or
    /// `source=N`, repeatable (Kappa only; default: each table's latest version now).
    #[arg(long = "as-of-version", value_name = "[SOURCE=]N")]
    as_of_version: Vec<String>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let t = project::parse_time(&args.at)?;
    let pins = args.as_of_version.iter().map(|p| delta::parse_version_pin(p)).collect::<Result<Vec<_>, _>>()?;
    let mut reader = project::open_reader(&args.paths, args.target, args.data_dir.clone(), Some(t), false, &pins)?;
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
        let batch = materialize::snapshot(ir_group, &keys, reader.lookup_all(gi, &keys, t)?, t)?;
        let path = out.join(format!("{}.{}", ir_group.name, args.format.extension()));
        let (read, reproduce) = delta::pinned(reader.ir());
        let mut metadata = serde_json::Map::new();
        metadata.insert("command".to_owned(), "materialize".into());
        metadata.insert("group".to_owned(), ir_group.name.clone().into());
        metadata.insert("spec_version".to_owned(), reader.ir().spec_hash.clone().into());
        metadata.insert("group_version".to_owned(), ir_group.version.clone().into());
        metadata.insert("target".to_owned(), args.target.target().as_str().into());
        metadata.insert("as_of".to_owned(), featc_runtime::io::time::rfc3339(t).into());
        metadata.insert("sources".to_owned(), read.into());
        metadata.insert("reproduce".to_owned(), reproduce.join(" ").into());
        // A table keeps every run's snapshot, told apart by `as_of`.
        let version = materialize::write(&batch, &path, args.format.format(), &metadata, delta::write::Mode::Append)?;
        eprintln!(
            "wrote {} keys of group {} as of {} to {}{}",
            batch.num_rows(),
            ir_group.name,
            featc_runtime::io::time::rfc3339(t),
            path.display(),
            version.map(|v| format!(" (Delta version {v})")).unwrap_or_default()
        );
    }
    // Written; the streams close as usual, the state is left to the exit.
    project::leave(reader.take_state());
    Ok(ExitCode::SUCCESS)
}
