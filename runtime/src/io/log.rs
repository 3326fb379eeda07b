//! Record batches in, offsets out, and back: the embedded log, an append-only local log of
//! events with offsets and segments, the default stream when no broker is named.
//!
//! Layout: `<dir>/<topic>/<first offset>-<end offset>-<crc32>.arrows`, each segment an Arrow IPC
//! stream whose bytes have the CRC-32 in its name. Appenders take the topic's append lock
//! (`<topic>/LOCK`) in turn. A segment is written to a temporary name, synced, renamed when
//! complete and the folder synced before an append returns, so a reader
//! (or a restart after a crash) only ever sees whole, durable segments. Every read checks the
//! segment's checksum, that the segments are contiguous, and that each holds exactly the rows
//! its name says: damage is an error naming the segment and offset, never a silent skip or a
//! loop. Offsets count events from 0.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::buffer::Buffer;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::io::guarded;
use crate::io::lock::AppendLock;

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
    /// The CRC-32 of the file's bytes; `None` for segments written before checksums.
    crc: Option<u32>,
}

impl Segment {
    fn file_name(self) -> String {
        match self.crc {
            Some(crc) => format!("{:020}-{:020}-{crc:08x}.arrows", self.start, self.end),
            None => format!("{:020}-{:020}.arrows", self.start, self.end),
        }
    }

    fn parse(name: &str) -> Option<Segment> {
        let stem = name.strip_suffix(".arrows")?;
        let mut parts = stem.split('-');
        let start = parts.next()?.parse().ok()?;
        let end = parts.next()?.parse().ok()?;
        let crc = match parts.next() {
            Some(c) => Some(u32::from_str_radix(c, 16).ok()?),
            None => None,
        };
        (parts.next().is_none() && end >= start).then_some(Segment { start, end, crc })
    }

    /// The segment's bytes, checked against its checksum.
    fn read(self, dir: &Path) -> Result<Vec<u8>, String> {
        let path = dir.join(self.file_name());
        let bytes = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if let Some(crc) = self.crc
            && crc32fast::hash(&bytes) != crc
        {
            return Err(format!(
                "the log segment {} (offsets {} to {}) is damaged: its checksum does not match",
                path.display(),
                self.start,
                self.end
            ));
        }
        Ok(bytes)
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

    /// The segments in offset order, checked to follow each other without gap or overlap.
    fn segments(&self) -> Result<Vec<Segment>, String> {
        let entries = fs::read_dir(&self.dir).map_err(|e| format!("cannot read {}: {e}", self.dir.display()))?;
        let mut segments: Vec<Segment> =
            entries.flatten().filter_map(|e| e.file_name().to_str().and_then(Segment::parse)).collect();
        segments.sort_by_key(|s| (s.start, s.end));
        let mut expected = 0;
        for s in &segments {
            if s.start != expected {
                return Err(format!(
                    "the log {} is not contiguous: segment {} starts at offset {} where {expected} was expected",
                    self.dir.display(),
                    s.file_name(),
                    s.start
                ));
            }
            expected = s.end;
        }
        Ok(segments)
    }

    /// The offset the next appended event gets.
    pub fn end(&self) -> Result<u64, String> {
        Ok(self.segments()?.last().map_or(0, |s| s.end))
    }

    /// Appends batches as one new segment, taking the topic's append lock for the time it
    /// takes; returns the offsets `[first, end)` they got.
    pub fn append(&self, batches: &[RecordBatch]) -> Result<(u64, u64), String> {
        self.lock()?.append(batches.iter().cloned().map(Ok))
    }

    /// Waits for the topic's append lock and takes it: while the [`Appender`] lives, no other
    /// process appends. Temporary files a crashed appender left behind are removed.
    pub fn lock(&self) -> Result<Appender<'_>, String> {
        let lock = AppendLock::acquire(&self.dir)?;
        let entries = fs::read_dir(&self.dir).map_err(|e| format!("cannot read {}: {e}", self.dir.display()))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Appender { log: self, _lock: lock })
    }

    /// The topic's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A reader from `offset`.
    pub fn reader(&self, offset: u64) -> LogReader {
        LogReader { log: self.clone(), position: offset, current: None }
    }
}

