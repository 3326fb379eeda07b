//! Two versions of a source, of a group's bindings or of a feature in, the [`Change`]s between them out.

use super::{Bound, Change, Feature, Found, SourceDiff, Status, What, feature};
use crate::ir::{IrAggregate, IrExpr, IrGroup, IrSource, MergeRule, Param, WindowSpec, format_millis};

pub(super) fn change(what: What, old: impl Into<String>, new: impl Into<String>) -> Change {
    Change { what, old: Some(old.into()), new: Some(new.into()) }
}

/// Pushes a change when the two texts differ.
pub(super) fn compare(changes: &mut Vec<Change>, what: What, old: String, new: String) {
    if old != new {
        changes.push(change(what, old, new));
    }
}

pub(super) fn source_diff(name: String, old: Option<&IrSource>, new: Option<&IrSource>) -> SourceDiff {
    let (o, n) = match (old, new) {
        (Some(o), Some(n)) => (o, n),
        (o, _) => {
            let status = if o.is_some() { Status::Removed } else { Status::Added };
            return SourceDiff { name, status, changes: Vec::new() };
        }
    };
    let mut changes = Vec::new();
    let field = |s: &IrSource, f: &str| s.fields.iter().find(|x| x.name == f).map(|x| format!("{}: {}", x.name, x.ty));
    for f in &o.fields {
        match field(n, &f.name) {
            None => changes.push(Change { what: What::Field, old: field(o, &f.name), new: None }),
            Some(now) => compare(&mut changes, What::Field, format!("{}: {}", f.name, f.ty), now),
        }
    }
    for f in n.fields.iter().filter(|f| field(o, &f.name).is_none()) {
        changes.push(Change { what: What::Field, old: None, new: field(n, &f.name) });
    }
    compare(&mut changes, What::EventTime, o.event_time.clone(), n.event_time.clone());
    compare(&mut changes, What::Lateness, format_millis(o.lateness_ms), format_millis(n.lateness_ms));
    compare(&mut changes, What::Topic, o.topic.clone(), n.topic.clone());
    compare(&mut changes, What::History, history(o), history(n));
    let status = if changes.is_empty() { Status::Unchanged } else { Status::Changed };
    SourceDiff { name, status, changes }
}

pub(super) fn history(s: &IrSource) -> String {
    s.history.as_ref().map_or_else(|| "none".to_owned(), |h| format!("{:?} ({})", h.glob, h.format.name()))
}

/// An expression with each column written by name, with its type when `typed`.
pub(super) fn canonical(e: &IrExpr, (g, s): Bound<'_>, typed: bool) -> String {
    e.tree.canonical(&|i| {
        let name = g.columns.get(i).cloned().unwrap_or_default();
        match s.and_then(|s| s.fields.iter().find(|f| f.name == name)) {
            Some(f) if typed => format!("{name}:{}", f.ty),
            _ => name,
        }
    })
}

/// The changes to what every aggregate of a group depends on.
pub(super) fn bindings(o: Bound<'_>, n: Bound<'_>) -> Vec<Change> {
    let keys = |g: &IrGroup| g.keys.iter().map(|k| format!("{}: {}", k.name, k.ty)).collect::<Vec<_>>().join(", ");
    let typed = |(_, s): Bound<'_>| {
        s.map_or_else(String::new, |s| {
            let ty = s.fields.iter().find(|f| f.name == s.event_time).map_or_else(String::new, |f| f.ty.to_string());
            format!("{}: {ty}", s.event_time)
        })
    };
    let of = |(_, s): Bound<'_>, f: fn(&IrSource) -> String| s.map_or_else(String::new, f);
    let mut changes = Vec::new();
    compare(&mut changes, What::Keys, keys(o.0), keys(n.0));
    compare(&mut changes, What::EventTime, typed(o), typed(n));
    compare(
        &mut changes,
        What::Lateness,
        of(o, |s| format_millis(s.lateness_ms)),
        of(n, |s| format_millis(s.lateness_ms)),
    );
    compare(&mut changes, What::Topic, of(o, |s| s.topic.clone()), of(n, |s| s.topic.clone()));
    compare(&mut changes, What::History, of(o, history), of(n, history));
    let filter = |b: Bound<'_>| b.0.filter.as_ref().map(|f| (canonical(f, b, true), f.text.clone()));
    let (of, nf) = (filter(o), filter(n));
    if of.as_ref().map(|f| &f.0) != nf.as_ref().map(|f| &f.0) {
        let text = |f: Option<(String, String)>| f.map_or_else(|| "none".to_owned(), |f| f.1);
        changes.push(change(What::GroupFilter, text(of), text(nf)));
    }
    changes
}

/// The aggregate call as written: `approx_percentile(amount, 0.95)`.
pub(super) fn call(a: &IrAggregate) -> String {
    let mut args: Vec<String> = a.value.iter().map(|v| v.text.clone()).collect();
    match a.param {
        Some(Param::Int(n)) => args.push(n.to_string()),
        Some(Param::Float(p)) => args.push(p.to_string()),
        None => {}
    }
    format!("{}({})", a.kind.name(), args.join(", "))
}

