//! The feature IR in, SQL out (`featc plan --emit sql`), built as sqlparser ASTs and printed.
//!
//! - `datafusion` and `spark`: the Lambda batch layer. For each group and window, the partials
//!   per key and pane up to the cutoff; for holistic and sketch aggregates, the count of each
//!   value per key and pane, from which their state is built exactly.
//! - `flink`: the stream, as group-window aggregations (`TUMBLE`, `HOP`, `SESSION`) and, for
//!   lifetime windows, a continuous `GROUP BY`.

mod build;
mod exact;
pub mod flink;
mod sketch;
pub mod spark;

use serde::Serialize;
use sqlparser::ast::{BinaryOperator, Expr, Statement};
use sqlparser::dialect::{Dialect as ParserDialect, GenericDialect, SparkSqlDialect};
use sqlparser::parser::Parser;

use crate::aggregates::AggKind;
use crate::ir::{FeatureIr, FileFormat, IrAggregate, IrGroup, IrSource, Param, WindowStrategy};
use crate::plan::window_text;
use build::{
    and_all, binary, call, call_with, cast, col, count_star, derived, int, nested, placeholder, select, table,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// The SQL DataFusion executes (sqlparser's generic dialect, `"` quotes).
    DataFusion,
    /// Spark SQL (backticks), for a batch layer on Spark.
    Spark,
    /// Flink SQL (backticks; parsed back with sqlparser's generic dialect, which has no Flink
    /// dialect), for a stream on Flink.
    Flink,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::DataFusion, Dialect::Spark, Dialect::Flink];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::DataFusion => "datafusion",
            Dialect::Spark => "spark",
            Dialect::Flink => "flink",
        }
    }

    fn quote(self) -> char {
        if self == Dialect::DataFusion { '"' } else { '`' }
    }

    /// The sqlparser dialect that reads this SQL back.
    pub fn parser_dialect(self) -> Box<dyn ParserDialect> {
        match self {
            Dialect::Spark => Box::new(SparkSqlDialect {}),
            Dialect::DataFusion | Dialect::Flink => Box::new(GenericDialect {}),
        }
    }

    /// Milliseconds since the epoch of a timestamp column.
    fn epoch_millis(self, ts: Expr) -> Expr {
        match self {
            Dialect::DataFusion => cast(call("to_timestamp_millis", vec![ts]), sqlparser::ast::DataType::BigInt(None)),
            Dialect::Spark => call("unix_millis", vec![ts]),
            Dialect::Flink => cast(ts, sqlparser::ast::DataType::BigInt(None)),
        }
    }

    fn millis_to_timestamp(self, ms: Expr) -> Expr {
        match self {
            Dialect::DataFusion => call("to_timestamp_millis", vec![ms]),
            Dialect::Spark => call("timestamp_millis", vec![ms]),
            Dialect::Flink => call("TO_TIMESTAMP_LTZ", vec![ms, int(3)]),
        }
    }
}

/// One emitted statement.
#[derive(Debug, Clone, Serialize)]
pub struct SqlStatement {
    /// `group__window__partials` or `group__feature__values`: the name of its result.
    pub name: String,
    /// What it computes, for a `--` comment above it.
    pub comment: String,
    pub sql: String,
    /// The folder a job's statement writes its result to; `None` for a bare query or a setup
    /// statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// What `--emit sql` gives: the statements, and the features it could not express.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SqlOutput {
    pub statements: Vec<SqlStatement>,
    pub notes: Vec<String>,
}

impl SqlOutput {
    /// The statements as one script, each under its comment.
    pub fn to_script(&self) -> String {
        let mut out = String::new();
        for note in &self.notes {
            out.push_str(&format!("-- note: {note}\n"));
        }
        for s in &self.statements {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("-- {}: {}\n{};\n", s.name, s.comment, s.sql));
        }
        out
    }
}

/// Emits the SQL of every group for `dialect`. `cutoff_ms` fixes the batch cutoff; without it
/// the statements take a `cutoff` parameter (`$cutoff` or `:cutoff`).
pub fn emit(ir: &FeatureIr, dialect: Dialect, cutoff_ms: Option<i64>) -> SqlOutput {
    let cutoff = cutoff_ms.map(int);
    let (statements, notes) = emit_with(ir, dialect, cutoff, false);
    SqlOutput { statements: statements.into_iter().map(|(s, _)| s).collect(), notes }
}

