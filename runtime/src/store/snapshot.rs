//! A group's state and the log offsets it includes in, durable checkpoint files per group and
//! version out, and back: a base with every key, then deltas with only the keys changed since.
//!
//! Under `<data-dir>/state/`, a group at a version has one *generation* of files:
//! `<group>.<version>.<generation>.base` and `<group>.<version>.<generation>.<n>.delta` for
//! n = 1, 2, ... Each file is a header line, `featc.snapshot/v4 <crc32>`, then the checkpoint
//! in postcard (a compact binary encoding of the serde types; about a fifth of their JSON) that
//! the checksum covers. A delta holds the state of every key an event changed since the
//! previous checkpoint, with the offsets and counters as of it; restoring reads the base and
//! applies the deltas in order, a key's later state replacing its earlier one. Checkpointing
//! then costs in proportion to what changed, not to the keys held.
//!
//! Every file is written beside its final name, synced, renamed into place and the folder
//! synced (see [`crate::io::durable`]), and never rewritten. A new base starts a new generation
//! (the largest on disk plus one); once it is in place, every other file of the group (older
//! generations and versions, and the JSON snapshots of `featc.snapshot/v3`) is removed. A base
//! that cannot be read, or that names another group, version or format, is reported and its
//! group rebuilt by replay, never left blocking; a damaged delta ends the restore at the
//! checkpoint before it, which is consistent with its own offsets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::io::durable;
use crate::operators::group::GroupSnapshot;

/// The layout of a checkpoint file; bumped on any incompatible change.
pub const SNAPSHOT_FORMAT: &str = "featc.snapshot/v4";

/// One checkpoint of a group at one version: a base (`delta` 0) or a delta.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub format: String,
    pub group: String,
    pub version: String,
    pub generation: u64,
    /// 0 for the base, `n` for the generation's n-th delta.
    pub delta: u32,
    /// `(topic, offset)`: every event before the offset is in the state.
    pub offsets: Vec<(String, u64)>,
    /// Every key (a base) or the keys changed since the previous checkpoint (a delta).
    pub state: GroupSnapshot,
}

impl Snapshot {
    fn new(
        group: &str,
        version: &str,
        (generation, delta): (u64, u32),
        offsets: Vec<(String, u64)>,
        state: GroupSnapshot,
    ) -> Snapshot {
        Snapshot {
            format: SNAPSHOT_FORMAT.to_owned(),
            group: group.to_owned(),
            version: version.to_owned(),
            generation,
            delta,
            offsets,
            state,
        }
    }
}

/// Where a restored generation stands: what the next delta continues from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub generation: u64,
    /// Deltas applied.
    pub deltas: u32,
    /// Bytes of the base, and of the deltas applied.
    pub base_bytes: u64,
    pub delta_bytes: u64,
    /// Why the restore stopped before a delta on disk, if it did.
    pub stopped: Option<String>,
}

/// What reading a group's checkpoints found.
#[derive(Debug)]
pub enum Loaded {
    Missing,
    /// Why the base is not a usable checkpoint of this group and version.
    Unreadable(String),
    /// The state with every delta applied (offsets and counters of the last), and its chain.
    Found(Box<Snapshot>, Chain),
}

fn base_path(dir: &Path, group: &str, version: &str, generation: u64) -> PathBuf {
    dir.join(format!("{group}.{version}.{generation}.base"))
}

fn delta_path(dir: &Path, group: &str, version: &str, generation: u64, n: u32) -> PathBuf {
    dir.join(format!("{group}.{version}.{generation}.{n}.delta"))
}

/// The group's files in `dir`: their names, with the generation of each base of `version`.
fn files_of(dir: &Path, group: &str, version: &str) -> (Vec<PathBuf>, Vec<u64>) {
    let (mut files, mut bases) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(dir) else { return (files, bases) };
    let prefix = format!("{group}.");
    let ours = format!("{group}.{version}.");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else { continue };
        // `<version>.<...>`: versions are hex digits, so a group named `a` never takes `a.b`'s.
        if !rest.split('.').next().is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric())) {
            continue;
        }
        if let Some(generation) = name.strip_prefix(&ours).and_then(|r| r.strip_suffix(".base"))
            && let Ok(generation) = generation.parse()
        {
            bases.push(generation);
        }
        files.push(entry.path());
    }
    (files, bases)
}

fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, String> {
    let body = postcard::to_stdvec(snapshot).map_err(|e| format!("cannot encode a checkpoint: {e}"))?;
    let mut bytes = format!("{SNAPSHOT_FORMAT} {:08x}\n", crc32fast::hash(&body)).into_bytes();
    bytes.extend(body);
    Ok(bytes)
}

