//! A [`CheckedProject`] in, the feature IR out: resolved, typed, position-free and
//! target-neutral, with each aggregate's algebra, each window's execution strategy and each
//! feature's and group's version. The IR and the plans built from it are the only contract
//! between the compiler and the runtime: nothing here carries a source position or an AST node.

mod algebra;
mod expr;
mod version;
mod vocab;

pub use crate::aggregates::{AggKind, Algebra};
pub use crate::types::{Ty, Type};
pub(crate) use algebra::algebra as aggregate_algebra;
pub use algebra::{ASSUMED_DISTINCT_VALUES, AggregateAlgebra, HLL_PRECISION, QUANTILE_RELATIVE_ACCURACY, StateField};
pub use expr::{BinOp, Expr, IrExpr, Literal, ScalarFn, UnaryOp, prec};
pub use vocab::{DeltaPin, FileFormat, HistoryFiles, MergeRule, Target, WindowSpec, format_millis};

use serde::Serialize;

use crate::check::{CheckedEntity, CheckedGroup, CheckedProject, FeatureKind};
use crate::format::expr_text;
use crate::syntax::ast::{Expr as Ast, ExprKind};

/// The version of the IR and plan layouts; bumped on any incompatible change.
pub const IR_VERSION: u32 = 2;

/// Event times outside these bounds (the years 1900 to 2200, in epoch milliseconds) are
/// absurd, not events: the runtime's decoder dead-letters them and the emitted SQL leaves them
/// out.
pub const EVENT_TIME_MIN_MS: i64 = -2_208_988_800_000;
pub const EVENT_TIME_MAX_MS: i64 = 7_258_118_400_000;

#[derive(Debug, Clone, Serialize)]
pub struct FeatureIr {
    pub version: u32,
    /// A summary of every group's version: equal for projects that compute the same features.
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
    /// The version of the group's state: a hash of its aggregates' versions and of the
    /// bindings its events come through. State, snapshots and batch views are kept per group
    /// and version; derived features, names and merge rules do not enter it.
    pub version: String,
    /// The group filter over [`IrGroup::columns`], applied once per event before anything else.
    pub filter: Option<IrExpr>,
    /// The source columns the group reads: keys, event time, then the fields its expressions
    /// name, in schema order. Rows hold them in this order; every event expression reads it.
    pub columns: Vec<String>,
    /// Distinct feature-level filters over [`IrGroup::columns`], each evaluated once per event
    /// and shared by the aggregates that use it.
    pub predicates: Vec<IrExpr>,
    /// Distinct windows, in a canonical order: one pane ring (or running partial) per key
    /// each, shared by all the aggregates over that window.
    pub windows: Vec<IrWindow>,
    /// The aggregates, in a canonical order (window, then version): the layout of a key's
    /// state, which reordering features in the text does not change.
    pub aggregates: Vec<IrAggregate>,
    /// Derived features in evaluation order (dependencies first).
    pub derived: Vec<IrDerived>,
    /// Every feature name, in declaration order: the layout of a feature vector.
    pub outputs: Vec<String>,
    pub batch_every_ms: Option<u64>,
    /// Estimated bytes of state per key, all windows included.
    pub state_bytes_per_key: u64,
    /// Which operators keep the state.
    pub layout: Layout,
}

impl IrGroup {
    /// The fields of [`IrGroup::columns`] with their types, in row order.
    pub fn fields<'a>(&self, source: &'a IrSource) -> Vec<&'a IrField> {
        self.columns.iter().filter_map(|c| source.fields.iter().find(|f| &f.name == c)).collect()
    }

    /// The same group on the row layout, with the row layout's evictions (two-stacks merges
    /// where the columnar layout merges the panes of a min, max, HyperLogLog or first/last at
    /// each lookup): the reference the columnar layout is tested against. The features are the
    /// same on either layout.
    pub fn on_rows(&self) -> IrGroup {
        let mut group = self.clone();
        group.layout = Layout::Rows;
        for a in &mut group.aggregates {
            a.eviction = eviction(self.windows[a.window].strategy, &a.algebra, Layout::Rows);
        }
        group
    }
}

