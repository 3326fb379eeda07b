//! Key states in, Redis hashes out, and back: the online store that several serving processes
//! share while one pipeline writes it.
//!
//! Layout, per group and *generation* (the group's version by meaning, and under Lambda the
//! batch view's cutoff: `<version>` or `<version>@<cutoff ms>`), so a spec edit or a batch
//! recompute writes beside the state being served: `<prefix>:<group>:<generation>:<layer>`, a
//! hash from the key (its JSON array of values) to the key's state in that layer (its
//! windows' partials, as JSON), the layer being `state` under Kappa and `view`, `delta`,
//! `speed` under Lambda; `<prefix>:<group>:<generation>:meta`, a hash with `high_water` (ms),
//! `offsets` (JSON) and, under Lambda, `cutoff` (ms); and `<prefix>:<group>:current`, the
//! generation being served. A new generation is written whole, then `current` is flipped to
//! it, and the old one expires after a grace period. A reader reads `current` and the key's
//! layers in one atomic script, so it never mixes generations. The store holds partials, not
//! finished values, so a reader finalizes as of its request's time. Keys and values are
//! arguments of Redis commands, never text formatted into a command.

use crate::operators::group::ChangeMark;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::runners::reader::FeatureReader;

/// How long a Redis call may take before the lookup fails with 503.
const TIMEOUT: Duration = Duration::from_millis(500);
/// Keys written per round trip.
const PIPELINE: usize = 1000;
/// How long an old generation stays readable after `current` moved on, in seconds: readers
/// that read `current` just before the flip finish on it.
const GRACE_SECONDS: i64 = 300;
/// Every layer name, for expiring a whole generation.
const LAYERS: [&str; 5] = ["state", "view", "delta", "speed", "meta"];

/// One lookup's read, atomic: the generation served (`current`), then the key's state in each
/// layer asked for and the generation's meta. KEYS[1]: `current`; ARGV: the group's prefix,
/// the key, the layers.
const READ_SCRIPT: &str = r"
local generation = redis.call('GET', KEYS[1])
if not generation then return {} end
local base = ARGV[1] .. ':' .. generation .. ':'
local out = {generation}
for i = 3, #ARGV do out[#out + 1] = redis.call('HGET', base .. ARGV[i], ARGV[2]) end
for _, field in ipairs({'high_water', 'offsets', 'cutoff'}) do
  out[#out + 1] = redis.call('HGET', base .. 'meta', field)
end
return out
";

/// A Redis online store.
pub struct RedisStore {
    client: redis::Client,
    prefix: String,
    idle: Mutex<Vec<redis::Connection>>,
    /// Where each layer's state stood when last written, by hash name: only the keys an event
    /// changed since are written again (every key for a new generation or a new runner).
    written: Mutex<HashMap<String, ChangeMark>>,
    /// The generation each group's `current` points to, as this process last set it.
    current: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish()
    }
}

/// What the store holds for one key.
#[derive(Debug)]
pub struct Stored {
    /// The group's version the pipeline serves (the generation's version).
    pub version: String,
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
            current: Mutex::new(HashMap::new()),
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

    fn name(&self, group: &str, generation: &str, what: &str) -> String {
        format!("{}:{group}:{generation}:{what}", self.prefix)
    }

