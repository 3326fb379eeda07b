//! Lowered features in, versions out: a hash of each feature's meaning, of each group's state
//! and of the whole project. Comments, layout, the order of items and features, file names and
//! other groups change none of them (see `docs/versions.md`).

use super::{AggKind, IrAggregate, IrDerived, IrExpr, IrField, IrGroup, IrSource, Param, Type, WindowSpec};

/// What every feature of a group depends on besides its own definition: the key fields, the
/// event time, lateness, the stream and history bindings, and the group filter.
pub(super) struct Context {
    base: String,
    /// Each column as `name:type`, for the canonical forms of expressions.
    columns: Vec<String>,
    pub(super) filter: Option<IrExpr>,
}

impl Context {
    pub(super) fn new(source: &IrSource, keys: &[IrField], columns: &[String], filter: Option<IrExpr>) -> Context {
        let typed = |name: &str| {
            let ty = source.fields.iter().find(|f| f.name == name).map_or_else(String::new, |f| f.ty.to_string());
            format!("{name}:{ty}")
        };
        let columns: Vec<String> = columns.iter().map(|c| typed(c)).collect();
        let mut base = String::from("keys");
        for k in keys {
            base.push_str(&format!(" {}:{}", k.name, k.ty));
        }
        base.push_str(&format!(
            "|time {}|lateness {}|topic {:?}|history {}",
            typed(&source.event_time),
            source.lateness_ms,
            source.topic,
            source.history.as_ref().map_or_else(
                || "-".to_owned(),
                // A Delta pin is part of what the state holds (unpinned: as before it existed).
                |h| match h.pin {
                    None => format!("{:?} {}", h.glob, h.format.name()),
                    Some(pin) => format!("{:?} {} {pin:?}", h.glob, h.format.name()),
                }
            )
        ));
        if let Some(f) = &filter {
            base.push_str(&format!("|where {}", f.tree.canonical(&|i| columns[i].clone())));
        }
        Context { base, columns, filter }
    }

    fn canonical(&self, e: &IrExpr) -> String {
        e.tree.canonical(&|i| self.columns.get(i).cloned().unwrap_or_default())
    }

    /// The version of one aggregate feature.
    pub(super) fn aggregate(
        &self,
        kind: AggKind,
        param: Option<Param>,
        input: Option<&Type>,
        value: Option<&IrExpr>,
        predicate: Option<&IrExpr>,
        window: WindowSpec,
    ) -> String {
        let param = match param {
            None => "-".to_owned(),
            Some(Param::Int(n)) => format!("i{n}"),
            Some(Param::Float(p)) => format!("f{:016x}", p.to_bits()),
        };
        hash(&format!(
            "aggregate|{}|{}|{param}|{}|{}|{}|{}",
            self.base,
            kind.state_form().map_or_else(|| kind.name().to_owned(), |form| format!("{}@{form}", kind.name())),
            input.map_or_else(|| "-".to_owned(), ToString::to_string),
            value.map_or_else(|| "-".to_owned(), |v| self.canonical(v)),
            predicate.map_or_else(|| "-".to_owned(), |p| self.canonical(p)),
            window.text(),
        ))
    }

    /// The version of a group's state: its bindings and the set of its aggregates' versions.
    pub(super) fn group(&self, aggregates: &[IrAggregate]) -> String {
        let mut versions: Vec<&str> = aggregates.iter().map(|a| a.version.as_str()).collect();
        versions.sort_unstable();
        hash(&format!("group|{}|{}", self.base, versions.join(",")))
    }
}

/// Sets the version of each derived feature (given in evaluation order): its type and its
/// expression over the versions of the features it reads, so renaming an input changes nothing.
pub(super) fn derived(derived: &mut [IrDerived], aggregates: &[IrAggregate], outputs: &[String]) {
    let mut known: Vec<(String, String)> = aggregates.iter().map(|a| (a.name.clone(), a.version.clone())).collect();
    for d in derived.iter_mut() {
        let version_of = |i: usize| {
            let name = outputs.get(i).map_or("", String::as_str);
            known.iter().find(|(n, _)| n == name).map_or_else(|| format!("?{name}"), |(_, v)| format!("v{v}"))
        };
        d.version = hash(&format!("derived|{}|{}", d.ty, d.expr.tree.canonical(&version_of)));
        known.push((d.name.clone(), d.version.clone()));
    }
}

/// The version of a project: every group's name and version, in name order.
pub(super) fn project(groups: &[IrGroup]) -> String {
    let mut parts: Vec<String> = groups
        .iter()
        .map(|g| {
            let mut outputs: Vec<String> = g
                .derived
                .iter()
                .map(|d| format!("{}={}", d.name, d.version))
                .chain(g.aggregates.iter().map(|a| format!("{}={}", a.name, a.version)))
                .collect();
            outputs.sort();
            format!("{}={}[{}]", g.name, g.version, outputs.join(","))
        })
        .collect();
    parts.sort();
    hash(&parts.join("|"))
}

/// FNV-1a, 64 bits, as 16 hex digits: stable across runs, platforms and releases.
pub(crate) fn hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