/// The statements with their trees. `cutoff`: the batch cutoff's expression (a parameter when
/// `None`); `text_flags`: whether text sources carry the `__featc_bad_<field>` flags of a job's
/// source views.
fn emit_with(
    ir: &FeatureIr,
    d: Dialect,
    cutoff: Option<Expr>,
    text_flags: bool,
) -> (Vec<(SqlStatement, Statement)>, Vec<String>) {
    let mut out = Built::default();
    for g in &ir.groups {
        let source = &ir.sources[g.source];
        if d == Dialect::Flink {
            for (meta, statement, _) in flink::group(g, source, text_flags, false) {
                out.statements.push((meta, statement));
            }
            out.notes.extend(flink::notes(g, false));
        } else {
            let cutoff = cutoff.clone().unwrap_or_else(|| match d {
                Dialect::Spark => placeholder(":cutoff"),
                _ => placeholder("$cutoff"),
            });
            let flags = text_flags
                && source.history.as_ref().is_some_and(|h| matches!(h.format, FileFormat::Csv | FileFormat::Ndjson));
            batch_group(g, source, d, cutoff, flags, &mut out);
        }
    }
    (out.statements, out.notes)
}

/// Statements as they are built: each with its tree.
#[derive(Default)]
struct Built {
    statements: Vec<(SqlStatement, Statement)>,
    notes: Vec<String>,
}

impl SqlStatement {
    /// A job's statement that writes no result (a setting, a source's table or view).
    fn setup(name: &str, comment: &str, sql: String) -> SqlStatement {
        SqlStatement { name: name.to_owned(), comment: comment.to_owned(), sql, output: None }
    }
}

/// A file binding's path as a job names it: relative ones under `base_dir` (the spec's folder)
/// when given, as written otherwise.
fn resolve(base_dir: Option<&str>, glob: &str) -> String {
    match base_dir {
        Some(base) if !glob.starts_with('/') => format!("{}/{glob}", base.trim_end_matches('/')),
        _ => glob.to_owned(),
    }
}

impl Built {
    fn push(&mut self, name: String, comment: String, statement: Statement) {
        let sql = print(&statement);
        self.statements.push((SqlStatement { name, comment, sql, output: None }, statement));
    }
}

/// Whether every statement parses back with sqlparser in its dialect; the first error if not.
pub fn parse_back(dialect: Dialect, sql: &str) -> Result<(), String> {
    Parser::parse_sql(dialect.parser_dialect().as_ref(), sql).map(|_| ()).map_err(|e| e.to_string())
}

fn print(statement: &Statement) -> String {
    statement.to_string()
}

/// The name of the statement giving a group's keys (`<group>__keys`).
pub fn keys_statement(g: &IrGroup) -> String {
    format!("{}__keys", g.name)
}

/// The name of the statement giving a window's partials (`<group>__<window>__partials`).
pub fn partials_statement(g: &IrGroup, w: &crate::ir::IrWindow) -> String {
    format!("{}__{}__partials", g.name, window_slug(&window_text(w.spec)))
}

/// The name of the statement giving each value's count for an aggregate (`__values`).
pub fn values_statement(g: &IrGroup, a: &IrAggregate) -> String {
    format!("{}__{}__values", g.name, a.name)
}

/// The name of the statement giving a HyperLogLog's hashes or registers (`__hll`, Spark).
pub fn hll_statement(g: &IrGroup, a: &IrAggregate) -> String {
    format!("{}__{}__hll", g.name, a.name)
}

/// The name of the statement giving a quantile sketch's bucket counts (`__buckets`, Spark).
pub fn buckets_statement(g: &IrGroup, a: &IrAggregate) -> String {
    format!("{}__{}__buckets", g.name, a.name)
}

/// Whether the dialect's SQL computes the sketch of an aggregate itself (`__hll`, `__buckets`)
/// rather than giving each value's count: Spark, whose `xxhash64` and `LN` are the hash and the
/// logarithm featc's sketches use.
pub fn sketch_in_sql(d: Dialect, kind: AggKind) -> bool {
    d == Dialect::Spark && matches!(kind, AggKind::ApproxCountDistinct | AggKind::ApproxPercentile)
}

