//! A [`CheckedProject`] in, the feature IR out: resolved, typed and target-neutral, with each
//! aggregate's algebra and each window's execution strategy. Both planners read only this.

mod algebra;

pub use algebra::{ASSUMED_DISTINCT_VALUES, AggregateAlgebra, HLL_PRECISION, QUANTILE_RELATIVE_ACCURACY, StateField};

use serde::Serialize;

use crate::aggregates::{AggKind, Algebra};
use crate::check::{CheckedProject, FeatureKind, HistoryFiles, WindowSpec};
use crate::format::expr_text;
use crate::syntax::ast::{Expr, ExprKind, MergeRule};
use crate::types::Type;

/// The version of the IR and plan layouts; bumped on any incompatible change.
pub const IR_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct FeatureIr {
    pub version: u32,
    /// A hash of everything that decides feature values: a batch view built from another spec
    /// version is refused.
    pub spec_hash: String,
    pub sources: Vec<IrSource>,
    pub groups: Vec<IrGroup>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IrSource {
    pub name: String,
    pub fields: Vec<IrField>,
    pub event_time: String,
    pub lateness_ms: u64,
    pub history: Option<HistoryFiles>,
    /// The stream: the named topic, or the embedded log named after the source.
    pub topic: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IrField {
    pub name: String,
    pub ty: Type,
}

#[derive(Debug, Clone, Serialize)]
pub struct IrGroup {
    pub name: String,
    /// Index into [`FeatureIr::sources`].
    pub source: usize,
    pub entity: String,
    pub keys: Vec<IrField>,
    /// The group filter, applied once per event before anything else.
    pub filter: Option<Expr>,
    /// The source columns the group reads: keys, event time, then the fields its expressions
    /// name, in schema order. Everything else is projected away at decode.
    pub columns: Vec<String>,
    /// Distinct feature-level filters, each evaluated once per event and shared by the
    /// aggregates that use it.
    pub predicates: Vec<Expr>,
    /// Distinct windows: one pane ring (or running partial) per key each, shared by all the
    /// aggregates over that window.
    pub windows: Vec<IrWindow>,
    pub aggregates: Vec<IrAggregate>,
    /// Derived features in evaluation order (dependencies first).
    pub derived: Vec<IrDerived>,
    /// Every feature name, in declaration order: the layout of a feature vector.
    pub outputs: Vec<String>,
    pub batch_every_ms: Option<u64>,
    /// Estimated bytes of state per key, all windows included.
    pub state_bytes_per_key: u64,
}

/// How a window's state is kept and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStrategy {
    /// One partial per key, never evicted.
    Running,
    /// One partial per key for the current window, reset at each boundary.
    Tumbling,
    /// A ring of panes of `hop`; the window is the last `size / hop` panes plus the current
    /// one. Invertible aggregates keep a running total and subtract the evicted pane;
    /// mergeable ones combine panes with a two-stacks aggregator; both are O(1) per event.
    Panes,
    /// The open session per key, plus closed ones still within the lateness.
    Session,
}

#[derive(Debug, Clone, Serialize)]
pub struct IrWindow {
    pub spec: WindowSpec,
    pub strategy: WindowStrategy,
    /// The pane width, for pane-based windows.
    pub pane_ms: Option<u64>,
    /// Partials kept per key: panes in the ring, or 1.
    pub panes: u64,
    /// Indices into [`IrGroup::aggregates`].
    pub aggregates: Vec<usize>,
}

/// How an aggregate's window forgets old events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Eviction {
    /// Nothing to evict (lifetime).
    None,
    /// Reset when the window closes (tumbling, session).
    Reset,
    /// Subtract the evicted pane from a running total.
    Subtract,
    /// Combine the live panes with a two-stacks aggregator.
    TwoStacks,
}

