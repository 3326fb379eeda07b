//! A group of the feature IR and rows of events in, per-key window state, dead letters and
//! feature vectors as of a time out: the keyed part of the streaming plan.

use std::borrow::Cow;
use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use featc::ir::{Eviction, FeatureIr, IrField, IrGroup, Layout, MergeRule, WindowSpec, WindowStrategy};

use crate::operators::aggregate::{AggSpec, Partial};
use crate::operators::columnar::Columnar;
use crate::operators::eval::{Compiled, compile};
pub use crate::operators::state::{ChangeMark, DeadLetter, GroupSnapshot};
use crate::operators::state::{KeyState, Stamps, next_epoch};

mod changes;
pub(crate) mod export;
pub(crate) use export::{KeyOrder, Refs, exported};
mod history;
pub use history::Probe;
mod route;
mod shard;

use shard::{Operators, Shard};

/// One key's state as an online store holds it (the JSON of [`GroupRuntime::key_state_json`]):
/// its windows' partials, not finished values, so a reader finalizes as of its own time.
#[derive(Debug, Clone)]
pub struct StoredKey(KeyState);

impl StoredKey {
    pub fn parse(json: &str) -> Result<StoredKey, String> {
        serde_json::from_str(json).map(StoredKey).map_err(|e| format!("a stored key state cannot be read: {e}"))
    }

    /// The key's latest event time.
    pub fn latest(&self) -> i64 {
        self.0.max_ts
    }
}
use crate::operators::window::{WindowAgg, WindowAggs, WindowState};
use crate::value::Value;

#[derive(Debug, Clone)]
struct AggRuntime {
    name: String,
    spec: AggSpec,
    integer: bool,
    value: Option<Compiled>,
    predicate: Option<usize>,
    window: usize,
    /// Position within its window's partials.
    slot: usize,
    /// Position in the feature vector (`None`: an aggregate no output names).
    output: Option<usize>,
}

/// The streaming state of one feature group.
#[derive(Debug, Clone)]
pub struct GroupRuntime {
    pub name: String,
    /// Source columns the group reads, in the order rows hold them.
    pub columns: Vec<String>,
    /// Feature names, in declaration order.
    pub outputs: Vec<String>,
    /// The compiled group every shard runs.
    ops: Operators,
    /// Derived features: output position and expression over the feature vector.
    derived: Vec<(usize, Compiled)>,
    /// The keys' state, split by key hash (see `route.rs`): one shard per core.
    shards: Vec<Shard>,
    /// Rows offered since opening (see [`GroupRuntime::change_mark`]), and the state's epoch.
    changes: u64,
    epoch: u64,
    /// Dead letters not yet written out, in the order of the events; `dead_written` came
    /// before them.
    dead_letters: Vec<DeadLetter>,
    dead_written: u64,
    /// Events counted before the state was restored (a snapshot's count).
    accepted: u64,
}

/// What one window of a group runs: its spec, strategy, and each aggregate's name and eviction.
pub type WindowRun = (WindowSpec, WindowStrategy, Vec<(String, Eviction)>);

/// Where a group keeps its per-key state.
#[derive(Debug, Clone)]
enum Store {
    /// Per-key objects over rows of values: every aggregate and window.
    /// Keys hashed with foldhash (seeded per process), several times faster than SipHash for
    /// the short keys events carry.
    Rows(HashMap<Vec<Value>, KeyState, foldhash::fast::RandomState>),
    /// Flat slot arrays over Arrow columns: groups of simple aggregates (see [`crate::operators::columnar`]).
    Columnar(Box<Columnar>),
}

impl Store {
    /// The same store with no keys.
    fn emptied(&self) -> Store {
        match self {
            Store::Rows(_) => Store::Rows(HashMap::default()),
            Store::Columnar(c) => Store::Columnar(Box::new(c.emptied())),
        }
    }
}

/// The shards a new group splits its keys over: `FEATC_SHARDS` when set, else one per core.
pub fn default_shards() -> usize {
    std::env::var("FEATC_SHARDS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, 256)
}

/// Which path a group runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The columnar path when the group allows it, else the row path.
    Auto,
    /// The row path, whatever the group (the baseline the columnar path is tested against).
    Rows,
}