/// The name of the statement giving an aggregate's exact sums (`__sums`).
pub fn sums_statement(g: &IrGroup, a: &IrAggregate) -> String {
    format!("{}__{}__sums", g.name, a.name)
}

/// Whether an aggregate's real sums are carried exactly by a `__sums` statement.
pub fn needs_exact_sum(a: &IrAggregate) -> bool {
    exact::needs_exact_sum(a)
}

/// Aggregates whose state is built from per-value counts rather than SQL aggregates.
pub fn from_value_counts(kind: AggKind) -> bool {
    matches!(kind, AggKind::CountDistinct | AggKind::TopK | AggKind::ApproxCountDistinct | AggKind::ApproxPercentile)
}

fn batch_group(g: &IrGroup, source: &IrSource, d: Dialect, cutoff: Expr, flags: bool, out: &mut Built) {
    let Some(from) = table(d, &source.name) else { return };
    let ts = col(d, &source.event_time);
    let mut base_filter = vec![binary(d.epoch_millis(ts.clone()), BinaryOperator::LtEq, cutoff)];
    base_filter.extend(valid_rows(g, source, d, flags));
    if let Some(f) = &g.filter {
        base_filter.push(build::expr(d, &g.columns, f));
    }
    let keys: Vec<Expr> = g.keys.iter().map(|k| col(d, &k.name)).collect();
    let in_batch = |a: &&IrAggregate| a.merge.uses_batch();
    if g.aggregates.iter().any(|a| in_batch(&a)) {
        // Each key's latest event and event count: where its windows stand at the cutoff.
        let mut projection: Vec<(Expr, String)> = g.keys.iter().map(|k| (col(d, &k.name), k.name.clone())).collect();
        projection.push((call("MAX", vec![d.epoch_millis(ts.clone())]), "max_event_ms".to_owned()));
        projection.push((count_star(None), "events".to_owned()));
        if let Some(statement) = select(d, projection, from.clone(), and_all(base_filter.clone()), keys.clone()) {
            out.push(
                keys_statement(g),
                format!("each key of {} with its latest event time and its event count, up to the cutoff", g.name),
                statement,
            );
        }
    }
    for w in &g.windows {
        let aggregates: Vec<&IrAggregate> = w.aggregates.iter().map(|&a| &g.aggregates[a]).filter(in_batch).collect();
        if aggregates.is_empty() {
            continue;
        }
        let window = window_text(w.spec);
        if w.strategy == WindowStrategy::Session {
            out.notes.push(format!(
                "{}: session windows ({}) are computed by the runtime's session operator, not in SQL",
                g.name,
                aggregates.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
            ));
            continue;
        }
        let pane = match (w.strategy, w.pane_ms) {
            (WindowStrategy::Running, _) | (_, None) => None,
            (_, Some(ms)) => Some(pane_start(d.epoch_millis(ts.clone()), i64::try_from(ms).unwrap_or(i64::MAX))),
        };
        let grain = w.pane_ms.filter(|_| pane.is_some()).map_or_else(
            || "one partial per key".to_owned(),
            |ms| format!("{} panes", crate::syntax::format_millis(ms)),
        );
        let mut group_by = keys.clone();
        let mut projection: Vec<(Expr, String)> = g.keys.iter().map(|k| (col(d, &k.name), k.name.clone())).collect();
        if let Some(p) = &pane {
            group_by.push(p.clone());
            projection.push((p.clone(), "pane_start".to_owned()));
        }
        let simple: Vec<&&IrAggregate> = aggregates.iter().filter(|a| !from_value_counts(a.kind)).collect();
        if !simple.is_empty() {
            // Each distinct partial is computed once, in a subquery; the outer query names it
            // after every feature that uses it (an average and a variance share a sum).
            let mut inner = projection.clone();
            let mut outer: Vec<(Expr, String)> =
                projection.iter().map(|(_, name)| (col(d, name), name.clone())).collect();
            let mut seen: Vec<String> = Vec::new();
            for a in &simple {
                for (expr, name) in partials(d, g, a, &ts) {
                    let text = expr.to_string();
                    let i = seen.iter().position(|s| *s == text).unwrap_or_else(|| {
                        seen.push(text);
                        inner.push((expr, format!("p{}", seen.len() - 1)));
                        seen.len() - 1
                    });
                    outer.push((col(d, &format!("p{i}")), name));
                }
            }
            let statement = select(d, inner, from.clone(), and_all(base_filter.clone()), group_by.clone())
                .and_then(|inner| derived(d, inner, "partials"))
                .and_then(|sub| select(d, outer, sub, None, vec![]));
            if let Some(statement) = statement {
                out.push(
                    partials_statement(g, w),
                    format!("partials of {} per key, {window}, {grain}, up to the cutoff", g.name),
                    statement,
                );
            }
        }
        for a in aggregates.iter().filter(|a| from_value_counts(a.kind)) {
            let Some(value) = &a.value else { continue };
            let value = build::expr(d, &g.columns, value);
            let mut filter = base_filter.clone();
            filter.push(Expr::IsNotNull(Box::new(nested(value.clone()))));
            if let Some(p) = a.predicate.and_then(|p| g.predicates.get(p)) {
                filter.push(build::expr(d, &g.columns, p));
            }
            let mut projection: Vec<(Expr, String)> =
                g.keys.iter().map(|k| (col(d, &k.name), k.name.clone())).collect();
            let mut group_by = keys.clone();
            if let Some(p) = &pane {
                projection.push((p.clone(), "pane_start".to_owned()));
                group_by.push(p.clone());
            }
            if sketch_in_sql(d, a.kind) {
                let input = a.input.as_ref().map_or(crate::types::Ty::Null, |t| t.ty.clone());
                let (name, what, statement) = if a.kind == AggKind::ApproxCountDistinct {
                    (
                        hll_statement(g, a),
                        "HyperLogLog hashes or registers",
                        sketch::hll(d, &projection, value, &input, from.clone(), and_all(filter)),
                    )
                } else {
                    (
                        buckets_statement(g, a),
                        "DDSketch bucket counts",
                        sketch::buckets(d, &projection, value, from.clone(), and_all(filter)),
                    )
                };
                if let Some(statement) = statement {
                    out.push(
                        name,
                        format!("{what} of {} per key, {window}, {grain}: the partial of `{}`", a.name, a.kind.name()),
                        statement,
                    );
                }
                continue;
            }
            projection.push((value.clone(), "value".to_owned()));
            projection.push((count_star(None), "count".to_owned()));
            group_by.push(value);
            if let Some(statement) = select(d, projection, from.clone(), and_all(filter), group_by) {
                out.push(
                    values_statement(g, a),
                    format!(
                        "count of each value of {} per key, {window}, {grain}: the exact input of `{}`",
                        a.name,
                        a.kind.name()
                    ),
                    statement,
                );
            }
        }
        for a in aggregates.iter().filter(|a| exact::needs_exact_sum(a)) {
            let Some(value) = &a.value else { continue };
            let value = build::expr(d, &g.columns, value);
            let mut filter = base_filter.clone();
            filter.push(Expr::IsNotNull(Box::new(nested(value.clone()))));
            // A computed value can overflow to infinity, which the stream leaves out.
            filter.push(finite(nested(value.clone())));
            if let Some(p) = a.predicate.and_then(|p| g.predicates.get(p)) {
                filter.push(build::expr(d, &g.columns, p));
            }
            let value = if a.input.as_ref().is_some_and(|t| t.ty == crate::types::Ty::F64) {
                value
            } else {
                cast(value, sqlparser::ast::DataType::Double(sqlparser::ast::ExactNumberInfo::None))
            };
            let mut keyed: Vec<(Expr, String)> = g.keys.iter().map(|k| (col(d, &k.name), k.name.clone())).collect();
            if let Some(p) = &pane {
                keyed.push((p.clone(), "pane_start".to_owned()));
            }
            let squares = exact::with_squares(a);
            if let Some(statement) = exact::statement(d, &keyed, value, from.clone(), filter, squares) {
                out.push(
                    sums_statement(g, a),
                    format!(
                        "exact parts of the {} of {} per key, {window}, {grain}: integer mantissa sums per power of two",
                        if squares { "sum and sum of squares" } else { "sum" },
                        a.name
                    ),
                    statement,
                );
            }
        }
    }
}

