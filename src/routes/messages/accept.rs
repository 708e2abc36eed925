//! Accepting a validated message, shared by `POST /v1/messages` and the Graph-shaped endpoint: replay an
//! idempotent retry, check quotas, decide, and store the message, its audit event and its key in one transaction.

use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::idempotent::Key;
use super::quota;
use super::view::MessageView;
use crate::auth::Caller;
use crate::db;
use crate::db::audit::{NewEvent, Outcome};
use crate::db::idempotency::Stored;
use crate::db::messages::Status;
use crate::domain::message::NewMessage;
use crate::error::ApiError;
use crate::policy::{Access, Rule, Snapshot, decide};
use crate::startup::AppState;

pub enum Accepted {
    /// Stored now. `done` is subscribed when the caller wants to wait for the outcome.
    Queued { id: Uuid, view: MessageView, done: Option<broadcast::Receiver<Uuid>> },
    /// A retry of an earlier request with the same Idempotency-Key and body.
    Replay(Stored),
}

/// A local denial is `Err(ApiError)` with code `policy_denied` (or `unknown_mailbox`), after it has been recorded.
/// `snapshot` is the one the caller resolved `from` with (to the mailbox's primary address, before validating, so
/// the message itself names the mailbox as Graph is called with it): one snapshot per send, so resolution and
/// decision cannot disagree.
pub async fn accept(
    state: &AppState,
    snapshot: &Snapshot,
    caller: &Caller,
    message: &NewMessage,
    key: Option<&Key>,
    request_id: &str,
    wait: Option<Duration>,
) -> Result<Accepted, ApiError> {
    let ttl = state.settings.idempotency_ttl;
    if let Some(k) = key
        && let Some(stored) = db::idempotency::find(&state.pool, caller.app_id, &k.key, ttl).await?
    {
        return Ok(Accepted::Replay(stored));
    }
    quota::check(state, caller, message.recipients).await?;
    let decision = decide(snapshot, caller.app_id, &caller.app_name, &message.mailbox.key());
    // From here on the mailbox is the canonical one, whatever name the caller used: the audit row, the outbox
    // row (and so pacing and the Graph call) all carry it.
    let mailbox = decision.mailbox.clone();
    let result = if decision.access == Access::Granted { "granted" } else { "denied" };
    state.metrics.inc("mailgate_decisions_total", &[("result", result)]);
    let id = Uuid::now_v7();
    let event = NewEvent {
        app_id: Some(caller.app_id),
        app_name: Some(&caller.app_name),
        mailbox: Some(&mailbox),
        message_id: Some(id),
        request_id: Some(request_id),
        detail: Some(&decision.reason),
        ..NewEvent::default()
    };

    // Subscribe before the row exists, so the outcome cannot slip past between insert and wait.
    let done = wait.map(|_| state.events.done.subscribe());
    let mut tx = state.pool.begin().await?;
    if let Some(k) = key
        && !db::idempotency::claim(&mut tx, caller.app_id, &k.key, &k.hash, id, ttl).await?
    {
        // A concurrent request with this key committed first (we waited for it): answer as it was answered.
        drop(tx);
        let stored = db::idempotency::find(&state.pool, caller.app_id, &k.key, ttl).await?;
        return Ok(Accepted::Replay(stored.ok_or_else(|| ApiError::internal("idempotency key vanished"))?));
    }

    if decision.access == Access::Denied {
        db::messages::insert(&mut tx, id, caller.app_id, &mailbox, message, Status::Denied, request_id).await?;
        db::audit::record(&mut *tx, Outcome::Denied, NewEvent { http_status: Some(403), ..event }).await?;
        let mut extra = serde_json::Map::new();
        extra.insert("message_id".into(), json!(id));
        extra.insert("decision".into(), json!(decision));
        let status = axum::http::StatusCode::FORBIDDEN;
        let code = if decision.rule == Rule::UnknownMailbox { "unknown_mailbox" } else { "policy_denied" };
        let refusal = ApiError::new(status, code, decision.reason.clone()).extra(extra);
        if let Some(k) = key {
            db::idempotency::save_response(&mut tx, caller.app_id, &k.key, 403, &json!(refusal.problem())).await?;
        }
        tx.commit().await?;
        tracing::info!(%id, app = %caller.app_name, %mailbox, rule = ?decision.rule, "denied by the allowlist");
        return Err(refusal);
    }

    db::messages::insert(&mut tx, id, caller.app_id, &mailbox, message, Status::Queued, request_id).await?;
    db::audit::record(&mut *tx, Outcome::Queued, event).await?;
    let view = MessageView::queued(id, &mailbox, message);
    if let Some(k) = key {
        db::idempotency::save_response(&mut tx, caller.app_id, &k.key, 202, &json!(view)).await?;
    }
    tx.commit().await?;
    tracing::info!(%id, app = %caller.app_name, %mailbox, "queued");
    Ok(Accepted::Queued { id, view, done })
}
