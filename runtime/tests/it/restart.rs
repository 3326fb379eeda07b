//! A Kappa runner stopped at random offsets and restarted from its checkpoints (bases and
//! deltas, the chain continued across restarts) each time ends with exactly the features of an
//! uninterrupted run.

use std::path::Path;

use featc_runtime::runners::kappa::KappaRunner;
use featc_runtime::store::snapshot::{self, Loaded};
use featc_runtime::value::Value;
use proptest::prelude::*;

const SPEC: &str = include_str!("../../../examples/fraud/fraud.feat");

fn ir() -> featc::ir::FeatureIr {
    let mut sources = featc::SourceMap::new();
    sources.add("fraud.feat", SPEC);
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors());
    featc::ir::lower(&checked.project).unwrap()
}

/// A project folder with generated transactions where the spec expects them.
fn project(dir: &Path, events: usize) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let batch = featc_runtime::io::generate::fraud(events, 3).unwrap();
    featc_runtime::io::generate::write_parquet(&dir.join("data/transactions.parquet"), &batch).unwrap();
}

/// Every key's feature vector as of its latest event, sorted by key.
fn features(runner: &KappaRunner) -> Vec<(Vec<Value>, Vec<Value>)> {
    let g = &runner.groups()[0];
    let mut out: Vec<(Vec<Value>, Vec<Value>)> = g
        .keys()
        .into_iter()
        .map(|k| {
            let t = g.latest(&k).unwrap();
            let vector = g.lookup(&k, t).unwrap().unwrap();
            (k, vector)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn restarts_from_snapshots_end_with_the_uninterrupted_features(
        stops in prop::collection::vec(1u64..2_500, 1..5),
    ) {
        let root = tempfile_dir();
        let dir = root.join("project");
        project(&dir, 3_000);

        let (mut whole, _) = KappaRunner::open(ir(), &dir, &root.join("uninterrupted")).unwrap();
        whole.catch_up(|_| {}).unwrap();
        let expected = features(&whole);

        let data = root.join("restarted");
        for stop in &stops {
            let (mut runner, _) = KappaRunner::open(ir(), &dir, &data).unwrap();
            // A base, then a delta of the keys changed since.
            runner.step(*stop / 2, |_| {}).unwrap();
            runner.snapshot().unwrap();
            runner.step(*stop - *stop / 2, |_| {}).unwrap();
            runner.snapshot().unwrap();
            // Dropped without any other goodbye, as a killed process would be.
        }
        let deltas = std::fs::read_dir(data.join("state"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".delta"))
            .count();
        // The last run's second checkpoint is a delta; a run continues the chain of the one
        // before it until its deltas outgrow their base.
        prop_assert!(deltas >= 1, "the last run's second checkpoint is a delta");
        let (mut runner, messages) = KappaRunner::open(ir(), &dir, &data).unwrap();
        prop_assert!(messages.iter().any(|m| m.starts_with("resumed group `user_fraud` from its snapshot")), "{:?}", messages);
        runner.catch_up(|_| {}).unwrap();
        let got = features(&runner);
        prop_assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            prop_assert_eq!(g, e, "features of key {:?} differ after restarts", e.0);
        }
        let (accepted, dead) = runner.groups()[0].counters();
        prop_assert_eq!((accepted, dead), whole.groups()[0].counters());
        let _ = std::fs::remove_dir_all(&root);
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "featc-restart-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A damaged snapshot, and one that claims offsets past the log's end, are reported and their
/// group rebuilt by replay: the features equal an uninterrupted run's.
#[test]
fn a_bad_snapshot_is_rebuilt_by_replay_not_left_blocking() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("project");
    project(&dir, 2_000);
    let data = root.path().join("data");
    let (mut runner, _) = KappaRunner::open(ir(), &dir, &data).unwrap();
    runner.catch_up(|_| {}).unwrap();
    let expected = features(&runner);
    let state = runner.snapshot().unwrap();
    let file = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".base"))
        .unwrap();
    let good = std::fs::read(&file).unwrap();

    std::fs::write(&file, &good[..good.len() / 2]).unwrap();
    let (mut again, said) = KappaRunner::open(ir(), &dir, &data).unwrap();
    assert!(
        said.iter().any(|m| m.starts_with("unreadable snapshot") && m.contains("replaying group `user_fraud`")),
        "{said:?}"
    );
    again.catch_up(|_| {}).unwrap();
    assert_eq!(features(&again), expected);
    drop(again);

    // A well-formed checkpoint that claims more events than the log holds.
    std::fs::write(&file, &good).unwrap();
    let version = ir().groups[0].version.clone();
    let Loaded::Found(checkpoint, _) = snapshot::read(&state, "user_fraud", &version) else { panic!("readable") };
    assert_eq!(checkpoint.offsets, vec![("transactions".to_owned(), 2000)], "the checkpoint names its offsets");
    snapshot::write(&state, "user_fraud", &version, vec![("transactions".to_owned(), 2500)], checkpoint.state).unwrap();
    let (mut again, said) = KappaRunner::open(ir(), &dir, &data).unwrap();
    assert!(
        said.iter().any(|m| m.contains("claims offset 2500 of `transactions`, whose log ends at 2000")),
        "{said:?}"
    );
    again.catch_up(|_| {}).unwrap();
    assert_eq!(features(&again), expected);
}

/// A base written from the state in place, a chunk of keys at a time on every core, is the
/// file the state's serde form gives, byte for byte: the fraud example's group (columnar, every
/// kind of partial it keeps) and the same group on the row path, on one shard and on three.
#[test]
fn a_base_encoded_from_the_state_in_place_is_the_file_of_its_snapshot() {
    let ir = ir();
    let g = &ir.groups[0];
    let batch = featc_runtime::io::generate::fraud(20_000, 11).unwrap();
    let source = &ir.sources[g.source];
    let fields: Vec<_> =
        g.columns.iter().filter_map(|c| source.fields.iter().find(|f| &f.name == c).cloned()).collect();
    for path in [featc_runtime::operators::group::Path::Auto, featc_runtime::operators::group::Path::Rows] {
        for shards in [1, 3] {
            let mut group = featc_runtime::operators::group::GroupRuntime::on_path(&ir, g, path).unwrap();
            group.set_shards(shards);
            group.process_batch(&batch, &fields);
            assert!(group.key_count() > 1_000, "{}", group.key_count());
            let (whole, streamed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let offsets = vec![("transactions".to_owned(), 20_000)];
            snapshot::write(whole.path(), &g.name, &g.version, offsets.clone(), group.snapshot()).unwrap();
            snapshot::write_group(streamed.path(), &g.name, &g.version, offsets, &group).unwrap();
            let file = format!("{}.{}.1.base", g.name, g.version);
            let (a, b) =
                (std::fs::read(whole.path().join(&file)).unwrap(), std::fs::read(streamed.path().join(&file)).unwrap());
            assert!(a == b, "{path:?} path, {shards} shards: {} bytes against {}", a.len(), b.len());
        }
    }
}
