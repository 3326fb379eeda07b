//! Arbitrary and mutated bytes in, for every decoder of the runtime (log segments, Parquet,
//! CSV, NDJSON, event values, times, snapshots); out: a value or a reason, never a panic, an
//! overflow or a hang. Property targets run by `cargo test`, bounded by `FEATC_FUZZ_CASES`
//! (default 128 per target; the reliability run uses 20,000). Inputs that once broke a
//! decoder live in `tests/fuzz-corpus/` and are replayed by `the_corpus_is_read_without_panic`.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc::ir::{FileFormat, HistoryFiles, IrField, IrSource, Ty, Type};
use featc_runtime::io::history;
use featc_runtime::io::log::{EventSource as _, Log};
use featc_runtime::io::time::{parse_rfc3339, rfc3339};
use featc_runtime::operators::decode;
use featc_runtime::store::snapshot::{self, Loaded};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("FEATC_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(128)
}

fn source(format: FileFormat, file: &str) -> IrSource {
    let field = |name: &str, ty, nullable| IrField { name: name.to_owned(), ty: Type::new(ty, nullable) };
    IrSource {
        name: "s".to_owned(),
        fields: vec![
            field("k", Ty::String, false),
            field("x", Ty::F64, true),
            field("n", Ty::I64, false),
            field("b", Ty::Bool, true),
            field("ts", Ty::Timestamp, false),
        ],
        event_time: "ts".to_owned(),
        lateness_ms: 0,
        history: Some(HistoryFiles { glob: file.to_owned(), format, pin: None }),
        topic: "s".to_owned(),
    }
}

const CSV: &str = "k,x,n,b,ts\n\
a,1.5,1,true,2024-01-01T00:00:00Z\n\
\"b,c\",,2,false,2024-01-01T00:00:01.250+01:00\n\
d,-3e5,-9223372036854775808,,1704067200000\n";

const NDJSON: &str = "{\"k\":\"a\",\"x\":1.5,\"n\":1,\"b\":true,\"ts\":\"2024-01-01T00:00:00Z\"}\n\
{\"k\":\"\\u00e9\",\"x\":null,\"n\":-2,\"ts\":1704067200000}\n\
{\"k\":\"d\",\"x\":1e308,\"n\":9223372036854775807,\"b\":false,\"ts\":\"2024-01-01 00:00:00\"}\n";

/// Bytes mutated: some flipped, some removed, some inserted (a cheap cargo-fuzz).
fn mutated(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..8).prop_map(move |edits| {
        let mut bytes = base.to_vec();
        for (at, kind, byte) in edits {
            let i = at.index(bytes.len().max(1));
            match kind {
                0 if !bytes.is_empty() => bytes[i] ^= byte | 1,
                1 if !bytes.is_empty() => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i.min(bytes.len()), byte),
            }
        }
        bytes
    })
}

/// Reads a history file of `bytes`; every chunk is events or rejected lines, never a panic.
fn read_history(format: FileFormat, name: &str, bytes: &[u8]) -> history::History {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), bytes).unwrap();
    let h = history::read(dir.path(), &source(format, name)).expect("a history file never stops the read");
    for batch in &h.batches {
        let (rows, dead) = decode::rows(batch, &source(format, name).fields);
        assert_eq!(rows.len() + dead.len(), batch.num_rows(), "every row is an event or a dead letter");
    }
    h
}

fn ndjson_lines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').filter(|l| std::str::from_utf8(l).map_or(true, |t| !t.trim().is_empty())).count()
}

/// A valid segment of the embedded log, as `Log::append` writes it.
fn segment_bytes() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), "t").unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new("ts", DataType::Int64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            Arc::new(Float64Array::from(vec![Some(1.0), Some(f64::NAN), None])),
            Arc::new(Int64Array::from(vec![0, i64::MIN, i64::MAX])),
        ];
        log.append(&[RecordBatch::try_new(schema, columns).unwrap()]).unwrap();
        let file = std::fs::read_dir(log.dir())
            .unwrap()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "arrows"));
        std::fs::read(file.unwrap().path()).unwrap()
    })
}

