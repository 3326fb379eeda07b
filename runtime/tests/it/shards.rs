//! A group split over 1, 2, 3 or 5 shards (run on as many threads) against the same group on
//! one: random specs of the shared generator (every aggregate, window kind and filter), events
//! with late and malformed ones, batches cut at random: the same snapshot, the same dead
//! letters in the same order, the same counters, the same changed keys and the same features
//! at every probe, whatever the shard count. And a whole history handed to the shards at once
//! (the batch layer's way: each shard sorts its own keys' events) against the same events
//! sorted once and streamed through one shard; and a stream's batches handed over at once (a
//! replay's way: each shard regroups its keys' rows by key) against the batches one after another.

use featc::ir::{FeatureIr, IrField};
use featc_runtime::operators::group::GroupRuntime;
use featc_runtime::value::Value;
use featc_tests::generate::{RawEvent, events, spec};
use proptest::prelude::*;

fn fields(ir: &FeatureIr) -> Vec<IrField> {
    let g = &ir.groups[0];
    let source = &ir.sources[g.source];
    g.columns.iter().filter_map(|c| source.fields.iter().find(|f| &f.name == c).cloned()).collect()
}

/// The generated events copied under other keys until there are more than enough for the
/// shards to run on threads (a batch of at least 2,048 rows), with some malformed (`m` NaN).
fn many(evs: &[RawEvent]) -> Vec<RawEvent> {
    let copies = 2_100 / evs.len().max(1) + 1;
    let mut out = Vec::with_capacity(evs.len() * copies);
    for c in 0..copies {
        for (i, e) in evs.iter().enumerate() {
            let mut e = e.clone();
            e.k = format!("{}-{c}", e.k);
            if (i + c) % 97 == 13 {
                e.m = f64::NAN;
            }
            out.push(e);
        }
    }
    out
}

/// Batch boundaries over `len` events: 0, the cuts, `len`, in order.
fn edges(cuts: &[prop::sample::Index], len: usize) -> Vec<usize> {
    let mut edges: Vec<usize> = cuts.iter().map(|c| c.index(len + 1)).collect();
    edges.extend([0, len]);
    edges.sort_unstable();
    edges
}

/// Everything a group answers, in a form to compare.
#[derive(Debug, PartialEq)]
struct Seen {
    snapshot: String,
    dead_letters: Vec<String>,
    counters: (u64, u64),
    changed: Vec<(Vec<Value>, i64)>,
    features: Vec<(Vec<Value>, i64, Vec<Value>)>,
}

fn run(ir: &FeatureIr, evs: &[RawEvent], edges: &[usize], shards: usize, probes: &[i64]) -> Seen {
    let g = &ir.groups[0];
    let mut group = GroupRuntime::new(ir, g).unwrap();
    group.set_shards(shards);
    assert_eq!(group.shard_count(), shards);
    let fields = fields(ir);
    let whole = crate::common::batch(evs);
    let mut mark = None;
    for pair in edges.windows(2) {
        group.process_batch(&whole.slice(pair[0], pair[1] - pair[0]), &fields);
        if mark.is_none() {
            mark = Some(group.change_mark());
        }
    }
    let changed = group.changed_since(mark);
    observe(&group, changed, probes)
}

