//! A group told that its answers are asked for at a time T or later only (the Lambda speed
//! layer past its cutoff: each sliding or tumbling window takes only the events that can be in
//! its answer then) against the same group taking every event: random specs of the shared
//! generator (every aggregate and window kind, filters), random events with late and malformed
//! ones, T anywhere in them, both paths (row and columnar): the same features at T and after,
//! the same counters and dead letters.

use featc::ir::{FeatureIr, IrField};
use featc_runtime::operators::group::{GroupRuntime, Path};
use featc_runtime::value::Value;
use featc_tests::generate::{events, spec};
use proptest::prelude::*;

fn fields(ir: &FeatureIr) -> Vec<IrField> {
    let g = &ir.groups[0];
    let source = &ir.sources[g.source];
    g.columns.iter().filter_map(|c| source.fields.iter().find(|f| &f.name == c).cloned()).collect()
}

/// Every key's features at `at` and each of `later` after it (never before the key's latest
/// event), with the counters and dead letters.
type Answers = (Vec<(Vec<Value>, i64, Vec<Value>)>, (u64, u64), Vec<String>);

fn answers(group: &GroupRuntime, at: i64, later: &[i64]) -> Answers {
    let mut out = Vec::new();
    for key in group.keys() {
        let from = group.latest(&key).unwrap().max(at);
        for t in std::iter::once(from).chain(later.iter().map(|d| from + d)) {
            out.push((key.clone(), t, group.lookup(&key, t).unwrap().unwrap()));
        }
    }
    let dead = group.dead_letters().iter().map(|d| format!("{} {:?}", d.reason, d.row)).collect();
    (out, group.counters(), dead)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_group_answering_from_a_time_takes_only_what_answers_then_need(
        (text, evs) in spec(false).prop_flat_map(|(text, lateness)| (Just(text), events(lateness, true))),
        at in any::<prop::sample::Index>(),
        later in prop::collection::vec(0i64..400_000, 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        prop_assume!(!evs.is_empty());
        let ir = crate::common::compiled_for(&text, vec![featc::ir::Target::Kappa]).unwrap();
        let g = &ir.groups[0];
        let mut times: Vec<i64> = evs.iter().map(|e| e.ts).collect();
        times.sort_unstable();
        let at = times[at.index(times.len())];
        let whole = crate::common::batch(&evs);
        let cut = cut.index(evs.len() + 1);
        let (first, rest) = (whole.slice(0, cut), whole.slice(cut, evs.len() - cut));
        for path in [Path::Auto, Path::Rows] {
            let mut every = GroupRuntime::on_path(&ir, g, path).unwrap();
            let mut from = GroupRuntime::on_path(&ir, g, path).unwrap();
            from.answer_from(at);
            for group in [&mut every, &mut from] {
                group.process_batch(&first, &fields(&ir));
                group.process_batch(&rest, &fields(&ir));
            }
            let (expected, got) = (answers(&every, at, &later), answers(&from, at, &later));
            prop_assume!(expected.1.0 > 0, "the group counts some event");
            prop_assert!(got == expected, "{:?} path, answers from {}\n{}", path, at, text);
        }
    }
}
