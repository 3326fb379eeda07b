//! Specs and events in, the oracle's answers checked against hand-computed features.

mod aggregates;
mod exprs;
mod numbers;

use featc::ir::FeatureIr;

use crate::{Event, Expected, Oracle, Val, agrees, expected};

/// The IR of a project in one file, which must check without errors.
pub(crate) fn ir(text: &str) -> FeatureIr {
    let mut sources = featc::SourceMap::new();
    sources.add("t.feat", text);
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    featc::ir::lower(&checked.project).unwrap()
}

const MIN: i64 = 60_000;

const CLICKS: &str = r#"
source clicks {
    event_time ts
    files "data.parquet"
    schema { user_id: string, amount: f64?, kind: string, ts: timestamp }
}
entity user { key user_id: string }
features spend(user) from clicks where kind != "test" {
    n_all     = count()                          over lifetime
    total     = sum(amount)                      over lifetime
    mean      = avg(amount)                      over lifetime
    buys_5m   = count() where kind == "buy"      over sliding(5m, every: 1m)
    last_kind = last(kind)                       over session(10m)
    share     = buys_5m / n_all
    big       = mean > 2.0
}
"#;

/// A row in the group's column order, given by column name.
fn row(ir: &FeatureIr, values: &[(&str, Val)]) -> Event {
    let g = &ir.groups[0];
    let mut row = vec![Val::Null; g.columns.len()];
    for (name, v) in values {
        let i = g.columns.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"));
        row[i] = v.clone();
    }
    Event { row }
}

fn click(ir: &FeatureIr, user: &str, amount: Option<f64>, kind: &str, ts: i64) -> Event {
    row(
        ir,
        &[
            ("user_id", Val::from(user)),
            ("amount", amount.map_or(Val::Null, Val::F64)),
            ("kind", Val::from(kind)),
            ("ts", Val::Ts(ts)),
        ],
    )
}

/// The expected vector of one key as a map by feature name.
fn by_name<'a>(ir: &'a FeatureIr, v: &'a [Expected]) -> impl Fn(&str) -> &'a Expected {
    move |name: &str| {
        let i = ir.groups[0].outputs.iter().position(|o| o == name).unwrap_or_else(|| panic!("no feature {name}"));
        &v[i]
    }
}

#[test]
fn a_group_end_to_end() {
    let ir = ir(CLICKS);
    let events = vec![
        click(&ir, "u1", Some(1.0), "view", 0),
        click(&ir, "u1", Some(2.0), "buy", MIN),
        click(&ir, "u1", None, "buy", 2 * MIN),
        click(&ir, "u1", Some(100.0), "test", 3 * MIN), // filtered out by the group
        click(&ir, "u1", Some(4.0), "buy", 20 * MIN),
        click(&ir, "u2", Some(5.0), "test", 0), // u2 has only filtered events
        click(&ir, "u3", Some(7.0), "view", 30 * MIN), // after the query time
    ];
    let all = expected(&ir, 0, &events, 5 * MIN).unwrap();
    assert_eq!(all.keys().cloned().collect::<Vec<_>>(), vec![vec![Val::from("u1")]]);
    let u1 = &all[&vec![Val::from("u1")]];
    let f = by_name(&ir, u1);
    assert_eq!(f("n_all"), &Expected::Exact(Val::I64(3)));
    assert_eq!(f("total"), &Expected::Float { value: 3.0, ulps: 0 });
    assert_eq!(f("mean"), &Expected::Float { value: 1.5, ulps: 1 });
    assert_eq!(f("buys_5m"), &Expected::Exact(Val::I64(2)));
    assert_eq!(f("last_kind"), &Expected::Exact(Val::from("buy")));
    assert_eq!(f("share"), &Expected::Exact(Val::F64(2.0 / 3.0)));
    // `mean` has a tolerance of 1 ulp around 1.5, far from 2.0: the comparison is certain.
    assert_eq!(f("big"), &Expected::Exact(Val::Bool(false)));

    // As of 21:00 the 5-minute window holds the buy at 20:00 only; the session restarted.
    let oracle = Oracle::new(&ir, 0, &events).unwrap();
    let later = oracle.key_at(&[Val::from("u1")], 21 * MIN).unwrap().unwrap();
    let f = by_name(&ir, &later);
    assert_eq!(f("buys_5m"), &Expected::Exact(Val::I64(1)));
    assert_eq!(f("mean"), &Expected::Float { value: 7.0 / 3.0, ulps: 1 });
    assert_eq!(f("last_kind"), &Expected::Exact(Val::from("buy")));
    assert_eq!(f("share"), &Expected::Exact(Val::F64(0.25)));
    // 7/3 within 1 ulp is above 2.0 at every corner.
    assert_eq!(f("big"), &Expected::Exact(Val::Bool(true)));
    // As of 31:00 the session of 20:00 is closed (11 minutes): `last` is null.
    let closed = oracle.key_at(&[Val::from("u1")], 31 * MIN).unwrap().unwrap();
    assert_eq!(by_name(&ir, &closed)("last_kind"), &Expected::Exact(Val::Null));
    // Before the first event the key is absent.
    assert_eq!(oracle.key_at(&[Val::from("u1")], -1).unwrap(), None);
    assert_eq!(oracle.times(&[Val::from("u1")]), &[0, MIN, 2 * MIN, 20 * MIN]);
    assert_eq!(oracle.keys().count(), 2);
}

