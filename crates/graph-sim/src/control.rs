//! The JSON control API under `/sim/...`, used by tests and demos over HTTP.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State as AxState};
use axum::http::StatusCode;

use super::state::{State, mailbox_key};
use super::types::{DraftInfo, FaultRequest, ReceivedRequest, SimPolicy, SimStats};

/// `POST /sim/faults` — append scripted faults to a mailbox's queue (`"@token"` for the token endpoint).
pub async fn add_faults(AxState(state): AxState<Arc<State>>, Json(request): Json<FaultRequest>) -> StatusCode {
    tracing::info!(mailbox = %request.mailbox, count = request.faults.len(), "faults added");
    state.add_faults(&request.mailbox, request.faults);
    StatusCode::NO_CONTENT
}

/// `PUT /sim/policies` — replace the application access policies.
pub async fn put_policies(AxState(state): AxState<Arc<State>>, Json(policies): Json<Vec<SimPolicy>>) -> StatusCode {
    tracing::info!(count = policies.len(), "policies replaced");
    state.set_policies(policies);
    StatusCode::NO_CONTENT
}

/// `GET /sim/policies` — the current application access policies.
pub async fn get_policies(AxState(state): AxState<Arc<State>>) -> Json<Vec<SimPolicy>> {
    Json(state.policies())
}

/// `PUT /sim/mailboxes` — a JSON array of the addresses (or object ids) of the mailboxes that exist; every other
/// name is 404 `ErrorInvalidUser`.
pub async fn put_mailboxes(AxState(state): AxState<Arc<State>>, Json(mailboxes): Json<Vec<String>>) -> StatusCode {
    tracing::info!(count = mailboxes.len(), "mailbox directory replaced");
    state.set_mailboxes(&mailboxes);
    StatusCode::NO_CONTENT
}

/// `POST /sim/mailboxes` — a JSON array of mailboxes to add to the directory.
pub async fn add_mailboxes(AxState(state): AxState<Arc<State>>, Json(mailboxes): Json<Vec<String>>) -> StatusCode {
    tracing::info!(count = mailboxes.len(), "mailboxes added to the directory");
    state.add_mailboxes(&mailboxes);
    StatusCode::NO_CONTENT
}

/// `GET /sim/mailboxes` — the directory, lower-cased and sorted.
pub async fn get_mailboxes(AxState(state): AxState<Arc<State>>) -> Json<Vec<String>> {
    Json(state.mailboxes())
}

/// `GET /sim/drafts` — the drafts still in Drafts folders (neither sent nor deleted).
pub async fn drafts(AxState(state): AxState<Arc<State>>) -> Json<Vec<DraftInfo>> {
    Json(state.drafts.drafts())
}

/// `GET /sim/received[?mailbox=...]` — the sendMail request log, oldest first.
pub async fn received(
    AxState(state): AxState<Arc<State>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Vec<ReceivedRequest>> {
    let mut all = state.received();
    if let Some(mailbox) = query.get("mailbox") {
        let key = mailbox_key(mailbox);
        all.retain(|r| mailbox_key(&r.mailbox) == key);
    }
    Json(all)
}

/// `GET /sim/stats`.
pub async fn stats(AxState(state): AxState<Arc<State>>) -> Json<SimStats> {
    Json(state.stats())
}

/// `POST /sim/reset` — clears the request log, faults and counters; keeps policies,
/// the mailbox directory and issued tokens.
pub async fn reset(AxState(state): AxState<Arc<State>>) -> StatusCode {
    tracing::info!("simulator reset");
    state.reset();
    StatusCode::NO_CONTENT
}

/// Body of `PUT /sim/tokens`.
#[derive(serde::Deserialize)]
pub struct PinToken {
    pub resource: String,
    /// None: fresh random tokens again.
    pub token: Option<String>,
}

/// `PUT /sim/tokens` — from now on every token request for `resource` gets `token` (e.g. a database role's password).
pub async fn pin_token(AxState(state): AxState<Arc<State>>, Json(pin): Json<PinToken>) -> StatusCode {
    // The token itself is not logged: it may be a password the caller chose.
    tracing::info!(resource = %pin.resource, pinned = pin.token.is_some(), "token pinned");
    state.tokens.pin(&pin.resource, pin.token);
    StatusCode::NO_CONTENT
}