/// Each window of a group with the aggregates over it, in the order of their slots.
pub(crate) fn window_aggs(group: &IrGroup) -> Result<Vec<(WindowSpec, WindowAggs)>, String> {
    let mut windows: Vec<(WindowSpec, WindowAggs)> =
        group.windows.iter().map(|w| (w.spec, WindowAggs::default())).collect();
    for a in &group.aggregates {
        let window = windows.get_mut(a.window).ok_or("aggregate without window")?;
        window.1.specs.push(WindowAgg {
            spec: AggSpec::new(a.kind, a.param),
            integer: a.integer_input(),
            eviction: a.eviction,
        });
    }
    Ok(windows)
}

/// The slot of aggregate `ai` among its window's partials: its place among the aggregates over
/// that window.
pub(crate) fn slot_of(group: &IrGroup, ai: usize) -> usize {
    let window = group.aggregates.get(ai).map_or(usize::MAX, |a| a.window);
    group.aggregates.iter().take(ai).filter(|a| a.window == window).count()
}

impl GroupRuntime {
    /// Compiles a group of the IR. Fails only on an IR that did not come from a checked spec.
    pub fn new(ir: &FeatureIr, group: &IrGroup) -> Result<GroupRuntime, String> {
        GroupRuntime::on_path(ir, group, Path::Auto)
    }

    /// Compiles a group for a given path.
    pub fn on_path(ir: &FeatureIr, group: &IrGroup, path: Path) -> Result<GroupRuntime, String> {
        GroupRuntime::keeping(ir, group, path, &vec![true; group.aggregates.len()])
    }

    /// The group as the Lambda batch layer runs it: only the aggregates whose merge rule reads
    /// the batch view (the plan's `partials for` lines) are computed; the others are off, their
    /// partials empty, and a window none of whose aggregates is kept holds nothing. The state
    /// keeps the whole group's form, so the view's files, the online store and the serving
    /// merge are those of the full group.
    pub fn batch_layer(ir: &FeatureIr, group: &IrGroup) -> Result<GroupRuntime, String> {
        GroupRuntime::batch_layer_on(ir, group, Path::Auto)
    }

    /// [`GroupRuntime::batch_layer`] on a given path.
    pub fn batch_layer_on(ir: &FeatureIr, group: &IrGroup, path: Path) -> Result<GroupRuntime, String> {
        let keep: Vec<bool> = group.aggregates.iter().map(|a| a.merge.uses_batch()).collect();
        GroupRuntime::keeping(ir, group, path, &keep)
    }

    /// The group computing only the aggregates whose merge rule is one of `rules` (the others
    /// off, as in [`GroupRuntime::batch_layer`]): the Lambda speed layer's replays each compute
    /// the features the serving merge reads from them, `batch + speed` ones since the cutoff
    /// and `speed` ones over their whole window.
    pub fn for_rules(ir: &FeatureIr, group: &IrGroup, path: Path, rules: &[MergeRule]) -> Result<GroupRuntime, String> {
        let keep: Vec<bool> = group.aggregates.iter().map(|a| rules.contains(&a.merge)).collect();
        GroupRuntime::keeping(ir, group, path, &keep)
    }

