//! A project and its data in, every feature value on which Lambda, Kappa and the independent
//! reference disagree out, each marked explained (by late events) or not: `featc verify`.
//!
//! Kappa replays the log from offset 0 (ignoring any snapshot); Lambda computes a batch view at
//! the cutoff in memory and replays the log after it; the reference (`featc-reference`, which
//! shares no code with the runtime) reads every event of the log. Each key is queried at its
//! latest event (or the cutoff, if later), at the next pane edges and a day after. A value that
//! disagrees with the reference over every event is explained only when it agrees with the
//! reference over the events that target did count (every event but the ones it dead-lettered
//! as late); otherwise it is unexplained. `batch` features under Lambda are held to the
//! reference as of the cutoff (stale by design). Keys a target has and the reference lacks are
//! reported too.

use std::path::Path;

use featc::ir::{FeatureIr, MergeRule, WindowSpec};
use featc_reference::{Event, Expected, Oracle, Val, agrees};

use crate::operators::decode;
use crate::operators::group::{DeadLetter, GroupRuntime};
use crate::runners::kappa::KappaRunner;
use crate::runners::lambda::{LambdaRunner, batch};
use crate::value::Value;

/// One value on which a target and the reference disagree.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Difference {
    pub group: String,
    pub key: Vec<Value>,
    pub feature: String,
    pub at: i64,
    pub lambda: Value,
    pub kappa: Value,
    /// What the definitions give over every event: as of `at`, or as of the cutoff for a
    /// `batch` feature under Lambda.
    pub reference: String,
    /// Late events dead-lettered for this key.
    pub late_events: usize,
    /// Whether each differing target agrees with the reference over the events it counted.
    pub explained: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    pub cutoff: i64,
    pub events: u64,
    pub keys: u64,
    /// Feature values compared (per target).
    pub compared: u64,
    pub differences: Vec<Difference>,
    /// Late events, per group: `(group, reason, row)`.
    pub late: Vec<(String, String, Vec<Value>)>,
}

impl VerifyReport {
    /// Differences no late event explains.
    pub fn unexplained(&self) -> usize {
        self.differences.iter().filter(|d| !d.explained).count()
    }
}

fn floor(t: i64, w: u64) -> i64 {
    let w = i64::try_from(w).unwrap_or(i64::MAX).max(1);
    t - t.rem_euclid(w)
}

/// The query times of a key whose latest event is at `t0`: then, the next edge of each
/// window's panes (and just before it), and a day later.
fn probes(windows: &[WindowSpec], t0: i64) -> Vec<i64> {
    let mut times = vec![t0, t0.saturating_add(86_400_000)];
    for w in windows {
        let edge = match *w {
            WindowSpec::Tumbling { size_ms } => Some(floor(t0, size_ms) + size_ms as i64),
            WindowSpec::Sliding { hop_ms, .. } => Some(floor(t0, hop_ms) + hop_ms as i64),
            WindowSpec::Session { gap_ms } => Some(t0 + gap_ms as i64 + 1),
            WindowSpec::Lifetime => None,
        };
        if let Some(e) = edge {
            times.extend([e - 1, e]);
        }
    }
    times.sort_unstable();
    times.dedup();
    times.retain(|t| *t >= t0);
    times
}

/// A runtime value as the reference's.
pub fn to_val(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::I64(x) => Val::I64(*x),
        Value::F64(x) => Val::F64(*x),
        Value::Str(s) => Val::Str(s.to_string()),
        Value::Ts(t) => Val::Ts(*t),
        Value::List(items) => Val::List(items.iter().map(to_val).collect()),
    }
}

/// The rows of `all` less one occurrence of each row in `removed`.
fn without(all: &[Vec<Value>], removed: &[&DeadLetter]) -> Vec<Event> {
    let mut left: Vec<&Vec<Value>> = removed.iter().map(|d| &d.row).collect();
    all.iter()
        .filter(|row| match left.iter().position(|r| r == row) {
            Some(i) => {
                left.swap_remove(i);
                false
            }
            None => true,
        })
        .map(|row| Event { row: row.iter().map(to_val).collect() })
        .collect()
}