/// The rows featc's decoder accepts for a group: its event time within the years 1900 to
/// 2200, no null where the schema says not nullable, finite reals, and (in a job over text
/// files) every value of the type its field declares.
pub(super) fn valid_rows(g: &IrGroup, source: &IrSource, d: Dialect, flags: bool) -> Vec<Expr> {
    let mut out = if d == Dialect::Flink {
        // Flink casts no timestamp to a number: the same bounds as timestamp literals.
        let ts = col(d, &source.event_time);
        let at = |text: &str| {
            Expr::TypedString(sqlparser::ast::TypedString {
                data_type: sqlparser::ast::DataType::Timestamp(None, sqlparser::ast::TimezoneInfo::None),
                value: sqlparser::ast::Value::SingleQuotedString(text.to_owned()).with_empty_span(),
                uses_odbc_syntax: false,
            })
        };
        vec![
            binary(ts.clone(), BinaryOperator::GtEq, at("1900-01-01 00:00:00")),
            binary(ts, BinaryOperator::LtEq, at("2200-01-01 00:00:00")),
        ]
    } else {
        let ts = d.epoch_millis(col(d, &source.event_time));
        vec![
            binary(ts.clone(), BinaryOperator::GtEq, int(crate::ir::EVENT_TIME_MIN_MS)),
            binary(ts, BinaryOperator::LtEq, int(crate::ir::EVENT_TIME_MAX_MS)),
        ]
    };
    for name in &g.columns {
        let Some(field) = source.fields.iter().find(|f| &f.name == name) else { continue };
        let c = col(d, name);
        // A key is never null in the stream (the row is dead-lettered), whatever its field says.
        if !field.ty.nullable || g.keys.iter().any(|k| &k.name == name) {
            out.push(Expr::IsNotNull(Box::new(c.clone())));
        }
        if field.ty.ty == crate::types::Ty::F64 {
            // NaN compares above every number in both engines, so this also leaves it out.
            out.push(nested(binary(Expr::IsNull(Box::new(c.clone())), BinaryOperator::Or, finite(c))));
        }
    }
    // featc's text readers reject a whole line when any of its values is not of its type.
    if flags {
        for field in source.fields.iter().filter(|f| f.ty.ty != crate::types::Ty::String) {
            out.push(Expr::UnaryOp {
                op: sqlparser::ast::UnaryOperator::Not,
                expr: Box::new(col(d, &spark::bad_flag(&field.name))),
            });
        }
    }
    out
}

