//! `GET /metrics`: Prometheus text format. Public, like most scrape targets: labels carry no secrets,
//! only route templates, outcomes and reasons.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::startup::AppState;

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let backlog: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM messages WHERE status IN ('queued', 'sending') GROUP BY status")
            .fetch_all(&state.pool)
            .await
            .unwrap_or_default();
    let gauges: Vec<_> = ["queued", "sending"]
        .iter()
        .map(|s| {
            let n = backlog.iter().find(|(st, _)| st == s).map_or(0, |(_, n)| *n);
            (
                "mailgate_outbox_messages",
                "Messages waiting for or in delivery",
                vec![("status", (*s).to_owned())],
                n as f64,
            )
        })
        .collect();
    let mut gauges = gauges;
    gauges.push((
        "mailgate_policy_snapshot_stale",
        "1 while reloading the policy snapshot fails and decisions use the last good one",
        vec![],
        if state.policy.stale().is_some() { 1.0 } else { 0.0 },
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(&gauges))
}
