//! The draft path for messages too large for one sendMail:
//! - `POST /v1.0/users/{mailbox}/messages` creates a draft (201 with its `id`);
//! - `POST .../messages/{id}/attachments` adds a small `fileAttachment` (201);
//! - `POST .../messages/{id}/attachments/createUploadSession` opens an upload session (201 with `uploadUrl`);
//! - `POST .../messages/{id}/send` sends the draft (202) and records it in the `received` log.
//!
//! Each checks, in order: bearer token (401), the mailbox's next scripted fault, body size (413), JSON (400),
//! mailbox directory (404) and application access policies (403), then the step's own rules.

use std::sync::Arc;

use axum::extract::{Path, Request, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::faults::{self, FaultOutcome};
use super::gate;
use super::response::{GraphError, ReqCtx, finish, header_str, rfc3339_now};
use super::send_mail::{read_body, unreadable_json};
use super::state::{State, TokenCheck};
use super::types::{DraftStep, ReceivedRequest};
use super::validate::validate_send_mail;

/// Graph's largest attachment through an upload session.
pub const MAX_UPLOAD_BYTES: u64 = 150 * 1024 * 1024;

enum Decided {
    Answer(StatusCode, Option<Value>),
    Refused(GraphError),
    Dropped,
}

impl From<Result<(StatusCode, Option<Value>), GraphError>> for Decided {
    fn from(r: Result<(StatusCode, Option<Value>), GraphError>) -> Self {
        r.map_or_else(Decided::Refused, |(s, v)| Decided::Answer(s, v))
    }
}

/// The shared checks, then `act` with the parsed JSON body (`Null` when the body is empty) and its size.
async fn decide(
    state: &State,
    mailbox: &str,
    token: &TokenCheck,
    body: axum::body::Body,
    act: impl FnOnce(Value, usize) -> Result<(StatusCode, Option<Value>), GraphError>,
) -> (Decided, usize) {
    let read = read_body(body, state.config.max_body_bytes).await;
    let total = read.as_ref().map_or(0, |r| r.total);
    if let Err(err) = gate::token(token) {
        return (Decided::Refused(err), total);
    }
    match faults::apply(state.next_fault(mailbox)).await {
        FaultOutcome::Continue => {}
        FaultOutcome::Respond(err) => return (Decided::Refused(err), total),
        FaultOutcome::Drop => return (Decided::Dropped, total),
    }
    let Ok(read) = read else {
        return (
            Decided::Refused(GraphError::bad_request("RequestBodyRead", "The request body could not be read.")),
            0,
        );
    };
    let Some(bytes) = read.bytes else {
        return (Decided::Refused(gate::too_large()), total);
    };
    let json = if bytes.is_empty() { Ok(Value::Null) } else { serde_json::from_slice(&bytes) };
    let Ok(json) = json else {
        return (Decided::Refused(unreadable_json()), total);
    };
    if let Err(err) = gate::mailbox(state, mailbox, token) {
        return (Decided::Refused(err), total);
    }
    (act(json, total).into(), total)
}

/// Run one step: track it, decide, answer, and log it among the draft steps.
async fn step(
    state: Arc<State>,
    mailbox: String,
    name: &str,
    draft_id: Option<String>,
    request: Request,
    act: impl FnOnce(&State, Value, usize) -> Result<(StatusCode, Option<Value>), GraphError>,
) -> Response {
    let ctx = ReqCtx::from_headers(request.headers());
    let _in_flight = state.enter_draft_step(&mailbox);
    let (parts, body) = request.into_parts();
    let authorization = header_str(&parts.headers, &header::AUTHORIZATION);
    let token = state.check_token(authorization.as_deref());
    let (decided, body_bytes) = decide(&state, &mailbox, &token, body, |json, n| act(&state, json, n)).await;
    let (status, error_code, response) = match decided {
        Decided::Answer(status, body) => {
            let response = match body {
                Some(body) => (status, axum::Json(body)).into_response(),
                None => status.into_response(),
            };
            (Some(status.as_u16()), None, finish(&ctx, response))
        }
        Decided::Refused(err) => (Some(err.status.as_u16()), Some(err.code.clone()), err.into_response(&ctx)),
        Decided::Dropped => (None, None, faults::dropped_response(&parts.extensions)),
    };
    tracing::info!(%mailbox, step = name, status = ?status, error_code = ?error_code, "draft step");
    state.drafts.log(DraftStep {
        step: name.to_owned(),
        mailbox,
        draft_id,
        client_request_id: ctx.client_request_id.clone(),
        had_authorization: authorization.is_some(),
        content_range: None,
        body_bytes,
        status,
        error_code,
    });
    response
}

/// `POST /v1.0/users/{mailbox}/messages`: the body is a Graph `message`.
pub async fn create(AxState(state): AxState<Arc<State>>, Path(mailbox): Path<String>, request: Request) -> Response {
    let mb = mailbox.clone();
    step(state, mailbox, "create", None, request, move |state, json, bytes| {
        if !json.is_object() {
            return Err(GraphError::bad_request("RequestBodyRead", "The request body must be a JSON object."));
        }
        // Exchange checks recipients and headers when the draft is sent; checking now reports the same errors.
        validate_send_mail(&json!({ "message": json }))?;
        let id = state.drafts.create(&mb, json.clone(), bytes)?;
        let mut shown = json;
        shown["id"] = json!(id);
        shown["isDraft"] = json!(true);
        Ok((StatusCode::CREATED, Some(shown)))
    })
    .await
}

/// `POST .../messages/{id}/attachments` with a `#microsoft.graph.fileAttachment`.
pub async fn attach(
    AxState(state): AxState<Arc<State>>,
    Path((mailbox, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (mb, draft) = (mailbox.clone(), id.clone());
    step(state, mailbox, "attach", Some(id), request, move |state, json, bytes| {
        let attachment_id = state.drafts.attach(&mb, &draft, json.clone(), bytes)?;
        let mut shown = json;
        shown["id"] = json!(attachment_id);
        if let Some(o) = shown.as_object_mut() {
            o.remove("contentBytes");
        }
        Ok((StatusCode::CREATED, Some(shown)))
    })
    .await
}

fn item_error(message: &str) -> GraphError {
    GraphError::bad_request("ErrorInvalidRequest", message)
}

/// Check an `AttachmentItem`; returns its size.
fn check_item(item: &Value, min: u64) -> Result<u64, GraphError> {
    if item.get("attachmentType").and_then(Value::as_str) != Some("file") {
        return Err(item_error("AttachmentItem.attachmentType must be 'file'."));
    }
    if item.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(item_error("AttachmentItem.name is required."));
    }
    let size =
        item.get("size").and_then(Value::as_u64).ok_or_else(|| item_error("AttachmentItem.size is required."))?;
    if size > MAX_UPLOAD_BYTES {
        return Err(GraphError::bad_request(
            "ErrorAttachmentSizeShouldNotBeGreaterThanMaximumSize",
            "The attachment size exceeds the maximum of 150 MB.",
        ));
    }
    if size < min {
        return Err(GraphError::bad_request(
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "The attachment size is less than the minimum size for an upload session.",
        ));
    }
    Ok(size)
}

/// `POST .../messages/{id}/attachments/createUploadSession` with `{"AttachmentItem": {...}}`.
pub async fn create_session(
    AxState(state): AxState<Arc<State>>,
    Path((mailbox, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let base = header_str(request.headers(), &header::HOST).map_or_else(String::new, |h| format!("http://{h}"));
    let (mb, draft) = (mailbox.clone(), id.clone());
    step(state, mailbox, "session", Some(id), request, move |state, json, _| {
        let item = json.get("AttachmentItem").ok_or_else(|| item_error("AttachmentItem is required."))?;
        let size = check_item(item, state.config.min_upload_session_bytes)?;
        let (session, secret) = state.drafts.open_session(&mb, &draft, item.clone(), size)?;
        let expires = (OffsetDateTime::now_utc() + time::Duration::hours(24)).format(&Rfc3339).unwrap_or_default();
        let body = json!({
            "uploadUrl": format!("{base}/upload/{session}?token={secret}"),
            "expirationDateTime": expires,
            "nextExpectedRanges": ["0-"],
        });
        Ok((StatusCode::CREATED, Some(body)))
    })
    .await
}

/// `POST .../messages/{id}/send`: 202, and the assembled message joins the `received` log.
pub async fn send(
    AxState(state): AxState<Arc<State>>,
    Path((mailbox, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let ctx = ReqCtx::from_headers(request.headers());
    let (seq, _in_flight) = state.enter_send(&mailbox);
    let received_at = rfc3339_now();
    let (parts, body) = request.into_parts();
    let authorization = header_str(&parts.headers, &header::AUTHORIZATION);
    let token = state.check_token(authorization.as_deref());
    let mut sent = None;
    let (decided, bytes) = decide(&state, &mailbox, &token, body, |_, _| {
        sent = Some(state.drafts.send(&mailbox, &id)?);
        Ok((StatusCode::ACCEPTED, None))
    })
    .await;
    let (status, error_code, response) = match decided {
        Decided::Answer(s, _) => (Some(s.as_u16()), None, finish(&ctx, s.into_response())),
        Decided::Refused(err) => (Some(err.status.as_u16()), Some(err.code.clone()), err.into_response(&ctx)),
        Decided::Dropped => (None, None, faults::dropped_response(&parts.extensions)),
    };
    tracing::info!(%mailbox, seq, step = "send", status = ?status, error_code = ?error_code, "draft step");
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
    state.record(ReceivedRequest {
        seq,
        mailbox,
        authorization,
        app_id: match token {
            TokenCheck::Valid(app) => Some(app),
            _ => None,
        },
        client_request_id: ctx.client_request_id.clone(),
        body,
        body_bytes,
        status,
        error_code,
        request_id: ctx.request_id.clone(),
        received_at,
        draft,
    });
    response
}
