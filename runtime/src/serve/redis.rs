//! Key states in, Redis hashes out, and back: the online store that several serving processes
//! share while one pipeline writes it.
//!
//! Layout, per group and version (the version by meaning, so a spec edit writes beside the old
//! state): `<prefix>:<group>:<version>:<layer>`, a hash from the key (its JSON array of values)
//! to the key's state in that layer (its windows' partials, as JSON), the layer being `state`
//! under Kappa and `view`, `delta`, `speed` under Lambda; and `<prefix>:<group>:<version>:meta`,
//! a hash with `high_water` (ms), `offsets` (JSON) and, under Lambda, `cutoff` (ms). The store holds partials, not finished
//! values, so a reader finalizes as of its request's time. Keys and values are arguments of
//! Redis commands, never text formatted into a command.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::Mutex;
use std::time::Duration;

use featc::ir::FeatureIr;

use crate::runners::reader::FeatureReader;

/// How long a Redis call may take before the lookup fails with 503.
const TIMEOUT: Duration = Duration::from_millis(500);
/// Keys written per round trip.
const PIPELINE: usize = 1000;

/// A Redis online store.
pub struct RedisStore {
    client: redis::Client,
    prefix: String,
    idle: Mutex<Vec<redis::Connection>>,
    /// A hash of each key state last written, by group: only changed keys are written again.
    written: Mutex<HashMap<(String, String), u64>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish()
    }
}

/// What the store holds for one key.
#[derive(Debug)]
pub struct Stored {
    /// The key's state in each layer asked for, in order.
    pub states: Vec<Option<String>>,
    pub high_water: Option<i64>,
    pub offsets: Vec<(String, u64)>,
    /// The batch view's cutoff (Lambda).
    pub cutoff: Option<i64>,
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`) and checks the server answers.
    pub fn open(url: &str, prefix: &str) -> Result<RedisStore, String> {
        let client = redis::Client::open(url).map_err(|e| format!("bad Redis URL `{url}`: {e}"))?;
        let store = RedisStore {
            client,
            prefix: prefix.to_owned(),
            idle: Mutex::new(Vec::new()),
            written: Mutex::new(HashMap::new()),
        };
        let mut con = store.connection()?;
        redis::cmd("PING").query::<String>(&mut con).map_err(|e| format!("Redis at {url} does not answer: {e}"))?;
        store.give_back(con);
        Ok(store)
    }

    fn connection(&self) -> Result<redis::Connection, String> {
        if let Some(con) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(con);
        }
        let con = self.client.get_connection_with_timeout(TIMEOUT).map_err(|e| format!("Redis: {e}"))?;
        con.set_read_timeout(Some(TIMEOUT)).map_err(|e| format!("Redis: {e}"))?;
        con.set_write_timeout(Some(TIMEOUT)).map_err(|e| format!("Redis: {e}"))?;
        Ok(con)
    }

    fn give_back(&self, con: redis::Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(con);
        }
    }

    fn name(&self, group: &str, version: &str, what: &str) -> String {
        format!("{}:{group}:{version}:{what}", self.prefix)
    }

    /// Writes the state of every key of every group that changed since the last call, then
    /// each group's meta. Returns the keys written.
    pub fn publish(&self, reader: &dyn FeatureReader, high_water: &[Option<i64>]) -> Result<usize, String> {
        let ir = reader.ir();
        let offsets = serde_json::to_string(&reader.positions()).map_err(|e| e.to_string())?;
        let mut written = self.written.lock().map_err(|_| "poisoned".to_owned())?;
        let mut changed = Vec::new();
        for (gi, g) in ir.groups.iter().enumerate() {
            for (layer, rows) in reader.state_layers(gi)? {
                let name = self.name(&g.name, &g.version, layer);
                for (key, state) in rows {
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    state.hash(&mut h);
                    let hash = h.finish();
                    let id = (name.clone(), key);
                    if written.get(&id) != Some(&hash) {
                        changed.push((id, state, hash));
                    }
                }
            }
        }
        let mut con = self.connection()?;
        for part in changed.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for ((name, key), state, _) in part {
                pipe.hset(name, key, state).ignore();
            }
            pipe.query::<()>(&mut con).map_err(|e| format!("Redis: {e}"))?;
        }
        let mut pipe = redis::pipe();
        for (gi, g) in ir.groups.iter().enumerate() {
            let meta = self.name(&g.name, &g.version, "meta");
            pipe.hset(&meta, "offsets", &offsets).ignore();
            if let Some(t) = high_water.get(gi).copied().flatten() {
                pipe.hset(&meta, "high_water", t).ignore();
            }
            if let Some(cutoff) = reader.cutoff() {
                pipe.hset(&meta, "cutoff", cutoff).ignore();
            }
        }
        pipe.query::<()>(&mut con).map_err(|e| format!("Redis: {e}"))?;
        self.give_back(con);
        let n = changed.len();
        for (id, _, hash) in changed {
            written.insert(id, hash);
        }
        Ok(n)
    }

    /// One key's state in each of `layers` and its group's meta, in one round trip.
    pub fn read(&self, ir: &FeatureIr, gi: usize, key: &str, layers: &[&str]) -> Result<Stored, String> {
        let g = &ir.groups[gi];
        let meta = self.name(&g.name, &g.version, "meta");
        let mut pipe = redis::pipe();
        for layer in layers {
            pipe.hget(self.name(&g.name, &g.version, layer), key);
        }
        pipe.hget(&meta, "high_water").hget(&meta, "offsets").hget(&meta, "cutoff");
        let mut con = self.connection()?;
        let mut values: Vec<Option<String>> = pipe.query(&mut con).map_err(|e| format!("Redis: {e}"))?;
        self.give_back(con);
        let number = |v: Option<String>| v.and_then(|v| v.parse::<i64>().ok());
        let cutoff = number(values.pop().flatten());
        let offsets = values.pop().flatten().and_then(|o| serde_json::from_str(&o).ok()).unwrap_or_default();
        let high_water = number(values.pop().flatten());
        Ok(Stored { states: values, high_water, offsets, cutoff })
    }
}