/// How a window of `strategy` drops what leaves it, for an aggregate of `algebra`, on `layout`.
fn eviction(strategy: WindowStrategy, algebra: &AggregateAlgebra, layout: Layout) -> Eviction {
    match strategy {
        WindowStrategy::Running => Eviction::None,
        WindowStrategy::Tumbling | WindowStrategy::Session => Eviction::Reset,
        WindowStrategy::Panes if algebra.retract.is_some() => Eviction::Subtract,
        WindowStrategy::Panes if layout == Layout::Columnar => Eviction::MergePanes,
        WindowStrategy::Panes => Eviction::TwoStacks,
    }
}

/// How a window's state is kept and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStrategy {
    /// One partial per key, never evicted.
    Running,
    /// One partial per key for the current window, reset at each boundary.
    Tumbling,
    /// Panes of `hop`; the window is the last `size / hop` panes plus the current one. Each
    /// aggregate's [`Eviction`] says how a query combines them: a running total less the
    /// evicted panes, or a two-stacks aggregator.
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
    /// A running total over the live panes: each event is added to it, and an evicted pane
    /// (or one a later query no longer covers) is subtracted. For aggregates whose algebra
    /// has a `retract`.
    Subtract,
    /// A two-stacks aggregator over the live panes: the older panes with their suffix merges,
    /// the newer ones with their running merge, so a query combines two partials instead of
    /// every pane. For mergeable aggregates without a `retract`.
    TwoStacks,
    /// The live panes merged at each lookup: the columnar path's sliding windows, for the
    /// aggregates without a `retract` (its ingest keeps flat pane slots and running totals,
    /// no two-stacks aggregator).
    MergePanes,
}

/// Which operators keep a group's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Flat slot arrays over Arrow columns, for groups whose aggregates each read one column
    /// of a scalar type (or nothing), with no session windows.
    Columnar,
    /// Per-key partials over rows of values: every aggregate, filter and window.
    Rows,
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
    /// A hash of the feature's meaning: aggregate, argument, filter, window, and the source
    /// fields, event time, lateness, keys and group filter it depends on.
    pub version: String,
    pub kind: AggKind,
    /// The value aggregated, over [`IrGroup::columns`]; `None` for `count()`.
    pub value: Option<IrExpr>,
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

