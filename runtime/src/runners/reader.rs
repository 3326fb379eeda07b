//! A runner of either target in, feature vectors out: the reads that `get` and `materialize`
//! make of the Kappa runtime or the Lambda serving merge, whichever target answers.

use featc::ir::FeatureIr;

use crate::operators::group::{ChangeMark, GroupRuntime};
use crate::runners::kappa::{KappaRunner, ReplayReport};
use crate::runners::lambda::LambdaRunner;
use crate::value::Value;

/// One layer of a group's state as an online store holds it: its name, the states as JSON
/// texts `(key, state)` of the keys changed since the mark asked for (every key without one),
/// and the mark of the layer's state now.
#[derive(Debug)]
pub struct StateLayer {
    pub name: &'static str,
    pub rows: Vec<(String, String)>,
    pub mark: ChangeMark,
}

/// A group's layers (Kappa: `state`; Lambda: `view`, `delta`, `speed`).
pub type StateLayers = Vec<StateLayer>;

/// The layer `name` of `group`: the keys changed since `since(name)`.
pub(crate) fn state_layer(
    name: &'static str,
    group: &GroupRuntime,
    since: &dyn Fn(&str) -> Option<ChangeMark>,
) -> Result<StateLayer, String> {
    let (rows, mark) = group.state_rows_since(since(name))?;
    Ok(StateLayer { name, rows, mark })
}

/// `f` of each item, in order, the items split in runs over as many threads as cores; the
/// first error stops the run it is in.
pub(crate) fn on_every_core<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    /// Fewer items than this per thread are not worth a thread.
    const MIN_RUN: usize = 1024;
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(items.len() / MIN_RUN).max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let runs: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|run| scope.spawn(move || run.iter().map(f).collect::<Result<Vec<R>, String>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for run in runs {
            out.extend(run.join().unwrap_or_else(|e| std::panic::resume_unwind(e))?);
        }
        Ok(out)
    })
}

/// What reading features needs of a runtime: the logs read to their end, the keys of a group,
/// and a key's feature vector as of a time. Implemented by both targets, so a reader need not
/// know which one answers.
pub trait FeatureReader {
    /// The IR the runtime runs.
    fn ir(&self) -> &FeatureIr;

    /// Events in the logs not read yet.
    fn backlog(&self) -> Result<u64, String>;

    /// Reads the logs to their end; `progress` is told the events read.
    fn catch_up(&mut self, progress: &mut dyn FnMut(u64)) -> Result<ReplayReport, String>;

    /// Reads at most `budget` events of each replay, so a caller can stop or let others in
    /// between; true when the logs were read to their end.
    fn step(&mut self, budget: u64) -> Result<(ReplayReport, bool), String>;

    /// Every key with state in group `group`.
    fn keys(&self, group: usize) -> Vec<Vec<Value>>;

    /// The earliest time the runtime answers for a key: its latest event, and for Lambda not
    /// before the batch view's cutoff. `None` for a key without state.
    fn present(&self, group: usize, key: &[Value]) -> Option<i64>;

    /// The feature vector of `key` in group `group` as of `t`; `None` for a key without state.
    fn lookup(&self, group: usize, key: &[Value], t: i64) -> Result<Option<Vec<Value>>, String>;

    /// [`FeatureReader::lookup`] of each of `keys`, in their order, on every core: a snapshot
    /// of a group's features.
    fn lookup_all(&self, group: usize, keys: &[Vec<Value>], t: i64) -> Result<Vec<Option<Vec<Value>>>, String>;

    /// How far group `group`'s stream has come: the latest event time read (for Lambda, not
    /// before the cutoff). `None` before any event.
    fn high_water(&self, group: usize) -> Option<i64>;

    /// The log offsets read, per topic.
    fn positions(&self) -> Vec<(String, u64)>;

    /// The batch view's cutoff, for Lambda.
    fn cutoff(&self) -> Option<i64> {
        None
    }

    /// The keys of group `group` changed since the mark `since` gives for a layer (every key
    /// for none) with their states, as JSON texts, per layer of the target (Kappa: `state`;
    /// Lambda: `view`, `delta`, `speed`): what an online store holds.
    fn state_layers(&self, group: usize, since: &dyn Fn(&str) -> Option<ChangeMark>) -> Result<StateLayers, String>;

    /// Takes the groups' state out of the runtime, which keeps its streams and nothing to
    /// answer with: for a command that is done reading and leaves the state to the process's
    /// exit (freeing a million keys' partials one by one takes seconds), while the streams
    /// close as usual.
    fn take_state(&mut self) -> Vec<GroupRuntime>;

