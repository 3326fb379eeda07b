//! A source's binding in, its events out: batches from one or more partitions, each read in
//! offset order, with the positions a checkpoint records. The embedded log is one partition
//! named by its topic; a Kafka topic is one partition per Kafka partition (`io::kafka`).

use arrow::record_batch::RecordBatch;

use crate::io::history::Rejected;
use crate::io::log::{EventSource, Log, LogReader};

/// The events of one source, in partitions. Within a batch, the events have consecutive
/// offsets from the batch's first: a restored group skips by offset, row by row.
pub trait StreamSource: Send + Sync {
    /// The partitions' names, as checkpoints record positions (the embedded log: the topic;
    /// Kafka: `kafka:<topic>/<partition>`).
    fn partitions(&self) -> &[String];
    /// The next batch from any partition: the partition, the offset of its first event, and
    /// the events; `None` when the source has nothing more for now.
    fn next_batch(&mut self) -> Result<Option<(usize, u64, RecordBatch)>, String>;
    /// Returns the unread rest of a batch (its first event at `first`); it is read next.
    fn give_back(&mut self, partition: usize, first: u64, rest: RecordBatch);
    /// The offset of the next event to read in each partition.
    fn positions(&self) -> Vec<u64>;
    /// Moves a partition to `offset` (a restore, before reading).
    fn seek(&mut self, partition: usize, offset: u64);
    /// The offset after the last event of each partition, as far as the source knows now.
    fn ends(&self) -> Result<Vec<u64>, String>;
    /// The events not read yet, over every partition (for progress and lag). Sources whose
    /// offsets are not event counts say it themselves.
    fn backlog(&self) -> Result<u64, String> {
        Ok(self.ends()?.iter().zip(self.positions()).map(|(e, p)| e.saturating_sub(p)).sum())
    }
    /// The events that could not be decoded since the last call (a broker's payloads), each
    /// with its partition, offset (`line`) and why: they go to the dead letters.
    fn take_rejected(&mut self) -> Vec<(usize, Rejected)> {
        Vec::new()
    }
    /// Given the events it could not decode once they are in the dead-letter files (each
    /// with its partition): a broker's source also sends them to its dead-letter topic.
    fn dead_lettered(&mut self, _letters: &[(usize, Rejected)]) -> Result<(), String> {
        Ok(())
    }
    /// Told that the state including `positions` is durable (Kafka: the offsets are committed
    /// to the broker, for monitoring; the checkpoint stays the truth).
    fn checkpointed(&mut self) {}
}

/// A topic of the embedded log, as a one-partition stream.
#[derive(Debug)]
pub struct LogStream {
    log: Log,
    reader: LogReader,
    names: Vec<String>,
}

impl LogStream {
    pub fn new(log: Log, topic: &str) -> LogStream {
        let reader = log.reader(0);
        LogStream { log, reader, names: vec![topic.to_owned()] }
    }
}

impl StreamSource for LogStream {
    fn partitions(&self) -> &[String] {
        &self.names
    }

    fn next_batch(&mut self) -> Result<Option<(usize, u64, RecordBatch)>, String> {
        Ok(self.reader.next_batch()?.map(|(first, batch)| (0, first, batch)))
    }

    fn give_back(&mut self, _: usize, first: u64, _: RecordBatch) {
        // The log reads it again from the file.
        self.reader.seek(first);
    }

    fn positions(&self) -> Vec<u64> {
        vec![self.reader.position()]
    }

    fn seek(&mut self, _: usize, offset: u64) {
        self.reader.seek(offset);
    }

    fn ends(&self) -> Result<Vec<u64>, String> {
        Ok(vec![self.log.end()?])
    }
}
