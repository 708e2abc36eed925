//! `POST /v1.0/users/{mailbox}/sendMail`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::faults::{self, FaultOutcome};
use super::gate;
use super::response::{GraphError, ReqCtx, finish, header_str, rfc3339_now};
use super::state::{State, TokenCheck};
use super::types::{Fate, ReceivedRequest};
use super::validate::validate_send_mail;

/// A request body as read: the bytes (when within the limit) and the total size.
pub struct ReadBody {
    pub bytes: Option<Vec<u8>>,
    pub total: usize,
}

/// Read the whole body, keeping at most `limit` bytes. Bodies far beyond the
/// limit are abandoned part-way; the size then reports what was read.
pub async fn read_body(body: Body, limit: usize) -> Result<ReadBody, axum::Error> {
    let give_up = limit.saturating_mul(4).saturating_add(1 << 20);
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        total = total.saturating_add(chunk.len());
        if total <= limit {
            kept.extend_from_slice(&chunk);
        } else {
            kept = Vec::new();
            if total > give_up {
                break;
            }
        }
    }
    let bytes = (total <= limit).then_some(kept);
    Ok(ReadBody { bytes, total })
}

enum Outcome {
    Accepted,
    Refused(GraphError),
    Dropped,
}

/// The checks in order; the flag says a `lose_answer` fault asks for the answer to be dropped once decided.
async fn decide_outcome(
    state: &State,
    mailbox: &str,
    token: &TokenCheck,
    body: &ReadBody,
    json: Option<&serde_json::Value>,
    mime: Option<&Result<serde_json::Value, GraphError>>,
) -> (Outcome, bool) {
    if let Err(err) = gate::token(token) {
        return (Outcome::Refused(err), false);
    }
    let lose_answer = match faults::apply(state.next_fault(mailbox)).await {
        FaultOutcome::Continue => false,
        FaultOutcome::LoseAnswer => true,
        FaultOutcome::Respond(err) => return (Outcome::Refused(err), false),
        FaultOutcome::Drop => return (Outcome::Dropped, false),
    };
    (checked(state, mailbox, token, body, json, mime), lose_answer)
}

fn checked(
    state: &State,
    mailbox: &str,
    token: &TokenCheck,
    body: &ReadBody,
    json: Option<&serde_json::Value>,
    mime: Option<&Result<serde_json::Value, GraphError>>,
) -> Outcome {
    if body.total > state.config.max_body_bytes {
        return Outcome::Refused(gate::too_large());
    }
    match mime {
        Some(Err(err)) => return Outcome::Refused(err.clone()),
        Some(Ok(_)) => {}
        None => {
            let Some(json) = json else {
                return Outcome::Refused(unreadable_json());
            };
            if let Err(err) = validate_send_mail(json) {
                return Outcome::Refused(err);
            }
        }
    }
    match gate::mailbox(state, mailbox, token) {
        Ok(()) => Outcome::Accepted,
        Err(err) => Outcome::Refused(err),
    }
}

/// Graph's answer to a body that is not JSON.
pub fn unreadable_json() -> GraphError {
    GraphError::bad_request(
        "BadRequest",
        "Unable to read JSON request payload. Please ensure Content-Type header is set \
         and payload is of valid JSON format.",
    )
}

/// The sendMail handler: see the module docs of `sim` for the order of checks. The request is in the log from its
/// arrival; if the client goes away while it is processed (the server then drops this future), it stays there as
/// `abandoned`.
pub async fn send_mail(AxState(state): AxState<Arc<State>>, Path(mailbox): Path<String>, request: Request) -> Response {
    let ctx = ReqCtx::from_headers(request.headers());
    let (parts, body) = request.into_parts();
    let authorization = header_str(&parts.headers, &header::AUTHORIZATION);
    let token = state.tokens.check(authorization.as_deref());
    let arrival = state.arrive(ReceivedRequest {
        seq: 0,
        mailbox: mailbox.clone(),
        authorization,
        app_id: match &token {
            TokenCheck::Valid(app) => Some(app.clone()),
            _ => None,
        },
        client_request_id: ctx.client_request_id.clone(),
        body: serde_json::Value::Null,
        body_bytes: 0,
        status: None,
        error_code: None,
        fate: Fate::InProgress,
        request_id: ctx.request_id.clone(),
        received_at: rfc3339_now(),
        draft: None,
    });

    let is_mime = header_str(&parts.headers, &header::CONTENT_TYPE).is_some_and(|c| c.starts_with("text/plain"));
    let (outcome, lose_answer) = match read_body(body, state.config.max_body_bytes).await {
        Ok(read) => {
            let mime = is_mime.then(|| super::mime::read(read.bytes.as_deref().unwrap_or_default()));
            let json = match &mime {
                Some(m) => m.as_ref().ok().cloned(),
                None => read.bytes.as_deref().and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok()),
            };
            let total = read.total;
            let kept = json.clone().unwrap_or(serde_json::Value::Null);
            arrival.note(|r| {
                r.body = kept;
                r.body_bytes = total;
            });
            decide_outcome(&state, &mailbox, &token, &read, json.as_ref(), mime.as_ref()).await
        }
        Err(err) => {
            tracing::info!(%mailbox, error = %err, "sendMail body could not be read");
            let err = GraphError::bad_request("RequestBodyRead", "The request body could not be read.");
            (Outcome::Refused(err), false)
        }
    };

    let (status, error_code, mut response) = match outcome {
        Outcome::Accepted => (Some(202), None, finish(&ctx, StatusCode::ACCEPTED.into_response())),
        Outcome::Refused(err) => (Some(err.status.as_u16()), err.logged_code(), err.into_response(&ctx)),
        Outcome::Dropped => (None, None, faults::dropped_response(&parts.extensions)),
    };
    let fate = if status.is_none() || lose_answer { Fate::Dropped } else { Fate::Answered };
    if lose_answer {
        response = faults::dropped_response(&parts.extensions);
    }
    tracing::info!(%mailbox, seq = arrival.seq(), status = ?status, error_code = ?error_code, ?fate, "sendMail");
    arrival.finish(|r| {
        r.status = status;
        r.error_code = error_code;
        r.fate = fate;
    });
    response
}
