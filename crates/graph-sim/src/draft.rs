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
use super::props;
use super::response::{CLIENT_REQUEST_ID, GraphError, ReqCtx, finish, header_str};
use super::send_mail::{read_body, unreadable_json};
use super::state::{State, TokenCheck};
use super::types::DraftStep;
use super::validate::validate_send_mail;

/// Graph's largest attachment through an upload session.
pub const MAX_UPLOAD_BYTES: u64 = 150 * 1024 * 1024;

pub(super) enum Decided {
    Answer(StatusCode, Option<Value>),
    Refused(GraphError),
    Dropped,
}

impl From<Result<(StatusCode, Option<Value>), GraphError>> for Decided {
    fn from(r: Result<(StatusCode, Option<Value>), GraphError>) -> Self {
        r.map_or_else(Decided::Refused, |(s, v)| Decided::Answer(s, v))
    }
}

/// The shared checks, then `act` with the parsed JSON body (`Null` when the body is empty) and its size. The flag
/// says a `lose_answer` fault asks for the answer to be dropped once the step is done.
pub(super) async fn decide(
    state: &State,
    mailbox: &str,
    token: &TokenCheck,
    body: axum::body::Body,
    act: impl FnOnce(Value, usize) -> Result<(StatusCode, Option<Value>), GraphError>,
) -> (Decided, usize, bool) {
    let read = read_body(body, state.config.max_body_bytes).await;
    let total = read.as_ref().map_or(0, |r| r.total);
    if let Err(err) = gate::token(token) {
        return (Decided::Refused(err), total, false);
    }
    let lose_answer = match faults::apply(state.next_fault(mailbox)).await {
        FaultOutcome::Continue => false,
        FaultOutcome::LoseAnswer => true,
        FaultOutcome::Respond(err) => return (Decided::Refused(err), total, false),
        FaultOutcome::Drop => return (Decided::Dropped, total, false),
    };
    let (decided, total) = checked(state, mailbox, token, read, total, act);
    (decided, total, lose_answer)
}

fn checked(
    state: &State,
    mailbox: &str,
    token: &TokenCheck,
    read: Result<super::send_mail::ReadBody, axum::Error>,
    total: usize,
    act: impl FnOnce(Value, usize) -> Result<(StatusCode, Option<Value>), GraphError>,
) -> (Decided, usize) {
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
pub(super) async fn step(
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
    let token = state.tokens.check(authorization.as_deref());
    let (decided, body_bytes, lose_answer) =
        decide(&state, &mailbox, &token, body, |json, n| act(&state, json, n)).await;
    let (status, error_code, mut response) = match decided {
        Decided::Answer(status, body) => {
            let response = match body {
                Some(body) => (status, axum::Json(body)).into_response(),
                None => status.into_response(),
            };
            (Some(status.as_u16()), None, finish(&ctx, response))
        }
        Decided::Refused(err) => (Some(err.status.as_u16()), err.logged_code(), err.into_response(&ctx)),
        Decided::Dropped => (None, None, faults::dropped_response(&parts.extensions)),
    };
    if lose_answer {
        response = faults::dropped_response(&parts.extensions);
    }
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
    let crid = header_str(request.headers(), &CLIENT_REQUEST_ID);
    step(state, mailbox, "create", None, request, move |state, json, bytes| {
        if !json.is_object() {
            return Err(GraphError::bad_request("RequestBodyRead", "The request body must be a JSON object."));
        }
        // Exchange checks recipients and headers when the draft is sent; checking now reports the same errors.
        validate_send_mail(&json!({ "message": json }))?;
        let id = state.drafts.create(&mb, crid, json.clone(), bytes)?;
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
        let Some(attachment) = json.as_object() else {
            return Err(GraphError::bad_request("RequestBodyRead", "The request body must be a JSON object."));
        };
        props::check_attachment(attachment)?;
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
fn check_item(item: &serde_json::Map<String, Value>, min: u64) -> Result<u64, GraphError> {
    props::check_attachment_item(item)?;
    let field = |name: &str| props::get(item, name);
    if !field("attachmentType").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("file")) {
        return Err(item_error("AttachmentItem.attachmentType must be 'file'."));
    }
    if field("name").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(item_error("AttachmentItem.name is required."));
    }
    let size = field("size").and_then(Value::as_u64).ok_or_else(|| item_error("AttachmentItem.size is required."))?;
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
        let params = json.as_object().ok_or_else(|| item_error("AttachmentItem is required."))?;
        props::check_params(params, "createUploadSession", props::CREATE_UPLOAD_SESSION)?;
        let item = props::get(params, "AttachmentItem")
            .and_then(Value::as_object)
            .ok_or_else(|| item_error("AttachmentItem is required."))?;
        let size = check_item(item, state.config.min_upload_session_bytes)?;
        let (session, secret) = state.drafts.open_session(&mb, &draft, item, size)?;
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
