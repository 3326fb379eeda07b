//! Problems as plain data, and the one place that turns each into a [`Diagnostic`] with prose.
//!
//! Stages push `Problem`s; they never format messages themselves. Adding a problem means adding
//! a variant, its arm in [`Problem::to_diagnostic`], a registered code and a docs page.

use crate::diagnostic::{Code, Diagnostic, Target, codes};
use crate::ir::WindowSpec;
use crate::source::Span;
use crate::types::Type;

/// What kind of name failed to resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Source,
    Entity,
    Field,
    Feature,
    Function,
    Type,
    Window,
    Group,
    Format,
}

impl NameKind {
    fn word(self) -> &'static str {
        match self {
            NameKind::Source => "source",
            NameKind::Entity => "entity",
            NameKind::Field => "field",
            NameKind::Feature => "feature",
            NameKind::Function => "function or aggregate",
            NameKind::Type => "type",
            NameKind::Window => "window kind",
            NameKind::Group => "feature group",
            NameKind::Format => "file format",
        }
    }

    fn code(self) -> Code {
        match self {
            NameKind::Source => codes::UNKNOWN_SOURCE,
            NameKind::Entity => codes::UNKNOWN_ENTITY,
            NameKind::Field => codes::UNKNOWN_FIELD,
            NameKind::Feature => codes::UNKNOWN_FEATURE,
            NameKind::Function => codes::UNKNOWN_FUNCTION,
            NameKind::Type => codes::UNKNOWN_TYPE,
            NameKind::Window => codes::UNKNOWN_WINDOW,
            NameKind::Group => codes::UNKNOWN_GROUP,
            NameKind::Format => codes::UNKNOWN_FORMAT,
        }
    }
}

