//! The main counters again as OpenTelemetry instruments, for OTLP metrics export (`OTEL_EXPORTER_OTLP_ENDPOINT`):
//! HTTP requests, allowlist decisions, quota refusals, Graph attempts and their latency. `/metrics` keeps every
//! family; these are recorded only when export is on (one `OnceLock` read otherwise).

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

#[derive(Debug)]
pub struct Instruments {
    pub http_requests: Counter<u64>,
    pub decisions: Counter<u64>,
    pub quota_refusals: Counter<u64>,
    pub graph_attempts: Counter<u64>,
    pub graph_duration: Histogram<f64>,
}

impl Instruments {
    pub fn new(meter: &Meter) -> Self {
        Self {
            http_requests: meter
                .u64_counter("mailgate.http.requests")
                .with_description("HTTP requests by method, route template and status")
                .build(),
            decisions: meter
                .u64_counter("mailgate.decisions")
                .with_description("Allowlist decisions by result")
                .build(),
            quota_refusals: meter
                .u64_counter("mailgate.quota.refusals")
                .with_description("Sends refused 429 over an app's quota, by quota")
                .build(),
            graph_attempts: meter
                .u64_counter("mailgate.graph.attempts")
                .with_description("Graph sendMail attempts by outcome")
                .build(),
            graph_duration: meter
                .f64_histogram("mailgate.graph.duration")
                .with_unit("s")
                .with_description("Graph sendMail latency")
                .build(),
        }
    }
}

pub fn kv(key: &'static str, value: impl Into<opentelemetry::Value>) -> KeyValue {
    KeyValue::new(key, value)
}
