//! The central promise: Lambda = Kappa = the independent reference, at every key and query
//! time, over random specs from the shared generator (every aggregate and window kind, random
//! merge rules), random events (cent amounts, large offsets, late events) and random batch
//! cutoffs. Each case writes the events as a Parquet history, lets both runtimes read it (the
//! Kappa log is seeded from it) and runs `featc verify`, which queries every key at its latest
//! event or the cutoff, at pane edges and just before them, and a day later. With no late
//! event nothing may differ; with late events every difference must be explained by them.

use featc_tests::generate::{BASE, events, spec};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn lambda_equals_kappa_equals_reference(
        (text, evs) in spec(true).prop_flat_map(|(text, lateness)| (Just(text), events(lateness, true))),
        cutoff_half_seconds in 0i64..260,
    ) {
        let ir = crate::common::compiled(&text);
        prop_assume!(ir.is_some(), "a merge rule that does not fit its aggregate");
        let Some(ir) = ir else { return Ok(()) };
        let dir = tempfile::tempdir().unwrap();
        featc_runtime::io::generate::write_parquet(&dir.path().join("h.parquet"), &crate::common::batch(&evs)).unwrap();
        let data_dir = dir.path().join(".featc");
        let cutoff = BASE + cutoff_half_seconds * 500;
        let report = featc_runtime::runners::verify::verify(&ir, dir.path(), &data_dir, Some(cutoff), &featc_runtime::runners::lambda::Engine::DataFusion, &mut |_| {}).unwrap();
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
