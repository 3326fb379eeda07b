//! A group's state and the log offsets it includes in, a durable snapshot file per group and
//! version out, and back: `<data-dir>/state/<group>.<version>.snapshot.json`.
//!
//! The file is a header line, `featc.snapshot/v3 <crc32>`, and the JSON the checksum covers.
//! A snapshot is written beside its final name, synced, renamed into place and the folder
//! synced (see [`crate::io::durable`]); older versions of the group's snapshot are removed once
//! the new one is in place. A file that cannot be read, or that names another group, version
//! or layout, is reported and its group rebuilt by replay, never left blocking.

use std::path::{Path, PathBuf};

use crate::io::durable;
use crate::operators::group::GroupSnapshot;

/// The layout of a snapshot file; bumped on any incompatible change.
pub const SNAPSHOT_FORMAT: &str = "featc.snapshot/v3";

/// One group's state at one version, and the log offsets it includes.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub format: String,
    pub group: String,
    pub version: String,
    /// `(topic, offset)`: every event before the offset is in the state.
    pub offsets: Vec<(String, u64)>,
    pub state: GroupSnapshot,
}

/// What reading a group's snapshot found.
#[derive(Debug)]
pub enum Loaded {
    Missing,
    /// Why the file is not a usable snapshot of this group and version.
    Unreadable(String),
    Found(Snapshot),
}

fn path(dir: &Path, group: &str, version: &str) -> PathBuf {
    dir.join(format!("{group}.{version}.snapshot.json"))
}

/// Writes a group's snapshot durably, then removes its other versions' snapshots.
pub fn write(
    dir: &Path,
    group: &str,
    version: &str,
    offsets: Vec<(String, u64)>,
    state: GroupSnapshot,
) -> Result<(), String> {
    let snapshot = Snapshot {
        format: SNAPSHOT_FORMAT.to_owned(),
        group: group.to_owned(),
        version: version.to_owned(),
        offsets,
        state,
    };
    let json = serde_json::to_vec(&snapshot).map_err(|e| e.to_string())?;
    let mut bytes = format!("{SNAPSHOT_FORMAT} {:08x}\n", crc32fast::hash(&json)).into_bytes();
    bytes.extend(json);
    durable::write_file(&path(dir, group, version), &bytes)?;
    let prefix = format!("{group}.");
    for entry in std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(&prefix)
            && let Some(other) = rest.strip_suffix(".snapshot.json")
            && other != version
            && !other.contains('.')
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Reads the snapshot of a group at a version: a header line (format and the CRC-32 of the
/// rest), then the JSON. Damage anywhere is caught by the checksum before the state is used.
pub fn read(dir: &Path, group: &str, version: &str) -> Loaded {
    let path = path(dir, group, version);
    let Ok(bytes) = std::fs::read(&path) else { return Loaded::Missing };
    let unreadable = |why: &str| Loaded::Unreadable(format!("unreadable snapshot {}: {why}", path.display()));
    let Some(newline) = bytes.iter().position(|&b| b == b'\n') else { return unreadable("no header") };
    let (header, json) = (&bytes[..newline], &bytes[newline + 1..]);
    let header = String::from_utf8_lossy(header);
    let crc = header.strip_prefix(SNAPSHOT_FORMAT).and_then(|c| u32::from_str_radix(c.trim(), 16).ok());
    match crc {
        None => return unreadable(&format!("its header is not `{SNAPSHOT_FORMAT} <crc32>`")),
        Some(crc) if crc != crc32fast::hash(json) => return unreadable("its checksum does not match"),
        Some(_) => {}
    }
    match serde_json::from_slice::<Snapshot>(json) {
        Ok(s) if s.format == SNAPSHOT_FORMAT && s.group == group && s.version == version => Loaded::Found(s),
        Ok(_) => Loaded::Unreadable(format!("{} is not a snapshot of this group and version", path.display())),
        Err(e) => unreadable(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_snapshot_is_reported_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("g.v1.snapshot.json"), b"{\"format\": \"featc.snap").unwrap();
        assert!(matches!(read(dir.path(), "g", "v1"), Loaded::Unreadable(_)));
        assert!(matches!(read(dir.path(), "g", "v2"), Loaded::Missing));
        // A snapshot with one byte changed is caught by its checksum.
        let state = GroupSnapshot { name: "g".to_owned(), keys: Vec::new(), dead_count: 3, accepted: 7 };
        write(dir.path(), "g", "v3", vec![("t".to_owned(), 10)], state).unwrap();
        assert!(matches!(read(dir.path(), "g", "v3"), Loaded::Found(_)));
        let file = dir.path().join("g.v3.snapshot.json");
        let good = std::fs::read(&file).unwrap();
        for at in [0, 30, good.len() - 2] {
            let mut bad = good.clone();
            bad[at] ^= 0x04;
            std::fs::write(&file, &bad).unwrap();
            assert!(matches!(read(dir.path(), "g", "v3"), Loaded::Unreadable(_)), "byte {at}");
        }
    }
}
