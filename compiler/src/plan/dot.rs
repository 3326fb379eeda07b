//! A [`Plan`] in, a Graphviz DOT graph out: sources, the operators of each group, the batch
//! layer and the serving merge.

use std::fmt::Write as _;

use super::{Operator, Plan};

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Renders the plan as a DOT digraph.
pub fn to_dot(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph plan {{");
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(
        out,
        "  label={};",
        quote(&format!("featc plan, target {}, spec {}", plan.target.as_str(), plan.spec_hash))
    );
    let _ = writeln!(out, "  node [shape=box, fontname=\"Helvetica\"];");
    for (si, s) in plan.sources.iter().enumerate() {
        let _ = writeln!(
            out,
            "  s{si} [shape=cylinder, label={}];",
            quote(&format!("{}\\n{} from {}", s.name, s.stream.topic, s.stream.from))
        );
        if let Some(h) = &s.history {
            let _ = writeln!(out, "  h{si} [shape=folder, label={}];", quote(&format!("history\\n{}", h.glob)));
        }
    }
    for (gi, g) in plan.groups.iter().enumerate() {
        let si = plan.sources.iter().position(|s| s.name == g.source).unwrap_or(0);
        let _ = writeln!(out, "  subgraph cluster_{gi} {{");
        let _ = writeln!(out, "    label={};", quote(&format!("group {} ({} B/key)", g.name, g.state_bytes_per_key)));
        let mut prev = format!("s{si}");
        let mut keyed = prev.clone();
        let mut windows = Vec::new();
        for (oi, op) in g.stream.iter().enumerate() {
            let id = format!("g{gi}o{oi}");
            let label = match op {
                Operator::Decode { source, .. } => format!("decode {source}"),
                Operator::Filter { predicate } => format!("filter\\n{predicate}"),
                Operator::Project { columns } => format!("project\\n{}", columns.join(", ")),
                Operator::KeyBy { keys } => format!("key by\\n{}", keys.join(", ")),
                Operator::Lateness { lateness_ms, .. } => {
                    format!("lateness {}", crate::syntax::format_millis(*lateness_ms))
                }
                Operator::Predicates { predicates } => format!("{} predicates", predicates.len()),
                Operator::Window(w) => {
                    let names: Vec<&str> = w.aggregates.iter().map(|a| a.feature.as_str()).collect();
                    format!("window {}\\n{} panes/key\\n{}", w.window, w.panes_per_key, names.join(", "))
                }
                Operator::State { .. } => "state".to_owned(),
            };
            let _ = writeln!(out, "    {id} [label={}];", quote(&label));
            match op {
                Operator::Window(_) => {
                    let _ = writeln!(out, "    {keyed} -> {id};");
                    windows.push(id);
                }
                Operator::State { .. } => {
                    for w in &windows {
                        let _ = writeln!(out, "    {w} -> {id};");
                    }
                    if windows.is_empty() {
                        let _ = writeln!(out, "    {prev} -> {id};");
                    }
                    prev = id;
                }
                _ => {
                    let _ = writeln!(out, "    {prev} -> {id};");
                    prev = id.clone();
                    keyed = id;
                }
            }
        }
        if let Some(b) = &g.batch {
            let bid = format!("g{gi}batch");
            let windows: Vec<&str> = b.partials.iter().map(|p| p.window.as_str()).collect();
            let _ = writeln!(
                out,
                "    {bid} [shape=box3d, label={}];",
                quote(&format!("batch partials\\n{}", windows.join("\\n")))
            );
            if plan.sources.get(si).is_some_and(|s| s.history.is_some()) {
                let _ = writeln!(out, "    h{si} -> {bid};");
            }
            let _ = writeln!(out, "    {bid} -> g{gi}serve;");
        }
        let features: Vec<&str> = g.serving.iter().map(|f| f.name.as_str()).collect();
        let _ = writeln!(
            out,
            "    g{gi}serve [shape=component, label={}];",
            quote(&format!("serve\\n{}", features.join("\\n")))
        );
        let _ = writeln!(out, "    {prev} -> g{gi}serve;");
        let _ = writeln!(out, "  }}");
    }
    let _ = writeln!(out, "}}");
    out
}