/// Reads one checkpoint file: its header (format and the CRC-32 of the rest), then the body.
/// Damage anywhere is caught by the checksum before the state is used.
fn decode(path: &Path, bytes: &[u8]) -> Result<Snapshot, String> {
    let unreadable = |why: &str| format!("unreadable snapshot {}: {why}", path.display());
    let newline = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| unreadable("no header"))?;
    let (header, body) = (&bytes[..newline], &bytes[newline + 1..]);
    let header = String::from_utf8_lossy(header);
    match header.strip_prefix(SNAPSHOT_FORMAT).and_then(|c| u32::from_str_radix(c.trim(), 16).ok()) {
        None => Err(unreadable(&format!("its header is not `{SNAPSHOT_FORMAT} <crc32>`"))),
        Some(crc) if crc != crc32fast::hash(body) => Err(unreadable("its checksum does not match")),
        Some(_) => postcard::from_bytes(body).map_err(|e| unreadable(&e.to_string())),
    }
}

/// Writes every key of a group as the base of a new generation, durably, then removes the
/// group's other files. Returns the generation and the bytes written.
pub fn write(
    dir: &Path,
    group: &str,
    version: &str,
    offsets: Vec<(String, u64)>,
    state: GroupSnapshot,
) -> Result<(u64, u64), String> {
    let (files, bases) = files_of(dir, group, version);
    let generation = bases.iter().max().map_or(1, |g| g + 1);
    let bytes = encode(&Snapshot::new(group, version, (generation, 0), offsets, state))?;
    durable::write_file(&base_path(dir, group, version, generation), &bytes)?;
    // The new base is in place: nothing older is read again.
    for file in files {
        let _ = std::fs::remove_file(file);
    }
    Ok((generation, bytes.len() as u64))
}

/// Writes the keys changed since the previous checkpoint as delta `n` of `generation`,
/// durably. Returns the bytes written.
pub fn write_delta(
    dir: &Path,
    group: &str,
    version: &str,
    (generation, n): (u64, u32),
    offsets: Vec<(String, u64)>,
    changed: GroupSnapshot,
) -> Result<u64, String> {
    let bytes = encode(&Snapshot::new(group, version, (generation, n), offsets, changed))?;
    durable::write_file(&delta_path(dir, group, version, generation, n), &bytes)?;
    Ok(bytes.len() as u64)
}

/// Reads the latest generation of a group at a version: its base, then its deltas in order
/// until one is missing or cannot be read.
pub fn read(dir: &Path, group: &str, version: &str) -> Loaded {
    let (_, bases) = files_of(dir, group, version);
    let Some(&generation) = bases.iter().max() else {
        let legacy = dir.join(format!("{group}.{version}.snapshot.json"));
        if legacy.exists() {
            return Loaded::Unreadable(format!(
                "snapshot {} is in the JSON format of an earlier featc (featc.snapshot/v3)",
                legacy.display()
            ));
        }
        return Loaded::Missing;
    };
    let path = base_path(dir, group, version, generation);
    let Ok(bytes) = std::fs::read(&path) else { return Loaded::Missing };
    let mut base = match decode(&path, &bytes) {
        Ok(s)
            if s.format == SNAPSHOT_FORMAT
                && s.group == group
                && s.version == version
                && s.generation == generation
                && s.delta == 0 =>
        {
            s
        }
        Ok(_) => return Loaded::Unreadable(format!("{} is not a snapshot of this group and version", path.display())),
        Err(why) => return Loaded::Unreadable(why),
    };
    let mut chain = Chain { generation, deltas: 0, base_bytes: bytes.len() as u64, delta_bytes: 0, stopped: None };
    let mut at: Option<BTreeMap<Vec<crate::value::Value>, usize>> = None;
    loop {
        let n = chain.deltas + 1;
        let path = delta_path(dir, group, version, generation, n);
        let Ok(bytes) = std::fs::read(&path) else { break };
        let delta = match decode(&path, &bytes) {
            Ok(d) if d.group == group && d.version == version && d.generation == generation && d.delta == n => d,
            Ok(_) => {
                chain.stopped = Some(format!("{} is not the next delta of this generation", path.display()));
                break;
            }
            Err(why) => {
                chain.stopped = Some(why);
                break;
            }
        };
        let keys = &mut base.state.keys;
        let index = at.get_or_insert_with(|| keys.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect());
        for (key, state) in delta.state.keys {
            match index.get(&key) {
                Some(&i) => keys[i].1 = state,
                None => {
                    index.insert(key.clone(), keys.len());
                    keys.push((key, state));
                }
            }
        }
        base.offsets = delta.offsets;
        base.state.dead_count = delta.state.dead_count;
        base.state.accepted = delta.state.accepted;
        chain.deltas = n;
        chain.delta_bytes += bytes.len() as u64;
    }
    if chain.deltas > 0 {
        base.state.keys.sort_by(|a, b| a.0.cmp(&b.0));
        base.delta = chain.deltas;
    }
    Loaded::Found(Box::new(base), chain)
}

#[cfg(test)]
mod tests;