/// The one appender of a topic, holding its append lock.
#[derive(Debug)]
pub struct Appender<'a> {
    log: &'a Log,
    _lock: AppendLock,
}

impl Appender<'_> {
    /// The offset the next appended event gets.
    pub fn end(&self) -> Result<u64, String> {
        self.log.end()
    }

    pub fn log(&self) -> &Log {
        self.log
    }

    /// Appends a stream of batches as one new segment, written as they come (never all held
    /// in memory) and published whole: the file is synced, renamed to its final name (offsets
    /// and CRC-32) and the folder synced before this returns. An error, or a crash, leaves no
    /// trace but a temporary file the next appender removes. Returns the offsets it got.
    pub fn append(&self, batches: impl IntoIterator<Item = Result<RecordBatch, String>>) -> Result<(u64, u64), String> {
        let start = self.end()?;
        let tmp = self.log.dir.join(format!(".{start:020}.{}.tmp", std::process::id()));
        let result = self.write_segment(&tmp, start, batches);
        if !matches!(result, Ok(Some(_))) {
            let _ = fs::remove_file(&tmp);
        }
        let Some(segment) = result? else { return Ok((start, start)) };
        fs::rename(&tmp, self.log.dir.join(segment.file_name())).map_err(|e| format!("cannot publish segment: {e}"))?;
        // The new name is durable before the append is acknowledged.
        crate::io::durable::sync_dir(&self.log.dir)?;
        Ok((segment.start, segment.end))
    }

    /// Writes the batches to `tmp` and syncs it; `None` when they hold no rows.
    fn write_segment(
        &self,
        tmp: &Path,
        start: u64,
        batches: impl IntoIterator<Item = Result<RecordBatch, String>>,
    ) -> Result<Option<Segment>, String> {
        let mut writer: Option<StreamWriter<BufWriter<CrcWriter>>> = None;
        let mut schema: Option<arrow::datatypes::SchemaRef> = None;
        let mut rows = 0u64;
        for batch in batches {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            if let Some(first) = &schema
                && first.as_ref() != batch.schema().as_ref()
            {
                return Err("one append holds batches of different schemas; append them apart".to_owned());
            }
            if writer.is_none() {
                schema = Some(batch.schema());
                let file = File::create(tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
                let crc = CrcWriter { file, hasher: crc32fast::Hasher::new() };
                writer = Some(StreamWriter::try_new(BufWriter::new(crc), &batch.schema()).map_err(|e| e.to_string())?);
            }
            if let Some(w) = &mut writer {
                w.write(&batch).map_err(|e| format!("cannot append: {e}"))?;
            }
            rows += batch.num_rows() as u64;
        }
        let Some(mut writer) = writer else { return Ok(None) };
        writer.finish().map_err(|e| e.to_string())?;
        let crc = writer.into_inner().map_err(|e| e.to_string())?.into_inner().map_err(|e| e.to_string())?;
        crc.file.sync_all().map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
        Ok(Some(Segment { start, end: start + rows, crc: Some(crc.hasher.finalize()) }))
    }

    /// Removes the segments from `offset` on, newest first so the log stays contiguous at
    /// every step: undoing a seeding a crash cut short. `offset` must start a segment.
    pub fn truncate(&self, offset: u64) -> Result<(), String> {
        let segments = self.log.segments()?;
        if offset < self.end()? && !segments.iter().any(|s| s.start == offset) {
            return Err(format!("offset {offset} does not start a segment of {}", self.log.dir.display()));
        }
        for s in segments.iter().rev().filter(|s| s.start >= offset) {
            let path = self.log.dir.join(s.file_name());
            fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            crate::io::durable::sync_dir(&self.log.dir)?;
        }
        Ok(())
    }
}

/// A file writer that keeps the CRC-32 of what went through it.
struct CrcWriter {
    file: File,
    hasher: crc32fast::Hasher,
}

impl std::io::Write for CrcWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A segment being read: its name's facts, the offset of its next row, and its batches.
/// The decoder is Arrow's push decoder over the segment's bytes: it takes a message's length
/// from the bytes but allocates only what the bytes hold, so a damaged length cannot make it
/// reserve gigabytes.
type OpenSegment = (Segment, u64, StreamDecoder, Buffer);

