//! The feature IR in, Flink SQL out: each window's features as a group-window aggregation
//! (`TUMBLE`, `HOP`, `SESSION`, with their `_END` column) or, for lifetime windows, a `GROUP BY`
//! updated continuously; and, for a run, a complete job ([`job`]): the session's time zone, a
//! table over each source's files with its fields in the spec's types, and each statement
//! written to a folder of JSON lines.
//!
//! A featc sliding window as of a pane's end spans one pane more than its size (the sawtooth),
//! so `sliding(w, every: h)` is `HOP(ts, h, w + h)`. Aggregates without an exact Flink
//! equivalent (first and last by event time, lists, distinct counts, sketches) are named in a
//! note and left to the featc runtime.

use std::fmt;

use sqlparser::ast::{BinaryOperator, DataType, DateTimeField, Expr, Ident, Interval, Statement, TimezoneInfo, Value};

use super::build::{self, binary, call, call_with, cast, col, count_star, ident, int, select, string, table};
use super::{Dialect, SqlOutput, SqlStatement, valid_rows, window_slug};
use crate::aggregates::AggKind;
use crate::ir::{FeatureIr, FileFormat, IrAggregate, IrGroup, IrSource, Ty};
use crate::plan::window_text;

/// A statement, its tree, and its result's columns with their types.
type Columns = Vec<(String, Ty)>;

pub(super) fn interval(ms: u64) -> Expr {
    let (amount, field) = match ms {
        ms if ms % 86_400_000 == 0 => (ms / 86_400_000, DateTimeField::Day),
        ms if ms % 3_600_000 == 0 => (ms / 3_600_000, DateTimeField::Hour),
        ms if ms % 60_000 == 0 => (ms / 60_000, DateTimeField::Minute),
        ms => (ms / 1000, DateTimeField::Second),
    };
    let value = if !ms.is_multiple_of(1000) && field == DateTimeField::Second {
        string(&format!("{}.{:03}", ms / 1000, ms % 1000))
    } else {
        string(&amount.to_string())
    };
    Expr::Interval(Interval {
        value: Box::new(value),
        leading_field: Some(field),
        // The SQL standard's default leading precision is two digits (`INTERVAL '330' SECOND`
        // is refused): wider amounts state theirs.
        leading_precision: (amount >= 100).then(|| amount.to_string().len() as u64),
        last_field: None,
        fractional_seconds_precision: None,
    })
}

/// The statements of one group, with their result columns; `flags`: whether a text source's
/// rows carry the `__featc_bad_<field>` flags of a job's source tables; `batch`: a job over
/// bounded files, which Flink runs in batch mode, where it has no session windows.
pub(super) fn group(
    g: &IrGroup,
    source: &IrSource,
    flags: bool,
    batch: bool,
) -> Vec<(SqlStatement, Statement, Columns)> {
    let d = Dialect::Flink;
    let mut out = Vec::new();
    let Some(from) = table(d, &source.name) else { return out };
    let ts = col(d, &source.event_time);
    let keys: Vec<Expr> = g.keys.iter().map(|k| col(d, &k.name)).collect();
    let text =
        flags && source.history.as_ref().is_some_and(|h| matches!(h.format, FileFormat::Csv | FileFormat::Ndjson));
    let mut filter = valid_rows(g, source, d, text);
    if let Some(f) = &g.filter {
        filter.push(build::expr(d, &g.columns, f));
    }
    for w in &g.windows {
        if batch && matches!(w.spec, crate::check::WindowSpec::Session { .. }) {
            continue;
        }
        let window = window_text(w.spec);
        let (group_fn, end_fn, args): (Option<&str>, &str, Vec<Expr>) = match w.spec {
            crate::check::WindowSpec::Lifetime => (None, "", vec![]),
            crate::check::WindowSpec::Tumbling { size_ms } => {
                (Some("TUMBLE"), "TUMBLE_END", vec![ts.clone(), interval(size_ms)])
            }
            crate::check::WindowSpec::Sliding { size_ms, hop_ms } => {
                (Some("HOP"), "HOP_END", vec![ts.clone(), interval(hop_ms), interval(size_ms.saturating_add(hop_ms))])
            }
            crate::check::WindowSpec::Session { gap_ms } => {
                (Some("SESSION"), "SESSION_END", vec![ts.clone(), interval(gap_ms)])
            }
        };
        let mut projection: Vec<(Expr, String)> = g.keys.iter().map(|k| (col(d, &k.name), k.name.clone())).collect();
        let mut columns: Columns = g.keys.iter().map(|k| (k.name.clone(), k.ty.ty.clone())).collect();
        let mut group_by = keys.clone();
        if let Some(f) = group_fn {
            projection.push((call(end_fn, args.clone()), "window_end".to_owned()));
            columns.push(("window_end".to_owned(), Ty::Timestamp));
            group_by.push(call(f, args));
        }
        for &ai in &w.aggregates {
            let a = &g.aggregates[ai];
            if let Some(e) = aggregate(g, a) {
                projection.push((e, a.name.clone()));
                columns.push((a.name.clone(), a.ty.ty.clone()));
            }
        }
        if projection.len() == g.keys.len() + usize::from(group_fn.is_some()) {
            continue;
        }
        if let Some(statement) = select(d, projection, from.clone(), build::and_all(filter.clone()), group_by) {
            let meta = SqlStatement {
                name: format!("{}__{}", g.name, window_slug(&window)),
                comment: format!(
                    "features of {} over {window}, per key{}",
                    g.name,
                    if group_fn.is_some() { " and window" } else { ", updated continuously" }
                ),
                sql: statement.to_string(),
                output: None,
            };
            out.push((meta, statement, columns));
        }
    }
    out
}

