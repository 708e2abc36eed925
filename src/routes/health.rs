//! Liveness and readiness.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::startup::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub database: String,
    pub graph_token: String,
    /// The allowlist snapshot decisions use: `ok`, or `stale since <time>` while reloading it fails and decisions go
    /// on with the last good one (still ready: the outbox and the last policy keep working).
    pub policy: String,
    /// Entra signing keys for callers' tokens; absent when tokens are not enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entra_keys: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready to take traffic: the database answers, a Graph token can be had, and (with Entra tokens on) signing keys are known.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database =
        match tokio::time::timeout(Duration::from_secs(3), sqlx::query("SELECT 1").execute(&state.pool)).await {
            Ok(Ok(_)) => "ok".to_owned(),
            Ok(Err(e)) => format!("error: {e}"),
            Err(_) => "error: timed out".to_owned(),
        };
    let graph_token = match tokio::time::timeout(Duration::from_secs(5), state.token.get()).await {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: timed out".to_owned(),
    };
    // Stale keys still verify tokens, so a failed refresh is reported but only no keys at all is not ready.
    let entra_keys = state.entra.as_ref().map(|e| {
        let s = e.status();
        match (s.keys, s.last_error) {
            (0, error) => format!("error: no signing keys ({})", error.unwrap_or_else(|| "not fetched yet".into())),
            (n, None) => format!("ok: {n} keys"),
            (n, Some(error)) => format!("ok: {n} keys; last refresh failed: {error}"),
        }
    });
    let policy = match state.policy.stale() {
        None => "ok".to_owned(),
        Some(stale) => {
            let since = stale.since.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            format!("stale since {since}: reloading the policy snapshot fails; deciding with the last good one")
        }
    };
    let draining = state.draining.load(std::sync::atomic::Ordering::SeqCst);
    let ready =
        !draining && database == "ok" && graph_token == "ok" && entra_keys.as_ref().is_none_or(|k| k.starts_with("ok"));
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let label = match (ready, draining) {
        (true, _) => "ready",
        (false, true) => "draining",
        (false, false) => "not_ready",
    };
    let readiness = Readiness { status: label, database, graph_token, policy, entra_keys };
    (status, Json(readiness))
}
