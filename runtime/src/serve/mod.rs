//! A running target (Kappa or Lambda) in, feature lookups as of request time out: the state
//! the pipeline keeps hot in memory, followed from the log in the background, answered without
//! replay. HTTP is in [`http`]; metrics in [`metrics`].
//!
//! **Now.** A lookup without `at` answers as of `now = min(wall clock, high water)`, where the
//! high water is the latest event time the group's stream has read, and never before the key's
//! own latest event (nor, under Lambda, the batch cutoff). So a key that went quiet decays as
//! the stream moves on; a stream replaying old events is answered as of how far it has come,
//! not as of an empty future. With `at`, the answer is as of that time, if the state holds it.

pub mod http;
pub mod metrics;
pub mod redis;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use featc::ir::{FeatureIr, Ty};

use crate::io::time::{parse_event_time, rfc3339};
use crate::operators::group::{GroupRuntime, StoredKey};
use crate::runners::kappa::json_value;
use crate::runners::reader::FeatureReader;
use crate::value::Value;

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
    Internal(String),
}

impl LookupError {
    pub fn status(&self) -> u16 {
        match self {
            LookupError::UnknownGroup(_) => 404,
            LookupError::TooEarly(_) => 422,
            LookupError::Unavailable(_) => 503,
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
}

/// Where lookups are answered from.
enum Backend {
    /// The pipeline runs in this process; its state answers (and, with a store, is published).
    Pipeline { reader: RwLock<SharedReader>, store: Option<redis::RedisStore> },
    /// Another process runs the pipeline and publishes to the store; this one only reads it,
    /// finalizing each key's partials with the groups' operators.
    Store { ir: FeatureIr, groups: Vec<GroupRuntime>, store: redis::RedisStore },
}

/// The serving state: where answers come from, what the pipeline has read, and the metrics.
pub struct Service {
    backend: Backend,
    progress: RwLock<Progress>,
    target: &'static str,
    pub metrics: metrics::Metrics,
    stop: AtomicBool,
    unpublished: AtomicBool,
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
        Service::with(Backend::Pipeline { reader: RwLock::new(reader), store }, groups, target)
    }

    /// A service that reads what another process's pipeline (of `target`) publishes to `store`.
    pub fn from_store(ir: FeatureIr, store: redis::RedisStore, target: &'static str) -> Result<Arc<Service>, String> {
        let groups = ir.groups.iter().map(|g| GroupRuntime::new(&ir, g)).collect::<Result<Vec<_>, _>>()?;
        let n = groups.len();
        let service = Service::with(Backend::Store { ir, groups, store }, n, target);
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
        })
    }

    /// Ready once the pipeline has read the logs to their end once.
    pub fn ready(&self) -> bool {
        self.progress.read().is_ok_and(|p| p.caught_up)
    }

    /// Reads what the logs hold now, and updates the progress; true when anything was read.
    pub fn catch_up(&self) -> Result<bool, String> {
        let Backend::Pipeline { reader, store } = &self.backend else { return Ok(false) };
        let mut reader = reader.write().map_err(|_| "the runner lock is poisoned".to_owned())?;
        let report = reader.catch_up(&mut |_| {})?;
        let backlog = reader.backlog()?;
        let high_water = (0..reader.ir().groups.len()).map(|g| reader.high_water(g)).collect();
        let mut p = self.progress.write().map_err(|_| "the progress lock is poisoned".to_owned())?;
        let read = report.events > 0 || !p.caught_up;
        p.caught_up = true;
        p.positions = reader.positions();
        p.high_water = high_water;
        p.events += report.events;
        p.dead_letters = report.dead_letters;
        p.backlog = backlog;
        self.metrics.observe_progress(p.events, p.dead_letters, p.backlog);
        // A publish that failed (Redis away) is reported and tried again on the next read,
        // events or not; what was read stays read (and is checkpointed).
        if let Some(store) = store
            && (read || self.unpublished.load(Ordering::Relaxed))
        {
            let published = store.publish(reader.as_ref(), &p.high_water);
            self.unpublished.store(published.is_err(), Ordering::Relaxed);
            if let Err(e) = published {
                eprintln!("featc serve: publishing to Redis failed (retrying): {e}");
            }
        }
        Ok(read)
    }

    /// Follows the logs until [`Service::shutdown`]: reads what arrives every `every`, and
    /// checkpoints (Kappa: a snapshot) at most every `checkpoint_every` when anything was read.
    pub fn follow(self: &Arc<Self>, every: Duration, checkpoint_every: Duration) -> std::thread::JoinHandle<()> {
        let service = Arc::clone(self);
        std::thread::spawn(move || {
            let mut dirty = false;
            let mut last = Instant::now();
            while !service.stop.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                match service.catch_up() {
                    Ok(read) => dirty |= read,
                    Err(e) => eprintln!("featc serve: reading the logs failed (retrying): {e}"),
                }
                if dirty && last.elapsed() >= checkpoint_every {
                    match service.checkpoint() {
                        Ok(()) => dirty = false,
                        Err(e) => eprintln!("featc serve: checkpoint failed (retrying): {e}"),
                    }
                    last = Instant::now();
                }
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

    /// Puts a runner of a new spec version in place of the one serving, at once: a lookup
    /// holds the runner for its whole answer, so each vector comes from one version. The new
    /// runner should have caught up first (see `featc serve`'s reprocessing).
    pub fn swap(&self, new: SharedReader) -> Result<(), String> {
        let Backend::Pipeline { reader, .. } = &self.backend else {
            return Err("a server reading a store runs no pipeline to swap".to_owned());
        };
        let mut reader = reader.write().map_err(|_| "the runner lock is poisoned".to_owned())?;
        let groups = new.ir().groups.len();
        *reader = new;
        drop(reader);
        if let Ok(mut p) = self.progress.write() {
            p.high_water = vec![None; groups];
            p.caught_up = false;
        }
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

    /// Answers one lookup as of `at`, or as of now (`wall_ms`, see the module's note).
    pub fn lookup(&self, lookup: &Lookup, wall_ms: i64) -> Result<serde_json::Value, LookupError> {
        let poisoned = || LookupError::Internal("a lock is poisoned".to_owned());
        match &self.backend {
            Backend::Pipeline { reader, .. } => {
                let reader = reader.read().map_err(|_| poisoned())?;
                let (gi, key, at) = resolve(reader.ir(), lookup)?;
                let progress = self.progress.read().map_err(|_| poisoned())?;
                let found = reader.present(gi, &key).map(|present| Found {
                    present,
                    high_water: progress.high_water.get(gi).copied().flatten(),
                    vector: Box::new(|t| reader.lookup(gi, &key, t).map(Option::unwrap_or_default)),
                });
                let meta = Meta { positions: progress.positions.clone(), cutoff: reader.cutoff() };
                self.answer(reader.ir(), gi, lookup, at, wall_ms, meta, found)
            }
            Backend::Store { ir, groups, store } => {
                let (gi, key, at) = resolve(ir, lookup)?;
                let key_json = serde_json::to_string(&key).map_err(|e| LookupError::Internal(e.to_string()))?;
                let lambda = self.target == "lambda";
                let layers: &[&str] = if lambda { &["view", "delta", "speed"] } else { &["state"] };
                let stored = store.read(ir, gi, &key_json, layers).map_err(LookupError::Unavailable)?;
                let states = stored
                    .states
                    .iter()
                    .map(|s| s.as_deref().map(StoredKey::parse).transpose())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(LookupError::Internal)?;
                let latest = states.iter().flatten().map(StoredKey::latest).max();
                let template = &groups[gi];
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
                                states
                                    .get(i)
                                    .and_then(Option::as_ref)
                                    .map(|s| template.partials_stored(s, at))
                                    .transpose()
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
                let meta = Meta { positions: stored.offsets, cutoff: stored.cutoff };
                self.answer(ir, gi, lookup, at, wall_ms, meta, found)
            }
        }
    }

    /// The answer's JSON, as of `at` or now, from what a backend found.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        ir: &FeatureIr,
        gi: usize,
        lookup: &Lookup,
        at: Option<i64>,
        wall_ms: i64,
        meta: Meta,
        found: Option<Found<'_>>,
    ) -> Result<serde_json::Value, LookupError> {
        let group = &ir.groups[gi];
        let mut out = serde_json::json!({
            "group": group.name,
            "version": group.version,
            "target": self.target,
            "key": lookup.key,
            "offsets": meta.positions.iter().map(|(t, o)| (t.clone(), serde_json::Value::from(*o))).collect::<serde_json::Map<_, _>>(),
        });
        if let Some(cutoff) = meta.cutoff {
            out["batch_cutoff"] = serde_json::Value::String(rfc3339(cutoff));
        }
        let Some(found) = found else {
            out["found"] = serde_json::Value::Bool(false);
            return Ok(out);
        };
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
        let vector = (found.vector)(t).map_err(LookupError::Internal)?;
        let features: serde_json::Map<String, serde_json::Value> =
            group.outputs.iter().cloned().zip(vector.iter().map(json_value)).collect();
        out["found"] = serde_json::Value::Bool(true);
        out["as_of"] = serde_json::Value::String(rfc3339(t));
        out["features"] = serde_json::Value::Object(features);
        Ok(out)
    }

    /// The groups served and their key fields.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let list = |ir: &FeatureIr| {
            ir.groups.iter().map(|g| (g.name.clone(), g.keys.iter().map(|k| k.name.clone()).collect())).collect()
        };
        match &self.backend {
            Backend::Pipeline { reader, .. } => reader.read().map_or_else(|_| Vec::new(), |r| list(r.ir())),
            Backend::Store { ir, .. } => list(ir),
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
struct Meta {
    positions: Vec<(String, u64)>,
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
