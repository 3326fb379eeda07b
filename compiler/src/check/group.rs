//! Feature groups in, [`CheckedGroup`]s out: keys against the source, aggregates and their
//! arguments, windows, filters, and derived features in dependency order.

use std::collections::HashMap;

use super::expr::{Scope, Typer};
use super::names::Items;
use super::source::{EntityInfo, SourceInfo};
use super::window::{check_resources, check_window};
use super::{CheckedFeature, CheckedGroup, FeatureKind, suggest};
use crate::aggregates::{AggKind, MAX_LIST_LEN};
use crate::problem::{NameKind, Problem};
use crate::source::Span;
use crate::syntax::ast::{Expr, ExprKind, Feature, Group, MergeRule};
use crate::types::{Ty, Type};

pub(super) fn check_groups(
    items: &Items<'_>,
    sources: &[SourceInfo],
    entities: &[EntityInfo],
    problems: &mut Vec<Problem>,
) -> Vec<CheckedGroup> {
    items
        .groups
        .iter()
        .map(|group| {
            let source =
                resolve(items.source(&group.source.name), sources, &group.source, NameKind::Source, problems, || {
                    items.sources.iter().map(|s| s.name.name.as_str()).collect()
                });
            let entity =
                resolve(items.entity(&group.entity.name), entities, &group.entity, NameKind::Entity, problems, || {
                    items.entities.iter().map(|e| e.name.name.as_str()).collect()
                });
            if let (Some(source), Some(entity)) = (source, entity) {
                check_keys(group, source, entity, problems);
            }
            check_group(group, source, problems)
        })
        .collect()
}

fn resolve<'t, T>(
    index: Option<usize>,
    table: &'t [T],
    name: &crate::syntax::ast::Ident,
    kind: NameKind,
    problems: &mut Vec<Problem>,
    candidates: impl FnOnce() -> Vec<&'t str>,
) -> Option<&'t T> {
    match index {
        Some(i) => table.get(i),
        None => {
            let suggestion = suggest(&name.name, candidates());
            problems.push(Problem::Unknown { kind, name: name.name.clone(), span: name.span, suggestion, scope: None });
            None
        }
    }
}

fn check_keys(group: &Group, source: &SourceInfo, entity: &EntityInfo, problems: &mut Vec<Problem>) {
    if !entity.keys_ok {
        return;
    }
    for ((key, ty), key_span) in entity.checked.keys.iter().zip(&entity.key_spans) {
        match source.field(key) {
            None if source.field_spans.contains_key(key) => {}
            None => problems.push(Problem::KeyNotInSource {
                span: group.entity.span,
                key: key.clone(),
                source: source.checked.name.clone(),
                source_span: source.name_span,
                entity_span: *key_span,
            }),
            Some(found) if found.ty != *ty => problems.push(Problem::KeyTypeMismatch {
                span: *key_span,
                key: key.clone(),
                entity_ty: Type::not_null(ty.clone()),
                source_ty: found.clone(),
                source_span: source.field_spans.get(key).copied().unwrap_or(source.name_span),
            }),
            Some(_) => {}
        }
    }
}

