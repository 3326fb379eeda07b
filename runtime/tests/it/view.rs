//! Random groups of every aggregate and window kind in, a batch view stored in its columnar
//! Parquet format and read back out: the view read back gives the features the state it was
//! written from gives, at the key's latest event and after, on either path; and the batch
//! layer, which computes only the features that read it, gives those as the whole group does.

use featc_runtime::operators::group::{GroupRuntime, Path};
use featc_runtime::runners::lambda::batch::BatchView;
use featc_runtime::store::view;
use proptest::prelude::*;

// The columnar test's random groups: every aggregate (over columns and computed inputs), every
// window, feature and group filters.
use super::columnar::{BASE, SCHEMA, batch, compiled, features, fields, raw_events, spec};

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_stored_view_gives_the_features_of_the_state_it_was_written_from(
        (text, int_key) in spec(),
        raw in raw_events(),
        probes in prop::collection::vec(0i64..20_000, 1..4),
        rows_path in any::<bool>(),
    ) {
        let ir = compiled(&text);
        let g = &ir.groups[0];
        let path = if rows_path { Path::Rows } else { Path::Auto };
        let events = batch(&raw, int_key);
        let mut state = GroupRuntime::batch_layer_on(&ir, g, path).unwrap();
        state.process_batch(&events, &fields(&ir));
        // The batch layer computes the features whose merge rule reads it as the whole group
        // does; the others it leaves out (their partials empty).
        let mut whole = GroupRuntime::on_path(&ir, g, path).unwrap();
        whole.process_batch(&events, &fields(&ir));
        let kept: Vec<usize> = g
            .aggregates
            .iter()
            .filter(|a| a.merge.uses_batch())
            .filter_map(|a| g.outputs.iter().position(|o| *o == a.name))
            .collect();
        let pick = |rows: Vec<(Vec<featc_runtime::value::Value>, i64, Vec<featc_runtime::value::Value>)>| {
            rows.into_iter().map(|(k, t, v)| (k, t, kept.iter().map(|&i| v[i].clone()).collect::<Vec<_>>())).collect::<Vec<_>>()
        };
        prop_assert_eq!(pick(features(&state, &probes)), pick(features(&whole, &probes)), "{}", text);

        let dir = tempfile::tempdir().unwrap();
        let cutoff = BASE + 1_000_000;
        let mut written = BatchView::empty(&ir, cutoff).unwrap();
        written.groups[0] = state;
        view::write(&ir, &mut written, dir.path()).unwrap();
        let read = view::read(&ir, dir.path()).unwrap().expect("the view just written");
        prop_assert!(read.stale.is_empty(), "the view was not read back: {}", text);
        let want = features(&written.groups[0], &probes);
        prop_assert_eq!(&features(&read.groups[0], &probes), &want, "{}", text);

        // The table is the same whichever path kept the state (the columnar path's is read in
        // place, the row path's from its objects).
        let other = if rows_path { Path::Auto } else { Path::Rows };
        let mut state = GroupRuntime::batch_layer_on(&ir, g, other).unwrap();
        state.process_batch(&events, &fields(&ir));
        let mut twin = BatchView::empty(&ir, cutoff).unwrap();
        twin.groups[0] = state;
        let twin_dir = tempfile::tempdir().unwrap();
        view::write(&ir, &mut twin, twin_dir.path()).unwrap();
        prop_assert_eq!(table(dir.path()), table(twin_dir.path()), "{}", text);
    }
}

/// The rows of the first group's table in a stored view.
fn table(data_dir: &std::path::Path) -> Vec<arrow::record_batch::RecordBatch> {
    let manifest = view::manifest(data_dir).unwrap().expect("a view");
    let folder = data_dir.join("batch");
    let file = std::fs::File::open(folder.join(&manifest.groups[0].file)).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    reader.map(Result::unwrap).collect()
}

#[test]
fn the_view_is_one_row_per_key_and_pane_with_a_column_per_partial_field() {
    let ir = compiled(&format!(
        "source s {{\n    event_time ts\n    files \"s.parquet\"\n    schema {{ k: string, {SCHEMA} }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s {{\n    total = sum(x) over sliding(4s, every: 2s)\n    seen = approx_count_distinct(c) over lifetime\n    p = approx_percentile(x, 0.5) over lifetime\n}}\n"
    ));
    let raw = vec![(0, Some(1.25), Some(1), 0, Some(0), true), (0, Some(2.5), Some(1), 5, Some(1), false)];
    let mut state = GroupRuntime::new(&ir, &ir.groups[0]).unwrap();
    state.process_batch(&batch(&raw, false), &fields(&ir));
    let dir = tempfile::tempdir().unwrap();
    let mut written = BatchView::empty(&ir, BASE + 10_000).unwrap();
    written.groups[0] = state;
    let folder = view::write(&ir, &mut written, dir.path()).unwrap();
    let manifest = view::manifest(dir.path()).unwrap().unwrap();
    let file = std::fs::File::open(folder.join(&manifest.groups[0].file)).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let names: Vec<String> = batches[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    // The key and the fixed columns first, then each aggregate's fields in the plan's order.
    assert_eq!(names[..5], ["k", "_window", "_start", "_end", "_latest"]);
    let mut partials = names[5..].to_vec();
    partials.sort();
    assert_eq!(
        partials,
        [
            "p__negative_count",
            "p__negative_index",
            "p__positive_count",
            "p__positive_index",
            "p__zeros",
            "seen__hashes",
            "seen__registers",
            "total__sum",
            "total__sum_parts"
        ]
    );
    // Two panes of the sliding window (0 s and 2.5 s fall in panes 0 and 2) and one lifetime row.
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 3);
}

