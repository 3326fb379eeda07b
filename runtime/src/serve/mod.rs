//! A running target (Kappa or Lambda) in, feature lookups as of request time out: the state
//! the pipeline keeps hot in memory, followed from the log in the background, answered without
//! replay. HTTP is in [`http`]; metrics in [`metrics`].
//!
//! **Now.** A lookup without `at` answers as of `now = min(wall clock, high water)`, where the
//! high water is the latest event time the group's stream has read, and never before the key's
//! own latest event (nor, under Lambda, the batch cutoff). So a key that went quiet decays as
//! the stream moves on; a stream replaying old events is answered as of how far it has come,
//! not as of an empty future. With `at`, the answer is as of that time, if the state holds it.

mod answer;
pub mod http;
pub mod metrics;
pub mod redis;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use featc::ir::{FeatureIr, Ty};

use crate::io::time::{parse_event_time, rfc3339};

use crate::operators::group::{GroupRuntime, StoredKey};
use crate::runners::kappa::REPLAY_STEP;
use crate::runners::reader::FeatureReader;
use crate::value::Value;
pub use answer::{Answer, Features};

/// A runner that may be shared by the server's threads.
pub type SharedReader = Box<dyn FeatureReader + Send + Sync>;

/// One lookup: a group, its key fields by name, and optionally a time.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    pub group: String,
    #[serde(default)]
    pub key: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub at: Option<String>,
}

/// Why a lookup was refused: each a client error with its HTTP status, or an internal one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    UnknownGroup(String),
    MissingKey(String),
    ExtraKey(String),
    BadKey {
        field: String,
        why: String,
    },
    BadTime(String),
    /// The state no longer holds the time asked for.
    TooEarly(String),
    /// The online store did not answer in time.
    Unavailable(String),
    /// The pipeline has not read the logs to their end once yet (see `/readyz`).
    NotReady,
    Internal(String),
}

impl LookupError {
    pub fn status(&self) -> u16 {
        match self {
            LookupError::UnknownGroup(_) => 404,
            LookupError::TooEarly(_) => 422,
            LookupError::Unavailable(_) | LookupError::NotReady => 503,
            LookupError::Internal(_) => 500,
            _ => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            LookupError::UnknownGroup(_) => "unknown_group",
            LookupError::MissingKey(_) => "missing_key",
            LookupError::ExtraKey(_) => "extra_key",
            LookupError::BadKey { .. } => "bad_key",
            LookupError::BadTime(_) => "bad_time",
            LookupError::TooEarly(_) => "too_early",
            LookupError::Unavailable(_) => "store_unavailable",
            LookupError::NotReady => "not_ready",
            LookupError::Internal(_) => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            LookupError::UnknownGroup(g) => format!("no feature group `{g}`"),
            LookupError::MissingKey(k) => format!("the key field `{k}` is missing"),
            LookupError::ExtraKey(k) => format!("`{k}` is not a key field of this group"),
            LookupError::BadKey { field, why } => format!("key field `{field}`: {why}"),
            LookupError::BadTime(t) => format!("`{t}` is not an RFC 3339 time or epoch milliseconds"),
            LookupError::NotReady => "the pipeline is still reading the logs (see /readyz)".to_owned(),
            LookupError::TooEarly(why) | LookupError::Unavailable(why) | LookupError::Internal(why) => why.clone(),
        }
    }
}

/// What the pipeline has read, for readiness and lookups' metadata.
#[derive(Debug, Clone, Default)]
struct Progress {
    caught_up: bool,
    positions: Vec<(String, u64)>,
    high_water: Vec<Option<i64>>,
    events: u64,
    dead_letters: u64,
    backlog: u64,
    /// When `backlog` was last asked for.
    backlog_at: Option<Instant>,
}

impl Progress {
    /// The positions and high waters of `reader`, as it stands.
    fn refresh(&mut self, reader: &dyn FeatureReader) {
        self.positions = reader.positions();
        self.high_water = (0..reader.ir().groups.len()).map(|g| reader.high_water(g)).collect();
    }
}

/// Where lookups are answered from.
enum Backend {
    /// The pipeline runs in this process; its state answers (and, with a store, is published).
    Pipeline { reader: RwLock<SharedReader>, store: Option<redis::RedisStore> },
    /// Another process runs the pipeline and publishes to the store; this one only reads it,
    /// finalizing each key's partials with the groups' operators. When the pipeline serves a
    /// version this spec does not have, the spec is reloaded (`reload`) and swapped in.
    Store {
        spec: RwLock<StoreSpec>,
        store: redis::RedisStore,
        reload: Reload,
        reloaded: std::sync::Mutex<Option<Instant>>,
    },
}

