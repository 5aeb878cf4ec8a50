//! What the server tells operators at `GET /metrics`, in the Prometheus text
//! format (or OpenMetrics, when the scraper asks for it).
//!
//! Each [`App`] owns its [`Metrics`]: a registry of its own, not a
//! process-global recorder, so that several apps in one process (the tests)
//! each count only their own requests. Two kinds of metric:
//! - **counted as things happen**: HTTP requests by method, route template and
//!   status, their latency, the requests in flight ([`http::track`]), and
//!   imports by outcome ([`Metrics::import_started`]);
//! - **read at scrape time** from the app's state, so they cannot drift from
//!   it: the tile cache's counters and size, each layer's feature count and
//!   version in the index, the index's memory, the store's connection pool and
//!   whether the store answers.
//!
//! Labels never hold what a client typed: a request is labelled by its route
//! template (`/parcels/{cadastral}`), never its path, so cadastral numbers
//! and application ids stay out of the metrics and the label sets stay few.
//!
//! [`http`] also holds the request ids and the per-request log span.

pub mod http;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::app::{App, HEALTH_STORE_TIMEOUT};
use crate::import::Outcome;
use crate::index::{LayerIndex, Snapshot};
use crate::model::LayerCode;

/// The media type of the Prometheus text format, version 0.0.4 (what
/// `curl` and most tools get).
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The media type of the OpenMetrics text format (what Prometheus asks for first).
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the request latency buckets, seconds: from half a
/// millisecond (a cached tile) to 30 s (a large import).
const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Which text format a scrape is answered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4 ([`PROMETHEUS_TEXT`]).
    Prometheus,
    /// OpenMetrics 1.0 ([`OPENMETRICS_TEXT`]).
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => PROMETHEUS_TEXT,
            Format::OpenMetrics => OPENMETRICS_TEXT,
        }
    }
}

/// A request's labels: method, route template, status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// A route's labels (latency is per route, not per status).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LayerLabels {
    layer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// One layer's index as last measured: its version and `updated_at` (which
/// tell one state of the layer from every other), and its heap estimate.
type MeasuredLayer = (i64, DateTime<Utc>, usize);

