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
