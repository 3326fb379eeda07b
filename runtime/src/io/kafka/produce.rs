//! Batches of a source's events in, JSON messages on its Kafka topic out: `featc produce`, so
//! the examples' data (or any history file) reaches a broker in one command.
//!
//! Each event is one message: its payload the event as a JSON object (times in RFC 3339), its
//! key the entity key of the source's first group as a JSON array (`["u00001"]`), so every
//! event of a key lands in one partition and is read in order. The producer is idempotent: a
//! retry after a broker hiccup never writes a message twice.

use std::time::Duration;

use arrow::record_batch::RecordBatch;
use featc::ir::{IrField, IrSource};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};

use super::KafkaConfig;
use crate::operators::decode::cell_of;
use crate::runners::kappa::json_value;
use crate::value::Value;

/// How long the last messages may take to be acknowledged.
const FLUSH: Duration = Duration::from_secs(120);

/// Counts the messages the broker did not take, and keeps the first reason.
#[derive(Default)]
struct Deliveries {
    failed: std::sync::atomic::AtomicU64,
    first: std::sync::Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Ok(mut first) = self.first.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// An idempotent producer (a retry never writes a message twice) that counts failed deliveries.
fn idempotent(config: &KafkaConfig) -> Result<BaseProducer<Deliveries>, String> {
    config
        .client()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000")
        .create_with_context(Deliveries::default())
        .map_err(|e| format!("Kafka at {}: {e}", config.brokers))
}

/// Waits until the broker has acknowledged every message sent; an error names how many it
/// did not take since the last call, and why.
fn flushed(producer: &BaseProducer<Deliveries>, topic: &str) -> Result<(), String> {
    producer.flush(FLUSH).map_err(|e| format!("Kafka: messages did not reach `{topic}`: {e}"))?;
    let deliveries = producer.context();
    let failed = deliveries.failed.swap(0, std::sync::atomic::Ordering::Relaxed);
    if failed > 0 {
        let why = deliveries.first.lock().ok().and_then(|mut f| f.take()).unwrap_or_default();
        return Err(format!("Kafka: {failed} messages did not reach `{topic}`: {why}"));
    }
    Ok(())
}

/// An idempotent producer to one source's topic.
pub struct EventProducer {
    producer: BaseProducer<Deliveries>,
    topic: String,
    fields: Vec<IrField>,
    /// The positions of the key fields among `fields`.
    key: Vec<usize>,
    sent: u64,
}

impl std::fmt::Debug for EventProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer").field("topic", &self.topic).field("sent", &self.sent).finish()
    }
}

impl EventProducer {
    /// A producer of `source`'s events keyed by `key_fields`; creates the topic with
    /// `partitions` partitions when it does not exist.
    pub fn open(
        config: &KafkaConfig,
        source: &IrSource,
        key_fields: &[String],
        partitions: i32,
    ) -> Result<EventProducer, String> {
        let topic = config.topic(source);
        create_topic(config, &topic, partitions)?;
        let producer = idempotent(config)?;
        let key = key_fields
            .iter()
            .map(|k| {
                source
                    .fields
                    .iter()
                    .position(|f| &f.name == k)
                    .ok_or_else(|| format!("the key field `{k}` is not in source `{}`", source.name))
            })
            .collect::<Result<_, _>>()?;
        Ok(EventProducer { producer, topic, fields: source.fields.clone(), key, sent: 0 })
    }

    /// Sends every event of `batch`; returns how many.
    pub fn send(&mut self, batch: &RecordBatch) -> Result<u64, String> {
        let columns: Vec<_> = self.fields.iter().map(|f| batch.column_by_name(&f.name)).collect();
        for r in 0..batch.num_rows() {
            let values: Vec<Value> = columns
                .iter()
                .zip(&self.fields)
                .map(|(c, f)| c.and_then(|a| cell_of(a.as_ref(), r, &f.ty.ty)).unwrap_or(Value::Null))
                .collect();
            let object: serde_json::Map<String, serde_json::Value> =
                self.fields.iter().zip(&values).map(|(f, v)| (f.name.clone(), json_value(v))).collect();
            let payload = serde_json::to_vec(&object).map_err(|e| e.to_string())?;
            let key: Vec<serde_json::Value> = self.key.iter().map(|i| json_value(&values[*i])).collect();
            let key = serde_json::to_vec(&key).map_err(|e| e.to_string())?;
            loop {
                match self.producer.send(BaseRecord::to(&self.topic).key(&key).payload(&payload)) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        // The local queue is full: let deliveries drain, then send again.
                        self.producer.poll(Duration::from_millis(50));
                    }
                    Err((e, _)) => return Err(format!("Kafka: producing to `{}`: {e}", self.topic)),
                }
            }
            self.sent += 1;
        }
        self.producer.poll(Duration::ZERO);
        Ok(batch.num_rows() as u64)
    }

    /// Sends one message as it is (a tool's or a test's: a payload featc would not write).
    pub fn send_raw(&mut self, key: &[u8], payload: &[u8]) -> Result<(), String> {
        self.producer
            .send(BaseRecord::to(&self.topic).key(key).payload(payload))
            .map_err(|(e, _)| format!("Kafka: producing to `{}`: {e}", self.topic))?;
        self.sent += 1;
        Ok(())
    }

    /// Waits until every message sent is acknowledged by the broker; returns how many.
    pub fn finish(self) -> Result<u64, String> {
        flushed(&self.producer, &self.topic).map_err(|e| format!("{e} ({} sent)", self.sent))?;
        Ok(self.sent)
    }
}

/// An idempotent producer of keyed messages to one topic: a source's dead letters, a group's
/// feature changelog.
pub struct KeyedProducer {
    producer: BaseProducer<Deliveries>,
    topic: String,
    sent: u64,
}

impl std::fmt::Debug for KeyedProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedProducer").field("topic", &self.topic).field("sent", &self.sent).finish()
    }
}

impl KeyedProducer {
    /// A producer to `topic`, created (one partition) when it does not exist.
    pub fn open(config: &KafkaConfig, topic: &str) -> Result<KeyedProducer, String> {
        create_topic(config, topic, 1)?;
        let producer = idempotent(config)?;
        Ok(KeyedProducer { producer, topic: topic.to_owned(), sent: 0 })
    }

    /// Sends `(key, payload)` messages in order and waits until the broker has every one.
    pub fn send(&mut self, messages: &[(Vec<u8>, Vec<u8>)]) -> Result<(), String> {
        if messages.is_empty() {
            return Ok(());
        }
        for (key, payload) in messages {
            loop {
                match self.producer.send(BaseRecord::to(&self.topic).key(key).payload(payload)) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        self.producer.poll(Duration::from_millis(50));
                    }
                    Err((e, _)) => return Err(format!("Kafka: producing to `{}`: {e}", self.topic)),
                }
            }
            self.sent += 1;
        }
        flushed(&self.producer, &self.topic)
    }
}

/// Creates `topic` with `partitions` partitions unless it exists.
pub fn create_topic(config: &KafkaConfig, topic: &str, partitions: i32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> =
        config.client().create().map_err(|e| format!("Kafka at {}: {e}", config.brokers))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures::executor::block_on(admin.create_topics([&new], &options))
        .map_err(|e| format!("Kafka at {}: creating topic `{topic}`: {e}", config.brokers))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("Kafka at {}: creating topic `{name}`: {code}", config.brokers)),
        }
    }
    Ok(())
}
