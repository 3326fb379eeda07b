//! A project in, its pipeline running and its features answered over HTTP out: featc serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use featc_runtime::io::kafka::KafkaConfig;
use featc_runtime::serve::http::{self, Config};
use featc_runtime::serve::redis::RedisStore;
use featc_runtime::serve::{Service, SharedReader};

use crate::commands::TargetArg;
use crate::error::CliError;
use crate::project;

// `featc serve`; the help text is the doc comment of `Command::Serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project folder.
    paths: Vec<PathBuf>,
    /// The target whose runtime runs and answers.
    #[arg(long, value_enum, default_value = "kappa")]
    target: TargetArg,
    /// The address to listen on (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A file holding the bearer token every request but the health checks must carry.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The most lookups one POST may hold.
    #[arg(long, default_value_t = 1000)]
    max_batch: usize,
    /// Publish each key's state to this Redis (`redis://host:port`), for other servers.
    #[arg(long, conflicts_with = "from_redis")]
    redis: Option<String>,
    /// Run no pipeline: answer from the state another `featc serve --redis` publishes there.
    #[arg(long)]
    from_redis: Option<String>,
    /// The prefix of the Redis keys.
    #[arg(long, default_value = "featc")]
    redis_prefix: String,
    /// How often the logs are read for new events, in milliseconds.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let token = match &args.token_file {
        None => None,
        Some(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| CliError::Io(format!("{}: {e}", f.display())))?;
            let token = text.trim().to_owned();
            if token.is_empty() {
                return Err(CliError::Usage(format!("{}: the token file is empty", f.display())));
            }
            Some(token)
        }
    };
    let target = match args.target {
        TargetArg::Kappa => "kappa",
        TargetArg::Lambda => "lambda",
    };
    if let Some(url) = &args.from_redis {
        let (ir, _) = project::load(&args.paths, args.target.target())?;
        let store = RedisStore::open(url, &args.redis_prefix)?;
        let (paths, spec_target) = (args.paths.clone(), args.target.target());
        let reload = Box::new(move || project::load(&paths, spec_target).ok().map(|(ir, _)| ir));
        let service = Service::from_store(ir, store, target, reload)?;
        return listen(&args, service, token, &format!("{target}, from Redis"));
    }
    // The server runs the pipeline: it is the data folder's one runner. Its snapshots would
    // count as published to a feature changelog it does not publish: refused.
    if let Some(config) = KafkaConfig::load(&project::project_dir(&args.paths)?)?
        && !config.sink.is_empty()
    {
        return Err(CliError::Usage(
            "featc.toml names a feature changelog ([kafka.sink]), which `featc run` publishes and \
             `featc serve` does not (its snapshots would count as published): run the pipeline with \
             `featc run`, or remove [kafka.sink] to serve"
                .to_owned(),
        ));
    }
    let _lock = project::lock_writer(&args.paths, args.data_dir.as_deref())?;
    let reader: SharedReader = match args.target {
        TargetArg::Kappa => Box::new(project::open_kappa(&args.paths, args.data_dir.clone(), None, false, &[])?),
        TargetArg::Lambda => {
            Box::new(project::open_lambda(&args.paths, args.data_dir.clone(), None, false, project::Access::Writer)?)
        }
    };
    let store = args.redis.as_deref().map(|url| RedisStore::open(url, &args.redis_prefix)).transpose()?;
    let service = Service::new(reader, target, store);
    // Detached: it ends with the process.
    let _rebuilder = rebuild(args.paths.clone(), args.data_dir.clone(), args.target, service.clone());
    listen(&args, service, token, target)
}