    /// Writes the state of every key of every group that changed since the last call, then
    /// each group's meta; a group in a new generation (a new version, or under Lambda a new
    /// batch cutoff) is written whole, then served by flipping its `current`, and its old
    /// generation expires. Returns the keys written.
    pub fn publish(&self, reader: &dyn FeatureReader, high_water: &[Option<i64>]) -> Result<usize, String> {
        let ir = reader.ir();
        let offsets = serde_json::to_string(&reader.positions()).map_err(|e| e.to_string())?;
        let poisoned = || "the Redis store's lock is poisoned".to_owned();
        let mut written = self.written.lock().map_err(|_| poisoned())?;
        let mut current = self.current.lock().map_err(|_| poisoned())?;
        let generations: Vec<String> = ir.groups.iter().map(|g| generation(&g.version, reader.cutoff())).collect();
        let mut changed = Vec::new();
        let mut marks = Vec::new();
        for (gi, g) in ir.groups.iter().enumerate() {
            let since = |layer: &str| written.get(&self.name(&g.name, &generations[gi], layer)).copied();
            for layer in reader.state_layers(gi, &since)? {
                let name = self.name(&g.name, &generations[gi], layer.name);
                changed.extend(layer.rows.into_iter().map(|(key, state)| ((name.clone(), key), state)));
                marks.push((name, layer.mark));
            }
        }
        let mut con = self.connection()?;
        for part in changed.chunks(PIPELINE) {
            let mut pipe = redis::pipe();
            for ((name, key), state) in part {
                pipe.hset(name, key, state).ignore();
            }
            pipe.query::<()>(&mut con).map_err(|e| format!("Redis: {e}"))?;
        }
        let mut pipe = redis::pipe();
        for (gi, g) in ir.groups.iter().enumerate() {
            let meta = self.name(&g.name, &generations[gi], "meta");
            pipe.hset(&meta, "offsets", &offsets).ignore();
            if let Some(t) = high_water.get(gi).copied().flatten() {
                pipe.hset(&meta, "high_water", t).ignore();
            }
            if let Some(cutoff) = reader.cutoff() {
                pipe.hset(&meta, "cutoff", cutoff).ignore();
            }
        }
        pipe.query::<()>(&mut con).map_err(|e| format!("Redis: {e}"))?;
        // Flip `current` of the groups in a new generation, now that it is whole: all in one
        // transaction, so a reader never sees one group's new version beside another's old.
        let flips: Vec<(String, &String)> = ir
            .groups
            .iter()
            .zip(&generations)
            .filter(|(g, generation)| current.get(&g.name) != Some(*generation))
            .map(|(g, generation)| (g.name.clone(), generation))
            .collect();
        if !flips.is_empty() {
            // A generation served again (a spec rolled back) may still carry the expiry it was
            // given when it was left: it is kept for good again.
            let mut pipe = redis::pipe();
            for (group, generation) in &flips {
                for layer in LAYERS {
                    pipe.persist(self.name(group, generation, layer)).ignore();
                }
            }
            pipe.query::<()>(&mut con).map_err(|e| format!("Redis: {e}"))?;
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (group, generation) in &flips {
                pipe.cmd("SET").arg(format!("{}:{group}:current", self.prefix)).arg(*generation).arg("GET");
            }
            let old: Vec<Option<String>> = pipe.query(&mut con).map_err(|e| format!("Redis: {e}"))?;
            for (group, generation) in &flips {
                current.insert(group.clone(), (*generation).clone());
            }
            let mut pipe = redis::pipe();
            for ((group, generation), old) in flips.iter().zip(old) {
                let Some(old) = old.filter(|o| o != *generation) else { continue };
                for layer in LAYERS {
                    pipe.expire(self.name(group, &old, layer), GRACE_SECONDS).ignore();
                }
                let stale = self.name(group, &old, "");
                written.retain(|name, _| !name.starts_with(&stale));
            }
            pipe.query::<()>(&mut con).map_err(|e| format!("Redis: {e}"))?;
        }
        self.give_back(con);
        written.extend(marks);
        Ok(changed.len())
    }

    /// One key's state in each of `layers` and its group's meta, from the generation served,
    /// in one atomic round trip; `None` when the pipeline has published nothing for the group.
    pub fn read(&self, group: &str, key: &str, layers: &[&str]) -> Result<Option<Stored>, String> {
        let mut eval = redis::cmd("EVAL");
        eval.arg(READ_SCRIPT).arg(1).arg(format!("{}:{group}:current", self.prefix));
        eval.arg(format!("{}:{group}", self.prefix)).arg(key).arg(layers);
        let mut con = self.connection()?;
        let mut values: Vec<Option<String>> = eval.query(&mut con).map_err(|e| format!("Redis: {e}"))?;
        self.give_back(con);
        if values.len() != layers.len() + 4 {
            return Ok(None);
        }
        let number = |v: Option<String>| v.and_then(|v| v.parse::<i64>().ok());
        let cutoff = number(values.pop().flatten());
        let offsets = values.pop().flatten().and_then(|o| serde_json::from_str(&o).ok()).unwrap_or_default();
        let high_water = number(values.pop().flatten());
        let generation = values.remove(0).unwrap_or_default();
        let version = generation.split('@').next().unwrap_or_default().to_owned();
        Ok(Some(Stored { version, states: values, high_water, offsets, cutoff }))
    }
}

/// A group's generation: its version, and under Lambda the batch view's cutoff.
fn generation(version: &str, cutoff: Option<i64>) -> String {
    match cutoff {
        Some(c) => format!("{version}@{c}"),
        None => version.to_owned(),
    }
}