fn late(g: &GroupRuntime) -> Vec<&DeadLetter> {
    g.dead_letters().iter().filter(|d| d.reason.starts_with("late")).collect()
}

/// What `oracle` expects of `key` at `t`: over no events when the key has none by then.
fn expected_at(oracle: &Oracle<'_>, key: &[Val], t: i64) -> Result<Vec<Expected>, String> {
    match oracle.key_at(key, t)? {
        Some(v) => Ok(v),
        None => oracle.empty(),
    }
}

/// Whether `actual` agrees with the expectation of feature `i`.
fn holds(expected: &[Expected], i: usize, actual: &Value) -> bool {
    expected.get(i).is_some_and(|e| agrees(e, &to_val(actual)).is_ok())
}

/// The value in `slot`, computed by `make` the first time.
fn cached(
    slot: &mut Option<Vec<Expected>>,
    make: impl FnOnce() -> Result<Vec<Expected>, String>,
) -> Result<&[Expected], String> {
    if slot.is_none() {
        *slot = Some(make()?);
    }
    Ok(slot.as_deref().unwrap_or_default())
}

/// Runs both targets and the reference over the project's data (the logs under `data_dir`,
/// seeded from the history when empty). `cutoff` defaults to the batch layer's default;
/// `engine` computes the Lambda batch view.
pub fn verify(
    ir: &FeatureIr,
    project_dir: &Path,
    data_dir: &Path,
    cutoff: Option<i64>,
    engine: &crate::runners::lambda::Engine,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, String> {
    let (mut kappa, _) = KappaRunner::open_replay(ir.clone(), project_dir, data_dir, (i64::MIN, i64::MAX), None)?;
    let replay = kappa.catch_up(&mut *progress)?;
    let cutoff = match cutoff {
        Some(c) => c,
        None => batch::default_cutoff(ir, batch::latest_event(ir, project_dir)?.unwrap_or(0)),
    };
    let view = engine.compute(ir, project_dir, data_dir, cutoff, &mut *progress)?;
    let (mut lambda, _) = LambdaRunner::open(ir.clone(), project_dir, data_dir, view)?;
    lambda.catch_up(&mut *progress)?;

    // Every decoded event of each group, in log order.
    let kafka = crate::io::kafka::KafkaConfig::load_for(project_dir, data_dir)?;
    let mut rows: Vec<Vec<Vec<Value>>> = vec![Vec::new(); ir.groups.len()];
    for (si, source) in ir.sources.iter().enumerate() {
        let readers = batch::readers(ir, si);
        if readers.is_empty() {
            continue;
        }
        // The events in the stream's order, from the binding the runners read.
        let mut reader =
            crate::runners::kappa::stream_of(kafka.as_ref(), project_dir, data_dir, source, &mut Vec::new())?;
        while let Some((_, _, b)) = reader.next_batch()? {
            for (gi, fields) in &readers {
                rows[*gi].extend(decode::rows(&b, fields).0);
            }
        }
    }

    let mut report = VerifyReport { cutoff, events: replay.events, ..VerifyReport::default() };
    for (gi, g) in ir.groups.iter().enumerate() {
        let runtime = &kappa.groups()[gi];
        let kappa_late = late(runtime);
        let lambda_late: Vec<&DeadLetter> = lambda.speed_groups().get(gi).map(late).unwrap_or_default();
        let all = Oracle::new(ir, gi, &without(&rows[gi], &[]))?;
        let counted_by_kappa = Oracle::new(ir, gi, &without(&rows[gi], &kappa_late))?;
        let counted_by_lambda = Oracle::new(ir, gi, &without(&rows[gi], &lambda_late))?;
        // `speed` features come from a replay of their own, which judges lateness itself.
        let speed_late: Vec<&DeadLetter> =
            lambda.whole_window_groups().and_then(|s| s.get(gi)).map(late).unwrap_or_default();
        let counted_by_speed = Oracle::new(ir, gi, &without(&rows[gi], &speed_late))?;
        report.late.extend(kappa_late.iter().map(|d| (g.name.clone(), d.reason.clone(), d.row.clone())));
        let key_columns: Vec<usize> =
            g.keys.iter().filter_map(|k| g.columns.iter().position(|c| *c == k.name)).collect();
        let late_for = |key: &[Value]| {
            kappa_late.iter().filter(|d| key_columns.iter().map(|&i| d.row.get(i)).eq(key.iter().map(Some))).count()
        };
        let windows: Vec<WindowSpec> = g.windows.iter().map(|w| w.spec).collect();
        let empty = runtime.finish(&runtime.empty_partials());

        // Keys a target holds that the reference does not know.
        let known: Vec<Vec<Value>> = runtime.keys().into_iter().chain(lambda.keys(gi)).collect();
        for key in known {
            let k: Vec<Val> = key.iter().map(to_val).collect();
            if all.times(&k).is_empty() {
                report.differences.push(Difference {
                    group: g.name.clone(),
                    key: key.clone(),
                    feature: "(key)".to_owned(),
                    at: cutoff,
                    lambda: Value::Bool(lambda.latest(gi, &key).is_some()),
                    kappa: Value::Bool(runtime.latest(&key).is_some()),
                    reference: "no such key".to_owned(),
                    late_events: 0,
                    explained: false,
                });
            }
        }

        let keys: Vec<Vec<Val>> = all.keys().cloned().collect();
        for k in keys {
            report.keys += 1;
            let Some(&latest) = all.times(&k).last() else { continue };
            let key: Vec<Value> = key_value(&k);
            let late_here = late_for(&key);
            // What the definitions give over every event as of the cutoff: for `batch` features.
            let all_at_cutoff = expected_at(&all, &k, cutoff)?;
            for t in probes(&windows, latest.max(cutoff)) {
                let got_kappa = runtime.lookup(&key, t)?.unwrap_or_else(|| empty.clone());
                let got_lambda = lambda.lookup(gi, &key, t)?.unwrap_or_else(|| empty.clone());
                // Each expectation is computed once per key and time, and only if needed.
                let all_now = expected_at(&all, &k, t)?;
                let mut kappa_counted = None;
                let (mut lambda_counted, mut speed_counted) = (None, None);
                for (i, feature) in g.outputs.iter().enumerate() {
                    report.compared += 1;
                    let rule = g.aggregates.iter().find(|a| a.name == *feature).map(|a| a.merge);
                    let batch_rule = rule == Some(MergeRule::Batch);
                    let (lambda_t, lambda_all) = if batch_rule { (cutoff, &all_at_cutoff) } else { (t, &all_now) };
                    let (k_val, l_val) = (&got_kappa[i], &got_lambda[i]);
                    let kappa_ok = holds(&all_now, i, k_val);
                    let lambda_ok = holds(lambda_all, i, l_val);
                    if kappa_ok && lambda_ok {
                        continue;
                    }
                    let kappa_explained = kappa_ok || {
                        let v = cached(&mut kappa_counted, || expected_at(&counted_by_kappa, &k, t))?;
                        holds(v, i, k_val)
                    };
                    let lambda_explained = lambda_ok || {
                        let (cache, oracle) = if rule == Some(MergeRule::Speed) {
                            (&mut speed_counted, &counted_by_speed)
                        } else {
                            (&mut lambda_counted, &counted_by_lambda)
                        };
                        holds(cached(cache, || expected_at(oracle, &k, lambda_t))?, i, l_val)
                    };
                    let shown = if lambda_ok { &all_now } else { lambda_all };
                    report.differences.push(Difference {
                        group: g.name.clone(),
                        key: key.clone(),
                        feature: feature.clone(),
                        at: t,
                        lambda: l_val.clone(),
                        kappa: k_val.clone(),
                        reference: shown.get(i).map_or_else(|| "no value".to_owned(), Expected::to_string),
                        late_events: late_here,
                        explained: kappa_explained && lambda_explained,
                    });
                }
            }
        }
    }
    Ok(report)
}

/// A reference key as the runtime's.
fn key_value(key: &[Val]) -> Vec<Value> {
    key.iter()
        .map(|v| match v {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::I64(x) => Value::I64(*x),
            Val::F64(x) => Value::F64(*x),
            Val::Str(s) => Value::Str(std::sync::Arc::from(s.as_str())),
            Val::Ts(t) => Value::Ts(*t),
            Val::List(items) => Value::List(key_value(items).into()),
        })
        .collect()
}