/// An app's metrics: those counted as things happen live in `registry`; the
/// others are read from the app at each scrape ([`Metrics::render`]).
#[derive(Debug)]
pub struct Metrics {
    /// What is encoded at every scrape before the scrape-time metrics.
    registry: Registry,
    /// `imgis_http_requests_total{method,route,status}`.
    requests: Family<RequestLabels, Counter>,
    /// `imgis_http_request_duration_seconds{method,route}`.
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// `imgis_http_requests_in_flight`.
    in_flight: Gauge,
    /// `imgis_imports_total{outcome}`.
    imports: Family<OutcomeLabels, Counter>,
    /// Heap estimates of the layers' indexes: walking every feature of a big
    /// layer takes a while, and a layer's index never changes within one of
    /// its states, so each state is measured once.
    measured: Mutex<HashMap<LayerCode, MeasuredLayer>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The label of an import's outcome; `None` is an import that failed (an
/// unreadable file, a refused target, the store gone).
fn outcome_label(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Imported) => "imported",
        Some(Outcome::Checked) => "checked",
        Some(Outcome::Rejected) => "rejected",
        None => "failed",
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "imgis_http_requests",
            "HTTP requests answered, by method, route template (`unmatched` for no route) and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register_with_unit(
            "imgis_http_request_duration",
            "Time from a request's arrival to its answer's head, by method and route template",
            Unit::Seconds,
            durations.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "imgis_http_requests_in_flight",
            "HTTP requests being answered now",
            in_flight.clone(),
        );
        let imports = Family::<OutcomeLabels, Counter>::default();
        // Every outcome from the start, so that a rate over them is defined
        // before the first import.
        for outcome in [
            Some(Outcome::Imported),
            Some(Outcome::Checked),
            Some(Outcome::Rejected),
            None,
        ] {
            let _ = imports.get_or_create(&OutcomeLabels {
                outcome: outcome_label(outcome),
            });
        }
        registry.register(
            "imgis_imports",
            "Layer imports run by this server, by outcome (imported, checked by a dry run, rejected, failed)",
            imports.clone(),
        );
        let build = Family::<VersionLabels, Gauge>::default();
        build
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "imgis_build_info",
            "The running imgis version (always 1)",
            build,
        );
        Self {
            registry,
            requests,
            durations,
            in_flight,
            imports,
            measured: Mutex::default(),
        }
    }

    /// Counts a request as started; the returned guard counts it as finished
    /// when dropped (also when the client goes away mid-request).
    pub fn request_started(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Counts an answered request. `route` is the route's template, never the
    /// request's path.
    pub fn record_request(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts an import: its outcome, or `None` when it failed.
    fn count_import(&self, outcome: Option<Outcome>) {
        self.imports
            .get_or_create(&OutcomeLabels {
                outcome: outcome_label(outcome),
            })
            .inc();
    }

    /// An import begins: the guard counts it with its outcome
    /// ([`ImportCount::finished`]), or as failed when dropped before.
    pub fn import_started(&self) -> ImportCount<'_> {
        ImportCount {
            metrics: self,
            outcome: None,
        }
    }

    /// The whole exposition: the counted metrics, then those read from `app` now.
    pub async fn render(&self, app: &App, format: Format) -> Result<String, std::fmt::Error> {
        let scraped = self.scrape(app).await;
        let mut text = String::new();
        encode_registry(&mut text, &self.registry)?;
        encode_registry(&mut text, &scraped)?;
        encode_eof(&mut text)?;
        Ok(match format {
            Format::OpenMetrics => text,
            Format::Prometheus => openmetrics_to_prometheus(&text),
        })
    }

    /// The metrics read from the app's state, in a registry made for this scrape.
    async fn scrape(&self, app: &App) -> Registry {
        let mut r = Registry::default();

        // The tile cache. Its size is counted by the cache's upkeep, which
        // runs as it goes; finishing it makes the figures exact.
        let cache = app.tile_cache();
        cache.settle().await;
        let stats = cache.stats();
        r.register(
            "imgis_tile_cache_hits",
            "Tiles answered from the tile cache",
            counter(stats.hits),
        );
        r.register(
            "imgis_tile_cache_misses",
            "Tiles rendered because the tile cache did not hold them (or is off)",
            counter(stats.misses),
        );
        r.register(
            "imgis_tile_cache_bytes",
            "Bytes the tile cache holds, as charged against its budget",
            gauge(stats.bytes),
        );
        r.register(
            "imgis_tile_cache_capacity_bytes",
            "The tile cache's budget in bytes (0: the cache is off)",
            gauge(stats.capacity_bytes),
        );
        r.register(
            "imgis_tile_cache_entries",
            "Tiles the tile cache holds",
            gauge(stats.entries),
        );

        // The index, layer by layer.
        let snapshot = app.index().snapshot();
        let features = Family::<LayerLabels, Gauge>::default();
        let versions = Family::<LayerLabels, Gauge>::default();
        for layer in snapshot.values() {
            let labels = LayerLabels {
                layer: layer.code().to_string(),
            };
            features
                .get_or_create(&labels)
                .set(i64::try_from(layer.len()).unwrap_or(i64::MAX));
            versions.get_or_create(&labels).set(layer.layer().version);
        }
        r.register(
            "imgis_index_features",
            "Features of each layer in the in-memory index",
            features,
        );
        r.register(
            "imgis_index_layer_version",
            "Version of each layer in the in-memory index (one more per committed write)",
            versions,
        );
        r.register(
            "imgis_index_memory_bytes",
            "Estimated heap bytes of the in-memory index",
            gauge(self.index_memory(&snapshot).await as u64),
        );

        // The store.
        let store = app.store();
        let up = matches!(
            tokio::time::timeout(HEALTH_STORE_TIMEOUT, store.ping()).await,
            Ok(Ok(()))
        );
        r.register(
            "imgis_store_up",
            "Whether the store answered a ping just now (1) or not (0)",
            gauge(u64::from(up)),
        );
        if let Some(pool) = store.pool_state() {
            let connections = Family::<StateLabels, Gauge>::default();
            connections
                .get_or_create(&StateLabels { state: "idle" })
                .set(i64::from(pool.idle));
            connections
                .get_or_create(&StateLabels { state: "in_use" })
                .set(i64::from(pool.in_use));
            r.register(
                "imgis_db_pool_connections",
                "Open connections of the store's pool, idle or in use",
                connections,
            );
            r.register(
                "imgis_db_pool_max",
                "The most connections the store's pool opens",
                gauge(u64::from(pool.max)),
            );
        }
        r
    }

    /// The index's estimated heap bytes: each layer state measured once (off
    /// the async workers), the rest remembered.
    async fn index_memory(&self, snapshot: &Snapshot) -> usize {
        let stale: Vec<Arc<LayerIndex>> = {
            let measured = self.measured();
            snapshot
                .values()
                .filter(|l| {
                    measured
                        .get(l.code())
                        .is_none_or(|m| (m.0, m.1) != (l.layer().version, l.layer().updated_at))
                })
                .cloned()
                .collect()
        };
        if !stale.is_empty() {
            let fresh = tokio::task::spawn_blocking(move || {
                stale
                    .iter()
                    .map(|l| (l.code().clone(), state_of(l, l.memory().bytes)))
                    .collect::<Vec<_>>()
            })
            .await;
            match fresh {
                Ok(fresh) => self.measured().extend(fresh),
                Err(e) => tracing::warn!(error = %e, "cannot measure the index's memory"),
            }
        }
        let mut measured = self.measured();
        measured.retain(|code, _| snapshot.contains_key(code));
        measured.values().map(|m| m.2).sum()
    }

    fn measured(&self) -> std::sync::MutexGuard<'_, HashMap<LayerCode, MeasuredLayer>> {
        self.measured
            .lock()
            .expect("the measured-layers table is never held across a panic")
    }
}