pub(super) fn window(g: &IrGroup, a: &IrAggregate) -> WindowSpec {
    g.windows.get(a.window).map_or(WindowSpec::Lifetime, |w| w.spec)
}

pub(super) fn merge_change(was: &Found<'_>, now: &Found<'_>) -> Option<Change> {
    let rule = |m: Option<MergeRule>| m.map(|m| m.as_str().to_owned());
    (was.merge() != now.merge()).then(|| Change {
        what: What::MergeRule,
        old: rule(was.merge()),
        new: rule(now.merge()),
    })
}

/// What changed in a feature whose version changed.
pub(super) fn feature_changes(
    was: &Found<'_>,
    now: &Found<'_>,
    bindings: &[Change],
    renames: &[(&str, &str)],
) -> Vec<Change> {
    let mut changes = Vec::new();
    match (was.feature, now.feature) {
        (Feature::Aggregate(a), Feature::Aggregate(b)) => {
            let (o, n) = (was.bound, now.bound);
            let value = |x: &IrAggregate, bound| x.value.as_ref().map(|v| canonical(v, bound, false));
            if a.kind != b.kind || a.param != b.param || value(a, o) != value(b, n) {
                changes.push(change(What::Definition, call(a), call(b)));
            }
            let (pa, pb) = (predicate(a, o.0), predicate(b, n.0));
            if pa.map(|p| canonical(p, o, false)) != pb.map(|p| canonical(p, n, false)) {
                let text = |p: Option<&IrExpr>| p.map_or_else(|| "none".to_owned(), |p| p.text.clone());
                changes.push(change(What::Filter, text(pa), text(pb)));
            }
            compare(&mut changes, What::Window, window(o.0, a).text(), window(n.0, b).text());
            compare(&mut changes, What::Type, a.ty.to_string(), b.ty.to_string());
            let (fa, fb) = (field_types(a, pa, o), field_types(b, pb, n));
            let read: Vec<&(String, String)> = fb.iter().filter(|(f, _)| fa.iter().any(|(g, _)| g == f)).collect();
            let before: Vec<String> =
                read.iter().filter_map(|(f, _)| fa.iter().find(|(g, _)| g == f)).map(typed).collect();
            let after: Vec<String> = read.iter().map(|x| typed(x)).collect();
            if before != after {
                changes.push(change(What::FieldTypes, before.join(", "), after.join(", ")));
            }
            changes.extend(bindings.iter().cloned());
        }
        (Feature::Derived(a), Feature::Derived(b)) => {
            // The old expression with renamed inputs under their new names.
            let old_names = |i: usize| {
                let n = was.bound.0.outputs.get(i).map_or("", String::as_str);
                renames.iter().find(|(from, _)| *from == n).map_or(n, |(_, to)| to).to_owned()
            };
            let new_names = |i: usize| now.bound.0.outputs.get(i).cloned().unwrap_or_default();
            if a.expr.tree.canonical(&old_names) != b.expr.tree.canonical(&new_names) {
                changes.push(change(What::Definition, a.expr.text.clone(), b.expr.text.clone()));
            }
            compare(&mut changes, What::Type, a.ty.to_string(), b.ty.to_string());
            let inputs: Vec<&str> = b
                .inputs
                .iter()
                .filter(|i| {
                    let old_name = renames.iter().find(|(_, to)| to == i).map_or(i.as_str(), |(from, _)| from);
                    version(was.bound, old_name) != version(now.bound, i)
                })
                .map(String::as_str)
                .collect();
            if !inputs.is_empty() {
                changes.push(Change { what: What::Inputs, old: None, new: Some(inputs.join(", ")) });
            }
        }
        _ => {
            changes.push(change(What::Kind, was.kind(), now.kind()));
            changes.push(change(What::Definition, was.definition(), now.definition()));
        }
    }
    if changes.iter().all(|c| c.what == What::Type) && was.kind() == now.kind() {
        // The version changed for a reason none of the above names.
        changes.insert(0, change(What::Definition, was.definition(), now.definition()));
    }
    changes.extend(merge_change(was, now));
    changes
}

/// The source fields an aggregate reads (value and filter), with their types.
fn field_types(a: &IrAggregate, predicate: Option<&IrExpr>, (g, s): Bound<'_>) -> Vec<(String, String)> {
    let mut columns: Vec<usize> = a.value.iter().chain(predicate).flat_map(|e| e.tree.columns()).collect();
    columns.sort_unstable();
    columns.dedup();
    columns
        .into_iter()
        .filter_map(|i| g.columns.get(i))
        .filter_map(|c| s?.fields.iter().find(|f| &f.name == c))
        .map(|f| (f.name.clone(), f.ty.to_string()))
        .collect()
}

fn typed((name, ty): &(String, String)) -> String {
    format!("{name}: {ty}")
}

fn predicate<'a>(a: &IrAggregate, g: &'a IrGroup) -> Option<&'a IrExpr> {
    a.predicate.and_then(|p| g.predicates.get(p))
}

fn version<'a>(b: Bound<'a>, name: &str) -> Option<&'a str> {
    feature(b, name).map(|f| f.version())
}
