//! The language's lists of aggregates and windows in, random specs and events out: the one
//! generator every property test draws from, so a new aggregate or window kind is tested
//! without anyone remembering to add it.
//!
//! Aggregate calls come from [`AggKind::ALL`] applied to every column of the schema (and every
//! parameter form), kept when the checker accepts them; windows from an exhaustive list of the
//! [`WindowSpec`] kinds. Event values stress numerics: quarters, cent amounts (which no binary
//! float holds exactly), large offsets (1e9 plus cents), integers near 2^60, nulls, equal
//! timestamps and arrival out of order, within the lateness or beyond it (late events).

use featc::ir::{AggKind, WindowSpec};
use featc::{Options, SourceMap, check_project};
use proptest::prelude::*;

/// The schema of every generated source: a key, nullable and non-null floats, an integer, a
/// nullable string, a bool and the event time.
pub const SCHEMA: &str = "k: string, x: f64?, m: f64, n: i64, c: string?, b: bool, ts: timestamp";

/// The columns an aggregate may read.
const VALUE_COLUMNS: [&str; 5] = ["x", "m", "n", "c", "b"];

/// The first event time of every generated history, in milliseconds.
pub const BASE: i64 = 1_700_000_000_000;

/// Group filters and feature filters the specs draw from.
pub const FILTERS: [&str; 4] = ["", " where b", " where x > 0", " where c in (\"a\", \"b\")"];

/// A spec of one group with `body` as its feature lines.
pub fn wrap(body: &str, lateness_s: u64, group_filter: bool, lambda: &str) -> String {
    format!(
        "source s {{\n    event_time ts\n    lateness {lateness_s}s\n    files \"h.parquet\"\n    schema {{ {SCHEMA} }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s{} {{\n{body}}}\n{lambda}",
        if group_filter { " where n >= 0" } else { "" }
    )
}

/// Every aggregate call the checker accepts over the schema's columns: each kind of
/// [`AggKind::ALL`] with each column and each parameter form. Every kind appears (a test holds
/// this), so a new aggregate is generated as soon as the checker accepts it.
pub fn aggregate_calls() -> Vec<String> {
    let mut calls = Vec::new();
    for kind in AggKind::ALL {
        let name = kind.name();
        let mut candidates = vec![format!("{name}()")];
        for col in VALUE_COLUMNS {
            candidates.push(format!("{name}({col})"));
            for param in ["1", "3", "0.5", "0.9"] {
                candidates.push(format!("{name}({col}, {param})"));
            }
        }
        for call in candidates {
            let text = wrap(&format!("    f = {call} over lifetime\n"), 0, false, "");
            let mut sources = SourceMap::new();
            sources.add("probe.feat", text);
            let checked = check_project(&sources, &Options { targets: vec![featc::ir::Target::Kappa] });
            if !checked.has_errors() {
                calls.push(call);
            }
        }
    }
    calls
}

/// An example of each window kind; the `match` makes a new kind a compile error here until it
/// is given one.
pub fn window_kinds() -> Vec<WindowSpec> {
    let all = [
        WindowSpec::Lifetime,
        WindowSpec::Tumbling { size_ms: 5_000 },
        WindowSpec::Sliding { size_ms: 6_000, hop_ms: 2_000 },
        WindowSpec::Session { gap_ms: 2_000 },
    ];
    for w in all {
        match w {
            WindowSpec::Lifetime
            | WindowSpec::Tumbling { .. }
            | WindowSpec::Sliding { .. }
            | WindowSpec::Session { .. } => {}
        }
    }
    all.to_vec()
}

/// A random window of a random kind, with sizes of seconds.
pub fn window() -> impl Strategy<Value = String> {
    let kinds = window_kinds();
    (
        prop::sample::select(kinds),
        1u64..7,
        prop::sample::select(vec![1u64, 2, 5]),
        prop::sample::select(vec![2u64, 5, 10, 30]),
    )
        .prop_map(|(kind, hops, hop, size)| match kind {
            WindowSpec::Lifetime => "lifetime".to_owned(),
            WindowSpec::Tumbling { .. } => format!("tumbling({size}s)"),
            WindowSpec::Sliding { .. } => format!("sliding({}s, every: {hop}s)", hop * hops),
            WindowSpec::Session { .. } => format!("session({}s)", size.min(5)),
        })
}

