//! A Kafka topic in (every partition, JSON payloads), batches of a source's events with their
//! offsets out: the stream of a source bound to Kafka, read with librdkafka (rdkafka).
//!
//! Every partition is assigned to this reader and read from the offset the checkpoint gives
//! (0 at first: a replay from the earliest offset). Payloads are decoded as the NDJSON reader
//! decodes a line (`history::JsonSchema`); a payload that is not an event is rejected with its
//! partition, offset and reason, and goes to the dead letters. A batch never spans a gap of
//! offsets (a rejected payload, a compacted record), so a restored group skips by offset.
//! Offsets live in featc's checkpoints with the state; they are committed to the broker (the
//! consumer group) only after a checkpoint, for monitoring lag.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use featc::ir::IrSource;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::produce::KeyedProducer;
use super::{KafkaConfig, partition_name};
use crate::io::dead_letters;
use crate::io::history::{History, JsonSchema, Rejected};
use crate::io::stream::StreamSource;

/// How long metadata and watermark requests may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Events decoded at once.
const BATCH: usize = 8192;
/// How long one read waits for the first event of a fetch.
const WAIT: Duration = Duration::from_millis(100);
/// How long a read waits for events the broker says exist before it gives up with an error.
const PATIENCE: Duration = Duration::from_secs(60);
/// How long without any event or end-of-partition before the broker is asked for its ends.
const SILENCE: Duration = Duration::from_secs(1);

/// One Kafka topic, every partition, read by this process.
pub struct KafkaSource {
    consumer: BaseConsumer,
    topic: String,
    ids: Vec<i32>,
    names: Vec<String>,
    /// The next offset to process, per partition.
    positions: Vec<u64>,
    /// The next offset to fetch, per partition (ahead of `positions` by what is pending).
    fetched: Vec<u64>,
    ends: Vec<u64>,
    /// Where the broker last said a partition ends (librdkafka's end-of-partition event): the
    /// high watermark may lie past the last message (transaction markers).
    eof: Vec<Option<u64>>,
    pending: VecDeque<(usize, u64, RecordBatch)>,
    schema: JsonSchema,
    rejected: Vec<(usize, Rejected)>,
    assigned: bool,
    /// The client settings, for the dead-letter producer opened on first use.
    config: KafkaConfig,
    dead_topic: String,
    dead: Option<KeyedProducer>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource").field("topic", &self.topic).field("positions", &self.positions).finish()
    }
}