#[test]
fn a_derived_comparison_near_a_tolerance_admits_both_answers() {
    let ir = ir(CLICKS);
    // The mean of 1.0 and 3.0 is 2.0: within 1 ulp it may be just above or just below.
    let events = vec![click(&ir, "u", Some(1.0), "view", 0), click(&ir, "u", Some(3.0), "view", 0)];
    let all = expected(&ir, 0, &events, 0).unwrap();
    let u = &all[&vec![Val::from("u")]];
    let big = by_name(&ir, u)("big");
    assert!(agrees(big, &Val::Bool(true)).is_ok());
    assert!(agrees(big, &Val::Bool(false)).is_ok());
    assert!(agrees(big, &Val::Null).is_err());
}

#[test]
fn bad_events_null_keys_and_kinds_of_values() {
    let ir = ir(CLICKS);
    let mut events = vec![
        click(&ir, "u", Some(f64::NAN), "view", 0), // a NaN: a bad event
        click(&ir, "u", Some(1.0), "view", 0),
    ];
    let mut null_key = click(&ir, "u", Some(1.0), "view", 0);
    null_key.row[0] = Val::Null;
    events.push(null_key);
    let mut null_kind = click(&ir, "u", Some(1.0), "view", 0);
    let kind = ir.groups[0].columns.iter().position(|c| c == "kind").unwrap();
    null_kind.row[kind] = Val::Null; // `kind` is not nullable: a bad event
    events.push(null_kind);
    let all = expected(&ir, 0, &events, 0).unwrap();
    assert_eq!(by_name(&ir, &all[&vec![Val::from("u")]])("n_all"), &Expected::Exact(Val::I64(1)));
    // A value of the wrong kind is the caller's mistake, not a bad event.
    let mut wrong = click(&ir, "u", Some(1.0), "view", 0);
    wrong.row[kind] = Val::I64(3);
    assert!(expected(&ir, 0, &[wrong], 0).is_err());
    assert!(expected(&ir, 0, &[Event { row: vec![] }], 0).is_err());
    assert!(expected(&ir, 7, &[], 0).is_err());
}

#[test]
fn composite_keys_and_integer_times() {
    let ir = ir(r#"
source s {
    event_time ts
    files "data.parquet"
    schema { a: string, b: i64, x: i64, ts: timestamp }
}
entity ab { key a: string, b: i64 }
features g(ab) from s {
    total = sum(x) over tumbling(1h)
    first3 = first_n(x, 3) over lifetime
}
"#);
    let ev = |a: &str, b: i64, x: i64, ts: i64| {
        row(&ir, &[("a", Val::from(a)), ("b", Val::I64(b)), ("x", Val::I64(x)), ("ts", Val::I64(ts))])
    };
    let events = vec![ev("k", 1, 5, 0), ev("k", 2, 7, 0), ev("k", 1, i64::MAX, 10), ev("k", 1, 1, 20)];
    let all = expected(&ir, 0, &events, 30).unwrap();
    assert_eq!(all.len(), 2);
    let k1 = by_name(&ir, &all[&vec![Val::from("k"), Val::I64(1)]]);
    // An i64 sum past the range saturates (see the crate docs).
    assert_eq!(k1("total"), &Expected::Exact(Val::I64(i64::MAX)));
    assert_eq!(k1("first3"), &Expected::Exact(Val::List(vec![Val::I64(5), Val::I64(i64::MAX), Val::I64(1)])));
    let k2 = by_name(&ir, &all[&vec![Val::from("k"), Val::I64(2)]]);
    assert_eq!(k2("total"), &Expected::Exact(Val::I64(7)));
}
