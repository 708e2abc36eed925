//! `POST /v1/messages`: validate, decide, and either refuse (403) or store durably and acknowledge (202).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::view::MessageView;
use crate::auth::Caller;
use crate::db;
use crate::db::audit::{NewEvent, Outcome};
use crate::db::messages::Status;
use crate::domain::message::{Limits, SendRequest};
use crate::error::{ApiError, Problem};
use crate::policy::{Access, decide};
use crate::routes::json_body;
use crate::startup::AppState;

/// The longest `Prefer: wait` honoured.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Send a message as a mailbox, if the allowlist lets this app send as it.
#[utoipa::path(
    post, path = "/v1/messages", tag = "messages",
    request_body = SendRequest,
    params(("Prefer" = Option<String>, Header, description = "`wait=N` (N ≤ 30): wait up to N seconds for Graph's outcome")),
    responses(
        (status = 202, body = MessageView, description = "Stored durably and queued; `Location` names the message"),
        (status = 200, body = MessageView, description = "With `Prefer: wait`, the outcome was known in time"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Malformed JSON"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "The allowlist denies this app this mailbox; `decision` names the policy"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A field is invalid; `field` names it"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "The message could not be stored"),
    )
)]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: SendRequest = json_body::parse(&headers, body)?;
    let limits =
        Limits { max_recipients: state.settings.max_recipients, max_message_bytes: state.settings.max_message_bytes };
    let message = request.validate(limits)?;
    let wait = prefer_wait(&headers);
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mailbox = message.mailbox.key();

    let snapshot = state.policy.get(&state.pool).await?;
    let decision = decide(&snapshot, caller.app_id, &caller.app_name, &mailbox);
    let result = if decision.access == Access::Granted { "granted" } else { "denied" };
    state.metrics.inc("mailgate_decisions_total", &[("result", result)]);
    let id = Uuid::now_v7();
    let event = NewEvent {
        app_id: Some(caller.app_id),
        app_name: Some(&caller.app_name),
        mailbox: Some(&mailbox),
        message_id: Some(id),
        request_id: Some(&request_id),
        detail: Some(&decision.reason),
        ..NewEvent::default()
    };

    if decision.access == Access::Denied {
        let mut tx = state.pool.begin().await?;
        db::messages::insert(&mut tx, id, caller.app_id, &message, Status::Denied, &request_id).await?;
        db::audit::record(&mut *tx, Outcome::Denied, NewEvent { http_status: Some(403), ..event }).await?;
        tx.commit().await?;
        tracing::info!(%id, app = %caller.app_name, %mailbox, rule = ?decision.rule, "denied by the allowlist");
        let mut extra = serde_json::Map::new();
        extra.insert("message_id".into(), json!(id));
        extra.insert("decision".into(), json!(decision));
        return Err(ApiError::new(StatusCode::FORBIDDEN, "policy_denied", decision.reason.clone()).extra(extra));
    }

    // Subscribe before the row exists, so the outcome cannot slip past between insert and wait.
    let done = wait.map(|_| state.events.done.subscribe());
    let mut tx = state.pool.begin().await?;
    db::messages::insert(&mut tx, id, caller.app_id, &message, Status::Queued, &request_id).await?;
    db::audit::record(&mut *tx, Outcome::Queued, event).await?;
    tx.commit().await?;
    tracing::info!(%id, app = %caller.app_name, %mailbox, "queued");

    let (status, view) = match (wait, done) {
        (Some(wait), Some(done)) => {
            let done = wait_for_outcome(&state, id, done, wait).await?;
            let row = db::messages::get(&state.pool, id)
                .await?
                .ok_or_else(|| ApiError::internal("stored message vanished"))?;
            (if done { StatusCode::OK } else { StatusCode::ACCEPTED }, MessageView::load(&state.pool, row).await?)
        }
        // The answer to a plain send is what was stored; a worker may already be sending it.
        _ => (StatusCode::ACCEPTED, MessageView::queued(id, &message)),
    };
    let mut response = (status, Json(view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/messages/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if let Some(wait) = wait
        && let Ok(applied) = HeaderValue::from_str(&format!("wait={}", wait.as_secs()))
    {
        response.headers_mut().insert("preference-applied", applied);
    }
    Ok(response)
}

/// `Prefer: wait=N`, capped at 30 s. Other preferences are ignored, as RFC 7240 allows.
fn prefer_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("wait=")?.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs).min(MAX_WAIT))
}

/// True once the message reached a final status within `wait`.
async fn wait_for_outcome(
    state: &AppState,
    id: Uuid,
    mut done: broadcast::Receiver<Uuid>,
    wait: Duration,
) -> Result<bool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let is_final =
            db::messages::status(&state.pool, id).await?.and_then(|s| Status::parse(&s)).is_some_and(Status::is_final);
        if is_final {
            return Ok(true);
        }
        // Wake on this message's notice, or after a second anyway: notices can be lost when the listener reconnects.
        let next_check = (tokio::time::Instant::now() + Duration::from_secs(1)).min(deadline);
        let woke = tokio::time::timeout_at(next_check, async {
            loop {
                match done.recv().await {
                    Ok(done_id) if done_id == id => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        })
        .await;
        if woke.is_err() && tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_wait_is_parsed_and_capped() {
        let mut h = HeaderMap::new();
        assert_eq!(prefer_wait(&h), None);
        h.insert("prefer", HeaderValue::from_static("respond-async, wait=5"));
        assert_eq!(prefer_wait(&h), Some(Duration::from_secs(5)));
        h.insert("prefer", HeaderValue::from_static("wait=600"));
        assert_eq!(prefer_wait(&h), Some(MAX_WAIT));
        h.insert("prefer", HeaderValue::from_static("wait=soon"));
        assert_eq!(prefer_wait(&h), None);
    }
}