/// Reads the project's spec again, for a server reading a store.
pub type Reload = Box<dyn Fn() -> Option<FeatureIr> + Send + Sync>;

/// The spec a server reading a store finalizes with.
struct StoreSpec {
    ir: FeatureIr,
    groups: Vec<GroupRuntime>,
}

impl StoreSpec {
    fn new(ir: FeatureIr) -> Result<StoreSpec, String> {
        let groups = ir.groups.iter().map(|g| GroupRuntime::new(&ir, g)).collect::<Result<Vec<_>, _>>()?;
        Ok(StoreSpec { ir, groups })
    }
}

/// The serving state: where answers come from, what the pipeline has read, and the metrics.
pub struct Service {
    backend: Backend,
    progress: RwLock<Progress>,
    target: &'static str,
    pub metrics: metrics::Metrics,
    stop: AtomicBool,
    /// A publish to the store failed, or a new version has not been published yet.
    unpublished: AtomicBool,
    /// Whether the store (if any) has been published to once: readiness.
    published_once: AtomicBool,
    /// Events were read since the last checkpoint.
    unsaved: AtomicBool,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("target", &self.target).finish()
    }
}

impl Service {
    /// A service over a pipeline run in this process; with `store`, each read it makes is
    /// published there.
    pub fn new(reader: SharedReader, target: &'static str, store: Option<redis::RedisStore>) -> Arc<Service> {
        let groups = reader.ir().groups.len();
        let publishes = store.is_some();
        let service = Service::with(Backend::Pipeline { reader: RwLock::new(reader), store }, groups, target);
        service.unpublished.store(publishes, Ordering::Relaxed);
        service.published_once.store(!publishes, Ordering::Relaxed);
        service
    }

    /// A service that reads what another process's pipeline (of `target`) publishes to `store`.
    /// `reload` reads the spec again when the pipeline has moved to a version this one lacks.
    pub fn from_store(
        ir: FeatureIr,
        store: redis::RedisStore,
        target: &'static str,
        reload: Reload,
    ) -> Result<Arc<Service>, String> {
        let n = ir.groups.len();
        let spec = RwLock::new(StoreSpec::new(ir)?);
        let reloaded = std::sync::Mutex::new(None);
        let service = Service::with(Backend::Store { spec, store, reload, reloaded }, n, target);
        if let Ok(mut p) = service.progress.write() {
            p.caught_up = true;
        }
        Ok(service)
    }

    fn with(backend: Backend, groups: usize, target: &'static str) -> Arc<Service> {
        let progress = Progress { high_water: vec![None; groups], ..Progress::default() };
        Arc::new(Service {
            backend,
            progress: RwLock::new(progress),
            target,
            metrics: metrics::Metrics::new(),
            stop: AtomicBool::new(false),
            unpublished: AtomicBool::new(false),
            published_once: AtomicBool::new(true),
            unsaved: AtomicBool::new(false),
        })
    }

    /// Ready once the pipeline has read the logs to their end once and, with a store, has
    /// published what it read there once (so a server reading the store finds it).
    pub fn ready(&self) -> bool {
        self.caught_up() && self.published_once.load(Ordering::Relaxed)
    }

    /// Whether the pipeline has read the logs to their end once: lookups are answered from then.
    fn caught_up(&self) -> bool {
        self.progress.read().is_ok_and(|p| p.caught_up)
    }