/// A random group: `f0 = count()` and 1 to 6 random aggregate features over random windows
/// and filters, a derived feature, and with `rules` random Lambda merge rules. Gives the text
/// and the lateness in milliseconds.
pub fn spec(rules: bool) -> impl Strategy<Value = (String, u64)> {
    let calls = aggregate_calls();
    let rule = prop::sample::select(vec!["", "", "speed", "batch", "batch + speed"]);
    let feature = (prop::sample::select(calls), prop::sample::select(FILTERS.to_vec()), window(), rule);
    (prop::collection::vec(feature, 1..7), 0u64..10, any::<bool>()).prop_map(
        move |(features, lateness, group_filter)| {
            let mut body = "    f0 = count() over lifetime\n".to_owned();
            for (i, (call, filter, window, _)) in features.iter().enumerate() {
                body.push_str(&format!("    f{} = {call}{filter} over {window}\n", i + 1));
            }
            body.push_str("    ratio = f0 / (f0 + 1)\n");
            let merges: Vec<String> = features
                .iter()
                .enumerate()
                .filter(|(_, f)| rules && !f.3.is_empty())
                .map(|(i, f)| format!("    merge f{} = {}\n", i + 1, f.3))
                .collect();
            let lambda = if merges.is_empty() {
                String::new()
            } else {
                format!("\nlambda g {{\n    batch every 10s\n{}}}\n", merges.concat())
            };
            (wrap(&body, lateness, group_filter, &lambda), lateness * 1000)
        },
    )
}

/// One generated event, by column; `ts` in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub k: String,
    pub x: Option<f64>,
    pub m: f64,
    pub n: i64,
    pub c: Option<&'static str>,
    pub b: bool,
    pub ts: i64,
}

/// A float of one of the numeric families: quarters, cents, or 1e9 plus cents.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-40i64..40).prop_map(|q| q as f64 * 0.25),
        (-5_000i64..5_000).prop_map(|c| c as f64 / 100.0),
        (-500i64..500).prop_map(|c| 1e9 + c as f64 / 100.0),
    ]
}

/// Events in arrival order. Each arrives `ts + jitter` late; with `late` some jitters exceed
/// the lateness, so those events are late for their key.
pub fn events(lateness_ms: u64, late: bool) -> impl Strategy<Value = Vec<RawEvent>> {
    let jitter_max = if late { lateness_ms * 3 + 2_000 } else { lateness_ms };
    let integer =
        prop_oneof![8 => -5i64..20, 1 => (1i64 << 60)..(1i64 << 60) + 5, 1 => -(1i64 << 60) - 5..-(1i64 << 60)];
    let event = (
        0u8..6,
        prop::option::weighted(0.85, float()),
        float(),
        integer,
        prop::option::weighted(0.8, prop::sample::select(vec!["a", "b", "c", "d"])),
        any::<bool>(),
        0i64..240,
        0u64..=jitter_max,
    );
    prop::collection::vec(event, 0..120).prop_map(|raw| {
        let mut evs: Vec<(i64, RawEvent)> = raw
            .into_iter()
            .map(|(key, x, m, n, c, b, half_seconds, jitter)| {
                // Half-second steps: many equal timestamps.
                let ts = BASE + half_seconds * 500;
                (ts + jitter as i64, RawEvent { k: format!("k{key}"), x, m, n, c, b, ts })
            })
            .collect();
        evs.sort_by_key(|(arrival, _)| *arrival);
        evs.into_iter().map(|(_, e)| e).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aggregate_kind_is_generated() {
        let calls = aggregate_calls();
        for kind in AggKind::ALL {
            assert!(
                calls.iter().any(|c| c.starts_with(&format!("{}(", kind.name()))),
                "{} never generated",
                kind.name()
            );
        }
    }
}
