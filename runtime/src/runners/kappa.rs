//! A project's IR and its folders in, the Kappa plan running out: the stream of each source
//! (the embedded log, seeded from its history files when empty, a Kafka topic the project's
//! `featc.toml` binds it to, or the Delta table its history is) replayed from offset 0 through every group's operators, then
//! followed; lookups of feature vectors as of a time.

use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use featc::ir::{FeatureIr, IrField, MergeRule};

use crate::io::delta::stream::DeltaSource;
use crate::io::history::Rejected;
use crate::io::kafka::KafkaConfig;
use crate::io::kafka::source::KafkaSource;
use crate::io::log::Log;
use crate::io::stream::{LogStream, StreamSource};
use crate::io::{dead_letters, seed};
use crate::operators::group::{DeadLetter, GroupRuntime};
use crate::operators::state::ChangeMark;
use crate::store::snapshot::{self, Loaded};
use crate::value::Value;

/// Events a server reads between two looks at a shutdown asked for (and between two chances
/// for lookups to take the state) in its first replay.
pub const REPLAY_STEP: u64 = 65_536;

/// Events read before they are handed to the groups together (see [`KappaRunner::step`]): enough
/// for a replay's keys to recur within them, and a bounded hold of Arrow batches. A long
/// replay of `featc run` looks at the clock (a checkpoint due) between two.
pub const BACKLOG: u64 = 1 << 20;

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub events: u64,
    pub accepted: u64,
    pub dead_letters: u64,
    pub keys: u64,
}

struct Stream {
    source: usize,
    reader: Box<dyn StreamSource>,
    /// For each group reading this source: its index, the fields it decodes, and per partition
    /// the offset its state already includes (events before it are skipped for that group).
    groups: Vec<(usize, Vec<IrField>, Vec<u64>)>,
}

/// The Kappa runtime of one project.
pub struct KappaRunner {
    ir: FeatureIr,
    groups: Vec<GroupRuntime>,
    streams: Vec<Stream>,
    data_dir: PathBuf,
    /// Events a stream could not decode (a broker's payloads), dead-lettered since opening.
    undecoded: u64,
    /// Events or dead letters read since the last snapshot.
    unsaved: bool,
    /// Those not written yet: the stream, the partition, the event (its offset as `line`).
    unwritten: Vec<(usize, usize, Rejected)>,
    /// Per group, the checkpoint generation this runner writes deltas to, if any.
    chains: Vec<Option<Chain>>,
}

/// A generation of checkpoint files this runner wrote the base of (see
/// [`crate::store::snapshot`]): the next delta holds the keys changed since `mark`.
struct Chain {
    generation: u64,
    deltas: u32,
    mark: ChangeMark,
    base_bytes: u64,
    delta_bytes: u64,
}

/// Deltas a generation takes before the next checkpoint writes a new base (besides the bytes
/// bound: deltas larger in all than their base).
const MAX_DELTAS: u32 = 256;

impl std::fmt::Debug for KappaRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KappaRunner").field("data_dir", &self.data_dir).finish()
    }
}

impl KappaRunner {
    /// Opens the logs under `data_dir/log`, seeding each empty one from the source's history
    /// files (relative to `project_dir`). Returns the runner and what was seeded.
    pub fn open(ir: FeatureIr, project_dir: &Path, data_dir: &Path) -> Result<(KappaRunner, Vec<String>), String> {
        let (mut runner, mut seeded) = KappaRunner::open_logs(ir, project_dir, data_dir)?;
        seeded.extend(runner.restore_until(None)?);
        Ok((runner, seeded))
    }

    /// Opens the logs for a replay of the events at or before `t` only: the state as of `t`, for
    /// `featc materialize`. Lateness is judged among the events read. A group resumes from its
    /// latest checkpoint that holds no event after `t` ([`snapshot::read_until`]: its state is
    /// the one a replay of the same offsets gives, since every event there is at or before
    /// `t`); a group with none replays from offset 0. Do not [`KappaRunner::snapshot`] such a
    /// runner: its state is not the live one.
    pub fn open_as_of(
        ir: FeatureIr,
        project_dir: &Path,
        data_dir: &Path,
        t: i64,
    ) -> Result<(KappaRunner, Vec<String>), String> {
        let (mut runner, mut seeded) = KappaRunner::open_logs(ir, project_dir, data_dir)?;
        seeded.extend(runner.restore_until(Some(t))?);
        runner.groups.iter_mut().for_each(|g| g.read_until(t));
        Ok((runner, seeded))
    }

