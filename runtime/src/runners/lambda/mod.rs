//! The Lambda plan at run time: a batch view (the stream operators over the history up to a
//! cutoff, see [`batch`]), a speed layer over the log after it, and the serving merge that
//! combines them per feature by its merge rule, then computes the derived features.
//!
//! The speed layer is two replays of the log with the same operators: `delta` reads the events
//! after the cutoff, for `batch + speed` features (the batch partial up to the cutoff merged with
//! the delta partial after it); `speed` reads from the earliest time a `speed` feature's window
//! can reach back to at the cutoff (all of the log for lifetime and session windows), so those
//! features are exact on their own. `batch` features read the view as of the cutoff.

pub mod batch;
pub mod merge;
pub mod partials;
pub mod spark;
pub mod stream;

use std::borrow::Cow;
use std::path::Path;

use featc::ir::FeatureIr;
use featc::ir::MergeRule;

use crate::operators::aggregate::Partial;
use crate::operators::group::GroupRuntime;
use crate::operators::window::reach;
use crate::runners::kappa::{KappaRunner, ReplayReport};
use crate::value::Value;
pub use batch::BatchView;

/// Which engine computes the batch view.
#[derive(Debug, Clone)]
pub enum Engine {
    /// featc's own operators over the history, read, filtered and sorted by DataFusion.
    DataFusion,
    /// The emitted Spark job, run with `spark-submit`; featc installs its results.
    Spark(spark::SparkRun),
}

impl Engine {
    /// The batch view at `cutoff`; `progress` is told the events featc reads itself.
    pub fn compute(
        &self,
        ir: &FeatureIr,
        project_dir: &Path,
        data_dir: &Path,
        cutoff: i64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BatchView, String> {
        match self {
            Engine::DataFusion => batch::compute(ir, project_dir, cutoff, progress),
            Engine::Spark(run) => spark::compute(ir, project_dir, data_dir, cutoff, run, progress),
        }
    }
}

/// The earliest event time the `speed` features need at query times from `cutoff` on; `None`
/// when there are none; `i64::MIN` when one needs the whole log.
fn speed_horizon(ir: &FeatureIr, cutoff: i64) -> Option<i64> {
    ir.groups
        .iter()
        .flat_map(|g| g.aggregates.iter().filter(|a| a.merge == MergeRule::Speed).map(|a| g.windows[a.window].spec))
        .map(|spec| reach(spec, cutoff))
        .min()
}

/// The Lambda runtime of a project.
#[derive(Debug)]
pub struct LambdaRunner {
    ir: FeatureIr,
    pub view: BatchView,
    delta: KappaRunner,
    speed: Option<KappaRunner>,
}

impl LambdaRunner {
    /// Opens the speed layer over the logs (seeding empty logs from the history) beside a
    /// batch view of this spec.
    pub fn open(
        ir: FeatureIr,
        project_dir: &Path,
        data_dir: &Path,
        mut view: BatchView,
    ) -> Result<(LambdaRunner, Vec<String>), String> {
        let versions: Vec<&String> = ir.groups.iter().map(|g| &g.version).collect();
        if !view.stale.is_empty() || view.versions.iter().collect::<Vec<_>>() != versions {
            return Err("the batch view holds groups of another version of the spec: run `featc batch`".to_owned());
        }
        view.settle();
        // Each replay computes the features the merge reads from it.
        let (delta, seeded) = KappaRunner::open_replay(
            ir.clone(),
            project_dir,
            data_dir,
            (view.cutoff, i64::MAX),
            Some(&[MergeRule::BatchPlusSpeed]),
        )?;
        let speed = match speed_horizon(&ir, view.cutoff) {
            None => None,
            Some(h) => {
                let (mut speed, _) = KappaRunner::open_replay(
                    ir.clone(),
                    project_dir,
                    data_dir,
                    (h.saturating_sub(1), i64::MAX),
                    Some(&[MergeRule::Speed]),
                )?;
                // Each window takes the events from where it reaches back to at the cutoff,
                // not from the earliest any window reaches.
                speed.answer_from(view.cutoff);
                Some(speed)
            }
        };
        Ok((LambdaRunner { ir, view, delta, speed }, seeded))
    }

    pub fn ir(&self) -> &FeatureIr {
        &self.ir
    }

    /// Events in the logs the speed layer has not read yet (each replay counted).
    pub fn backlog(&self) -> Result<u64, String> {
        Ok(self.delta.backlog()? + self.speed.as_ref().map_or(Ok(0), KappaRunner::backlog)?)
    }

