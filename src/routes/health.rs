//! Liveness and readiness. Readiness answers one question: can this instance ACCEPT mail now? The database must
//! answer, Entra signing keys must be known (when Entra tokens are on), and the instance must not be draining. A
//! Graph token outage does not stop accepting (the outbox holds the mail until a token comes), so it is reported as
//! degraded and stays ready. A probe costs no query of its own and no token request: the database's answer is at
//! most two seconds old (crate::readiness), the token's is the last request's.

use std::net::IpAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::auth::authenticate::AuthFailure;
use crate::routes::access::{self, Routes};
use crate::routes::request_id::RequestId;
use crate::state::AppState;

/// Probes are public: orchestrators call them without credentials. Readiness shows an Admin caller more.
pub fn routes() -> Routes {
    Routes::new().public(routes!(healthz)).public(routes!(readyz))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Each check is a status word (`ok`, `error`, `degraded`, `stale`); an Admin caller also gets the detail after it
/// (`error: <why>`), which anonymous callers never see: it may name hosts, roles or internal errors.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `not_ready` or `draining`.
    pub status: &'static str,
    pub database: String,
    /// `ok`, or `degraded` while no Graph token can be had: still ready, since accepted mail waits in the outbox.
    pub graph_token: String,
    /// The allowlist snapshot decisions use: `ok`, or `stale` while reloading it fails and decisions go on with the
    /// last good one (still ready: the outbox and the last policy keep working).
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

/// Ready to accept mail: the database answers (checked at most every 2 s), (with Entra tokens on) signing keys are
/// known, and the instance is not draining. A Graph token outage is reported as `degraded` and stays 200. Anonymous callers get status words only;
/// a caller with the Admin role also gets each check's detail.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>, request: Request) -> (StatusCode, Json<Readiness>) {
    // Taken apart now: the request's body is not Sync, so the request cannot be held across the checks' awaits.
    let source = access::source(&state, &request);
    let headers = request.headers().clone();
    drop(request);
    let database = state.readiness.status(&state.pool).await;
    // As the last request for the token went (the delivery workers' or the periodic check's): a probe never asks for
    // one itself, so probes cannot hammer a failing token endpoint.
    let graph_token = match state.token.health() {
        Some(Ok(())) => "ok".to_owned(),
        Some(Err(e)) => format!("degraded: {e}"),
        // Only in the moment after start, before the first request for it has been answered.
        None => "degraded: no token yet".to_owned(),
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
    let ready = !draining && database == "ok" && entra_keys.as_ref().is_none_or(|k| k.starts_with("ok"));
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let label = match (ready, draining) {
        (true, _) => "ready",
        (false, true) => "draining",
        (false, false) => "not_ready",
    };
    let mut readiness = Readiness { status: label, database, graph_token, policy, entra_keys };
    if !is_admin(&state, &headers, source).await {
        readiness = Readiness {
            database: word(&readiness.database),
            graph_token: word(&readiness.graph_token),
            policy: word(&readiness.policy),
            entra_keys: readiness.entra_keys.as_deref().map(word),
            ..readiness
        };
    }
    (status, Json(readiness))
}

/// A check's status word, without the detail that follows it.
fn word(check: &str) -> String {
    check.split([':', ' ']).next().unwrap_or_default().to_owned()
}

/// Whether the request carries a credential of a caller with the Admin role. /readyz stays public, so a missing or
/// refused credential is not an error here: the caller just gets the anonymous answer. A refused one still counts
/// against its source like anywhere else (a public route must not become a way to guess keys unthrottled), and a
/// throttled source is not looked up at all. The lookup is bounded like the checks, since it needs the database a
/// failing readiness probe may be about.
async fn is_admin(state: &AppState, headers: &HeaderMap, source: Option<IpAddr>) -> bool {
    if !headers.contains_key(header::AUTHORIZATION) {
        return false;
    }
    if state.auth_failures.check(source).is_err() {
        state.metrics.auth_throttled();
        return false;
    }
    let lookup = crate::auth::authenticate::authenticate(&state.pool, &state.callers, state.entra.as_ref(), headers);
    let Ok(answer) = tokio::time::timeout(Duration::from_secs(3), lookup).await else {
        return false;
    };
    match answer {
        Ok(caller) => caller.has(Role::Admin),
        Err(AuthFailure::Unauthenticated { reason, .. }) => {
            state.metrics.auth_failure(reason);
            let request_id = RequestId::of(headers);
            access::record_failure(state, source, request_id, &format!("GET /readyz: {reason}")).await;
            false
        }
        Err(AuthFailure::Unregistered { detail }) => {
            state.metrics.auth_failure("unregistered_app");
            let request_id = RequestId::of(headers);
            access::record_failure(state, source, request_id, &detail).await;
            false
        }
        // The database or the signing keys are unavailable: nothing is known about the credential.
        Err(AuthFailure::Db(_) | AuthFailure::Unavailable { .. }) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::word;

    #[test]
    fn anonymous_callers_get_the_status_word_only() {
        assert_eq!(word("ok"), "ok");
        assert_eq!(word("error: pool timed out while waiting for an open connection"), "error");
        assert_eq!(word("degraded: ManagedIdentityCredential: 400 bad identity header"), "degraded");
        assert_eq!(word("ok: 3 keys; last refresh failed: dns error"), "ok");
        assert_eq!(word("stale since 2026-11-29T05:00:00Z: reloading fails"), "stale");
    }
}
