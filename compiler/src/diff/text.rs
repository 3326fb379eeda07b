//! A [`Diff`] in, its text for people out (`featc diff --format human`).

use super::{Change, Counts, Diff, FeatureDiff, GroupDiff, Status, What};

pub(crate) fn to_text(diff: &Diff) -> String {
    let mut out = String::new();
    let spec = if diff.old_spec_hash == diff.new_spec_hash {
        format!("spec {}", diff.old_spec_hash)
    } else {
        format!("spec {} → {}", diff.old_spec_hash, diff.new_spec_hash)
    };
    let verdict = if diff.semantic_change { "semantic change" } else { "no semantic change" };
    out.push_str(&format!("featc diff: {verdict} ({spec})\n"));
    for s in &diff.sources {
        match s.status {
            Status::Unchanged => {}
            Status::Changed => out.push_str(&format!("source {}: {}\n", s.name, changes(&s.changes))),
            _ => out.push_str(&format!("source {}: {}\n", s.name, status(s.status))),
        }
    }
    let mut unchanged = Vec::new();
    for g in &diff.groups {
        if g.status == Status::Unchanged && g.settings.is_empty() {
            unchanged.push(g.name.as_str());
        } else {
            group(&mut out, g);
        }
    }
    if !unchanged.is_empty() {
        out.push_str(&format!("unchanged: {}\n", unchanged.join(", ")));
    }
    if diff.semantic_change {
        let rebuild = if diff.summary.rebuild.is_empty() { "none".to_owned() } else { diff.summary.rebuild.join(", ") };
        out.push_str(&format!("features: {}; state to rebuild: {rebuild}\n", counts(&diff.summary.features)));
    }
    out
}

fn group(out: &mut String, g: &GroupDiff) {
    let head = format!("group {} ({} from {})", g.name, g.entity, g.source);
    let version = |v: &Option<String>| v.clone().unwrap_or_default();
    match g.status {
        Status::Added => out.push_str(&format!("{head}: added, state version {}\n", version(&g.new_version))),
        Status::Removed => {
            out.push_str(&format!(
                "{head}: removed with its {} features; state version {} is no longer read\n",
                g.features.len(),
                version(&g.old_version)
            ));
            return;
        }
        _ if g.state_changed => {
            out.push_str(&format!("{head}: state version {} → {}\n", version(&g.old_version), version(&g.new_version)))
        }
        _ => out.push_str(&format!("{head}: same state version {}\n", version(&g.new_version))),
    }
    if !g.bindings.is_empty() {
        out.push_str(&format!("  bindings: {}\n", changes(&g.bindings)));
    }
    for c in &g.settings {
        out.push_str(&format!("  setting:  {} (no value changes)\n", change(c)));
    }
    let by_bindings: Vec<&str> = g
        .features
        .iter()
        .filter(|f| f.status == Status::Changed && !g.bindings.is_empty() && f.changes == g.bindings)
        .map(|f| f.name.as_str())
        .collect();
    if !by_bindings.is_empty() {
        out.push_str(&format!("  changed  by the bindings: {}\n", by_bindings.join(", ")));
    }
    for f in g.features.iter().filter(|f| f.status != Status::Unchanged && !by_bindings.contains(&f.name.as_str())) {
        out.push_str(&format!("  {}\n", feature(f, &g.bindings)));
    }
    let same = g.features.iter().filter(|f| f.status == Status::Unchanged).count();
    if same > 0 {
        out.push_str(&format!("  unchanged: {same} feature{}\n", if same == 1 { "" } else { "s" }));
    }
    if g.kappa.is_empty() && g.lambda.is_empty() {
        out.push_str("  nothing to recompute\n");
        return;
    }
    if g.kappa.is_empty() {
        out.push_str("  kappa:   nothing to recompute\n");
    }
    for s in &g.kappa {
        out.push_str(&format!("  kappa:   {}\n", s.text));
    }
    for s in &g.lambda {
        out.push_str(&format!("  lambda:  {}\n", s.text));
    }
}

fn feature(f: &FeatureDiff, bindings: &[Change]) -> String {
    match f.status {
        Status::Added => format!("added    {} = {}", f.name, f.definition),
        Status::Removed => format!("removed  {}", f.name),
        Status::Renamed => {
            let from = f.renamed_from.as_deref().unwrap_or_default();
            let more = if f.changes.is_empty() { String::new() } else { format!("; {}", changes(&f.changes)) };
            format!("renamed  {from} → {}{more}", f.name)
        }
        _ => {
            let own: Vec<Change> = f.changes.iter().filter(|c| !bindings.contains(c)).cloned().collect();
            let also = if own.len() < f.changes.len() { "; and the bindings" } else { "" };
            format!("changed  {}: {}{also}", f.name, changes(&own))
        }
    }
}

fn changes(list: &[Change]) -> String {
    list.iter().map(change).collect::<Vec<_>>().join("; ")
}

fn change(c: &Change) -> String {
    let what = match c.what {
        What::Kind => "kind",
        What::Definition => "definition",
        What::Window => "window",
        What::Filter => "filter",
        What::Type => "type",
        What::FieldTypes => "field types",
        What::MergeRule => "merge rule",
        What::Inputs => "inputs",
        What::Keys => "keys",
        What::EventTime => "event time",
        What::Lateness => "lateness",
        What::Topic => "topic",
        What::History => "history",
        What::GroupFilter => "group filter",
        What::Field => "field",
        What::BatchEvery => "batch every",
    };
    match (&c.old, &c.new) {
        (Some(old), Some(new)) => format!("{what} {old} → {new}"),
        (None, Some(new)) if c.what == What::Inputs => format!("inputs changed: {new}"),
        (None, Some(new)) => format!("{what} added: {new}"),
        (Some(old), None) => format!("{what} removed: {old}"),
        (None, None) => what.to_owned(),
    }
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Added => "added",
        Status::Removed => "removed",
        Status::Renamed => "renamed",
        Status::Changed => "changed",
        Status::Unchanged => "unchanged",
    }
}

fn counts(c: &Counts) -> String {
    format!(
        "{} added, {} removed, {} renamed, {} changed, {} unchanged",
        c.added, c.removed, c.renamed, c.changed, c.unchanged
    )
}