    /// Reads the logs to their end through the speed layer.
    pub fn catch_up(&mut self, mut progress: impl FnMut(u64)) -> Result<ReplayReport, String> {
        let started = std::time::Instant::now();
        let mut report = self.delta.catch_up(&mut progress)?;
        tracing::debug!("speed layer: the replay after the cutoff read in {:.2?}", started.elapsed());
        if let Some(s) = &mut self.speed {
            let started = std::time::Instant::now();
            let r = s.catch_up(&mut progress)?;
            tracing::debug!(
                "speed layer: the replay of the `speed` features' windows read in {:.2?}",
                started.elapsed()
            );
            report.events += r.events;
        }
        Ok(report)
    }

    /// The replays of the logs the speed layer runs: one for the features merged with the batch
    /// view (from the cutoff), and one for the `speed` features' windows (from where they reach
    /// back) when the spec has any. [`LambdaRunner::catch_up`] reports the events of both.
    pub fn replays(&self) -> usize {
        1 + usize::from(self.speed.is_some())
    }

    /// Reads at most `budget` events of each replay (delta, then speed); true when both were
    /// read to their end.
    pub fn step(&mut self, budget: u64) -> Result<(ReplayReport, bool), String> {
        let mut report = self.delta.step(budget, |_| {})?;
        let mut drained = report.events < budget;
        if let Some(s) = &mut self.speed {
            let r = s.step(budget, |_| {})?;
            drained &= r.events < budget;
            report.events += r.events;
        }
        Ok((report, drained))
    }

    /// The speed layer reads only events at or before `t` (for a snapshot as of `t`).
    pub fn read_until(&mut self, t: i64) {
        self.delta.read_until(t);
        if let Some(s) = &mut self.speed {
            s.read_until(t);
        }
    }

    /// The speed layer's groups (events after the cutoff), for counters and dead letters.
    pub fn speed_groups(&self) -> &[GroupRuntime] {
        self.delta.groups()
    }

    /// The groups of the replay that serves `speed` features (from their window's horizon), if
    /// any feature has that rule.
    pub fn whole_window_groups(&self) -> Option<&[GroupRuntime]> {
        self.speed.as_ref().map(|s| s.groups())
    }

    /// Every key with state in any layer of group `gi`, in order.
    pub fn keys(&self, gi: usize) -> Vec<Vec<Value>> {
        let keys: Vec<Vec<Value>> = self.layers(gi).into_iter().flat_map(GroupRuntime::keys).collect();
        let mut keys = crate::value::sorted_by_key_values(keys, |k| k);
        keys.dedup();
        keys
    }

    /// How many keys group `gi` has over the layers, each counted once, as
    /// [`LambdaRunner::keys`] lists them, without merging the layers' lists into one sorted list
    /// (a key of a later layer counts when no earlier layer holds it).
    pub fn key_count(&self, gi: usize) -> usize {
        let layers = self.layers(gi);
        let mut count = 0;
        for (i, layer) in layers.iter().enumerate() {
            count += match i {
                0 => layer.key_count(),
                _ => layer.keys().iter().filter(|k| layers[..i].iter().all(|l| l.latest(k).is_none())).count(),
            };
        }
        count
    }

    /// How far group `gi`'s stream has come over the layers: its latest event time, and not
    /// before the cutoff.
    pub fn high_water(&self, gi: usize) -> Option<i64> {
        let latest = self.layers(gi).into_iter().filter_map(GroupRuntime::high_water).max();
        latest.map(|t| t.max(self.view.cutoff))
    }

    /// The log offsets the speed layer has read, per topic.
    pub fn positions(&self) -> Vec<(String, u64)> {
        self.delta.positions()
    }

    /// Every key's state of group `gi` in each layer (`view`, `delta` and, when a feature is
    /// served from the whole-window replay, `speed`), as JSON texts: what an online store holds.
    pub fn state_layers(
        &self,
        gi: usize,
        since: &dyn Fn(&str) -> Option<crate::operators::group::ChangeMark>,
    ) -> Result<crate::runners::reader::StateLayers, String> {
        let named = [
            ("view", self.view.groups.get(gi)),
            ("delta", self.delta.groups().get(gi)),
            ("speed", self.speed.as_ref().and_then(|s| s.groups().get(gi))),
        ];
        named
            .into_iter()
            .filter_map(|(name, g)| g.map(|g| crate::runners::reader::state_layer(name, g, since)))
            .collect()
    }

    /// The latest event time of a key over the layers.
    pub fn latest(&self, gi: usize, key: &[Value]) -> Option<i64> {
        self.layers(gi).into_iter().filter_map(|g| g.latest(key)).max()
    }

