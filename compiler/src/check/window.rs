//! A window as written in, a [`WindowSpec`] in milliseconds out, with its shape checked and
//! the state it keeps per key held to the resource bounds.

use super::suggest;
use crate::aggregates::AggKind;
use crate::problem::{NameKind, Problem};
use crate::source::Span;
use crate::syntax::ast::{Duration, Window, WindowArg};

pub(crate) use crate::ir::WindowSpec;

const KINDS: [&str; 4] = ["lifetime", "tumbling", "sliding", "session"];

/// Panes a window may keep per key before W0008 warns: a lookup may combine them all, and each
/// is a partial per key and aggregate. `sliding(7d, every: 1m)` (10,081 panes) is over it.
pub(crate) const MAX_PANES_PER_KEY: u64 = 10_000;

/// Estimated state bytes one aggregate may keep per key before W0008 warns (1 MiB): panes times
/// the partial size `featc plan` uses for the aggregate.
pub(crate) const MAX_STATE_BYTES_PER_KEY: u64 = 1 << 20;

/// Round hops, shortest first, that W0008 may suggest instead of a finer one.
const ROUND_HOPS_MS: [u64; 18] = [
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
    7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

pub(super) fn check_window(window: &Window, problems: &mut Vec<Problem>) -> Option<WindowSpec> {
    let kind = window.kind.name.as_str();
    let args: &[WindowArg] = window.args.as_deref().unwrap_or(&[]);
    let usage = match kind {
        "lifetime" => "lifetime",
        "tumbling" => "tumbling(size)",
        "sliding" => "sliding(size, every: hop)",
        "session" => "session(gap)",
        _ => {
            problems.push(Problem::Unknown {
                kind: NameKind::Window,
                name: kind.to_owned(),
                span: window.kind.span,
                suggestion: suggest(kind, KINDS),
                scope: None,
            });
            return None;
        }
    };
    let bad_args = || Problem::BadWindowArgs { span: window.span, window: kind.to_owned(), usage };
    // Positional arguments by name: `size` / `gap` first, `every` for the hop.
    let named = |n: &str| args.iter().find(|a| a.name.as_ref().is_some_and(|i| i.name == n));
    let unknown_name =
        args.iter().any(|a| a.name.as_ref().is_some_and(|i| !["every", "size", "gap"].contains(&i.name.as_str())));
    if unknown_name {
        problems.push(bad_args());
        return None;
    }
    let positional: Vec<&WindowArg> = args.iter().filter(|a| a.name.is_none()).collect();
    let spec = match kind {
        "lifetime" => {
            if window.args.is_some() {
                problems.push(bad_args());
                return None;
            }
            WindowSpec::Lifetime
        }
        "tumbling" | "session" => {
            let word = if kind == "tumbling" { "size" } else { "gap" };
            let arg = match (positional.as_slice(), named(word)) {
                ([one], None) if args.len() == 1 => *one,
                ([], Some(one)) if args.len() == 1 => one,
                _ => {
                    problems.push(bad_args());
                    return None;
                }
            };
            let ms = positive(&arg.value, if kind == "tumbling" { "window size" } else { "session gap" }, problems)?;
            if kind == "tumbling" { WindowSpec::Tumbling { size_ms: ms } } else { WindowSpec::Session { gap_ms: ms } }
        }
        _ => {
            // `size:` may name the first argument; the hop is `every:` or the next positional one.
            let (size, rest) = match named("size") {
                Some(size) => (Some(size), positional.as_slice()),
                None => (positional.first().copied(), positional.get(1..).unwrap_or(&[])),
            };
            let hop = named("every").or_else(|| rest.first().copied());
            let (Some(size), Some(hop)) = (size, hop) else {
                problems.push(bad_args());
                return None;
            };
            if args.len() != 2 {
                problems.push(bad_args());
                return None;
            }
            let size_ms = positive(&size.value, "window size", problems);
            let hop_ms = positive(&hop.value, "hop", problems);
            let (size_ms, hop_ms) = (size_ms?, hop_ms?);
            if hop_ms > size_ms {
                problems.push(Problem::HopTooLarge { span: hop.span, size: size.span });
                return None;
            }
            if size_ms % hop_ms != 0 {
                problems.push(Problem::HopNotDivisor { span: hop.span, size: size.span, hop_ms, size_ms });
                return None;
            }
            if hop_ms == size_ms {
                problems.push(Problem::SingleHop { span: window.span });
            }
            WindowSpec::Sliding { size_ms, hop_ms }
        }
    };
    Some(spec)
}

/// Partials a window keeps per key: `size / hop` whole panes plus the current one for a sliding
/// window (as the IR lays it out), one for the other kinds.
pub(crate) fn panes_per_key(spec: WindowSpec) -> u64 {
    match spec {
        WindowSpec::Sliding { size_ms, hop_ms } => size_ms / hop_ms.max(1) + 1,
        WindowSpec::Lifetime | WindowSpec::Tumbling { .. } | WindowSpec::Session { .. } => 1,
    }
}

/// Warns (W0008) when one aggregate's window keeps more panes, or more estimated state, per key
/// than the bounds allow. `partial` is the size in bytes of one of its partials.
pub(super) fn check_resources(span: Span, window: WindowSpec, agg: AggKind, partial: u64, problems: &mut Vec<Problem>) {
    let fits = |panes: u64| panes <= MAX_PANES_PER_KEY && panes.saturating_mul(partial) <= MAX_STATE_BYTES_PER_KEY;
    if fits(panes_per_key(window)) {
        return;
    }
    // A coarser round hop that still divides the size, is not the size (W0003), and fits.
    let hop = match window {
        WindowSpec::Sliding { size_ms, hop_ms } => ROUND_HOPS_MS
            .into_iter()
            .find(|&h| h > hop_ms && h < size_ms && size_ms.is_multiple_of(h) && fits(size_ms / h + 1))
            .map(|h| (h, size_ms / h + 1)),
        WindowSpec::Lifetime | WindowSpec::Tumbling { .. } | WindowSpec::Session { .. } => None,
    };
    problems.push(Problem::StateTooLarge { span, func: agg.name(), window, partial, hop });
}

fn positive(d: &Duration, what: &'static str, problems: &mut Vec<Problem>) -> Option<u64> {
    match d.millis {
        Some(0) => {
            problems.push(Problem::NonPositiveDuration { span: d.span, what });
            None
        }
        // An overflowing duration was reported by the parser.
        ms => ms,
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_STATE_BYTES_PER_KEY, WindowSpec, panes_per_key};
    use crate::aggregates::{AggKind, MAX_LIST_LEN};
    use crate::types::Ty;
    use crate::{Options, SourceMap, check_project};

    /// The W0008 diagnostics of a one-feature spec, each as its message, label and help.
    fn w0008(feature: &str) -> Vec<String> {
        let text = format!(
            "source s {{ event_time ts\n files \"s.parquet\"\n schema {{ k: string, u: string, ts: timestamp }} }}\n\
             entity e {{ key k: string }}\n\
             features g(e) from s {{\n f = {feature}\n}}\n"
        );
        let mut sources = SourceMap::new();
        sources.add("t.feat", text);
        let checked = check_project(&sources, &Options::default());
        assert!(!checked.has_errors(), "{feature}: {:?}", checked.diagnostics);
        let w0008 = checked.diagnostics.iter().filter(|d| d.code.id == "W0008");
        w0008
            .map(|d| format!("{} | {} | {}", d.message, d.labels[0].message, d.help.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn panes_over_the_bound_warn_with_the_figure_and_a_coarser_hop() {
        assert_eq!(w0008("count() over sliding(9999s, every: 1s)"), Vec::<String>::new(), "10,000 panes");
        let found = w0008("count() over sliding(10000s, every: 1s)");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("this window keeps 10,001 panes per key, over the bound of 10,000"), "{found:?}");
        assert!(found[0].contains("10,001 panes × 8 B of `count` = 78.1 KiB per key"), "{found:?}");
        assert!(found[0].contains("`every: 2s` (5,001 panes), a shorter window, or `tumbling(10000s)`"), "{found:?}");
    }

    #[test]
    fn state_over_a_mebibyte_warns() {
        // 24 + 1000 × (8 + 24) = 32,024 bytes per partial: 31 panes fit in 1 MiB, 61 do not.
        assert_eq!(w0008("last_n(u, 1000) over sliding(1h, every: 2m)"), Vec::<String>::new());
        let found = w0008("last_n(u, 1000) over sliding(1h, every: 1m)");
        assert_eq!(found.len(), 1, "{found:?}");
        let message = "`last_n` over this window keeps an estimated 1.9 MiB per key, over the bound of 1 MiB";
        assert!(found[0].starts_with(message), "{found:?}");
        assert!(found[0].contains("61 panes × 32,024 B"), "{found:?}");
        assert!(found[0].contains("`every: 2m` (31 panes)"), "{found:?}");
        assert_eq!(w0008("last_n(u, 1000) over tumbling(30d)"), Vec::<String>::new());
    }

    #[test]
    fn one_partial_of_a_flat_value_stays_below_the_state_bound() {
        // So only sliding windows reach it. Schemas declare no lists; two levels fit anyway.
        let lists = [Ty::List(Box::new(Ty::String)), Ty::List(Box::new(Ty::List(Box::new(Ty::String))))];
        for kind in AggKind::ALL {
            for ty in [Ty::Bool, Ty::I64, Ty::F64, Ty::Timestamp, Ty::String].iter().chain(&lists) {
                let partial = crate::ir::aggregate_algebra(kind, Some(ty), Some(MAX_LIST_LEN)).1;
                assert!(partial <= MAX_STATE_BYTES_PER_KEY, "{kind:?} of {ty}: {partial}");
            }
        }
        assert_eq!(panes_per_key(WindowSpec::Sliding { size_ms: 3_600_000, hop_ms: 300_000 }), 13);
        assert_eq!(panes_per_key(WindowSpec::Tumbling { size_ms: 3_600_000 }), 1);
    }
}