fn state_of(layer: &LayerIndex, bytes: usize) -> MeasuredLayer {
    (layer.layer().version, layer.layer().updated_at, bytes)
}

/// A request counted in flight until dropped.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// An import being run, counted once when dropped.
pub struct ImportCount<'a> {
    metrics: &'a Metrics,
    outcome: Option<Outcome>,
}

impl ImportCount<'_> {
    /// The import got as far as its report.
    pub fn finished(mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }
}

impl Drop for ImportCount<'_> {
    fn drop(&mut self) {
        self.metrics.count_import(self.outcome);
    }
}

/// A counter standing at `value` (a count kept elsewhere, read at scrape time).
fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

/// A gauge at `value`, saturating at `i64::MAX`.
fn gauge(value: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    g
}

/// Rewrites OpenMetrics text as Prometheus text 0.0.4: a counter family's
/// `# HELP`/`# TYPE` name its `_total` samples (OpenMetrics names the family
/// without the suffix), and the `# UNIT` and `# EOF` lines, which 0.0.4 does
/// not have, go. Samples are written alike in both.
fn openmetrics_to_prometheus(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    // A family's `# HELP` comes before its `# TYPE`, which says whether it is
    // a counter: hold it until then.
    let mut help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some((name, text)) = help.take() {
                let _ = writeln!(out, "# HELP {name} {text}");
            }
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let renamed = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            if let Some((help_name, text)) = help.take() {
                let help_name = if help_name == name {
                    renamed.as_str()
                } else {
                    help_name
                };
                let _ = writeln!(out, "# HELP {help_name} {text}");
            }
            let _ = writeln!(out, "# TYPE {renamed} {kind}");
            continue;
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let _ = writeln!(out, "{line}");
    }
    if let Some((name, text)) = help {
        let _ = writeln!(out, "# HELP {name} {text}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_total_in_prometheus_text() {
        let metrics = Metrics::new();
        metrics.record_request("GET", "/parcels/{cadastral}", 404, Duration::from_millis(3));
        metrics.import_started().finished(Outcome::Imported);
        drop(metrics.import_started());
        let mut open = String::new();
        encode_registry(&mut open, &metrics.registry).unwrap();
        encode_eof(&mut open).unwrap();
        assert!(open.contains("# TYPE imgis_http_requests counter\n"));
        assert!(open.contains("# UNIT imgis_http_request_duration_seconds seconds\n"));
        assert!(open.ends_with("# EOF\n"));

        let text = openmetrics_to_prometheus(&open);
        assert!(
            text.contains("# TYPE imgis_http_requests_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP imgis_http_requests_total HTTP requests"),
            "{text}"
        );
        assert!(text.contains(
            "imgis_http_requests_total{method=\"GET\",route=\"/parcels/{cadastral}\",status=\"404\"} 1\n"
        ));
        assert!(text.contains("imgis_imports_total{outcome=\"imported\"} 1\n"));
        assert!(text.contains("imgis_imports_total{outcome=\"failed\"} 1\n"));
        assert!(text.contains("imgis_imports_total{outcome=\"rejected\"} 0\n"));
        assert!(text.contains("# TYPE imgis_http_request_duration_seconds histogram\n"));
        assert!(text.contains(
            "imgis_http_request_duration_seconds_bucket{le=\"0.005\",method=\"GET\",route=\"/parcels/{cadastral}\"} 1\n"
        ) || text.contains(
            "imgis_http_request_duration_seconds_bucket{method=\"GET\",route=\"/parcels/{cadastral}\",le=\"0.005\"} 1\n"
        ), "{text}");
        assert!(text.contains("imgis_build_info{version=\""));
        assert!(!text.contains("# UNIT") && !text.contains("# EOF"));
        // Every `# TYPE` names a family whose samples follow under that name.
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(
                text.lines()
                    .any(|l| !l.starts_with('#') && l.starts_with(name)),
                "no sample of {name}"
            );
        }
    }

    #[test]
    fn requests_in_flight_are_counted_until_the_guard_drops() {
        let metrics = Metrics::new();
        let a = metrics.request_started();
        let b = metrics.request_started();
        assert_eq!(metrics.in_flight.get(), 2);
        drop(a);
        assert_eq!(metrics.in_flight.get(), 1);
        drop(b);
        assert_eq!(metrics.in_flight.get(), 0);
    }
}
