//! A project and a time in, every key's feature vector as of that time out, one Parquet or CSV
//! file per group: featc materialize.

use std::path::PathBuf;
use std::process::ExitCode;

use featc::ir::{DeltaPin, FeatureIr, Target};
use featc_runtime::io::delta;
use featc_runtime::runners::lambda::stream::{Vectors, ViewOnDisk};
use featc_runtime::runners::materialize;
use featc_runtime::runners::reader::FeatureReader;

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
    let mut answering = open(&args, t, &pins)?;
    let out = match (&args.out, &args.data_dir) {
        (Some(out), _) => out.clone(),
        (None, Some(d)) => d.join("materialized"),
        // The project's folder, from loading the project for Kappa as this command always
        // has (so with `--target lambda` the project is checked for Kappa as well).
        (None, None) => {
            let (_, dir) = project::load(&args.paths, Target::Kappa)?;
            dir.join(".featc").join("materialized")
        }
    };
    std::fs::create_dir_all(&out).map_err(|e| CliError::Io(format!("cannot create {}: {e}", out.display())))?;
    let ir = answering.ir().clone();
    let ir = &ir;
    for (gi, ir_group) in ir.groups.iter().enumerate() {
        let started = std::time::Instant::now();
        let (keys, vectors) = match answering.vectors(gi, t) {
            Ok(found) => found,
            // A view file that read wrong (damaged, or not one featc wrote): the view is loaded
            // as `get` and `serve` load it, which has such a group computed again.
            Err(e) if matches!(answering, Answering::OnDisk(_)) => {
                tracing::warn!("{e}: loading the batch view instead");
                answering = loaded(&args, t, &pins)?;
                answering.vectors(gi, t)?
            }
            Err(e) => return Err(e),
        };
        tracing::debug!("group {}: {} keys answered in {:.2?}", ir_group.name, keys.len(), started.elapsed());
        let batches = materialize::snapshot(ir_group, keys, vectors, t)?;
        tracing::debug!("group {}: rows built in {:.2?}", ir_group.name, started.elapsed());
        let path = out.join(format!("{}.{}", ir_group.name, args.format.extension()));
        let (read, reproduce) = delta::pinned(ir);
        let mut metadata = serde_json::Map::new();
        metadata.insert("command".to_owned(), "materialize".into());
        metadata.insert("group".to_owned(), ir_group.name.clone().into());
        metadata.insert("spec_version".to_owned(), ir.spec_hash.clone().into());
        metadata.insert("group_version".to_owned(), ir_group.version.clone().into());
        metadata.insert("target".to_owned(), args.target.target().as_str().into());
        metadata.insert("as_of".to_owned(), featc_runtime::io::time::rfc3339(t).into());
        metadata.insert("sources".to_owned(), read.into());
        metadata.insert("reproduce".to_owned(), reproduce.join(" ").into());
        // A table keeps every run's snapshot, told apart by `as_of`.
        let version = materialize::write(&batches, &path, args.format.format(), &metadata, delta::write::Mode::Append)?;
        tracing::debug!("group {}: written in {:.2?}", ir_group.name, started.elapsed());
        eprintln!(
            "wrote {} keys of group {} as of {} to {}{}",
            batches.iter().map(|b| b.num_rows()).sum::<usize>(),
            ir_group.name,
            featc_runtime::io::time::rfc3339(t),
            path.display(),
            version.map(|v| format!(" (Delta version {v})")).unwrap_or_default()
        );
    }
    // Written; the streams close as usual, the state is left to the exit.
    answering.leave();
    Ok(ExitCode::SUCCESS)
}

/// What answers the features as of a time: a runtime with its state loaded, or (Lambda, with
/// a stored view that serves as it stands) the speed layer with the view read from its files
/// one key at a time, which never holds the view's state.
enum Answering {
    Loaded(Box<dyn FeatureReader>),
    OnDisk(Box<ViewOnDisk>),
}

/// Opens the runtime `--target` names, its logs read up to `t`.
fn open(args: &Args, t: i64, pins: &[(Option<String>, DeltaPin)]) -> Result<Answering, CliError> {
    if args.target == TargetArg::Lambda && pins.is_empty() {
        let (ir, dir) = project::load(&args.paths, Target::Lambda)?;
        let data_dir = project::data_dir(args.data_dir.clone(), &dir);
        if let Some((mut on_disk, seeded)) = ViewOnDisk::open(ir, &dir, &data_dir)? {
            seeded.iter().for_each(|line| eprintln!("{line}"));
            on_disk.read_until(t);
            let progress = project::bar(on_disk.backlog()?, args.target.reading(), false);
            let started = std::time::Instant::now();
            on_disk.catch_up(|n| progress.inc(n))?;
            progress.finish_and_clear();
            tracing::debug!("speed layer read in {:.2?}", started.elapsed());
            return Ok(Answering::OnDisk(Box::new(on_disk)));
        }
    }
    loaded(args, t, pins)
}

/// The runtime `--target` names with its state loaded, its logs read up to `t`.
fn loaded(args: &Args, t: i64, pins: &[(Option<String>, DeltaPin)]) -> Result<Answering, CliError> {
    let mut reader = project::open_reader(&args.paths, args.target, args.data_dir.clone(), Some(t), false, pins)?;
    project::catch_up(&mut *reader, args.target.reading(), false)?;
    Ok(Answering::Loaded(reader))
}

impl Answering {
    fn ir(&self) -> &FeatureIr {
        match self {
            Answering::Loaded(reader) => reader.ir(),
            Answering::OnDisk(on_disk) => on_disk.ir(),
        }
    }

    /// Every key of group `gi` in order, with its feature vector as of `t`.
    fn vectors(&self, gi: usize, t: i64) -> Result<Vectors, CliError> {
        Ok(match self {
            Answering::Loaded(reader) => {
                let keys = reader.keys(gi);
                let vectors = reader.lookup_all(gi, &keys, t)?;
                (keys, vectors)
            }
            Answering::OnDisk(on_disk) => on_disk.vectors(gi, t)?,
        })
    }

    fn leave(self) {
        match self {
            Answering::Loaded(mut reader) => project::leave(reader.take_state()),
            Answering::OnDisk(on_disk) => project::leave(on_disk),
        }
    }
}