    /// Reads what the logs hold now, and updates the progress; true when anything was read.
    /// The runner is held for writing only while it reads; the store is published to under a
    /// read hold, so lookups go on meanwhile.
    pub fn catch_up(&self) -> Result<bool, String> {
        let Backend::Pipeline { reader, store } = &self.backend else { return Ok(false) };
        // Read in steps, the runner held for writing during each only: lookups are answered
        // between them (once ready), and a shutdown stops a long first replay at the next.
        let mut events = 0;
        let (read, caught_up) = loop {
            let mut reader = reader.write().map_err(|_| "the runner lock is poisoned".to_owned())?;
            let (report, drained) = match reader.step(REPLAY_STEP) {
                Ok(stepped) => stepped,
                Err(e) => {
                    // What earlier steps read is in the state: publish and checkpoint it on
                    // the next read even if that one brings nothing.
                    if events > 0 {
                        self.unpublished.store(true, Ordering::Relaxed);
                        self.unsaved.store(true, Ordering::Relaxed);
                    }
                    return Err(e);
                }
            };
            events += report.events;
            if report.events > 0 {
                self.unsaved.store(true, Ordering::Relaxed);
            }
            let stopping = self.stop.load(Ordering::Relaxed);
            let mut p = self.progress.write().map_err(|_| "the progress lock is poisoned".to_owned())?;
            // Each step's positions and high waters, so a lookup between steps is answered
            // with the offsets of the state it reads.
            p.refresh(reader.as_ref());
            p.events += report.events;
            p.dead_letters = report.dead_letters;
            if drained || stopping {
                let read = events > 0 || !p.caught_up;
                p.caught_up |= drained;
                // The lag (what arrived while this read ran), asked at most every 10 s: a broker
                // answers with a round trip per partition, queued behind the consumer's own
                // long-polling fetches.
                if p.backlog_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    p.backlog = reader.backlog()?;
                    p.backlog_at = Some(Instant::now());
                }
                self.metrics.observe_progress(p.events, p.dead_letters, p.backlog, reader.cutoff());
                break (read, p.caught_up);
            }
        };
        // A publish that failed (Redis away) is reported and tried again on the next read,
        // events or not; what was read stays read (and is checkpointed).
        // Never a state the logs were not read to the end for (a shutdown during the first
        // replay): readers of the store would be moved to a partial generation.
        if let Some(store) = store
            && caught_up
            && (read || self.unpublished.load(Ordering::Relaxed))
        {
            let reader = reader.read().map_err(|_| "the runner lock is poisoned".to_owned())?;
            let high_water = self.progress.read().map(|p| p.high_water.clone()).unwrap_or_default();
            let published = store.publish(reader.as_ref(), &high_water);
            self.unpublished.store(published.is_err(), Ordering::Relaxed);
            if published.is_ok() {
                self.published_once.store(true, Ordering::Relaxed);
            }
            if let Err(e) = published {
                tracing::warn!("publishing to Redis failed (retrying): {e}");
            }
        }
        Ok(read)
    }

    /// Follows the logs until [`Service::shutdown`]: reads them to their end at once (the
    /// server is not ready until then), then reads what arrives every `every`, and
    /// checkpoints (Kappa: a snapshot) at most every `checkpoint_every` when anything was read.
    pub fn follow(self: &Arc<Self>, every: Duration, checkpoint_every: Duration) -> std::thread::JoinHandle<()> {
        let service = Arc::clone(self);
        std::thread::spawn(move || {
            let mut last = Instant::now();
            let started = Instant::now();
            while !service.stop.load(Ordering::Relaxed) {
                let was_ready = service.ready();
                let was_caught_up = service.caught_up();
                if let Err(e) = service.catch_up() {
                    tracing::warn!("reading the logs failed (retrying): {e}");
                }
                if !was_caught_up && service.caught_up() {
                    let events = service.progress.read().map(|p| p.events).unwrap_or_default();
                    tracing::info!("caught up: {events} events read in {:.2} s", started.elapsed().as_secs_f64());
                }
                if !was_ready && service.ready() {
                    tracing::info!("ready");
                }
                if service.unsaved.load(Ordering::Relaxed) && last.elapsed() >= checkpoint_every {
                    match service.checkpoint() {
                        Ok(()) => service.unsaved.store(false, Ordering::Relaxed),
                        Err(e) => tracing::warn!("checkpoint failed (retrying): {e}"),
                    }
                    last = Instant::now();
                }
                std::thread::sleep(every);
            }
        })
    }

    /// The spec the pipeline runs (its `spec_hash`), or `None` for a server reading a store.
    pub fn spec_hash(&self) -> Option<String> {
        match &self.backend {
            Backend::Pipeline { reader, .. } => reader.read().ok().map(|r| r.ir().spec_hash.clone()),
            Backend::Store { .. } => None,
        }
    }

    /// The batch cutoff of the view serving (Lambda), or `None`.
    pub fn cutoff(&self) -> Option<i64> {
        match &self.backend {
            Backend::Pipeline { reader, .. } => reader.read().ok().and_then(|r| r.cutoff()),
            Backend::Store { .. } => None,
        }
    }

    /// Puts a runner of a new spec version in place of the one serving, at once: a lookup
    /// holds the runner for its whole answer, so each vector comes from one version. The new
    /// runner should have caught up first (see `featc serve`'s reprocessing).
    pub fn swap(&self, new: SharedReader) -> Result<(), String> {
        let Backend::Pipeline { reader, .. } = &self.backend else {
            return Err("a server reading a store runs no pipeline to swap".to_owned());
        };
        let mut reader = reader.write().map_err(|_| "the runner lock is poisoned".to_owned())?;
        let mut p = self.progress.write().map_err(|_| "the progress lock is poisoned".to_owned())?;
        p.refresh(new.as_ref());
        self.metrics.observe_progress(p.events, p.dead_letters, p.backlog, new.cutoff());
        *reader = new;
        drop((p, reader));
        // Publishes the new version at once (its keys in the store are its own).
        self.unpublished.store(true, Ordering::Relaxed);
        self.catch_up().map(drop)
    }

    /// Makes the state read so far durable.
    pub fn checkpoint(&self) -> Result<(), String> {
        match &self.backend {
            Backend::Pipeline { reader, .. } => {
                reader.write().map_err(|_| "the runner lock is poisoned".to_owned())?.checkpoint()
            }
            Backend::Store { .. } => Ok(()),
        }
    }

    /// Stops following; the caller joins the thread and checkpoints.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Answers one lookup at once when that cannot block: from the pipeline's state while no
    /// read of the logs holds it, handing the answer to `f` (as [`Service::lookup_with`]).
    /// `None`: answer with [`Service::lookup_with`] off the async workers (the runner is being
    /// written, or the answer comes from Redis).
    pub fn lookup_now<R>(
        &self,
        lookup: &Lookup,
        wall_ms: i64,
        f: impl FnOnce(Answer<'_>) -> R,
    ) -> Option<Result<R, LookupError>> {
        let Backend::Pipeline { reader, .. } = &self.backend else { return None };
        if !self.caught_up() {
            return Some(Err(LookupError::NotReady));
        }
        match reader.try_read() {
            Ok(reader) => Some(self.lookup_in(reader.as_ref(), lookup, wall_ms, f)),
            Err(std::sync::TryLockError::WouldBlock) => None,
            Err(std::sync::TryLockError::Poisoned(_)) => {
                Some(Err(LookupError::Internal("a lock is poisoned".to_owned())))
            }
        }
    }

    /// One lookup from the pipeline's runner, held for the whole answer (one version).
    fn lookup_in<R>(
        &self,
        reader: &dyn FeatureReader,
        lookup: &Lookup,
        wall_ms: i64,
        f: impl FnOnce(Answer<'_>) -> R,
    ) -> Result<R, LookupError> {
        let (gi, key, at) = resolve(reader.ir(), lookup)?;
        let progress = self.progress.read().map_err(|_| LookupError::Internal("a lock is poisoned".to_owned()))?;
        let found = reader.present(gi, &key).map(|present| Found {
            present,
            high_water: progress.high_water.get(gi).copied().flatten(),
            vector: Box::new(|t| reader.lookup(gi, &key, t).map(Option::unwrap_or_default)),
        });
        let meta = Meta { positions: Cow::Borrowed(&progress.positions), cutoff: reader.cutoff() };
        self.answer(reader.ir(), gi, lookup, at, wall_ms, meta, found).map(f)
    }

    /// Answers one lookup as of `at`, or as of now (`wall_ms`, see the module's note).
    pub fn lookup(&self, lookup: &Lookup, wall_ms: i64) -> Result<Answer<'static>, LookupError> {
        self.lookup_with(lookup, wall_ms, |a| a.into_owned())
    }

    /// [`Service::lookup`], handing the answer to `f` while the state it borrows from is held
    /// (the server writes its JSON there, copying nothing).
    pub fn lookup_with<R>(
        &self,
        lookup: &Lookup,
        wall_ms: i64,
        f: impl FnOnce(Answer<'_>) -> R,
    ) -> Result<R, LookupError> {
        let poisoned = || LookupError::Internal("a lock is poisoned".to_owned());
        match &self.backend {
            Backend::Pipeline { reader, .. } => {
                if !self.caught_up() {
                    return Err(LookupError::NotReady);
                }
                let reader = reader.read().map_err(|_| poisoned())?;
                self.lookup_in(reader.as_ref(), lookup, wall_ms, f)
            }
            Backend::Store { spec, store, reload, reloaded } => {
                // Reads the project's spec again (at most once a second, whichever lookups ask)
                // and swaps it in when it has `wanted`: a group's version the pipeline serves.
                let try_reload = |wanted: &dyn Fn(&FeatureIr) -> bool| -> Result<bool, LookupError> {
                    let mut last = reloaded.lock().map_err(|_| poisoned())?;
                    if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                        return Ok(false);
                    }
                    *last = Some(Instant::now());
                    let Some(ir) = reload().filter(|ir| wanted(ir)) else { return Ok(false) };
                    *spec.write().map_err(|_| poisoned())? = StoreSpec::new(ir).map_err(LookupError::Internal)?;
                    Ok(true)
                };
                let mut tried = false;
                loop {
                    let held = spec.read().map_err(|_| poisoned())?;
                    let (gi, key, at) = match resolve(&held.ir, lookup) {
                        Err(LookupError::UnknownGroup(name)) if !tried => {
                            // A group a spec edit added, perhaps.
                            drop(held);
                            tried = true;
                            if try_reload(&|ir| ir.groups.iter().any(|g| g.name == name))? {
                                continue;
                            }
                            return Err(LookupError::UnknownGroup(name));
                        }
                        other => other?,
                    };
                    let key_json = serde_json::to_string(&key).map_err(|e| LookupError::Internal(e.to_string()))?;
                    let layers: &[&str] =
                        if self.target == "lambda" { &["view", "delta", "speed"] } else { &["state"] };
                    let group = &held.ir.groups[gi];
                    let stored = store
                        .read(&group.name, &key_json, layers)
                        .map_err(LookupError::Unavailable)?
                        .ok_or(LookupError::NotReady)?;
                    if stored.version == group.version {
                        return self.answer_stored(&held, gi, lookup, at, wall_ms, stored).map(f);
                    }
                    // The pipeline serves another version: read the spec again.
                    let (name, serving, have) = (group.name.clone(), stored.version, group.version.clone());
                    drop(held);
                    if !tried {
                        tried = true;
                        if try_reload(&|ir| ir.groups.iter().any(|g| g.name == name && g.version == serving))? {
                            continue;
                        }
                    }
                    return Err(LookupError::Unavailable(format!(
                        "the pipeline serves version {serving} of group `{name}`; this server's spec has {have}"
                    )));
                }
            }
        }
    }

    /// The answer from a key's partials read from the store, finalized (and under Lambda
    /// merged) with the group's operators.
    fn answer_stored<'a>(
        &self,
        spec: &'a StoreSpec,
        gi: usize,
        lookup: &'a Lookup,
        at: Option<i64>,
        wall_ms: i64,
        stored: redis::Stored,
    ) -> Result<Answer<'a>, LookupError> {
        let ir = &spec.ir;
        let lambda = self.target == "lambda";
        let states = stored
            .states
            .iter()
            .map(|s| s.as_deref().map(StoredKey::parse).transpose())
            .collect::<Result<Vec<_>, _>>()
            .map_err(LookupError::Internal)?;
        let latest = states.iter().flatten().map(StoredKey::latest).max();
        let template = &spec.groups[gi];
        let found = match (lambda, stored.cutoff) {
            (false, _) => latest.map(|present| Found {
                present,
                high_water: stored.high_water,
                vector: Box::new(move |t| match states.first() {
                    Some(Some(state)) => template.lookup_stored(state, t),
                    _ => Ok(Vec::new()),
                }),
            }),
            (true, Some(cutoff)) => latest.map(|latest| Found {
                present: latest.max(cutoff),
                high_water: stored.high_water,
                vector: Box::new(move |t| {
                    let partials = |i: usize, at: i64| -> Result<_, String> {
                        states.get(i).and_then(Option::as_ref).map(|s| template.partials_stored(s, at)).transpose()
                    };
                    let layers = crate::runners::lambda::merge::Layers {
                        at_cutoff: partials(0, cutoff)?,
                        batch_now: partials(0, t)?,
                        after: partials(1, t)?,
                        speed: partials(2, t)?,
                        batch_sessions: template.last_sessions_stored(states.first().and_then(Option::as_ref)),
                        delta_sessions: template.last_sessions_stored(states.get(1).and_then(Option::as_ref)),
                    };
                    crate::runners::lambda::merge::merge(&ir.groups[gi], template, layers, t)
                        .map(Option::unwrap_or_default)
                }),
            }),
            (true, None) => None,
        };
        let meta = Meta { positions: Cow::Owned(stored.offsets), cutoff: stored.cutoff };
        self.answer(ir, gi, lookup, at, wall_ms, meta, found)
    }

    /// The answer's JSON, as of `at` or now, from what a backend found.
    #[allow(clippy::too_many_arguments)]
    fn answer<'a>(
        &self,
        ir: &'a FeatureIr,
        gi: usize,
        lookup: &'a Lookup,
        at: Option<i64>,
        wall_ms: i64,
        meta: Meta<'a>,
        found: Option<Found<'_>>,
    ) -> Result<Answer<'a>, LookupError> {
        let group = &ir.groups[gi];
        let mut out = Answer {
            group: Cow::Borrowed(&group.name),
            version: Cow::Borrowed(&group.version),
            target: self.target,
            key: Cow::Borrowed(&lookup.key),
            offsets: meta.positions,
            batch_cutoff: meta.cutoff,
            found: false,
            as_of: None,
            features: None,
        };
        let Some(found) = found else { return Ok(out) };
        let t = match at {
            Some(t) if t < found.present => {
                return Err(LookupError::TooEarly(format!(
                    "the state of this key holds times from {} on (its latest event{}); for earlier times use `featc materialize --at`",
                    rfc3339(found.present),
                    if meta.cutoff.is_some() { " or the batch cutoff" } else { "" }
                )));
            }
            Some(t) => t,
            None => wall_ms.min(found.high_water.unwrap_or(found.present)).max(found.present),
        };
        let values = (found.vector)(t).map_err(LookupError::Internal)?;
        out.found = true;
        out.as_of = Some(t);
        out.features = Some(Features { names: Cow::Borrowed(&group.outputs), values });
        Ok(out)
    }

    /// The groups served and their key fields.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let list = |ir: &FeatureIr| {
            ir.groups.iter().map(|g| (g.name.clone(), g.keys.iter().map(|k| k.name.clone()).collect())).collect()
        };
        match &self.backend {
            Backend::Pipeline { reader, .. } => reader.read().map_or_else(|_| Vec::new(), |r| list(r.ir())),
            Backend::Store { spec, .. } => spec.read().map_or_else(|_| Vec::new(), |s| list(&s.ir)),
        }
    }
}

