use std::time::Duration;

use super::*;

#[test]
fn encodes_prometheus_text_with_one_header_per_family() {
    let m = Metrics::default();
    m.auth_failure("expired");
    m.auth_failure("expired");
    m.graph_attempt("sent", Some(Duration::from_millis(70)));
    m.set_queue(&queue::Depth { queued: 3, sending: 1, oldest_queued_secs: 2.5 });
    let text = m.encode(Format::Prometheus);
    assert!(text.contains("mailgate_auth_failures_total{reason=\"expired\"} 2"), "{text}");
    assert!(text.contains("mailgate_graph_request_duration_seconds_bucket{le=\"0.05\"} 0"), "{text}");
    assert!(text.contains("mailgate_graph_request_duration_seconds_bucket{le=\"0.1\"} 1"), "{text}");
    assert!(text.contains("mailgate_graph_request_duration_seconds_count 1"), "{text}");
    assert!(text.contains("mailgate_outbox_messages{status=\"queued\"} 3"), "{text}");
    assert!(text.contains("mailgate_outbox_messages{status=\"sending\"} 1"), "{text}");
    assert!(text.contains("mailgate_outbox_oldest_queued_age_seconds 2.5"), "{text}");
    // The old renderer repeated a gauge's header per series; strict parsers refuse that.
    assert_eq!(text.matches("# TYPE mailgate_outbox_messages gauge").count(), 1, "{text}");
    assert!(!text.contains("# EOF"), "{text}");
}

#[test]
fn encodes_openmetrics_ending_in_eof() {
    let m = Metrics::default();
    m.decision(true);
    let text = m.encode(Format::OpenMetrics);
    assert!(text.contains("# TYPE mailgate_decisions counter"), "{text}");
    assert!(text.contains("mailgate_decisions_total{result=\"granted\"} 1"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn http_requests_past_the_cap_are_counted_as_other() {
    let m = Metrics::new(2);
    for route in ["/a", "/b", "/c", "/d"] {
        m.http_request("GET", route, 200, Duration::from_millis(1));
    }
    let text = m.encode(Format::Prometheus);
    assert!(text.contains("mailgate_http_requests_total{method=\"GET\",route=\"/b\",status=\"200\"} 1"), "{text}");
    assert!(!text.contains("route=\"/c\""), "{text}");
    assert!(
        text.contains("mailgate_http_requests_total{method=\"other\",route=\"other\",status=\"other\"} 2"),
        "{text}"
    );
    assert!(text.contains("mailgate_http_request_duration_seconds_count{route=\"other\"} 2"), "{text}");
}

#[test]
fn token_requests_set_the_degraded_gauge() {
    let m = Metrics::default();
    m.token_request(None);
    assert!(m.token_degraded());
    m.token_request(Some(true));
    assert!(!m.token_degraded());
    let text = m.encode(Format::Prometheus);
    assert!(text.contains("mailgate_graph_token_fetches_total{result=\"error\"} 1"), "{text}");
    assert!(text.contains("mailgate_graph_token_fetches_total{result=\"fetched\"} 1"), "{text}");
    assert!(text.contains("mailgate_graph_token_degraded 0"), "{text}");
}