/// What `group` answers, with the keys changed since some mark.
fn observe(group: &GroupRuntime, changed: Vec<(Vec<Value>, i64)>, probes: &[i64]) -> Seen {
    let mut features = Vec::new();
    for key in group.keys() {
        let latest = group.latest(&key).unwrap();
        for t in std::iter::once(latest).chain(probes.iter().map(|p| latest + p)) {
            features.push((key.clone(), t, group.lookup(&key, t).unwrap().unwrap()));
        }
    }
    Seen {
        snapshot: serde_json::to_string(&group.snapshot()).unwrap(),
        dead_letters: group.dead_letters().iter().map(|d| format!("{} {:?}", d.reason, d.row)).collect(),
        counters: group.counters(),
        changed,
        features,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn the_state_is_the_same_whatever_the_number_of_shards(
        (text, evs) in spec(false).prop_flat_map(|(text, lateness)| (Just(text), events(lateness, true))),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        probes in prop::collection::vec(0i64..20_000, 1..3),
    ) {
        let ir = crate::common::compiled_for(&text, vec![featc::ir::Target::Kappa]).unwrap();
        let evs = many(&evs);
        let edges = edges(&cuts, evs.len());
        let one = run(&ir, &evs, &edges, 1, &probes);
        for shards in [2, 3, 5] {
            let split = run(&ir, &evs, &edges, shards, &probes);
            prop_assert!(split == one, "{} shards differ from one\n{}", shards, text);
        }
    }
}

/// The batches cut at `edges` handed over as backlogs (each shard regrouping its keys' rows by
/// key): the first alone, a mark taken, then the rest at once.
fn run_backlog(ir: &FeatureIr, evs: &[RawEvent], edges: &[usize], shards: usize, probes: &[i64]) -> Seen {
    let mut group = GroupRuntime::new(ir, &ir.groups[0]).unwrap();
    group.set_shards(shards);
    let whole = crate::common::batch(evs);
    let batches: Vec<_> = edges.windows(2).map(|p| whole.slice(p[0], p[1] - p[0])).collect();
    let (first, rest) = batches.split_at(1);
    group.process_backlog(first, &fields(ir)).unwrap();
    let mark = group.change_mark();
    group.process_backlog(rest, &fields(ir)).unwrap();
    let changed = group.changed_since(Some(mark));
    observe(&group, changed, probes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 30, ..ProptestConfig::default() })]

    /// A stream's replay: batches handed over together, each shard regrouping its keys' rows by
    /// key (each key's in read order), against the same batches processed one after another on
    /// one shard: the same state, dead letters in the same order, counters, keys changed since
    /// a mark and features.
    #[test]
    fn a_backlog_regrouped_by_key_is_its_batches_one_after_another(
        (text, evs) in spec(false).prop_flat_map(|(text, lateness)| (Just(text), events(lateness, true))),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
        probes in prop::collection::vec(0i64..20_000, 1..3),
    ) {
        let ir = crate::common::compiled_for(&text, vec![featc::ir::Target::Kappa]).unwrap();
        let evs = many(&evs);
        prop_assume!(!evs.is_empty());
        let edges = edges(&cuts, evs.len());
        let one = run(&ir, &evs, &edges, 1, &probes);
        prop_assume!(one.counters.0 > 0, "the group counts some event");
        for shards in [1, 2, 3] {
            let backlog = run_backlog(&ir, &evs, &edges, shards, &probes);
            prop_assert!(backlog == one, "{} shards differ from the batches one after another\n{}", shards, text);
        }
    }
}

/// A whole history processed by [`GroupRuntime::process_history`] on `shards` shards (each
/// sorting its own keys' events), the batches cut at `edges`.
fn run_history(ir: &FeatureIr, evs: &[RawEvent], edges: &[usize], shards: usize, probes: &[i64]) -> Seen {
    let mut group = GroupRuntime::new(ir, &ir.groups[0]).unwrap();
    group.set_shards(shards);
    let whole = crate::common::batch(evs);
    let batches: Vec<_> = edges.windows(2).map(|p| whole.slice(p[0], p[1] - p[0])).collect();
    group.process_history(&batches, "ts", &fields(ir)).unwrap();
    observe(&group, Vec::new(), probes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 30, ..ProptestConfig::default() })]

    /// The batch layer's way: each shard sorts its own keys' events; the same as one shard over
    /// the events sorted by time (stably: ties in read order), in one batch.
    #[test]
    fn a_history_sorted_by_each_shard_is_the_history_sorted_once(
        (text, evs) in spec(false).prop_flat_map(|(text, lateness)| (Just(text), events(lateness, true))),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        probes in prop::collection::vec(0i64..20_000, 1..3),
    ) {
        let ir = crate::common::compiled_for(&text, vec![featc::ir::Target::Kappa]).unwrap();
        let evs = many(&evs);
        prop_assume!(!evs.is_empty());
        let mut sorted = evs.clone();
        sorted.sort_by_key(|e| e.ts);
        let reference = run(&ir, &sorted, &[0, sorted.len()], 1, &probes);
        let reference = Seen { changed: Vec::new(), ..reference };
        prop_assume!(reference.counters.0 > 0, "the group counts some event");
        let edges = edges(&cuts, evs.len());
        for shards in [1, 2, 3, 5] {
            let history = run_history(&ir, &evs, &edges, shards, &probes);
            prop_assert!(history == reference, "{} shards differ from one sorted stream\n{}", shards, text);
        }
    }

    /// A training set's sweep: each probe answered from the events at or before its time, as a
    /// group fed only those events (sorted) answers it, whatever the shard count.
    #[test]
    fn a_sweep_answers_each_probe_from_the_events_at_or_before_its_time(
        (text, evs) in spec(false).prop_flat_map(|(text, lateness)| (Just(text), events(lateness, true))),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<Option<prop::sample::Index>>(), -1i64..2), 1..6),
    ) {
        let ir = crate::common::compiled_for(&text, vec![featc::ir::Target::Kappa]).unwrap();
        let g = &ir.groups[0];
        let evs = many(&evs);
        prop_assume!(!evs.is_empty());
        let mut sorted = evs.clone();
        sorted.sort_by_key(|e| e.ts);
        let keyed: Vec<(i64, Vec<Value>)> = picks
            .iter()
            .map(|(t, k, d)| {
                // The key of the event at that time (so a probe can fall on one of its key's
                // events), or of another.
                let (at, of) = (t.index(evs.len()), k.map_or(t.index(evs.len()), |k| k.index(evs.len())));
                (evs[at].ts + d, vec![Value::from(evs[of].k.as_str())])
            })
            .collect();
        let probes: Vec<(i64, &[Value])> = keyed.iter().map(|(t, k)| (*t, k.as_slice())).collect();
        let mut expected = Vec::new();
        for (t, key) in &probes {
            let mut one = GroupRuntime::new(&ir, g).unwrap();
            one.set_shards(1);
            let upto: Vec<RawEvent> = sorted.iter().filter(|e| e.ts <= *t).cloned().collect();
            one.process_batch(&crate::common::batch(&upto), &fields(&ir));
            expected.push(one.lookup(key, *t).unwrap().unwrap_or_else(|| one.finish(&one.empty_partials())));
        }
        let whole = crate::common::batch(&evs);
        for shards in [1, 2, 3] {
            let mut group = GroupRuntime::new(&ir, g).unwrap();
            group.set_shards(shards);
            let batches = [whole.slice(0, evs.len() / 2), whole.slice(evs.len() / 2, evs.len() - evs.len() / 2)];
            let got = group.sweep_history(&batches, "ts", &fields(&ir), &probes).unwrap();
            prop_assert!(got == expected, "{} shards: {:?} against {:?}\n{}", shards, got, expected, text);
        }
    }
}