/// Reads a log in order from an offset; sees segments appended while it reads.
pub struct LogReader {
    log: Log,
    position: u64,
    current: Option<OpenSegment>,
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
            if let Some((segment, next, decoder, bytes)) = &mut self.current {
                let read = guarded("Arrow IPC", || match decoder.decode(bytes) {
                    Ok(None) => decoder.finish().map(|()| None),
                    other => other,
                })
                .map_err(|e| format!("the log segment {} is damaged at offset {next}: {e}", segment.file_name()))?
                .transpose();
                match read {
                    Some(Ok(batch)) => {
                        let first = *next;
                        *next += batch.num_rows() as u64;
                        if *next > segment.end {
                            return Err(format!(
                                "the log segment {} holds more rows than its name says ({next} > {})",
                                segment.file_name(),
                                segment.end
                            ));
                        }
                        // Skip what lies before the requested position.
                        if *next <= self.position {
                            continue;
                        }
                        let skip = self.position.saturating_sub(first) as usize;
                        let batch = batch.slice(skip, batch.num_rows() - skip);
                        self.position = *next;
                        return Ok(Some((first + skip as u64, batch)));
                    }
                    Some(Err(e)) => {
                        return Err(format!(
                            "the log segment {} is damaged at offset {next}: {e}",
                            segment.file_name()
                        ));
                    }
                    // A segment must hold exactly the rows its name says, no fewer.
                    None if *next != segment.end => {
                        return Err(format!(
                            "the log segment {} is cut short: it ends at offset {next}, its name says {}",
                            segment.file_name(),
                            segment.end
                        ));
                    }
                    None => self.current = None,
                }
                continue;
            }
            let Some(segment) = self.log.segments()?.into_iter().find(|s| s.end > self.position) else {
                return Ok(None);
            };
            let bytes = segment.read(&self.log.dir)?;
            self.current = Some((segment, segment.start, StreamDecoder::new(), Buffer::from_vec(bytes)));
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

    /// A log of two segments, and the path of the last one.
    fn two_segments() -> (tempfile::TempDir, Log, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), "events").unwrap();
        log.append(&[batch(0..100)]).unwrap();
        log.append(&[batch(100..150), batch(150..300)]).unwrap();
        let last = log.segments().unwrap()[1];
        let path = log.dir.join(last.file_name());
        (dir, log, path)
    }

    fn read_to_end(log: &Log) -> Result<u64, String> {
        let mut reader = log.reader(0);
        let mut n = 0;
        while let Some((_, b)) = reader.next_batch()? {
            n += b.num_rows() as u64;
        }
        Ok(n)
    }

    #[test]
    fn a_segment_cut_at_any_byte_is_an_error_never_a_loop() {
        let (_dir, log, path) = two_segments();
        let whole = fs::read(&path).unwrap();
        assert_eq!(read_to_end(&log), Ok(300));
        for cut in 0..whole.len() {
            fs::write(&path, &whole[..cut]).unwrap();
            let err = read_to_end(&log).unwrap_err();
            assert!(err.contains("is damaged") || err.contains("cut short"), "cut at {cut}: {err}");
            assert!(err.contains(&format!("{:020}", 100)), "names the segment: {err}");
        }
    }

    #[test]
    fn a_flipped_byte_is_detected_by_the_checksum() {
        let (_dir, log, path) = two_segments();
        let mut bytes = fs::read(&path).unwrap();
        for at in [0, bytes.len() / 2, bytes.len() - 1] {
            bytes[at] ^= 0x10;
            fs::write(&path, &bytes).unwrap();
            let err = read_to_end(&log).unwrap_err();
            assert!(err.contains("checksum does not match"), "{err}");
            bytes[at] ^= 0x10;
        }
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read_to_end(&log), Ok(300));
    }

    #[test]
    fn a_missing_segment_is_a_gap_in_the_log() {
        let (_dir, log, _) = two_segments();
        log.append(&[batch(300..310)]).unwrap();
        let middle = log.segments().unwrap()[1];
        fs::remove_file(log.dir.join(middle.file_name())).unwrap();
        let err = log.end().unwrap_err();
        assert!(err.contains("not contiguous") && err.contains("where 100 was expected"), "{err}");
    }
}
