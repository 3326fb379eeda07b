//! The central promise: Lambda = Kappa = the independent reference, at every key and query
//! time, over random specs from the shared generator (every aggregate and window kind, random
//! merge rules), random events (cent amounts, large offsets, late events) and random batch
//! cutoffs. Each case writes the events as a Parquet history, lets both runtimes read it (the
//! Kappa log is seeded from it) and runs `featc verify`, which queries every key at its latest
//! event or the cutoff, at pane edges and just before them, and a day later. With no late
//! event nothing may differ; with late events every difference must be explained by them.

use std::path::{Path, PathBuf};

use featc::ir::FeatureIr;
use featc_runtime::runners::lambda::{Engine, LambdaRunner};
use featc_tests::generate::{BASE, RawEvent, events, spec};
use proptest::prelude::*;

/// A random case's project: its spec compiled (`None` for a merge rule that does not fit its
/// aggregate), its events written as the Parquet history, its data folder and its cutoff.
fn project(
    text: &str,
    evs: &[RawEvent],
    cutoff_half_seconds: i64,
) -> Option<(FeatureIr, tempfile::TempDir, PathBuf, i64)> {
    let ir = crate::common::compiled(text)?;
    let dir = tempfile::tempdir().unwrap();
    featc_runtime::io::generate::write_parquet(&dir.path().join("h.parquet"), &crate::common::batch(evs)).unwrap();
    let data_dir = dir.path().join(".featc");
    Some((ir, dir, data_dir, BASE + cutoff_half_seconds * 500))
}

/// The Lambda runtime on a batch view computed at `cutoff`, stored and read back, its speed
/// layer caught up.
fn stored_lambda(ir: &FeatureIr, dir: &Path, data_dir: &Path, cutoff: i64) -> LambdaRunner {
    let mut view = Engine::DataFusion.compute(ir, dir, data_dir, cutoff, &mut |_| {}).unwrap();
    featc_runtime::store::view::write(ir, &mut view, data_dir).unwrap();
    let stored = featc_runtime::store::view::read(ir, data_dir).unwrap().expect("the view just stored");
    let (mut lambda, _) = LambdaRunner::open(ir.clone(), dir, data_dir, stored).unwrap();
    lambda.catch_up(|_| {}).unwrap();
    lambda
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn lambda_equals_kappa_equals_reference(
        (text, evs) in spec(true).prop_flat_map(|(text, lateness)| (Just(text), events(lateness, true))),
        cutoff_half_seconds in 0i64..260,
    ) {
        let case = project(&text, &evs, cutoff_half_seconds);
        prop_assume!(case.is_some(), "a merge rule that does not fit its aggregate");
        let Some((ir, dir, data_dir, cutoff)) = case else { return Ok(()) };
        let report = featc_runtime::runners::verify::verify(&ir, dir.path(), &data_dir, Some(cutoff), &Engine::DataFusion, &mut |_| {}).unwrap();
        // Every event was read, and every key with an event the group keeps was compared.
        prop_assert_eq!(report.events, evs.len() as u64);
        let mut kept: Vec<&str> = evs.iter().filter(|e| !text.contains("where n >= 0") || e.n >= 0).map(|e| e.k.as_str()).collect();
        kept.sort_unstable();
        kept.dedup();
        prop_assert_eq!(report.keys, kept.len() as u64);
        prop_assert!(kept.is_empty() || report.compared > 0);
        let shown = &report.differences[..report.differences.len().min(3)];
        if report.late.is_empty() {
            prop_assert!(report.differences.is_empty(), "{}\ncutoff +{} ms: {:#?}", text, cutoff - BASE, shown);
        }
        prop_assert_eq!(report.unexplained(), 0, "{}\ncutoff +{} ms: {:#?}", text, cutoff - BASE, shown);
    }
}

