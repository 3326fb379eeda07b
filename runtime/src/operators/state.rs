//! The state types both paths of a group share: a key's windows, a group's snapshot and a dead
//! letter. The columnar path and the row path (`group.rs`) both depend on this module and not
//! on each other's internals.

use crate::operators::window::WindowState;
use crate::value::Value;

/// An event the stream did not count, with why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    pub reason: String,
    pub row: Vec<Value>,
}

/// The state of a group at some log offsets (see [`crate::runners::kappa::KappaRunner::snapshot`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GroupSnapshot {
    pub(crate) name: String,
    pub(crate) keys: Vec<(Vec<Value>, KeyState)>,
    /// Events dead-lettered before this state (they are in the dead-letter files).
    pub(crate) dead_count: u64,
    pub(crate) accepted: u64,
}

impl GroupSnapshot {
    /// The latest event time of any key, `None` without keys.
    pub(crate) fn latest_event(&self) -> Option<i64> {
        self.keys.iter().map(|(_, s)| s.max_ts).max()
    }
}

/// One key's state, as the row path keeps it and as snapshots hold it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct KeyState {
    pub(crate) max_ts: i64,
    pub(crate) windows: Vec<WindowState>,
    /// The group's change count when an event last changed this key (see
    /// `GroupRuntime::changed_since`); not kept in snapshots: a restored key counts as unchanged.
    #[serde(skip)]
    pub(crate) changed: u64,
}

/// Where a group's state stood, to ask later which keys changed since: the state's epoch (new
/// for each group opened or restored, so a mark of another state never matches) and the count
/// of events it had accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeMark {
    pub(crate) epoch: u64,
    pub(crate) count: u64,
}

/// A new state epoch, unique in the process.
pub(crate) fn next_epoch() -> u64 {
    static EPOCHS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    EPOCHS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
