//! A project in, its runtime running out: the Kappa replay of each source's log from offset 0
//! then following it, or the Lambda batch view and speed layer: featc run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use featc_runtime::io::delta::snapshots::FeatureSnapshots;
use featc_runtime::io::kafka::KafkaConfig;
use featc_runtime::io::kafka::sink::FeatureSink;
use featc_runtime::runners::kappa::KappaRunner;

mod member;

use crate::commands::TargetArg;
use crate::error::CliError;
use crate::project;

// `featc run`; the help text is the doc comment of `Command::Run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project folder.
    paths: Vec<PathBuf>,
    /// The target to run.
    #[arg(long, value_enum)]
    target: TargetArg,
    /// Stop once the logs are drained instead of following them.
    #[arg(long)]
    until_caught_up: bool,
    /// Where the logs, state and dead letters live.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Kappa: write a snapshot of the state (with the offsets it includes) at least this often
    /// while replaying, in seconds, so a run killed midway resumes from it.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    checkpoint_every: u64,
    /// Kappa: append every group's feature vectors, as of the stream's now, to a Delta table
    /// per group in this folder (`<group>.delta`): the offline feature store, one commit per
    /// snapshot, on the cadence of `--features-every`.
    #[arg(long, value_name = "FOLDER")]
    features_to: Option<PathBuf>,
    /// How often `--features-to` snapshots, in seconds (at a checkpoint, once at least this
    /// long since the last; also once when a replay catches up).
    #[arg(long, default_value_t = 3600, value_name = "SECONDS", requires = "features_to")]
    features_every: u64,
    /// Kappa over Kafka: run as one member of a consumer group that shares the topic's
    /// partitions (scale-out). Every member is given the same shared data folder; each owns
    /// some partitions, their state in `partitions/<p>` under it, handed over at a rebalance.
    #[arg(long, conflicts_with_all = ["until_caught_up", "features_to"])]
    member: bool,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.member {
        if args.target != TargetArg::Kappa {
            return Err(CliError::Usage("`--member` runs the Kappa plan: use `--target kappa`".to_owned()));
        }
        // Members share the data folder: each locks the folders of the partitions it owns.
        return member::run(&args.paths, args.data_dir, Duration::from_secs(args.checkpoint_every));
    }
    // Held for the whole run, following included.
    let _lock = project::lock_writer(&args.paths, args.data_dir.as_deref())?;
    match args.target {
        TargetArg::Kappa => {
            let snapshots =
                args.features_to.map(|dir| FeatureSnapshots::new(&dir, Duration::from_secs(args.features_every)));
            run_kappa(
                &args.paths,
                args.data_dir,
                args.until_caught_up,
                Duration::from_secs(args.checkpoint_every),
                snapshots,
            )
        }
        TargetArg::Lambda if args.features_to.is_some() => {
            Err(CliError::Usage("`--features-to` snapshots a Kappa pipeline: use `--target kappa`".to_owned()))
        }
        TargetArg::Lambda => run_lambda(&args.paths, args.data_dir, args.until_caught_up),
    }
}

/// Replays the logs through the plan, writes dead letters and a state snapshot, then follows
/// the logs (unless `until_caught_up`).
fn run_kappa(
    paths: &[PathBuf],
    data_dir: Option<PathBuf>,
    until_caught_up: bool,
    checkpoint_every: Duration,
    mut snapshots: Option<FeatureSnapshots>,
) -> Result<ExitCode, CliError> {
    let mut runner = project::open_kappa(paths, data_dir, None, false, &[])?;
    // The groups `[kafka.sink]` names publish their changed vectors before each snapshot.
    let mut sink = match KafkaConfig::load(&project::project_dir(paths)?)? {
        Some(config) => FeatureSink::open(&config, &runner)?,
        None => None,
    };
    let published = std::cell::Cell::new(0);
    let caught_up = std::cell::Cell::new(false);
    let mut publish = |runner: &KappaRunner| -> Result<(), String> {
        if let Some(sink) = &mut sink {
            published.set(published.get() + sink.publish(runner)?);
        }
        if let Some(snapshots) = snapshots.as_mut().filter(|s| s.due(caught_up.get())) {
            for w in snapshots.write(runner)? {
                tracing::info!(
                    "feature snapshot of {} ({} keys): {} version {}",
                    w.group,
                    w.keys,
                    w.table.display(),
                    w.version
                );
            }
        }
        Ok(())
    };
    let started = Instant::now();
    let progress = project::bar(runner.backlog()?, TargetArg::Kappa.reading(), false);
    let (report, snapshots) = runner.catch_up_checkpointing(checkpoint_every, |n| progress.inc(n), &mut publish)?;
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "replayed {} events in {seconds:.2} s: {} counted, {} dead-lettered, {} keys{}",
        report.events,
        report.accepted,
        report.dead_letters,
        report.keys,
        if snapshots > 0 { format!(" ({snapshots} snapshots on the way)") } else { String::new() }
    );
    for g in runner.groups() {
        let (accepted, dead) = g.counters();
        eprintln!("  group {}: {} keys, {accepted} events counted, {dead} dead-lettered", g.name, g.key_count());
    }
    for path in runner.write_dead_letters()? {
        eprintln!("  dead letters: {}", path.display());
    }
    caught_up.set(true);
    publish(&runner)?;
    if published.get() > 0 {
        eprintln!("  feature vectors published to Kafka: {}", published.get());
    }
    // The dead letters are written first, so the snapshot never counts one the files lack.
    eprintln!("  state snapshot: {}", runner.snapshot()?.display());
    if until_caught_up {
        // Checkpointed; the streams and locks close as usual, the state is left to the exit.
        project::leave(runner.into_groups());
        return Ok(ExitCode::SUCCESS);
    }
    tracing::info!("following the logs (Ctrl-C to stop)");
    let mut lag_said = Instant::now();
    let mut retry = Retry::default();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let step = (|| -> Result<(), CliError> {
            let (report, _) = runner.catch_up_checkpointing(checkpoint_every, |_| {}, &mut publish)?;
            // Also what an earlier read that failed midway left unsaved.
            if runner.unsaved() {
                publish(&runner)?;
                runner.snapshot()?;
                // The consumer lag: what arrived while this read ran (a broker's watermarks
                // are a round trip, so asked at most every 10 s).
                if lag_said.elapsed() >= Duration::from_secs(10) {
                    tracing::info!("read {} new events; lag {} events", report.events, runner.backlog()?);
                    lag_said = Instant::now();
                } else {
                    tracing::info!("read {} new events", report.events);
                }
            }
            Ok(())
        })();
        retry.after(step)?;
    }
}

