//! Requests, latencies and the pipeline's progress in, the Prometheus text format out
//! (`GET /metrics`), through the `prometheus-client` crate.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    latency: Family<Route, Histogram>,
    events: Gauge<i64, AtomicI64>,
    dead_letters: Gauge<i64, AtomicI64>,
    lag: Gauge<i64, AtomicI64>,
    batch_cutoff: Gauge<i64, AtomicI64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("featc");
        let requests = Family::<Request, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        // 10 µs to about 5 s.
        let latency =
            Family::<Route, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(1e-5, 2.0, 20)));
        registry.register("http_request_seconds", "HTTP request latency by route", latency.clone());
        let events = Gauge::default();
        registry.register("events_read", "events read from the logs since the server started", events.clone());
        let dead_letters = Gauge::default();
        registry.register("dead_letters", "events dead-lettered (late, malformed) by the groups", dead_letters.clone());
        let lag = Gauge::default();
        registry.register("log_lag_events", "events in the logs not read yet", lag.clone());
        let batch_cutoff = Gauge::default();
        registry.register(
            "batch_cutoff_seconds",
            "Lambda: the cutoff of the batch view serving, in seconds since the epoch (its age is time() minus this)",
            batch_cutoff.clone(),
        );
        Metrics { registry, requests, latency, events, dead_letters, lag, batch_cutoff }
    }

    /// Counts a request to `route` answered with `status` in `seconds`.
    pub fn observe_request(&self, route: &str, status: u16, seconds: f64) {
        self.requests.get_or_create(&Request { route: route.to_owned(), status: status.to_string() }).inc();
        self.latency.get_or_create(&Route { route: route.to_owned() }).observe(seconds);
    }

    pub(crate) fn observe_progress(&self, events: u64, dead_letters: u64, lag: u64, cutoff_ms: Option<i64>) {
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.events.set(int(events));
        self.dead_letters.set(int(dead_letters));
        self.lag.set(int(lag));
        if let Some(cutoff) = cutoff_ms {
            self.batch_cutoff.set(cutoff.div_euclid(1000));
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        match prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            Ok(()) => out,
            Err(e) => format!("# encoding the metrics failed: {e}\n"),
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
