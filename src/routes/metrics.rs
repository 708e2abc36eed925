//! `GET /metrics`: the Prometheus text format, or OpenMetrics when the scraper's `Accept` asks for it (Prometheus
//! itself does). Public, like most scrape targets: labels carry no secrets, only route templates, outcomes and
//! reasons. Every series is in memory but the queue's depth, measured at most every two seconds; a scrape holds no
//! lock across a query.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;

use crate::metrics::Format;
use crate::routes::access::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().public_get("/metrics", metrics)
}

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    // The queue as last measured (see metrics::queue: at most one measurement in flight, none waited for by others).
    if let Some(depth) = state.metrics.queue.measure(&state.pool).await {
        state.metrics.set_queue(&depth);
    }
    state.metrics.set_policy_stale(state.policy.stale().is_some());
    let format = negotiate(headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()));
    ([(header::CONTENT_TYPE, format.content_type())], state.metrics.encode(format))
}

/// OpenMetrics when a media range of `Accept` names it (and does not refuse it with `q=0`), else Prometheus text.
fn negotiate<'a>(accept: impl Iterator<Item = &'a str>) -> Format {
    let asks = accept.flat_map(|v| v.split(',')).any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let refused = parts.any(|p| p.replace(' ', "").strip_prefix("q=").is_some_and(|q| q.parse() == Ok(0.0)));
        media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
    });
    if asks { Format::OpenMetrics } else { Format::Prometheus }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(accept: &str) -> Format {
        negotiate(std::iter::once(accept))
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        assert_eq!(negotiate(std::iter::empty()), Format::Prometheus);
        assert_eq!(of("*/*"), Format::Prometheus);
        assert_eq!(of("text/plain; version=0.0.4"), Format::Prometheus);
        // What Prometheus sends.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;\
                          q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(of(prometheus), Format::OpenMetrics);
        assert_eq!(of("application/openmetrics-text; version=1.0.0"), Format::OpenMetrics);
        assert_eq!(of("application/openmetrics-text;q=0, text/plain"), Format::Prometheus);
    }
}
