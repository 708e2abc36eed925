//! Prometheus metrics through prometheus-client: one registry of typed families, encoded at `GET /metrics` in the
//! Prometheus text format or OpenMetrics. Labels are low-cardinality by design (routes are templates, outcomes and
//! reasons are fixed words), and every labelled family is capped besides (`MAILGATE_METRICS_MAX_SERIES`).
//!
//! Counters are registered without `_total`: the encoder appends it, so the series keep the names dashboards use.

mod capped;
mod known;
mod labels;
mod otlp;
pub mod queue;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

pub use capped::{Capped, Fold};
use labels::{HttpLabels, Outcome, Quota, Reason, ResultLabel, Route, Status};

/// The default for `MAILGATE_METRICS_MAX_SERIES`.
pub const DEFAULT_MAX_SERIES: usize = 1000;

const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

fn latency() -> Histogram {
    Histogram::new(BUCKETS)
}

type Latencies<S> = Capped<S, Histogram, fn() -> Histogram>;

/// The exposition formats `GET /metrics` serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4, the default.
    Prometheus,
    /// OpenMetrics 1.0 text, ending in `# EOF`.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Capped<HttpLabels, Counter>,
    http_duration: Latencies<Route>,
    http_shed: Capped<Reason, Counter>,
    http_panics: Counter,
    auth_failures: Capped<Reason, Counter>,
    auth_failures_unaudited: Counter,
    auth_throttled: Counter,
    decisions: Capped<ResultLabel, Counter>,
    quota_refusals: Capped<Quota, Counter>,
    graph_attempts: Capped<Outcome, Counter>,
    graph_duration: Histogram,
    drift: Counter,
    unknown_outcomes: Counter,
    token_fetches: Capped<ResultLabel, Counter>,
    token_degraded: Gauge,
    outbox: Family<Status, Gauge>,
    oldest_queued: Gauge<f64, AtomicU64>,
    policy_stale: Gauge,
    inflight_body_bytes: Gauge,
    /// The last queue measurement, so frequent scrapes share one query.
    pub queue: queue::QueueCache,
    /// The same counters for OTLP export, once `export_over_otlp` was called.
    otlp: std::sync::OnceLock<otlp::Instruments>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SERIES)
    }
}

fn counter(r: &mut Registry, name: &'static str, help: &'static str, metric: impl Metric) {
    r.register(name, help, metric);
}

fn histogram(r: &mut Registry, name: &'static str, help: &'static str, metric: impl Metric) {
    r.register(name, help, metric);
}

fn gauge(r: &mut Registry, name: &'static str, help: &'static str, metric: impl Metric) {
    r.register(name, help, metric);
}

impl Metrics {
    /// `max_series`: the most label sets one family keeps before new ones are counted as `other`.
    pub fn new(max_series: usize) -> Self {
        let m = Metrics {
            registry: Registry::default(),
            http_requests: Capped::new(Family::default(), max_series),
            http_duration: Capped::new(Family::new_with_constructor(latency as fn() -> Histogram), max_series),
            http_shed: Capped::new(Family::default(), max_series),
            http_panics: Counter::default(),
            auth_failures: Capped::new(Family::default(), max_series),
            auth_failures_unaudited: Counter::default(),
            auth_throttled: Counter::default(),
            decisions: Capped::new(Family::default(), max_series),
            quota_refusals: Capped::new(Family::default(), max_series),
            graph_attempts: Capped::new(Family::default(), max_series),
            graph_duration: latency(),
            drift: Counter::default(),
            unknown_outcomes: Counter::default(),
            token_fetches: Capped::new(Family::default(), max_series),
            token_degraded: Gauge::default(),
            outbox: Family::default(),
            oldest_queued: Gauge::default(),
            policy_stale: Gauge::default(),
            inflight_body_bytes: Gauge::default(),
            queue: queue::QueueCache::default(),
            otlp: std::sync::OnceLock::new(),
        };
        known::seed(&m);
        m.register()
    }

