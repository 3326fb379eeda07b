//! History files in, chunks of events and rejected lines out: the readers' unit tests.

use super::*;
use featc::ir::HistoryFiles;
use featc::ir::IrField;
use featc::ir::{Ty, Type};

fn source(glob: &str, format: FileFormat) -> IrSource {
    let field = |name: &str, ty| IrField { name: name.to_owned(), ty: Type::new(ty, true) };
    IrSource {
        name: "s".to_owned(),
        fields: vec![field("k", Ty::String), field("x", Ty::F64), field("ts", Ty::Timestamp)],
        event_time: "ts".to_owned(),
        lateness_ms: 0,
        history: Some(HistoryFiles { glob: glob.to_owned(), format, pin: None }),
        topic: "s".to_owned(),
    }
}

#[test]
fn a_malformed_ndjson_line_is_rejected_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("events.ndjson"),
        "{\"k\": \"a\", \"x\": 1.5, \"ts\": \"2024-01-01T00:00:00Z\"}\n\
         {\"k\": \"b\", \"x\": \n\
         [1, 2]\n\
         {\"k\": \"c\", \"x\": {\"nested\": true}, \"ts\": \"2024-01-01T00:00:01Z\"}\n\
         {\"k\": \"d\", \"x\": 2, \"ts\": \"2024-01-01T00:00:02Z\"}\n",
    )
    .unwrap();
    let history = read(dir.path(), &source("events.ndjson", FileFormat::Ndjson)).unwrap();
    assert_eq!(history.rows(), 2, "a and d");
    let lines: Vec<usize> = history.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 3, 4]);
    assert!(history.rejected[0].reason.starts_with("malformed JSON"), "{:?}", history.rejected[0]);
    assert_eq!(history.rejected[1].reason, "not a JSON object");
    assert!(history.rejected[2].reason.starts_with("does not fit the schema"), "{:?}", history.rejected[2]);
}

#[test]
fn a_malformed_csv_row_is_rejected_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("events.csv"),
        "ts,k,x,extra\n\
         2024-01-01T00:00:00Z,a,1.5,\n\
         2024-01-01T00:00:01Z,b,abc,\n\
         2024-01-01T00:00:02Z,c\n\
         2024-01-01T00:00:03Z,\"d\",,\n\
         2024-01-01T00:00:04Z,e,\u{00e9},\n",
    )
    .unwrap();
    let history = read(dir.path(), &source("events.csv", FileFormat::Csv)).unwrap();
    assert_eq!(history.rows(), 2, "a and d (with a null x)");
    let got: Vec<(usize, &str)> = history.rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
    assert_eq!(
        got,
        [
            (3, "field `x`: `abc` is not an f64"),
            (4, "has 2 fields where the header has 4"),
            (6, "field `x`: `\u{00e9}` is not an f64")
        ]
    );
}

#[test]
fn a_file_that_is_not_parquet_is_rejected_and_the_next_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.parquet"), b"PAR1 not really").unwrap();
    std::fs::write(dir.path().join("b.csv"), "k,x,ts\nz,1,2024-01-01T00:00:00Z\n").unwrap();
    let history = read(dir.path(), &source("a.parquet", FileFormat::Parquet)).unwrap();
    assert_eq!(history.rows(), 0);
    assert_eq!(history.rejected.len(), 1);
    assert!(history.rejected[0].reason.starts_with("not a readable Parquet file"), "{:?}", history.rejected);
}

#[test]
fn chunks_hold_about_the_rows_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("k,x,ts\n");
    for i in 0..25_000 {
        text.push_str(&format!("k{i},{i},2024-01-01T00:00:00Z\n"));
    }
    std::fs::write(dir.path().join("events.csv"), text).unwrap();
    let chunks: Vec<History> =
        chunks(dir.path(), &source("events.csv", FileFormat::Csv), 10_000).unwrap().map(Result::unwrap).collect();
    let sizes: Vec<usize> = chunks.iter().map(History::rows).collect();
    assert_eq!(sizes, [10_000, 10_000, 5_000]);
}