    /// Opens the logs for a replay from offset 0 of the events with `after < ts <= until` only,
    /// ignoring every checkpoint: the Lambda speed layer (events after the cutoff) and `featc
    /// verify` (every event: it needs the late ones, which no checkpoint keeps). Lateness is
    /// judged among the events read, which for an event after `after` is the same judgement as
    /// over the whole log.
    ///
    /// `rules`: compute only the aggregates whose merge rule is one of these (a Lambda speed
    /// layer replay, see [`GroupRuntime::for_rules`]); `None`: every aggregate.
    pub fn open_replay(
        ir: FeatureIr,
        project_dir: &Path,
        data_dir: &Path,
        (after, until): (i64, i64),
        rules: Option<&[MergeRule]>,
    ) -> Result<(KappaRunner, Vec<String>), String> {
        let (mut runner, seeded) = KappaRunner::open_logs(ir, project_dir, data_dir)?;
        if let Some(rules) = rules {
            runner.groups = runner
                .ir
                .groups
                .iter()
                .map(|g| GroupRuntime::for_rules(&runner.ir, g, crate::operators::group::Path::Auto, rules))
                .collect::<Result<_, _>>()?;
        }
        runner.groups.iter_mut().for_each(|g| g.read_range(after, until));
        Ok((runner, seeded))
    }

    /// Every group is asked for answers at `t` or later only (see [`GroupRuntime::answer_from`]).
    pub fn answer_from(&mut self, t: i64) {
        self.groups.iter_mut().for_each(|g| g.answer_from(t));
    }

    /// Reads only events at or before `t` from now on (see [`GroupRuntime::read_until`]).
    pub fn read_until(&mut self, t: i64) {
        self.groups.iter_mut().for_each(|g| g.read_until(t));
    }

    fn open_logs(ir: FeatureIr, project_dir: &Path, data_dir: &Path) -> Result<(KappaRunner, Vec<String>), String> {
        let groups = ir.groups.iter().map(|g| GroupRuntime::new(&ir, g)).collect::<Result<Vec<_>, _>>()?;
        let kafka = KafkaConfig::load_for(project_dir, data_dir)?;
        let mut streams = Vec::new();
        let mut seeded = Vec::new();
        for (si, source) in ir.sources.iter().enumerate() {
            let readers: Vec<(usize, Vec<IrField>, Vec<u64>)> = ir
                .groups
                .iter()
                .enumerate()
                .filter(|(_, g)| g.source == si)
                .map(|(gi, g)| (gi, g.fields(source).into_iter().cloned().collect(), Vec::new()))
                .collect();
            if readers.is_empty() {
                continue;
            }
            let reader = stream_of(kafka.as_ref(), project_dir, data_dir, source, &mut seeded)?;
            let partitions = reader.partitions().len();
            let readers = readers.into_iter().map(|(gi, fields, _)| (gi, fields, vec![0; partitions])).collect();
            streams.push(Stream { source: si, reader, groups: readers });
        }
        Ok((
            KappaRunner {
                ir,
                groups,
                streams,
                data_dir: data_dir.to_path_buf(),
                undecoded: 0,
                unsaved: false,
                unwritten: Vec::new(),
                chains: Vec::new(),
            },
            seeded,
        ))
    }

    /// Events in the streams not read yet.
    pub fn backlog(&self) -> Result<u64, String> {
        let mut total = 0;
        for s in &self.streams {
            total += s.reader.backlog()?;
        }
        Ok(total)
    }

    /// Reads every log to its end through the operators; `progress` is told the events read.
    pub fn catch_up(&mut self, progress: impl FnMut(u64)) -> Result<ReplayReport, String> {
        self.step(u64::MAX, progress)
    }