    /// Compiles a group computing the aggregates `keep` marks.
    fn keeping(ir: &FeatureIr, group: &IrGroup, path: Path, keep: &[bool]) -> Result<GroupRuntime, String> {
        let source = ir.sources.get(group.source).ok_or("group without source")?;
        let columns = group.columns.clone();
        let col = |name: &str| columns.iter().position(|c| c == name);
        let key_cols = group.keys.iter().map(|k| col(&k.name).ok_or("key not projected")).collect::<Result<_, _>>()?;
        let ts_col = col(&source.event_time).ok_or("event time not projected")?;
        let width = columns.len();
        let filter = group.filter.as_ref().map(|f| compile(&f.tree, width)).transpose()?;
        let predicates = group.predicates.iter().map(|p| compile(&p.tree, width)).collect::<Result<_, _>>()?;
        let windows = window_aggs(group)?;
        let mut aggs = Vec::with_capacity(group.aggregates.len());
        for (ai, a) in group.aggregates.iter().enumerate() {
            aggs.push(AggRuntime {
                name: a.name.clone(),
                spec: AggSpec::new(a.kind, a.param),
                integer: a.integer_input(),
                value: a.value.as_ref().map(|v| compile(&v.tree, width)).transpose()?,
                predicate: a.predicate,
                window: a.window,
                slot: slot_of(group, ai),
                output: group.outputs.iter().position(|o| *o == a.name),
            });
        }
        // Each window's computed aggregates; a window with none is not run.
        let members = (0..windows.len())
            .map(|w| (0..aggs.len()).filter(|&i| aggs[i].window == w && keep.get(i) != Some(&false)).collect())
            .collect();
        let outputs = group.outputs.clone();
        let out = |name: &str| outputs.iter().position(|o| o == name);
        let derived = group
            .derived
            .iter()
            .map(|d| Ok((out(&d.name).ok_or("derived feature not in outputs")?, compile(&d.expr.tree, outputs.len())?)))
            .collect::<Result<_, String>>()?;
        let state = match (path, group.layout) {
            (Path::Auto, Layout::Columnar) => Store::Columnar(Box::new(
                Columnar::new(ir, group, keep)
                    .ok_or_else(|| format!("group `{}`: the plan's columnar layout does not fit", group.name))?,
            )),
            _ => Store::Rows(HashMap::default()),
        };
        let key_types = group.keys.iter().map(|k| (k.name.clone(), k.ty.ty.clone())).collect();
        let ops = Operators {
            key_cols,
            key_types,
            ts_col,
            ts_name: source.event_time.clone(),
            lateness_ms: source.lateness_ms,
            filter,
            predicates,
            windows,
            aggs,
            members,
            after: i64::MIN,
            until: i64::MAX,
            window_from: vec![i64::MIN; group.windows.len()],
        };
        let shards = (0..default_shards()).map(|_| Shard::new(state.clone())).collect();
        Ok(GroupRuntime {
            name: group.name.clone(),
            columns,
            outputs,
            ops,
            derived,
            shards,
            changes: 0,
            epoch: next_epoch(),
            dead_letters: Vec::new(),
            dead_written: 0,
            accepted: 0,
        })
    }

    /// Splits the keys over `n` shards (at least one), which run on as many cores; the state,
    /// the dead letters and every answer are the same whatever `n`.
    pub fn set_shards(&mut self, n: usize) {
        let n = n.max(1);
        if n == self.shards.len() {
            return;
        }
        let empty = self.shards.first().map(|s| s.state.emptied());
        let Some(empty) = empty else { return };
        let snapshot = self.snapshot();
        let (pending, written) = (std::mem::take(&mut self.dead_letters), self.dead_written);
        self.shards = (0..n).map(|_| Shard::new(empty.clone())).collect();
        self.restore(snapshot);
        // The dead letters not written yet stay pending.
        (self.dead_letters, self.dead_written) = (pending, written);
    }

    /// How many shards the keys are split over.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Reads only events at or before `t` from now on; later ones are skipped, neither counted
    /// nor dead-lettered. For a snapshot of the features as of a past time.
    pub fn read_until(&mut self, t: i64) {
        self.ops.until = t;
    }

    /// Reads only events with `after < ts <= until`; the others are skipped, neither counted nor
    /// dead-lettered. The Lambda batch layer reads up to its cutoff, the speed layer after it.
    pub fn read_range(&mut self, after: i64, until: i64) {
        self.ops.after = after;
        self.ops.until = until;
    }

    /// For a replay whose answers are asked for at `t` or later only (the Lambda speed layer
    /// past its cutoff): a sliding or tumbling window takes only the events that can be in its
    /// answer at `t` or later ([`crate::operators::window::reach`]); the key's latest time, and
    /// so lateness, still counts every event. Answers at `t` or later are unchanged; the
    /// windows keep no pane that would be evicted before them.
    pub fn answer_from(&mut self, t: i64) {
        self.ops.window_from =
            self.ops.windows.iter().map(|(spec, _)| crate::operators::window::reach(*spec, t)).collect();
        for s in &mut self.shards {
            if let Store::Columnar(c) = &mut s.state {
                c.set_window_from(&self.ops.window_from);
            }
        }
    }

    /// What the operators of this group run, window by window: the strategy of a new key's
    /// state and each aggregate's eviction, in the plan's words. The plan-equals-runtime test
    /// compares it with the plan.
    pub fn strategies(&self) -> Vec<WindowRun> {
        self.ops
            .windows
            .iter()
            .enumerate()
            .map(|(w, (spec, aggs))| {
                let strategy = WindowState::new(*spec, aggs).strategy();
                let evictions = self.ops.members[w]
                    .iter()
                    .filter_map(|&i| {
                        let a = &self.ops.aggs[i];
                        aggs.specs.get(a.slot).map(|s| (a.name.clone(), s.eviction))
                    })
                    .collect();
                (*spec, strategy, evictions)
            })
            .collect()
    }