    fn register(mut self) -> Self {
        let r = &mut self.registry;
        counter(
            r,
            "mailgate_http_requests",
            "HTTP requests by method, route template and status",
            self.http_requests.family(),
        );
        histogram(
            r,
            "mailgate_http_request_duration_seconds",
            "HTTP request latency by route template",
            self.http_duration.family(),
        );
        counter(r, "mailgate_auth_failures", "Refused credentials by reason", self.auth_failures.family());
        counter(
            r,
            "mailgate_auth_failures_unaudited",
            "Refused credentials not audited: over the per-source share",
            self.auth_failures_unaudited.clone(),
        );
        counter(
            r,
            "mailgate_auth_throttled",
            "Requests refused 429 for too many failed authentications",
            self.auth_throttled.clone(),
        );
        counter(
            r,
            "mailgate_http_shed",
            "Requests answered 503 at the edge by reason (overloaded, request_timeout, body_budget)",
            self.http_shed.family(),
        );
        counter(r, "mailgate_http_panics", "Requests whose handler panicked (answered 500)", self.http_panics.clone());
        counter(r, "mailgate_decisions", "Allowlist decisions by result", self.decisions.family());
        counter(r, "mailgate_graph_attempts", "Graph sendMail attempts by outcome", self.graph_attempts.family());
        histogram(r, "mailgate_graph_request_duration_seconds", "Graph sendMail latency", self.graph_duration.clone());
        counter(
            r,
            "mailgate_quota_refusals",
            "Requests refused 429 by a per-app quota (messages_per_minute, recipients_per_day, refusals_per_minute)",
            self.quota_refusals.family(),
        );
        counter(r, "mailgate_drift", "Graph refused (ErrorAccessDenied) a pair the mirror granted", self.drift.clone());
        counter(
            r,
            "mailgate_unknown_outcomes",
            "Sends whose fate at Graph is unknown: an ambiguous answer (timeout, dropped connection, 500/502/504) or a \
             worker's lease that expired mid-send",
            self.unknown_outcomes.clone(),
        );
        counter(
            r,
            "mailgate_graph_token_fetches",
            "Requests for mailgate's Graph token by result: cached (still valid), fetched (new), error",
            self.token_fetches.family(),
        );
        gauge(
            r,
            "mailgate_graph_token_degraded",
            "1 while the last request for mailgate's Graph token failed (sends wait in the outbox)",
            self.token_degraded.clone(),
        );
        gauge(
            r,
            "mailgate_outbox_messages",
            "Messages waiting for (queued) or in (sending) delivery",
            self.outbox.clone(),
        );
        gauge(
            r,
            "mailgate_outbox_oldest_queued_age_seconds",
            "Age of the oldest queued message (0 when none is queued)",
            self.oldest_queued.clone(),
        );
        gauge(
            r,
            "mailgate_policy_snapshot_stale",
            "1 while reloading the policy snapshot fails and decisions use the last good one",
            self.policy_stale.clone(),
        );
        gauge(
            r,
            "mailgate_http_inflight_body_bytes",
            "Bytes of MAILGATE_MAX_INFLIGHT_BODY_BYTES in use: each request body held, charged three times its length",
            self.inflight_body_bytes.clone(),
        );
        self
    }