    /// Reads every stream to its end as [`KappaRunner::catch_up`] does, and writes a snapshot
    /// (the dead letters first) each time `every` has passed since the last: a long replay
    /// killed midway resumes from its last snapshot, not from offset 0. Returns the report
    /// and how many snapshots were written (none after the last step: the caller writes that).
    /// `before_snapshot` runs before each (a feature sink publishes there).
    pub fn catch_up_checkpointing(
        &mut self,
        every: std::time::Duration,
        mut progress: impl FnMut(u64),
        before_snapshot: &mut dyn FnMut(&KappaRunner) -> Result<(), String>,
    ) -> Result<(ReplayReport, u32), String> {
        let (mut events, mut snapshots) = (0, 0);
        let mut last = std::time::Instant::now();
        loop {
            let mut report = self.step(BACKLOG, &mut progress)?;
            events += report.events;
            if report.events < BACKLOG {
                report.events = events;
                return Ok((report, snapshots));
            }
            if last.elapsed() >= every {
                before_snapshot(self)?;
                self.snapshot()?;
                snapshots += 1;
                last = std::time::Instant::now();
            }
        }
    }

    /// Reads at most `budget` events (to the exact offset) through the operators. The batches
    /// read are handed to each group up to [`BACKLOG`] events at a time, which the group
    /// regroups by key (see [`GroupRuntime::process_backlog`]): the same state as batch after
    /// batch.
    pub fn step(&mut self, mut budget: u64, mut progress: impl FnMut(u64)) -> Result<ReplayReport, String> {
        let mut report = ReplayReport::default();
        for stream in &mut self.streams {
            // The batches read and not yet processed, per group of the stream.
            let mut held: Vec<Vec<RecordBatch>> = vec![Vec::new(); stream.groups.len()];
            let mut unreported = 0;
            while budget > 0 {
                let next = match stream.reader.next_batch() {
                    Ok(next) => next,
                    Err(e) => {
                        // What was read before the failure is in the state.
                        Self::process_held(&mut self.groups, &stream.groups, &mut held)?;
                        return Err(e);
                    }
                };
                let Some((partition, first, mut batch)) = next else { break };
                if batch.num_rows() as u64 > budget {
                    // Stop exactly at the budget; the rest is read next time.
                    let take = usize::try_from(budget).unwrap_or(usize::MAX);
                    let rest = batch.slice(take, batch.num_rows() - take);
                    batch = batch.slice(0, take);
                    stream.reader.give_back(partition, first + budget, rest);
                }
                let n = batch.num_rows() as u64;
                budget -= n;
                report.events += n;
                // Set at once: a read that fails after this batch leaves it in the state.
                self.unsaved = true;
                for ((_, _, resume), held) in stream.groups.iter().zip(&mut held) {
                    // A group restored from a later snapshot skips what its state includes.
                    let skip = resume[partition].saturating_sub(first);
                    if skip == 0 {
                        held.push(batch.clone());
                    } else if skip < n {
                        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
                        held.push(batch.slice(skip, batch.num_rows() - skip));
                    }
                }
                unreported += n;
                if unreported >= BACKLOG {
                    Self::process_held(&mut self.groups, &stream.groups, &mut held)?;
                    progress(std::mem::take(&mut unreported));
                }
            }
            Self::process_held(&mut self.groups, &stream.groups, &mut held)?;
            if unreported > 0 {
                progress(unreported);
            }
        }
        // Payloads a broker gave that are not events: dead letters, written with the snapshot.
        for (si, stream) in self.streams.iter_mut().enumerate() {
            for (p, rejected) in stream.reader.take_rejected() {
                self.undecoded += 1;
                self.unwritten.push((si, p, rejected));
            }
        }
        report.dead_letters = self.undecoded;
        self.unsaved |= !self.unwritten.is_empty();
        for g in &self.groups {
            let (accepted, dead) = g.counters();
            report.accepted += accepted;
            report.dead_letters += dead;
            report.keys += g.key_count() as u64;
        }
        Ok(report)
    }

