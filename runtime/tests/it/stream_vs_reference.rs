//! The streaming operators against the independent reference (`featc-reference`), over random
//! specs from the shared generator (every aggregate and window kind) and random events: many
//! keys, equal timestamps, nulls, cent amounts and large offsets, arrival out of order within
//! the lateness and beyond it. The stream must dead-letter exactly the late events, and every
//! key's features must be what the definitions give over the events it counted, at the key's
//! latest event, on pane edges and between them.

use std::sync::Arc;

use featc_reference::{Oracle, agrees};
use featc_runtime::operators::group::GroupRuntime;
use featc_runtime::runners::verify::to_val;
use featc_runtime::value::Value;
use featc_tests::generate::{BASE, events, spec};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn stream_equals_reference_for_random_specs_and_events(
        (text, lateness, evs) in spec(false).prop_flat_map(|(text, lateness)| (Just(text), Just(lateness), events(lateness, true))),
        probes in prop::collection::vec(0i64..20_000, 1..4),
    ) {
        let ir = crate::common::compiled_for(&text, vec![featc::ir::Target::Kappa]).unwrap();
        let g = &ir.groups[0];
        let mut stream = GroupRuntime::new(&ir, g).unwrap();
        let rows: Vec<Vec<Value>> = evs.iter().map(|e| crate::common::row(g, e)).collect();
        for row in &rows {
            stream.process(row.clone());
        }
        // Exactly the events more than the lateness behind their key's latest are late.
        let k = g.columns.iter().position(|c| c == "k").unwrap();
        let mut latest: std::collections::HashMap<String, i64> = Default::default();
        let mut late = Vec::new();
        let filter_n = text.contains("where n >= 0");
        for e in &evs {
            if filter_n && e.n < 0 {
                continue;
            }
            match latest.get(&e.k) {
                Some(&l) if e.ts < l - lateness as i64 => late.push(e),
                _ => {
                    let l = latest.entry(e.k.clone()).or_insert(e.ts);
                    *l = (*l).max(e.ts);
                }
            }
        }
        let letters = stream.dead_letters();
        prop_assert_eq!(letters.len(), late.len(), "{}", text);
        prop_assert!(letters.iter().all(|d| d.reason.starts_with("late")), "{:?}", letters.first());
        // The reference over every event but the late ones.
        let mut counted = rows.clone();
        for d in letters {
            let at = counted.iter().position(|r| *r == d.row).unwrap();
            counted.remove(at);
        }
        let oracle = Oracle::new(&ir, 0, &crate::common::reference_events(&counted)).unwrap();
        let keys: Vec<_> = oracle.keys().cloned().collect();
        for key in keys {
            let latest = *oracle.times(&key).last().unwrap();
            let runtime_key = [rows.iter().find(|r| to_val(&r[k]) == key[0]).unwrap()[k].clone()];
            for t in std::iter::once(latest).chain(probes.iter().map(|p| latest + p)) {
                let got = stream.lookup(&runtime_key, t).unwrap().expect("a key the reference has");
                let want = oracle.key_at(&key, t).unwrap().unwrap();
                for ((name, got), want) in g.outputs.iter().zip(&got).zip(&want) {
                    let verdict = agrees(want, &to_val(got));
                    prop_assert!(verdict.is_ok(), "{} of {:?} at +{} ms: {}\n{}", name, key, t - latest, verdict.unwrap_err(), text);
                }
            }
        }
        // No key the reference lacks.
        prop_assert_eq!(stream.key_count(), oracle.keys().count());
    }
}

#[test]
fn variance_of_large_offsets_is_exact_end_to_end() {
    let ir = crate::common::compiled(&featc_tests::generate::wrap("    v = variance(m) over lifetime\n", 0, false, ""))
        .unwrap();
    let g = &ir.groups[0];
    let mut stream = GroupRuntime::new(&ir, g).unwrap();
    for (i, m) in [1e9 + 0.25, 1e9 + 0.5, 1e9 + 0.75].into_iter().enumerate() {
        let e =
            featc_tests::generate::RawEvent { k: "a".into(), x: None, m, n: 0, c: None, b: true, ts: BASE + i as i64 };
        stream.process(crate::common::row(g, &e));
    }
    let got = stream.lookup(&[Value::Str(Arc::from("a"))], BASE + 10).unwrap().unwrap();
    assert_eq!(got, vec![Value::F64(0.0625)]);
}

#[test]
fn late_events_go_to_the_dead_letter_output_with_a_reason() {
    let ir = crate::common::compiled(
        "source s {\n    event_time ts\n    lateness 10s\n    files \"s.parquet\"\n    schema { k: string, ts: timestamp }\n}\n\nentity e { key k: string }\n\nfeatures g(e) from s {\n    n = count() over lifetime\n}\n",
    )
    .unwrap();
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
