//! Events of one key in, per-window partial states out, and the partials of a window as of a
//! time: lifetime, tumbling, sliding by panes and session, in event time.
//!
//! State can answer "as of t" for any `t` at or after the key's latest event (the stream's
//! present); earlier times are the batch layer's and the training sets' job.

use std::collections::VecDeque;

use featc::check::WindowSpec;

use crate::aggregate::{AggSpec, Partial};

/// How to build the partials of one window: one per aggregate over it.
#[derive(Debug, Clone)]
pub struct WindowAggs {
    pub specs: Vec<(AggSpec, bool)>,
}

impl WindowAggs {
    /// Whether any aggregate of the window can be taken out of a total exactly (counts, sums,
    /// averages, moments, value counts): then the window keeps a running total.
    fn any_retractable(&self) -> bool {
        self.specs.iter().any(|(spec, _)| retractable(*spec))
    }

    fn empty(&self) -> Vec<Partial> {
        self.specs.iter().map(|&(spec, integer)| Partial::new(spec, integer)).collect()
    }

    /// Takes an evicted pane out of a running total (retractable aggregates only).
    fn retract_from(&self, total: &mut [Partial], pane: &[Partial]) {
        for ((acc, p), &(spec, _)) in total.iter_mut().zip(pane).zip(&self.specs) {
            if retractable(spec) {
                acc.retract(p);
            }
        }
    }

    fn merge_into(&self, into: &mut [Partial], from: &[Partial]) {
        for ((acc, p), &(spec, _)) in into.iter_mut().zip(from).zip(&self.specs) {
            acc.merge(spec, p);
        }
    }
}

/// Aggregates whose partials subtract exactly ([`Partial::retract`]).
fn retractable(spec: AggSpec) -> bool {
    use featc::aggregates::AggKind::*;
    matches!(spec.kind, Count | Sum | Avg | Variance | Stddev | CountDistinct | TopK | ApproxPercentile)
}

/// The state of one window for one key.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum WindowState {
    Lifetime(Vec<Partial>),
    /// The current window's start and partials.
    Tumbling {
        start: i64,
        partials: Vec<Partial>,
    },
    /// Panes by start time, oldest first; only those a window as of the present can reach.
    /// A query merges the panes in its window.
    Panes(VecDeque<(i64, Vec<Partial>)>),
    /// Panes, and the running total of the panes kept, for the retractable aggregates: a pane
    /// is added to the total with its events and subtracted when evicted, so a query starts
    /// from the total and takes out only the panes the window has left since the last event.
    PanesTotal {
        panes: VecDeque<(i64, Vec<Partial>)>,
        total: Vec<Partial>,
    },
    /// Sessions `(first ts, last ts, partials)`, oldest first, kept while an on-time event
    /// could still extend or bridge them.
    Sessions(Vec<(i64, i64, Vec<Partial>)>),
}

fn floor(t: i64, width: u64) -> i64 {
    let w = i64::try_from(width).unwrap_or(i64::MAX).max(1);
    t - t.rem_euclid(w)
}

/// The partials of the pane starting at `start`, created if needed; `None` when the pane is
/// older than `oldest` (no window as of the present reaches it).
fn pane<'a>(
    panes: &'a mut VecDeque<(i64, Vec<Partial>)>,
    aggs: &WindowAggs,
    start: i64,
    oldest: i64,
) -> Option<&'a mut Vec<Partial>> {
    if start < oldest {
        return None;
    }
    let at = panes.partition_point(|(p, _)| *p < start);
    if panes.get(at).is_none_or(|(p, _)| *p != start) {
        panes.insert(at, (start, aggs.empty()));
    }
    panes.get_mut(at).map(|(_, p)| p)
}

impl WindowState {
    pub fn new(spec: WindowSpec, aggs: &WindowAggs) -> Self {
        match spec {
            WindowSpec::Lifetime => WindowState::Lifetime(aggs.empty()),
            WindowSpec::Tumbling { .. } => WindowState::Tumbling { start: i64::MIN, partials: aggs.empty() },
            WindowSpec::Sliding { .. } if aggs.any_retractable() => {
                WindowState::PanesTotal { panes: VecDeque::new(), total: aggs.empty() }
            }
            WindowSpec::Sliding { .. } => WindowState::Panes(VecDeque::new()),
            WindowSpec::Session { .. } => WindowState::Sessions(Vec::new()),
        }
    }