    /// Hands each group of a stream the batches held for it, in read order, and empties them: a
    /// few events batch by batch, more as a backlog regrouped by key.
    fn process_held(
        groups: &mut [GroupRuntime],
        readers: &[(usize, Vec<IrField>, Vec<u64>)],
        held: &mut [Vec<RecordBatch>],
    ) -> Result<(), String> {
        /// Below this many events, regrouping them by key costs more than it saves.
        const REGROUP_MIN: usize = 4_096;
        for ((gi, fields, _), held) in readers.iter().zip(held) {
            let batches = std::mem::take(held);
            let Some(group) = groups.get_mut(*gi) else { continue };
            if batches.iter().map(RecordBatch::num_rows).sum::<usize>() < REGROUP_MIN {
                batches.iter().for_each(|b| group.process_batch(b, fields));
            } else {
                group.process_backlog(&batches, fields)?;
            }
        }
        Ok(())
    }

    /// Appends the dead letters not written yet of every group to
    /// `data_dir/dead_letters/<group>.<version>.ndjson`, one JSON object per event with its
    /// reason and number (`seq`), and syncs them; returns the files. A replay after a crash
    /// makes dead letters the file already holds: they are not written twice.
    pub fn write_dead_letters(&mut self) -> Result<Vec<PathBuf>, String> {
        let mut written = Vec::new();
        // A stream's undecodable events, one file per partition
        // (`<source>.stream-<partition>.ndjson`), numbered by offset: a replay after a crash
        // finds those already written and skips them.
        // Then a broker's source sends them to its dead-letter topic too (before the snapshot,
        // so a crash in between sends them again rather than never).
        // Cleared only once both are done: a failure leaves them to the next try (the files
        // skip what they already hold).
        let unwritten = &self.unwritten;
        for (si, p, rejected) in unwritten {
            let name = format!("{}.stream-{p}", self.ir.sources[self.streams[*si].source].name);
            let offset = rejected.line as u64;
            written.extend(dead_letters::append_numbered(
                &self.data_dir,
                &name,
                offset,
                [dead_letters::rejected_object(rejected)],
            )?);
        }
        for (si, stream) in self.streams.iter_mut().enumerate() {
            let letters: Vec<(usize, Rejected)> =
                unwritten.iter().filter(|(s, _, _)| *s == si).map(|(_, p, r)| (*p, r.clone())).collect();
            stream.reader.dead_lettered(&letters)?;
        }
        self.unwritten.clear();
        for (g, spec) in self.groups.iter_mut().zip(&self.ir.groups) {
            // Marked written only once they are: a failed write loses none.
            let (first, letters) = g.pending_dead_letters();
            let n = letters.len();
            let objects = letters.iter().map(|d| dead_letter_json(&g.columns, d));
            let name = format!("{}.{}", g.name, spec.version);
            written.extend(dead_letters::append_numbered(&self.data_dir, &name, first, objects)?);
            g.written_dead_letters(n);
        }
        Ok(written)
    }

    fn state_dir(&self) -> PathBuf {
        self.data_dir.join("state")
    }

    /// Writes a checkpoint of each group's state, with the log offsets it includes, to durable
    /// files per group and version (see [`crate::store::snapshot`]): the keys changed since
    /// the last checkpoint as a delta, or every key as a new base when this runner has none
    /// yet (the first after opening) or its deltas have grown past their base. A runner
    /// opened later resumes each group from its checkpoints when the group's version is
    /// unchanged. The dead letters are written first, so a checkpoint never counts one the
    /// files lack.
    pub fn snapshot(&mut self) -> Result<PathBuf, String> {
        self.write_dead_letters()?;
        let dir = self.state_dir();
        self.chains.resize_with(self.ir.groups.len(), || None);
        for (gi, g) in self.ir.groups.iter().enumerate() {
            let offsets = self
                .streams
                .iter()
                .filter(|s| s.groups.iter().any(|(i, _, _)| *i == gi))
                .flat_map(|s| s.reader.partitions().iter().cloned().zip(s.reader.positions()))
                .collect();
            let group = &self.groups[gi];
            match &mut self.chains[gi] {
                Some(c) if c.deltas < MAX_DELTAS && c.delta_bytes < c.base_bytes => {
                    let (changed, mark) = group.snapshot_since(c.mark);
                    let n = c.deltas + 1;
                    c.delta_bytes +=
                        snapshot::write_delta(&dir, &g.name, &g.version, (c.generation, n), offsets, changed)?;
                    c.deltas = n;
                    c.mark = mark;
                }
                chain => {
                    let mark = group.change_mark();
                    let (generation, base_bytes) = snapshot::write_group(&dir, &g.name, &g.version, offsets, group)?;
                    *chain = Some(Chain { generation, deltas: 0, mark, base_bytes, delta_bytes: 0 });
                }
            }
        }
        // Durable: a broker may now be told (its consumer group's offsets, for monitoring).
        self.streams.iter_mut().for_each(|s| s.reader.checkpointed());
        self.unsaved = false;
        Ok(dir)
    }

