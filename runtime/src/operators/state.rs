//! The state types both paths of a group share: a key's windows, a group's snapshot and a dead
//! letter. The columnar path and the row path (`group.rs`) both depend on this module and not
//! on each other's internals.

use std::borrow::Cow;

use crate::operators::aggregate::Partial;
use crate::operators::columnar::Columnar;
use crate::operators::window::{WindowAggs, WindowState};
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

impl KeyState {
    /// The key's units of state, window by window (see [`Unit`]), appended to `out`.
    pub(crate) fn units<'s>(&'s self, out: &mut Vec<Unit<'s>>) {
        for (window, st) in self.windows.iter().enumerate() {
            let unit = |start, end, p: &'s [Partial]| Unit { window, start, end, partials: Partials::Row(p) };
            match st {
                WindowState::Lifetime(p) => out.push(unit(None, None, p)),
                WindowState::Tumbling { start, partials } if *start != i64::MIN => {
                    out.push(unit(Some(*start), None, partials));
                }
                WindowState::Tumbling { .. } => {}
                WindowState::Panes { panes, .. } => out.extend(panes.iter().map(|(s, p)| unit(Some(*s), None, p))),
                WindowState::Sessions(s) => out.extend(s.iter().map(|(a, b, p)| unit(Some(*a), Some(*b), p))),
            }
        }
    }
}

/// One unit of a key's state, read where it lives: a lifetime window, the current tumbling
/// window (`start`), a pane of a sliding window (`start`) or a session (`start`, `end`), with
/// one partial per aggregate of its window.
pub(crate) struct Unit<'s> {
    pub(crate) window: usize,
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
    pub(crate) partials: Partials<'s>,
}

/// The partials of a unit: the row path's, a columnar slot's, or the empty ones of a window
/// that keeps nothing.
pub(crate) enum Partials<'s> {
    Row(&'s [Partial]),
    /// Window `.1`'s slot `.2`.
    Col(&'s Columnar, usize, u32),
    Empty(&'s WindowAggs),
}

impl<'s> Partials<'s> {
    /// The partial of the window's aggregate `i` (borrowed where it is kept as one).
    pub(crate) fn get(&self, i: usize) -> Option<Cow<'s, Partial>> {
        match *self {
            Partials::Row(p) => p.get(i).map(Cow::Borrowed),
            Partials::Col(c, window, slot) => c.partial(window, slot, i),
            Partials::Empty(aggs) => aggs.specs.get(i).map(|a| Cow::Owned(Partial::new(a.spec, a.integer))),
        }
    }

    /// Starts loading the partial of aggregate `i` (a hint for a reader visiting many units).
    #[inline]
    pub(crate) fn prefetch(&self, i: usize) {
        match *self {
            Partials::Row(p) => crate::operators::prefetch_first(p.get(i..).unwrap_or(&[])),
            Partials::Col(c, window, slot) => c.prefetch_partial(window, slot, i),
            Partials::Empty(_) => {}
        }
    }

    /// Starts loading what the partial of aggregate `i` keeps on the heap, when it is kept as
    /// one (best after [`Partials::prefetch`] has brought it in).
    #[inline]
    pub(crate) fn prefetch_contents(&self, i: usize) {
        let kept = match *self {
            Partials::Row(p) => p.get(i),
            Partials::Col(c, window, slot) => c.boxed_partial(window, slot, i),
            Partials::Empty(_) => None,
        };
        if let Some(p) = kept {
            p.prefetch_contents();
        }
    }
}

/// Where a group's state stood, to ask later which keys changed since: the state's epoch (new
/// for each group opened or restored, so a mark of another state never matches) and the count
/// of events it had accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeMark {
    pub(crate) epoch: u64,
    pub(crate) count: u64,
}

/// The change stamp each row of a batch gives its key (see `GroupRuntime::changed_since`): the
/// group's change count after the row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stamps<'a> {
    /// A batch read in order after `base` events: row `r` stamps `base + r + 1`.
    After(u64),
    /// Row by row: rows gathered out of read order keep the stamps of their read positions.
    Given(&'a [u64]),
}

impl Stamps<'_> {
    /// Row `r`'s stamp.
    pub(crate) fn of(self, r: usize) -> u64 {
        match self {
            Stamps::After(base) => base + r as u64 + 1,
            Stamps::Given(stamps) => stamps.get(r).copied().unwrap_or(0),
        }
    }
}

/// A new state epoch, unique in the process.
pub(crate) fn next_epoch() -> u64 {
    static EPOCHS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    EPOCHS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
