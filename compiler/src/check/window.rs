//! A window as written in, a [`WindowSpec`] in milliseconds out, with its shape checked.

use super::suggest;
use crate::problem::{NameKind, Problem};
use crate::syntax::ast::{Duration, Window, WindowArg};

pub(crate) use crate::ir::WindowSpec;

const KINDS: [&str; 4] = ["lifetime", "tumbling", "sliding", "session"];

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