/// A constant second argument: `n` of `last_n`, `k` of `top_k`, `p` of `approx_percentile`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Param {
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone, Serialize)]
pub struct IrAggregate {
    pub name: String,
    pub kind: AggKind,
    /// The value aggregated; `None` for `count()`.
    pub value: Option<Expr>,
    /// The type of the value aggregated.
    pub input: Option<Type>,
    pub param: Option<Param>,
    /// Index into [`IrGroup::predicates`].
    pub predicate: Option<usize>,
    /// Index into [`IrGroup::windows`].
    pub window: usize,
    pub ty: Type,
    pub algebra: AggregateAlgebra,
    pub eviction: Eviction,
    pub merge: MergeRule,
    pub merge_inferred: bool,
    /// Estimated bytes of one partial.
    pub partial_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IrDerived {
    pub name: String,
    pub expr: Expr,
    pub ty: Type,
    /// The features it reads.
    pub inputs: Vec<String>,
}

/// Lowers a checked project (which must have no errors) to the IR.
pub fn lower(project: &CheckedProject) -> FeatureIr {
    let sources: Vec<IrSource> = project
        .sources
        .iter()
        .map(|s| IrSource {
            name: s.name.clone(),
            fields: s.fields.iter().map(|(n, t)| IrField { name: n.clone(), ty: t.clone() }).collect(),
            event_time: s.event_time.clone(),
            lateness_ms: s.lateness_ms,
            history: s.files.clone(),
            topic: s.topic.clone().unwrap_or_else(|| s.name.clone()),
        })
        .collect();
    let groups = project
        .groups
        .iter()
        .filter_map(|g| {
            let source = sources.iter().position(|s| s.name == g.source)?;
            let entity = project.entities.iter().find(|e| e.name == g.entity)?;
            Some(lower_group(g, source, &sources[source], entity))
        })
        .collect();
    let mut ir = FeatureIr { version: IR_VERSION, spec_hash: String::new(), sources, groups };
    ir.spec_hash = spec_hash(&ir);
    ir
}

fn lower_group(
    g: &crate::check::CheckedGroup,
    source_index: usize,
    source: &IrSource,
    entity: &crate::check::CheckedEntity,
) -> IrGroup {
    let keys: Vec<IrField> = entity
        .keys
        .iter()
        .map(|(name, ty)| IrField {
            name: name.clone(),
            ty: source
                .fields
                .iter()
                .find(|f| &f.name == name)
                .map_or_else(|| Type::not_null(ty.clone()), |f| f.ty.clone()),
        })
        .collect();
    let mut predicates: Vec<Expr> = Vec::new();
    let mut windows: Vec<IrWindow> = Vec::new();
    let mut aggregates = Vec::new();
    let mut derived = Vec::new();
    let mut referenced: Vec<String> = Vec::new();
    let note_fields = |e: &Expr, referenced: &mut Vec<String>| {
        e.walk(&mut |x| {
            if let ExprKind::Name(id) = &x.kind
                && !referenced.contains(&id.name)
            {
                referenced.push(id.name.clone());
            }
        });
    };
    if let Some(f) = &g.filter {
        note_fields(f, &mut referenced);
    }
    for feature in &g.features {
        match &feature.kind {
            FeatureKind::Aggregate { agg, args, input, filter, window, merge, merge_inferred } => {
                let value = args.first().cloned();
                let param = args.get(1).and_then(|p| match p.kind {
                    ExprKind::Int(v) => Some(Param::Int(v)),
                    ExprKind::Float(v) => Some(Param::Float(v)),
                    _ => None,
                });
                if let Some(v) = &value {
                    note_fields(v, &mut referenced);
                }
                let predicate = filter.as_ref().map(|f| {
                    note_fields(f, &mut referenced);
                    let text = expr_text(f);
                    predicates.iter().position(|p| expr_text(p) == text).unwrap_or_else(|| {
                        predicates.push(f.clone());
                        predicates.len() - 1
                    })
                });
                let w = windows.iter().position(|w| w.spec == *window).unwrap_or_else(|| {
                    windows.push(new_window(*window));
                    windows.len() - 1
                });
                windows[w].aggregates.push(aggregates.len());
                let input_ty = input.as_ref().map(|t| t.ty.clone());
                let n = match param {
                    Some(Param::Int(n)) => Some(n),
                    _ => None,
                };
                let (algebra, partial_bytes) = algebra::algebra(*agg, input_ty.as_ref(), n);
                let eviction = match (windows[w].strategy, agg.algebra()) {
                    (WindowStrategy::Running, _) => Eviction::None,
                    (WindowStrategy::Tumbling | WindowStrategy::Session, _) => Eviction::Reset,
                    (WindowStrategy::Panes, Algebra::Invertible | Algebra::Holistic) => Eviction::Subtract,
                    (WindowStrategy::Panes, Algebra::Mergeable) => Eviction::TwoStacks,
                };
                aggregates.push(IrAggregate {
                    name: feature.name.clone(),
                    kind: *agg,
                    value,
                    input: input.clone(),
                    param,
                    predicate,
                    window: w,
                    ty: feature.ty.clone(),
                    algebra,
                    eviction,
                    merge: *merge,
                    merge_inferred: *merge_inferred,
                    partial_bytes,
                });
            }
            FeatureKind::Derived { expr, deps } => {
                let inputs = deps.iter().filter_map(|&d| g.features.get(d).map(|f| f.name.clone())).collect();
                derived.push(IrDerived {
                    name: feature.name.clone(),
                    expr: expr.clone(),
                    ty: feature.ty.clone(),
                    inputs,
                });
            }
        }
    }
    // Derived features come out of the checker in declaration order; evaluate dependencies first.
    let derived = topological(derived);
    let mut columns: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
    if !columns.contains(&source.event_time) {
        columns.push(source.event_time.clone());
    }
    for field in &source.fields {
        if referenced.contains(&field.name) && !columns.contains(&field.name) {
            columns.push(field.name.clone());
        }
    }
    let key_bytes: u64 = keys.iter().map(|k| algebra::value_bytes(&k.ty.ty)).sum();
    // Per key: the key, a hash-table slot (8 bytes of hash and control), the last event time
    // seen (for lateness), and each window's partials.
    let state_bytes_per_key = key_bytes
        + 8
        + 8
        + windows
            .iter()
            .map(|w| {
                let pane: u64 = w.aggregates.iter().map(|&a| aggregates[a].partial_bytes).sum();
                let running: u64 = w
                    .aggregates
                    .iter()
                    .filter(|&&a| aggregates[a].eviction == Eviction::Subtract)
                    .map(|&a| aggregates[a].partial_bytes)
                    .sum();
                let session_bounds = if w.strategy == WindowStrategy::Session { 16 } else { 0 };
                w.panes * pane + if w.panes > 1 { running } else { 0 } + session_bounds
            })
            .sum::<u64>();
    IrGroup {
        name: g.name.clone(),
        source: source_index,
        entity: g.entity.clone(),
        keys,
        filter: g.filter.clone(),
        columns,
        predicates,
        windows,
        aggregates,
        derived,
        outputs: g.features.iter().map(|f| f.name.clone()).collect(),
        batch_every_ms: g.batch_every_ms,
        state_bytes_per_key,
    }
}

fn new_window(spec: WindowSpec) -> IrWindow {
    let (strategy, pane_ms, panes) = match spec {
        WindowSpec::Lifetime => (WindowStrategy::Running, None, 1),
        WindowSpec::Tumbling { size_ms } => (WindowStrategy::Tumbling, Some(size_ms), 1),
        // The sawtooth window as of t starts at floor(t - size, hop): size / hop whole panes
        // and the current, partly filled one.
        WindowSpec::Sliding { size_ms, hop_ms } => (WindowStrategy::Panes, Some(hop_ms), size_ms / hop_ms.max(1) + 1),
        WindowSpec::Session { .. } => (WindowStrategy::Session, None, 1),
    };
    IrWindow { spec, strategy, pane_ms, panes, aggregates: Vec::new() }
}

/// Orders derived features so that each comes after the derived features it reads.
fn topological(derived: Vec<IrDerived>) -> Vec<IrDerived> {
    let names: Vec<String> = derived.iter().map(|d| d.name.clone()).collect();
    let mut done: Vec<IrDerived> = Vec::with_capacity(derived.len());
    let mut pending = derived;
    while !pending.is_empty() {
        let ready = |d: &IrDerived, done: &[IrDerived]| {
            d.inputs.iter().all(|i| !names.contains(i) || done.iter().any(|x| &x.name == i))
        };
        let Some(next) = pending.iter().position(|d| ready(d, &done)) else {
            // A cycle cannot reach here (the checker refuses it); keep the rest in order.
            done.append(&mut pending);
            break;
        };
        done.push(pending.remove(next));
    }
    done
}

/// FNV-1a over the canonical JSON of the IR (without the hash itself): stable across runs,
/// platforms and releases as long as the IR layout is unchanged.
fn spec_hash(ir: &FeatureIr) -> String {
    let json = serde_json::to_string(&(&ir.version, &ir.sources, &ir.groups)).unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in json.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
