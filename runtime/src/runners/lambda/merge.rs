//! One key's partials in each Lambda layer (batch view, speed layer) in, its feature vector
//! out: the serving merge, per aggregate by its merge rule, then the derived features. The
//! layers come from the runner's memory or from an online store; the merge is the same.

use std::borrow::Cow;

use featc::ir::{IrGroup, MergeRule, WindowSpec};

use crate::operators::aggregate::{AggSpec, Partial};
use crate::operators::group::GroupRuntime;
use crate::value::Value;

/// A key's last session of each aggregate: `(start, end, partial)`.
pub type Sessions = Vec<Option<(i64, i64, Partial)>>;

/// One key's partials in each layer, as of a time `t` (the view also as of its cutoff),
/// borrowed from a layer's state where it holds them as they are.
#[derive(Debug, Default)]
pub struct Layers<'a> {
    /// The batch view as of its cutoff (for `batch` features); `None` when the view lacks the
    /// key, or when `t` is the cutoff (`batch_now` is then read).
    pub at_cutoff: Option<Vec<Cow<'a, Partial>>>,
    /// The batch view as of `t` (its windows slid on to `t`).
    pub batch_now: Option<Vec<Cow<'a, Partial>>>,
    /// The speed layer's events after the cutoff, as of `t` (merged for `batch + speed`).
    pub after: Option<Vec<Cow<'a, Partial>>>,
    /// The whole-window replay, as of `t` (for `speed` features).
    pub speed: Option<Vec<Cow<'a, Partial>>>,
    pub batch_sessions: Sessions,
    pub delta_sessions: Sessions,
}

/// Merges a key's layers as of `t` by each aggregate's rule, and finishes the vector with the
/// group's operators (`template`, any layer's runtime of the group). `None` when no layer has
/// the key.
pub fn merge<'a>(
    g: &IrGroup,
    template: &GroupRuntime,
    layers: Layers<'a>,
    t: i64,
) -> Result<Option<Vec<Value>>, String> {
    let Layers { mut at_cutoff, mut batch_now, after, mut speed, mut batch_sessions, mut delta_sessions } = layers;
    if at_cutoff.is_none() && batch_now.is_none() && after.is_none() && speed.is_none() {
        return Ok(None);
    }
    // The empty partials, for a layer without the key (only made when one lacks it).
    let empty = if at_cutoff.is_none() || batch_now.is_none() || speed.is_none() {
        template.empty_partials()
    } else {
        Vec::new()
    };
    // Each aggregate reads each layer (and its last sessions) at most once: what it reads is
    // taken out, not copied, and copied from a layer's state only to be merged.
    let pick = |layer: &mut Option<Vec<Cow<'a, Partial>>>, i: usize| match layer.as_mut().and_then(|p| p.get_mut(i)) {
        Some(p) => Some(std::mem::replace(p, Cow::Owned(Partial::Count(0)))),
        None => empty.get(i).cloned().map(Cow::Owned),
    };
    let mut merged = Vec::with_capacity(g.aggregates.len());
    for (i, a) in g.aggregates.iter().enumerate() {
        let p = match a.merge {
            MergeRule::Batch if at_cutoff.is_some() => pick(&mut at_cutoff, i),
            MergeRule::Batch => pick(&mut batch_now, i),
            MergeRule::Speed => pick(&mut speed, i),
            MergeRule::BatchPlusSpeed => match g.windows.get(a.window).map(|w| w.spec) {
                // The session open at t is the speed layer's last one, continuing the batch
                // view's last one when it starts within the gap of its end; or, when the
                // speed layer has no open session, the batch view's own.
                Some(WindowSpec::Session { gap_ms }) => {
                    let gap = i64::try_from(gap_ms).unwrap_or(i64::MAX);
                    match delta_sessions.get_mut(i).and_then(Option::take) {
                        Some((start, end, mut p)) if start <= t && t.saturating_sub(end) <= gap => {
                            if let Some((_, b_end, b)) = batch_sessions.get_mut(i).and_then(Option::take)
                                && start.saturating_sub(gap) <= b_end
                            {
                                p.merge(AggSpec::new(a.kind, a.param), &b);
                            }
                            Some(Cow::Owned(p))
                        }
                        _ => pick(&mut batch_now, i),
                    }
                }
                _ => pick(&mut batch_now, i).map(|p| match after.as_ref().and_then(|d| d.get(i)) {
                    Some(d) => {
                        let mut p = p.into_owned();
                        p.merge(AggSpec::new(a.kind, a.param), d);
                        Cow::Owned(p)
                    }
                    None => p,
                }),
            },
        };
        merged.push(p.ok_or("partials of another group")?);
    }
    Ok(Some(template.finish(&merged)))
}
