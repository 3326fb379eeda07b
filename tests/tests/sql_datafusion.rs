//! The batch-layer SQL emitted for DataFusion runs on DataFusion, over generated events, and
//! gives exactly the partials a brute-force computation gives from the definitions.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use featc::sql::{Dialect, emit, parse_back};

const SPEC: &str = r#"
source events {
    event_time ts
    files      "events.parquet"
    schema { user: string, kind: string?, amount: f64?, qty: i64, vip: bool, ts: timestamp }
}

entity user { key user: string }

features stats(user) from events where qty >= 0 {
    n          = count()                        over lifetime
    vip_n      = count() where vip              over lifetime
    amounts    = count(amount)                  over lifetime
    total      = sum(amount)                    over lifetime
    units      = sum(qty)                       over lifetime
    mean       = avg(amount)                    over lifetime
    spread     = variance(amount)               over lifetime
    low        = min(amount)                    over lifetime
    high       = max(kind)                      over lifetime
    first_kind = first(kind)                    over lifetime
    last_kind  = last(kind)                     over lifetime
    first_two  = first_n(kind, 2)               over lifetime
    last_three = last_n(kind, 3)                over lifetime
    kinds      = approx_count_distinct(kind)    over lifetime
    total_10m  = sum(amount) where kind == "a"  over sliding(10m, every: 5m)
    n_10m      = count()                        over sliding(10m, every: 5m)
    max_10m    = max(qty)                       over sliding(10m, every: 5m)
    top_10m    = top_k(kind, 2)                 over sliding(10m, every: 5m)
    n_1h       = count()                        over tumbling(1h)
    sd_1h      = stddev(amount)                 over tumbling(1h)
}

lambda stats {
    merge top_10m = batch
}
"#;

#[derive(Debug, Clone)]
struct Event {
    user: String,
    kind: Option<String>,
    amount: Option<f64>,
    qty: i64,
    vip: bool,
    ts: i64,
}

/// Deterministic events: few users, equal timestamps, nulls, negative quantities (filtered by
/// the group), amounts in quarters so every sum is exact whatever the order.
fn events(n: usize) -> Vec<Event> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let r = next();
            Event {
                user: format!("u{}", r % 7),
                kind: (r % 11 != 0).then(|| ["a", "b", "c", "d"][(r >> 8) as usize % 4].to_owned()),
                amount: (r % 13 != 0).then_some(((r >> 16) % 400) as f64 * 0.25 - 20.0),
                qty: ((r >> 24) % 10) as i64 - 1,
                vip: (r >> 32) % 3 == 0,
                // Three hours from an arbitrary start, in whole seconds so timestamps repeat.
                ts: 1_700_000_000_000 + ((r >> 40) % 10_800) as i64 * 1000,
            }
        })
        .collect()
}

fn batch(events: &[Event]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("qty", DataType::Int64, false),
        Field::new("vip", DataType::Boolean, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.user.clone()))),
        Arc::new(StringArray::from(events.iter().map(|e| e.kind.clone()).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(events.iter().map(|e| e.amount).collect::<Vec<_>>())),
        Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.qty))),
        Arc::new(BooleanArray::from(events.iter().map(|e| e.vip).collect::<Vec<_>>())),
        Arc::new(TimestampMillisecondArray::from_iter_values(events.iter().map(|e| e.ts))),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

/// A result table: row key (every column before the first partial) to column name and value.
type Table = BTreeMap<Vec<String>, BTreeMap<String, String>>;

fn to_table(batches: &[RecordBatch], key_columns: usize) -> Table {
    let mut table = Table::new();
    let options = FormatOptions::default().with_null("null");
    for b in batches {
        let formatters: Vec<ArrayFormatter> =
            b.columns().iter().map(|c| ArrayFormatter::try_new(c, &options).unwrap()).collect();
        let names: Vec<String> = b.schema().fields().iter().map(|f| f.name().clone()).collect();
        for row in 0..b.num_rows() {
            let cells: Vec<String> = formatters.iter().map(|f| f.value(row).to_string()).collect();
            let key = cells[..key_columns].to_vec();
            let values = names[key_columns..].iter().cloned().zip(cells[key_columns..].iter().cloned()).collect();
            table.insert(key, values);
        }
    }
    table
}

fn pane(ts: i64, width: i64) -> i64 {
    ts - ts.rem_euclid(width)
}

fn f(v: f64) -> String {
    // Arrow prints floats like Rust's `{:?}` for the values used here (quarters).
    format!("{v:?}")
}

/// A list as Arrow prints it; an aggregate over no value is null.
fn list(values: &[&str]) -> String {
    if values.is_empty() { "null".to_owned() } else { format!("[{}]", values.join(", ")) }
}