impl KafkaSource {
    /// Connects to the brokers and finds the partitions of `source`'s topic.
    pub fn open(config: &KafkaConfig, source: &IrSource) -> Result<KafkaSource, String> {
        let topic = config.topic(source);
        let consumer: BaseConsumer = config
            .client()
            .set("group.id", config.group())
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "true")
            .create()
            .map_err(|e| format!("Kafka at {}: {e}", config.brokers))?;
        let metadata = consumer
            .fetch_metadata(Some(&topic), TIMEOUT)
            .map_err(|e| format!("Kafka at {}: cannot read the metadata of topic `{topic}`: {e}", config.brokers))?;
        let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(format!("Kafka at {}: no topic `{topic}` (source `{}`)", config.brokers, source.name));
        };
        if let Some(e) = t.error() {
            return Err(format!("Kafka at {}: topic `{topic}` (source `{}`): {e:?}", config.brokers, source.name));
        }
        let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
        if ids.is_empty() {
            return Err(format!("Kafka at {}: topic `{topic}` has no partitions", config.brokers));
        }
        // A consumer group member's partition folder reads its partition alone.
        if let Some(only) = config.partition {
            if !ids.contains(&only) {
                return Err(format!("Kafka at {}: topic `{topic}` has no partition {only}", config.brokers));
            }
            ids = vec![only];
        }
        ids.sort_unstable();
        let n = ids.len();
        let names = ids.iter().map(|p| partition_name(&topic, *p)).collect();
        Ok(KafkaSource {
            consumer,
            topic,
            ids,
            names,
            positions: vec![0; n],
            fetched: vec![0; n],
            ends: vec![0; n],
            eof: vec![None; n],
            pending: VecDeque::new(),
            schema: JsonSchema::new(source),
            rejected: Vec::new(),
            assigned: false,
            config: config.clone(),
            dead_topic: config.dead_letter_topic(source),
            dead: None,
        })
    }

    /// Assigns every partition from the offsets to fetch next.
    fn assign(&mut self) -> Result<(), String> {
        let mut tpl = TopicPartitionList::new();
        for (i, id) in self.ids.iter().enumerate() {
            let offset = i64::try_from(self.fetched[i]).map_err(|_| "offset out of range".to_owned())?;
            tpl.add_partition_offset(&self.topic, *id, Offset::Offset(offset)).map_err(|e| e.to_string())?;
        }
        self.consumer.assign(&tpl).map_err(|e| format!("Kafka: assigning `{}`: {e}", self.topic))?;
        self.assigned = true;
        Ok(())
    }

    /// Fetches what has arrived past `fetched`, up to [`BATCH`] events (waiting [`WAIT`] for
    /// the first), and decodes it into pending batches (split at gaps) and rejected payloads.
    /// False when nothing came. A broker that is away is retried (librdkafka reconnects);
    /// only a fatal consumer error is an error.
    fn fetch(&mut self) -> Result<bool, String> {
        if !self.assigned {
            self.assign()?;
        }
        let mut raw: Vec<Vec<(usize, Vec<u8>)>> = vec![Vec::new(); self.ids.len()];
        let mut count = 0;
        while count < BATCH {
            let wait = if count == 0 { WAIT } else { Duration::ZERO };
            let message = match self.consumer.poll(wait) {
                None => break,
                Some(Ok(message)) => message,
                Some(Err(KafkaError::PartitionEOF(id))) => {
                    if let Some(p) = self.ids.iter().position(|i| *i == id) {
                        self.eof[p] = Some(self.fetched[p]);
                    }
                    continue;
                }
                Some(Err(e @ KafkaError::MessageConsumptionFatal(_))) => {
                    return Err(format!("Kafka: reading `{}`: {e}", self.topic));
                }
                Some(Err(e)) => {
                    tracing::warn!("Kafka: reading `{}`: {e} (retrying)", self.topic);
                    std::thread::sleep(WAIT);
                    break;
                }
            };
            let Some(p) = self.ids.iter().position(|id| *id == message.partition()) else { continue };
            let Ok(offset) = u64::try_from(message.offset()) else { continue };
            if offset < self.fetched[p] {
                // Already fetched (a duplicate delivery after a reassignment).
                continue;
            }
            self.fetched[p] = offset + 1;
            self.ends[p] = self.ends[p].max(offset + 1);
            self.eof[p] = None;
            let line = usize::try_from(offset).unwrap_or(usize::MAX);
            raw[p].push((line, message.payload().unwrap_or_default().to_vec()));
            count += 1;
        }
        for (p, events) in raw.into_iter().enumerate() {
            if !events.is_empty() {
                self.decode(p, &events)?;
            }
        }
        Ok(count > 0)
    }

    /// Decodes one partition's payloads into runs of consecutive offsets.
    fn decode(&mut self, p: usize, events: &[(usize, Vec<u8>)]) -> Result<(), String> {
        let mut chunk = History::default();
        let origin = PathBuf::from(&self.names[p]);
        let borrowed: Vec<(usize, &[u8])> = events.iter().map(|(o, b)| (*o, b.as_slice())).collect();
        self.schema.decode_bytes(&origin, &borrowed, &mut chunk);
        // The accepted offsets, in order: every offset fetched but those rejected.
        let rejected: std::collections::HashSet<usize> = chunk.rejected.iter().map(|r| r.line).collect();
        let accepted: Vec<u64> =
            events.iter().map(|(o, _)| *o).filter(|o| !rejected.contains(o)).map(|o| o as u64).collect();
        self.rejected.extend(chunk.rejected.drain(..).map(|r| (p, r)));
        if chunk.batches.is_empty() {
            return Ok(());
        }
        let schema = chunk.batches[0].schema();
        let all = arrow::compute::concat_batches(&schema, &chunk.batches).map_err(|e| e.to_string())?;
        if all.num_rows() != accepted.len() {
            return Err(format!(
                "Kafka `{}`: decoded {} events of {} accepted payloads",
                self.names[p],
                all.num_rows(),
                accepted.len()
            ));
        }
        let mut start = 0;
        for i in 1..=accepted.len() {
            if i == accepted.len() || accepted[i] != accepted[i - 1] + 1 {
                self.pending.push_back((p, accepted[start], all.slice(start, i - start)));
                start = i;
            }
        }
        Ok(())
    }

    /// Whether a fetch found every partition at its end since the last event read from it.
    fn at_eof(&self) -> bool {
        (0..self.ids.len()).all(|p| self.eof[p] == Some(self.fetched[p]))
    }

    /// Whether every partition was read to where the broker last said it ends.
    fn at_ends(&self) -> bool {
        (0..self.ids.len()).all(|p| self.fetched[p] >= self.ends[p] || self.eof[p] == Some(self.fetched[p]))
    }
}