    /// For a job that reads no key until every event is in (the batch layer): the columnar
    /// layout's sliding windows stop keeping their running totals up at each event, and build
    /// them once at [`GroupRuntime::settle_totals`]. Lookups before that merge the panes: the
    /// same values, at a lookup's cost that grows with the panes.
    pub fn defer_totals(&mut self) {
        for s in &mut self.shards {
            if let Store::Columnar(c) = &mut s.state {
                c.defer_totals();
            }
        }
    }

    /// Builds the running totals [`GroupRuntime::defer_totals`] left, each shard on its own
    /// core.
    pub fn settle_totals(&mut self) {
        std::thread::scope(|scope| {
            for s in &mut self.shards {
                if let Store::Columnar(c) = &mut s.state {
                    scope.spawn(move || c.settle_totals());
                }
            }
        });
    }

    /// Whether the group runs on the columnar path.
    pub fn is_columnar(&self) -> bool {
        self.shards.first().is_some_and(|s| matches!(s.state, Store::Columnar(_)))
    }

    /// Processes a batch of a source's events; `fields` are the group's columns with their
    /// declared types. Malformed events become dead letters, as with
    /// [`crate::operators::decode::rows`]. The shards take their keys' rows on a core each when
    /// the batch is large enough to pay for it.
    pub fn process_batch(&mut self, batch: &RecordBatch, fields: &[IrField]) {
        /// Below this many rows a batch is processed on the calling thread, shard after shard.
        const PARALLEL_MIN: usize = 2048;
        let base = self.changes;
        self.changes += batch.num_rows() as u64;
        let GroupRuntime { ops, shards, dead_letters, .. } = self;
        let keys: Vec<(&str, &featc::ir::Ty)> = ops.key_types.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let range = route::in_range(batch, &ops.ts_name, (ops.after, ops.until));
        if range.as_ref().is_some_and(Vec::is_empty) {
            return;
        }
        let split = route::split(batch, &keys, range.as_deref(), shards.len());
        if shards.len() > 1 && batch.num_rows() >= PARALLEL_MIN {
            let ops = &*ops;
            std::thread::scope(|scope| {
                let mut work = shards.iter_mut().zip(&split);
                let here = work.next();
                for (shard, rows) in work {
                    scope.spawn(move || shard.process_batch(ops, batch, fields, rows, Stamps::After(base)));
                }
                if let Some((shard, rows)) = here {
                    shard.process_batch(ops, batch, fields, rows, Stamps::After(base));
                }
            });
        } else {
            for (shard, rows) in shards.iter_mut().zip(&split) {
                shard.process_batch(ops, batch, fields, rows, Stamps::After(base));
            }
        }
        if shards.iter().any(|s| !s.dead.is_empty()) {
            let mut dead: Vec<(usize, DeadLetter)> = shards.iter_mut().flat_map(|s| s.dead.drain(..)).collect();
            dead.sort_by_key(|d| d.0);
            dead_letters.extend(dead.into_iter().map(|(_, d)| d));
        }
    }

    /// Processes one event, a row of values in [`GroupRuntime::columns`] order.
    pub fn process(&mut self, row: Vec<Value>) {
        let base = self.changes;
        self.changes += 1;
        let key: Vec<Value> = self.ops.key_cols.iter().map(|&i| row.get(i).cloned().unwrap_or(Value::Null)).collect();
        let at = if key.iter().any(Value::is_null) { 0 } else { route::shard_of(&key, self.shards.len()) };
        let GroupRuntime { ops, shards, dead_letters, .. } = self;
        if let Some(shard) = shards.get_mut(at) {
            shard.process(ops, row, 0, Stamps::After(base));
            dead_letters.extend(shard.dead.drain(..).map(|(_, d)| d));
        }
    }

    /// The shard that holds `key`.
    fn shard(&self, key: &[Value]) -> Option<&Shard> {
        self.shards.get(route::shard_of(key, self.shards.len()))
    }

