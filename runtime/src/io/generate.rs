//! A seed in, realistic event histories out, for the examples: many keys with skewed activity,
//! and some events out of order (within each source's lateness). Deterministic: the same seed
//! gives the same events on every machine.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;

/// 2024-01-01T00:00:00Z.
const START: i64 = 1_704_067_200_000;

/// SplitMix64: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A skewed pick in `0..n`: low indices are much more active (roughly Zipf).
    fn skewed(&mut self, n: u64) -> u64 {
        let u = self.unit();
        ((n as f64).powf(u) - 1.0).floor().min((n - 1) as f64) as u64
    }
}

/// Events in arrival order: sorted by event time, then some moved later by up to `lateness_ms`
/// (so they arrive out of order without being late).
fn arrival_order(mut times: Vec<(i64, usize)>, lateness_ms: i64, rng: &mut Rng) -> Vec<usize> {
    for (t, _) in &mut times {
        if rng.below(20) == 0 {
            *t += i64::try_from(rng.below(u64::try_from(lateness_ms).unwrap_or(1))).unwrap_or(0);
        }
    }
    times.sort();
    times.into_iter().map(|(_, i)| i).collect()
}

/// Card transactions for `examples/fraud`: users, merchants, categories, amounts, fraud flags.
pub fn fraud(events: usize, seed: u64) -> Result<RecordBatch, String> {
    fraud_for(events, seed, 2_000, 0)
}

/// [`fraud`] over `users` users (the example has 2,000; the benchmarks take a million), of
/// which `uniform_percent` percent of events pick a user uniformly (the others skewed), so that
/// a large population is all active.
pub fn fraud_for(events: usize, seed: u64, users: u64, uniform_percent: u64) -> Result<RecordBatch, String> {
    let mut rng = Rng(seed);
    let categories =
        ["grocery", "travel", "electronics", "fuel", "dining", "fashion", "health", "gaming", "home", "other"];
    let cities = ["paris", "lyon", "berlin", "madrid", "rome", "lisbon", "vienna", "prague"];
    let span = 30 * 86_400_000i64;
    let mut rows = Vec::with_capacity(events);
    let mut times = Vec::with_capacity(events);
    for i in 0..events {
        let user =
            if uniform_percent > 0 && rng.below(100) < uniform_percent { rng.below(users) } else { rng.skewed(users) };
        let ts = START + i64::try_from(rng.below(u64::try_from(span).unwrap_or(1))).unwrap_or(0);
        let fraud = rng.below(100) == 0;
        let amount = (rng.unit() * 4.0).exp() * if fraud { 8.0 } else { 1.0 };
        rows.push((
            format!("u{user:05}"),
            format!("m{:04}", rng.skewed(500)),
            categories[rng.below(categories.len() as u64) as usize],
            cities[(user % cities.len() as u64) as usize],
            (amount * 100.0).round() / 100.0,
            fraud,
            ts,
        ));
        times.push((ts, i));
    }
    let order = arrival_order(times, 10 * 60_000, &mut rng);
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("merchant_id", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("location", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("fraud_flag", DataType::Boolean, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(order.iter().map(|&i| rows[i].0.clone()))),
        Arc::new(StringArray::from_iter_values(order.iter().map(|&i| rows[i].1.clone()))),
        Arc::new(StringArray::from_iter_values(order.iter().map(|&i| rows[i].2))),
        Arc::new(StringArray::from_iter_values(order.iter().map(|&i| rows[i].3))),
        Arc::new(Float64Array::from_iter_values(order.iter().map(|&i| rows[i].4))),
        Arc::new(BooleanArray::from(order.iter().map(|&i| rows[i].5).collect::<Vec<_>>())),
        Arc::new(TimestampMillisecondArray::from_iter_values(order.iter().map(|&i| rows[i].6)).with_timezone("UTC")),
    ];
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

/// Writes a batch as Parquet.
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), String> {
    let file = File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).map_err(|e| e.to_string())?;
    writer.write(batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(())
}

/// Product events for `examples/recsys`, as NDJSON lines: views, clicks, purchases and some
/// event types the group filters out.
pub fn recsys_ndjson(path: &Path, events: usize, seed: u64) -> Result<(), String> {
    let mut rng = Rng(seed);
    let categories =
        ["books", "music", "games", "garden", "kitchen", "sports", "toys", "beauty", "tools", "pets", "office", "baby"];
    let span = 7 * 86_400_000i64;
    let mut rows = Vec::with_capacity(events);
    let mut times = Vec::with_capacity(events);
    for i in 0..events {
        let user = rng.skewed(1_000);
        // Each user leans towards a few categories.
        let category = categories[((user + rng.skewed(4) * 3) % categories.len() as u64) as usize];
        let event_type = match rng.below(100) {
            0..=74 => "view",
            75..=89 => "click",
            90..=94 => "purchase",
            _ => "wishlist",
        };
        let ts = START + i64::try_from(rng.below(u64::try_from(span).unwrap_or(1))).unwrap_or(0);
        rows.push((format!("u{user:04}"), category, event_type, ts));
        times.push((ts, i));
    }
    let order = arrival_order(times, 60_000, &mut rng);
    let mut out =
        std::io::BufWriter::new(File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?);
    for i in order {
        let (user, category, event_type, ts) = &rows[i];
        let line = serde_json::json!({
            "user_id": user,
            "product_category": category,
            "event_type": event_type,
            "ts": crate::io::time::rfc3339(*ts),
        });
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
