//! The layers every request passes before it reaches a route: its request id, tracing, a catch for panics, the
//! concurrency limit and the request timeout. Each refusal here is problem+json like any other.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::HttpSettings;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::routes::request_id::REQUEST_ID;
use crate::telemetry;

/// Longest caller-chosen request id kept; it is logged and written to the audit log.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Paths answered even when the concurrency limit is reached, so that a loaded instance is not restarted for it.
const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// Wraps `router` in the edge layers. The real router and the tests of these layers are both built here.
pub fn layers(router: Router, http: &HttpSettings, metrics: Arc<Metrics>) -> Router {
    let timeout = http.request_timeout;
    let timeout_metrics = metrics.clone();
    let shed_metrics = metrics.clone();
    let permits = Arc::new(Semaphore::new(http.max_concurrent_requests));
    // Listed innermost first: a request meets them bottom to top.
    router
        .layer(middleware::from_fn(move |req: Request, next: Next| within(timeout, timeout_metrics.clone(), req, next)))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            admit(permits.clone(), shed_metrics.clone(), req, next)
        }))
        .layer(middleware::map_response(as_problem))
        .layer(CatchPanicLayer::custom(move |panic: Box<dyn Any + Send>| answer_panic(&metrics, panic)))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::http::make_span)
                .on_response(telemetry::http::on_response),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::map_request(drop_unplain_request_id))
}

/// Whether a caller's request id is short and plain enough to log, audit and echo.
pub fn plain_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Removes a request id that is not plain (or given twice), so that a fresh one is made in its place.
async fn drop_unplain_request_id(mut request: Request) -> Request {
    let ids = request.headers().get_all(&REQUEST_ID);
    let mut values = ids.iter();
    let keep = matches!((values.next(), values.next()), (Some(v), None) if plain_request_id(v));
    if !keep {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// Sheds load beyond the concurrency limit at once, rather than queueing it behind requests already slow.
async fn admit(permits: Arc<Semaphore>, metrics: Arc<Metrics>, request: Request, next: Next) -> Response {
    if PROBES.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(_permit) = permits.try_acquire_owned() else {
        metrics.shed("overloaded");
        return ApiError::new(
            ErrorCode::Overloaded,
            "this instance is handling as many requests as it is set to (MAILGATE_MAX_CONCURRENT_REQUESTS); retry",
        )
        .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        .into_response();
    };
    next.run(request).await
}

/// Answers 503 when a request (reading its body included) takes longer than the request timeout.
async fn within(limit: Duration, metrics: Arc<Metrics>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics.shed("request_timeout");
            tracing::warn!(timeout_secs = limit.as_secs_f64(), "request timed out");
            ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the request was not answered within {} s (MAILGATE_REQUEST_TIMEOUT_SECS); a send may still \
                     have been queued, so retry with the same Idempotency-Key",
                    limit.as_secs()
                ),
            )
            .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .into_response()
        }
    }
}

/// Longest framework explanation kept when an error answer is rewritten as a problem.
const MAX_DETAIL: usize = 300;

/// Rewrites an error answered in plain text (the framework's own rejections: a path segment that is not UTF-8, a
/// body over the limit) as problem+json, so that every error a caller sees has the one shape.
async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v.starts_with("text/plain")));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let said = axum::body::to_bytes(body, MAX_DETAIL * 4).await.unwrap_or_default();
    let said: String = String::from_utf8_lossy(&said).chars().filter(|c| !c.is_control()).take(MAX_DETAIL).collect();
    let detail = if status.is_server_error() || said.trim().is_empty() {
        status.canonical_reason().unwrap_or("the request was refused").to_owned()
    } else {
        said
    };
    let mut problem = ApiError::framework(status, detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name, value.clone());
        }
    }
    problem
}

/// The panic itself was logged by the panic hook (once, where it happened); the caller gets an opaque 500.
fn answer_panic(metrics: &Metrics, _panic: Box<dyn Any + Send>) -> Response {
    metrics.panicked();
    ApiError::opaque().into_response()
}

/// Sends panics to the log (as JSON when logs are JSON) instead of bare stderr, with where they happened.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(%location, panic = %message, "panicked");
    }));
}

#[cfg(test)]
mod tests;
