//! W3C trace context across the edges: in from a caller's `traceparent`/`tracestate` headers, and through the outbox
//! as one `traceparent` string, so a delivery attempt is a child of the request that accepted the message.

use axum::http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::on;

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The caller's trace context (an empty one when the headers carry none, or a malformed one).
pub fn extract_parent(headers: &HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&Headers(headers))
}

/// Makes `span` (not yet entered) a child of the span a stored `traceparent` names. Does nothing when tracing is off
/// or the value is not a valid trace context.
pub fn set_remote_parent(span: &tracing::Span, traceparent: &str) {
    if !on() {
        return;
    }
    let mut headers = HeaderMap::new();
    let Ok(value) = traceparent.parse() else { return };
    headers.insert("traceparent", value);
    let parent = extract_parent(&headers);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The current span's context as a `traceparent` value, to store with an accepted message. None when tracing is off
/// (nothing is stored then) or no span is current.
pub fn current_traceparent() -> Option<String> {
    if !on() {
        return None;
    }
    let cx = tracing::Span::current().context();
    traceparent(cx.span().span_context())
}

fn traceparent(sc: &SpanContext) -> Option<String> {
    sc.is_valid().then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    #[test]
    fn a_stored_traceparent_is_what_the_propagator_reads_back() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id"),
            SpanId::from_hex("00f067aa0ba902b7").expect("span id"),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let value = traceparent(&sc).expect("valid");
        assert_eq!(value, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", value.parse().expect("header"));
        let back = extract_parent(&headers);
        assert_eq!(back.span().span_context().trace_id(), sc.trace_id());
        assert_eq!(back.span().span_context().span_id(), sc.span_id());
        assert!(back.span().span_context().is_sampled());
        assert_eq!(traceparent(&SpanContext::empty_context()), None);
    }

    #[test]
    fn with_tracing_off_nothing_is_stored() {
        // No exporter was set up in this process: `on()` is false, so the accept path stores NULL.
        assert!(!on());
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        assert_eq!(current_traceparent(), None);
    }
}
