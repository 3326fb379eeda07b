//! A consumer group's members in, each member's share of the partitions out, and the folders
//! that hand a partition's state from one member to the next: scale-out on Kafka's own group
//! protocol (`featc run --target kappa --member`), no coordinator of featc's own.
//!
//! Each member joins the group `<group>.members.<id>` (the id kept in the shared data folder) on
//! the bound topic and is assigned some
//! of its partitions by the broker; a rebalance (a member joins, leaves or dies) moves
//! partitions between members. The membership consumer only learns the assignment: it pauses
//! what it is given and reads nothing. The events are read by one runner per owned partition,
//! through the usual source restricted to that partition, in the partition's own folder
//! `<data dir>/partitions/<p>`: its state snapshots (the keys of that partition, since the
//! producer's key is the entity key) and its offsets. A member that loses a partition writes
//! its checkpoint and lets go of the folder's writer lock; the member that gains it takes the
//! lock (waiting for the last owner to let go) and resumes from that checkpoint. Every
//! co-partitioned topic's partition `p` goes to the owner of `p`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _};

use super::KafkaConfig;

/// The file that marks a data folder as the folder of one partition.
pub const PARTITION_FILE: &str = "PARTITION";

/// The folder of partition `p` under a group's shared data folder.
pub fn partition_dir(data_dir: &Path, p: i32) -> PathBuf {
    data_dir.join("partitions").join(p.to_string())
}

/// Marks `dir` as the folder of partition `p` (durably, once).
pub fn mark(dir: &Path, p: i32) -> Result<(), String> {
    let file = dir.join(PARTITION_FILE);
    if partition_of(dir)? == Some(p) {
        return Ok(());
    }
    crate::io::durable::write_file(&file, format!("{p}\n").as_bytes())
}

/// The partition a data folder holds, if it is a partition's folder.
pub fn partition_of(data_dir: &Path) -> Result<Option<i32>, String> {
    let file = data_dir.join(PARTITION_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| format!("{}: not a partition number", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

/// The partition folders under a group's shared data folder, by partition.
pub fn partition_dirs(data_dir: &Path) -> Result<Vec<(i32, PathBuf)>, String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("partitions")) else { return Ok(Vec::new()) };
    let mut dirs = Vec::new();
    for entry in entries.flatten() {
        if let Some(p) = partition_of(&entry.path())? {
            dirs.push((p, entry.path()));
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// The name of the members' consumer group of a shared data folder: `<group>.members.<id>`, the
/// id made once, at random, by the first member and kept in the folder (`MEMBERS`). Members of
/// one folder are one group; two deployments (two folders) never split a topic between them.
pub fn members_group(config: &KafkaConfig, data_dir: &Path) -> Result<String, String> {
    let file = data_dir.join("MEMBERS");
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    if let Ok(id) = std::fs::read_to_string(&file) {
        return Ok(format!("{}.members.{}", config.group(), id.trim()));
    }
    let id = format!("{:016x}", random_u64());
    // Created only if absent, so two members starting together agree on the first one's id.
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&file) {
        Ok(mut f) => {
            use std::io::Write as _;
            f.write_all(id.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| format!("{}: {e}", file.display()))?;
            crate::io::durable::sync_dir(data_dir)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("{}: {e}", file.display())),
    }
    let id = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(format!("{}.members.{}", config.group(), id.trim()))
}

/// A random number from the standard library's randomly keyed hasher.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    h.finish()
}

/// This process's membership of the group: which partitions of the topic it owns now.
pub struct Membership {
    consumer: BaseConsumer,
    topic: String,
    assigned: BTreeSet<i32>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership").field("topic", &self.topic).field("assigned", &self.assigned).finish()
    }
}

impl Membership {
    /// Joins the members' group `group` (see [`members_group`]) on `topic`.
    pub fn join(config: &KafkaConfig, group: &str, topic: &str) -> Result<Membership, String> {
        let mut client = config.client();
        client.set("group.id", group).set("enable.auto.commit", "false").set("auto.offset.reset", "latest");
        // A member that dies is noticed after this (unless the properties say otherwise).
        for (key, value) in [("session.timeout.ms", "10000"), ("heartbeat.interval.ms", "1000")] {
            if !config.properties.contains_key(key) {
                client.set(key, value);
            }
        }
        let consumer: BaseConsumer = client.create().map_err(|e| format!("Kafka at {}: {e}", config.brokers))?;
        consumer.subscribe(&[topic]).map_err(|e| format!("Kafka: joining the group on `{topic}`: {e}"))?;
        Ok(Membership { consumer, topic: topic.to_owned(), assigned: BTreeSet::new() })
    }

    /// Serves the group protocol for up to `wait`; the partitions owned now when they changed.
    pub fn poll(&mut self, wait: Duration) -> Result<Option<BTreeSet<i32>>, String> {
        match self.consumer.poll(wait) {
            // The runners read the events; a message fetched before the pause is dropped.
            Some(Ok(_)) | None => {}
            Some(Err(e)) => tracing::warn!("Kafka: the members' group on `{}`: {e}", self.topic),
        }
        let assignment = self.consumer.assignment().map_err(|e| format!("Kafka: the group's assignment: {e}"))?;
        let owned: BTreeSet<i32> = assignment
            .elements_for_topic(&self.topic)
            .iter()
            .map(rdkafka::topic_partition_list::TopicPartitionListElem::partition)
            .collect();
        if owned == self.assigned {
            return Ok(None);
        }
        if assignment.count() > 0 {
            // Nothing is read through this consumer: the runners read each partition.
            self.consumer.pause(&assignment).map_err(|e| format!("Kafka: pausing the group's partitions: {e}"))?;
        }
        self.assigned.clone_from(&owned);
        Ok(Some(owned))
    }
}
