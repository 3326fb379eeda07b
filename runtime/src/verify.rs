//! A project and its data in, every feature value on which Lambda, Kappa and the brute-force
//! reference disagree out, with the late events that explain a difference: `featc verify`.
//!
//! Kappa replays the log from offset 0 (ignoring any snapshot); Lambda computes a batch view at
//! the cutoff in memory and replays the log after it; the reference reads every event of the
//! log. Each key is queried at its latest event (or the cutoff, if later) and at the next pane
//! edges and a day after. Kappa is held to the reference at each time; Lambda too, except that
//! `batch` features are held to the reference as of the cutoff (stale by design).

use std::path::Path;

use featc::check::WindowSpec;
use featc::ir::FeatureIr;
use featc::syntax::ast::MergeRule;

use crate::decode;
use crate::kappa::KappaRunner;
use crate::lambda::{LambdaRunner, batch};
use crate::log::{EventSource, Log};
use crate::reference::Reference;
use crate::value::Value;

/// One value on which the targets or the reference disagree.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Difference {
    pub group: String,
    pub key: Vec<Value>,
    pub feature: String,
    pub at: i64,
    pub lambda: Value,
    pub kappa: Value,
    /// What the definitions give: as of `at`, or as of the cutoff for a `batch` feature under
    /// Lambda.
    pub reference: Value,
    /// Late events Kappa dead-lettered for this key: the documented reason the targets differ
    /// until the next batch run.
    pub late_events: usize,
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
        self.differences.iter().filter(|d| d.late_events == 0).count()
    }
}

fn floor(t: i64, w: u64) -> i64 {
    let w = i64::try_from(w).unwrap_or(i64::MAX).max(1);
    t - t.rem_euclid(w)
}

/// The query times of a key whose latest event is at `t0`: then, the next edge of each
/// window's panes (and just before it), and a day later.
fn probes(windows: &[WindowSpec], t0: i64) -> Vec<i64> {
    let mut times = vec![t0, t0 + 86_400_000];
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

/// Runs both targets and the reference over the project's data (the logs under `data_dir`,
/// seeded from the history when empty). `cutoff` defaults to the batch layer's default.
pub fn verify(
    ir: &FeatureIr,
    project_dir: &Path,
    data_dir: &Path,
    cutoff: Option<i64>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, String> {
    let (mut kappa, _) = KappaRunner::open_as_of(ir.clone(), project_dir, data_dir, i64::MAX)?;
    let replay = kappa.catch_up(&mut *progress)?;
    let cutoff = match cutoff {
        Some(c) => c,
        None => batch::default_cutoff(ir, batch::latest_event(ir, project_dir)?.unwrap_or(0)),
    };
    let view = batch::compute(ir, project_dir, cutoff, &mut *progress)?;
    let (mut lambda, _) = LambdaRunner::open(ir.clone(), project_dir, data_dir, view)?;
    lambda.catch_up(&mut *progress)?;

    let mut reference = Reference::new(ir)?;
    for (si, source) in ir.sources.iter().enumerate() {
        let readers = batch::readers(ir, si);
        if readers.is_empty() {
            continue;
        }
        let mut reader = Log::open(&data_dir.join("log"), &source.topic)?.reader(0);
        while let Some((_, b)) = reader.next_batch()? {
            for (gi, fields) in &readers {
                decode::rows(&b, fields).0.into_iter().for_each(|row| reference.add(*gi, row));
            }
        }
    }

    let mut report = VerifyReport { cutoff, events: replay.events, ..VerifyReport::default() };
    for (gi, g) in ir.groups.iter().enumerate() {
        let runtime = &kappa.groups()[gi];
        let late: Vec<_> = runtime.dead_letters().iter().filter(|d| d.reason.starts_with("late")).collect();
        let key_of = |row: &[Value]| -> Vec<Value> {
            g.keys
                .iter()
                .map(|k| {
                    g.columns.iter().position(|c| *c == k.name).and_then(|i| row.get(i).cloned()).unwrap_or(Value::Null)
                })
                .collect()
        };
        report.late.extend(late.iter().map(|d| (g.name.clone(), d.reason.clone(), d.row.clone())));
        let windows: Vec<WindowSpec> = g.windows.iter().map(|w| w.spec).collect();
        for (key, latest) in reference.keys(gi) {
            report.keys += 1;
            let late_here = late.iter().filter(|d| key_of(&d.row) == key).count();
            let at_cutoff = reference.partials(gi, &key, cutoff);
            for t in probes(&windows, latest.max(cutoff)) {
                let now = reference.partials(gi, &key, t);
                let want_kappa = runtime.finish(&now);
                let mixed: Vec<_> = g
                    .aggregates
                    .iter()
                    .zip(now.iter().zip(&at_cutoff))
                    .map(|(a, (n, c))| if a.merge == MergeRule::Batch { c.clone() } else { n.clone() })
                    .collect();
                let want_lambda = runtime.finish(&mixed);
                let got_kappa = runtime.lookup(&key, t)?.unwrap_or_else(|| runtime.finish(&runtime.empty_partials()));
                let got_lambda =
                    lambda.lookup(gi, &key, t)?.unwrap_or_else(|| runtime.finish(&runtime.empty_partials()));
                for (i, feature) in g.outputs.iter().enumerate() {
                    report.compared += 1;
                    let (k, l) = (&got_kappa[i], &got_lambda[i]);
                    if k != &want_kappa[i] || l != &want_lambda[i] {
                        report.differences.push(Difference {
                            group: g.name.clone(),
                            key: key.clone(),
                            feature: feature.clone(),
                            at: t,
                            lambda: l.clone(),
                            kappa: k.clone(),
                            reference: if l != &want_lambda[i] {
                                want_lambda[i].clone()
                            } else {
                                want_kappa[i].clone()
                            },
                            late_events: late_here,
                        });
                    }
                }
            }
        }
    }
    Ok(report)
}
