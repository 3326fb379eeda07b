//! Two feature IRs in (old and new), a [`Diff`] out: what changed, by meaning, and what each target must recompute.
//!
//! Groups are matched by name, features by name within their group; a removed and an added
//! feature of one group with the same version are a rename. See `docs/versions.md`.

mod changes;
#[cfg(test)]
mod tests;
mod text;

use serde::Serialize;

use crate::ir::{FeatureIr, IrAggregate, IrDerived, IrGroup, IrSource, MergeRule, format_millis};

use changes::{bindings, call, compare, feature_changes, merge_change, source_diff, window};

/// The `format` field of every JSON diff: name and version of the layout.
pub const DIFF_FORMAT: &str = "featc.diff/v1";

/// What changed between two versions of a project, and what each target must recompute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub format: &'static str,
    /// False when every group version, derived version, output name set and merge rule is
    /// equal: comments, layout, order and files changed nothing.
    pub semantic_change: bool,
    pub old_spec_hash: String,
    pub new_spec_hash: String,
    pub summary: Summary,
    /// Every source of either project, by name.
    pub sources: Vec<SourceDiff>,
    /// Every group of either project, by name.
    pub groups: Vec<GroupDiff>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Added,
    Removed,
    Renamed,
    Changed,
    Unchanged,
}

/// How many groups or features have each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub added: usize,
    pub removed: usize,
    pub renamed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