/// Every problem a stage can find. Spans point into the project's [`crate::SourceMap`].
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    Syntax { span: Span, expected: Vec<String>, found: String, help: Option<String> },
    NestedTooDeeply { span: Span, limit: usize },
    InvalidLiteral { span: Span, reason: &'static str },
    DurationAsValue { span: Span },
    MissingProperty { span: Span, block: &'static str, name: String, property: &'static str, example: &'static str },
    DuplicateProperty { span: Span, first: Span, property: &'static str },
    Unknown { kind: NameKind, name: String, span: Span, suggestion: Option<String>, scope: Option<(Span, String)> },
    DuplicateName { kind: &'static str, name: String, span: Span, first: Span },
    FieldInDerived { name: String, span: Span, source: String },
    FeatureInAggregate { name: String, span: Span },
    TypeMismatch { span: Span, what: String, left: (Span, Type), right: (Span, Type), help: Option<String> },
    OperandType { span: Span, op: &'static str, expected: &'static str, found: Type },
    BadAggregateArg { span: Span, func: String, expected: &'static str, found: Type, help: Option<String> },
    FilterNotBool { span: Span, found: Type },
    WrongArgCount { span: Span, func: String, expected: String, found: usize },
    ArgNotConstant { span: Span, func: String, arg: &'static str },
    ArgOutOfRange { span: Span, func: String, arg: &'static str, range: &'static str },
    InvalidCast { span: Span, from: Type, to: Type },
    MisplacedAggregate { span: Span, func: String, context: &'static str },
    MissingWindow { span: Span, feature: String },
    WindowOnDerived { span: Span, clause: &'static str, expr_span: Span },
    NonPositiveDuration { span: Span, what: &'static str },
    HopNotDivisor { span: Span, size: Span, hop_ms: u64, size_ms: u64 },
    HopTooLarge { span: Span, size: Span },
    BadWindowArgs { span: Span, window: String, usage: &'static str },
    KeyNotInSource { span: Span, key: String, source: String, source_span: Span, entity_span: Span },
    KeyNotHashable { span: Span, key: String, ty: Type },
    KeyTypeMismatch { span: Span, key: String, entity_ty: Type, source_ty: Type, source_span: Span },
    EventTimeNotTimestamp { span: Span, field: String, ty: Type, field_span: Span },
    DerivedCycle { span: Span, path: Vec<String>, others: Vec<Span> },
    IllegalMerge { span: Span, feature: String, feature_span: Span, func: String, algebra: &'static str, help: String },
    SpeedOnLifetime { span: Span, feature: String, feature_span: Span },
    ConflictingMerge { span: Span, feature: String, first: Span, rules: (&'static str, &'static str) },
    MergeOnDerived { span: Span, feature: String, feature_span: Span },
    BadCadence { span: Span },
    TargetUnsupported { target: Target, span: Span, reason: String, help: String, others: Vec<(Span, String)> },
    FormatNotInferred { span: Span, path: String },
    PinWithoutDelta { span: Span },
    UnusedSource { span: Span, name: String },
    UnusedEntity { span: Span, name: String },
    SingleHop { span: Span },
    PatternMatchesNothing { span: Span, pattern: String, group: String },
    StaleBatchOnly { span: Span, feature: String, func: String, cadence: Option<String> },
    EmptyGroup { span: Span, name: String },
    NullComparison { span: Span, op: &'static str },
    // `partial`: bytes of one partial; `hop`: a coarser round hop within the bounds, with its panes.
    StateTooLarge { span: Span, func: &'static str, window: WindowSpec, partial: u64, hop: Option<(u64, u64)> },
}

fn quoted_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

impl Problem {
    /// The diagnostic a user sees for this problem: the one place with the prose.
    pub fn to_diagnostic(&self) -> Diagnostic {
        use Problem as P;
        match self {
            P::Syntax { span, expected, found, help } => {
                let message = if expected.is_empty() {
                    format!("unexpected {found}")
                } else {
                    format!("expected {}, found {found}", quoted_list(expected))
                };
                Diagnostic::new(codes::SYNTAX_ERROR, message)
                    .primary(*span, format!("unexpected {found}"))
                    .help_opt(help.clone())
            }
            P::NestedTooDeeply { span, limit } => Diagnostic::new(codes::SYNTAX_ERROR, "expression nested too deeply")
                .primary(*span, format!("more than {limit} levels of nesting start here"))
                .help("split the expression into derived features"),
            P::InvalidLiteral { span, reason } => {
                Diagnostic::new(codes::INVALID_LITERAL, format!("invalid literal: {reason}")).primary(*span, *reason)
            }
            P::DurationAsValue { span } => Diagnostic::new(codes::DURATION_AS_VALUE, "a duration is not a value")
                .primary(*span, "durations only appear in windows, `lateness` and `batch every`")
                .help("compare timestamps with timestamps, or write the number of milliseconds"),
            P::MissingProperty { span, block, name, property, example } => Diagnostic::new(
                codes::MISSING_PROPERTY,
                format!("{block} `{name}` has no `{property}`"),
            )
            .primary(*span, format!("`{property}` is required here"))
            .help(format!("add `{example}`")),
            P::DuplicateProperty { span, first, property } => {
                Diagnostic::new(codes::DUPLICATE_PROPERTY, format!("`{property}` is given twice"))
                    .primary(*span, "given again here")
                    .secondary(*first, "first given here")
                    .help("keep one of them")
            }
            P::Unknown { kind, name, span, suggestion, scope } => {
                let mut d = Diagnostic::new(kind.code(), format!("unknown {} `{name}`", kind.word()))
                    .primary(*span, format!("no {} named `{name}`", kind.word()));
                if let Some((scope_span, scope_text)) = scope {
                    d = d.secondary(*scope_span, scope_text.clone());
                }
                let fallback = match kind {
                    NameKind::Window => Some("windows are `lifetime`, `tumbling(size)`, `sliding(size, every: hop)` and `session(gap)`"),
                    NameKind::Format => Some("say the format: `format parquet`, `format csv` or `format ndjson`"),
                    NameKind::Type => Some("types are `string`, `bool`, `i64`, `f64` and `timestamp`, and `T?` when nullable"),
                    _ => None,
                };
                d.help_opt(suggestion.as_ref().map(|s| format!("did you mean `{s}`?")).or(fallback.map(str::to_owned)))
            }
            P::DuplicateName { kind, name, span, first } => {
                Diagnostic::new(codes::DUPLICATE_NAME, format!("the {kind} `{name}` is defined twice"))
                    .primary(*span, "defined again here")
                    .secondary(*first, "first defined here")
                    .help(if matches!(*kind, "source" | "entity" | "feature group" | "lambda block for") {
                        "rename one of them; names are shared by every file of the project"
                    } else {
                        "rename or remove one of them"
                    })
            }
            P::FieldInDerived { name, span, source } => Diagnostic::new(
                codes::FIELD_IN_DERIVED,
                format!("`{name}` is a field of source `{source}`, not a feature"),
            )
            .primary(*span, "event field in a derived feature")
            .note("a derived feature has no window: it combines the group's features when they are read")
            .help(format!("aggregate it first, e.g. `last_{name} = last({name}) over lifetime`, and use that feature")),
            P::FeatureInAggregate { name, span } => {
                Diagnostic::new(codes::FEATURE_IN_AGGREGATE, format!("`{name}` is a feature, not an event field"))
                    .primary(*span, "aggregate arguments and filters read the fields of each event")
                    .help("use the feature in a derived feature instead, or name a field of the source")
            }
            P::TypeMismatch { span, what, left, right, help } => Diagnostic::new(
                codes::TYPE_MISMATCH,
                format!("mismatched types in {what}: `{}` and `{}`", left.1, right.1),
            )
            .primary(*span, format!("`{}` and `{}` do not combine", left.1, right.1))
            .secondary(left.0, format!("this is `{}`", left.1))
            .secondary(right.0, format!("this is `{}`", right.1))
            .help_opt(help.clone()),
            P::OperandType { span, op, expected, found } => {
                Diagnostic::new(codes::TYPE_MISMATCH, format!("`{op}` needs {expected}, found `{found}`"))
                    .primary(*span, format!("this is `{found}`"))
            }
            P::BadAggregateArg { span, func, expected, found, help } => Diagnostic::new(
                codes::BAD_AGGREGATE_ARG,
                format!("`{func}` takes {expected}, not `{found}`"),
            )
            .primary(*span, format!("this is `{found}`"))
            .help_opt(help.clone()),
            P::FilterNotBool { span, found } => {
                Diagnostic::new(codes::FILTER_NOT_BOOL, format!("a `where` filter must be a bool, found `{found}`"))
                    .primary(*span, format!("this is `{found}`"))
                    .help("compare it with something, e.g. `where amount > 0`")
            }
            P::WrongArgCount { span, func, expected, found } => Diagnostic::new(
                codes::WRONG_ARG_COUNT,
                format!("`{func}` takes {expected}, but {found} {} given", if *found == 1 { "was" } else { "were" }),
            )
            .primary(*span, format!("{found} given")),
            P::ArgNotConstant { span, func, arg } => {
                Diagnostic::new(codes::ARG_NOT_CONSTANT, format!("the {arg} of `{func}` must be a constant"))
                    .primary(*span, "not a literal")
                    .note("it fixes the size of the aggregate's state, so it cannot vary per event")
            }
            P::ArgOutOfRange { span, func, arg, range } => {
                Diagnostic::new(codes::ARG_OUT_OF_RANGE, format!("the {arg} of `{func}` must be {range}"))
                    .primary(*span, format!("outside {range}"))
            }
            P::InvalidCast { span, from, to } => {
                Diagnostic::new(codes::INVALID_CAST, format!("cannot cast `{from}` to `{to}`"))
                    .primary(*span, "invalid cast")
                    .note("casts convert between numbers, from numbers and bools to strings, from strings to numbers and bools, and from i64 milliseconds to timestamps")
            }
            P::MisplacedAggregate { span, func, context } => {
                Diagnostic::new(codes::MISPLACED_AGGREGATE, format!("aggregate `{func}` used {context}"))
                    .primary(*span, "aggregate here")
                    .help("an aggregate feature is one aggregate call: `name = agg(args) [where filter] over window`; combine aggregate features in a derived feature")
            }
            P::MissingWindow { span, feature } => {
                Diagnostic::new(codes::MISSING_WINDOW, format!("aggregate feature `{feature}` has no window"))
                    .primary(*span, "needs `over WINDOW`")
                    .help("add a window, e.g. `over lifetime` or `over sliding(1h, every: 5m)`")
            }
            P::WindowOnDerived { span, clause, expr_span } => Diagnostic::new(
                codes::WINDOW_ON_DERIVED,
                format!("`{clause}` applies to an aggregate call, and this feature is not one"),
            )
            .primary(*span, format!("`{clause}` here"))
            .secondary(*expr_span, "not a single aggregate call")
            .help("write `name = agg(args) where filter over window`, or drop the clause for a derived feature"),
            P::NonPositiveDuration { span, what } => {
                Diagnostic::new(codes::NON_POSITIVE_DURATION, format!("the {what} must be positive"))
                    .primary(*span, "zero")
            }
            P::HopNotDivisor { span, size, hop_ms, size_ms } => {
                Diagnostic::new(codes::HOP_NOT_DIVISOR, "the hop does not divide the window size")
                    .primary(*span, format!("{hop_ms} ms does not divide {size_ms} ms"))
                    .secondary(*size, "window size")
                    .note("a sliding window is assembled from whole hops (panes)")
                    .help_opt(divisor_help(*hop_ms, *size_ms))
            }
            P::HopTooLarge { span, size } => Diagnostic::new(codes::HOP_TOO_LARGE, "the hop is larger than the window")
                .primary(*span, "hop")
                .secondary(*size, "window size")
                .help("events between windows would be skipped; use a hop no larger than the size"),
            P::BadWindowArgs { span, window, usage } => {
                Diagnostic::new(codes::BAD_WINDOW_ARGS, format!("wrong arguments for `{window}`"))
                    .primary(*span, format!("expected `{usage}`"))
            }
            P::KeyNotInSource { span, key, source, source_span, entity_span } => Diagnostic::new(
                codes::KEY_NOT_IN_SOURCE,
                format!("key `{key}` is not a field of source `{source}`"),
            )
            .primary(*span, "the group's entity is keyed by it")
            .secondary(*entity_span, format!("`{key}` is a key of this entity"))
            .secondary(*source_span, "this source has no such field")
            .help(format!("add `{key}` to the schema of `{source}`, or use an entity whose keys the source has")),
            P::KeyNotHashable { span, key, ty } => Diagnostic::new(
                codes::KEY_NOT_HASHABLE,
                format!("key `{key}` has type `{ty}`, which cannot be a key"),
            )
            .primary(*span, "not hashable")
            .note("keys need exact equality: string, i64, bool or timestamp")
            .help("use a string or an i64 identifier"),
            P::KeyTypeMismatch { span, key, entity_ty, source_ty, source_span } => Diagnostic::new(
                codes::KEY_TYPE_MISMATCH,
                format!("key `{key}` is `{entity_ty}` in the entity but `{source_ty}` in the source"),
            )
            .primary(*span, format!("`{entity_ty}` here"))
            .secondary(*source_span, format!("`{source_ty}` here"))
            .help("declare the key with the source's type"),
            P::EventTimeNotTimestamp { span, field, ty, field_span } => Diagnostic::new(
                codes::EVENT_TIME_NOT_TIMESTAMP,
                format!("event-time field `{field}` is `{ty}`, not `timestamp`"),
            )
            .primary(*span, "the event time")
            .secondary(*field_span, format!("declared `{ty}` here"))
            .help(format!("declare `{field}: timestamp` (not nullable)")),
            P::DerivedCycle { span, path, others } => {
                let mut d = Diagnostic::new(
                    codes::DERIVED_CYCLE,
                    format!("derived features depend on each other: {}", path.join(" -> ")),
                )
                .primary(*span, "this feature depends on itself");
                for s in others {
                    d = d.secondary(*s, "part of the cycle");
                }
                d.help("break the cycle: one of them must be computed from other features")
            }
            P::IllegalMerge { span, feature, feature_span, func, algebra, help } => Diagnostic::new(
                codes::ILLEGAL_MERGE,
                format!("`batch + speed` cannot merge `{feature}`: `{func}` is {algebra}"),
            )
            .primary(*span, "rule given here")
            .secondary(*feature_span, format!("`{func}` needs every value, so its batch and speed partials do not merge"))
            .help(help.clone()),
            P::SpeedOnLifetime { span, feature, feature_span } => Diagnostic::new(
                codes::SPEED_ON_LIFETIME,
                format!("`speed` cannot serve `{feature}`, a lifetime window"),
            )
            .primary(*span, "rule given here")
            .secondary(*feature_span, "over lifetime")
            .note("the speed layer only sees the events after the batch cutoff")
            .help("use `batch + speed`"),
            P::ConflictingMerge { span, feature, first, rules } => Diagnostic::new(
                codes::CONFLICTING_MERGE,
                format!("feature `{feature}` is given two merge rules: `{}` and `{}`", rules.0, rules.1),
            )
            .primary(*span, format!("`{}` here", rules.1))
            .secondary(*first, format!("`{}` here", rules.0))
            .help("make the patterns disjoint"),
            P::MergeOnDerived { span, feature, feature_span } => Diagnostic::new(
                codes::MERGE_ON_DERIVED,
                format!("`{feature}` is a derived feature and takes no merge rule"),
            )
            .primary(*span, "named here")
            .secondary(*feature_span, "derived from other features")
            .note("derived features are computed when read, from the merged values of their inputs"),
            P::BadCadence { span } => Diagnostic::new(codes::BAD_CADENCE, "the batch cadence must be positive")
                .primary(*span, "zero")
                .help("e.g. `batch every 1d`"),
            P::TargetUnsupported { target, span, reason, help, others } => {
                let mut d = Diagnostic::new(
                    codes::TARGET_UNSUPPORTED,
                    format!("cannot compile for target {}: {reason}", target.as_str()),
                )
                .primary(*span, format!("needed by target {}", target.as_str()))
                .help(help.clone())
                .for_target(*target);
                for (s, m) in others {
                    d = d.secondary(*s, m.clone());
                }
                d
            }
            P::FormatNotInferred { span, path } => {
                Diagnostic::new(codes::UNKNOWN_FORMAT, format!("cannot tell the format of `{path}` from its name"))
                    .primary(*span, "no .parquet, .csv or .ndjson extension")
                    .help("say the format: `format parquet`, `format csv` or `format ndjson`")
            }
            P::PinWithoutDelta { span } => {
                Diagnostic::new(codes::PIN_WITHOUT_DELTA, "only a Delta table has versions to pin")
                    .primary(*span, "these files are not a Delta table")
                    .help("bind the table with `format delta`, or remove the pin")
            }
            P::UnusedSource { span, name } => Diagnostic::new(codes::UNUSED_SOURCE, format!("source `{name}` is never used"))
                .primary(*span, "no feature group reads it")
                .help(format!("remove it, or add `features ...(...) from {name} {{ ... }}`")),
            P::UnusedEntity { span, name } => Diagnostic::new(codes::UNUSED_ENTITY, format!("entity `{name}` is never used"))
                .primary(*span, "no feature group is keyed by it")
                .help("remove it, or key a feature group by it"),
            P::SingleHop { span } => Diagnostic::new(codes::SINGLE_HOP, "this sliding window has a single hop")
                .primary(*span, "the hop equals the size")
                .note("as of t it covers `floor(t - size, size) <= ts <= t`: between one and two sizes of events")
                .help("use `tumbling(size)` for non-overlapping windows, or a smaller hop"),
            P::PatternMatchesNothing { span, pattern, group } => Diagnostic::new(
                codes::PATTERN_MATCHES_NOTHING,
                format!("`{pattern}` matches no feature of `{group}`"),
            )
            .primary(*span, "matches nothing"),
            P::StaleBatchOnly { span, feature, func, cadence } => Diagnostic::new(
                codes::STALE_BATCH_ONLY,
                format!("under lambda, `{feature}` is served from the batch view alone"),
            )
            .primary(*span, format!("`{func}` over lifetime"))
            .note(format!(
                "its value is as of the last batch run and lags by up to {}",
                cadence.as_deref().unwrap_or("the batch cadence")
            ))
            .help(if func == "count_distinct" {
                format!("use `approx_count_distinct` for a fresh value, or write `merge {feature} = batch` to accept it")
            } else {
                format!("give it a finite window (served by `speed`), or write `merge {feature} = batch` to accept it")
            }),
            P::EmptyGroup { span, name } => {
                Diagnostic::new(codes::EMPTY_GROUP, format!("feature group `{name}` has no features")).primary(*span, "empty")
            }
            P::NullComparison { span, op } => Diagnostic::new(
                codes::NULL_COMPARISON,
                format!("`{op} null` is null for every value, so never true"),
            )
            .primary(*span, "compares with null")
            .help(if *op == "!=" { "use `is not null`" } else { "use `is null`" }),
            P::StateTooLarge { span, func, window, partial, hop } => state_too_large(*span, func, *window, *partial, *hop),
        }
    }
}

fn divisor_help(hop_ms: u64, size_ms: u64) -> Option<String> {
    use crate::syntax::format_millis;
    // The largest divisor of the size below the hop, in the largest whole unit that has one.
    for unit in [86_400_000, 3_600_000, 60_000, 1_000, 1] {
        let max_k = (hop_ms / unit).min(100_000);
        if let Some(k) = (1..=max_k).rev().find(|k| size_ms.is_multiple_of(k * unit)) {
            return Some(format!("a hop that divides it, e.g. `every: {}`", format_millis(k * unit)));
        }
    }
    None
}

/// W0008: the figure over its bound first, the estimate behind it, then a cheaper window.
fn state_too_large(span: Span, func: &str, window: WindowSpec, partial: u64, hop: Option<(u64, u64)>) -> Diagnostic {
    use crate::check::{MAX_PANES_PER_KEY, MAX_STATE_BYTES_PER_KEY, panes_per_key};
    use crate::syntax::format_millis;
    let panes = panes_per_key(window);
    let bytes = panes.saturating_mul(partial);
    let message = if panes > MAX_PANES_PER_KEY {
        format!(
            "this window keeps {} panes per key, over the bound of {}",
            thousands(panes),
            thousands(MAX_PANES_PER_KEY)
        )
    } else {
        format!(
            "`{func}` over this window keeps an estimated {} per key, over the bound of {}",
            human_bytes(bytes),
            human_bytes(MAX_STATE_BYTES_PER_KEY)
        )
    };
    let label =
        format!("{} × {} B of `{func}` = {} per key", count(panes, "pane"), thousands(partial), human_bytes(bytes));
    let diagnostic = Diagnostic::new(codes::WINDOW_STATE_TOO_LARGE, message).primary(span, label);
    let WindowSpec::Sliding { size_ms, .. } = window else {
        return diagnostic
            .note("this window keeps one partial per key")
            .help(format!("keep fewer or smaller values in `{func}`"));
    };
    let hop = match hop {
        Some((hop, panes)) => {
            format!("a coarser hop such as `every: {}` ({})", format_millis(hop), count(panes, "pane"))
        }
        None => format!("a coarser hop that divides {}", format_millis(size_ms)),
    };
    diagnostic
        .note("a sliding window keeps size / hop panes per key plus the current one, each a partial of the aggregate")
        .help(format!("use {hop}, a shorter window, or `tumbling({})`", format_millis(size_ms)))
}

/// `1 pane`, `10,081 panes`.
fn count(n: u64, noun: &str) -> String {
    format!("{} {noun}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// `10081` as `10,081`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in the largest binary unit that keeps the figure at least 1, one decimal: `1.9 MiB`.
fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let (mut value, mut unit) = (bytes as f64 / 1024.0, "KiB");
    for next in ["MiB", "GiB"] {
        if value < 1024.0 {
            break;
        }
        (value, unit) = (value / 1024.0, next);
    }
    format!("{value:.1} {unit}").replace(".0 ", " ")
}