/// The features of a group the Flink statements leave to the featc runtime, window by window
/// (`batch`: session windows too).
pub(super) fn notes(g: &IrGroup, batch: bool) -> Vec<String> {
    g.windows
        .iter()
        .filter_map(|w| {
            let session = batch && matches!(w.spec, crate::check::WindowSpec::Session { .. });
            let skipped: Vec<&str> = w
                .aggregates
                .iter()
                .map(|&ai| &g.aggregates[ai])
                .filter(|a| session || aggregate(g, a).is_none())
                .map(|a| a.name.as_str())
                .collect();
            (!skipped.is_empty()).then(|| {
                format!(
                    "{}: {} not expressible in Flink SQL; computed by the featc runtime",
                    g.name,
                    skipped.join(", ")
                )
            })
        })
        .collect()
}

/// The final value of an aggregate in Flink SQL, where Flink has an equivalent.
fn aggregate(g: &IrGroup, a: &IrAggregate) -> Option<Expr> {
    let d = Dialect::Flink;
    let predicate = a.predicate.and_then(|p| g.predicates.get(p)).map(|p| build::expr(d, &g.columns, p));
    let Some(v) = a.value.as_ref().map(|v| build::expr(d, &g.columns, v)) else {
        return Some(count_star(predicate));
    };
    let agg = |f: &str, arg: Expr| call_with(f, vec![arg], vec![], predicate.clone());
    let double = |v: Expr| cast(v, DataType::Double(sqlparser::ast::ExactNumberInfo::None));
    Some(match a.kind {
        AggKind::Count => agg("COUNT", v),
        AggKind::Sum => call("COALESCE", vec![agg("SUM", v), int(0)]),
        AggKind::Avg => agg("AVG", double(v)),
        AggKind::Min => agg("MIN", v),
        AggKind::Max => agg("MAX", v),
        AggKind::Variance => agg("VAR_SAMP", double(v)),
        AggKind::Stddev => agg("STDDEV_SAMP", double(v)),
        // Not expressible in the Flink job today (the plan's notes say so); listed one by one so
        // that a new aggregate has to be placed here.
        AggKind::First
        | AggKind::Last
        | AggKind::FirstN
        | AggKind::LastN
        | AggKind::CountDistinct
        | AggKind::ApproxCountDistinct
        | AggKind::ApproxPercentile
        | AggKind::TopK => return None,
    })
}

/// Where a Flink job reads and writes.
#[derive(Debug, Clone)]
pub struct FlinkJob {
    /// The folder relative file bindings are read from (the spec's folder); as written when
    /// `None`.
    pub base_dir: Option<String>,
    /// The folder each statement writes its JSON lines under, one sub-folder per statement.
    pub output_dir: String,
    /// Read the sources from Kafka instead of their files: a streaming job.
    pub kafka: Option<FlinkKafka>,
}

/// The Kafka a streaming Flink job reads and writes (the project's `[kafka]` settings).
#[derive(Debug, Clone)]
pub struct FlinkKafka {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The consumer group the job reads under.
    pub group: String,
    /// Each source read from Kafka, with its topic; other sources are left out of the job.
    pub topics: Vec<(String, String)>,
    /// The prefix of the topics the job writes, one per statement (`<prefix><statement>`).
    pub sink_prefix: String,
}

