//! A source's history files in, its embedded log seeded with them exactly once out: whichever
//! command opens the log first (`run`, `log append`, `get`, ...) and however often a crash
//! interrupts it.
//!
//! Seeding runs under the topic's append lock, so no event is appended before the history
//! (the history comes first in the log, as it came first in time). It streams: the history is
//! read a chunk at a time and appended as segments of at most [`SEGMENT_ROWS`] events. A
//! marker file says where it stands: `SEEDING` (the offset it started at) while it runs,
//! `SEEDED` (what it appended) once it is done. A `SEEDING` found on open is a seeding that a
//! crash cut short: its segments are removed and it starts over.

use std::path::{Path, PathBuf};

use featc::ir::IrSource;

use crate::io::dead_letters;
use crate::io::durable;
use crate::io::history;
use crate::io::log::{Appender, Log};

/// The most events a segment written by seeding holds.
pub const SEGMENT_ROWS: usize = 1 << 20;

/// The marker of a finished seeding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seeded {
    /// The history's files glob (relative to the project folder).
    pub glob: String,
    /// The offsets the history got: `[start, end)`.
    pub start: u64,
    pub end: u64,
    /// Lines of the history that could not be read as events (see the dead letters).
    pub rejected: u64,
}

/// Seeds the log of `source` (under `data_dir/log`) from its history files if that was never
/// done; returns what it did, for the user, or `None` when there was nothing to do.
pub fn seed(project_dir: &Path, source: &IrSource, data_dir: &Path) -> Result<Option<String>, String> {
    let Some(files) = &source.history else { return Ok(None) };
    if files.format == featc::ir::FileFormat::Delta {
        // The table is the stream itself (`io::delta::stream`): there is no log to seed.
        return Ok(None);
    }
    let log = Log::open(&data_dir.join("log"), &source.topic)?;
    // Most opens find the log seeded: no lock needed to read a marker written durably.
    if read_marker(&log.dir().join("SEEDED")).is_some() {
        return Ok(None);
    }
    let appender = log.lock()?;
    if read_marker(&log.dir().join("SEEDED")).is_some() {
        return Ok(None);
    }
    let seeding = log.dir().join("SEEDING");
    let mut said = Vec::new();
    let start = match std::fs::read_to_string(&seeding).ok().and_then(|t| t.trim().parse::<u64>().ok()) {
        Some(start) => {
            // A crash cut the last seeding short: undo what it appended and start over.
            appender.truncate(start)?;
            said.push(format!("a seeding of log `{}` was cut short: started over", source.topic));
            start
        }
        None if appender.end()? > 0 => {
            // A log written before seeding was tracked: it was seeded when it was first opened.
            let end = appender.end()?;
            mark(&appender, &Seeded { glob: files.glob.clone(), start: 0, end, rejected: 0 })?;
            return Ok(None);
        }
        None => 0,
    };
    durable::write_file(&seeding, start.to_string().as_bytes())?;
    let (end, rejected, rejected_file) = append_history(&appender, project_dir, source, data_dir)?;
    mark(&appender, &Seeded { glob: files.glob.clone(), start, end, rejected })?;
    std::fs::remove_file(&seeding).map_err(|e| format!("cannot remove {}: {e}", seeding.display()))?;
    durable::sync_dir(log.dir())?;
    said.push(format!("seeded log `{}` with {} events from {}", source.topic, end - start, files.glob));
    if let Some(path) = rejected_file {
        said.push(format!("{rejected} malformed lines dead-lettered to {}", path.display()));
    }
    Ok(Some(said.join("\n")))
}

/// Streams the history into the log; returns the log's new end, the count of rejected lines
/// and the file they went to.
fn append_history(
    appender: &Appender<'_>,
    project_dir: &Path,
    source: &IrSource,
    data_dir: &Path,
) -> Result<(u64, u64, Option<PathBuf>), String> {
    let mut rejects = dead_letters::RejectedFile::create(data_dir, &format!("{}.history", source.name))?;
    let mut chunks = history::chunks(project_dir, source, SEGMENT_ROWS)?.peekable();
    let mut end = appender.end()?;
    while chunks.peek().is_some() {
        // One segment: chunks until it holds SEGMENT_ROWS events or the history ends.
        let mut rows = 0;
        let mut failed = None;
        let mut schema = None;
        let batches = std::iter::from_fn(|| {
            if rows >= SEGMENT_ROWS || failed.is_some() {
                return None;
            }
            // A segment holds one schema: a file whose batches differ starts the next one.
            if let Some(Ok(next)) = chunks.peek()
                && let Some(first) = next.batches.first()
            {
                match &schema {
                    Some(s) if *s != first.schema() => return None,
                    Some(_) => {}
                    None => schema = Some(first.schema()),
                }
            }
            match chunks.next()? {
                Ok(chunk) => {
                    if let Err(e) = rejects.write(&chunk.rejected) {
                        failed = Some(e);
                        return None;
                    }
                    rows += chunk.rows();
                    Some(Ok(chunk.batches))
                }
                Err(e) => Some(Err(e)),
            }
        })
        .flat_map(|r: Result<Vec<_>, String>| match r {
            Ok(batches) => batches.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        });
        end = appender.append(batches)?.1;
        if let Some(e) = failed {
            return Err(e);
        }
    }
    let (count, path) = rejects.finish()?;
    Ok((end, count, path))
}

fn mark(appender: &Appender<'_>, seeded: &Seeded) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(seeded).map_err(|e| e.to_string())?;
    durable::write_file(&appender.log().dir().join("SEEDED"), &bytes)
}

fn read_marker(path: &Path) -> Option<Seeded> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// What seeding recorded for a source's log, if it was seeded.
pub fn seeded(data_dir: &Path, topic: &str) -> Option<Seeded> {
    read_marker(&data_dir.join("log").join(topic).join("SEEDED"))
}