    /// The state of a key, in the row path's form.
    fn key_state(&self, key: &[Value]) -> Option<Cow<'_, KeyState>> {
        match &self.shard(key)?.state {
            Store::Rows(state) => state.get(key).map(Cow::Borrowed),
            Store::Columnar(c) => c.keys.find(key).map(|id| Cow::Owned(c.export(id))),
        }
    }

    /// The feature vector of `key` as of `t`, derived features included. `None` for a key never
    /// seen; an error for a time before the key's latest event.
    pub fn lookup(&self, key: &[Value], t: i64) -> Result<Option<Vec<Value>>, String> {
        let Some(shard) = self.shard(key) else { return Ok(None) };
        Self::lookup_in(&self.ops, &self.derived, self.outputs.len(), shard, key, t)
    }

    /// [`GroupRuntime::lookup`] in the shard that holds `key`, for a caller that holds the
    /// shards apart (a sweep of a history, a shard per core).
    fn lookup_in(
        ops: &Operators,
        derived: &[(usize, Compiled)],
        width: usize,
        shard: &Shard,
        key: &[Value],
        t: i64,
    ) -> Result<Option<Vec<Value>>, String> {
        let Some(windows) = Self::windows_in(ops, shard, key, t)? else { return Ok(None) };
        Ok(Some(finish_on(ops, derived, width, |a| {
            windows.get(a.window).and_then(|w| w.get(a.slot)).map(AsRef::as_ref)
        })))
    }

    /// Each window's partials of `key` as of `t`, read where the state holds them: no partial
    /// is copied unless a window must be computed (see `WindowState::as_of_ref` and
    /// `Columnar::as_of`). `None` for a key never seen.
    #[allow(clippy::type_complexity)]
    fn windows_as_of(&self, key: &[Value], t: i64) -> Result<Option<Vec<Vec<Cow<'_, Partial>>>>, String> {
        let Some(shard) = self.shard(key) else { return Ok(None) };
        Self::windows_in(&self.ops, shard, key, t)
    }

    /// [`GroupRuntime::windows_as_of`] in the shard that holds `key`.
    #[allow(clippy::type_complexity)]
    fn windows_in<'s>(
        ops: &Operators,
        shard: &'s Shard,
        key: &[Value],
        t: i64,
    ) -> Result<Option<Vec<Vec<Cow<'s, Partial>>>>, String> {
        match &shard.state {
            Store::Rows(state) => {
                let Some(state) = state.get(key) else { return Ok(None) };
                Self::check_time(state.max_ts, t)?;
                Ok(Some(
                    ops.windows
                        .iter()
                        .zip(&state.windows)
                        .map(|((spec, aggs), st)| st.as_of_ref(*spec, aggs, t))
                        .collect(),
                ))
            }
            Store::Columnar(c) => {
                let Some(id) = c.keys.find(key) else { return Ok(None) };
                Self::check_time(c.keys.latest(id), t)?;
                Ok(Some(c.as_of(id, t)))
            }
        }
    }

    /// The partial of every aggregate of `key` as of `t`, in the IR's aggregate order, before
    /// finalizing: what the Lambda serving merge combines. `None` for a key never seen; an error
    /// for a time before the key's latest event.
    pub fn partials(&self, key: &[Value], t: i64) -> Result<Option<Vec<Partial>>, String> {
        Ok(self.partials_ref(key, t)?.map(|p| p.into_iter().map(Cow::into_owned).collect()))
    }

    /// [`GroupRuntime::partials`], borrowing the state's partials where the window's partial is
    /// one held as it is (a lifetime window's, a sliding window's running total): the serving
    /// merge copies only what it merges.
    pub fn partials_ref(&self, key: &[Value], t: i64) -> Result<Option<Vec<Cow<'_, Partial>>>, String> {
        let Some(windows) = self.windows_as_of(key, t)? else { return Ok(None) };
        Ok(Some(self.by_aggregate(windows, |a| Cow::Owned(Partial::new(a.spec, a.integer)))))
    }

    /// One key's state as JSON, as an online store keeps it (see [`StoredKey`]).
    pub fn key_state_json(&self, key: &[Value]) -> Option<String> {
        self.key_state(key).and_then(|s| serde_json::to_string(s.as_ref()).ok())
    }

    /// The feature vector, as of `t`, of a key whose state was read from an online store:
    /// finalized here, so windows decay as of the request's time. An error for a time before
    /// the key's latest event, or a state of another layout.
    pub fn lookup_stored(&self, state: &StoredKey, t: i64) -> Result<Vec<Value>, String> {
        Ok(self.finish(&self.partials_stored(state, t)?))
    }

    fn check_time(max_ts: i64, t: i64) -> Result<(), String> {
        if t < max_ts {
            return Err(format!(
                "{t} is before the key's latest event ({max_ts}); past values come from the batch view"
            ));
        }
        Ok(())
    }

    /// The partials of a key's state as of `t` (as [`GroupRuntime::partials_ref`] gives them
    /// from the group's own state), borrowed from `state` where it holds them as they are.
    pub(crate) fn partials_in<'s>(&self, state: &'s KeyState, t: i64) -> Result<Vec<Cow<'s, Partial>>, String> {
        Self::check_time(state.max_ts, t)?;
        let windows = self.ops.windows.iter().zip(&state.windows);
        let windows = windows.map(|((spec, aggs), st)| st.as_of_ref(*spec, aggs, t)).collect();
        Ok(self.by_aggregate(windows, |a| Cow::Owned(Partial::new(a.spec, a.integer))))
    }

    /// Each window's partials (in slot order), as one partial per aggregate in the IR's order.
    fn by_aggregate<P>(&self, windows: Vec<Vec<P>>, empty: impl Fn(&AggRuntime) -> P) -> Vec<P> {
        let mut window_partials: Vec<Vec<Option<P>>> =
            windows.into_iter().map(|w| w.into_iter().map(Some).collect()).collect();
        self.ops
            .aggs
            .iter()
            .map(|a| {
                window_partials
                    .get_mut(a.window)
                    .and_then(|p| p.get_mut(a.slot))
                    .and_then(Option::take)
                    .unwrap_or_else(|| empty(a))
            })
            .collect()
    }

    /// For each aggregate over a session window, the key's last session `(start, end, partial)`
    /// whatever the time; `None` for other windows and for a key without sessions. The Lambda
    /// merge needs it: a session of the speed layer can continue one of the batch view.
    pub fn last_sessions(&self, key: &[Value]) -> Vec<Option<(i64, i64, Partial)>> {
        match self.shard(key).map(|s| &s.state) {
            Some(Store::Rows(state)) => self.last_sessions_of(state.get(key)),
            // Read in place: the key's state is not exported.
            Some(Store::Columnar(c)) => {
                let id = c.keys.find(key);
                self.ops
                    .aggs
                    .iter()
                    .map(|a| match (id, self.ops.windows.get(a.window).map(|w| w.0)) {
                        (Some(id), Some(WindowSpec::Session { .. })) => c.last_session(id, a.window, a.slot),
                        _ => None,
                    })
                    .collect()
            }
            None => vec![None; self.ops.aggs.len()],
        }
    }

    /// [`GroupRuntime::partials_ref`] of a key whose state was read from an online store
    /// (borrowed from it); an error for a state of another layout.
    pub fn partials_stored<'s>(&self, state: &'s StoredKey, t: i64) -> Result<Vec<Cow<'s, Partial>>, String> {
        if state.0.windows.len() != self.ops.windows.len() {
            return Err("the stored state has another layout than this group's version".to_owned());
        }
        self.partials_in(&state.0, t)
    }

    /// [`GroupRuntime::last_sessions`] of a key whose state was read from an online store.
    pub fn last_sessions_stored(&self, state: Option<&StoredKey>) -> Vec<Option<(i64, i64, Partial)>> {
        self.last_sessions_of(state.map(|s| &s.0))
    }

    pub(crate) fn last_sessions_of(&self, state: Option<&KeyState>) -> Vec<Option<(i64, i64, Partial)>> {
        self.ops
            .aggs
            .iter()
            .map(|a| match state.and_then(|s| s.windows.get(a.window)) {
                Some(WindowState::Sessions(sessions)) => {
                    sessions.last().and_then(|(start, end, p)| Some((*start, *end, p.get(a.slot)?.clone())))
                }
                _ => None,
            })
            .collect()
    }

    /// The empty partial of every aggregate (a key with no events in a layer).
    pub fn empty_partials(&self) -> Vec<Partial> {
        self.ops.aggs.iter().map(|a| Partial::new(a.spec, a.integer)).collect()
    }

    /// Merges another layer's partials into `into`, aggregate by aggregate.
    pub fn merge_partials(&self, into: &mut [Partial], from: &[Partial]) {
        for ((acc, p), a) in into.iter_mut().zip(from).zip(&self.ops.aggs) {
            acc.merge(a.spec, p);
        }
    }

    /// A feature vector from one partial per aggregate: each finalized, then the derived
    /// features.
    pub fn finish<P: std::borrow::Borrow<Partial>>(&self, partials: &[P]) -> Vec<Value> {
        let mut at = partials.iter().map(P::borrow);
        self.finish_with(|_| at.next())
    }

    /// [`GroupRuntime::finish`] with each aggregate's partial found by `partial`, called once
    /// per aggregate in the IR's order (`None`: the aggregate's value is null).
    fn finish_with<'p>(&self, partial: impl FnMut(&AggRuntime) -> Option<&'p Partial>) -> Vec<Value> {
        finish_on(&self.ops, &self.derived, self.outputs.len(), partial)
    }

    /// The group's whole state, keys in order, for a snapshot. Both paths give the same form,
    /// so a snapshot restores on either.
    pub fn snapshot(&self) -> GroupSnapshot {
        let mut keys: Vec<(Vec<Value>, KeyState)> = Vec::with_capacity(self.key_count());
        let done: Result<(), std::convert::Infallible> =
            self.states_in_chunks(4096, KeyOrder::Value, &|part| Ok(exported(part)), &mut |chunk| {
                keys.extend(chunk);
                Ok(())
            });
        let Ok(()) = done;
        GroupSnapshot { keys, ..self.snapshot_counters() }
    }

    /// A snapshot without keys: the group's name and counters.
    pub(crate) fn snapshot_counters(&self) -> GroupSnapshot {
        GroupSnapshot {
            name: self.name.clone(),
            keys: Vec::new(),
            dead_count: self.dead_written + self.dead_letters.len() as u64,
            accepted: self.counters().0,
        }
    }

    /// Every key's state as a pair of JSON texts `(key, state)`, keys in order: the rows of a
    /// stored batch view.
    pub fn state_rows(&self) -> Result<Vec<(String, String)>, String> {
        self.snapshot()
            .keys
            .iter()
            .map(|(k, s)| {
                Ok((
                    serde_json::to_string(k).map_err(|e| e.to_string())?,
                    serde_json::to_string(s).map_err(|e| e.to_string())?,
                ))
            })
            .collect()
    }

    /// Replaces the state with rows written by [`GroupRuntime::state_rows`].
    pub fn load_state_rows(&mut self, rows: &[(String, String)]) -> Result<(), String> {
        let keys = rows
            .iter()
            .map(|(k, s)| {
                Ok((
                    serde_json::from_str(k).map_err(|e| format!("bad key in a stored view: {e}"))?,
                    serde_json::from_str(s).map_err(|e| format!("bad state in a stored view: {e}"))?,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        self.restore(GroupSnapshot { name: self.name.clone(), keys, dead_count: 0, accepted: 0 });
        Ok(())
    }

    /// Replaces the state with a snapshot's.
    pub fn restore(&mut self, snapshot: GroupSnapshot) {
        self.epoch = next_epoch();
        let n = self.shards.len();
        for shard in &mut self.shards {
            shard.state = shard.state.emptied();
            shard.accepted = 0;
            shard.dead.clear();
        }
        for (key, state) in snapshot.keys {
            self.import_key(key, state, n);
        }
        self.dead_letters = Vec::new();
        self.dead_written = snapshot.dead_count;
        self.accepted = snapshot.accepted;
    }

    /// Loads the state of a key the group does not hold yet into its shard (of `n`); an error
    /// naming the key when it holds it already (the state it has is kept).
    pub(crate) fn import_new_key(&mut self, key: Vec<Value>, state: KeyState, n: usize) -> Result<(), String> {
        let held = match &self.shards.get(route::shard_of(&key, n)).map(|s| &s.state) {
            Some(Store::Rows(keys)) => keys.contains_key(&key),
            Some(Store::Columnar(c)) => c.keys.find(&key).is_some(),
            None => false,
        };
        if held {
            return Err(format!("key {key:?} is there already"));
        }
        self.import_key(key, state, n);
        Ok(())
    }

    /// Loads one key's state into its shard (of `n`), replacing any it had.
    pub(crate) fn import_key(&mut self, key: Vec<Value>, state: KeyState, n: usize) {
        let Some(shard) = self.shards.get_mut(route::shard_of(&key, n)) else { return };
        match &mut shard.state {
            Store::Rows(keys) => {
                keys.insert(key, state);
            }
            Store::Columnar(c) => c.import(&key, state),
        }
    }

    /// Adds events rejected before they reached the group (at decode).
    pub fn record_dead_letters(&mut self, dead: Vec<DeadLetter>) {
        self.dead_letters.extend(dead);
    }

    /// The dead letters since the state was opened (restored, or new) that were not taken.
    pub fn dead_letters(&self) -> &[DeadLetter] {
        &self.dead_letters
    }

    /// The dead letters not written yet, and the number of the first (every dead letter of the
    /// group's stream has a number from 0, the same on every replay), left in place: call
    /// [`GroupRuntime::written_dead_letters`] once they are durably written.
    pub fn pending_dead_letters(&self) -> (u64, &[DeadLetter]) {
        (self.dead_written, &self.dead_letters)
    }

    /// Marks the first `n` pending dead letters as written (see `pending_dead_letters`).
    pub fn written_dead_letters(&mut self, n: usize) {
        let n = n.min(self.dead_letters.len());
        self.dead_letters.drain(..n);
        self.dead_written += n as u64;
    }

    /// Events counted, and events dead-lettered.
    pub fn counters(&self) -> (u64, u64) {
        let accepted = self.accepted + self.shards.iter().map(|s| s.accepted).sum::<u64>();
        (accepted, self.dead_written + self.dead_letters.len() as u64)
    }

    /// The latest event time seen for a key.
    /// The latest event time of any key: how far the group's stream has come. `None` for a
    /// group without keys. One pass over the keys.
    pub fn high_water(&self) -> Option<i64> {
        self.shards
            .iter()
            .filter_map(|shard| match &shard.state {
                Store::Rows(state) => state.values().map(|s| s.max_ts).max(),
                Store::Columnar(c) => (0..c.keys.len() as u32).map(|id| c.keys.latest(id)).max(),
            })
            .max()
    }

    pub fn latest(&self, key: &[Value]) -> Option<i64> {
        match &self.shard(key)?.state {
            Store::Rows(state) => state.get(key).map(|s| s.max_ts),
            Store::Columnar(c) => c.keys.find(key).map(|id| c.keys.latest(id)),
        }
    }

    /// The names of the key columns, in key order.
    pub fn key_names(&self) -> Vec<&str> {
        self.ops.key_cols.iter().filter_map(|&i| self.columns.get(i).map(String::as_str)).collect()
    }

    /// How many keys have state.
    pub fn key_count(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| match &shard.state {
                Store::Rows(state) => state.len(),
                Store::Columnar(c) => c.keys.len(),
            })
            .sum()
    }

    /// Every key with state, in key order.
    pub fn keys(&self) -> Vec<Vec<Value>> {
        let mut keys: Vec<Vec<Value>> = Vec::with_capacity(self.key_count());
        for shard in &self.shards {
            match &shard.state {
                Store::Rows(state) => keys.extend(state.keys().cloned()),
                Store::Columnar(c) => keys.extend(c.key_list()),
            }
        }
        crate::value::sorted_by_key_values(keys, |k| k)
    }

    /// Bytes of per-key state the group holds (columnar path; `None` on the row path, whose
    /// per-key objects the allocator does not report).
    pub fn state_bytes(&self) -> Option<usize> {
        self.shards
            .iter()
            .map(|shard| match &shard.state {
                Store::Rows(_) => None,
                Store::Columnar(c) => Some(c.bytes()),
            })
            .sum()
    }

    /// [`GroupRuntime::state_bytes`] by part (summed over shards, in the order of the first):
    /// where a group's memory per key goes. Empty on the row path.
    pub fn state_bytes_by_part(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for shard in &self.shards {
            if let Store::Columnar(c) = &shard.state {
                for (name, bytes) in c.bytes_by_part() {
                    match out.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, b)) => *b += bytes,
                        None => out.push((name, bytes)),
                    }
                }
            }
        }
        out
    }
}

/// A feature vector of `width` features from the partial `partial` finds for each aggregate
/// (called once per aggregate, in the IR's order; `None`: the aggregate's value is null): each
/// finalized, then the derived features.
fn finish_on<'p>(
    ops: &Operators,
    derived: &[(usize, Compiled)],
    width: usize,
    mut partial: impl FnMut(&AggRuntime) -> Option<&'p Partial>,
) -> Vec<Value> {
    let mut vector = vec![Value::Null; width];
    for a in &ops.aggs {
        if let (Some(p), Some(i)) = (partial(a), a.output) {
            vector[i] = p.finalize(a.spec);
        }
    }
    for (i, expr) in derived {
        vector[*i] = expr.eval(&vector);
    }
    vector
}