/// `ABS(e) <= 1.7976931348623157E308`: finite (NaN compares above every number).
pub(super) fn finite(e: Expr) -> Expr {
    binary(
        call("ABS", vec![e]),
        BinaryOperator::LtEq,
        Expr::Value(sqlparser::ast::Value::Number("1.7976931348623157E308".to_owned(), false).into()),
    )
}

/// `ms - ((ms % h) + h) % h`: the start of the pane holding `ms`, also before 1970.
fn pane_start(ms: Expr, h: i64) -> Expr {
    let rem = binary(
        nested(binary(nested(binary(ms.clone(), BinaryOperator::Modulo, int(h))), BinaryOperator::Plus, int(h))),
        BinaryOperator::Modulo,
        int(h),
    );
    binary(ms, BinaryOperator::Minus, nested(rem))
}

pub(super) fn window_slug(window: &str) -> String {
    window
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|s| !s.is_empty() && *s != "every")
        .collect::<Vec<_>>()
        .join("_")
}

/// The partial-state columns of one aggregate, named `feature` or `feature__field`.
fn partials(d: Dialect, g: &IrGroup, a: &IrAggregate, ts: &Expr) -> Vec<(Expr, String)> {
    let predicate = a.predicate.and_then(|p| g.predicates.get(p)).map(|p| build::expr(d, &g.columns, p));
    let value = a.value.as_ref().map(|v| build::expr(d, &g.columns, v));
    let not_null_and = |v: &Expr| {
        and_all(std::iter::once(Expr::IsNotNull(Box::new(nested(v.clone())))).chain(predicate.clone()).collect())
    };
    // Sums of squares and averages are real; an f64 input needs no cast.
    let is_f64 = a.input.as_ref().is_some_and(|t| t.ty == crate::types::Ty::F64);
    let double = |v: Expr| {
        if is_f64 { v } else { cast(v, sqlparser::ast::DataType::Double(sqlparser::ast::ExactNumberInfo::None)) }
    };
    let name = |field: &str| if field.is_empty() { a.name.clone() } else { format!("{}__{field}", a.name) };
    let n = match a.param {
        Some(Param::Int(n)) => n,
        _ => 1,
    };
    let Some(v) = value else {
        return vec![(count_star(predicate), name(""))];
    };
    let agg = |f: &str, arg: Expr| call_with(f, vec![arg], vec![], predicate.clone());
    match a.kind {
        AggKind::Count => vec![(agg("COUNT", v), name(""))],
        AggKind::Sum => vec![(agg("SUM", v), name(""))],
        AggKind::Min => vec![(agg("MIN", v), name(""))],
        AggKind::Max => vec![(agg("MAX", v), name(""))],
        // An integer sum stays an integer (exact); a real one is also in the `__sums` statement.
        AggKind::Avg => vec![(agg("SUM", v.clone()), name("sum")), (agg("COUNT", v), name("count"))],
        AggKind::Variance | AggKind::Stddev => vec![
            (agg("COUNT", v.clone()), name("count")),
            (agg("SUM", double(v.clone())), name("sum")),
            (agg("SUM", binary(double(v.clone()), BinaryOperator::Multiply, double(v))), name("sum_sq")),
        ],
        // Ordered by (event time in milliseconds, value), as the stream breaks ties.
        AggKind::First | AggKind::Last => {
            let filter = not_null_and(&v);
            let ms = d.epoch_millis(ts.clone());
            let expr = match d {
                Dialect::DataFusion => call_with(
                    if a.kind == AggKind::First { "first_value" } else { "last_value" },
                    vec![v.clone()],
                    vec![(ms, true), (v, true)],
                    filter.clone(),
                ),
                _ => call_with(
                    if a.kind == AggKind::First { "min_by" } else { "max_by" },
                    vec![v.clone(), call("struct", vec![ms, v])],
                    vec![],
                    filter.clone(),
                ),
            };
            let time = call_with(
                if a.kind == AggKind::First { "MIN" } else { "MAX" },
                vec![d.epoch_millis(ts.clone())],
                vec![],
                filter,
            );
            vec![(expr, name("")), (time, name("ts"))]
        }
        AggKind::FirstN | AggKind::LastN => {
            let first = a.kind == AggKind::FirstN;
            let filter = not_null_and(&v);
            let ms = d.epoch_millis(ts.clone());
            // Panes are whole time ranges, so each pane's first (last) n, oldest (newest)
            // first, is all a merge needs: the values, and their times in the same order.
            let list = |item: Expr| match d {
                Dialect::DataFusion => call(
                    "array_slice",
                    vec![
                        call_with(
                            "array_agg",
                            vec![item],
                            vec![(ts.clone(), first), (v.clone(), first)],
                            filter.clone(),
                        ),
                        int(1),
                        int(n),
                    ],
                ),
                // Spark: (time, value) pairs sorted, cut to n, then one of the two.
                _ => {
                    let pair =
                        call("named_struct", vec![build::string("t"), ms.clone(), build::string("v"), v.clone()]);
                    let sorted =
                        call("array_sort", vec![call_with("collect_list", vec![pair], vec![], filter.clone())]);
                    let ordered = if first { sorted } else { call("reverse", vec![sorted]) };
                    let field = if item == v { "v" } else { "t" };
                    call("transform", vec![call("slice", vec![ordered, int(1), int(n)]), build::field_of("x", field)])
                }
            };
            vec![(list(v.clone()), name("")), (list(ms.clone()), name("ts"))]
        }
        AggKind::CountDistinct | AggKind::TopK | AggKind::ApproxCountDistinct | AggKind::ApproxPercentile => vec![],
    }
}