impl StreamSource for KafkaSource {
    fn partitions(&self) -> &[String] {
        &self.names
    }

    fn next_batch(&mut self) -> Result<Option<(usize, u64, RecordBatch)>, String> {
        let started = Instant::now();
        loop {
            if let Some((p, first, batch)) = self.pending.pop_front() {
                self.positions[p] = first + batch.num_rows() as u64;
                return Ok(Some((p, first, batch)));
            }
            // Everything fetched was processed or rejected.
            self.positions.clone_from(&self.fetched);
            if self.fetch()? {
                continue;
            }
            // Nothing came for `WAIT`: done for now once every partition is at its end, as
            // librdkafka tells when a fetch reaches it (`eof`). Asking the broker for its
            // watermarks instead is a round trip per partition, queued behind the consumer's
            // own long-polling fetches (seconds with tansu): only for a broker silent for long.
            if self.at_eof() {
                return Ok(None);
            }
            if started.elapsed() >= SILENCE {
                self.ends = self.ends()?;
                if self.at_ends() {
                    return Ok(None);
                }
            }
            if started.elapsed() > PATIENCE {
                return Err(format!(
                    "Kafka: `{}` holds events up to offsets {:?} (read to {:?}), but none arrived for {} s",
                    self.topic,
                    self.ends,
                    self.fetched,
                    PATIENCE.as_secs()
                ));
            }
        }
    }

    fn give_back(&mut self, partition: usize, first: u64, rest: RecordBatch) {
        self.positions[partition] = first;
        self.pending.push_front((partition, first, rest));
    }

    fn positions(&self) -> Vec<u64> {
        self.positions.clone()
    }

    fn seek(&mut self, partition: usize, offset: u64) {
        self.positions[partition] = offset;
        self.fetched[partition] = offset;
        self.eof[partition] = None;
        self.pending.retain(|(p, _, _)| *p != partition);
        self.assigned = false;
    }

    fn ends(&self) -> Result<Vec<u64>, String> {
        self.ids
            .iter()
            .zip(&self.names)
            .map(|(id, name)| {
                let (_, high) = self
                    .consumer
                    .fetch_watermarks(&self.topic, *id, TIMEOUT)
                    .map_err(|e| format!("Kafka: the end of `{name}`: {e}"))?;
                Ok(u64::try_from(high).unwrap_or(0))
            })
            .collect()
    }

    fn take_rejected(&mut self) -> Vec<(usize, Rejected)> {
        std::mem::take(&mut self.rejected)
    }

    fn dead_lettered(&mut self, letters: &[(usize, Rejected)]) -> Result<(), String> {
        if letters.is_empty() {
            return Ok(());
        }
        // Each as the dead-letter files hold it, keyed by `<partition>@<offset>` so a consumer
        // can drop the copy a replay after a crash sends again.
        let messages: Vec<(Vec<u8>, Vec<u8>)> = letters
            .iter()
            .map(|(p, r)| {
                let key = format!("{}@{}", self.names.get(*p).map_or("", String::as_str), r.line);
                (key.into_bytes(), serde_json::Value::Object(dead_letters::rejected_object(r)).to_string().into_bytes())
            })
            .collect();
        let dead = match &mut self.dead {
            Some(dead) => dead,
            None => self.dead.insert(KeyedProducer::open(&self.config, &self.dead_topic)?),
        };
        dead.send(&messages)
    }

    fn checkpointed(&mut self) {
        let mut tpl = TopicPartitionList::new();
        for (i, id) in self.ids.iter().enumerate() {
            let Ok(offset) = i64::try_from(self.positions[i]) else { continue };
            if tpl.add_partition_offset(&self.topic, *id, Offset::Offset(offset)).is_err() {
                return;
            }
        }
        // For monitoring only (the checkpoint holds the truth): a failure is not an error.
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!("committing offsets of `{}` to Kafka failed: {e}", self.topic);
        }
    }
}
