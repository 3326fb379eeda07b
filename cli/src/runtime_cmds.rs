//! `featc run`, `get`, `log append` and `example-data`: the CLI's side of the runtime.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use featc_runtime::runners::kappa::{KappaRunner, json_value};
use featc_runtime::value::Value;
use indicatif::{ProgressBar, ProgressStyle};

use crate::files;

/// Checks a project and lowers it; diagnostics are printed and `Err(1)` returned on errors.
fn load_ir(paths: &[PathBuf]) -> Result<Result<(featc::ir::FeatureIr, PathBuf), ExitCode>, String> {
    load_ir_for(paths, featc::ir::Target::Kappa)
}

/// Checks a project for `target` and lowers it.
fn load_ir_for(
    paths: &[PathBuf],
    target: featc::ir::Target,
) -> Result<Result<(featc::ir::FeatureIr, PathBuf), ExitCode>, String> {
    let projects = files::projects(paths)?;
    let [project] = projects.as_slice() else {
        return Err(format!("one project at a time; found {} folders of .feat files", projects.len()));
    };
    let sources = files::load(project)?;
    let checked = featc::check_project(&sources, &featc::Options { targets: vec![target] });
    if checked.has_errors() {
        eprint!("{}", featc::diagnostic::render::render(&checked.diagnostics, &sources, false));
        eprintln!("the project has errors");
        return Ok(Err(ExitCode::from(1)));
    }
    let dir = project.first().and_then(|p| p.parent()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok(Ok((featc::ir::lower(&checked.project)?, dir)))
}

fn open_runner(
    paths: &[PathBuf],
    data_dir: Option<PathBuf>,
    quiet: bool,
) -> Result<Result<KappaRunner, ExitCode>, String> {
    open_runner_as_of(paths, data_dir, quiet, None)
}

/// A runner on the live state, or (`as_of`) on a replay of the events up to a time.
fn open_runner_as_of(
    paths: &[PathBuf],
    data_dir: Option<PathBuf>,
    quiet: bool,
    as_of: Option<i64>,
) -> Result<Result<KappaRunner, ExitCode>, String> {
    let (ir, dir) = match load_ir(paths)? {
        Ok(x) => x,
        Err(code) => return Ok(Err(code)),
    };
    let data_dir = data_dir.unwrap_or_else(|| dir.join(".featc"));
    let (runner, seeded) = match as_of {
        None => KappaRunner::open(ir, &dir, &data_dir)?,
        Some(t) => KappaRunner::open_as_of(ir, &dir, &data_dir, t)?,
    };
    if !quiet {
        for line in seeded {
            eprintln!("{line}");
        }
    }
    Ok(Ok(runner))
}

fn catch_up(runner: &mut KappaRunner, quiet: bool) -> Result<featc_runtime::runners::kappa::ReplayReport, String> {
    let total = runner.backlog()?;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("replay {bar:40} {pos}/{len} events, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = runner.catch_up(|n| bar.inc(n))?;
    bar.finish_and_clear();
    Ok(report)
}

pub(crate) fn run(
    paths: &[PathBuf],
    lambda: bool,
    data_dir: Option<PathBuf>,
    until_caught_up: bool,
) -> Result<ExitCode, String> {
    if lambda {
        return run_lambda(paths, data_dir, until_caught_up);
    }
    let mut runner = match open_runner(paths, data_dir, false)? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let started = std::time::Instant::now();
    let report = catch_up(&mut runner, false)?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "replayed {} events in {seconds:.2} s: {} counted, {} dead-lettered, {} keys",
        report.events, report.accepted, report.dead_letters, report.keys
    );
    for g in runner.groups() {
        let (accepted, dead) = g.counters();
        eprintln!("  group {}: {} keys, {accepted} events counted, {dead} dead-lettered", g.name, g.key_count());
    }
    for path in runner.write_dead_letters()? {
        eprintln!("  dead letters: {}", path.display());
    }
    eprintln!("  state snapshot: {}", runner.snapshot()?.display());
    if until_caught_up {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("following the logs (Ctrl-C to stop)");
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let report = catch_up(&mut runner, true)?;
        if report.events > 0 {
            eprintln!("read {} new events", report.events);
            runner.write_dead_letters()?;
            runner.snapshot()?;
        }
    }
}

/// A progress bar for `total` events (hidden when `quiet`).
fn bar(total: u64, what: &str, quiet: bool) -> ProgressBar {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} events, {{per_sec}}, eta {{eta}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The events of the sources' history files, for a progress bar's length.
fn history_events(ir: &featc::ir::FeatureIr, dir: &Path) -> u64 {
    ir.sources
        .iter()
        .filter_map(|s| featc_runtime::io::history::read(dir, s).ok())
        .map(|h| h.batches.iter().map(|b| b.num_rows() as u64).sum::<u64>())
        .sum()
}

/// Computes the batch view as of `cutoff` (default: the latest history event, floored to the
/// batch cadence) and stores it as the current view.
fn backfill(
    ir: &featc::ir::FeatureIr,
    dir: &Path,
    data_dir: &Path,
    cutoff: Option<i64>,
    quiet: bool,
) -> Result<featc_runtime::runners::lambda::BatchView, String> {
    use featc_runtime::runners::lambda::batch;
    use featc_runtime::store::view as store;
    let cutoff = match cutoff {
        Some(c) => c,
        None => batch::default_cutoff(
            ir,
            batch::latest_event(ir, dir)?.ok_or("no history events to compute a batch view from")?,
        ),
    };
    let started = std::time::Instant::now();
    let progress = bar(history_events(ir, dir), "batch", quiet);
    let mut view = batch::compute(ir, dir, cutoff, &mut |n| progress.inc(n))?;
    progress.finish_and_clear();
    let folder = store::write(&mut view, data_dir)?;
    if !quiet {
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

/// A runner of either target, for the commands that read features.
enum Served {
    Kappa(Box<KappaRunner>),
    Lambda(Box<featc_runtime::runners::lambda::LambdaRunner>),
}

impl Served {
    /// Opens a project's runtime: Kappa on the live state, or as of `as_of`; Lambda on the
    /// stored batch view (computed first when there is none).
    fn open(
        paths: &[PathBuf],
        lambda: bool,
        data_dir: Option<PathBuf>,
        as_of: Option<i64>,
        quiet: bool,
    ) -> Result<Result<Served, ExitCode>, String> {
        if !lambda {
            return Ok(open_runner_as_of(paths, data_dir, quiet, as_of)?.map(|r| Served::Kappa(Box::new(r))));
        }
        let (ir, dir) = match load_ir_for(paths, featc::ir::Target::Lambda)? {
            Ok(x) => x,
            Err(code) => return Ok(Err(code)),
        };
        let data_dir = data_dir.unwrap_or_else(|| dir.join(".featc"));
        let view = match featc_runtime::store::view::read(&ir, &data_dir)? {
            Some(v) if v.stale.is_empty() => v,
            // Groups new or changed since the view was built: only they are computed, at the
            // view's cutoff; the other groups keep their stored state.
            Some(mut v) => {
                let names: Vec<&str> =
                    v.stale.iter().filter_map(|&g| ir.groups.get(g)).map(|g| g.name.as_str()).collect();
                let names = names.join(", ");
                let progress = bar(history_events(&ir, &dir), "batch", quiet);
                featc_runtime::runners::lambda::batch::refresh(&ir, &dir, &mut v, &mut |n| progress.inc(n))?;
                progress.finish_and_clear();
                featc_runtime::store::view::write(&mut v, &data_dir)?;
                // Said even when quiet: the user should know that a spec edit cost a recompute.
                eprintln!("recomputed the batch view of {names} (new or changed); kept the other groups' views");
                v
            }
            None => backfill(&ir, &dir, &data_dir, None, quiet)?,
        };
        let (mut runner, seeded) = featc_runtime::runners::lambda::LambdaRunner::open(ir, &dir, &data_dir, view)?;
        if !quiet {
            seeded.iter().for_each(|line| eprintln!("{line}"));
        }
        if let Some(t) = as_of {
            runner.read_until(t);
        }
        Ok(Ok(Served::Lambda(Box::new(runner))))
    }

    /// Runs the batch layer again (default cutoff), stores the view, and opens Lambda on it.
    fn recompute(paths: &[PathBuf], data_dir: PathBuf) -> Result<Result<Served, ExitCode>, String> {
        let (ir, dir) = match load_ir_for(paths, featc::ir::Target::Lambda)? {
            Ok(x) => x,
            Err(code) => return Ok(Err(code)),
        };
        let view = backfill(&ir, &dir, &data_dir, None, false)?;
        let (runner, _) = featc_runtime::runners::lambda::LambdaRunner::open(ir, &dir, &data_dir, view)?;
        Ok(Ok(Served::Lambda(Box::new(runner))))
    }

    fn catch_up(&mut self, quiet: bool) -> Result<featc_runtime::runners::kappa::ReplayReport, String> {
        match self {
            Served::Kappa(r) => catch_up(r, quiet),
            Served::Lambda(r) => {
                let progress = bar(r.backlog()?, "speed layer", quiet);
                let report = r.catch_up(|n| progress.inc(n))?;
                progress.finish_and_clear();
                Ok(report)
            }
        }
    }

    fn ir(&self) -> &featc::ir::FeatureIr {
        match self {
            Served::Kappa(r) => r.ir(),
            Served::Lambda(r) => r.ir(),
        }
    }

    fn keys(&self, gi: usize) -> Vec<Vec<Value>> {
        match self {
            Served::Kappa(r) => r.groups().get(gi).map(|g| g.keys()).unwrap_or_default(),
            Served::Lambda(r) => r.keys(gi),
        }
    }

    /// The earliest time the runtime answers for a key: its latest event, and for Lambda not
    /// before the batch view's cutoff. `None` for a key without state.
    fn present(&self, gi: usize, key: &[Value]) -> Option<i64> {
        match self {
            Served::Kappa(r) => r.groups().get(gi).and_then(|g| g.latest(key)),
            Served::Lambda(r) => r.latest(gi, key).map(|t| t.max(r.view.cutoff)),
        }
    }

    fn lookup(&self, gi: usize, key: &[Value], t: i64) -> Result<Option<Vec<Value>>, String> {
        match self {
            Served::Kappa(r) => r.groups().get(gi).map_or(Ok(None), |g| g.lookup(key, t)),
            Served::Lambda(r) => r.lookup(gi, key, t),
        }
    }
}

fn run_lambda(paths: &[PathBuf], data_dir: Option<PathBuf>, until_caught_up: bool) -> Result<ExitCode, String> {
    let mut served = match Served::open(paths, true, data_dir.clone(), None, false)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let started = std::time::Instant::now();
    let report = served.catch_up(false)?;
    let Served::Lambda(runner) = &served else { return Ok(ExitCode::SUCCESS) };
    eprintln!(
        "speed layer: read {} events after the cutoff {} in {:.2} s: {} counted, {} dead-lettered",
        report.events,
        featc_runtime::io::time::rfc3339(runner.view.cutoff),
        started.elapsed().as_secs_f64(),
        report.accepted,
        report.dead_letters
    );
    for (gi, g) in runner.speed_groups().iter().enumerate() {
        let (accepted, dead) = g.counters();
        eprintln!(
            "  group {}: {} keys, {accepted} events after the cutoff counted, {dead} dead-lettered",
            g.name,
            runner.keys(gi).len()
        );
    }
    if until_caught_up {
        return Ok(ExitCode::SUCCESS);
    }
    // The batch cadence, in wall-clock time: the shortest `batch every` (one day by default).
    let every = runner.ir().groups.iter().filter_map(|g| g.batch_every_ms).min().unwrap_or(86_400_000);
    let mut next_batch = std::time::Instant::now() + std::time::Duration::from_millis(every);
    eprintln!("following the logs (Ctrl-C to stop); the batch layer runs again every {}", duration_text(every));
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        if std::time::Instant::now() >= next_batch {
            // Recompute over the whole history, swap the view in, and rebuild the speed layer
            // after the new cutoff (the trim).
            let mut reopened = match Served::recompute(paths, data_dir_of(paths, data_dir.as_deref())?)? {
                Ok(s) => s,
                Err(code) => return Ok(code),
            };
            reopened.catch_up(true)?;
            served = reopened;
            next_batch = std::time::Instant::now() + std::time::Duration::from_millis(every);
            continue;
        }
        let report = served.catch_up(true)?;
        if report.events > 0 {
            eprintln!("read {} new events", report.events);
        }
    }
}

/// Milliseconds as the language writes durations: `1d`, `6h`, `90s`, `250ms`.
fn duration_text(ms: u64) -> String {
    [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")]
        .iter()
        .find(|(unit, _)| ms.is_multiple_of(*unit) && ms >= *unit)
        .map_or_else(|| format!("{ms}ms"), |(unit, name)| format!("{}{name}", ms / unit))
}

/// The data dir a command uses: the one given, or `.featc` in the project.
fn data_dir_of(paths: &[PathBuf], data_dir: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(d) = data_dir {
        return Ok(d.to_path_buf());
    }
    let projects = files::projects(paths)?;
    let dir = projects
        .first()
        .and_then(|p| p.first())
        .and_then(|p| p.parent())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok(dir.join(".featc"))
}

/// `featc batch`: recomputes the batch view over the whole history and swaps it in.
pub(crate) fn batch(paths: &[PathBuf], cutoff: Option<&str>, data_dir: Option<PathBuf>) -> Result<ExitCode, String> {
    let (ir, dir) = match load_ir_for(paths, featc::ir::Target::Lambda)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let data_dir = data_dir.unwrap_or_else(|| dir.join(".featc"));
    let cutoff = cutoff.map(parse_time).transpose()?;
    backfill(&ir, &dir, &data_dir, cutoff, false)?;
    Ok(ExitCode::SUCCESS)
}

/// `featc verify`: both targets and the reference over the same events.
pub(crate) fn verify(
    paths: &[PathBuf],
    cutoff: Option<&str>,
    json: bool,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let (ir, dir) = match load_ir_for(paths, featc::ir::Target::Lambda)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let data_dir = data_dir.unwrap_or_else(|| dir.join(".featc"));
    let cutoff = cutoff.map(parse_time).transpose()?;
    let progress = bar(0, "verify", json);
    progress.set_length(3 * history_events(&ir, &dir));
    let report = featc_runtime::runners::verify::verify(&ir, &dir, &data_dir, cutoff, &mut |n| progress.inc(n))?;
    progress.finish_and_clear();
    let unexplained = report.unexplained();
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        println!(
            "verified {} keys at {} feature values per target ({} events, batch cutoff {}): {} differences, {} of them unexplained",
            report.keys,
            report.compared,
            report.events,
            featc_runtime::io::time::rfc3339(report.cutoff),
            report.differences.len(),
            unexplained
        );
        for d in &report.differences {
            let key: Vec<String> = d.key.iter().map(|v| json_value(v).to_string()).collect();
            println!(
                "  {}[{}].{} at {}: lambda {}, kappa {}, reference {}{}",
                d.group,
                key.join(", "),
                d.feature,
                featc_runtime::io::time::rfc3339(d.at),
                json_value(&d.lambda),
                json_value(&d.kappa),
                d.reference,
                match (d.explained, d.late_events) {
                    (true, n) => format!(
                        " (explained: {n} late events for this key, dead-lettered by the stream, counted by the batch layer)"
                    ),
                    (false, 0) => String::new(),
                    (false, n) => format!(" (unexplained: the {n} late events of this key do not account for it)"),
                }
            );
        }
        for (group, reason, _) in &report.late {
            println!("  late event in {group}: {reason}");
        }
    }
    Ok(if unexplained == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `--key name=value`: the value typed like the key column.
fn key_value(text: &str, ty: &featc::ir::Ty) -> Value {
    match ty {
        featc::ir::Ty::I64 => text.parse().map_or_else(|_| Value::Str(Arc::from(text)), Value::I64),
        featc::ir::Ty::Bool => text.parse().map_or_else(|_| Value::Str(Arc::from(text)), Value::Bool),
        _ => Value::Str(Arc::from(text)),
    }
}

pub(crate) fn get(
    paths: &[PathBuf],
    lambda: bool,
    keys: &[String],
    at: Option<&str>,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let pairs: Vec<(&str, &str)> = keys
        .iter()
        .map(|k| k.split_once('=').ok_or_else(|| format!("`--key {k}`: write name=value")))
        .collect::<Result<_, _>>()?;
    let at_ms = at.map(parse_time).transpose()?;
    let mut served = match Served::open(paths, lambda, data_dir, None, true)? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    served.catch_up(true)?;
    let mut results = Vec::new();
    for (gi, ir_group) in served.ir().groups.iter().enumerate() {
        let names: Vec<&str> = ir_group.keys.iter().map(|k| k.name.as_str()).collect();
        if names.len() != pairs.len() || !names.iter().all(|n| pairs.iter().any(|(k, _)| k == n)) {
            continue;
        }
        let key: Vec<Value> = ir_group
            .keys
            .iter()
            .map(|k| key_value(pairs.iter().find(|(n, _)| *n == k.name).map_or("", |(_, v)| v), &k.ty.ty))
            .collect();
        let Some(latest) = served.present(gi, &key) else {
            results.push(serde_json::json!({ "group": ir_group.name, "found": false }));
            continue;
        };
        let t = at_ms.unwrap_or(latest);
        let vector = served.lookup(gi, &key, t)?.unwrap_or_default();
        let features: serde_json::Map<String, serde_json::Value> =
            ir_group.outputs.iter().cloned().zip(vector.iter().map(json_value)).collect();
        results.push(serde_json::json!({
            "group": ir_group.name,
            "found": true,
            "as_of": featc_runtime::io::time::rfc3339(t),
            "features": features,
        }));
    }
    if results.is_empty() {
        return Err(format!(
            "no feature group is keyed by {}",
            pairs.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
        ));
    }
    println!("{}", serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?);
    Ok(ExitCode::SUCCESS)
}

/// `--at`: RFC 3339 or milliseconds since the epoch.
fn parse_time(t: &str) -> Result<i64, String> {
    t.parse::<i64>()
        .ok()
        .or_else(|| featc_runtime::io::time::parse_rfc3339(t))
        .ok_or(format!("`--at {t}`: an RFC 3339 time or milliseconds"))
}

pub(crate) fn materialize(
    paths: &[PathBuf],
    lambda: bool,
    at: &str,
    out: Option<PathBuf>,
    format: featc_runtime::runners::materialize::Format,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let t = parse_time(at)?;
    let mut served = match Served::open(paths, lambda, data_dir.clone(), Some(t), false)? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    served.catch_up(false)?;
    let out = match (out, data_dir) {
        (Some(out), _) => out,
        (None, Some(d)) => d.join("materialized"),
        (None, None) => {
            let (_, dir) = match load_ir(paths)? {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            dir.join(".featc").join("materialized")
        }
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let ext = match format {
        featc_runtime::runners::materialize::Format::Parquet => "parquet",
        featc_runtime::runners::materialize::Format::Csv => "csv",
    };
    for (gi, ir_group) in served.ir().groups.iter().enumerate() {
        let keys = served.keys(gi);
        let batch = featc_runtime::runners::materialize::snapshot(ir_group, &keys, &|k| served.lookup(gi, k, t), t)?;
        let path = out.join(format!("{}.{ext}", ir_group.name));
        featc_runtime::runners::materialize::write(&batch, &path, format)?;
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

pub(crate) fn training_set(
    paths: &[PathBuf],
    spine: &Path,
    time_column: &str,
    out: Option<PathBuf>,
    format: featc_runtime::runners::materialize::Format,
) -> Result<ExitCode, String> {
    let (ir, dir) = match load_ir(paths)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let rows = featc_runtime::runners::training::read_spine(spine)?;
    let started = std::time::Instant::now();
    let progress = bar(history_events(&ir, &dir), "training set", false);
    let set = featc_runtime::runners::training::training_set(&ir, &dir, &rows, time_column, &mut |n| progress.inc(n))?;
    progress.finish_and_clear();
    let ext = match format {
        featc_runtime::runners::materialize::Format::Parquet => "parquet",
        featc_runtime::runners::materialize::Format::Csv => "csv",
    };
    let out = out.unwrap_or_else(|| spine.with_extension(format!("features.{ext}")));
    featc_runtime::runners::materialize::write(&set, &out, format)?;
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

pub(crate) fn log_append(
    paths: &[PathBuf],
    source: &str,
    files: &[PathBuf],
    data_dir: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let (ir, dir) = match load_ir(paths)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let Some(src) = ir.sources.iter().find(|s| s.name == source) else {
        return Err(format!("no source `{source}` in the project"));
    };
    let data_dir = data_dir.unwrap_or_else(|| dir.join(".featc"));
    let log = featc_runtime::io::log::Log::open(&data_dir.join("log"), &src.topic)?;
    for file in files {
        let name = file.to_string_lossy();
        let format = featc::ir::FileFormat::from_path(&name).ok_or(format!("{name}: say .parquet, .csv or .ndjson"))?;
        let mut one = src.clone();
        one.history = Some(featc::ir::HistoryFiles { glob: name.into_owned(), format });
        let history = featc_runtime::io::history::read(Path::new(""), &one)?;
        let (start, end) = log.append(&history.batches)?;
        eprintln!(
            "appended {} events from {} to log `{}` (offsets {start}..{end})",
            end - start,
            file.display(),
            src.topic
        );
        if !history.rejected.is_empty() {
            let path = featc_runtime::runners::kappa::write_rejected(&data_dir, &src.name, &history.rejected)?;
            eprintln!("{} malformed lines dead-lettered to {}", history.rejected.len(), path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn example_data(example: &str, dir: &Path) -> Result<ExitCode, String> {
    let out = dir.join(example).join("data");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    match example {
        "fraud" => {
            let batch = featc_runtime::io::generate::fraud(20_000, 7)?;
            featc_runtime::io::generate::write_parquet(&out.join("transactions.parquet"), &batch)?;
        }
        "recsys" => featc_runtime::io::generate::recsys_ndjson(&out.join("user_events.ndjson"), 20_000, 11)?,
        other => return Err(format!("no example `{other}`: fraud or recsys")),
    }
    eprintln!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