    /// Makes the state read so far durable (Kappa: a snapshot; Lambda keeps nothing to write:
    /// its speed layer is rebuilt from the log after the cutoff).
    fn checkpoint(&mut self) -> Result<(), String> {
        Ok(())
    }
}

impl FeatureReader for KappaRunner {
    fn ir(&self) -> &FeatureIr {
        KappaRunner::ir(self)
    }

    fn backlog(&self) -> Result<u64, String> {
        KappaRunner::backlog(self)
    }

    fn catch_up(&mut self, progress: &mut dyn FnMut(u64)) -> Result<ReplayReport, String> {
        KappaRunner::catch_up(self, progress)
    }

    fn step(&mut self, budget: u64) -> Result<(ReplayReport, bool), String> {
        let report = KappaRunner::step(self, budget, |_| {})?;
        let drained = report.events < budget;
        Ok((report, drained))
    }

    fn keys(&self, group: usize) -> Vec<Vec<Value>> {
        self.groups().get(group).map(|g| g.keys()).unwrap_or_default()
    }

    fn present(&self, group: usize, key: &[Value]) -> Option<i64> {
        self.groups().get(group).and_then(|g| g.latest(key))
    }

    fn lookup(&self, group: usize, key: &[Value], t: i64) -> Result<Option<Vec<Value>>, String> {
        self.groups().get(group).map_or(Ok(None), |g| g.lookup(key, t))
    }

    fn lookup_all(&self, group: usize, keys: &[Vec<Value>], t: i64) -> Result<Vec<Option<Vec<Value>>>, String> {
        match self.groups().get(group) {
            Some(g) => on_every_core(keys, |k| g.lookup(k, t)),
            None => Ok(vec![None; keys.len()]),
        }
    }

    fn high_water(&self, group: usize) -> Option<i64> {
        self.groups().get(group).and_then(GroupRuntime::high_water)
    }

    fn positions(&self) -> Vec<(String, u64)> {
        KappaRunner::positions(self)
    }

    fn checkpoint(&mut self) -> Result<(), String> {
        self.snapshot().map(drop)
    }

    fn state_layers(&self, group: usize, since: &dyn Fn(&str) -> Option<ChangeMark>) -> Result<StateLayers, String> {
        self.groups().get(group).map(|g| state_layer("state", g, since)).into_iter().collect()
    }

    fn take_state(&mut self) -> Vec<GroupRuntime> {
        KappaRunner::take_groups(self)
    }
}

impl FeatureReader for LambdaRunner {
    fn ir(&self) -> &FeatureIr {
        LambdaRunner::ir(self)
    }

    fn backlog(&self) -> Result<u64, String> {
        LambdaRunner::backlog(self)
    }

    fn catch_up(&mut self, progress: &mut dyn FnMut(u64)) -> Result<ReplayReport, String> {
        LambdaRunner::catch_up(self, progress)
    }

    fn step(&mut self, budget: u64) -> Result<(ReplayReport, bool), String> {
        LambdaRunner::step(self, budget)
    }

    fn keys(&self, group: usize) -> Vec<Vec<Value>> {
        LambdaRunner::keys(self, group)
    }

    fn present(&self, group: usize, key: &[Value]) -> Option<i64> {
        self.latest(group, key).map(|t| t.max(self.view.cutoff))
    }

    fn lookup(&self, group: usize, key: &[Value], t: i64) -> Result<Option<Vec<Value>>, String> {
        LambdaRunner::lookup(self, group, key, t)
    }

    fn lookup_all(&self, group: usize, keys: &[Vec<Value>], t: i64) -> Result<Vec<Option<Vec<Value>>>, String> {
        let serving = self.serving(group)?;
        on_every_core(keys, |k| serving.lookup(k, t))
    }

    fn high_water(&self, group: usize) -> Option<i64> {
        LambdaRunner::high_water(self, group)
    }

    fn positions(&self) -> Vec<(String, u64)> {
        LambdaRunner::positions(self)
    }

    fn cutoff(&self) -> Option<i64> {
        Some(self.view.cutoff)
    }

    fn state_layers(&self, group: usize, since: &dyn Fn(&str) -> Option<ChangeMark>) -> Result<StateLayers, String> {
        LambdaRunner::state_layers(self, group, since)
    }

    fn take_state(&mut self) -> Vec<GroupRuntime> {
        LambdaRunner::take_groups(self)
    }
}