/// A statement of Flink SQL that sqlparser's AST has no node for (Flink's quoted `SET`, tables
/// with connector options) or that is simpler held as typed parts (`INSERT INTO t query`).
#[derive(Debug, Clone)]
enum FlinkStatement {
    /// `SET 'key' = 'value'`
    Set { key: Value, value: Value },
    /// `CREATE TABLE name (column type, ..., WATERMARK FOR c AS e, PRIMARY KEY (k, ...) NOT
    /// ENFORCED) WITH ('key' = 'value', ...)`
    CreateTable {
        name: Ident,
        columns: Vec<(Ident, DataType)>,
        /// Computed columns, `name AS expression`.
        computed: Vec<(Ident, Expr)>,
        watermark: Option<Box<(Ident, Expr)>>,
        primary_key: Vec<Ident>,
        options: Vec<(Value, Value)>,
    },
    /// `INSERT INTO name query`
    Insert { name: Ident, query: Box<Statement> },
}

impl fmt::Display for FlinkStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlinkStatement::Set { key, value } => write!(f, "SET {key} = {value}"),
            FlinkStatement::CreateTable { name, columns, computed, watermark, primary_key, options } => {
                write!(f, "CREATE TABLE {name} (")?;
                for (i, (c, t)) in columns.iter().enumerate() {
                    write!(f, "{}{c} {t}", if i == 0 { "" } else { ", " })?;
                }
                for (c, e) in computed {
                    write!(f, ", {c} AS {e}")?;
                }
                if let Some((c, e)) = watermark.as_deref() {
                    write!(f, ", WATERMARK FOR {c} AS {e}")?;
                }
                if !primary_key.is_empty() {
                    let keys: Vec<String> = primary_key.iter().map(ToString::to_string).collect();
                    write!(f, ", PRIMARY KEY ({}) NOT ENFORCED", keys.join(", "))?;
                }
                f.write_str(") WITH (")?;
                for (i, (k, v)) in options.iter().enumerate() {
                    write!(f, "{}{k} = {v}", if i == 0 { "" } else { ", " })?;
                }
                f.write_str(")")
            }
            FlinkStatement::Insert { name, query } => write!(f, "INSERT INTO {name} {query}"),
        }
    }
}

fn quoted(s: &str) -> Value {
    Value::SingleQuotedString(s.to_owned())
}

/// The Flink type of a spec type; `instants`: times as `TIMESTAMP_LTZ(3)` (a Kafka job, whose
/// JSON times are RFC 3339 instants), else `TIMESTAMP(3)` read in the job's UTC zone.
fn flink_type(ty: &Ty, instants: bool) -> DataType {
    match ty {
        Ty::String | Ty::List(_) => DataType::String(None),
        Ty::Bool => DataType::Boolean,
        Ty::I64 | Ty::Null => DataType::BigInt(None),
        Ty::F64 => DataType::Double(sqlparser::ast::ExactNumberInfo::None),
        Ty::Timestamp if instants => {
            DataType::Custom(sqlparser::ast::ObjectName::from(vec![Ident::new("TIMESTAMP_LTZ")]), vec!["3".to_owned()])
        }
        Ty::Timestamp => DataType::Timestamp(Some(3), TimezoneInfo::None),
    }
}