#[test]
fn the_default_cutoff_takes_the_latest_plausible_event_time_of_the_history() {
    use std::sync::Arc;

    use arrow::array::{Int64Array, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use arrow::record_batch::RecordBatch;
    let ir = crate::columnar::compiled(
        "source s {\n    event_time ts\n    files \"h.parquet\"\n    schema { k: i64, ts: timestamp }\n}\n\nentity e { key k: i64 }\n\nfeatures g(e) from s {\n    n = count() over lifetime\n}\n",
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]));
    let latest = |times: Vec<Option<i64>>| {
        let dir = tempfile::tempdir().unwrap();
        let keys = Int64Array::from_iter_values(0..times.len() as i64);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(keys), Arc::new(TimestampMillisecondArray::from(times))],
        )
        .unwrap();
        featc_runtime::io::generate::write_parquet(&dir.path().join("h.parquet"), &batch).unwrap();
        featc_runtime::runners::lambda::batch::latest_event(&ir, dir.path()).unwrap()
    };
    let t = BASE + 86_400_000;
    // The time column's maximum, nulls aside.
    assert_eq!(latest(vec![Some(BASE), None, Some(t), Some(t - 1)]), Some(t));
    // A time out of the years 1900 to 2200 is not an event (the stream dead-letters it): the
    // latest plausible one counts.
    assert_eq!(latest(vec![Some(BASE), Some(10_000_000_000_000), Some(t)]), Some(t));
    assert_eq!(latest(vec![Some(-10_000_000_000_000)]), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// `featc materialize --target lambda` reads a stored view one key at a time, never loading
    /// it: every key of every group gets the vector the loaded view gives, keys the view lacks
    /// (only in the speed layer) included, in the same order, at the latest event and after.
    #[test]
    fn a_view_read_from_disk_answers_as_the_view_loaded(
        (text, evs) in spec(true).prop_flat_map(|(text, lateness)| (Just(text), events(lateness, true))),
        cutoff_half_seconds in 0i64..260,
    ) {
        use featc_runtime::runners::lambda::stream::ViewOnDisk;
        let case = project(&text, &evs, cutoff_half_seconds);
        prop_assume!(case.is_some(), "a merge rule that does not fit its aggregate");
        let Some((ir, dir, data_dir, cutoff)) = case else { return Ok(()) };
        let loaded = stored_lambda(&ir, dir.path(), &data_dir, cutoff);
        let (mut on_disk, _) = ViewOnDisk::open(ir.clone(), dir.path(), &data_dir).unwrap().expect("the view serves");
        on_disk.catch_up(|_| {}).unwrap();
        let latest = evs.iter().map(|e| e.ts).max().unwrap_or(BASE).max(cutoff);
        for t in [latest, latest + 59_999, latest + 86_400_000] {
            for gi in 0..ir.groups.len() {
                let keys = loaded.keys(gi);
                prop_assert_eq!(loaded.key_count(gi), keys.len());
                let vectors: Vec<_> = keys.iter().map(|k| loaded.lookup(gi, k, t).unwrap()).collect();
                prop_assert!(!keys.is_empty() || evs.is_empty() || text.contains("where"));
                let expected = (keys, vectors);
                prop_assert_eq!(&on_disk.vectors(gi, t).unwrap(), &expected, "{}\nat +{} ms", text, t - BASE);
                // Runs of a few keys: several go through the channel to the answering thread.
                prop_assert_eq!(&on_disk.vectors_in_runs(gi, t, 3).unwrap(), &expected);
            }
        }
    }
}

/// A session open across the cutoff: the speed layer's session continues the batch view's last
/// one (`batch + speed`), so the value at a time after the cutoff counts the events on both
/// sides; a key whose session closed before the cutoff starts a new one after it. Checked by
/// value, by `verify` (Lambda = Kappa = reference), and on the view read from disk.
#[test]
fn a_session_open_across_the_cutoff_counts_the_events_on_both_sides() {
    use featc_runtime::runners::lambda::stream::ViewOnDisk;
    use featc_runtime::value::Value;
    use featc_tests::generate::wrap;
    let text = wrap(
        "    f0 = count() over lifetime\n    f1 = sum(m) over session(3s)\n",
        0,
        false,
        "\nlambda g {\n    batch every 10s\n    merge f1 = batch + speed\n}\n",
    );
    let ir = crate::common::compiled(&text).expect("the spec compiles");
    let event =
        |k: &str, m: f64, at: i64| RawEvent { k: k.to_owned(), x: None, m, n: 0, c: None, b: false, ts: BASE + at };
    // `a`: 1 s, 2.5 s | cutoff 3 s | 4 s: one session. `b`: 0.5 s | cutoff | 4 s: two.
    let evs = vec![
        event("a", 1.0, 1_000),
        event("b", 10.0, 500),
        event("a", 2.0, 2_500),
        event("a", 4.0, 4_000),
        event("b", 20.0, 4_000),
    ];
    let dir = tempfile::tempdir().unwrap();
    featc_runtime::io::generate::write_parquet(&dir.path().join("h.parquet"), &crate::common::batch(&evs)).unwrap();
    let data_dir = dir.path().join(".featc");
    let cutoff = BASE + 3_000;
    let report = featc_runtime::runners::verify::verify(
        &ir,
        dir.path(),
        &data_dir,
        Some(cutoff),
        &Engine::DataFusion,
        &mut |_| {},
    )
    .unwrap();
    assert!(report.compared > 0 && report.differences.is_empty(), "{:#?}", report.differences);
    let lambda = stored_lambda(&ir, dir.path(), &data_dir, cutoff);
    let t = BASE + 4_500;
    let f1 = |k: &str| lambda.lookup(0, &[Value::from(k)], t).unwrap().expect("a key with events")[1].clone();
    assert_eq!(f1("a"), Value::F64(7.0), "the session across the cutoff");
    assert_eq!(f1("b"), Value::F64(20.0), "a new session after the cutoff");
    let (mut on_disk, _) = ViewOnDisk::open(ir.clone(), dir.path(), &data_dir).unwrap().expect("the view serves");
    on_disk.catch_up(|_| {}).unwrap();
    let (keys, vectors) = on_disk.vectors(0, t).unwrap();
    assert_eq!(keys, vec![vec![Value::from("a")], vec![Value::from("b")]]);
    assert_eq!(
        vectors.iter().map(|v| v.as_ref().map(|v| v[1].clone())).collect::<Vec<_>>(),
        [Some(Value::F64(7.0)), Some(Value::F64(20.0))]
    );
}