#[test]
fn a_columnar_group_and_a_restored_state_are_the_same_on_any_number_of_shards() {
    let text = featc_tests::generate::wrap(
        "    n = count() over lifetime\n    s = sum(m) over sliding(10s, every: 2s)\n    hi = max(n) over tumbling(5s)\n",
        2,
        false,
        "",
    );
    let ir = crate::common::compiled_for(&text, vec![featc::ir::Target::Kappa]).unwrap();
    let g = &ir.groups[0];
    assert!(GroupRuntime::new(&ir, g).unwrap().is_columnar(), "{text}");
    let evs: Vec<RawEvent> = (0..5_000i64)
        .map(|i| RawEvent {
            k: format!("k{}", (i * 7919) % 613),
            x: None,
            m: if i % 211 == 5 { f64::NAN } else { (i % 400) as f64 / 100.0 },
            n: i % 17,
            c: None,
            b: i % 3 == 0,
            ts: featc_tests::generate::BASE + (i * 37) % 60_000 + i * 10,
        })
        .collect();
    let edges = [0, 2_500, 5_000];
    let one = run(&ir, &evs, &edges, 1, &[0, 3_000]);
    assert!(one.counters.1 > 0, "some events are late or malformed: {:?}", one.counters);
    for shards in [2, 4] {
        assert!(run(&ir, &evs, &edges, shards, &[0, 3_000]) == one, "{shards} shards");
    }
    // A state restored (or resharded) keeps every answer, and its pending dead letters.
    let mut group = GroupRuntime::new(&ir, g).unwrap();
    group.set_shards(1);
    group.process_batch(&crate::common::batch(&evs), &fields(&ir));
    let before = serde_json::to_string(&group.snapshot()).unwrap();
    let (first, pending) = (group.pending_dead_letters().0, group.pending_dead_letters().1.to_vec());
    assert!(!pending.is_empty());
    group.set_shards(3);
    assert_eq!(serde_json::to_string(&group.snapshot()).unwrap(), before);
    assert_eq!(group.pending_dead_letters(), (first, pending.as_slice()));
    let key = group.keys().swap_remove(7);
    let t = group.latest(&key).unwrap();
    let mut single = GroupRuntime::new(&ir, g).unwrap();
    single.set_shards(1);
    single.restore(group.snapshot());
    assert_eq!(group.lookup(&key, t + 1_000).unwrap(), single.lookup(&key, t + 1_000).unwrap());
}
