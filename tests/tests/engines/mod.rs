//! What the engine tests share: the cases (the examples, and corpus specs with files generated
//! from their schemas, malformed lines included) that Spark and Flink run featc's SQL over.
// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use featc::ir::{FeatureIr, FileFormat, Ty};

/// A spec, the folder its files are in, and the cutoff both engines compute at.
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) ir: FeatureIr,
    pub(crate) dir: PathBuf,
    pub(crate) cutoff: i64,
}

pub(crate) fn lower(name: &str, text: &str) -> FeatureIr {
    let (sources, checked) = featc_tests::check_text(name, text);
    assert!(!checked.has_errors(), "{}", featc::diagnostic::render::render(&checked.diagnostics, &sources, false));
    featc::ir::lower(&checked.project).unwrap()
}

pub(crate) fn example(name: &str, cutoff: i64) -> Case {
    let dir = featc_tests::root().join("examples").join(name);
    let text = std::fs::read_to_string(dir.join(format!("{name}.feat"))).unwrap();
    Case { name: name.to_owned(), ir: lower(name, &text), dir, cutoff }
}

/// A corpus spec with files generated from its schema: few keys, nulls where nullable, reals
/// of many magnitudes (so that sums round differently in different orders), three days of
/// times.
pub(crate) fn corpus(file: &str, tmp: &Path) -> Case {
    let path = featc_tests::root().join("tests/corpus/ok").join(file);
    let ir = lower(file, &std::fs::read_to_string(path).unwrap());
    let name = file.trim_end_matches(".feat").to_owned();
    let dir = tmp.join(&name);
    let start = 1_700_000_000_000_i64;
    for (si, source) in ir.sources.iter().enumerate() {
        let Some(files) = &source.history else { continue };
        let mut state: u64 = 0x2545_f491_4f6c_dd1d ^ (si as u64 + 1);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let rows = 4_000;
        let mut columns: Vec<ArrayRef> = Vec::new();
        let mut fields = Vec::new();
        for f in &source.fields {
            let null = |r: u64| f.ty.nullable && r.is_multiple_of(10);
            let (column, data_type): (ArrayRef, DataType) = match f.ty.ty {
                Ty::String => (
                    Arc::new(StringArray::from_iter((0..rows).map(|_| {
                        let r = next();
                        (!null(r)).then(|| ["a", "b", "c", "d", "e"][(r >> 8) as usize % 5].to_owned())
                    }))),
                    DataType::Utf8,
                ),
                Ty::I64 => (
                    Arc::new(Int64Array::from_iter((0..rows).map(|_| {
                        let r = next();
                        (!null(r)).then_some(((r >> 8) % 9) as i64 - 2)
                    }))),
                    DataType::Int64,
                ),
                Ty::F64 => (
                    Arc::new(Float64Array::from_iter((0..rows).map(|_| {
                        let r = next();
                        let mantissa = ((r >> 11) % 1_000_000) as f64 + 0.1;
                        let scale = 2f64.powi(((r >> 40) % 24) as i32 - 12);
                        (!null(r)).then_some(if r.is_multiple_of(3) { -mantissa * scale } else { mantissa * scale })
                    }))),
                    DataType::Float64,
                ),
                Ty::Bool => (
                    Arc::new(BooleanArray::from_iter((0..rows).map(|_| {
                        let r = next();
                        (!null(r)).then_some(r.is_multiple_of(2))
                    }))),
                    DataType::Boolean,
                ),
                Ty::Timestamp => {
                    let values = (0..rows).map(|_| {
                        let r = next();
                        (!null(r)).then_some(start + ((r >> 8) % 259_200_000) as i64)
                    });
                    (
                        Arc::new(TimestampMillisecondArray::from_iter(values)),
                        DataType::Timestamp(TimeUnit::Millisecond, None),
                    )
                }
                Ty::Null | Ty::List(_) => panic!("{file}: a source field of type {}", f.ty.ty),
            };
            columns.push(column);
            fields.push(Field::new(&f.name, data_type, true));
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let target = dir.join(files.glob.replace('*', "part-0"));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        match files.format {
            FileFormat::Parquet => {
                let file = std::fs::File::create(&target).unwrap();
                let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
                w.write(&batch).unwrap();
                w.close().unwrap();
            }
            FileFormat::Csv => {
                // Times as epoch milliseconds, one of the two forms featc reads.
                let columns: Vec<ArrayRef> = batch
                    .columns()
                    .iter()
                    .map(|c| {
                        if matches!(c.data_type(), DataType::Timestamp(..)) {
                            cast(c, &DataType::Int64).unwrap()
                        } else {
                            c.clone()
                        }
                    })
                    .collect();
                let schema = Schema::new(
                    batch
                        .schema()
                        .fields()
                        .iter()
                        .zip(&columns)
                        .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
                        .collect::<Vec<_>>(),
                );
                let batch = RecordBatch::try_new(Arc::new(schema), columns).unwrap();
                // DataFusion reads a clean copy; Spark reads the file with malformed lines
                // added, which featc dead-letters and the job must leave out.
                let clean = dir.join("clean").join(&files.glob);
                std::fs::create_dir_all(clean.parent().unwrap()).unwrap();
                let file = std::fs::File::create(&clean).unwrap();
                let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(file);
                w.write(&batch).unwrap();
                drop(w);
                // A valid line with its values padded with spaces, which featc trims: the clean
                // copy has it unpadded.
                let (plain, padded) = padded_line(source);
                let mut text = std::fs::read_to_string(&clean).unwrap();
                std::fs::write(&clean, format!("{text}{plain}\n")).unwrap();
                text.push_str(&padded);
                text.push('\n');
                for bad in malformed_lines(source) {
                    text.push_str(&bad);
                    text.push('\n');
                }
                std::fs::write(&target, text).unwrap();
            }
            other => panic!("{file}: no generator for {other:?} files"),
        }
    }
    Case { name, ir, dir, cutoff: start + 200_000_000 }
}

/// A valid CSV line, plain and with every value padded with spaces.
pub(crate) fn padded_line(source: &featc::ir::IrSource) -> (String, String) {
    let cells: Vec<&str> = source.fields.iter().map(|f| valid(&f.ty.ty)).collect();
    let padded: Vec<String> = cells.iter().map(|c| format!("  {c} ")).collect();
    (cells.join(","), padded.join(","))
}

fn valid(ty: &Ty) -> &'static str {
    match ty {
        Ty::String => "a",
        Ty::I64 => "3",
        Ty::F64 => "1.5",
        Ty::Bool => "true",
        _ => "1700000100000",
    }
}

/// CSV lines with one value that is not of its field's type (a real, an integer, a boolean or
/// a time), the others valid: one line per such field.
pub(crate) fn malformed_lines(source: &featc::ir::IrSource) -> Vec<String> {
    source
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.ty.ty != Ty::String)
        .map(|(bad, _)| {
            let cells: Vec<&str> = source
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| if i == bad { "oops" } else { valid(&f.ty.ty) })
                .collect();
            cells.join(",")
        })
        .collect()
}