/// The complete job over the sources' files: settings, source tables and views, and each
/// statement inserted into a folder of JSON lines; with [`FlinkJob::kafka`], the streaming job
/// over Kafka ([`kafka_job`]).
pub fn job(ir: &FeatureIr, job: &FlinkJob) -> Result<SqlOutput, String> {
    if let Some(kafka) = &job.kafka {
        return Ok(kafka_job(ir, kafka));
    }
    let d = Dialect::Flink;
    let mut out = SqlOutput::default();
    let setup = SqlStatement::setup;
    for (key, value, comment) in [
        (
            "execution.runtime-mode",
            "batch",
            "the files are bounded: each window's result once, when the files are read",
        ),
        ("table.local-time-zone", "UTC", "event times are instants; windows are in UTC"),
    ] {
        let set = FlinkStatement::Set { key: quoted(key), value: quoted(value) };
        out.statements.push(setup(key, comment, set.to_string()));
    }
    let mut readable = vec![false; ir.sources.len()];
    for (si, source) in ir.sources.iter().enumerate() {
        if !ir.groups.iter().any(|g| g.source == si) {
            continue;
        }
        let Some(files) = &source.history else {
            out.notes.push(format!("source {}: no history files to read; its groups are not in the job", source.name));
            continue;
        };
        let format = match files.format {
            FileFormat::Csv => "csv",
            FileFormat::Ndjson => "json",
            FileFormat::Parquet => {
                out.notes.push(format!(
                    "source {}: Parquet files; Flink reads them with its Parquet format (flink-sql-parquet) on the classpath",
                    source.name
                ));
                "parquet"
            }
            FileFormat::Delta => {
                out.notes.push(format!("source {}: a Delta table, which this job does not read", source.name));
                continue;
            }
        };
        readable[si] = true;
        let text = format != "parquet";
        let path = super::resolve(job.base_dir.as_deref(), &files.glob);
        let mut options = vec![(quoted("connector"), quoted("filesystem")), (quoted("path"), quoted(&path))];
        options.push((quoted("format"), quoted(format)));
        match format {
            // A line of the wrong shape is skipped; the header line is read as a row whose
            // event time is not a time, and left out like any malformed row.
            "csv" => options.push((quoted("csv.ignore-parse-errors"), quoted("true"))),
            "json" => options.push((quoted("json.ignore-parse-errors"), quoted("true"))),
            _ => {}
        }
        let raw_name = super::spark::raw_view_name(&source.name);
        let columns = source
            .fields
            .iter()
            .map(|f| (ident(d, &f.name), if text { DataType::String(None) } else { flink_type(&f.ty.ty, false) }))
            .collect();
        let raw = FlinkStatement::CreateTable {
            name: ident(d, &raw_name),
            columns,
            computed: vec![],
            watermark: None,
            primary_key: vec![],
            options,
        };
        out.statements.push(setup(
            &format!("{}__files", source.name),
            &format!("the files of {} as Flink reads them", source.name),
            raw.to_string(),
        ));
        out.statements.push(setup(
            &format!("{}__source", source.name),
            &format!("{} in the spec's types, with a flag per column that could not take its type", source.name),
            super::spark::typed_view(Dialect::Flink, source, &raw_name, text)?.to_string(),
        ));
    }
    let root = job.output_dir.trim_end_matches('/');
    for g in &ir.groups {
        if !readable.get(g.source).copied().unwrap_or(false) {
            continue;
        }
        out.notes.extend(notes(g, true));
        for (meta, statement, columns) in group(g, &ir.sources[g.source], true, true) {
            let output = format!("{root}/{}", meta.name);
            let sink = format!("featc_out_{}", meta.name);
            let table = FlinkStatement::CreateTable {
                name: ident(d, &sink),
                columns: columns.iter().map(|(n, t)| (ident(d, n), flink_type(t, false))).collect(),
                computed: vec![],
                watermark: None,
                primary_key: vec![],
                options: vec![
                    (quoted("connector"), quoted("filesystem")),
                    (quoted("path"), quoted(&output)),
                    (quoted("format"), quoted("json")),
                ],
            };
            out.statements.push(setup(
                &format!("{}__sink", meta.name),
                &format!("where {} is written: JSON lines", meta.name),
                table.to_string(),
            ));
            let insert = FlinkStatement::Insert { name: ident(d, &sink), query: Box::new(statement) };
            out.statements.push(SqlStatement { sql: insert.to_string(), output: Some(output), ..meta });
        }
    }
    Ok(out)
}

/// The watermarked time column of a Kafka source table.
const STREAM_TIME: &str = "__featc_time";

