//! The feature IR and a job's settings in, a complete Spark SQL job out: the session's time
//! zone, the cutoff as a session variable, a view of each source read from its files in the
//! spec's types, and each batch statement written as Parquet to a folder of its own.
//!
//! The job runs as emitted with `spark-sql -f`, and statement by statement through
//! `spark.sql` (a `spark-submit` driver). Three of its statement forms are Spark's own and
//! missing from sqlparser's AST (`DECLARE ... VARIABLE`, `CREATE TEMPORARY VIEW ... USING` and
//! `INSERT OVERWRITE DIRECTORY ... USING`): [`SparkStatement`] holds them as typed parts and
//! prints each part (names, types, literals, the query) through sqlparser.

use std::fmt;

use sqlparser::ast::{DataType, Expr, Ident, Query, Set, Statement, Value};

use super::build::{call, cast, col, ident, string};
use super::{Dialect, SqlOutput, SqlStatement};
use crate::ir::{FeatureIr, FileFormat, IrSource, Ty};

/// The session variable holding the cutoff, in epoch milliseconds.
pub const CUTOFF_VARIABLE: &str = "featc_cutoff";

/// Where a job reads and writes.
#[derive(Debug, Clone)]
pub struct SparkJob {
    /// The cutoff the job computes at; without it the variable's default takes every event
    /// (`SET VAR featc_cutoff = ...` before the statements changes it).
    pub cutoff_ms: Option<i64>,
    /// The folder relative file bindings are read from (the spec's folder); as written when
    /// `None`.
    pub base_dir: Option<String>,
    /// The folder each statement writes its Parquet files under, one sub-folder per statement.
    pub output_dir: String,
}

/// A statement of Spark SQL that sqlparser's AST has no node for.
#[derive(Debug, Clone)]
enum SparkStatement {
    /// `DECLARE OR REPLACE VARIABLE name BIGINT DEFAULT value`
    Declare { name: Ident, data_type: DataType, default: Box<Expr> },
    /// `CREATE OR REPLACE TEMPORARY VIEW name USING format OPTIONS (key 'value', ...)`
    SourceView { name: Ident, format: Ident, options: Vec<(Ident, Value)> },
    /// `INSERT OVERWRITE DIRECTORY 'path' USING format query`
    InsertDirectory { path: Value, format: Ident, query: Box<Query> },
}

impl fmt::Display for SparkStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SparkStatement::Declare { name, data_type, default } => {
                write!(f, "DECLARE OR REPLACE VARIABLE {name} {data_type} DEFAULT {default}")
            }
            SparkStatement::SourceView { name, format, options } => {
                write!(f, "CREATE OR REPLACE TEMPORARY VIEW {name} USING {format} OPTIONS (")?;
                for (i, (key, value)) in options.iter().enumerate() {
                    write!(f, "{}{key} {value}", if i == 0 { "" } else { ", " })?;
                }
                f.write_str(")")
            }
            SparkStatement::InsertDirectory { path, format, query } => {
                write!(f, "INSERT OVERWRITE DIRECTORY {path} USING {format} {query}")
            }
        }
    }
}

/// The reference to the cutoff in a statement: `system.session.featc_cutoff`.
pub(super) fn cutoff_variable() -> Expr {
    Expr::CompoundIdentifier(vec![Ident::new("system"), Ident::new("session"), Ident::new(CUTOFF_VARIABLE)])
}

/// The raw view of a source's files, before its columns take the spec's types.
pub(super) fn raw_view_name(source: &str) -> String {
    format!("featc_raw_{source}")
}

/// A literal the Spark parser reads back as written: no quote or backslash inside.
fn literal(text: &str, what: &str) -> Result<Value, String> {
    if text.contains(['\'', '\\', '\n']) {
        return Err(format!("{what} `{text}` holds a quote, a backslash or a newline, which a Spark job cannot name"));
    }
    Ok(Value::SingleQuotedString(text.to_owned()))
}

