//! A running pipeline's state in, every group's feature vectors appended to Delta tables on a
//! cadence out: the offline feature store a `featc run --features-to DIR` keeps, one table per
//! group and version (`DIR/<group>.<version>.delta`), one commit per snapshot.
//!
//! A snapshot answers as of the stream's now, `min(wall clock, the group's high water)`, as
//! serving does, so the rows equal what `featc get` gives at that instant. Each commit carries
//! its as-of time, the spec and group versions and the stream positions the state includes:
//! a consumer reads the table at a version to get one consistent snapshot. A run killed
//! between its last snapshot and its next checkpoint may write a snapshot again after the
//! restart; each commit says what it holds, so a reader keys snapshots by `as_of`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::runners::materialize;
use crate::runners::reader::FeatureReader;

/// Feature snapshots of a pipeline, due every `every`.
#[derive(Debug)]
pub struct FeatureSnapshots {
    dir: PathBuf,
    every: Duration,
    last: Option<Instant>,
}

/// What one snapshot wrote for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub group: String,
    pub table: PathBuf,
    pub version: u64,
    pub keys: usize,
}

impl FeatureSnapshots {
    pub fn new(dir: &Path, every: Duration) -> FeatureSnapshots {
        FeatureSnapshots { dir: dir.to_path_buf(), every, last: None }
    }

    /// Whether a snapshot is due: the first once the stream has caught up (not midway through
    /// a replay), then each time `every` has passed.
    pub fn due(&self, caught_up: bool) -> bool {
        match self.last {
            None => caught_up,
            Some(t) => t.elapsed() >= self.every,
        }
    }

    /// Appends a snapshot of every group that has read an event to its table.
    pub fn write(&mut self, reader: &dyn FeatureReader) -> Result<Vec<Written>, String> {
        let ir = reader.ir();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let positions: serde_json::Map<String, serde_json::Value> =
            reader.positions().into_iter().map(|(name, offset)| (name, offset.into())).collect();
        let mut written = Vec::new();
        for (gi, group) in ir.groups.iter().enumerate() {
            let Some(high) = reader.high_water(gi) else { continue };
            let t = wall.min(high);
            let keys = reader.keys(gi);
            let vectors = reader.lookup_all(gi, &keys, t)?;
            let batches = materialize::snapshot(group, keys, vectors, t)?;
            let mut metadata = serde_json::Map::new();
            metadata.insert("featc.command".to_owned(), "run".into());
            metadata.insert("featc.group".to_owned(), group.name.clone().into());
            metadata.insert("featc.spec_version".to_owned(), ir.spec_hash.clone().into());
            metadata.insert("featc.group_version".to_owned(), group.version.clone().into());
            metadata.insert("featc.as_of".to_owned(), crate::io::time::rfc3339(t).into());
            metadata.insert("featc.positions".to_owned(), positions.clone().into());
            // One table per group version: a spec edit that changes the group (and maybe its
            // columns) starts a new table rather than failing to append to the old.
            let table = self.dir.join(format!("{}.{}.delta", group.name, group.version));
            let version = super::write::write_table(&table, &batches, &metadata)?;
            let keys = batches.iter().map(|b| b.num_rows()).sum();
            written.push(Written { group: group.name.clone(), table, version, keys });
        }
        self.last = Some(Instant::now());
        Ok(written)
    }
}