    fn layers(&self, gi: usize) -> Vec<&GroupRuntime> {
        let mut layers: Vec<&GroupRuntime> =
            [self.view.groups.get(gi), self.delta.groups().get(gi)].into_iter().flatten().collect();
        if let Some(s) = &self.speed {
            layers.extend(s.groups().get(gi));
        }
        layers
    }

    /// Every layer's groups taken out, the runner left with none (see
    /// [`crate::runners::reader::FeatureReader::take_state`]).
    pub fn take_groups(&mut self) -> Vec<GroupRuntime> {
        let mut groups = std::mem::take(&mut self.view.groups);
        groups.extend(self.delta.take_groups());
        groups.extend(self.speed.as_mut().map(KappaRunner::take_groups).unwrap_or_default());
        groups
    }

    /// The feature vector of `key` in group `gi` as of `t` (at or after the cutoff and the key's
    /// latest event), each feature merged by its rule, derived features included.
    pub fn lookup(&self, gi: usize, key: &[Value], t: i64) -> Result<Option<Vec<Value>>, String> {
        self.serving(gi)?.lookup(key, t)
    }

    /// Group `gi`'s layers, which answer lookups (on any thread).
    pub(crate) fn serving(&self, gi: usize) -> Result<Serving<'_>, String> {
        let (Some(g), Some(view), Some(delta)) =
            (self.ir.groups.get(gi), self.view.groups.get(gi), self.delta.groups().get(gi))
        else {
            return Err(format!("no group {gi}"));
        };
        let speed = self.speed.as_ref().and_then(|s| s.groups().get(gi));
        Ok(Serving { g, cutoff: self.view.cutoff, view, delta, speed })
    }
}

/// One group's layers in the Lambda runtime: what a lookup reads.
pub(crate) struct Serving<'a> {
    g: &'a featc::ir::IrGroup,
    cutoff: i64,
    view: &'a GroupRuntime,
    delta: &'a GroupRuntime,
    speed: Option<&'a GroupRuntime>,
}

impl Serving<'_> {
    /// See [`LambdaRunner::lookup`].
    pub(crate) fn lookup(&self, key: &[Value], t: i64) -> Result<Option<Vec<Value>>, String> {
        let Serving { cutoff, view, .. } = *self;
        self.check(t)?;
        // The view as of its cutoff is the view as of `t` when they are the same time.
        let at_cutoff = if t == cutoff { None } else { view.partials_ref(key, cutoff)? };
        self.merged(key, t, at_cutoff, view.partials_ref(key, t)?, view.last_sessions(key))
    }

    /// [`Serving::lookup`] with the key's batch view state given (`None`: the view lacks the
    /// key) rather than read from the view's runtime, which then holds no keys: for a view read
    /// from its file one key at a time ([`stream`]).
    pub(crate) fn lookup_in(
        &self,
        key: &[Value],
        state: Option<&crate::operators::state::KeyState>,
        t: i64,
    ) -> Result<Option<Vec<Value>>, String> {
        let Serving { cutoff, view, .. } = *self;
        self.check(t)?;
        let at_cutoff = state.filter(|_| t != cutoff).map(|s| view.partials_in(s, cutoff)).transpose()?;
        let batch_now = state.map(|s| view.partials_in(s, t)).transpose()?;
        self.merged(key, t, at_cutoff, batch_now, view.last_sessions_of(state))
    }

    /// The key's batch view partials (as of the cutoff and as of `t`) and last sessions merged
    /// with the speed layer's, by each feature's rule.
    fn merged<'s>(
        &'s self,
        key: &[Value],
        t: i64,
        at_cutoff: Option<Vec<Cow<'s, Partial>>>,
        batch_now: Option<Vec<Cow<'s, Partial>>>,
        batch_sessions: merge::Sessions,
    ) -> Result<Option<Vec<Value>>, String> {
        let Serving { g, view, delta, speed, .. } = *self;
        let layers = merge::Layers {
            at_cutoff,
            batch_now,
            after: delta.partials_ref(key, t)?,
            speed: speed.map(|s| s.partials_ref(key, t)).transpose()?.flatten(),
            batch_sessions,
            delta_sessions: delta.last_sessions(key),
        };
        merge::merge(g, view, layers, t)
    }

    fn check(&self, t: i64) -> Result<(), String> {
        let cutoff = self.cutoff;
        if t < cutoff {
            return Err(format!(
                "{t} is before the batch view's cutoff ({cutoff}): past values come from training sets"
            ));
        }
        Ok(())
    }
}