/// The complete job: setup statements, then every batch statement as a write.
pub fn job(ir: &FeatureIr, job: &SparkJob) -> Result<SqlOutput, String> {
    let d = Dialect::Spark;
    let mut out = SqlOutput::default();
    let setup = SqlStatement::setup;
    let time_zone = Statement::Set(Set::SetTimeZone { local: false, value: string("UTC") });
    out.statements.push(setup(
        "time_zone",
        "event times are instants; dates and panes are in UTC",
        time_zone.to_string(),
    ));
    let declare = SparkStatement::Declare {
        name: Ident::new(CUTOFF_VARIABLE),
        data_type: DataType::BigInt(None),
        default: Box::new(super::build::int(job.cutoff_ms.unwrap_or(i64::MAX))),
    };
    out.statements.push(setup(
        "cutoff",
        "the batch cutoff in epoch milliseconds: events at or before it count",
        declare.to_string(),
    ));
    for (si, source) in ir.sources.iter().enumerate() {
        if !ir.groups.iter().any(|g| g.source == si) {
            continue;
        }
        let Some(files) = &source.history else {
            out.notes.push(format!("source {}: no history files to read; its groups are not in the job", source.name));
            continue;
        };
        let path = literal(&super::resolve(job.base_dir.as_deref(), &files.glob), "the path")?;
        let (format, mut options) = match files.format {
            FileFormat::Parquet => ("parquet", vec![]),
            // Every column as text, typed below as featc's readers type it.
            // A line of another width than the header is dropped, as featc's reader rejects it.
            FileFormat::Csv => ("csv", vec![("header", "true"), ("mode", "DROPMALFORMED")]),
            FileFormat::Ndjson => ("json", vec![("primitivesAsString", "true")]),
            FileFormat::Delta => {
                out.notes.push(format!(
                    "source {}: a Delta table; Spark reads it with the Delta Lake package (delta-spark) on its classpath",
                    source.name
                ));
                ("delta", vec![])
            }
        };
        let pin = match files.pin {
            Some(crate::ir::DeltaPin::Version(v)) => Some(("versionAsOf", v.to_string())),
            Some(crate::ir::DeltaPin::Timestamp(_)) => {
                return Err(format!(
                    "source {}: a Delta table pinned by time; a Spark job reads a table pinned by version (`version N`)",
                    source.name
                ));
            }
            None => None,
        };
        let mut values: Vec<(Ident, Value)> = vec![(Ident::new("path"), path)];
        options.iter_mut().for_each(|(k, v)| values.push((Ident::new(*k), Value::SingleQuotedString((*v).to_owned()))));
        if let Some((k, v)) = pin {
            values.push((Ident::new(k), Value::SingleQuotedString(v)));
        }
        let raw = SparkStatement::SourceView {
            name: ident(d, &raw_view_name(&source.name)),
            format: Ident::new(format),
            options: values,
        };
        out.statements.push(setup(
            &format!("{}__files", source.name),
            &format!("the files of {} as the engine reads them", source.name),
            raw.to_string(),
        ));
        let text = matches!(files.format, FileFormat::Csv | FileFormat::Ndjson);
        let typed = typed_view(d, source, &raw_view_name(&source.name), text)?;
        out.statements.push(setup(
            &format!("{}__source", source.name),
            &format!("{} in the spec's types, with a flag per column that could not take its type", source.name),
            typed.to_string(),
        ));
    }
    let (statements, notes) = super::emit_with(ir, d, Some(cutoff_variable()), true);
    out.notes.extend(notes);
    let root = job.output_dir.trim_end_matches('/');
    for (s, tree) in statements {
        let Statement::Query(query) = tree else {
            return Err(format!("{}: the statement is not a query", s.name));
        };
        let output = format!("{root}/{}", s.name);
        let write = SparkStatement::InsertDirectory {
            path: literal(&output, "the output folder")?,
            format: Ident::new("parquet"),
            query,
        };
        out.statements.push(SqlStatement { sql: write.to_string(), output: Some(output), ..s });
    }
    Ok(out)
}

/// `CREATE [OR REPLACE] TEMPORARY VIEW source AS SELECT ...` over a source's raw table, in a
/// Spark or Flink job: each field in its declared type and, for text files (`text`), read as
/// featc's text readers read it (trimmed, blank as null, times as epoch milliseconds within
/// featc's years or RFC 3339), with a `__featc_bad_<field>` flag where a value is present but
/// not of its type.
pub(super) fn typed_view(d: Dialect, source: &IrSource, raw_name: &str, text: bool) -> Result<Statement, String> {
    let ts_type = super::build::data_type(d, &Ty::Timestamp);
    let mut projection: Vec<(Expr, String)> = Vec::new();
    let mut flags: Vec<(Expr, String)> = Vec::new();
    for field in &source.fields {
        let raw = col(d, &field.name);
        let trimmed = call("NULLIF", vec![call("TRIM", vec![raw.clone()]), string("")]);
        let typed = match (&field.ty.ty, text) {
            (Ty::Timestamp, true) => {
                let millis = try_cast(trimmed.clone(), DataType::BigInt(None));
                let in_range = Expr::Between {
                    expr: Box::new(millis.clone()),
                    negated: false,
                    low: Box::new(super::build::int(crate::ir::EVENT_TIME_MIN_MS)),
                    high: Box::new(super::build::int(crate::ir::EVENT_TIME_MAX_MS)),
                };
                let digits = call("REGEXP", vec![trimmed.clone(), string("^-?[0-9]+$")]);
                // Flink's text timestamps have neither `T` nor `Z`, and its epoch conversion
                // gives a local-zone type.
                let (from_millis, text_time) = if d == Dialect::Flink {
                    let t = call(
                        "REPLACE",
                        vec![call("REPLACE", vec![trimmed.clone(), string("T"), string(" ")]), string("Z"), string("")],
                    );
                    (cast(call("TO_TIMESTAMP_LTZ", vec![millis, super::build::int(3)]), ts_type.clone()), t)
                } else {
                    (call("timestamp_millis", vec![millis]), trimmed.clone())
                };
                Expr::Case {
                    case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                    end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                    operand: None,
                    conditions: vec![sqlparser::ast::CaseWhen {
                        condition: super::build::and_all(vec![digits, in_range]).unwrap_or_else(|| string("")),
                        result: from_millis,
                    }],
                    else_result: Some(Box::new(try_cast(text_time, ts_type.clone()))),
                }
            }
            (Ty::String, true) => trimmed.clone(),
            (ty, true) => try_cast(trimmed.clone(), super::build::data_type(d, ty)),
            (Ty::Timestamp, false) => cast(raw.clone(), ts_type.clone()),
            (_, false) => raw.clone(),
        };
        if text && field.ty.ty != Ty::String {
            let bad = super::build::bad_value(&trimmed, &typed);
            flags.extend(bad.map(|b| (b, bad_flag(&field.name))));
        }
        projection.push((typed, field.name.clone()));
    }
    projection.extend(flags);
    // Flink has no `OR REPLACE` for views.
    super::build::temporary_view(d, &source.name, projection, raw_name, d == Dialect::Spark)
}

/// The flag of a text field whose value could not take its declared type.
pub(super) fn bad_flag(field: &str) -> String {
    format!("__featc_bad_{field}")
}

fn try_cast(e: Expr, data_type: DataType) -> Expr {
    Expr::Cast { kind: sqlparser::ast::CastKind::TryCast, expr: Box::new(e), data_type, array: false, format: None }
}
