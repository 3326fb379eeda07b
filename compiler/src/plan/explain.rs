//! A [`Plan`] in, an indented explain out: what a person reads in a code review.

use std::fmt::Write as _;

use super::{AggregateOp, Operator, Plan};
use crate::syntax::format_millis;

/// Renders the plan as indented text.
pub fn to_text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "plan for target {} (spec {}, {})", plan.target.as_str(), plan.spec_hash, plan.format);
    for s in &plan.sources {
        let _ = writeln!(out, "\nsource {}", s.name);
        let follow = if s.stream.follow { ", then follows it" } else { "" };
        let from = if s.stream.from == "start" { "offset 0" } else { "the batch cutoff" };
        match &s.stream.delta_table {
            Some(table) => {
                let from = if s.stream.from == "start" { "version 0" } else { "the batch cutoff" };
                let _ = writeln!(out, "  stream: Delta table {table}, commit by commit from {from}{follow}");
            }
            None => {
                let _ = writeln!(out, "  stream: {} from {from}{follow}", s.stream.topic);
            }
        }
        if let Some(seed) = &s.stream.seed_from {
            let _ = writeln!(out, "  seed:   the log is seeded from {seed} when it does not exist");
        }
        if let Some(h) = &s.history {
            let _ = writeln!(out, "  history: {} ({:?})", h.glob, h.format);
        }
        let _ = writeln!(out, "  event time: {}, lateness {}", s.event_time, format_millis(s.lateness_ms));
        let cols: Vec<String> = s.columns.iter().map(|c| format!("{}: {}", c.name, c.ty)).collect();
        let _ = writeln!(out, "  decode: {}", cols.join(", "));
    }
    for g in &plan.groups {
        let _ = writeln!(out, "\ngroup {}({}) from {}, keyed by {}", g.name, g.entity, g.source, g.keys.join(", "));
        let layout = match g.layout {
            crate::ir::Layout::Columnar => "columnar",
            crate::ir::Layout::Rows => "rows",
        };
        let _ = writeln!(
            out,
            "  state: about {} bytes per key, {layout} layout, version {}",
            g.state_bytes_per_key, g.version
        );
        if let Some(b) = &g.batch {
            let every = b
                .every_ms
                .map_or_else(|| "on demand (`featc batch`)".to_owned(), |ms| format!("every {}", format_millis(ms)));
            let _ = writeln!(out, "  batch layer, {every}:");
            match &b.history {
                Some(h) => {
                    let _ = writeln!(out, "    scan {} ({:?}) where {}", h.glob, h.format, b.scan_filter.join(" and "));
                }
                None => {
                    let _ = writeln!(out, "    no history: nothing to scan");
                }
            }
            let _ = writeln!(out, "    project {}", b.columns.join(", "));
            for p in &b.partials {
                let grain = p
                    .pane_ms
                    .map_or_else(|| "one partial per key".to_owned(), |ms| format!("{} panes", format_millis(ms)));
                let _ = writeln!(out, "    partials for {} ({grain}):", p.window);
                for a in &p.aggregates {
                    let _ = writeln!(out, "      {}", aggregate_line(a));
                }
            }
            let _ = writeln!(out, "    write {}", b.output);
        }
        let layer = if g.batch.is_some() { "speed layer" } else { "stream" };
        let _ = writeln!(out, "  {layer}:");
        for op in &g.stream {
            match op {
                Operator::Decode { source, dead_letter } => {
                    let _ = writeln!(
                        out,
                        "    decode {source}; malformed events to the {dead_letter}, with the reason, counted"
                    );
                }
                Operator::Filter { predicate } => {
                    let _ = writeln!(out, "    filter {predicate}");
                }
                Operator::Project { columns } => {
                    let _ = writeln!(out, "    project {}", columns.join(", "));
                }
                Operator::KeyBy { keys } => {
                    let _ = writeln!(out, "    key by {}", keys.join(", "));
                }
                Operator::Lateness { event_time, lateness_ms, dead_letter } => {
                    let _ = writeln!(
                        out,
                        "    lateness: {event_time} more than {} behind the key's latest goes to the {dead_letter}, counted",
                        format_millis(*lateness_ms)
                    );
                }
                Operator::Predicates { predicates } => {
                    for (i, p) in predicates.iter().enumerate() {
                        let _ = writeln!(out, "    predicate p{i} = {p}");
                    }
                }
                Operator::Window(w) => {
                    let panes = match w.pane_ms {
                        Some(ms) if w.panes_per_key > 1 => {
                            format!("{} panes of {} per key", w.panes_per_key, format_millis(ms))
                        }
                        _ => format!("{} partial per key", w.panes_per_key),
                    };
                    let keeps = if w.keeps == "after_cutoff" { ", since the cutoff" } else { "" };
                    let _ = writeln!(out, "    window {} ({:?}, {panes}{keeps}):", w.window, w.strategy);
                    for a in &w.aggregates {
                        let _ = writeln!(out, "      {}", aggregate_line(a));
                    }
                }
                Operator::State { snapshot } => {
                    let _ = writeln!(out, "    state: {snapshot}");
                }
            }
        }
        let _ = writeln!(out, "  serving:");
        let width = g.serving.iter().map(|f| f.name.len()).max().unwrap_or(0);
        for f in &g.serving {
            let rule = match f.rule {
                Some(r) if f.rule_inferred => format!("[{} (inferred)] ", r.as_str()),
                Some(r) => format!("[{}] ", r.as_str()),
                None => String::new(),
            };
            let _ = writeln!(out, "    {:width$}  {rule}{}", f.name, f.read);
        }
    }
    out
}

fn aggregate_line(a: &AggregateOp) -> String {
    let mut args = a.value.clone().unwrap_or_default();
    if let Some(p) = a.param {
        let p = match p {
            crate::ir::Param::Int(v) => v.to_string(),
            crate::ir::Param::Float(v) => v.to_string(),
        };
        args = format!("{args}, {p}");
    }
    let predicate = a.predicate.map_or_else(String::new, |p| format!(" where p{p}"));
    let eviction = match a.eviction {
        crate::ir::Eviction::None => "kept",
        crate::ir::Eviction::Reset => "reset per window",
        crate::ir::Eviction::Subtract => "subtract on evict",
        crate::ir::Eviction::TwoStacks => "two-stacks over panes",
        crate::ir::Eviction::MergePanes => "panes merged at lookup",
    };
    let state: Vec<&str> = a.state.iter().map(|s| s.split(':').next().unwrap_or("")).collect();
    let accuracy = match a.aggregate {
        crate::aggregates::AggKind::ApproxCountDistinct => "approximate, 1.6% standard error",
        crate::aggregates::AggKind::ApproxPercentile => "approximate, 1% relative error",
        _ => "exact",
    };
    format!(
        "{} = {}({args}){predicate}  [{eviction}; state {} ({} B); {accuracy}]",
        a.feature,
        a.aggregate.name(),
        state.join(", "),
        a.partial_bytes
    )
}
