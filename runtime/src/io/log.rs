//! Record batches in, offsets out, and back: the embedded log, an append-only local log of
//! events with offsets and segments, the default stream when no broker is named.
//!
//! Layout: `<dir>/<topic>/<first offset>-<end offset>.arrows`, each segment an Arrow IPC stream.
//! A segment is written to a temporary name and renamed when complete, so a reader (or a
//! restart after a crash) only ever sees whole segments. Offsets count events from 0.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

/// Where a stream's events come from: the embedded log here, a Kafka topic in the connector.
pub trait EventSource {
    /// The next batch of events and the offset of its first event, or `None` when the source
    /// has nothing more for now.
    fn next_batch(&mut self) -> Result<Option<(u64, RecordBatch)>, String>;
    /// The offset of the next event to be read.
    fn position(&self) -> u64;
}

/// One topic of the embedded log.
#[derive(Debug, Clone)]
pub struct Log {
    dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    start: u64,
    end: u64,
}

impl Segment {
    fn file_name(self) -> String {
        format!("{:020}-{:020}.arrows", self.start, self.end)
    }

    fn parse(name: &str) -> Option<Segment> {
        let stem = name.strip_suffix(".arrows")?;
        let (a, b) = stem.split_once('-')?;
        Some(Segment { start: a.parse().ok()?, end: b.parse().ok()? })
    }
}

impl Log {
    /// Opens (creating if needed) the log of `topic` under `root`.
    pub fn open(root: &Path, topic: &str) -> Result<Log, String> {
        if topic.is_empty() || topic.contains(['/', '\\']) || topic.starts_with('.') {
            return Err(format!("`{topic}` is not a valid topic name"));
        }
        let dir = root.join(topic);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Log { dir })
    }

    fn segments(&self) -> Result<Vec<Segment>, String> {
        let entries = fs::read_dir(&self.dir).map_err(|e| format!("cannot read {}: {e}", self.dir.display()))?;
        let mut segments: Vec<Segment> =
            entries.flatten().filter_map(|e| e.file_name().to_str().and_then(Segment::parse)).collect();
        segments.sort_by_key(|s| s.start);
        Ok(segments)
    }

    /// The offset the next appended event gets.
    pub fn end(&self) -> Result<u64, String> {
        Ok(self.segments()?.last().map_or(0, |s| s.end))
    }

    /// Appends batches as one new segment; returns the offsets `[first, end)` they got.
    pub fn append(&self, batches: &[RecordBatch]) -> Result<(u64, u64), String> {
        let start = self.end()?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else { return Ok((start, start)) };
        let segment = Segment { start, end: start + rows as u64 };
        let tmp = self.dir.join(format!(".{}.tmp", segment.file_name()));
        let file = File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        let mut writer = StreamWriter::try_new(BufWriter::new(file), &first.schema()).map_err(|e| e.to_string())?;
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            writer.write(batch).map_err(|e| format!("cannot append: {e}"))?;
        }
        writer.finish().map_err(|e| e.to_string())?;
        let file = writer.into_inner().map_err(|e| e.to_string())?;
        file.into_inner().map_err(|e| e.to_string())?.sync_all().map_err(|e| e.to_string())?;
        fs::rename(&tmp, self.dir.join(segment.file_name())).map_err(|e| format!("cannot publish segment: {e}"))?;
        Ok((segment.start, segment.end))
    }

    /// A reader from `offset`.
    pub fn reader(&self, offset: u64) -> LogReader {
        LogReader { log: self.clone(), position: offset, current: None }
    }
}

/// Reads a log in order from an offset; sees segments appended while it reads.
pub struct LogReader {
    log: Log,
    position: u64,
    current: Option<(Segment, u64, StreamReader<BufReader<File>>)>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader").field("log", &self.log).field("position", &self.position).finish()
    }
}

impl LogReader {
    /// Moves the reader to `offset`.
    pub fn seek(&mut self, offset: u64) {
        self.position = offset;
        self.current = None;
    }
}

impl EventSource for LogReader {
    fn next_batch(&mut self) -> Result<Option<(u64, RecordBatch)>, String> {
        loop {
            if let Some((segment, next, reader)) = &mut self.current {
                match reader.next() {
                    Some(Ok(batch)) => {
                        let first = *next;
                        *next += batch.num_rows() as u64;
                        // Skip what lies before the requested position.
                        if *next <= self.position {
                            continue;
                        }
                        let skip = self.position.saturating_sub(first) as usize;
                        let batch = batch.slice(skip, batch.num_rows() - skip);
                        self.position = *next;
                        return Ok(Some((first + skip as u64, batch)));
                    }
                    Some(Err(e)) => return Err(format!("corrupt segment {}: {e}", segment.file_name())),
                    None => self.current = None,
                }
                continue;
            }
            let Some(segment) = self.log.segments()?.into_iter().find(|s| s.end > self.position) else {
                return Ok(None);
            };
            let path = self.log.dir.join(segment.file_name());
            let file = File::open(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let reader = StreamReader::try_new(BufReader::new(file), None)
                .map_err(|e| format!("corrupt segment {}: {e}", path.display()))?;
            self.current = Some((segment, segment.start, reader));
        }
    }

    fn position(&self) -> u64 {
        self.position
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(values: std::ops::Range<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(values))]).unwrap()
    }

    fn read_all(log: &Log, from: u64) -> Vec<(u64, i64)> {
        let mut reader = log.reader(from);
        let mut out = Vec::new();
        while let Some((offset, b)) = reader.next_batch().unwrap() {
            let col = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            out.extend((0..b.num_rows()).map(|i| (offset + i as u64, col.value(i))));
        }
        out
    }

    #[test]
    fn appends_get_consecutive_offsets_and_reads_resume_anywhere() {
        let dir = std::env::temp_dir().join(format!("featc-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let log = Log::open(&dir, "events").unwrap();
        assert_eq!(log.append(&[batch(0..3), batch(3..5)]).unwrap(), (0, 5));
        assert_eq!(log.append(&[batch(5..9)]).unwrap(), (5, 9));
        assert_eq!(log.end().unwrap(), 9);
        let all = read_all(&log, 0);
        assert_eq!(all, (0..9).map(|i| (i as u64, i)).collect::<Vec<_>>());
        assert_eq!(read_all(&log, 4), (4..9).map(|i| (i as u64, i)).collect::<Vec<_>>());
        assert_eq!(read_all(&log, 9), vec![]);
        // A reader at the end sees what is appended later.
        let mut reader = log.reader(9);
        assert!(reader.next_batch().unwrap().is_none());
        log.append(&[batch(9..10)]).unwrap();
        assert_eq!(reader.next_batch().unwrap().map(|(o, b)| (o, b.num_rows())), Some((9, 1)));
        // A segment left half-written by a crash is invisible.
        fs::write(dir.join("events").join(".00000000000000000010-00000000000000000020.arrows.tmp"), b"partial")
            .unwrap();
        assert_eq!(log.end().unwrap(), 10);
        assert!(Log::open(&dir, "../escape").is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