/// Reads a log whose one segment holds `bytes` under a name with their true checksum, so the
/// Arrow decoder itself meets the damage: rows or an error, and it ends.
fn read_segment(bytes: &[u8], rows: u64) -> Result<u64, String> {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), "t").unwrap();
    let name = format!("{:020}-{:020}-{:08x}.arrows", 0, rows, crc32fast::hash(bytes));
    std::fs::write(log.dir().join(name), bytes).unwrap();
    let mut reader = log.reader(0);
    let mut n = 0;
    let fields = [
        IrField { name: "k".to_owned(), ty: Type::new(Ty::String, false) },
        IrField { name: "ts".to_owned(), ty: Type::new(Ty::Timestamp, false) },
    ];
    for _ in 0..1000 {
        match reader.next_batch()? {
            Some((_, batch)) => {
                let (ok, dead) = decode::rows(&batch, &fields);
                assert_eq!(ok.len() + dead.len(), batch.num_rows());
                n += batch.num_rows() as u64;
            }
            None => return Ok(n),
        }
    }
    panic!("the reader did not end");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn csv_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        read_history(FileFormat::Csv, "e.csv", &bytes);
    }

    #[test]
    fn csv_mutated(bytes in mutated(CSV.as_bytes())) {
        read_history(FileFormat::Csv, "e.csv", &bytes);
    }

    #[test]
    fn ndjson_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let h = read_history(FileFormat::Ndjson, "e.ndjson", &bytes);
        prop_assert_eq!(h.rows() + h.rejected.len(), ndjson_lines(&bytes), "every line accounted for once");
    }

    #[test]
    fn ndjson_mutated(bytes in mutated(NDJSON.as_bytes())) {
        let h = read_history(FileFormat::Ndjson, "e.ndjson", &bytes);
        prop_assert_eq!(h.rows() + h.rejected.len(), ndjson_lines(&bytes), "every line accounted for once");
    }

    #[test]
    fn parquet_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        read_history(FileFormat::Parquet, "e.parquet", &bytes);
    }

    #[test]
    fn parquet_mutated(bytes in mutated(parquet_bytes())) {
        read_history(FileFormat::Parquet, "e.parquet", &bytes);
    }

    #[test]
    fn log_segment_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400), rows in 0u64..5) {
        let _ = read_segment(&bytes, rows);
    }

    #[test]
    fn log_segment_mutated(bytes in mutated(segment_bytes())) {
        let _ = read_segment(&bytes, 3);
    }

    #[test]
    fn times_any_text(text in any::<String>()) {
        if let Some(ms) = parse_rfc3339(&text) {
            prop_assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        }
    }

    #[test]
    fn times_mutated(bytes in mutated(b"2024-02-29T23:59:59.999+14:00")) {
        if let Some(ms) = parse_rfc3339(&String::from_utf8_lossy(&bytes)) {
            prop_assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        }
    }

    #[test]
    fn event_values_any(ts in any::<i64>(), x in any::<u64>(), unit in 0usize..4, k in any::<String>()) {
        let units = [TimeUnit::Second, TimeUnit::Millisecond, TimeUnit::Microsecond, TimeUnit::Nanosecond];
        let ts_array: ArrayRef = match units[unit] {
            TimeUnit::Second => Arc::new(arrow::array::TimestampSecondArray::from(vec![ts])),
            TimeUnit::Millisecond => Arc::new(arrow::array::TimestampMillisecondArray::from(vec![ts])),
            TimeUnit::Microsecond => Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![ts])),
            TimeUnit::Nanosecond => Arc::new(arrow::array::TimestampNanosecondArray::from(vec![ts])),
        };
        let batch = RecordBatch::try_from_iter(vec![
            ("k", Arc::new(StringArray::from(vec![k])) as ArrayRef),
            ("x", Arc::new(Float64Array::from(vec![f64::from_bits(x)])) as ArrayRef),
            ("n", Arc::new(Int64Array::from(vec![ts])) as ArrayRef),
            ("ts", ts_array),
        ]).unwrap();
        let (rows, dead) = decode::rows(&batch, &source(FileFormat::Csv, "").fields);
        prop_assert_eq!(rows.len() + dead.len(), 1);
    }

    #[test]
    fn snapshots_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("g.v.1.base"), &bytes).unwrap();
        prop_assert!(!matches!(snapshot::read(dir.path(), "g", "v"), Loaded::Found(..)));
    }
}

/// A valid Parquet file of the source's columns.
fn parquet_bytes() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let batch = RecordBatch::try_from_iter(vec![
            ("k", Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef),
            ("x", Arc::new(Float64Array::from(vec![Some(1.5), None])) as ArrayRef),
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("ts", Arc::new(arrow::array::TimestampMillisecondArray::from(vec![0, 1])) as ArrayRef),
        ])
        .unwrap();
        let mut out = Vec::new();
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        out
    })
}

#[test]
fn the_corpus_is_read_without_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let mut read = 0;
    for entry in std::fs::read_dir(&corpus).unwrap().flatten() {
        let path = entry.path();
        let bytes = std::fs::read(&path).unwrap();
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => drop(read_history(FileFormat::Csv, "e.csv", &bytes)),
            Some("ndjson") => drop(read_history(FileFormat::Ndjson, "e.ndjson", &bytes)),
            Some("parquet") => drop(read_history(FileFormat::Parquet, "e.parquet", &bytes)),
            Some("arrows") => drop(read_segment(&bytes, 3)),
            Some("time") => {
                let text = String::from_utf8_lossy(&bytes);
                if let Some(ms) = parse_rfc3339(&text) {
                    assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
                }
            }
            _ => continue,
        }
        read += 1;
    }
    assert!(read > 0, "the corpus is not empty");
}