    /// Adds one accepted event at `ts`; `update` folds it into a window's partials. `max_ts` is
    /// the key's latest event time including this one; `lateness_ms` bounds how far back an
    /// on-time event can land.
    pub fn add(
        &mut self,
        spec: WindowSpec,
        aggs: &WindowAggs,
        ts: i64,
        max_ts: i64,
        lateness_ms: u64,
        mut update: impl FnMut(&mut [Partial]),
    ) {
        match (self, spec) {
            (WindowState::Lifetime(p), _) => update(p),
            (WindowState::Tumbling { start, partials }, WindowSpec::Tumbling { size_ms }) => {
                let s = floor(ts, size_ms);
                if s > *start {
                    *start = s;
                    *partials = aggs.empty();
                }
                // An event of an earlier window can no longer change any answerable value.
                if s == *start {
                    update(partials);
                }
            }
            (WindowState::PanesTotal { panes, total }, WindowSpec::Sliding { size_ms, hop_ms }) => {
                let oldest = floor(max_ts.saturating_sub(i64::try_from(size_ms).unwrap_or(i64::MAX)), hop_ms);
                while panes.front().is_some_and(|(s, _)| *s < oldest) {
                    if let Some((_, evicted)) = panes.pop_front() {
                        aggs.retract_from(total, &evicted);
                    }
                }
                if let Some(p) = pane(panes, aggs, floor(ts, hop_ms), oldest) {
                    update(p);
                    update(total);
                }
            }
            (WindowState::Panes(panes), WindowSpec::Sliding { size_ms, hop_ms }) => {
                let oldest = floor(max_ts.saturating_sub(i64::try_from(size_ms).unwrap_or(i64::MAX)), hop_ms);
                while panes.front().is_some_and(|(s, _)| *s < oldest) {
                    panes.pop_front();
                }
                if let Some(p) = pane(panes, aggs, floor(ts, hop_ms), oldest) {
                    update(p);
                }
            }
            (WindowState::Sessions(sessions), WindowSpec::Session { gap_ms }) => {
                let gap = i64::try_from(gap_ms).unwrap_or(i64::MAX);
                let horizon = max_ts.saturating_sub(i64::try_from(lateness_ms).unwrap_or(i64::MAX)).saturating_sub(gap);
                sessions.retain(|(_, end, _)| *end >= horizon);
                // The sessions this event touches (within the gap of either end) merge with it.
                let mut merged = (ts, ts, aggs.empty());
                let mut kept = Vec::with_capacity(sessions.len() + 1);
                for (start, end, partials) in sessions.drain(..) {
                    if ts >= start.saturating_sub(gap) && ts <= end.saturating_add(gap) {
                        merged.0 = merged.0.min(start);
                        merged.1 = merged.1.max(end);
                        aggs.merge_into(&mut merged.2, &partials);
                    } else {
                        kept.push((start, end, partials));
                    }
                }
                update(&mut merged.2);
                let at = kept.partition_point(|(s, _, _)| *s < merged.0);
                kept.insert(at, merged);
                *sessions = kept;
            }
            _ => {}
        }
    }

    /// The window's partials as of `t` (at or after the key's latest event).
    pub fn as_of(&self, spec: WindowSpec, aggs: &WindowAggs, t: i64) -> Vec<Partial> {
        match (self, spec) {
            (WindowState::Lifetime(p), _) => p.clone(),
            (WindowState::Tumbling { start, partials }, WindowSpec::Tumbling { size_ms }) => {
                if floor(t, size_ms) == *start { partials.clone() } else { aggs.empty() }
            }
            (WindowState::PanesTotal { panes, total }, WindowSpec::Sliding { size_ms, hop_ms }) => {
                let start = floor(t.saturating_sub(i64::try_from(size_ms).unwrap_or(i64::MAX)), hop_ms);
                let mut acc = aggs.empty();
                // Retractable aggregates: the total, less the panes the window has left.
                for (i, (spec, _)) in aggs.specs.iter().enumerate() {
                    if retractable(*spec)
                        && let (Some(a), Some(tot)) = (acc.get_mut(i), total.get(i))
                    {
                        *a = tot.clone();
                        for (_, p) in panes.iter().filter(|(s, _)| *s < start || *s > t) {
                            if let Some(old) = p.get(i) {
                                a.retract(old);
                            }
                        }
                    }
                }
                // The others: the panes in the window, merged.
                for (_, p) in panes.iter().filter(|(s, _)| *s >= start && *s <= t) {
                    for (i, (spec, _)) in aggs.specs.iter().enumerate() {
                        if !retractable(*spec)
                            && let (Some(a), Some(x)) = (acc.get_mut(i), p.get(i))
                        {
                            a.merge(*spec, x);
                        }
                    }
                }
                acc
            }
            (WindowState::Panes(panes), WindowSpec::Sliding { size_ms, hop_ms }) => {
                let start = floor(t.saturating_sub(i64::try_from(size_ms).unwrap_or(i64::MAX)), hop_ms);
                let mut acc = aggs.empty();
                for (_, p) in panes.iter().filter(|(s, _)| *s >= start && *s <= t) {
                    aggs.merge_into(&mut acc, p);
                }
                acc
            }
            (WindowState::Sessions(sessions), WindowSpec::Session { gap_ms }) => match sessions.last() {
                Some((start, end, p))
                    if *start <= t && t.saturating_sub(*end) <= i64::try_from(gap_ms).unwrap_or(i64::MAX) =>
                {
                    p.clone()
                }
                _ => aggs.empty(),
            },
            _ => aggs.empty(),
        }
    }
}
