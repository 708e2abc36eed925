//! Prometheus metrics, kept in-process and rendered in the text exposition format at `GET /metrics`.
//! Labels are low-cardinality by design: routes are templates, outcomes and reasons are fixed words.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, Labels), u64>>,
    histograms: Mutex<BTreeMap<(&'static str, Labels), Histogram>>,
}

/// Name, type and help of every metric; rendering follows this order.
const DESCRIPTIONS: &[(&str, &str, &str)] = &[
    ("mailgate_http_requests_total", "counter", "HTTP requests by method, route template and status"),
    ("mailgate_http_request_duration_seconds", "histogram", "HTTP request latency by route template"),
    ("mailgate_auth_failures_total", "counter", "Refused credentials by reason"),
    ("mailgate_auth_failures_unaudited_total", "counter", "Refused credentials not audited: over the per-source share"),
    ("mailgate_auth_throttled_total", "counter", "Requests refused 429 for too many failed authentications"),
    (
        "mailgate_http_shed_total",
        "counter",
        "Requests answered 503 at the edge by reason (overloaded, request_timeout)",
    ),
    ("mailgate_http_panics_total", "counter", "Requests whose handler panicked (answered 500)"),
    ("mailgate_decisions_total", "counter", "Allowlist decisions by result"),
    ("mailgate_graph_attempts_total", "counter", "Graph sendMail attempts by outcome"),
    ("mailgate_graph_request_duration_seconds", "histogram", "Graph sendMail latency"),
    ("mailgate_quota_refusals_total", "counter", "Sends refused at the API by a per-app quota"),
    ("mailgate_drift_total", "counter", "Graph refused (ErrorAccessDenied) a pair the mirror granted"),
];

fn owned(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

impl Metrics {
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *c.entry((name, owned(labels))).or_default() += 1;
    }

    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], took: Duration) {
        let secs = took.as_secs_f64();
        let mut h = self.histograms.lock().unwrap_or_else(|e| e.into_inner());
        let entry = h.entry((name, owned(labels))).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                entry.buckets[i] += 1;
            }
        }
        entry.count += 1;
        entry.sum += secs;
    }

    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        let c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        c.get(&(name, owned(labels))).copied().unwrap_or(0)
    }

    /// The text exposition format, plus any gauges the caller measured just now.
    pub fn render(&self, gauges: &[(&str, &str, Labels, f64)]) -> String {
        let mut out = String::new();
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let histograms = self.histograms.lock().unwrap_or_else(|e| e.into_inner());
        for (name, kind, help) in DESCRIPTIONS {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((n, labels), v) in counters.iter().filter(|((n, _), _)| n == name) {
                let _ = writeln!(out, "{n}{} {v}", fmt_labels(labels, None));
            }
            for ((n, labels), h) in histograms.iter().filter(|((n, _), _)| n == name) {
                for (i, le) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(out, "{n}_bucket{} {}", fmt_labels(labels, Some(&le.to_string())), h.buckets[i]);
                }
                let _ = writeln!(out, "{n}_bucket{} {}", fmt_labels(labels, Some("+Inf")), h.count);
                let _ = writeln!(out, "{n}_sum{} {}", fmt_labels(labels, None), h.sum);
                let _ = writeln!(out, "{n}_count{} {}", fmt_labels(labels, None), h.count);
            }
        }
        for (name, help, labels, value) in gauges {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{} {value}", fmt_labels(labels, None));
        }
        out
    }
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.inc("mailgate_auth_failures_total", &[("reason", "expired")]);
        m.inc("mailgate_auth_failures_total", &[("reason", "expired")]);
        m.observe("mailgate_graph_request_duration_seconds", &[], Duration::from_millis(70));
        let text =
            m.render(&[("mailgate_outbox_messages", "Messages by status", vec![("status", "queued".into())], 3.0)]);
        assert!(text.contains("mailgate_auth_failures_total{reason=\"expired\"} 2"), "{text}");
        assert!(text.contains("mailgate_graph_request_duration_seconds_bucket{le=\"0.05\"} 0"), "{text}");
        assert!(text.contains("mailgate_graph_request_duration_seconds_bucket{le=\"0.1\"} 1"), "{text}");
        assert!(text.contains("mailgate_graph_request_duration_seconds_count 1"), "{text}");
        assert!(text.contains("mailgate_outbox_messages{status=\"queued\"} 3"), "{text}");
    }
}
