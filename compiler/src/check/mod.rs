//! AST in, [`CheckedProject`] and problems out: names, types, windows, keys and merge rules.
//!
//! The passes run in order, each reading the tables of the one before:
//! `names` (items across files) → `source` (schemas, bindings) → `group` (keys, features,
//! aggregates, windows, derived features) → `lambda` (merge rules and targets) → `unused`.

mod expr;
mod group;
mod lambda;
mod names;
mod source;
mod window;

use serde::Serialize;

use crate::aggregates::AggKind;
use crate::diagnostic::Target;
use crate::problem::Problem;
use crate::syntax::ast::{Expr, MergeRule, Module};
use crate::types::{Ty, Type};

pub(crate) use window::{MAX_PANES_PER_KEY, MAX_STATE_BYTES_PER_KEY, WindowSpec, panes_per_key};

/// What to check for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The targets the spec must compile for; both by default.
    pub targets: Vec<Target>,
}

impl Default for Options {
    fn default() -> Self {
        Options { targets: Target::ALL.to_vec() }
    }
}

/// A project whose names are resolved and whose features are typed.
///
/// Built even when there are errors, from the parts that checked; only an error-free one is
/// fit for planning.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckedProject {
    pub sources: Vec<CheckedSource>,
    pub entities: Vec<CheckedEntity>,
    pub groups: Vec<CheckedGroup>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckedSource {
    pub name: String,
    pub fields: Vec<(String, Type)>,
    pub event_time: String,
    pub lateness_ms: u64,
    pub files: Option<HistoryFiles>,
    pub topic: Option<String>,
}

pub(crate) use crate::ir::{FileFormat, HistoryFiles};

#[derive(Debug, Clone, Serialize)]
pub struct CheckedEntity {
    pub name: String,
    pub keys: Vec<(String, Ty)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckedGroup {
    pub name: String,
    pub entity: String,
    pub source: String,
    pub filter: Option<Expr>,
    pub features: Vec<CheckedFeature>,
    /// `batch every`, from the group's lambda block.
    pub batch_every_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckedFeature {
    pub name: String,
    pub ty: Type,
    pub kind: FeatureKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    Aggregate {
        agg: AggKind,
        args: Vec<Expr>,
        /// The type of the aggregated value; `None` for `count()`.
        input: Option<Type>,
        filter: Option<Expr>,
        window: WindowSpec,
        /// The Lambda merge rule, as written or inferred.
        merge: MergeRule,
        merge_inferred: bool,
    },
    Derived {
        expr: Expr,
        /// Indices of the features it reads, in this group.
        deps: Vec<usize>,
    },
}

/// Checks parsed modules as one project.
pub(crate) fn check(modules: &[Module], options: &Options) -> (CheckedProject, Vec<Problem>) {
    let mut problems = Vec::new();
    let items = names::collect(modules, &mut problems);
    let sources = source::check_sources(&items, &mut problems);
    let entities = source::check_entities(&items, &mut problems);
    let mut groups = group::check_groups(&items, &sources, &entities, &mut problems);
    lambda::check_lambda(&items, &sources, &mut groups, options, &mut problems);
    names::report_unused(&items, &mut problems);
    let project = CheckedProject {
        sources: sources.into_iter().map(|s| s.checked).collect(),
        entities: entities.into_iter().map(|e| e.checked).collect(),
        groups,
    };
    (project, problems)
}

/// The names closest to `name` among `candidates`, for did-you-mean help.
pub(crate) fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == name || c.is_empty() {
            continue;
        }
        let score = strsim::jaro_winkler(&name.to_lowercase(), &c.to_lowercase());
        let close =
            name.len().min(c.len()) >= 3 && strsim::levenshtein(name, c) <= (name.len().max(c.len()) / 3).max(1);
        if (score >= 0.85 || close) && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggestions_are_close_names_only() {
        assert_eq!(super::suggest("amout", ["amount", "user_id"]).as_deref(), Some("amount"));
        assert_eq!(super::suggest("slidng", ["lifetime", "sliding", "tumbling"]).as_deref(), Some("sliding"));
        assert_eq!(super::suggest("zzz", ["amount", "user_id"]), None);
    }
}