/// The partials of one window, computed from the definitions.
fn brute_force(events: &[Event], cutoff: i64, pane_ms: Option<i64>) -> Table {
    let mut groups: BTreeMap<Vec<String>, Vec<&Event>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.ts <= cutoff && e.qty >= 0) {
        let mut key = vec![e.user.clone()];
        if let Some(w) = pane_ms {
            key.push(pane(e.ts, w).to_string());
        }
        groups.entry(key).or_default().push(e);
    }
    let mut table = Table::new();
    for (key, rows) in groups {
        let amounts: Vec<f64> = rows.iter().filter_map(|e| e.amount).collect();
        let mut kinds: Vec<(i64, &str)> = rows.iter().filter_map(|e| e.kind.as_deref().map(|k| (e.ts, k))).collect();
        kinds.sort();
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        let sum = |xs: &[f64]| if xs.is_empty() { "null".to_owned() } else { f(xs.iter().sum()) };
        out.insert("n".into(), rows.len().to_string());
        match pane_ms {
            None => {
                out.insert("vip_n".into(), rows.iter().filter(|e| e.vip).count().to_string());
                out.insert("amounts".into(), amounts.len().to_string());
                out.insert("total".into(), sum(&amounts));
                out.insert("units".into(), rows.iter().map(|e| e.qty).sum::<i64>().to_string());
                out.insert("mean__sum".into(), sum(&amounts));
                out.insert("mean__count".into(), amounts.len().to_string());
                out.insert("spread__count".into(), amounts.len().to_string());
                out.insert("spread__sum".into(), sum(&amounts));
                out.insert("spread__sum_sq".into(), sum(&amounts.iter().map(|a| a * a).collect::<Vec<_>>()));
                out.insert("low".into(), amounts.iter().copied().reduce(f64::min).map_or("null".into(), f));
                out.insert("high".into(), kinds.iter().map(|k| k.1).max().unwrap_or("null").to_owned());
                out.insert("first_kind".into(), kinds.first().map_or("null", |k| k.1).to_owned());
                out.insert("last_kind".into(), kinds.last().map_or("null", |k| k.1).to_owned());
                out.insert("first_kind__ts".into(), kinds.first().map_or("null".into(), |k| k.0.to_string()));
                out.insert("last_kind__ts".into(), kinds.last().map_or("null".into(), |k| k.0.to_string()));
                let ordered: Vec<&str> = kinds.iter().map(|k| k.1).collect();
                out.insert("first_two".into(), list(&ordered[..ordered.len().min(2)]));
                let newest: Vec<&str> = ordered.iter().rev().take(3).copied().collect();
                out.insert("last_three".into(), list(&newest));
                let times: Vec<String> = kinds.iter().map(|k| k.0.to_string()).collect();
                let times: Vec<&str> = times.iter().map(String::as_str).collect();
                out.insert("first_two__ts".into(), list(&times[..times.len().min(2)]));
                let newest: Vec<&str> = times.iter().rev().take(3).copied().collect();
                out.insert("last_three__ts".into(), list(&newest));
            }
            Some(300_000) => {
                out.remove("n");
                out.insert("n_10m".into(), rows.len().to_string());
                let a: Vec<f64> =
                    rows.iter().filter(|e| e.kind.as_deref() == Some("a")).filter_map(|e| e.amount).collect();
                out.insert("total_10m".into(), sum(&a));
                out.insert("max_10m".into(), rows.iter().map(|e| e.qty).max().map_or("null".into(), |m| m.to_string()));
            }
            Some(_) => {
                out.remove("n");
                out.insert("n_1h".into(), rows.len().to_string());
                out.insert("sd_1h__count".into(), amounts.len().to_string());
                out.insert("sd_1h__sum".into(), sum(&amounts));
                out.insert("sd_1h__sum_sq".into(), sum(&amounts.iter().map(|a| a * a).collect::<Vec<_>>()));
            }
        }
        table.insert(key, out);
    }
    table
}

/// Each key's latest event time and event count.
fn keys(events: &[Event], cutoff: i64) -> Table {
    let mut table = Table::new();
    for e in events.iter().filter(|e| e.ts <= cutoff && e.qty >= 0) {
        let row = table.entry(vec![e.user.clone()]).or_default();
        let latest = row.get("max_event_ms").and_then(|t| t.parse::<i64>().ok()).unwrap_or(i64::MIN).max(e.ts);
        let count = row.get("events").and_then(|c| c.parse::<i64>().ok()).unwrap_or(0) + 1;
        row.insert("max_event_ms".into(), latest.to_string());
        row.insert("events".into(), count.to_string());
    }
    table
}

/// Counts of each value per key and pane: the input of holistic and sketch aggregates.
fn value_counts(events: &[Event], cutoff: i64, pane_ms: Option<i64>) -> Table {
    let mut table = Table::new();
    for e in events.iter().filter(|e| e.ts <= cutoff && e.qty >= 0) {
        let Some(kind) = &e.kind else { continue };
        let mut key = vec![e.user.clone()];
        if let Some(w) = pane_ms {
            key.push(pane(e.ts, w).to_string());
        }
        key.push(kind.clone());
        let entry = table.entry(key).or_default().entry("count".to_owned()).or_insert_with(|| "0".to_owned());
        *entry = (entry.parse::<i64>().unwrap_or(0) + 1).to_string();
    }
    table
}