impl Counts {
    fn count(&mut self, status: Status) {
        match status {
            Status::Added => self.added += 1,
            Status::Removed => self.removed += 1,
            Status::Renamed => self.renamed += 1,
            Status::Changed => self.changed += 1,
            Status::Unchanged => self.unchanged += 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub groups: Counts,
    pub features: Counts,
    /// Groups whose state must be rebuilt (new, or a new state version), by name.
    pub rebuild: Vec<String>,
}

/// One thing that changed, with its old and new values as the language writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub what: What,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum What {
    /// Aggregate feature became derived, or the reverse.
    Kind,
    /// The aggregate call (function, argument, parameter) or the derived expression.
    Definition,
    Window,
    /// The feature's own `where` filter.
    Filter,
    /// The feature's value type.
    Type,
    /// The types of the source fields an aggregate reads.
    FieldTypes,
    MergeRule,
    /// The derived feature reads features whose versions changed.
    Inputs,
    Keys,
    EventTime,
    Lateness,
    Topic,
    History,
    GroupFilter,
    /// A schema field of a source.
    Field,
    /// `batch every` of the group's lambda block: a runtime setting, no change of meaning.
    BatchEvery,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceDiff {
    pub name: String,
    pub status: Status,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupDiff {
    pub name: String,
    pub status: Status,
    /// The entity and source of the new group (of the old one when removed).
    pub entity: String,
    pub source: String,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
    /// Whether the group's state must be rebuilt: new, or a new state version.
    pub state_changed: bool,
    /// Changes to what every aggregate of the group depends on: keys, event time, lateness,
    /// topic, history, group filter. Each changes every aggregate's version.
    pub bindings: Vec<Change>,
    /// Changes of runtime settings that change no value.
    pub settings: Vec<Change>,
    /// In the new declaration order, then the removed features in the old one.
    pub features: Vec<FeatureDiff>,
    pub kappa: Vec<Step>,
    pub lambda: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDiff {
    pub name: String,
    pub status: Status,
    pub renamed_from: Option<String>,
    /// `aggregate` or `derived` (of the new feature; of the old one when removed).
    pub kind: &'static str,
    /// As the language writes it: `sum(amount) over sliding(5m, every: 1m)`.
    pub definition: String,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
    pub changes: Vec<Change>,
}

/// One thing a target must do before it serves the new project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub action: Action,
    /// The step as a sentence.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Kappa: replay the source's log from offset 0 into the group's new state.
    ReplayFromStart,
    /// Lambda: compute the group's batch view file over the history up to the cutoff.
    RecomputeBatchView,
    /// Lambda: the group's speed layer, rebuilt by replay of the log after the cutoff.
    ReplaySpeedLayer,
    /// Lambda: a merge rule changed and no feature moved onto the batch view; the batch view
    /// and speed layer are kept.
    ServingOnly,
}

impl Diff {
    /// Whether anything changed in meaning: the CLI exits 1 when so, 0 when not.
    pub fn has_changes(&self) -> bool {
        self.semantic_change
    }

    /// The diff for people: a few lines per changed group, unchanged groups on one line.
    pub fn to_text(&self) -> String {
        text::to_text(self)
    }

    /// The diff as pretty JSON, byte-stable across runs.
    pub fn to_json(&self) -> String {
        // Plain structs of strings, numbers and vectors: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// Compares two projects by meaning.
pub fn diff(old: &FeatureIr, new: &FeatureIr) -> Diff {
    let sources = by_name(&old.sources, &new.sources, |s| &s.name)
        .into_iter()
        .map(|(name, o, n)| source_diff(name, o, n))
        .collect();
    let groups: Vec<GroupDiff> = by_name(&old.groups, &new.groups, |g| &g.name)
        .into_iter()
        .filter_map(|(name, o, n)| {
            let o = o.map(|g| (g, source_of(old, g)));
            let n = n.map(|g| (g, source_of(new, g)));
            group_diff(name, o, n)
        })
        .collect();
    let mut summary = Summary { groups: Counts::default(), features: Counts::default(), rebuild: Vec::new() };
    for g in &groups {
        summary.groups.count(g.status);
        g.features.iter().for_each(|f| summary.features.count(f.status));
        if g.state_changed {
            summary.rebuild.push(g.name.clone());
        }
    }
    let semantic_change = groups
        .iter()
        .any(|g| g.status != Status::Unchanged || g.features.iter().any(|f| f.status != Status::Unchanged));
    Diff {
        format: DIFF_FORMAT,
        semantic_change,
        old_spec_hash: old.spec_hash.clone(),
        new_spec_hash: new.spec_hash.clone(),
        summary,
        sources,
        groups,
    }
}

type Bound<'a> = (&'a IrGroup, Option<&'a IrSource>);

fn source_of<'a>(ir: &'a FeatureIr, g: &IrGroup) -> Option<&'a IrSource> {
    ir.sources.get(g.source)
}

/// The items of either list, paired by name, in name order.
fn by_name<'a, T>(
    old: &'a [T],
    new: &'a [T],
    name: impl Fn(&T) -> &String,
) -> Vec<(String, Option<&'a T>, Option<&'a T>)> {
    let mut names: Vec<&String> = old.iter().chain(new).map(&name).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| (n.clone(), old.iter().find(|x| name(x) == n), new.iter().find(|x| name(x) == n)))
        .collect()
}

/// A group of either project; `None` when in neither.
fn group_diff(name: String, old: Option<Bound<'_>>, new: Option<Bound<'_>>) -> Option<GroupDiff> {
    let bound = new.or(old)?;
    let status = match (old, new) {
        (Some(_), Some(_)) => Status::Unchanged,
        (None, _) => Status::Added,
        (_, None) => Status::Removed,
    };
    let mut group = GroupDiff {
        name,
        status,
        entity: bound.0.entity.clone(),
        source: bound.1.map_or_else(String::new, |s| s.name.clone()),
        old_version: old.map(|o| o.0.version.clone()),
        new_version: new.map(|n| n.0.version.clone()),
        state_changed: new.is_some() && old.map(|o| &o.0.version) != new.map(|n| &n.0.version),
        bindings: Vec::new(),
        settings: Vec::new(),
        features: Vec::new(),
        kappa: Vec::new(),
        lambda: Vec::new(),
    };
    match (old, new) {
        (Some(o), Some(n)) => {
            group.bindings = bindings(o, n);
            let every = |g: &IrGroup| g.batch_every_ms.map_or_else(|| "runtime default".to_owned(), format_millis);
            compare(&mut group.settings, What::BatchEvery, every(o.0), every(n.0));
            group.features = features(o, n, &group.bindings);
            let changed = group.state_changed || group.features.iter().any(|f| f.status != Status::Unchanged);
            if changed {
                group.status = Status::Changed;
            }
        }
        _ => {
            let status = group.status;
            group.features =
                bound.0.outputs.iter().filter_map(|f| feature(bound, f)).map(|f| f.alone(status)).collect();
        }
    }
    steps(&mut group, new);
    Some(group)
}

/// What each target must do for a group.
fn steps(group: &mut GroupDiff, new: Option<Bound<'_>>) {
    let Some((g, source)) = new else { return };
    let name = &group.name;
    if group.state_changed {
        let topic = source.map_or_else(String::new, |s| s.topic.clone());
        group.kappa.push(Step {
            action: Action::ReplayFromStart,
            text: format!("replay `{topic}` from offset 0 for group {name}"),
        });
        let no_history =
            if source.is_some_and(|s| s.history.is_none()) { " (no history files: an empty view)" } else { "" };
        group.lambda.push(Step {
            action: Action::RecomputeBatchView,
            text: format!("recompute the batch view of {name} over the history up to the cutoff{no_history}"),
        });
        let speed = g.aggregates.iter().any(|a| a.merge == MergeRule::Speed);
        let horizon = if speed { "; for `speed` features, from their window horizon" } else { "" };
        group.lambda.push(Step {
            action: Action::ReplaySpeedLayer,
            text: format!("replay the speed layer of {name} (the log after the cutoff{horizon})"),
        });
        return;
    }
    let reads_view = |rule: &Option<String>| rule.as_deref().is_some_and(|r| r.contains(MergeRule::Batch.as_str()));
    let merge: Vec<(&str, bool)> = group
        .features
        .iter()
        .filter_map(|f| {
            let c = f.changes.iter().find(|c| c.what == What::MergeRule)?;
            // Onto the batch view: the stored view did not compute it (the batch layer
            // computes only the features served from the view).
            Some((f.name.as_str(), reads_view(&c.new) && !reads_view(&c.old)))
        })
        .collect();
    let onto_view: Vec<&str> = merge.iter().filter(|m| m.1).map(|m| m.0).collect();
    if !onto_view.is_empty() {
        group.lambda.push(Step {
            action: Action::RecomputeBatchView,
            text: format!(
                "recompute the batch view of {name} over the history up to the cutoff (now served from it: {})",
                onto_view.join(", ")
            ),
        });
    }
    let serving: Vec<&str> = merge.iter().filter(|m| !m.1).map(|m| m.0).collect();
    if !serving.is_empty() {
        group.lambda.push(Step {
            action: Action::ServingOnly,
            text: format!("serving only (merge rule) for {name}: {}", serving.join(", ")),
        });
    }
}

/// A feature of a group, aggregate or derived.
#[derive(Clone, Copy)]
enum Feature<'a> {
    Aggregate(&'a IrAggregate),
    Derived(&'a IrDerived),
}

/// One feature of one group, with its group.
#[derive(Clone, Copy)]
struct Found<'a> {
    bound: Bound<'a>,
    feature: Feature<'a>,
}

fn feature<'a>(bound: Bound<'a>, name: &str) -> Option<Found<'a>> {
    let g = bound.0;
    let feature = match g.aggregates.iter().find(|a| a.name == name) {
        Some(a) => Feature::Aggregate(a),
        None => Feature::Derived(g.derived.iter().find(|d| d.name == name)?),
    };
    Some(Found { bound, feature })
}