/// What a backend knows of a key: the earliest time it answers for, how far the stream has
/// come, and the vector as of a time.
struct Found<'a> {
    present: i64,
    high_water: Option<i64>,
    vector: Box<dyn FnOnce(i64) -> Result<Vec<Value>, String> + 'a>,
}

/// A lookup's metadata from the backend.
struct Meta<'a> {
    positions: Cow<'a, [(String, u64)]>,
    cutoff: Option<i64>,
}

/// The group, typed key and time a lookup names.
fn resolve(ir: &FeatureIr, lookup: &Lookup) -> Result<(usize, Vec<Value>, Option<i64>), LookupError> {
    let gi = ir
        .groups
        .iter()
        .position(|g| g.name == lookup.group)
        .ok_or_else(|| LookupError::UnknownGroup(lookup.group.clone()))?;
    let key = typed_key(ir, gi, &lookup.key)?;
    let at = match &lookup.at {
        None => None,
        Some(t) => Some(parse_event_time(t).ok_or_else(|| LookupError::BadTime(t.clone()))?),
    };
    Ok((gi, key, at))
}

/// The key of group `gi` from named JSON values: every key field, nothing else, each of its
/// type (a string is accepted for a number or a bool, as query strings carry them).
fn typed_key(
    ir: &FeatureIr,
    gi: usize,
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<Vec<Value>, LookupError> {
    let fields = &ir.groups[gi].keys;
    if let Some(extra) = given.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
        return Err(LookupError::ExtraKey(extra.clone()));
    }
    fields
        .iter()
        .map(|f| {
            let v = given.get(&f.name).ok_or_else(|| LookupError::MissingKey(f.name.clone()))?;
            let bad = |why: &str| LookupError::BadKey { field: f.name.clone(), why: why.to_owned() };
            match (&f.ty.ty, v) {
                (Ty::String, serde_json::Value::String(s)) => Ok(Value::Str(Arc::from(s.as_str()))),
                (Ty::I64, serde_json::Value::Number(n)) => n.as_i64().map(Value::I64).ok_or_else(|| bad("not an i64")),
                (Ty::I64, serde_json::Value::String(s)) => s.parse().map(Value::I64).map_err(|_| bad("not an i64")),
                (Ty::Bool, serde_json::Value::Bool(b)) => Ok(Value::Bool(*b)),
                (Ty::Bool, serde_json::Value::String(s)) => s.parse().map(Value::Bool).map_err(|_| bad("not a bool")),
                (Ty::String, _) => Err(bad("not a string")),
                _ => Err(bad(&format!("a {} key is not served", f.ty.ty))),
            }
        })
        .collect()
}