    /// Whether events or dead letters were read since the last snapshot (a read that failed
    /// midway included).
    pub fn unsaved(&self) -> bool {
        self.unsaved
    }

    /// Loads each group's snapshot of its current version, where there is one (and, with
    /// `until`, where it holds no event after that time); a group without one (new, or changed
    /// since) replays its source from offset 0. Returns what happened, for the user.
    fn restore_until(&mut self, until: Option<i64>) -> Result<Vec<String>, String> {
        let mut said = Vec::new();
        // Where each stream's partitions end, asked once and only when a snapshot is to be
        // checked against them (a broker's watermarks are a round trip per partition).
        let mut known_ends: Option<Vec<Vec<u64>>> = None;
        self.chains.resize_with(self.ir.groups.len(), || None);
        for gi in 0..self.ir.groups.len() {
            let (name, version) = (self.ir.groups[gi].name.clone(), self.ir.groups[gi].version.clone());
            let (snapshot, chain) = match snapshot::read_until(&self.state_dir(), &name, &version, until) {
                Loaded::Found(s, chain) => {
                    for why in &chain.passed {
                        said.push(format!("{why}: group `{name}` resumes from the generation before it"));
                    }
                    if let Some(why) = &chain.stopped {
                        said.push(format!(
                            "{why}: group `{name}` resumes from the checkpoint before it (delta {} of generation {})",
                            chain.deltas, chain.generation
                        ));
                    }
                    (*s, chain)
                }
                Loaded::Missing => {
                    if self.state_dir().exists() {
                        said.push(format!(
                            "group `{name}` (version {version}) has no snapshot: replaying from offset 0"
                        ));
                    }
                    continue;
                }
                Loaded::Unreadable(why) => {
                    said.push(format!("{why}: replaying group `{name}` from offset 0"));
                    continue;
                }
                Loaded::Later(latest) => {
                    said.push(format!(
                        "every checkpoint of group `{name}` holds events after {} (the earliest up to {}): \
                         replaying group `{name}` from offset 0",
                        crate::io::time::rfc3339(until.unwrap_or(latest)),
                        crate::io::time::rfc3339(latest),
                    ));
                    continue;
                }
            };
            // A snapshot that claims events the stream does not hold (a log restored from an
            // older copy, say), or positions of another binding (the embedded log, and now
            // Kafka), cannot be trusted: the group is rebuilt from the stream.
            let offset_of =
                |partition: &String| snapshot.offsets.iter().find(|(t, _)| t == partition).map_or(0, |(_, o)| *o);
            let ends = match &known_ends {
                Some(ends) => ends,
                None => known_ends.insert(self.streams.iter().map(|s| s.reader.ends()).collect::<Result<_, _>>()?),
            };
            let mut distrust = None;
            for (stream, ends) in
                self.streams.iter().zip(ends).filter(|(s, _)| s.groups.iter().any(|(i, _, _)| *i == gi))
            {
                let names = stream.reader.partitions();
                if !snapshot.offsets.iter().any(|(t, _)| names.contains(t)) {
                    distrust = Some(format!("no position in {names:?}, the stream it reads now"));
                    continue;
                }
                for (partition, end) in names.iter().zip(ends) {
                    let offset = offset_of(partition);
                    if offset > *end {
                        distrust = Some(format!("offset {offset} of `{partition}`, whose log ends at {end}"));
                    }
                }
            }
            if let Some(what) = distrust {
                said.push(format!(
                    "the snapshot of group `{name}` claims {what}: replaying group `{name}` from offset 0"
                ));
                continue;
            }
            self.groups[gi].restore(snapshot.state);
            // The next checkpoint continues the generation where the whole of it was read.
            self.chains[gi] = chain.continuable.then(|| Chain {
                generation: chain.generation,
                deltas: chain.deltas,
                mark: self.groups[gi].change_mark(),
                base_bytes: chain.base_bytes,
                delta_bytes: chain.delta_bytes,
            });
            for stream in &mut self.streams {
                let offsets: Vec<u64> = stream.reader.partitions().iter().map(offset_of).collect();
                for (i, _, resume) in &mut stream.groups {
                    if *i == gi {
                        resume.clone_from(&offsets);
                    }
                }
            }
            let at = if chain.deltas > 0 {
                format!(" (delta {} of generation {})", chain.deltas, chain.generation)
            } else {
                String::new()
            };
            said.push(format!("resumed group `{name}` from its snapshot{at} at offsets {:?}", snapshot.offsets));
        }
        // Each partition is read from the earliest offset any of its groups needs.
        for stream in &mut self.streams {
            for p in 0..stream.reader.partitions().len() {
                let from = stream.groups.iter().map(|(_, _, r)| r[p]).min().unwrap_or(0);
                stream.reader.seek(p, from);
            }
        }
        Ok(said)
    }