fn check_group(group: &Group, source: Option<&SourceInfo>, problems: &mut Vec<Problem>) -> CheckedGroup {
    let names: Vec<String> = group.features.iter().map(|f| f.name.name.clone()).collect();
    let mut first_span: HashMap<&str, Span> = HashMap::new();
    let mut duplicate = vec![false; group.features.len()];
    for (i, f) in group.features.iter().enumerate() {
        if let Some(first) = first_span.get(f.name.name.as_str()) {
            problems.push(Problem::DuplicateName {
                kind: "feature",
                name: f.name.name.clone(),
                span: f.name.span,
                first: *first,
            });
            duplicate[i] = true;
        } else {
            first_span.insert(&f.name.name, f.name.span);
        }
    }
    if group.features.is_empty() {
        problems.push(Problem::EmptyGroup { span: group.name.span, name: group.name.name.clone() });
    }
    if let (Some(filter), Some(source)) = (&group.filter, source) {
        check_filter(filter, source, &names, "in a group filter", problems);
    }

    // Aggregates first: their types are what derived features read.
    let mut types: Vec<(String, Option<Type>)> = Vec::with_capacity(names.len());
    let mut kinds: Vec<Option<FeatureKind>> = Vec::with_capacity(names.len());
    for (feature, dup) in group.features.iter().zip(&duplicate) {
        let checked = if *dup { None } else { check_aggregate_feature(feature, source, &names, problems) };
        let (ty, kind) = checked.map_or((None, None), |(t, k)| (Some(t), Some(k)));
        types.push((feature.name.name.clone(), ty));
        kinds.push(kind);
    }
    check_derived(group, source, &duplicate, &mut types, &mut kinds, problems);

    let features = group
        .features
        .iter()
        .zip(types)
        .zip(kinds)
        .filter_map(|((f, (_, ty)), kind)| Some(CheckedFeature { name: f.name.name.clone(), ty: ty?, kind: kind? }))
        .collect();
    CheckedGroup {
        name: group.name.name.clone(),
        entity: group.entity.name.clone(),
        source: group.source.name.clone(),
        filter: group.filter.clone(),
        features,
        batch_every_ms: None,
    }
}

fn check_filter(
    filter: &Expr,
    source: &SourceInfo,
    features: &[String],
    context: &'static str,
    problems: &mut Vec<Problem>,
) {
    let mut typer = Typer { scope: Scope::Fields { source, features }, problems, context };
    if let Some(t) = typer.type_of(filter)
        && !matches!(t.ty, Ty::Bool | Ty::Null)
    {
        problems.push(Problem::FilterNotBool { span: filter.span, found: t });
    }
}

/// The single aggregate call a feature is, if it is one.
fn as_aggregate(expr: &Expr) -> Option<(AggKind, &[Expr], Span)> {
    match &expr.kind {
        ExprKind::Call { func, args } => AggKind::from_name(&func.name).map(|k| (k, args.as_slice(), func.span)),
        _ => None,
    }
}

/// Checks an aggregate feature; derived features (no window, no aggregate) are left for later
/// and come back as `None`, like aggregates with errors.
fn check_aggregate_feature(
    feature: &Feature,
    source: Option<&SourceInfo>,
    names: &[String],
    problems: &mut Vec<Problem>,
) -> Option<(Type, FeatureKind)> {
    let aggregate = as_aggregate(&feature.expr);
    if let (None, Some(_), ExprKind::Call { func, .. }) = (aggregate, &feature.window, &feature.expr.kind)
        && crate::ir::ScalarFn::from_name(&func.name).is_none()
    {
        let suggestion = suggest(&func.name, AggKind::ALL.iter().map(|k| k.name()));
        problems.push(Problem::Unknown {
            kind: NameKind::Function,
            name: func.name.clone(),
            span: func.span,
            suggestion,
            scope: None,
        });
        return None;
    }
    let Some((agg, args, _)) = aggregate else {
        let clause =
            feature.window.as_ref().map(|w| ("over", w.span)).or(feature.filter.as_ref().map(|f| ("where", f.span)));
        if let Some((clause, span)) = clause {
            problems.push(Problem::WindowOnDerived { span, clause, expr_span: feature.expr.span });
        }
        return None;
    };
    let window = match &feature.window {
        Some(w) => check_window(w, problems),
        None => {
            problems.push(Problem::MissingWindow { span: feature.expr.span, feature: feature.name.name.clone() });
            None
        }
    };
    let source = source?;
    if let Some(filter) = &feature.filter {
        check_filter(filter, source, names, "in a `where` filter", problems);
    }
    let ty = aggregate_type(agg, args, feature.expr.span, source, names, problems);
    let ((ty, input), window) = (ty?, window?);
    if let Some(w) = &feature.window {
        let param = match args.get(1).map(|a| &a.kind) {
            Some(ExprKind::Int(n)) => Some(*n),
            _ => None,
        };
        let partial_bytes = crate::ir::aggregate_algebra(agg, input.as_ref().map(|t| &t.ty), param).1;
        check_resources(w.span, window, agg, partial_bytes, problems);
    }
    let kind = FeatureKind::Aggregate {
        agg,
        args: args.to_vec(),
        input,
        filter: feature.filter.clone(),
        window,
        merge: MergeRule::BatchPlusSpeed,
        merge_inferred: true,
    };
    Some((ty, kind))
}

