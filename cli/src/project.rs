//! Paths on the command line in, a checked project's IR and an opened runtime out: what the
//! commands that run a project share (data dir, times, key values, progress bars).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use featc::ir::{DeltaPin, FeatureIr, Target};
use featc_runtime::runners::kappa::{KappaRunner, ReplayReport};
use featc_runtime::runners::lambda::{BatchView, Engine, LambdaRunner, batch};
use featc_runtime::runners::reader::FeatureReader;
use featc_runtime::store::view as store;
use featc_runtime::value::Value;
use indicatif::{ProgressBar, ProgressStyle};

use crate::commands::TargetArg;
use crate::error::CliError;
use crate::files;
use featc_runtime::io::lock::WriterLock;

/// Checks a project for `target` and lowers it: its IR and its folder. On errors the
/// diagnostics are printed and [`CliError::HasErrors`] returned.
pub(crate) fn load(paths: &[PathBuf], target: Target) -> Result<(FeatureIr, PathBuf), CliError> {
    let projects = files::projects(paths)?;
    let [project] = projects.as_slice() else {
        return Err(CliError::Usage(format!("one project at a time; found {} folders of .feat files", projects.len())));
    };
    let sources = files::load(project)?;
    let checked = featc::check_project(&sources, &featc::Options { targets: vec![target] });
    if checked.has_errors() {
        eprint!("{}", featc::diagnostic::render::render(&checked.diagnostics, &sources, false));
        eprintln!("the project has errors");
        return Err(CliError::HasErrors);
    }
    let dir = project.first().and_then(|p| p.parent()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok((featc::ir::lower(&checked.project)?, dir))
}

/// Where the logs, state and views live: the folder given, or `.featc` in the project folder.
pub(crate) fn data_dir(given: Option<PathBuf>, dir: &Path) -> PathBuf {
    given.unwrap_or_else(|| dir.join(".featc"))
}

/// The data dir a command uses without loading the project: the one given, or `.featc` in the
/// folder of the project's first file.
pub(crate) fn data_dir_of(paths: &[PathBuf], given: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(d) = given {
        return Ok(d.to_path_buf());
    }
    Ok(project_dir(paths)?.join(".featc"))
}

/// The folder of the project's first file (where `featc.toml` is looked for).
pub(crate) fn project_dir(paths: &[PathBuf]) -> Result<PathBuf, CliError> {
    let projects = files::projects(paths)?;
    Ok(projects
        .first()
        .and_then(|p| p.first())
        .and_then(|p| p.parent())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf))
}

/// Takes the writer lock of the data dir a writing command uses (`run`, `log append`, `batch`):
/// one writer per data folder; a second one is refused with a message naming the first.
pub(crate) fn lock_writer(paths: &[PathBuf], given: Option<&Path>) -> Result<WriterLock, CliError> {
    Ok(WriterLock::acquire(&data_dir_of(paths, given)?)?)
}

/// Whether a command holds the data folder's runner lock (`run`, `batch`) or only reads (`get`,
/// `materialize`, ...). A reader that had to compute a batch view stores it only when it can
/// take the lock at once; otherwise it uses the view without storing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Writer,
    Reader,
}

/// Stores a batch view as the current one, if `access` allows: see [`Access`].
fn store_view(
    ir: &FeatureIr,
    view: &mut BatchView,
    data_dir: &Path,
    access: Access,
) -> Result<Option<PathBuf>, CliError> {
    let _lock = match access {
        Access::Writer => None,
        Access::Reader => match WriterLock::acquire(data_dir) {
            Ok(lock) => Some(lock),
            Err(why) => {
                eprintln!("the batch view was computed but not stored: {why}");
                return Ok(None);
            }
        },
    };
    Ok(Some(store::write(ir, view, data_dir)?))
}

/// `--at` (and `--cutoff`): RFC 3339 or milliseconds since the epoch.
pub(crate) fn parse_time(t: &str) -> Result<i64, CliError> {
    t.parse::<i64>()
        .ok()
        .or_else(|| featc_runtime::io::time::parse_rfc3339(t))
        .ok_or_else(|| CliError::Usage(format!("`--at {t}`: an RFC 3339 time or milliseconds")))
}

