//! The streaming operators against a brute-force reference, over random specs and random
//! events: many keys, equal timestamps, nulls, out-of-order arrival within the lateness, and
//! query times on and between pane edges.
//!
//! The reference selects each feature's events straight from the window definitions of
//! `docs/language.md` (section 8) and folds them in event-time order with the aggregate library,
//! which its own tests check against each aggregate's definition.

use std::sync::Arc;

use featc::check::WindowSpec;
use featc::ir::{FeatureIr, IrGroup, lower};
use featc_runtime::aggregate::{AggSpec, Partial};
use featc_runtime::eval::compile;
use featc_runtime::group::GroupRuntime;
use featc_runtime::value::Value;
use proptest::prelude::*;

const AGGREGATES: &[&str] = &[
    "count()",
    "count(x)",
    "sum(x)",
    "sum(n)",
    "avg(x)",
    "variance(x)",
    "stddev(n)",
    "min(x)",
    "max(c)",
    "first(c)",
    "last(x)",
    "first_n(c, 2)",
    "last_n(n, 3)",
    "count_distinct(c)",
    "approx_count_distinct(c)",
    "approx_percentile(x, 0.5)",
    "top_k(c, 2)",
];
const FILTERS: &[&str] = &["", " where b", " where x > 0", " where c in (\"a\", \"b\")"];

fn window() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("lifetime".to_owned()),
        prop::sample::select(vec![5, 10, 30]).prop_map(|s| format!("tumbling({s}s)")),
        (prop::sample::select(vec![1, 2, 5]), 1u64..7).prop_map(|(h, m)| format!("sliding({}s, every: {h}s)", h * m)),
        prop::sample::select(vec![2, 5]).prop_map(|g| format!("session({g}s)")),
    ]
}

/// A random group: 1 to 6 aggregate features over random windows and filters, a derived one.
fn spec() -> impl Strategy<Value = (String, u64)> {
    let feature = (prop::sample::select(AGGREGATES.to_vec()), prop::sample::select(FILTERS.to_vec()), window());
    (prop::collection::vec(feature, 1..7), 0u64..10, any::<bool>()).prop_map(|(features, lateness, group_filter)| {
        let mut text = format!(
            "source s {{\n    event_time ts\n    lateness {lateness}s\n    files \"s.parquet\"\n    schema {{ k: string, x: f64?, n: i64, c: string?, b: bool, ts: timestamp }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s{} {{\n    f0 = count() over lifetime\n",
            if group_filter { " where n >= 0" } else { "" }
        );
        for (i, (agg, filter, window)) in features.iter().enumerate() {
            text.push_str(&format!("    f{} = {agg}{filter} over {window}\n", i + 1));
        }
        text.push_str("    ratio = f0 / (f0 + 1)\n}\n");
        (text, lateness * 1000)
    })
}

#[derive(Debug, Clone)]
struct Event {
    ts: i64,
    row: Vec<Value>,
}

const BASE: i64 = 1_700_000_000_000;

/// Events in the group's column order, and an arrival order shuffled within the lateness.
fn events(columns: Vec<String>, lateness_ms: u64) -> impl Strategy<Value = Vec<Event>> {
    let value = (0u8..6, -40i64..40, -5i64..20, 0u8..5, any::<bool>(), 0i64..240, 0u64..=lateness_ms);
    prop::collection::vec(value, 0..120).prop_map(move |raw| {
        let mut evs: Vec<(i64, Event)> = raw
            .into_iter()
            .map(|(key, x, n, c, b, half_seconds, jitter)| {
                // Half-second steps: many equal timestamps.
                let ts = BASE + half_seconds * 500;
                let row = columns
                    .iter()
                    .map(|col| match col.as_str() {
                        "k" => Value::Str(Arc::from(format!("k{key}").as_str())),
                        "x" if x % 7 == 0 => Value::Null,
                        "x" => Value::F64(x as f64 * 0.25),
                        "n" => Value::I64(n),
                        "c" if c == 4 => Value::Null,
                        "c" => Value::Str(Arc::from(["a", "b", "c", "d"][c as usize])),
                        "b" => Value::Bool(b),
                        "ts" => Value::Ts(ts),
                        _ => Value::Null,
                    })
                    .collect();
                (ts + jitter as i64, Event { ts, row })
            })
            .collect();
        // Arriving in order of `ts + jitter`, no event is more than the lateness behind one
        // that arrived before it: nothing is late.
        evs.sort_by_key(|(arrival, _)| *arrival);
        evs.into_iter().map(|(_, e)| e).collect()
    })
}

fn floor(t: i64, w: u64) -> i64 {
    t - t.rem_euclid(w as i64)
}

/// The events of `key` in `spec`'s window as of `t`, by the definitions.
fn in_window<'e>(spec: WindowSpec, evs: &[&'e Event], t: i64) -> Vec<&'e Event> {
    let mut before: Vec<&Event> = evs.iter().copied().filter(|e| e.ts <= t).collect();
    before.sort_by_key(|e| e.ts);
    match spec {
        WindowSpec::Lifetime => before,
        WindowSpec::Tumbling { size_ms } => before.into_iter().filter(|e| e.ts >= floor(t, size_ms)).collect(),
        WindowSpec::Sliding { size_ms, hop_ms } => {
            before.into_iter().filter(|e| e.ts >= floor(t - size_ms as i64, hop_ms)).collect()
        }
        WindowSpec::Session { gap_ms } => {
            let mut session: Vec<&Event> = Vec::new();
            for e in before {
                if session.last().is_some_and(|last| e.ts - last.ts > gap_ms as i64) {
                    session.clear();
                }
                session.push(e);
            }
            match session.last() {
                Some(last) if t - last.ts <= gap_ms as i64 => session,
                _ => Vec::new(),
            }
        }
    }
}

