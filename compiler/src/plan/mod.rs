//! The feature IR in, a [`Plan`] for one target out: what the runtime executes and what a
//! reviewer reads. Both targets are built from the same IR by the same functions; they differ
//! only in where events come from and in the Lambda batch layer and merge rules.

mod dot;
mod explain;
mod stream;

pub use dot::to_dot;
pub use explain::to_text;

use serde::Serialize;

use crate::aggregates::AggKind;
use crate::check::{FileFormat, WindowSpec};
use crate::diagnostic::Target;
use crate::ir::{Eviction, FeatureIr, IrGroup, WindowStrategy};
use crate::syntax::ast::MergeRule;

/// The `format` field of every JSON plan: name and version of the layout.
pub const PLAN_FORMAT: &str = "featc.plan/v1";

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub format: &'static str,
    pub target: Target,
    pub spec_hash: String,
    pub sources: Vec<SourcePlan>,
    pub groups: Vec<GroupPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourcePlan {
    pub name: String,
    /// Where the stream layer reads events from.
    pub stream: StreamRead,
    /// Where the batch layer reads history from (Lambda only).
    pub history: Option<HistoryRead>,
    pub event_time: String,
    pub lateness_ms: u64,
    /// Columns decoded, with their types; everything else in an event is ignored.
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamRead {
    /// The topic or embedded-log name.
    pub topic: String,
    /// `start`: offset 0 (Kappa replay); `cutoff`: the batch cutoff (Lambda speed layer).
    pub from: &'static str,
    /// Whether it keeps following the log once caught up.
    pub follow: bool,
    /// Kappa: history files that seed the log when it does not exist yet.
    pub seed_from: Option<String>,
    /// A source whose history is a Delta table streams the table itself instead of a log: its
    /// commits in version order, then each new one (Streamhouse). The table's folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_table: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryRead {
    pub glob: String,
    pub format: FileFormat,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<crate::ir::DeltaPin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupPlan {
    pub name: String,
    pub entity: String,
    pub keys: Vec<String>,
    pub source: String,
    /// The version of the group's state (see `docs/versions.md`).
    pub version: String,
    /// Which operators keep the state.
    pub layout: crate::ir::Layout,
    pub state_bytes_per_key: u64,
    /// The streaming operators: Kappa's whole plan, or Lambda's speed layer.
    pub stream: Vec<Operator>,
    /// The Lambda batch layer; `None` for Kappa.
    pub batch: Option<BatchPlan>,
    /// How each feature is served, in declaration order.
    pub serving: Vec<ServedFeature>,
}

/// One streaming operator of a group, in execution order. Windows run side by side on the
/// keyed stream.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operator {
    Decode { source: String, dead_letter: &'static str },
    Filter { predicate: String },
    Project { columns: Vec<String> },
    KeyBy { keys: Vec<String> },
    Lateness { event_time: String, lateness_ms: u64, dead_letter: &'static str },
    Predicates { predicates: Vec<String> },
    Window(WindowOp),
    State { snapshot: &'static str },
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowOp {
    pub window: String,
    pub spec: WindowSpec,
    pub strategy: WindowStrategy,
    pub pane_ms: Option<u64>,
    pub panes_per_key: u64,
    /// Lambda speed layer: `after_cutoff` keeps partials since the cutoff only (merged with the
    /// batch view); `whole_window` keeps the whole window (features served by `speed`).
    pub keeps: &'static str,
    pub aggregates: Vec<AggregateOp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AggregateOp {
    pub feature: String,
    pub aggregate: AggKind,
    pub value: Option<String>,
    pub param: Option<crate::ir::Param>,
    pub predicate: Option<usize>,
    pub eviction: Eviction,
    pub state: Vec<String>,
    pub partial_bytes: u64,
    pub exact: bool,
    pub error_bound: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchPlan {
    pub every_ms: Option<u64>,
    pub history: Option<HistoryRead>,
    /// Filters applied while scanning: the group filter and `event time <= cutoff`.
    pub scan_filter: Vec<String>,
    pub columns: Vec<String>,
    /// Partials per key and pane, per window, for the features that read the batch view.
    pub partials: Vec<PanePartials>,
    pub output: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct PanePartials {
    pub window: String,
    /// `None`: one partial per key over all history up to the cutoff.
    pub pane_ms: Option<u64>,
    pub aggregates: Vec<AggregateOp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServedFeature {
    pub name: String,
    /// `aggregate` or `derived`.
    pub kind: &'static str,
    /// The Lambda merge rule (`None` for Kappa and for derived features).
    pub rule: Option<MergeRule>,
    pub rule_inferred: bool,
    /// How the value is assembled when read.
    pub read: String,
}

/// Builds the plan of one target from the IR.
pub fn plan(ir: &FeatureIr, target: Target) -> Plan {
    let lambda = target == Target::Lambda;
    let sources = ir
        .sources
        .iter()
        .map(|s| {
            let used: Vec<&IrGroup> = ir.groups.iter().filter(|g| ir.sources[g.source].name == s.name).collect();
            let columns = s
                .fields
                .iter()
                .filter(|f| used.iter().any(|g| g.columns.contains(&f.name)))
                .map(|f| Column { name: f.name.clone(), ty: f.ty.to_string() })
                .collect();
            SourcePlan {
                name: s.name.clone(),
                stream: StreamRead {
                    topic: s.topic.clone(),
                    from: if lambda { "cutoff" } else { "start" },
                    follow: true,
                    seed_from: match &s.history {
                        Some(h) if !lambda && h.format != FileFormat::Delta => Some(h.glob.clone()),
                        _ => None,
                    },
                    delta_table: s.history.as_ref().filter(|h| h.format == FileFormat::Delta).map(|h| h.glob.clone()),
                },
                history: if lambda {
                    s.history.as_ref().map(|h| HistoryRead { glob: h.glob.clone(), format: h.format, pin: h.pin })
                } else {
                    None
                },
                event_time: s.event_time.clone(),
                lateness_ms: s.lateness_ms,
                columns,
            }
        })
        .collect();
    let groups = ir
        .groups
        .iter()
        .map(|g| {
            let source = &ir.sources[g.source];
            GroupPlan {
                name: g.name.clone(),
                entity: g.entity.clone(),
                keys: g.keys.iter().map(|k| k.name.clone()).collect(),
                source: source.name.clone(),
                version: g.version.clone(),
                layout: g.layout,
                state_bytes_per_key: g.state_bytes_per_key,
                stream: stream::operators(g, source, lambda),
                batch: lambda.then(|| batch_plan(g, source)),
                serving: serving(g, lambda),
            }
        })
        .collect();
    Plan { format: PLAN_FORMAT, target, spec_hash: ir.spec_hash.clone(), sources, groups }
}

fn batch_plan(g: &IrGroup, source: &crate::ir::IrSource) -> BatchPlan {
    let mut scan_filter: Vec<String> = g.filter.iter().map(|f| f.text.clone()).collect();
    scan_filter.push(format!("{} <= cutoff", source.event_time));
    let partials = g
        .windows
        .iter()
        .filter_map(|w| {
            let aggregates: Vec<AggregateOp> = w
                .aggregates
                .iter()
                .map(|&a| &g.aggregates[a])
                .filter(|a| a.merge.uses_batch())
                .map(stream::aggregate_op)
                .collect();
            (!aggregates.is_empty()).then(|| PanePartials {
                window: window_text(w.spec),
                // A `batch`-only lifetime feature still needs no panes: one partial per key.
                pane_ms: match w.strategy {
                    WindowStrategy::Running => None,
                    _ => w.pane_ms,
                },
                aggregates,
            })
        })
        .collect();
    BatchPlan {
        every_ms: g.batch_every_ms,
        history: source.history.as_ref().map(|h| HistoryRead { glob: h.glob.clone(), format: h.format, pin: h.pin }),
        scan_filter,
        columns: g.columns.clone(),
        partials,
        output: "batch view: one Parquet file per group and version, partials per key, with the cutoff",
    }
}

fn serving(g: &IrGroup, lambda: bool) -> Vec<ServedFeature> {
    g.outputs
        .iter()
        .filter_map(|name| {
            if let Some(a) = g.aggregates.iter().find(|a| &a.name == name) {
                let window = window_text(g.windows[a.window].spec);
                let (rule, read) = if lambda {
                    let read = match a.merge {
                        MergeRule::BatchPlusSpeed => format!(
                            "merge(batch partial up to the cutoff, speed partial after it) over {window}, then finalize"
                        ),
                        MergeRule::Speed => format!("speed layer's {window} window, finalized"),
                        MergeRule::Batch => "batch view as of the cutoff (stale until the next batch run)".to_owned(),
                    };
                    (Some(a.merge), read)
                } else {
                    (None, format!("state of the {window} window, finalized"))
                };
                return Some(ServedFeature {
                    name: name.clone(),
                    kind: "aggregate",
                    rule,
                    rule_inferred: lambda && a.merge_inferred,
                    read,
                });
            }
            let d = g.derived.iter().find(|d| &d.name == name)?;
            Some(ServedFeature {
                name: name.clone(),
                kind: "derived",
                rule: None,
                rule_inferred: false,
                read: format!("computed when read: {}", d.expr.text),
            })
        })
        .collect()
}

/// A window as the language writes it.
pub fn window_text(spec: WindowSpec) -> String {
    spec.text()
}

/// The plan as JSON (`featc plan --format json`): pretty-printed, byte-stable across runs.
pub fn to_json(plan: &Plan) -> String {
    // Plain structs of strings, numbers and vectors: serialising cannot fail.
    serde_json::to_string_pretty(plan).unwrap_or_default() + "\n"
}
