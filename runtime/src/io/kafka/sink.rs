//! A Kappa runner's state in, a changelog of feature vectors on Kafka out: for each group the
//! project sinks, every key an event changed since the last publish (an out-of-order one
//! included) gets one message, its vector as of its latest event.
//!
//! The message is keyed by the entity key (a JSON array, as `featc produce` keys events), so a
//! compacted topic keeps each key's latest vector; its payload is the answer `featc serve`
//! gives (`group`, `version`, `key`, `offsets`, `as_of`, `features`). Published before each
//! checkpoint: every key in a snapshot was published, and a crash in between publishes those
//! keys again (at least once; the idempotent producer never doubles a message it retries).

use std::borrow::Cow;

use super::KafkaConfig;
use super::produce::KeyedProducer;
use crate::operators::group::ChangeMark;
use crate::runners::kappa::{KappaRunner, json_value};
use crate::serve::{Answer, Features};

/// The feature changelogs of a project's sinking groups.
pub struct FeatureSink {
    /// Per group sunk: its index, producer, and the group's change mark at the last publish.
    groups: Vec<(usize, KeyedProducer, ChangeMark)>,
}

impl std::fmt::Debug for FeatureSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureSink").field("groups", &self.groups.len()).finish()
    }
}

impl FeatureSink {
    /// The sink of the groups `[kafka.sink]` names, their topics created when missing; `None`
    /// when it names none. What `runner` holds already (restored from a snapshot) counts as
    /// published.
    pub fn open(config: &KafkaConfig, runner: &KappaRunner) -> Result<Option<FeatureSink>, String> {
        let mut groups = Vec::new();
        for (name, topic) in &config.sink {
            let gi = runner
                .ir()
                .groups
                .iter()
                .position(|g| &g.name == name)
                .ok_or_else(|| format!("featc.toml: [kafka.sink] names `{name}`, which is not a feature group"))?;
            let mark = runner.groups()[gi].change_mark();
            groups.push((gi, KeyedProducer::open(config, topic)?, mark));
        }
        Ok((!groups.is_empty()).then_some(FeatureSink { groups }))
    }

    /// Publishes the vector of every key with events since the last publish, and waits until
    /// the broker has them; returns how many.
    pub fn publish(&mut self, runner: &KappaRunner) -> Result<u64, String> {
        let positions = runner.positions();
        let mut sent = 0;
        for (gi, producer, mark) in &mut self.groups {
            let (group, runtime) = (&runner.ir().groups[*gi], &runner.groups()[*gi]);
            let now = runtime.change_mark();
            let changed = runtime.changed_since(Some(*mark));
            let mut messages = Vec::with_capacity(changed.len());
            for (key, latest) in &changed {
                let values = runtime.lookup(key, *latest)?.unwrap_or_default();
                let names = group.keys.iter().map(|k| k.name.clone());
                let answer = Answer {
                    group: Cow::Borrowed(&group.name),
                    version: Cow::Borrowed(&group.version),
                    target: "kappa",
                    key: Cow::Owned(names.zip(key.iter().map(json_value)).collect()),
                    offsets: Cow::Borrowed(&positions),
                    batch_cutoff: None,
                    found: true,
                    as_of: Some(*latest),
                    features: Some(Features { names: Cow::Borrowed(&group.outputs), values }),
                };
                let id =
                    serde_json::to_vec(&key.iter().map(json_value).collect::<Vec<_>>()).map_err(|e| e.to_string())?;
                messages.push((id, answer.to_vec()));
            }
            producer.send(&messages)?;
            sent += messages.len() as u64;
            *mark = now;
        }
        Ok(sent)
    }
}
