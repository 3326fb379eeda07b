//! A group's state and the log offsets it includes in, durable checkpoint files per group and
//! version out, and back: a base with every key, then deltas with only the keys changed since.
//!
//! Under `<data-dir>/state/`, a group at a version has *generations* of files:
//! `<group>.<version>.<generation>.base` and `<group>.<version>.<generation>.<n>.delta` for
//! n = 1, 2, ... Each file is a header line, `featc.snapshot/v4 <crc32>`, then the checkpoint
//! in postcard (a compact binary encoding of the serde types; about a fifth of their JSON) that
//! the checksum covers. A delta holds the state of every key an event changed since the
//! previous checkpoint, with the offsets and counters as of it; restoring reads the base and
//! applies the deltas in order, a key's later state replacing its earlier one. Checkpointing
//! then costs in proportion to what changed, not to the keys held, and a process that restarts
//! continues its generation (see [`Chain::continuable`]).
//!
//! The checkpoints of a generation are also the group's history: the state as of an earlier
//! time is the base and the deltas up to the last one that holds no event after it
//! ([`read_until`]), which `featc materialize --at` resumes from instead of replaying from
//! offset 0. A key's latest event time only grows, so that prefix is found by reading the
//! deltas in order until one holds a key with a later event.
//!
//! Every file is written beside its final name, synced, renamed into place and the folder
//! synced (see [`crate::io::durable`]), and never rewritten. A new base starts a new generation
//! (the largest on disk plus one); once it is in place, the generation before it is kept (its
//! checkpoints are history, and a fallback should the new base be damaged) and every other file
//! of the group (older generations and versions, and the JSON snapshots of
//! `featc.snapshot/v3`) is removed. A base that cannot be read, or that names another group,
//! version or format, is reported and the generation before it restored, or its group rebuilt
//! by replay where there is none, never left blocking; a damaged delta ends the restore at the
//! checkpoint before it, which is consistent with its own offsets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::io::durable;
use crate::operators::group::export::KeyOrder;
use crate::operators::group::{GroupRuntime, GroupSnapshot};

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
    /// Why newer generations on disk were passed over (a damaged base), if any were.
    pub passed: Vec<String>,
    /// Whether the next checkpoint may be this generation's next delta: the whole of the newest
    /// generation was read (no damaged delta, no later one left on disk, no time bound).
    pub continuable: bool,
}

/// What reading a group's checkpoints found.
#[derive(Debug)]
pub enum Loaded {
    Missing,
    /// Why no base is a usable checkpoint of this group and version.
    Unreadable(String),
    /// Every checkpoint holds an event after the time asked for: the latest event of the
    /// earliest one.
    Later(i64),
    /// The state with the deltas applied (offsets and counters of the last), and its chain.
    Found(Box<Snapshot>, Chain),
}

/// What one generation gives when read up to a time.
enum Generation {
    Found(Box<Snapshot>, Chain),
    /// Its base holds an event after the time: the latest.
    Later(i64),
}

fn base_path(dir: &Path, group: &str, version: &str, generation: u64) -> PathBuf {
    dir.join(format!("{group}.{version}.{generation}.base"))
}

fn delta_path(dir: &Path, group: &str, version: &str, generation: u64, n: u32) -> PathBuf {
    dir.join(format!("{group}.{version}.{generation}.{n}.delta"))
}

/// The group's files in `dir`, each with its generation and delta number (0 for the base)
/// when it is a checkpoint of `version`.
fn files_of(dir: &Path, group: &str, version: &str) -> Vec<(PathBuf, Option<(u64, u32)>)> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return files };
    let prefix = format!("{group}.");
    let ours = format!("{group}.{version}.");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else { continue };
        // `<version>.<...>`: versions are hex digits, so a group named `a` never takes `a.b`'s.
        if !rest.split('.').next().is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric())) {
            continue;
        }
        let id = name.strip_prefix(&ours).and_then(|r| {
            if let Some(generation) = r.strip_suffix(".base") {
                return Some((generation.parse().ok()?, 0));
            }
            let (generation, n) = r.strip_suffix(".delta")?.split_once('.')?;
            Some((generation.parse().ok()?, n.parse().ok().filter(|n| *n > 0)?))
        });
        files.push((entry.path(), id));
    }
    files
}

