//! A Kafka-bound project and a shared data folder in, this process's share of the consumer
//! group's work out: `featc run --target kappa --member`. The broker assigns the partitions
//! (`io::kafka::group`); this process runs one Kappa runner per partition it owns, each in the
//! partition's folder under the shared data folder, and hands a partition over at a rebalance
//! by checkpointing it and letting go of its folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use featc::ir::{FeatureIr, Target};
use featc_runtime::io::kafka::KafkaConfig;
use featc_runtime::io::kafka::group::{Membership, mark, members_group, partition_dir};
use featc_runtime::io::lock::WriterLock;
use featc_runtime::runners::kappa::KappaRunner;

use crate::error::CliError;
use crate::project;

/// The events a runner reads between two polls of the group.
const STEP: u64 = 16_384;

/// One partition this process owns: its runner, holding the folder's writer lock.
struct Owned {
    runner: KappaRunner,
    _lock: WriterLock,
    checkpointed: Instant,
}

/// Runs as a member of the group until SIGTERM or SIGINT, then checkpoints every partition it
/// owns and leaves the group (its partitions go to the other members at once).
pub(super) fn run(
    paths: &[PathBuf],
    data_dir: Option<PathBuf>,
    checkpoint_every: Duration,
) -> Result<ExitCode, CliError> {
    let (ir, dir) = project::load(paths, Target::Kappa)?;
    let data_dir = project::data_dir(data_dir, &dir);
    let config = KafkaConfig::load(&dir)?.ok_or_else(|| {
        CliError::Usage(
            "`--member` shares a Kafka topic's partitions: name the brokers in featc.toml or FEATC_KAFKA_BROKERS"
                .to_owned(),
        )
    })?;
    let topic = member_topic(&ir, &config)?;
    if !config.sink.is_empty() {
        return Err(CliError::Usage(
            "`--member` does not publish the feature changelog `[kafka.sink]` names yet: run one process without `--member`".to_owned(),
        ));
    }
    let stop = stop_signal();
    let group = members_group(&config, &data_dir)?;
    let mut membership = Membership::join(&config, &group, &topic)?;
    tracing::info!("joined the members' group `{group}` on `{topic}`");
    let mut owned: BTreeMap<i32, Owned> = BTreeMap::new();
    let mut waiting: BTreeSet<i32> = BTreeSet::new();
    let mut waiting_since = Instant::now();
    let mut retry = super::Retry::default();
    while !stop.load(Ordering::Relaxed) {
        // A failed read (a broker away) is tried again with the run's backoff, as `run` does.
        let pass = (|| -> Result<(), CliError> {
            if let Some(assigned) = membership.poll(Duration::from_millis(100))? {
                tracing::info!("owns partitions {assigned:?} of `{topic}`");
                let revoked: Vec<i32> = owned.keys().filter(|p| !assigned.contains(p)).copied().collect();
                for p in revoked {
                    if let Some(mut o) = owned.remove(&p) {
                        checkpoint(&mut o)?;
                        tracing::info!("handed partition {p} over at its checkpoint");
                    }
                }
                waiting = assigned.iter().filter(|p| !owned.contains_key(p)).copied().collect();
                waiting_since = Instant::now();
            }
            // A partition gained is taken once its last owner has let go of its folder.
            for p in waiting.clone() {
                let folder = partition_dir(&data_dir, p);
                std::fs::create_dir_all(&folder).map_err(|e| CliError::Io(format!("{}: {e}", folder.display())))?;
                mark(&folder, p)?;
                let Ok(lock) = WriterLock::acquire(&folder) else {
                    if waiting_since.elapsed() > Duration::from_secs(60) {
                        tracing::warn!("partition {p}: its folder is still held by its last owner");
                        waiting_since = Instant::now();
                    }
                    continue;
                };
                let (runner, said) = KappaRunner::open(ir.clone(), &dir, &folder)?;
                said.iter().for_each(|line| tracing::info!("partition {p}: {line}"));
                owned.insert(p, Owned { runner, _lock: lock, checkpointed: Instant::now() });
                waiting.remove(&p);
            }
            let mut read = 0;
            for (p, o) in &mut owned {
                // Short steps: the group is polled between them, well within its poll interval.
                let report = o.runner.step(STEP, |_| {})?;
                read += report.events;
                if o.runner.unsaved() && (report.events == 0 || o.checkpointed.elapsed() >= checkpoint_every) {
                    checkpoint(o)?;
                    tracing::debug!("partition {p}: checkpointed");
                }
            }
            if read == 0 && waiting.is_empty() {
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        })();
        retry.after(pass)?;
    }
    for (p, mut o) in std::mem::take(&mut owned) {
        checkpoint(&mut o)?;
        tracing::info!("partition {p}: checkpointed on the way out");
    }
    drop(membership);
    tracing::info!("left the group");
    Ok(ExitCode::SUCCESS)
}

/// The dead letters, then the snapshot with the offsets it includes.
fn checkpoint(o: &mut Owned) -> Result<(), CliError> {
    o.runner.write_dead_letters()?;
    o.runner.snapshot()?;
    o.checkpointed = Instant::now();
    Ok(())
}

/// The topic whose partitions the members share: the one source the feature groups read, bound
/// to Kafka (a member reads only its partitions, so an embedded log would be read by every
/// member, and several topics would have to be co-partitioned, which is not checked yet).
fn member_topic(ir: &FeatureIr, config: &KafkaConfig) -> Result<String, CliError> {
    let used: Vec<_> =
        ir.sources.iter().enumerate().filter(|(i, _)| ir.groups.iter().any(|g| g.source == *i)).collect();
    match used.as_slice() {
        [(_, s)] if config.binds(s) => Ok(config.topic(s)),
        [(_, s)] => Err(CliError::Usage(format!(
            "`--member`: source `{}` is not bound to Kafka; members share a Kafka topic's partitions",
            s.name
        ))),
        [] => Err(CliError::Usage("no feature group reads a source".to_owned())),
        _ => Err(CliError::Usage(
            "`--member`: the feature groups read several sources; members share one Kafka topic's partitions"
                .to_owned(),
        )),
    }
}

/// A flag raised by SIGTERM or SIGINT.
fn stop_signal() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        flag.store(true, Ordering::Relaxed);
    });
    stop
}