/// Reprocessing without downtime: every second the project's files are read; when their
/// meaning changed (a new `spec_hash`) and they check clean, a runner of the new spec is opened
/// beside the serving one (unchanged groups resume from their snapshots, changed ones replay
/// from offset 0, or recompute their batch view), caught up with the logs, and only then put
/// in place. The old version answers meanwhile. A spec with errors is reported and not served.
/// Under Lambda the batch layer also runs again at the batch cadence (the shortest `batch
/// every`, one day by default), the same way: the old view serves until the new one and its
/// speed layer have caught up.
fn rebuild(
    paths: Vec<PathBuf>,
    data_dir: Option<PathBuf>,
    target: TargetArg,
    service: Arc<Service>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen = text_of(&paths);
        let cadence = |ir: &featc::ir::FeatureIr| {
            Duration::from_millis(ir.groups.iter().filter_map(|g| g.batch_every_ms).min().unwrap_or(86_400_000))
        };
        let mut every =
            project::load(&paths, target.target()).map_or(Duration::from_secs(86_400), |(ir, _)| cadence(&ir));
        let mut next_batch = Instant::now() + every;
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let text = text_of(&paths);
            let batch_due = matches!(target, TargetArg::Lambda) && Instant::now() >= next_batch;
            if text == seen && !batch_due {
                continue;
            }
            let text_unchanged = text == seen;
            let opened: Result<SharedReader, CliError> = if text_unchanged {
                next_batch = Instant::now() + every;
                tracing::info!("the batch cadence is due: recomputing the batch view beside the serving one");
                project::data_dir_of(&paths, data_dir.as_deref())
                    .and_then(|dir| project::recompute_lambda(&paths, &dir))
                    .map(|r| Box::new(r) as _)
            } else {
                seen = text;
                let Ok((ir, _)) = project::load(&paths, target.target()) else {
                    tracing::warn!("the edited spec has errors: still serving the running version");
                    continue;
                };
                if service.spec_hash().as_deref() == Some(ir.spec_hash.as_str()) {
                    continue;
                }
                every = cadence(&ir);
                next_batch = Instant::now() + every;
                tracing::info!("the spec changed: building version {} beside the serving one", ir.spec_hash);
                match target {
                    TargetArg::Kappa => {
                        project::open_kappa(&paths, data_dir.clone(), None, true, &[]).map(|r| Box::new(r) as _)
                    }
                    TargetArg::Lambda => {
                        project::open_lambda(&paths, data_dir.clone(), None, true, project::Access::Writer)
                            .map(|r| Box::new(r) as _)
                    }
                }
            };
            let mut new = match opened {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("cannot open the new version (still serving the old): {e}");
                    continue;
                }
            };
            let caught_up = (|| -> Result<(), String> {
                loop {
                    new.catch_up(&mut |_| {})?;
                    if new.backlog()? == 0 {
                        return Ok(());
                    }
                }
            })();
            let version = new.ir().spec_hash.clone();
            let cutoff = new.cutoff();
            if batch_due && text_unchanged && cutoff == service.cutoff() {
                // The history has nothing new: the serving view is as good, keep it.
                continue;
            }
            match caught_up.and_then(|()| service.swap(new)) {
                Ok(()) => match cutoff {
                    Some(c) => tracing::info!(
                        "now serving version {version}, batch view as of {}",
                        featc_runtime::io::time::rfc3339(c)
                    ),
                    None => tracing::info!("now serving version {version}"),
                },
                Err(e) => tracing::warn!("the new version failed (still serving the old): {e}"),
            }
        }
    })
}

/// The text of a project's spec files, to notice an edit.
fn text_of(paths: &[PathBuf]) -> Vec<(PathBuf, String)> {
    crate::files::projects(paths)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            (p, text)
        })
        .collect()
}

/// Follows the logs (when this process runs the pipeline) and serves until SIGINT or SIGTERM,
/// then checkpoints.
fn listen(args: &Args, service: Arc<Service>, token: Option<String>, what: &str) -> Result<ExitCode, CliError> {
    let follower = service.follow(Duration::from_millis(args.poll_ms.max(10)), Duration::from_secs(10));
    let config = Config { token, max_batch: args.max_batch, ..Config::default() };
    let router = http::router(service.clone(), config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let served = runtime.block_on(http::serve(router, args.listen, |addr| {
        eprintln!("listening on http://{addr} ({what}); GET /v1/features/<group>?<key>=<value>");
    }));
    // Stopped (SIGINT or SIGTERM): stop following, then make what was read durable.
    service.shutdown();
    let _ = follower.join();
    service.checkpoint()?;
    tracing::info!("stopped; state checkpointed");
    served?;
    Ok(ExitCode::SUCCESS)
}
