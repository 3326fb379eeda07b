//! A project's `featc.toml` (and the environment) in, the sources bound to Kafka and the client
//! settings out; the consumer in [`source`], the producer in [`produce`].
//!
//! ```toml
//! [kafka]
//! brokers = "127.0.0.1:9092"        # or FEATC_KAFKA_BROKERS; the file then may be left out
//! group = "featc-fraud"             # the consumer group offsets are committed under
//! sources = ["transactions"]        # the sources read from Kafka (default: every source)
//!
//! [kafka.topics]                    # a source's topic, when not the source's own topic name
//! transactions = "payments.transactions"
//!
//! [kafka.sink]                      # groups whose vectors go to a changelog topic
//! user_fraud = "features.user_fraud"
//!
//! [kafka.dead_letters]              # a source's dead-letter topic (default `<topic>.dead-letters`)
//! transactions = "payments.rejected"
//!
//! [kafka.properties]                # librdkafka properties, passed through as they are
//! "security.protocol" = "plaintext"
//! ```
//!
//! The spec never names a broker: the same `.feat` runs on the embedded log or on Kafka.

pub mod group;
pub mod produce;
pub mod sink;
pub mod source;

use std::collections::BTreeMap;
use std::path::Path;

use featc::ir::IrSource;

/// The environment variable that names the brokers (and binds every source to Kafka).
pub const BROKERS_ENV: &str = "FEATC_KAFKA_BROKERS";

/// How a project's sources bind to Kafka.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    #[serde(default)]
    pub brokers: String,
    /// The consumer group (default `featc`).
    #[serde(default)]
    pub group: Option<String>,
    /// The sources read from Kafka; `None`: every source.
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// Topic overrides by source name.
    #[serde(default)]
    pub topics: BTreeMap<String, String>,
    /// The groups whose feature vectors go to a changelog topic, by group name.
    #[serde(default)]
    pub sink: BTreeMap<String, String>,
    /// Dead-letter topic overrides by source name.
    #[serde(default)]
    pub dead_letters: BTreeMap<String, String>,
    /// librdkafka properties passed through.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// The one partition of every bound topic this data folder holds, when it is a partition's
    /// folder of a consumer group's members (see [`group`]); `None`: every partition.
    #[serde(skip)]
    pub partition: Option<i32>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    kafka: Option<KafkaConfig>,
}

/// The file of a project's bindings.
pub const CONFIG_FILE: &str = "featc.toml";

impl KafkaConfig {
    /// The project's Kafka bindings: `featc.toml` in `project_dir`, its brokers overridden by
    /// [`BROKERS_ENV`]; `None` when neither names a broker (every source on the embedded log).
    pub fn load(project_dir: &Path) -> Result<Option<KafkaConfig>, String> {
        let path = project_dir.join(CONFIG_FILE);
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<File>(&text)
                .map_err(|e| format!("{}: {}", path.display(), e.message()))?
                .kafka
                .unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KafkaConfig::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if let Ok(brokers) = std::env::var(BROKERS_ENV)
            && !brokers.trim().is_empty()
        {
            config.brokers = brokers.trim().to_owned();
        }
        Ok((!config.brokers.is_empty()).then_some(config))
    }

    /// The project's Kafka bindings as a data folder reads them: restricted to one partition
    /// when the folder is a partition's folder of a consumer group ([`group::PARTITION_FILE`]).
    pub fn load_for(project_dir: &Path, data_dir: &Path) -> Result<Option<KafkaConfig>, String> {
        let Some(mut config) = KafkaConfig::load(project_dir)? else { return Ok(None) };
        config.partition = group::partition_of(data_dir)?;
        Ok(Some(config))
    }

    /// Whether `source` reads from Kafka.
    pub fn binds(&self, source: &IrSource) -> bool {
        self.sources.as_ref().is_none_or(|names| names.iter().any(|n| n == &source.name))
    }

    /// The Kafka topic of `source`.
    pub fn topic(&self, source: &IrSource) -> String {
        self.topics.get(&source.name).cloned().unwrap_or_else(|| source.topic.clone())
    }

    /// The topic that receives the payloads of `source` that are not events.
    pub fn dead_letter_topic(&self, source: &IrSource) -> String {
        self.dead_letters.get(&source.name).cloned().unwrap_or_else(|| format!("{}.dead-letters", self.topic(source)))
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or("featc")
    }

    /// A client configuration: the brokers, then the properties passed through.
    pub(crate) fn client(&self) -> rdkafka::ClientConfig {
        let mut c = rdkafka::ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

/// The name a checkpoint gives a Kafka partition.
pub(crate) fn partition_name(topic: &str, partition: i32) -> String {
    format!("kafka:{topic}/{partition}")
}