    /// The offset each stream has been read to, per partition (the embedded log: per topic).
    pub fn positions(&self) -> Vec<(String, u64)> {
        self.streams.iter().flat_map(|s| s.reader.partitions().iter().cloned().zip(s.reader.positions())).collect()
    }

    pub fn groups(&self) -> &[GroupRuntime] {
        &self.groups
    }

    /// The groups' state, the runner's streams and files closed.
    pub fn into_groups(self) -> Vec<GroupRuntime> {
        self.groups
    }

    /// The groups taken out, the runner left with none (see
    /// [`crate::runners::reader::FeatureReader::take_state`]).
    pub fn take_groups(&mut self) -> Vec<GroupRuntime> {
        std::mem::take(&mut self.groups)
    }

    pub fn ir(&self) -> &FeatureIr {
        &self.ir
    }
}

fn dead_letter_json(columns: &[String], d: &DeadLetter) -> serde_json::Map<String, serde_json::Value> {
    let mut object = serde_json::Map::new();
    object.insert("reason".to_owned(), serde_json::Value::String(d.reason.clone()));
    for (c, v) in columns.iter().zip(&d.row) {
        object.insert(c.clone(), json_value(v));
    }
    object
}

/// A value as JSON: numbers, strings, booleans, null; timestamps as RFC 3339 text.
pub fn json_value(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::I64(x) => J::from(*x),
        Value::F64(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
        Value::Str(s) => J::String(s.to_string()),
        Value::Ts(ms) => J::String(crate::io::time::rfc3339(*ms)),
        Value::List(items) => J::Array(items.iter().map(json_value).collect()),
    }
}

/// The stream of `source` as its bindings say: the Kafka topic `featc.toml` binds it to, the
/// Delta table its history is (Streamhouse), or its embedded log under `data_dir`, seeded from
/// its history files once, whoever opens it first (what seeding did goes to `seeded`).
pub(crate) fn stream_of(
    kafka: Option<&KafkaConfig>,
    project_dir: &Path,
    data_dir: &Path,
    source: &featc::ir::IrSource,
    seeded: &mut Vec<String>,
) -> Result<Box<dyn StreamSource>, String> {
    let delta = source.history.as_ref().is_some_and(|h| h.format == featc::ir::FileFormat::Delta);
    Ok(match kafka {
        Some(config) if config.binds(source) && delta => {
            return Err(format!(
                "source `{}`: its history is a Delta table, which is also its stream; featc.toml \
                 binds it to Kafka too (list the Kafka-bound sources in `[kafka] sources`)",
                source.name
            ));
        }
        Some(config) if config.binds(source) => Box::new(KafkaSource::open(config, source)?),
        _ if delta => Box::new(DeltaSource::open(project_dir, source)?),
        _ => {
            seeded.extend(seed::seed(project_dir, source, data_dir)?);
            let log = Log::open(&data_dir.join("log"), &source.topic)?;
            Box::new(LogStream::new(log, &source.topic))
        }
    })
}
