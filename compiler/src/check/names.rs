//! Parsed modules in, the project's item tables out: one namespace per kind, across files.

use std::collections::HashMap;

use crate::problem::Problem;
use crate::syntax::ast::{Entity, Group, Item, LambdaBlock, Module, Source};

/// The items of a project by kind. A name defined twice keeps its first definition.
#[derive(Debug, Default)]
pub(super) struct Items<'a> {
    pub(super) sources: Vec<&'a Source>,
    pub(super) entities: Vec<&'a Entity>,
    pub(super) groups: Vec<&'a Group>,
    pub(super) lambdas: Vec<&'a LambdaBlock>,
    source_index: HashMap<&'a str, usize>,
    entity_index: HashMap<&'a str, usize>,
    group_index: HashMap<&'a str, usize>,
}

impl<'a> Items<'a> {
    pub(super) fn source(&self, name: &str) -> Option<usize> {
        self.source_index.get(name).copied()
    }

    pub(super) fn entity(&self, name: &str) -> Option<usize> {
        self.entity_index.get(name).copied()
    }

    pub(super) fn group(&self, name: &str) -> Option<usize> {
        self.group_index.get(name).copied()
    }
}

pub(super) fn collect<'a>(modules: &'a [Module], problems: &mut Vec<Problem>) -> Items<'a> {
    let mut items = Items::default();
    let mut lambda_index: HashMap<&str, usize> = HashMap::new();
    for item in modules.iter().flat_map(|m| &m.items) {
        let name = item.name();
        if name.name.is_empty() {
            continue;
        }
        let (kind, index) = match item {
            Item::Source(_) => ("source", &mut items.source_index),
            Item::Entity(_) => ("entity", &mut items.entity_index),
            Item::Group(_) => ("feature group", &mut items.group_index),
            Item::Lambda(_) => ("lambda block for", &mut lambda_index),
        };
        if let Some(&i) = index.get(name.name.as_str()) {
            let first = match item {
                Item::Source(_) => items.sources[i].name.span,
                Item::Entity(_) => items.entities[i].name.span,
                Item::Group(_) => items.groups[i].name.span,
                Item::Lambda(_) => items.lambdas[i].group.span,
            };
            problems.push(Problem::DuplicateName { kind, name: name.name.clone(), span: name.span, first });
            continue;
        }
        match item {
            Item::Source(s) => {
                index.insert(&s.name.name, items.sources.len());
                items.sources.push(s);
            }
            Item::Entity(e) => {
                index.insert(&e.name.name, items.entities.len());
                items.entities.push(e);
            }
            Item::Group(g) => {
                index.insert(&g.name.name, items.groups.len());
                items.groups.push(g);
            }
            Item::Lambda(l) => {
                index.insert(&l.group.name, items.lambdas.len());
                items.lambdas.push(l);
            }
        }
    }
    items
}

/// Warns about sources and entities that no feature group uses.
pub(super) fn report_unused(items: &Items<'_>, problems: &mut Vec<Problem>) {
    for source in &items.sources {
        if !items.groups.iter().any(|g| g.source.name == source.name.name) {
            problems.push(Problem::UnusedSource { span: source.name.span, name: source.name.name.clone() });
        }
    }
    for entity in &items.entities {
        if !items.groups.iter().any(|g| g.entity.name == entity.name.name) {
            problems.push(Problem::UnusedEntity { span: entity.name.span, name: entity.name.name.clone() });
        }
    }
}