/// The streaming job over Kafka: per source a `kafka` table of JSON events in the spec's types,
/// its event time a watermarked `TIMESTAMP_LTZ(3)` (the watermark trails the latest time seen by
/// the source's lateness), and per statement a topic it writes: windowed features append one
/// row per key and window end (`kafka`), lifetime features update a row per key
/// (`upsert-kafka`, keyed by the entity key).
pub fn kafka_job(ir: &FeatureIr, kafka: &FlinkKafka) -> SqlOutput {
    let d = Dialect::Flink;
    let mut out = SqlOutput::default();
    let setup = SqlStatement::setup;
    for (key, value, comment) in [
        ("execution.runtime-mode", "streaming", "Kafka is unbounded: windows are emitted as the watermark passes them"),
        ("table.local-time-zone", "UTC", "event times are instants; windows are in UTC"),
    ] {
        let set = FlinkStatement::Set { key: quoted(key), value: quoted(value) };
        out.statements.push(setup(key, comment, set.to_string()));
    }
    out.notes.push(
        "Flink's watermark is per source partition, not per key as featc's lateness: an event later than the lateness behind the source's latest time is dropped by Flink where featc would count it"
            .to_owned(),
    );
    let mut readable = vec![false; ir.sources.len()];
    for (si, source) in ir.sources.iter().enumerate() {
        if !ir.groups.iter().any(|g| g.source == si) {
            continue;
        }
        let Some((_, topic)) = kafka.topics.iter().find(|(s, _)| *s == source.name) else {
            out.notes.push(format!("source {}: not read from Kafka; its groups are not in the job", source.name));
            continue;
        };
        readable[si] = true;
        let columns = source.fields.iter().map(|f| (ident(d, &f.name), flink_type(&f.ty.ty, true))).collect();
        // The windows' time: the event time, never null (Flink fails on a null row time); a
        // message without a valid time gets the earliest time featc accepts, and the statements
        // leave it out (`ts IS NOT NULL`), as featc's decoder does.
        let time = ident(d, STREAM_TIME);
        let earliest = call("TO_TIMESTAMP_LTZ", vec![int(crate::ir::EVENT_TIME_MIN_MS), int(3)]);
        let computed = vec![(time.clone(), call("COALESCE", vec![col(d, &source.event_time), earliest]))];
        let watermark = binary(Expr::Identifier(time.clone()), BinaryOperator::Minus, interval(source.lateness_ms));
        let table = FlinkStatement::CreateTable {
            name: ident(d, &source.name),
            columns,
            computed,
            watermark: Some(Box::new((time, watermark))),
            primary_key: vec![],
            options: vec![
                (quoted("connector"), quoted("kafka")),
                (quoted("topic"), quoted(topic)),
                (quoted("properties.bootstrap.servers"), quoted(&kafka.brokers)),
                (quoted("properties.group.id"), quoted(&kafka.group)),
                (quoted("scan.startup.mode"), quoted("earliest-offset")),
                (quoted("format"), quoted("json")),
                // featc's messages carry times as RFC 3339; a malformed message is skipped.
                (quoted("json.timestamp-format.standard"), quoted("ISO-8601")),
                (quoted("json.ignore-parse-errors"), quoted("true")),
            ],
        };
        out.statements.push(setup(
            &format!("{}__source", source.name),
            &format!("the events of {} on topic {topic}, watermarked by its lateness", source.name),
            table.to_string(),
        ));
    }
    for g in &ir.groups {
        if !readable.get(g.source).copied().unwrap_or(false) {
            continue;
        }
        out.notes.extend(notes(g, false));
        let stream = IrSource { event_time: STREAM_TIME.to_owned(), ..ir.sources[g.source].clone() };
        for (meta, statement, columns) in group(g, &stream, false, false) {
            let topic = format!("{}{}", kafka.sink_prefix, meta.name);
            let sink = format!("featc_out_{}", meta.name);
            let windowed = columns.iter().any(|(n, _)| n == "window_end");
            let mut options = vec![
                (quoted("connector"), quoted(if windowed { "kafka" } else { "upsert-kafka" })),
                (quoted("topic"), quoted(&topic)),
                (quoted("properties.bootstrap.servers"), quoted(&kafka.brokers)),
            ];
            // Times as RFC 3339, as featc writes them.
            if windowed {
                options.push((quoted("format"), quoted("json")));
                options.push((quoted("json.timestamp-format.standard"), quoted("ISO-8601")));
            } else {
                options.push((quoted("key.format"), quoted("json")));
                options.push((quoted("value.format"), quoted("json")));
                options.push((quoted("value.json.timestamp-format.standard"), quoted("ISO-8601")));
            }
            let table = FlinkStatement::CreateTable {
                name: ident(d, &sink),
                columns: columns.iter().map(|(n, t)| (ident(d, n), flink_type(t, true))).collect(),
                computed: vec![],
                watermark: None,
                primary_key: if windowed { vec![] } else { g.keys.iter().map(|k| ident(d, &k.name)).collect() },
                options,
            };
            out.statements.push(setup(
                &format!("{}__sink", meta.name),
                &format!(
                    "where {} is written: topic {topic}, {}",
                    meta.name,
                    if windowed { "a row per key and window" } else { "the latest row per key" }
                ),
                table.to_string(),
            ));
            let insert = FlinkStatement::Insert { name: ident(d, &sink), query: Box::new(statement) };
            out.statements.push(SqlStatement { sql: insert.to_string(), output: Some(topic), ..meta });
        }
    }
    out
}