/// A finite nonzero double as `m * 2^u`, from its bits: what the `__sums` statements compute in
/// SQL.
fn decompose(x: f64) -> (i64, i64) {
    let bits = x.to_bits();
    let field = ((bits >> 52) & 0x7ff) as i64;
    let fraction = (bits & ((1 << 52) - 1)) as i64;
    let (m, u) = if field == 0 { (fraction, -1074) } else { (fraction | 1 << 52, field - 1075) };
    (if x < 0.0 { -m } else { m }, u)
}

/// The exact parts of a real sum per key, pane and exponent: the mantissa sums and, with
/// `squares`, the three sums of the squares' halves.
fn exact_sums(
    events: &[Event],
    cutoff: i64,
    pane_ms: Option<i64>,
    value: impl Fn(&Event) -> Option<f64>,
    squares: bool,
) -> Table {
    let mut parts: BTreeMap<Vec<String>, [i128; 4]> = BTreeMap::new();
    for e in events.iter().filter(|e| e.ts <= cutoff && e.qty >= 0) {
        let Some(x) = value(e).filter(|x| *x != 0.0) else { continue };
        let (m, u) = decompose(x);
        let mut key = vec![e.user.clone()];
        if let Some(w) = pane_ms {
            key.push(pane(e.ts, w).to_string());
        }
        key.push(u.to_string());
        let (hi, lo) = (i128::from(m.abs() >> 26), i128::from(m.abs() & ((1 << 26) - 1)));
        let p = parts.entry(key).or_default();
        p[0] += i128::from(m);
        p[1] += hi * hi;
        p[2] += 2 * hi * lo;
        p[3] += lo * lo;
    }
    parts
        .into_iter()
        .map(|(key, p)| {
            let mut row = BTreeMap::from([("mantissa_sum".to_owned(), p[0].to_string())]);
            if squares {
                row.insert("square_hi".to_owned(), p[1].to_string());
                row.insert("square_mid".to_owned(), p[2].to_string());
                row.insert("square_lo".to_owned(), p[3].to_string());
            }
            (key, row)
        })
        .collect()
}

#[tokio::test]
async fn emitted_sql_runs_on_datafusion_and_matches_a_brute_force_computation() {
    let (sources, checked) = featc_tests::check_text("sql.feat", SPEC);
    assert!(!checked.has_errors(), "{}", featc::diagnostic::render::render(&checked.diagnostics, &sources, false));
    let ir = featc::ir::lower(&checked.project).unwrap();
    let events = events(5_000);
    let cutoff = 1_700_000_000_000 + 7_777_000;
    let sql = emit(&ir, Dialect::DataFusion, Some(cutoff));
    assert!(sql.notes.is_empty(), "{:?}", sql.notes);

    let ctx = SessionContext::new();
    ctx.register_batch("events", batch(&events)).unwrap();
    let mut checked_statements = Vec::new();
    for statement in &sql.statements {
        parse_back(Dialect::DataFusion, &statement.sql).unwrap();
        let frame =
            ctx.sql(&statement.sql).await.unwrap_or_else(|e| panic!("{}: {e}\n{}", statement.name, statement.sql));
        let batches = frame.collect().await.unwrap();
        let (expected, key_columns) = match statement.name.as_str() {
            "stats__keys" => (keys(&events, cutoff), 1),
            "stats__lifetime__partials" => (brute_force(&events, cutoff, None), 1),
            "stats__sliding_10m_5m__partials" => (brute_force(&events, cutoff, Some(300_000)), 2),
            "stats__tumbling_1h__partials" => (brute_force(&events, cutoff, Some(3_600_000)), 2),
            "stats__kinds__values" => (value_counts(&events, cutoff, None), 2),
            "stats__top_10m__values" => (value_counts(&events, cutoff, Some(300_000)), 3),
            "stats__total__sums" | "stats__mean__sums" => (exact_sums(&events, cutoff, None, |e| e.amount, false), 2),
            "stats__spread__sums" => (exact_sums(&events, cutoff, None, |e| e.amount, true), 2),
            "stats__total_10m__sums" => {
                let a = |e: &Event| e.amount.filter(|_| e.kind.as_deref() == Some("a"));
                (exact_sums(&events, cutoff, Some(300_000), a, false), 3)
            }
            "stats__sd_1h__sums" => (exact_sums(&events, cutoff, Some(3_600_000), |e| e.amount, true), 3),
            other => panic!("unexpected statement {other}"),
        };
        let actual = to_table(&batches, key_columns);
        assert_eq!(actual.len(), expected.len(), "{}: row count", statement.name);
        for (key, want) in &expected {
            let got = actual.get(key).unwrap_or_else(|| panic!("{}: no row {key:?}", statement.name));
            for (column, value) in want {
                let cell = got.get(column).unwrap_or_else(|| panic!("{}: no column {column}", statement.name));
                let same =
                    cell == value || matches!((cell.parse::<f64>(), value.parse::<f64>()), (Ok(a), Ok(b)) if a == b);
                assert!(same, "{} {key:?} {column}: SQL gave {cell}, brute force {value}", statement.name);
            }
        }
        checked_statements.push(statement.name.clone());
    }
    assert_eq!(checked_statements.len(), 11, "{checked_statements:?}");
}