/// The generations of `files` (from [`files_of`]) that have a base.
fn bases(files: &[(PathBuf, Option<(u64, u32)>)]) -> impl Iterator<Item = u64> + '_ {
    files.iter().filter_map(|(_, id)| id.filter(|(_, n)| *n == 0).map(|(g, _)| g))
}

/// The length of a file's header line, `featc.snapshot/v4 <crc32>`, its newline included.
const HEADER_LEN: usize = SNAPSHOT_FORMAT.len() + 10;

fn cannot_encode(e: postcard::Error) -> String {
    format!("cannot encode a checkpoint: {e}")
}

fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, String> {
    let bytes = postcard::to_extend(snapshot, vec![0; HEADER_LEN]).map_err(cannot_encode)?;
    Ok(sealed(bytes))
}

/// A file's bytes, its body after [`HEADER_LEN`] bytes of room, with the header written there.
fn sealed(mut bytes: Vec<u8>) -> Vec<u8> {
    let header = format!("{SNAPSHOT_FORMAT} {:08x}\n", crc32fast::hash(&bytes[HEADER_LEN..]));
    bytes[..HEADER_LEN].copy_from_slice(header.as_bytes());
    bytes
}

/// The bytes [`encode`] gives for a base of every key of `group`, encoded a chunk of keys at a
/// time on every core, without the whole state held in its serde form at once. Postcard writes
/// a struct as its fields one after another and a sequence as its length, then its elements:
/// the fields before the keys, the count of keys, each key's state, then the counters.
fn encode_group(
    group: &GroupRuntime,
    name: &str,
    version: &str,
    generation: u64,
    offsets: &[(String, u64)],
) -> Result<Vec<u8>, String> {
    let counters = group.snapshot_counters();
    let head = (SNAPSHOT_FORMAT, name, version, generation, 0u32, offsets, &counters.name);
    let mut bytes = postcard::to_extend(&head, vec![0; HEADER_LEN]).map_err(cannot_encode)?;
    // A sequence of as many units as keys: the length alone.
    let n = group.key_count();
    bytes = postcard::to_extend(&vec![(); n], bytes).map_err(cannot_encode)?;
    let mut written = 0;
    group.states_in_chunks::<_, String>(
        4096,
        KeyOrder::Value,
        &|part| {
            let mut out = Vec::new();
            for (key, state) in part {
                out = postcard::to_extend(&(key, &state.export()), out).map_err(cannot_encode)?;
            }
            Ok((part.len(), out))
        },
        &mut |(keys, part)| {
            written += keys;
            bytes.extend_from_slice(&part);
            Ok(())
        },
    )?;
    if written != n {
        return Err(format!("cannot encode a checkpoint: {n} keys counted, {written} written"));
    }
    bytes = postcard::to_extend(&(counters.dead_count, counters.accepted), bytes).map_err(cannot_encode)?;
    Ok(sealed(bytes))
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
/// group's files other than this generation and the one before it. Returns the generation and
/// the bytes written.
pub fn write(
    dir: &Path,
    group: &str,
    version: &str,
    offsets: Vec<(String, u64)>,
    state: GroupSnapshot,
) -> Result<(u64, u64), String> {
    write_base(dir, group, version, |generation| {
        encode(&Snapshot::new(group, version, (generation, 0), offsets, state))
    })
}

/// [`write`] of the state of `runtime`, the group `group`: the same file, encoded from the
/// state in place a chunk of keys at a time on every core (see [`encode_group`]).
pub fn write_group(
    dir: &Path,
    group: &str,
    version: &str,
    offsets: Vec<(String, u64)>,
    runtime: &GroupRuntime,
) -> Result<(u64, u64), String> {
    write_base(dir, group, version, |generation| encode_group(runtime, group, version, generation, &offsets))
}

/// Writes the base `bytes` gives for the next generation, then removes the group's files other
/// than this generation and the one before it.
fn write_base(
    dir: &Path,
    group: &str,
    version: &str,
    bytes: impl FnOnce(u64) -> Result<Vec<u8>, String>,
) -> Result<(u64, u64), String> {
    let files = files_of(dir, group, version);
    let generation = files.iter().filter_map(|(_, id)| id.map(|(g, _)| g)).max().map_or(1, |g| g + 1);
    let previous = bases(&files).max();
    let bytes = bytes(generation)?;
    durable::write_file(&base_path(dir, group, version, generation), &bytes)?;
    // The new base is in place: nothing older than the generation before it is read again.
    for (file, id) in files {
        if id.is_none_or(|(g, _)| Some(g) != previous) {
            let _ = std::fs::remove_file(file);
        }
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

/// Reads the latest checkpoint of a group at a version: the newest generation's base, then its
/// deltas in order until one is missing or cannot be read (the generation before it if its
/// base cannot be read).
pub fn read(dir: &Path, group: &str, version: &str) -> Loaded {
    read_until(dir, group, version, None)
}

/// [`read`], of the latest checkpoint that holds no event after `until`: the newest generation
/// whose base holds none, with its deltas up to the last that holds none.
pub fn read_until(dir: &Path, group: &str, version: &str, until: Option<i64>) -> Loaded {
    let files = files_of(dir, group, version);
    let mut newest_first: Vec<u64> = bases(&files).collect();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    let Some(&newest) = newest_first.first() else {
        let legacy = dir.join(format!("{group}.{version}.snapshot.json"));
        if legacy.exists() {
            return Loaded::Unreadable(format!(
                "snapshot {} is in the JSON format of an earlier featc (featc.snapshot/v3)",
                legacy.display()
            ));
        }
        return Loaded::Missing;
    };
    let (mut passed, mut later) = (Vec::new(), None);
    for generation in newest_first {
        match read_generation(dir, (group, version, generation), until) {
            Ok(Generation::Found(snapshot, mut chain)) => {
                let more = files.iter().any(|(_, id)| id.is_some_and(|(g, n)| g == generation && n > chain.deltas));
                chain.continuable = until.is_none() && generation == newest && chain.stopped.is_none() && !more;
                chain.passed = passed;
                return Loaded::Found(snapshot, chain);
            }
            Ok(Generation::Later(latest)) => later = Some(latest),
            Err(why) => passed.push(why),
        }
    }
    match later {
        Some(latest) if passed.is_empty() => Loaded::Later(latest),
        _ => Loaded::Unreadable(passed.join("; ")),
    }
}

/// Reads one generation's base and its deltas in order, until one is missing or cannot be
/// read, or (with `until`) holds an event after that time.
fn read_generation(
    dir: &Path,
    (group, version, generation): (&str, &str, u64),
    until: Option<i64>,
) -> Result<Generation, String> {
    let after = |s: &Snapshot| s.state.latest_event().filter(|l| until.is_some_and(|t| *l > t));
    let path = base_path(dir, group, version, generation);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read snapshot {}: {e}", path.display()))?;
    let mut base = match decode(&path, &bytes)? {
        s if s.format == SNAPSHOT_FORMAT
            && s.group == group
            && s.version == version
            && s.generation == generation
            && s.delta == 0 =>
        {
            s
        }
        _ => return Err(format!("{} is not a snapshot of this group and version", path.display())),
    };
    if let Some(latest) = after(&base) {
        return Ok(Generation::Later(latest));
    }
    let mut chain = Chain {
        generation,
        deltas: 0,
        base_bytes: bytes.len() as u64,
        delta_bytes: 0,
        stopped: None,
        passed: Vec::new(),
        continuable: false,
    };
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
        if after(&delta).is_some() {
            break;
        }
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
    Ok(Generation::Found(Box::new(base), chain))
}

#[cfg(test)]
mod tests;