    /// The registry in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an encoder error would be a bug in a label's encoding.
        let encoded = match format {
            Format::Prometheus => prometheus_text::encode(&mut out, &self.registry),
            Format::OpenMetrics => text::encode(&mut out, &self.registry),
        };
        if let Err(e) = encoded {
            tracing::error!(error = %e, "could not encode the metrics");
        }
        out
    }

    /// One routed HTTP request: `route` is the matched template, never the raw path.
    /// Records the main counters with `meter` too, from now on (OTLP metrics export).
    pub fn export_over_otlp(&self, meter: &opentelemetry::metrics::Meter) {
        let _ = self.otlp.set(otlp::Instruments::new(meter));
    }

    pub fn http_request(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        if let Some(o) = self.otlp.get() {
            let attrs = [
                otlp::kv("method", method),
                otlp::kv("route", route.to_owned()),
                otlp::kv("status", i64::from(status)),
            ];
            o.http_requests.add(1, &attrs);
        }
        let labels = HttpLabels { method, route: route.to_owned(), status: status.to_string() };
        self.http_requests.with(labels, |c| {
            c.inc();
        });
        self.http_duration.with(Route { route: route.to_owned() }, |h| h.observe(took.as_secs_f64()));
    }

    pub fn shed(&self, reason: &'static str) {
        self.http_shed.with(Reason { reason }, |c| {
            c.inc();
        });
    }

    pub fn panicked(&self) {
        self.http_panics.inc();
    }

    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures.with(Reason { reason }, |c| {
            c.inc();
        });
    }

    pub fn auth_failure_unaudited(&self) {
        self.auth_failures_unaudited.inc();
    }

    pub fn auth_throttled(&self) {
        self.auth_throttled.inc();
    }

    pub fn decision(&self, granted: bool) {
        let result = if granted { "granted" } else { "denied" };
        if let Some(o) = self.otlp.get() {
            o.decisions.add(1, &[otlp::kv("result", result)]);
        }
        self.decisions.with(ResultLabel { result }, |c| {
            c.inc();
        });
    }

    pub fn quota_refusal(&self, quota: &'static str) {
        if let Some(o) = self.otlp.get() {
            o.quota_refusals.add(1, &[otlp::kv("quota", quota)]);
        }
        self.quota_refusals.with(Quota { quota }, |c| {
            c.inc();
        });
    }

    /// One sendMail attempt; `latency` when Graph answered (a transport failure has none worth recording).
    pub fn graph_attempt(&self, outcome: &'static str, latency: Option<Duration>) {
        if let Some(o) = self.otlp.get() {
            o.graph_attempts.add(1, &[otlp::kv("outcome", outcome)]);
            if let Some(took) = latency {
                o.graph_duration.record(took.as_secs_f64(), &[]);
            }
        }
        self.graph_attempts.with(Outcome { outcome }, |c| {
            c.inc();
        });
        if let Some(took) = latency {
            self.graph_duration.observe(took.as_secs_f64());
        }
    }

    pub fn drift(&self) {
        self.drift.inc();
    }

    /// Sends nobody knows the fate of: an attempt with an ambiguous answer, or messages the sweep found with an
    /// expired lease.
    pub fn unknown_outcomes(&self, n: u64) {
        self.unknown_outcomes.inc_by(n);
    }

    /// One request for the Graph token: `Some(fetched)` when a token came, `None` when it failed.
    pub fn token_request(&self, got: Option<bool>) {
        let result = match got {
            Some(true) => "fetched",
            Some(false) => "cached",
            None => "error",
        };
        self.token_fetches.with(ResultLabel { result }, |c| {
            c.inc();
        });
        self.token_degraded.set(i64::from(got.is_none()));
    }

    pub fn token_degraded(&self) -> bool {
        self.token_degraded.get() == 1
    }

    pub fn body_bytes_reserved(&self, bytes: usize) {
        self.inflight_body_bytes.inc_by(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    pub fn body_bytes_released(&self, bytes: usize) {
        self.inflight_body_bytes.dec_by(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    pub fn set_policy_stale(&self, stale: bool) {
        self.policy_stale.set(i64::from(stale));
    }

    pub fn set_queue(&self, depth: &queue::Depth) {
        self.outbox.get_or_create(&Status { status: "queued" }).set(depth.queued);
        self.outbox.get_or_create(&Status { status: "sending" }).set(depth.sending);
        self.oldest_queued.set(depth.oldest_queued_secs);
    }
}

#[cfg(test)]
mod tests;
