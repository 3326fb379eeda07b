//! Lambda blocks in, a merge rule on every aggregate feature out, plus the per-target checks.

use std::collections::HashMap;

use super::names::Items;
use super::source::SourceInfo;
use super::{CheckedGroup, FeatureKind, Options, WindowSpec, suggest};
use crate::aggregates::Algebra;
use crate::diagnostic::Target;
use crate::problem::{NameKind, Problem};
use crate::source::Span;
use crate::syntax::ast::{Ident, LambdaBlock, LambdaStmtKind, MergeRule};
use crate::syntax::format_millis;

pub(super) fn check_lambda(
    items: &Items<'_>,
    sources: &[SourceInfo],
    groups: &mut [CheckedGroup],
    options: &Options,
    problems: &mut Vec<Problem>,
) {
    let mut rules_by_group: HashMap<usize, (&LambdaBlock, Option<u64>)> = HashMap::new();
    for block in &items.lambdas {
        let Some(gi) = items.group(&block.group.name) else {
            problems.push(Problem::Unknown {
                kind: NameKind::Group,
                name: block.group.name.clone(),
                span: block.group.span,
                suggestion: suggest(&block.group.name, items.groups.iter().map(|g| g.name.name.as_str())),
                scope: None,
            });
            continue;
        };
        let cadence = check_cadence(block, problems);
        rules_by_group.insert(gi, (block, cadence));
    }
    let lambda = options.targets.contains(&Target::Lambda);
    for (gi, group) in groups.iter_mut().enumerate() {
        let ast = items.groups[gi];
        let (block, cadence) = match rules_by_group.get(&gi) {
            Some((block, cadence)) => (Some(*block), *cadence),
            None => (None, None),
        };
        group.batch_every_ms = cadence;
        let explicit = block.map(|b| explicit_rules(b, ast, group, problems)).unwrap_or_default();
        let mut uses_batch: Vec<Span> = Vec::new();
        for feature in &mut group.features {
            let FeatureKind::Aggregate { agg, window, merge, merge_inferred, .. } = &mut feature.kind else { continue };
            let feature_span =
                ast.features.iter().find(|f| f.name.name == feature.name).map_or(ast.name.span, |f| f.name.span);
            if let Some(&(rule, rule_span)) = explicit.get(feature.name.as_str()) {
                *merge = rule;
                *merge_inferred = false;
                match rule {
                    MergeRule::BatchPlusSpeed if !agg.algebra().merges() => problems.push(Problem::IllegalMerge {
                        span: rule_span,
                        feature: feature.name.clone(),
                        feature_span,
                        func: agg.name().to_owned(),
                        algebra: agg.algebra().describe(),
                        help: match agg.mergeable_alternative() {
                            Some(alt) => {
                                format!("use `{}`, which merges, or the rule `speed` on a finite window", alt.name())
                            }
                            None => "use the rule `speed` on a finite window, or `batch`".to_owned(),
                        },
                    }),
                    MergeRule::Speed if window.is_lifetime() => problems.push(Problem::SpeedOnLifetime {
                        span: rule_span,
                        feature: feature.name.clone(),
                        feature_span,
                    }),
                    _ => {}
                }
            } else {
                *merge_inferred = true;
                *merge = match (agg.algebra(), *window) {
                    (Algebra::Holistic, WindowSpec::Lifetime) => {
                        if lambda {
                            problems.push(Problem::StaleBatchOnly {
                                span: feature_span,
                                feature: feature.name.clone(),
                                func: agg.name().to_owned(),
                                cadence: cadence.map(format_millis),
                            });
                        }
                        MergeRule::Batch
                    }
                    (Algebra::Holistic, _) => MergeRule::Speed,
                    _ => MergeRule::BatchPlusSpeed,
                };
            }
            if *merge != MergeRule::Speed {
                uses_batch.push(feature_span);
            }
        }
        if lambda && !uses_batch.is_empty() {
            let source = items.source(&group.source).and_then(|i| sources.get(i));
            if let Some(source) =
                source.filter(|s| s.checked.files.is_none() && !has_files_prop(items, &s.checked.name))
            {
                problems.push(Problem::TargetUnsupported {
                    target: Target::Lambda,
                    span: source.name_span,
                    reason: format!("source `{}` has no history files for the batch layer", source.checked.name),
                    help: format!(
                        "add `files \"...\"` to `{}`, or mark the features `merge ... = speed`",
                        source.checked.name
                    ),
                    others: uses_batch.iter().take(3).map(|s| (*s, "read from the batch view".to_owned())).collect(),
                });
            }
        }
    }
}