/// The feature vector of `key` as of `t`, from the definitions.
fn reference(ir: &FeatureIr, g: &IrGroup, evs: &[Event], key: &Value, t: i64) -> Vec<Value> {
    let col = |name: &str| g.columns.iter().position(|c| c == name);
    let k = col("k").unwrap();
    let filter = g.filter.as_ref().map(|f| compile(f, &col).unwrap());
    let mine: Vec<&Event> = evs
        .iter()
        .filter(|e| &e.row[k] == key)
        .filter(|e| filter.as_ref().is_none_or(|f| f.eval(&e.row) == Value::Bool(true)))
        .collect();
    let _ = ir;
    let mut vector = vec![Value::Null; g.outputs.len()];
    for a in &g.aggregates {
        let spec = AggSpec::new(a.kind, a.param);
        let value = a.value.as_ref().map(|v| compile(v, &col).unwrap());
        let predicate = a.predicate.map(|p| compile(&g.predicates[p], &col).unwrap());
        let mut partial = Partial::new(spec, a.input.as_ref().is_some_and(|t| t.ty == featc::types::Ty::I64));
        for e in in_window(g.windows[a.window].spec, &mine, t) {
            if predicate.as_ref().is_some_and(|p| p.eval(&e.row) != Value::Bool(true)) {
                continue;
            }
            partial.update(spec, e.ts, value.as_ref().map(|v| v.eval(&e.row)).as_ref());
        }
        let i = g.outputs.iter().position(|o| *o == a.name).unwrap();
        vector[i] = partial.finalize(spec);
    }
    let out = |name: &str| g.outputs.iter().position(|o| o == name);
    for d in &g.derived {
        let i = out(&d.name).unwrap();
        vector[i] = compile(&d.expr, &out).unwrap().eval(&vector);
    }
    vector
}

fn compiled((text, lateness): &(String, u64)) -> (FeatureIr, u64) {
    let mut sources = featc::SourceMap::new();
    sources.add("random.feat", text.as_str());
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors(), "{text}\n{:?}", checked.diagnostics);
    (lower(&checked.project), *lateness)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn stream_equals_reference_for_random_specs_and_events(
        (ir, evs) in spec().prop_map(|s| compiled(&s)).prop_flat_map(|(ir, lateness)| {
            let columns = ir.groups[0].columns.clone();
            (Just(ir), events(columns, lateness))
        }),
        probes in prop::collection::vec(0i64..20_000, 1..4),
    ) {
        let g = &ir.groups[0];
        let mut stream = GroupRuntime::new(&ir, g).unwrap();
        for e in &evs {
            stream.process(e.row.clone());
        }
        prop_assert!(stream.dead_letters().is_empty(), "late within the lateness: {:?}", stream.dead_letters().first());
        let k = g.columns.iter().position(|c| c == "k").unwrap();
        let mut keys: Vec<Value> = evs.iter().map(|e| e.row[k].clone()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let latest = evs.iter().filter(|e| e.row[k] == key).map(|e| e.ts).max().unwrap();
            // At the latest event, on pane edges (whole seconds) and between them.
            for t in std::iter::once(latest).chain(probes.iter().map(|p| latest + p)) {
                let got = stream.lookup(std::slice::from_ref(&key), t).unwrap();
                let want = reference(&ir, g, &evs, &key, t);
                match got {
                    // A key whose events the group filter dropped has no state.
                    None => prop_assert!(evs.iter().filter(|e| e.row[k] == key).all(|e| g.filter.is_some() && e.row[g.columns.iter().position(|c| c == "n").unwrap()] < Value::I64(0))),
                    Some(got) => prop_assert_eq!(got, want, "key {} at +{} ms", key, t - latest),
                }
            }
        }
    }
}

#[test]
fn late_events_go_to_the_dead_letter_output_with_a_reason() {
    let (ir, _) = compiled(&(
        "source s {\n    event_time ts\n    lateness 10s\n    files \"s.parquet\"\n    schema { k: string, ts: timestamp }\n}\n\nentity e { key k: string }\n\nfeatures g(e) from s {\n    n = count() over lifetime\n}\n".to_owned(),
        10_000,
    ));
    let g = &ir.groups[0];
    let mut stream = GroupRuntime::new(&ir, g).unwrap();
    let row = |k: &str, ts: i64| {
        g.columns
            .iter()
            .map(|c| if c == "k" { Value::Str(Arc::from(k)) } else { Value::Ts(BASE + ts) })
            .collect::<Vec<_>>()
    };
    stream.process(row("a", 60_000));
    stream.process(row("a", 50_000)); // exactly the lateness behind: on time
    stream.process(row("a", 49_999)); // one millisecond more: late
    stream.process(row("b", 0)); // another key has its own latest time: on time
    let late = stream.dead_letters();
    assert_eq!(late.len(), 1);
    assert!(late[0].reason.starts_with("late: 10001 ms behind"), "{}", late[0].reason);
    assert_eq!(stream.counters(), (3, 1));
    let key = [Value::Str(Arc::from("a"))];
    assert_eq!(stream.lookup(&key, BASE + 60_000).unwrap(), Some(vec![Value::I64(2)]));
    assert!(stream.lookup(&key, BASE + 59_999).is_err(), "before the key's latest event");
}
