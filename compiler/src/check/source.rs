//! Source and entity items in, checked schemas, bindings and keys out.

use std::collections::HashMap;

use super::names::Items;
use super::{CheckedEntity, CheckedSource, FileFormat, HistoryFiles, suggest};
use crate::ir::DeltaPin;
use crate::problem::{NameKind, Problem};
use crate::source::Span;
use crate::syntax::ast::{Field, PinLit, Source, SourcePropKind, TypeRef};
use crate::types::{Ty, Type};

/// A checked source and where its parts were written, for later messages.
#[derive(Debug)]
pub(super) struct SourceInfo {
    pub(super) checked: CheckedSource,
    pub(super) name_span: Span,
    /// Field name to its span in the schema.
    pub(super) field_spans: HashMap<String, Span>,
}

impl SourceInfo {
    pub(super) fn field(&self, name: &str) -> Option<&Type> {
        self.checked.fields.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    pub(super) fn field_names(&self) -> impl Iterator<Item = &str> {
        self.checked.fields.iter().map(|(n, _)| n.as_str())
    }
}

#[derive(Debug)]
pub(super) struct EntityInfo {
    pub(super) checked: CheckedEntity,
    /// Whether every key resolved to a hashable type; when not, groups skip the key checks.
    pub(super) keys_ok: bool,
    pub(super) key_spans: Vec<Span>,
}

pub(super) fn check_sources(items: &Items<'_>, problems: &mut Vec<Problem>) -> Vec<SourceInfo> {
    items.sources.iter().map(|s| check_source(s, problems)).collect()
}

fn check_source(source: &Source, problems: &mut Vec<Problem>) -> SourceInfo {
    let mut seen: HashMap<&'static str, Span> = HashMap::new();
    let mut checked = CheckedSource {
        name: source.name.name.clone(),
        fields: Vec::new(),
        event_time: String::new(),
        lateness_ms: 0,
        files: None,
        topic: None,
    };
    let mut field_spans = HashMap::new();
    let mut event_time = None;
    for prop in &source.props {
        let keyword = prop.kind.keyword();
        if let Some(first) = seen.get(keyword) {
            problems.push(Problem::DuplicateProperty { span: prop.span, first: *first, property: keyword });
            continue;
        }
        seen.insert(keyword, prop.span);
        match &prop.kind {
            SourcePropKind::EventTime(field) => event_time = Some(field),
            SourcePropKind::Lateness(d) => checked.lateness_ms = d.millis.unwrap_or(u64::MAX),
            SourcePropKind::Files { path, format, pin } => {
                let resolved = match format {
                    Some(f) => FileFormat::from_name(&f.name).or_else(|| {
                        problems.push(Problem::Unknown {
                            kind: NameKind::Format,
                            name: f.name.clone(),
                            span: f.span,
                            suggestion: suggest(&f.name, FileFormat::NAMES),
                            scope: None,
                        });
                        None
                    }),
                    None => FileFormat::from_path(&path.value).or_else(|| {
                        problems.push(Problem::FormatNotInferred { span: path.span, path: path.value.clone() });
                        None
                    }),
                };
                let pin = pin.as_ref().and_then(|pin| match resolved {
                    Some(FileFormat::Delta) => delta_pin(pin, problems),
                    Some(_) => {
                        problems.push(Problem::PinWithoutDelta { span: pin.span() });
                        None
                    }
                    None => None,
                });
                checked.files = resolved.map(|format| HistoryFiles { glob: path.value.clone(), format, pin });
            }
            SourcePropKind::Topic(t) => checked.topic = Some(t.value.clone()),
            SourcePropKind::Schema(fields) => {
                let mut by_name: HashMap<&str, Span> = HashMap::new();
                for field in fields {
                    if let Some(first) = by_name.get(field.name.name.as_str()) {
                        problems.push(Problem::DuplicateName {
                            kind: "field",
                            name: field.name.name.clone(),
                            span: field.name.span,
                            first: *first,
                        });
                        continue;
                    }
                    by_name.insert(&field.name.name, field.name.span);
                    field_spans.insert(field.name.name.clone(), field.name.span);
                    if let Some(ty) = scalar_type(&field.ty, problems) {
                        checked.fields.push((field.name.name.clone(), ty));
                    }
                }
            }
        }
    }
    for (property, example) in [("event_time", "event_time ts"), ("schema", "schema { ts: timestamp }")] {
        if !seen.contains_key(property) {
            problems.push(Problem::MissingProperty {
                span: source.name.span,
                block: "source",
                name: source.name.name.clone(),
                property,
                example,
            });
        }
    }
    if let Some(field) = event_time {
        checked.event_time = field.name.clone();
        match checked.fields.iter().find(|(n, _)| *n == field.name) {
            Some((_, ty)) if ty.ty == Ty::Timestamp && !ty.nullable => {}
            Some((_, ty)) => problems.push(Problem::EventTimeNotTimestamp {
                span: field.span,
                field: field.name.clone(),
                ty: ty.clone(),
                field_span: field_spans.get(&field.name).copied().unwrap_or(field.span),
            }),
            // A field whose type did not resolve was reported already.
            None if field_spans.contains_key(&field.name) => {}
            None => problems.push(Problem::Unknown {
                kind: NameKind::Field,
                name: field.name.clone(),
                span: field.span,
                suggestion: suggest(&field.name, checked.fields.iter().map(|(n, _)| n.as_str())),
                scope: Some((source.name.span, format!("fields of `{}`", source.name.name))),
            }),
        }
    }
    SourceInfo { checked, name_span: source.name.span, field_spans }
}

/// Resolves a schema or key type: one of the scalar types, optionally nullable.
pub(super) fn scalar_type(ty: &TypeRef, problems: &mut Vec<Problem>) -> Option<Type> {
    match Ty::from_name(&ty.name.name) {
        Some(t) if ty.arg.is_none() => Some(Type::new(t, ty.nullable)),
        _ => {
            let alias = match ty.name.name.as_str() {
                "int" | "integer" | "long" | "int64" | "bigint" => Some("i64"),
                "float" | "double" | "float64" | "number" => Some("f64"),
                "str" | "text" | "varchar" | "String" => Some("string"),
                "boolean" => Some("bool"),
                "datetime" | "time" | "date" | "Timestamp" => Some("timestamp"),
                _ => None,
            };
            let suggestion = alias.map(str::to_owned).or_else(|| suggest(&ty.name.name, Ty::SCALAR_NAMES));
            let scope = (ty.name.name == "list")
                .then(|| (ty.span, "lists are results of aggregates, not event fields".to_owned()));
            problems.push(Problem::Unknown {
                kind: NameKind::Type,
                name: ty.name.name.clone(),
                span: ty.name.span,
                suggestion,
                scope,
            });
            None
        }
    }
}

pub(super) fn check_entities(items: &Items<'_>, problems: &mut Vec<Problem>) -> Vec<EntityInfo> {
    items
        .entities
        .iter()
        .map(|entity| {
            let mut keys_ok = true;
            let mut keys = Vec::new();
            let mut key_spans = Vec::new();
            if entity.key_decls.is_empty() {
                keys_ok = false;
                problems.push(Problem::MissingProperty {
                    span: entity.name.span,
                    block: "entity",
                    name: entity.name.name.clone(),
                    property: "key",
                    example: "key user_id: string",
                });
            }
            for extra in entity.key_decls.iter().skip(1) {
                problems.push(Problem::DuplicateProperty {
                    span: extra.span,
                    first: entity.key_decls[0].span,
                    property: "key",
                });
            }
            let mut by_name: HashMap<&str, Span> = HashMap::new();
            for Field { name, ty, .. } in entity.keys() {
                if let Some(first) = by_name.get(name.name.as_str()) {
                    problems.push(Problem::DuplicateName {
                        kind: "key",
                        name: name.name.clone(),
                        span: name.span,
                        first: *first,
                    });
                    keys_ok = false;
                    continue;
                }
                by_name.insert(&name.name, name.span);
                match scalar_type(ty, problems) {
                    Some(t) if t.ty.is_hashable() && !t.nullable => {
                        keys.push((name.name.clone(), t.ty));
                        key_spans.push(name.span);
                    }
                    Some(t) => {
                        problems.push(Problem::KeyNotHashable { span: ty.span, key: name.name.clone(), ty: t });
                        keys_ok = false;
                    }
                    None => keys_ok = false,
                }
            }
            EntityInfo { checked: CheckedEntity { name: entity.name.name.clone(), keys }, keys_ok, key_spans }
        })
        .collect()
}

/// A Delta table's pin in the IR's terms: a version, or a time in epoch milliseconds.
fn delta_pin(pin: &PinLit, problems: &mut Vec<Problem>) -> Option<DeltaPin> {
    match pin {
        PinLit::Version { version, .. } => Some(DeltaPin::Version(*version)),
        PinLit::AsOf(text) => match chrono::DateTime::parse_from_rfc3339(&text.value) {
            Ok(t) => Some(DeltaPin::Timestamp(t.timestamp_millis())),
            Err(_) => {
                problems.push(Problem::InvalidLiteral {
                    span: text.span,
                    reason: "not an RFC 3339 time (write it as \"2026-11-01T00:00:00Z\")",
                });
                None
            }
        },
    }
}
