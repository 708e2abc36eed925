//! How a draft leaves the Drafts folder: `POST .../messages/{id}/send` (202; the assembled message joins the
//! `received` log) or `DELETE .../messages/{id}` (204). Both check what every draft step checks (see `draft`).

use std::sync::Arc;

use axum::extract::{Path, Request, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::draft::{Decided, decide, step};
use super::faults;
use super::response::{ReqCtx, finish, header_str, rfc3339_now};
use super::state::{State, TokenCheck};
use super::types::{DraftStep, Fate, ReceivedRequest};

/// `POST .../messages/{id}/send`: 202, and the assembled message joins the `received` log (where the request is from
/// its arrival, as a sendMail is).
pub async fn send(
    AxState(state): AxState<Arc<State>>,
    Path((mailbox, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let ctx = ReqCtx::from_headers(request.headers());
    let (parts, body) = request.into_parts();
    let authorization = header_str(&parts.headers, &header::AUTHORIZATION);
    let token = state.tokens.check(authorization.as_deref());
    let arrival = state.arrive(ReceivedRequest {
        seq: 0,
        mailbox: mailbox.clone(),
        authorization: authorization.clone(),
        app_id: match &token {
            TokenCheck::Valid(app) => Some(app.clone()),
            _ => None,
        },
        client_request_id: ctx.client_request_id.clone(),
        body: Value::Null,
        body_bytes: 0,
        status: None,
        error_code: None,
        fate: Fate::InProgress,
        request_id: ctx.request_id.clone(),
        received_at: rfc3339_now(),
        draft: None,
    });
    let mut sent = None;
    let (decided, bytes, lose_answer) = decide(&state, &mailbox, &token, body, |_, _| {
        sent = Some(state.drafts.send(&mailbox, &id)?);
        Ok((StatusCode::ACCEPTED, None))
    })
    .await;
    let (status, error_code, mut response) = match decided {
        Decided::Answer(s, _) => (Some(s.as_u16()), None, finish(&ctx, s.into_response())),
        Decided::Refused(err) => (Some(err.status.as_u16()), err.logged_code(), err.into_response(&ctx)),
        Decided::Dropped => (None, None, faults::dropped_response(&parts.extensions)),
    };
    let fate = if status.is_none() || lose_answer { Fate::Dropped } else { Fate::Answered };
    if lose_answer {
        response = faults::dropped_response(&parts.extensions);
    }
    tracing::info!(%mailbox, seq = arrival.seq(), step = "send", status = ?status, error_code = ?error_code, ?fate, "draft step");
    state.drafts.log(DraftStep {
        step: "send".to_owned(),
        mailbox: mailbox.clone(),
        draft_id: Some(id.clone()),
        client_request_id: ctx.client_request_id.clone(),
        had_authorization: authorization.is_some(),
        content_range: None,
        body_bytes: bytes,
        status,
        error_code: error_code.clone(),
    });
    let (body, draft, body_bytes) = match sent {
        Some((message, record, total)) => (message, Some(record), total),
        None => (Value::Null, None, bytes),
    };
    arrival.finish(|r| {
        r.body = body;
        r.body_bytes = body_bytes;
        r.draft = draft;
        r.status = status;
        r.error_code = error_code;
        r.fate = fate;
    });
    response
}

/// `DELETE /v1.0/users/{mailbox}/messages/{id}`: the draft and its attachments are gone (204).
pub async fn delete(
    AxState(state): AxState<Arc<State>>,
    Path((mailbox, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (mb, draft) = (mailbox.clone(), id.clone());
    step(state, mailbox, "delete", Some(id), request, move |state, _, _| {
        state.drafts.delete(&mb, &draft)?;
        Ok((StatusCode::NO_CONTENT, None))
    })
    .await
}