/// Whether the source has a `files` line, even one whose format did not resolve.
fn has_files_prop(items: &Items<'_>, source: &str) -> bool {
    items
        .source(source)
        .and_then(|i| items.sources.get(i))
        .is_some_and(|s| s.props.iter().any(|p| matches!(p.kind, crate::syntax::ast::SourcePropKind::Files { .. })))
}

fn check_cadence(block: &LambdaBlock, problems: &mut Vec<Problem>) -> Option<u64> {
    let mut first: Option<Span> = None;
    let mut cadence = None;
    for stmt in &block.stmts {
        if let LambdaStmtKind::BatchEvery(d) = &stmt.kind {
            if let Some(first) = first {
                problems.push(Problem::DuplicateProperty { span: stmt.span, first, property: "batch every" });
                continue;
            }
            first = Some(stmt.span);
            match d.millis {
                Some(0) => problems.push(Problem::BadCadence { span: d.span }),
                ms => cadence = ms,
            }
        }
    }
    cadence
}

/// The explicit rule of each feature, from the block's `merge` lines.
fn explicit_rules(
    block: &LambdaBlock,
    ast: &crate::syntax::ast::Group,
    group: &CheckedGroup,
    problems: &mut Vec<Problem>,
) -> HashMap<String, (MergeRule, Span)> {
    let mut rules: HashMap<String, (MergeRule, Span)> = HashMap::new();
    for stmt in &block.stmts {
        let LambdaStmtKind::Merge { patterns, rule, .. } = &stmt.kind else { continue };
        for pattern in patterns {
            let matched = matching(pattern, ast, group, problems);
            for name in matched {
                match rules.get(name) {
                    Some((first_rule, first)) if first_rule != rule => problems.push(Problem::ConflictingMerge {
                        span: pattern.span,
                        feature: name.to_owned(),
                        first: *first,
                        rules: (first_rule.as_str(), rule.as_str()),
                    }),
                    Some(_) => {}
                    None => {
                        rules.insert(name.to_owned(), (*rule, pattern.span));
                    }
                }
            }
        }
    }
    rules
}

/// The aggregate features a pattern names. An exact name must exist and be an aggregate; a glob
/// selects aggregates only and warns when it selects none.
fn matching<'g>(
    pattern: &Ident,
    ast: &crate::syntax::ast::Group,
    group: &'g CheckedGroup,
    problems: &mut Vec<Problem>,
) -> Vec<&'g str> {
    let is_aggregate =
        |name: &str| group.features.iter().any(|f| f.name == name && matches!(f.kind, FeatureKind::Aggregate { .. }));
    if !pattern.name.contains('*') {
        let Some(feature) = ast.features.iter().find(|f| f.name.name == pattern.name) else {
            problems.push(Problem::Unknown {
                kind: NameKind::Feature,
                name: pattern.name.clone(),
                span: pattern.span,
                suggestion: suggest(&pattern.name, ast.features.iter().map(|f| f.name.name.as_str())),
                scope: Some((ast.name.span, format!("features of `{}`", ast.name.name))),
            });
            return vec![];
        };
        if group.features.iter().any(|f| f.name == pattern.name && matches!(f.kind, FeatureKind::Derived { .. })) {
            problems.push(Problem::MergeOnDerived {
                span: pattern.span,
                feature: pattern.name.clone(),
                feature_span: feature.name.span,
            });
        }
        return group
            .features
            .iter()
            .filter(|f| f.name == pattern.name && is_aggregate(&f.name))
            .map(|f| f.name.as_str())
            .collect();
    }
    let Ok(glob) = glob::Pattern::new(&pattern.name) else {
        problems.push(Problem::PatternMatchesNothing {
            span: pattern.span,
            pattern: pattern.name.clone(),
            group: ast.name.name.clone(),
        });
        return vec![];
    };
    let matched: Vec<&str> = group
        .features
        .iter()
        .filter(|f| glob.matches(&f.name) && is_aggregate(&f.name))
        .map(|f| f.name.as_str())
        .collect();
    // Features that did not check are absent from `group`; stay quiet if the pattern names one.
    if matched.is_empty() && !ast.features.iter().any(|f| glob.matches(&f.name.name)) {
        problems.push(Problem::PatternMatchesNothing {
            span: pattern.span,
            pattern: pattern.name.clone(),
            group: ast.name.name.clone(),
        });
    }
    matched
}