#[test]
fn a_view_computed_before_a_merge_rule_moved_a_feature_onto_it_is_computed_again() {
    let spec = |rule: &str| {
        compiled(&format!(
            "source s {{\n    event_time ts\n    files \"s.parquet\"\n    schema {{ k: string, {SCHEMA} }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s {{\n    total = sum(x) over sliding(4s, every: 2s)\n    seen = count() over lifetime\n}}\n\nlambda g {{\n    merge total = {rule}\n    merge seen = batch + speed\n}}\n"
        ))
    };
    let (speed, both) = (spec("speed"), spec("batch + speed"));
    // Merge rules are not part of the group's version: the view file would be kept.
    assert_eq!(speed.groups[0].version, both.groups[0].version);
    let raw = vec![(0, Some(1.25), Some(1), 0, Some(0), true), (0, Some(2.5), Some(1), 5, Some(1), false)];
    for (written_with, read_with, stale) in [(&speed, &both, true), (&both, &speed, false), (&speed, &speed, false)] {
        let mut state = GroupRuntime::batch_layer(written_with, &written_with.groups[0]).unwrap();
        state.process_batch(&batch(&raw, false), &fields(written_with));
        let dir = tempfile::tempdir().unwrap();
        let mut written = BatchView::empty(written_with, BASE + 10_000).unwrap();
        written.groups[0] = state;
        view::write(written_with, &mut written, dir.path()).unwrap();
        let read = view::read(read_with, dir.path()).unwrap().expect("a view");
        // `total` moved onto the view: its partials are not in the file, the group is stale.
        assert_eq!(read.stale == [0], stale, "{:?}", read.stale);
    }
}

/// A table whose rows of one key are not together (not a file featc writes) is not read as two
/// states of that key: the group is computed again. A key's rows across row groups (read on
/// different threads) are one state.
#[test]
fn a_view_whose_rows_of_a_key_are_apart_is_computed_again() {
    let ir = compiled(&format!(
        "source s {{\n    event_time ts\n    files \"s.parquet\"\n    schema {{ k: string, {SCHEMA} }}\n}}\n\nentity e {{ key k: string }}\n\nfeatures g(e) from s {{\n    total = sum(x) over sliding(4s, every: 2s)\n    seen = count() over lifetime\n}}\n"
    ));
    // Key k0 has a lifetime row and two panes; k1 one of each.
    let raw = vec![
        (0, Some(1.25), Some(1), 0, Some(0), true),
        (0, Some(2.5), Some(1), 5, Some(1), false),
        (1, Some(0.5), Some(1), 1, Some(0), true),
    ];
    let mut state = GroupRuntime::new(&ir, &ir.groups[0]).unwrap();
    state.process_batch(&batch(&raw, false), &fields(&ir));
    let expected: Vec<_> = state.keys().iter().map(|k| state.lookup(k, BASE + 10_000).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut written = BatchView::empty(&ir, BASE + 10_000).unwrap();
    written.groups[0] = state;
    view::write(&ir, &mut written, dir.path()).unwrap();
    let read = view::read(&ir, dir.path()).unwrap().expect("a view");
    assert!(read.stale.is_empty(), "the view as written reads");

    // The same rows with the first moved to the end: its key's rows are now apart.
    let manifest = view::manifest(dir.path()).unwrap().unwrap();
    let path = dir.path().join("batch").join(&manifest.groups[0].file);
    let file = std::fs::File::open(&path).unwrap();
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let kv = builder.metadata().file_metadata().key_value_metadata().cloned();
    let schema = builder.schema().clone();
    let rows =
        arrow::compute::concat_batches(&schema, &builder.build().unwrap().map(Result::unwrap).collect::<Vec<_>>())
            .unwrap();
    let n = rows.num_rows();
    assert!(n >= 4, "{n} rows");
    // The rows written again a row group each: a key's rows go on from one to the next.
    let rewrite = |rows: &arrow::record_batch::RecordBatch| {
        let props = parquet::file::properties::WriterProperties::builder()
            .set_key_value_metadata(kv.clone())
            .set_max_row_group_row_count(Some(1))
            .build();
        let out = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(out, rows.schema(), Some(props)).unwrap();
        w.write(rows).unwrap();
        w.close().unwrap();
    };
    rewrite(&rows);
    let read = view::read(&ir, dir.path()).unwrap().expect("a view");
    assert!(read.stale.is_empty(), "a row group per row reads");
    let g = &read.groups[0];
    assert_eq!(g.keys().iter().map(|k| g.lookup(k, BASE + 10_000).unwrap()).collect::<Vec<_>>(), expected);
    let moved = arrow::compute::concat_batches(&rows.schema(), &[rows.slice(1, n - 1), rows.slice(0, 1)]).unwrap();
    rewrite(&moved);
    let read = view::read(&ir, dir.path()).unwrap().expect("a view");
    assert_eq!(read.stale, [0], "a key read twice would be kept as its second half only");
}