impl<'a> Found<'a> {
    fn name(&self) -> &'a str {
        match self.feature {
            Feature::Aggregate(a) => &a.name,
            Feature::Derived(d) => &d.name,
        }
    }

    fn version(&self) -> &'a str {
        match self.feature {
            Feature::Aggregate(a) => &a.version,
            Feature::Derived(d) => &d.version,
        }
    }

    fn kind(&self) -> &'static str {
        match self.feature {
            Feature::Aggregate(_) => "aggregate",
            Feature::Derived(_) => "derived",
        }
    }

    fn merge(&self) -> Option<MergeRule> {
        match self.feature {
            Feature::Aggregate(a) => Some(a.merge),
            Feature::Derived(_) => None,
        }
    }

    fn definition(&self) -> String {
        match self.feature {
            Feature::Aggregate(a) => {
                let g = self.bound.0;
                let filter = a.predicate.and_then(|p| g.predicates.get(p)).map(|p| format!(" where {}", p.text));
                format!("{}{} over {}", call(a), filter.unwrap_or_default(), window(g, a).text())
            }
            Feature::Derived(d) => d.expr.text.clone(),
        }
    }

    /// The feature alone: added or removed with its group or by itself.
    fn alone(&self, status: Status) -> FeatureDiff {
        let version = Some(self.version().to_owned());
        let (old_version, new_version) = if status == Status::Removed { (version, None) } else { (None, version) };
        FeatureDiff {
            name: self.name().to_owned(),
            status,
            renamed_from: None,
            kind: self.kind(),
            definition: self.definition(),
            old_version,
            new_version,
            changes: Vec::new(),
        }
    }
}

/// The features of a group in both projects: matched by name, renames by version.
fn features(o: Bound<'_>, n: Bound<'_>, bindings: &[Change]) -> Vec<FeatureDiff> {
    let old_names = &o.0.outputs;
    let new_names = &n.0.outputs;
    let mut renames: Vec<(&str, &str)> = Vec::new();
    let added: Vec<Found<'_>> =
        new_names.iter().filter(|f| !old_names.contains(f)).filter_map(|f| feature(n, f)).collect();
    for r in old_names.iter().filter(|f| !new_names.contains(f)).filter_map(|f| feature(o, f)) {
        let free = added.iter().find(|a| a.version() == r.version() && renames.iter().all(|(_, to)| *to != a.name()));
        if let Some(a) = free {
            renames.push((r.name(), a.name()));
        }
    }
    let mut out = Vec::new();
    for now in new_names.iter().filter_map(|f| feature(n, f)) {
        let from = renames.iter().find(|(_, to)| *to == now.name()).map(|(from, _)| *from);
        let before = if old_names.iter().any(|f| f == now.name()) { Some(now.name()) } else { from };
        let Some(was) = before.and_then(|f| feature(o, f)) else {
            out.push(now.alone(Status::Added));
            continue;
        };
        let changes = if was.version() == now.version() {
            merge_change(&was, &now).into_iter().collect()
        } else {
            feature_changes(&was, &now, bindings, &renames)
        };
        let status = match (from, changes.is_empty()) {
            (Some(_), _) => Status::Renamed,
            (None, true) => Status::Unchanged,
            (None, false) => Status::Changed,
        };
        out.push(FeatureDiff {
            name: now.name().to_owned(),
            status,
            renamed_from: from.map(str::to_owned),
            kind: now.kind(),
            definition: now.definition(),
            old_version: Some(was.version().to_owned()),
            new_version: Some(now.version().to_owned()),
            changes,
        });
    }
    let renamed = |f: &String| renames.iter().any(|(from, _)| from == f);
    for gone in old_names.iter().filter(|f| !new_names.contains(f) && !renamed(f)).filter_map(|f| feature(o, f)) {
        out.push(gone.alone(Status::Removed));
    }
    out
}