/// `--key name=value`: the value typed like the key column.
pub(crate) fn key_value(text: &str, ty: &featc::ir::Ty) -> Value {
    match ty {
        featc::ir::Ty::I64 => text.parse().map_or_else(|_| Value::Str(Arc::from(text)), Value::I64),
        featc::ir::Ty::Bool => text.parse().map_or_else(|_| Value::Str(Arc::from(text)), Value::Bool),
        _ => Value::Str(Arc::from(text)),
    }
}

/// A progress bar for `total` events (hidden when `quiet`).
pub(crate) fn bar(total: u64, what: &str, quiet: bool) -> ProgressBar {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} events, {{per_sec}}, eta {{eta}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// About how many events the sources' history files hold, for a progress bar's length.
pub(crate) fn history_events(ir: &FeatureIr, dir: &Path) -> u64 {
    ir.sources.iter().map(|s| featc_runtime::io::history::estimate_rows(dir, s)).sum()
}

/// Reads a runtime's logs to their end, behind a progress bar called `what`.
pub(crate) fn catch_up(reader: &mut dyn FeatureReader, what: &str, quiet: bool) -> Result<ReplayReport, CliError> {
    let progress = bar(reader.backlog()?, what, quiet);
    let report = reader.catch_up(&mut |n| progress.inc(n))?;
    progress.finish_and_clear();
    Ok(report)
}

/// Opens a project's runtime for reading features: Kappa on the live state, or as of `as_of`;
/// Lambda on the stored batch view (computed first when there is none).
/// With `as_of` under Kappa, every Delta-bound source is read at a fixed version (`pins`, else
/// its latest now), which the reader's IR records (`featc_runtime::io::delta::pinned`).
pub(crate) fn open_reader(
    paths: &[PathBuf],
    target: TargetArg,
    data_dir: Option<PathBuf>,
    as_of: Option<i64>,
    quiet: bool,
    pins: &[(Option<String>, DeltaPin)],
) -> Result<Box<dyn FeatureReader>, CliError> {
    Ok(match target {
        TargetArg::Kappa => Box::new(open_kappa(paths, data_dir, as_of, quiet, pins)?),
        TargetArg::Lambda if !pins.is_empty() => {
            return Err(CliError::Usage(
                "a Delta version is read by a replay: use `--target kappa` with `--as-of-version`".to_owned(),
            ));
        }
        TargetArg::Lambda => Box::new(open_lambda(paths, data_dir, as_of, quiet, Access::Reader)?),
    })
}

/// The Kappa runtime on the live state, or (`as_of`) on a replay of the events up to a time.
/// What seeding the logs did is printed unless `quiet`.
pub(crate) fn open_kappa(
    paths: &[PathBuf],
    data_dir: Option<PathBuf>,
    as_of: Option<i64>,
    quiet: bool,
    pins: &[(Option<String>, DeltaPin)],
) -> Result<KappaRunner, CliError> {
    let (mut ir, dir) = load(paths, Target::Kappa)?;
    let data_dir = self::data_dir(data_dir, &dir);
    if as_of.is_some() {
        featc_runtime::io::delta::pin_sources(&mut ir, &dir, pins)?;
    }
    let (runner, seeded) = match as_of {
        None => KappaRunner::open(ir, &dir, &data_dir)?,
        Some(t) => KappaRunner::open_as_of(ir, &dir, &data_dir, t)?,
    };
    if !quiet {
        for line in seeded {
            eprintln!("{line}");
        }
    }
    Ok(runner)
}

/// The Lambda runtime on the stored batch view: computed first when there is none, and its
/// groups new or changed since it was built recomputed. With `as_of`, the speed layer reads
/// only the events up to that time.
pub(crate) fn open_lambda(
    paths: &[PathBuf],
    data_dir: Option<PathBuf>,
    as_of: Option<i64>,
    quiet: bool,
    access: Access,
) -> Result<LambdaRunner, CliError> {
    let (ir, dir) = load(paths, Target::Lambda)?;
    let data_dir = self::data_dir(data_dir, &dir);
    let view = match store::read(&ir, &data_dir)? {
        Some(v) if v.stale.is_empty() => v,
        // Groups new or changed since the view was built: only they are computed, at the
        // view's cutoff; the other groups keep their stored state.
        Some(mut v) => {
            let names: Vec<&str> = v.stale.iter().filter_map(|&g| ir.groups.get(g)).map(|g| g.name.as_str()).collect();
            let names = names.join(", ");
            let progress = bar(history_events(&ir, &dir), "batch", quiet);
            batch::refresh(&ir, &dir, &mut v, &mut |n| progress.inc(n))?;
            progress.finish_and_clear();
            store_view(&ir, &mut v, &data_dir, access)?;
            // Said even when quiet: the user should know that a spec edit cost a recompute.
            eprintln!("recomputed the batch view of {names} (new or changed); kept the other groups' views");
            v
        }
        None => backfill(&ir, &dir, &data_dir, None, quiet, access)?,
    };
    let (mut runner, seeded) = LambdaRunner::open(ir, &dir, &data_dir, view)?;
    if !quiet {
        seeded.iter().for_each(|line| eprintln!("{line}"));
    }
    if let Some(t) = as_of {
        runner.read_until(t);
    }
    Ok(runner)
}

/// Runs the batch layer again (default cutoff), stores the view, and opens Lambda on it.
pub(crate) fn recompute_lambda(paths: &[PathBuf], data_dir: &Path) -> Result<LambdaRunner, CliError> {
    let (ir, dir) = load(paths, Target::Lambda)?;
    let view = backfill(&ir, &dir, data_dir, None, false, Access::Writer)?;
    let (runner, _) = LambdaRunner::open(ir, &dir, data_dir, view)?;
    Ok(runner)
}

/// Computes the batch view as of `cutoff` (default: the latest history event, floored to the
/// batch cadence) and stores it as the current view.
pub(crate) fn backfill(
    ir: &FeatureIr,
    dir: &Path,
    data_dir: &Path,
    cutoff: Option<i64>,
    quiet: bool,
    access: Access,
) -> Result<BatchView, CliError> {
    backfill_with(ir, dir, data_dir, cutoff, quiet, access, &Engine::DataFusion)
}

/// Leaves a command's state to the process's exit instead of freeing it: the operating system
/// takes a process's memory back at once, where freeing a million keys' partials one
/// allocation at a time took seconds on one core (`featc batch` at 1M keys, docs/benchmarks.md).
/// Only for what a command has finished with, when it is about to return to `main`.
pub(crate) fn leave<T>(state: T) {
    std::mem::forget(state);
}

/// [`backfill`] on the engine given.
pub(crate) fn backfill_with(
    ir: &FeatureIr,
    dir: &Path,
    data_dir: &Path,
    cutoff: Option<i64>,
    quiet: bool,
    access: Access,
    engine: &Engine,
) -> Result<BatchView, CliError> {
    let cutoff = match cutoff {
        Some(c) => c,
        None => batch::default_cutoff(
            ir,
            batch::latest_event(ir, dir)?
                .ok_or_else(|| CliError::Runtime("no history events to compute a batch view from".to_owned()))?,
        ),
    };
    let started = std::time::Instant::now();
    let progress = bar(history_events(ir, dir), "batch", quiet);
    let mut view = engine.compute(ir, dir, data_dir, cutoff, &mut |n| progress.inc(n))?;
    progress.finish_and_clear();
    let folder = store_view(ir, &mut view, data_dir, access)?;
    if let (false, Some(folder)) = (quiet, folder) {
        eprintln!(
            "batch view as of {} ({} keys) computed in {:.2} s and stored in {}",
            featc_runtime::io::time::rfc3339(cutoff),
            view.groups.iter().map(|g| g.key_count()).sum::<usize>(),
            started.elapsed().as_secs_f64(),
            folder.display()
        );
    }
    Ok(view)
}
