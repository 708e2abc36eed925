//! `POST /v1/messages`: validate, check quotas, decide, and either refuse (403) or store durably and
//! acknowledge (202) — the message, its audit event and its idempotency key in one transaction.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::view::MessageView;
use super::{idempotent, wait};
use crate::accept::{Accepted, accept};
use crate::auth::Caller;
use crate::db;
use crate::domain::message::SendRequest;
use crate::error::{ApiError, Problem};
use crate::routes::json_body;
use crate::routes::request_id::RequestId;
use crate::state::AppState;

/// Send a message as a mailbox, if the allowlist lets this app send as it.
#[utoipa::path(
    post, path = "/v1/messages", tag = "messages",
    request_body = SendRequest,
    params(
        ("Prefer" = Option<String>, Header, description = "`wait=N` (N ≤ 30): wait up to N seconds for Graph's outcome"),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$", description = "Per app, kept 24 h: a retry with the same key and body gets the original answer; 1-255 visible ASCII characters"),
    ),
    responses(
        (status = 202, body = MessageView, description = "Stored durably and queued; `Location` names the message"),
        (status = 200, body = MessageView, description = "With `Prefer: wait`, the outcome was known in time"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Malformed JSON"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "The allowlist denies this app this mailbox; `decision` names the policy"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A field is invalid (`field` names it), or an Idempotency-Key was reused with another body"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "`quota_exceeded`: over the app's quota; `too_many_refusals`: refused (403) more often this minute than MAILGATE_APP_REFUSALS_PER_MINUTE allows; `Retry-After` says when to try again"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "`unavailable`: the message could not be stored; `overloaded`: this instance holds as many request bodies as MAILGATE_MAX_INFLIGHT_BODY_BYTES allows"),
    )
)]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = json_body::read(&headers, body)?;
    // Fingerprinted first, so that the body's bytes go once decoded: a large body is held once, not twice.
    let key = idempotent::key(&headers, &bytes)?;
    let mut request: SendRequest = json_body::decode(&bytes)?;
    drop(bytes);
    let snapshot = state.policy.get_for_app(&state.pool, caller.app_id).await?;
    if let Some(mailbox) = snapshot.directory.recipient(&request.from) {
        request.from = mailbox.address.clone();
    }
    let message = request.validate(state.settings.message_limits())?;
    let wait = wait::prefer_wait(&headers);
    let (id, accepted, done) =
        match accept(&state.accepting(), &snapshot, &caller, message, key.as_ref(), &request_id, wait).await? {
            Accepted::Replay(stored) => {
                let key = key.as_ref().ok_or_else(|| ApiError::internal("replay without a key"))?;
                return idempotent::replay(stored, key);
            }
            Accepted::Queued { message, done } => (message.id, MessageView::from(message), done),
        };
    let (status, view) = match (wait, done) {
        (Some(wait), Some(done)) => match outcome(&state, id, done, wait).await {
            Ok(answer) => answer,
            // The message is stored and will be sent: failing to watch it is no reason to answer with an error,
            // which would invite a retry and a duplicate.
            Err(e) => {
                tracing::warn!(%id, error = %e, "could not wait for the outcome; answering 202");
                (StatusCode::ACCEPTED, accepted)
            }
        },
        // The answer to a plain send is what was stored; a worker may already be sending it.
        _ => (StatusCode::ACCEPTED, accepted),
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

/// The message as it stands once its outcome is known (200) or the wait is over (202).
async fn outcome(
    state: &AppState,
    id: uuid::Uuid,
    done: tokio::sync::broadcast::Receiver<uuid::Uuid>,
    wait: std::time::Duration,
) -> Result<(StatusCode, MessageView), sqlx::Error> {
    let done = wait::for_outcome(state, id, done, wait).await?;
    let row = db::messages::get(&state.pool, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok((if done { StatusCode::OK } else { StatusCode::ACCEPTED }, MessageView::load(&state.pool, row).await?))
}