impl IrAggregate {
    /// Whether the aggregated value is an integer (sums stay in integers).
    pub fn integer_input(&self) -> bool {
        self.input.as_ref().is_some_and(|t| t.ty == Ty::I64)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IrDerived {
    pub name: String,
    /// A hash of the expression over the versions of the features it reads.
    pub version: String,
    /// Over the feature vector: positions in [`IrGroup::outputs`].
    pub expr: IrExpr,
    pub ty: Type,
    /// The features it reads.
    pub inputs: Vec<String>,
}

/// Lowers a checked project (which must have no errors) to the IR. Fails only on what the
/// checker rejects.
pub fn lower(project: &CheckedProject) -> Result<FeatureIr, String> {
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
    let mut groups = Vec::with_capacity(project.groups.len());
    for g in &project.groups {
        let source = sources.iter().position(|s| s.name == g.source).ok_or("a group without its source")?;
        let entity = project.entities.iter().find(|e| e.name == g.entity).ok_or("a group without its entity")?;
        groups.push(lower_group(g, source, &sources[source], entity).map_err(|e| format!("group `{}`: {e}", g.name))?);
    }
    let spec_hash = version::project(&groups);
    Ok(FeatureIr { version: IR_VERSION, spec_hash, sources, groups })
}

/// An aggregate before the group's canonical order is known.
struct Pending {
    aggregate: IrAggregate,
    window: WindowSpec,
}

fn lower_group(
    g: &CheckedGroup,
    source_index: usize,
    source: &IrSource,
    entity: &CheckedEntity,
) -> Result<IrGroup, String> {
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
    // The columns: keys, event time, then every field an expression names, in schema order.
    let mut referenced: Vec<String> = Vec::new();
    let mut note = |e: &Ast| {
        e.walk(&mut |x| {
            if let ExprKind::Name(id) = &x.kind {
                referenced.push(id.name.clone());
            }
        });
    };
    g.filter.iter().for_each(&mut note);
    for feature in &g.features {
        if let FeatureKind::Aggregate { args, filter, .. } = &feature.kind {
            args.first().into_iter().chain(filter).for_each(&mut note);
        }
    }
    let mut columns: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
    if !columns.contains(&source.event_time) {
        columns.push(source.event_time.clone());
    }
    for field in &source.fields {
        if referenced.contains(&field.name) && !columns.contains(&field.name) {
            columns.push(field.name.clone());
        }
    }
    let column = |name: &str| columns.iter().position(|c| c == name);
    let lower_event =
        |e: &Ast| -> Result<IrExpr, String> { Ok(IrExpr { tree: expr::lower(e, &column)?, text: expr_text(e) }) };
    let context = version::Context::new(source, &keys, &columns, g.filter.as_ref().map(&lower_event).transpose()?);

    let mut predicates: Vec<IrExpr> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    for feature in &g.features {
        let FeatureKind::Aggregate { agg, args, input, filter, window, merge, merge_inferred } = &feature.kind else {
            continue;
        };
        let value = args.first().map(&lower_event).transpose()?;
        let param = args.get(1).and_then(|p| match p.kind {
            ExprKind::Int(v) => Some(Param::Int(v)),
            ExprKind::Float(v) => Some(Param::Float(v)),
            _ => None,
        });
        let predicate = filter.as_ref().map(&lower_event).transpose()?;
        let input_ty = input.as_ref().map(|t| t.ty.clone());
        let n = match param {
            Some(Param::Int(n)) => Some(n),
            _ => None,
        };
        let (algebra, partial_bytes) = algebra::algebra(*agg, input_ty.as_ref(), n);
        let eviction = eviction(strategy(*window).0, &algebra, Layout::Rows);
        let version = context.aggregate(*agg, param, input.as_ref(), value.as_ref(), predicate.as_ref(), *window);
        let predicate = predicate.map(|p| {
            let canonical = |e: &IrExpr| e.tree.canonical(&|i| columns[i].clone());
            predicates.iter().position(|q| canonical(q) == canonical(&p)).unwrap_or_else(|| {
                predicates.push(p);
                predicates.len() - 1
            })
        });
        pending.push(Pending {
            window: *window,
            aggregate: IrAggregate {
                name: feature.name.clone(),
                version,
                kind: *agg,
                value,
                input: input.clone(),
                param,
                predicate,
                window: 0,
                ty: feature.ty.clone(),
                algebra,
                eviction,
                merge: *merge,
                merge_inferred: *merge_inferred,
                partial_bytes,
            },
        });
    }
    // The canonical layout of a key's state: windows by spec, aggregates by window, version and
    // name, so that reordering the text leaves snapshots and views valid.
    pending.sort_by(|a, b| {
        (a.window, &a.aggregate.version, &a.aggregate.name).cmp(&(b.window, &b.aggregate.version, &b.aggregate.name))
    });
    let layout = if columnar(predicates.len(), &pending, source, &columns) { Layout::Columnar } else { Layout::Rows };
    let mut windows: Vec<IrWindow> = Vec::new();
    let mut aggregates = Vec::with_capacity(pending.len());
    for Pending { window, mut aggregate } in pending {
        if windows.last().is_none_or(|w| w.spec != window) {
            let (strategy, pane_ms, panes) = strategy(window);
            windows.push(IrWindow { spec: window, strategy, pane_ms, panes, aggregates: Vec::new() });
        }
        let w = windows.len() - 1;
        aggregate.window = w;
        aggregate.eviction = eviction(windows[w].strategy, &aggregate.algebra, layout);
        windows[w].aggregates.push(aggregates.len());
        aggregates.push(aggregate);
    }

    let outputs: Vec<String> = g.features.iter().map(|f| f.name.clone()).collect();
    let mut derived = Vec::new();
    for feature in &g.features {
        if let FeatureKind::Derived { expr: e, deps } = &feature.kind {
            let tree = expr::lower(e, &|name| outputs.iter().position(|o| o == name))?;
            derived.push(IrDerived {
                name: feature.name.clone(),
                version: String::new(),
                expr: IrExpr { tree, text: expr_text(e) },
                ty: feature.ty.clone(),
                inputs: deps.iter().filter_map(|&d| g.features.get(d).map(|f| f.name.clone())).collect(),
            });
        }
    }
    // Derived features come out of the checker in declaration order; evaluate dependencies first.
    let mut derived = topological(derived);
    version::derived(&mut derived, &aggregates, &outputs);
    let state_bytes_per_key = state_bytes(&keys, &windows, &aggregates);
    Ok(IrGroup {
        name: g.name.clone(),
        source: source_index,
        entity: g.entity.clone(),
        version: context.group(&aggregates),
        keys,
        filter: context.filter,
        columns,
        predicates,
        windows,
        aggregates,
        derived,
        outputs,
        batch_every_ms: g.batch_every_ms,
        state_bytes_per_key,
        layout,
    })
}

/// Whether a group runs on the columnar path: count, sum, avg, min and max of plain numeric
/// fields (min, max and count of times too) or `count()`, with any group and feature filters
/// (at most 64 of the latter), and no session windows.
fn columnar(predicates: usize, pending: &[Pending], source: &IrSource, columns: &[String]) -> bool {
    let ty = |e: &IrExpr| match e.tree {
        Expr::Column(i) => {
            columns.get(i).and_then(|c| source.fields.iter().find(|f| &f.name == c)).map(|f| f.ty.ty.clone())
        }
        _ => None,
    };
    // An event's feature filters are a 64-bit mask on the columnar path; aggregates read a
    // column of a scalar type (numbers in words, the others as boxed partials), a value computed
    // from the event's columns (boxed, evaluated as the row path evaluates it), or nothing.
    let scalar = |t: Option<Ty>| matches!(t, Some(Ty::I64 | Ty::F64 | Ty::Timestamp | Ty::String | Ty::Bool));
    predicates <= 64
        && pending.iter().all(|p| {
            let a = &p.aggregate;
            match &a.value {
                None => a.kind == AggKind::Count,
                Some(e) if matches!(e.tree, Expr::Column(_)) => scalar(ty(e)),
                Some(e) => {
                    scalar(a.input.as_ref().map(|t| t.ty.clone()))
                        && e.tree.columns().iter().all(|&i| {
                            scalar(
                                columns
                                    .get(i)
                                    .and_then(|c| source.fields.iter().find(|f| &f.name == c))
                                    .map(|f| f.ty.ty.clone()),
                            )
                        })
                }
            }
        })
}

/// Per key: the key, a hash-table slot (8 bytes of hash and control), the last event time seen
/// (for lateness), and each window's partials.
fn state_bytes(keys: &[IrField], windows: &[IrWindow], aggregates: &[IrAggregate]) -> u64 {
    let key_bytes: u64 = keys.iter().map(|k| algebra::value_bytes(&k.ty.ty)).sum();
    key_bytes
        + 8
        + 8
        + windows
            .iter()
            .map(|w| {
                let pane: u64 = w.aggregates.iter().map(|&a| aggregates[a].partial_bytes).sum();
                // A running total (subtract) or the two stacks' merged partials (one per pane).
                let extra: u64 = w
                    .aggregates
                    .iter()
                    .map(|&a| match aggregates[a].eviction {
                        Eviction::Subtract => aggregates[a].partial_bytes,
                        Eviction::TwoStacks => w.panes * aggregates[a].partial_bytes,
                        Eviction::None | Eviction::Reset | Eviction::MergePanes => 0,
                    })
                    .sum();
                let session_bounds = if w.strategy == WindowStrategy::Session { 16 } else { 0 };
                w.panes * pane + extra + session_bounds
            })
            .sum::<u64>()
}

/// A window's strategy, pane width and partials per key.
fn strategy(spec: WindowSpec) -> (WindowStrategy, Option<u64>, u64) {
    match spec {
        WindowSpec::Lifetime => (WindowStrategy::Running, None, 1),
        WindowSpec::Tumbling { size_ms } => (WindowStrategy::Tumbling, Some(size_ms), 1),
        // The sawtooth window as of t starts at floor(t - size, hop): size / hop whole panes
        // and the current, partly filled one.
        WindowSpec::Sliding { size_ms, hop_ms } => (WindowStrategy::Panes, Some(hop_ms), size_ms / hop_ms.max(1) + 1),
        WindowSpec::Session { .. } => (WindowStrategy::Session, None, 1),
    }
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
