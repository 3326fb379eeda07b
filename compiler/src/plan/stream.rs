//! A group of the IR in, its streaming operators out: the one builder behind both Kappa's plan
//! and Lambda's speed layer.

use super::{AggregateOp, Operator, WindowOp, window_text};
use crate::ir::{IrAggregate, IrGroup, IrSource};
use crate::syntax::ast::MergeRule;

/// Where rejected events go: with the reason, and counted.
const DEAD_LETTER: &str = "dead-letter output";

pub(super) fn operators(g: &IrGroup, source: &IrSource, lambda: bool) -> Vec<Operator> {
    let mut ops = vec![Operator::Decode { source: source.name.clone(), dead_letter: DEAD_LETTER }];
    if let Some(f) = &g.filter {
        ops.push(Operator::Filter { predicate: f.text.clone() });
    }
    ops.push(Operator::Project { columns: g.columns.clone() });
    ops.push(Operator::KeyBy { keys: g.keys.iter().map(|k| k.name.clone()).collect() });
    ops.push(Operator::Lateness {
        event_time: source.event_time.clone(),
        lateness_ms: source.lateness_ms,
        dead_letter: DEAD_LETTER,
    });
    if !g.predicates.is_empty() {
        ops.push(Operator::Predicates { predicates: g.predicates.iter().map(|p| p.text.clone()).collect() });
    }
    for w in &g.windows {
        // The speed layer computes nothing for features served from the batch view alone.
        let aggregates: Vec<&IrAggregate> =
            w.aggregates.iter().map(|&a| &g.aggregates[a]).filter(|a| !lambda || a.merge != MergeRule::Batch).collect();
        if aggregates.is_empty() {
            continue;
        }
        let after_cutoff_only = lambda && aggregates.iter().all(|a| a.merge == MergeRule::BatchPlusSpeed);
        let keeps = if after_cutoff_only { "after_cutoff" } else { "whole_window" };
        ops.push(Operator::Window(WindowOp {
            window: window_text(w.spec),
            spec: w.spec,
            strategy: w.strategy,
            pane_ms: w.pane_ms,
            panes_per_key: w.panes,
            keeps,
            aggregates: aggregates.into_iter().map(aggregate_op).collect(),
        }));
    }
    ops.push(Operator::State { snapshot: "one snapshot per group and version, with the log offsets it includes" });
    ops
}

pub(super) fn aggregate_op(a: &IrAggregate) -> AggregateOp {
    AggregateOp {
        feature: a.name.clone(),
        aggregate: a.kind,
        value: a.value.as_ref().map(|v| v.text.clone()),
        param: a.param,
        predicate: a.predicate,
        eviction: a.eviction,
        state: a.algebra.state.iter().map(|f| format!("{}: {}", f.name, f.ty)).collect(),
        partial_bytes: a.partial_bytes,
        exact: a.algebra.error_bound.is_none(),
        error_bound: a.algebra.error_bound,
    }
}