/// Checks an aggregate's arguments and gives its result type and its input's type (see
/// `docs/language.md`).
fn aggregate_type(
    agg: AggKind,
    args: &[Expr],
    span: Span,
    source: &SourceInfo,
    names: &[String],
    problems: &mut Vec<Problem>,
) -> Option<(Type, Option<Type>)> {
    let arity_ok = match agg {
        AggKind::Count => args.len() <= 1,
        AggKind::FirstN | AggKind::LastN | AggKind::ApproxPercentile | AggKind::TopK => args.len() == 2,
        _ => args.len() == 1,
    };
    if !arity_ok {
        let expected = format!("the arguments `{}`", agg.signature());
        problems.push(Problem::WrongArgCount { span, func: agg.name().to_owned(), expected, found: args.len() });
        return None;
    }
    let Some(value) = args.first() else {
        return Some((Type::not_null(Ty::I64), None)); // count()
    };
    let context = "inside another aggregate";
    let t =
        Typer { scope: Scope::Fields { source, features: names }, problems: &mut *problems, context }.type_of(value)?;
    let bad = |expected: &'static str, help: Option<String>| Problem::BadAggregateArg {
        span: value.span,
        func: agg.name().to_owned(),
        expected,
        found: t.clone(),
        help,
    };
    let result = match agg {
        AggKind::Count => Type::not_null(Ty::I64),
        AggKind::CountDistinct | AggKind::ApproxCountDistinct => Type::not_null(Ty::I64),
        AggKind::Sum | AggKind::Avg | AggKind::Variance | AggKind::Stddev | AggKind::ApproxPercentile => {
            if !t.is_numeric() {
                let help = (t.ty == Ty::Bool && agg == AggKind::Sum)
                    .then(|| "to count the events where it holds, write `count() where <field>`".to_owned());
                problems.push(bad("a number", help));
                return None;
            }
            match agg {
                AggKind::Sum => Type::not_null(if t.ty == Ty::F64 { Ty::F64 } else { Ty::I64 }),
                _ => Type::nullable(Ty::F64),
            }
        }
        AggKind::Min | AggKind::Max => {
            if !t.ty.is_ordered() {
                problems.push(bad("a number, string or timestamp", None));
                return None;
            }
            Type::nullable(t.ty.clone())
        }
        AggKind::First | AggKind::Last => Type::nullable(t.ty.clone()),
        AggKind::FirstN | AggKind::LastN | AggKind::TopK => Type::nullable(Ty::List(Box::new(t.ty.clone()))),
    };
    if let Some(param) = args.get(1) {
        check_parameter(agg, param, problems)?;
    }
    Some((result, Some(t)))
}

/// The constant second argument: `n`/`k` an integer in 1..=1000, `p` a number in [0, 1].
fn check_parameter(agg: AggKind, param: &Expr, problems: &mut Vec<Problem>) -> Option<()> {
    let func = agg.name().to_owned();
    let span = param.span;
    // A literal written with a minus sign is still a constant.
    let negated = |e: &Expr| match &e.kind {
        ExprKind::Unary { op: crate::syntax::ast::UnaryOp::Neg, expr } => match expr.kind {
            ExprKind::Int(v) => Some(ExprKind::Int(-v)),
            ExprKind::Float(v) => Some(ExprKind::Float(-v)),
            _ => None,
        },
        _ => None,
    };
    let kind = negated(param).unwrap_or_else(|| param.kind.clone());
    if agg == AggKind::ApproxPercentile {
        let p = match kind {
            ExprKind::Float(v) => v,
            ExprKind::Int(v) => v as f64,
            _ => {
                problems.push(Problem::ArgNotConstant { span, func, arg: "percentile" });
                return None;
            }
        };
        if !(0.0..=1.0).contains(&p) {
            problems.push(Problem::ArgOutOfRange { span, func, arg: "percentile", range: "between 0 and 1" });
            return None;
        }
        return Some(());
    }
    let arg = if agg == AggKind::TopK { "k" } else { "n" };
    match kind {
        ExprKind::Int(n) if (1..=MAX_LIST_LEN).contains(&n) => Some(()),
        ExprKind::Int(_) => {
            problems.push(Problem::ArgOutOfRange { span, func, arg, range: "an integer from 1 to 1000" });
            None
        }
        _ => {
            problems.push(Problem::ArgNotConstant { span, func, arg });
            None
        }
    }
}