/// Opens the batch view (computed if missing) and reads the logs after its cutoff through the
/// speed layer, then follows the logs, running the batch layer again at the batch cadence
/// (unless `until_caught_up`).
fn run_lambda(paths: &[PathBuf], data_dir: Option<PathBuf>, until_caught_up: bool) -> Result<ExitCode, CliError> {
    let mut runner = project::open_lambda(paths, data_dir.clone(), None, false, project::Access::Writer)?;
    let started = Instant::now();
    let report = project::catch_up(&mut runner, TargetArg::Lambda.reading(), false)?;
    // Each replay reads the log from where its features need it; the counts are of the
    // events after the cutoff.
    let replays = runner.replays();
    eprintln!(
        "speed layer: read {} events in {replays} {} of the log in {:.2} s; after the cutoff {}: {} counted, {} dead-lettered",
        report.events,
        if replays == 1 { "replay" } else { "replays" },
        started.elapsed().as_secs_f64(),
        featc_runtime::io::time::rfc3339(runner.view.cutoff),
        report.accepted,
        report.dead_letters
    );
    for (gi, g) in runner.speed_groups().iter().enumerate() {
        let (accepted, dead) = g.counters();
        eprintln!(
            "  group {}: {} keys, {accepted} events after the cutoff counted, {dead} dead-lettered",
            g.name,
            runner.key_count(gi)
        );
    }
    if until_caught_up {
        return Ok(ExitCode::SUCCESS);
    }
    // The batch cadence, in wall-clock time: the shortest `batch every` (one day by default).
    let every = runner.ir().groups.iter().filter_map(|g| g.batch_every_ms).min().unwrap_or(86_400_000);
    let mut next_batch = Instant::now() + Duration::from_millis(every);
    tracing::info!("following the logs (Ctrl-C to stop); the batch layer runs again every {}", duration_text(every));
    let mut retry = Retry::default();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let step = (|| -> Result<(), CliError> {
            if Instant::now() >= next_batch {
                // Recompute over the whole history, swap the view in, and rebuild the speed
                // layer after the new cutoff (the trim).
                let dir = project::data_dir_of(paths, data_dir.as_deref())?;
                let mut reopened = project::recompute_lambda(paths, &dir)?;
                project::catch_up(&mut reopened, TargetArg::Lambda.reading(), true)?;
                runner = reopened;
                next_batch = Instant::now() + Duration::from_millis(every);
                return Ok(());
            }
            let report = project::catch_up(&mut runner, TargetArg::Lambda.reading(), true)?;
            if report.events > 0 {
                tracing::info!("read {} new events", report.events);
            }
            Ok(())
        })();
        retry.after(step)?;
    }
}

/// How a following run meets a failed read (a broker away, a disk briefly full): it logs it
/// and tries again, waiting twice as long each time up to `MAX_WAIT`; after failures in a row
/// for `GIVE_UP`, the run stops with the error.
#[derive(Debug)]
pub(super) struct Retry {
    failing_since: Option<Instant>,
    wait: Duration,
}

const FIRST_WAIT: Duration = Duration::from_millis(500);
const MAX_WAIT: Duration = Duration::from_secs(30);
const GIVE_UP: Duration = Duration::from_secs(600);

impl Default for Retry {
    fn default() -> Retry {
        Retry { failing_since: None, wait: FIRST_WAIT }
    }
}

impl Retry {
    pub(super) fn after(&mut self, step: Result<(), CliError>) -> Result<(), CliError> {
        let Err(e) = step else {
            if self.failing_since.take().is_some() {
                tracing::info!("reading again");
            }
            self.wait = FIRST_WAIT;
            return Ok(());
        };
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= GIVE_UP {
            return Err(e);
        }
        tracing::warn!("{e} (trying again in {:.1} s)", self.wait.as_secs_f64());
        std::thread::sleep(self.wait);
        self.wait = (self.wait * 2).min(MAX_WAIT);
        Ok(())
    }
}

/// Milliseconds as the language writes durations: `1d`, `6h`, `90s`, `250ms`.
fn duration_text(ms: u64) -> String {
    [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")]
        .iter()
        .find(|(unit, _)| ms.is_multiple_of(*unit) && ms >= *unit)
        .map_or_else(|| format!("{ms}ms"), |(unit, name)| format!("{}{name}", ms / unit))
}
