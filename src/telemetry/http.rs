//! The span of one HTTP request. With tracing on: an OpenTelemetry server span named by method and route template,
//! continuing the caller's `traceparent`, with the answer's status. With it off (and for probes and scrapes): the
//! framework's own `debug` span, as before, which the default filter never makes.

use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, MakeSpan, OnResponse};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{extract_parent, on};

/// Paths polled by probes and scrapers every few seconds: a trace each would drown the traces of mail.
const UNTRACED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

pub fn make_span<B>(request: &Request<B>) -> Span {
    if !on() || UNTRACED.contains(&request.uri().path()) {
        return DefaultMakeSpan::new().make_span(request);
    }
    let method = request.method().as_str();
    // Routes are templates (`/v1/messages/{id}`), so span names stay few; an unrouted path is not named.
    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %format_args!("{method} {}", route.unwrap_or("unmatched")),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        url.path = request.uri().path(),
        http.response.status_code = Empty,
        request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()),
    );
    let _ = span.set_parent(extract_parent(request.headers()));
    span
}

pub fn on_response<B>(response: &Response<B>, latency: Duration, span: &Span) {
    if on() {
        let status = response.status();
        // As a signed integer: tracing-opentelemetry sends unsigned ones as strings.
        span.record("http.response.status_code", i64::from(status.as_u16()));
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
    DefaultOnResponse::new().on_response(response, latency, span);
}