/// Types derived features in dependency order and reports cycles among them.
fn check_derived(
    group: &Group,
    source: Option<&SourceInfo>,
    duplicate: &[bool],
    types: &mut [(String, Option<Type>)],
    kinds: &mut [Option<FeatureKind>],
    problems: &mut Vec<Problem>,
) {
    let index: HashMap<&str, usize> =
        group.features.iter().enumerate().rev().map(|(i, f)| (f.name.name.as_str(), i)).collect();
    let derived: Vec<usize> =
        (0..group.features.len()).filter(|&i| !duplicate[i] && is_derived(&group.features[i])).collect();
    // Dependencies of each derived feature, by index.
    let mut deps: HashMap<usize, Vec<usize>> = HashMap::new();
    for &i in &derived {
        let mut d = Vec::new();
        group.features[i].expr.walk(&mut |e| {
            if let ExprKind::Name(id) = &e.kind
                && let Some(&j) = index.get(id.name.as_str())
                && !d.contains(&j)
            {
                d.push(j);
            }
        });
        deps.insert(i, d);
    }
    let mut state = vec![Visit::New; group.features.len()];
    let mut order = Vec::new();
    for &i in &derived {
        visit(i, &deps, &mut state, &mut order, group, problems);
    }
    for i in order {
        let feature = &group.features[i];
        let in_cycle = state[i] == Visit::Cyclic;
        let t = if in_cycle {
            None
        } else {
            let scope = Scope::Features { features: &*types, source };
            Typer { scope, problems: &mut *problems, context: "in a derived feature" }.type_of(&feature.expr)
        };
        types[i].1 = t;
        kinds[i] = Some(FeatureKind::Derived { expr: feature.expr.clone(), deps: deps.remove(&i).unwrap_or_default() });
    }
}

fn is_derived(feature: &Feature) -> bool {
    as_aggregate(&feature.expr).is_none() && feature.window.is_none() && feature.filter.is_none()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    Active,
    Done,
    Cyclic,
}

/// Depth-first search in dependency order, with an explicit stack so that a long chain of
/// derived features cannot overflow the call stack; a back edge is a cycle, reported once.
fn visit(
    root: usize,
    deps: &HashMap<usize, Vec<usize>>,
    state: &mut [Visit],
    order: &mut Vec<usize>,
    group: &Group,
    problems: &mut Vec<Problem>,
) {
    if state[root] != Visit::New {
        return;
    }
    state[root] = Visit::Active;
    // The path from the root, each node with the index of its next dependency to visit.
    let mut path: Vec<(usize, usize)> = vec![(root, 0)];
    while let Some(&mut (i, ref mut next)) = path.last_mut() {
        let node_deps = deps.get(&i).map_or(&[][..], Vec::as_slice);
        let Some(&j) = node_deps.get(*next) else {
            path.pop();
            if state[i] == Visit::Active {
                state[i] = Visit::Done;
            }
            order.push(i);
            continue;
        };
        *next += 1;
        match state[j] {
            Visit::New if deps.contains_key(&j) => {
                state[j] = Visit::Active;
                path.push((j, 0));
            }
            Visit::Active => {
                let start = path.iter().position(|&(p, _)| p == j).unwrap_or(0);
                let cycle: Vec<usize> = path[start..].iter().map(|&(c, _)| c).collect();
                let mut names: Vec<String> = cycle.iter().map(|&c| group.features[c].name.name.clone()).collect();
                names.push(group.features[j].name.name.clone());
                problems.push(Problem::DerivedCycle {
                    span: group.features[j].name.span,
                    path: names,
                    others: cycle.iter().filter(|&&c| c != j).map(|&c| group.features[c].name.span).collect(),
                });
                for c in cycle {
                    state[c] = Visit::Cyclic;
                }
            }
            _ => {}
        }
    }
}
