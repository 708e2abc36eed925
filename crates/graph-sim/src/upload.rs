//! `PUT /upload/{session}?token=...`: the pre-authenticated upload URL of an attachment upload session.
//!
//! Checks, in order: the session exists (404), no `Authorization` header (401: a client that sends its bearer
//! token here leaks it to a URL that does not need it), the `token` query value (401), the session mailbox's next
//! scripted fault, `Content-Range: bytes s-e/total` (400), the chunk at most 4 MiB (413), the total equal to
//! the session's size (400), the range starting where the last one ended (416), the body as long as the range
//! (400). Then 200 with `nextExpectedRanges`, or 201 once the last byte is in.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::draft_store::Progress;
use super::faults::{self, FaultOutcome};
use super::gate;
use super::response::{GraphError, ReqCtx, finish, header_str};
use super::send_mail::read_body;
use super::state::State;
use super::types::DraftStep;

/// Graph's largest chunk per `PUT`.
pub const MAX_CHUNK_BYTES: usize = 4 * 1024 * 1024;

fn bad_range(message: &str) -> GraphError {
    GraphError::bad_request("InvalidContentRange", message)
}

/// `bytes s-e/total` → `(s, e, total)`, with `s <= e < total`.
pub fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end, total) = (start.trim().parse().ok()?, end.trim().parse().ok()?, total.trim().parse().ok()?);
    (start <= end && end < total).then_some((start, end, total))
}

enum Decided {
    Progress(Progress),
    Refused(GraphError),
    Dropped,
}

async fn decide(
    state: &State,
    session: &str,
    mailbox: &str,
    parts: &axum::http::request::Parts,
    query: &HashMap<String, String>,
    body: axum::body::Body,
) -> (Decided, usize, bool) {
    // Read the whole chunk before answering anything: an early answer while the client is still writing
    // makes it see a reset connection instead of the answer, which real Graph does not do.
    let read = match read_body(body, MAX_CHUNK_BYTES).await {
        Ok(read) => read,
        Err(_) => return (Decided::Refused(GraphError::bad_request("RequestBodyRead", "Unreadable body.")), 0, false),
    };
    if parts.headers.contains_key(header::AUTHORIZATION) {
        let m = "The upload URL is pre-authenticated; an Authorization header is not accepted.";
        return (
            Decided::Refused(GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m)),
            read.total,
            false,
        );
    }
    let lose_answer = match faults::apply(state.next_fault(mailbox)).await {
        FaultOutcome::Continue => false,
        FaultOutcome::LoseAnswer => true,
        FaultOutcome::Respond(err) => return (Decided::Refused(err), read.total, false),
        FaultOutcome::Drop => return (Decided::Dropped, read.total, false),
    };
    let (decided, total) = take(state, session, parts, query, read);
    (decided, total, lose_answer)
}

fn take(
    state: &State,
    session: &str,
    parts: &axum::http::request::Parts,
    query: &HashMap<String, String>,
    read: super::send_mail::ReadBody,
) -> (Decided, usize) {
    let range = header_str(&parts.headers, &header::CONTENT_RANGE);
    let Some((start, end, total)) = range.as_deref().and_then(parse_content_range) else {
        return (Decided::Refused(bad_range("Content-Range must be 'bytes start-end/total'.")), 0);
    };
    if end - start + 1 > MAX_CHUNK_BYTES as u64 {
        return (Decided::Refused(gate::too_large()), read.total);
    }
    let Some(bytes) = read.bytes else {
        return (Decided::Refused(gate::too_large()), read.total);
    };
    let secret = query.get("token").map(String::as_str);
    match state.drafts.upload(session, secret, (start, end, total), &bytes) {
        Ok(progress) => (Decided::Progress(progress), read.total),
        Err(err) => (Decided::Refused(err), read.total),
    }
}

pub async fn put(
    AxState(state): AxState<Arc<State>>,
    Path(session): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let ctx = ReqCtx::from_headers(request.headers());
    let Some(mailbox) = state.drafts.session_mailbox(&session) else {
        let err = GraphError::new(StatusCode::NOT_FOUND, "ErrorItemNotFound", "The upload session was not found.");
        return err.into_response(&ctx);
    };
    let _in_flight = state.enter_draft_step(&mailbox);
    let (parts, body) = request.into_parts();
    let (decided, body_bytes, lose_answer) = decide(&state, &session, &mailbox, &parts, &query, body).await;
    let (status, error_code, mut response) = match decided {
        Decided::Progress(Progress::Next(next)) => {
            let body = json!({ "nextExpectedRanges": [format!("{next}-")] });
            (Some(200), None, finish(&ctx, (StatusCode::OK, axum::Json(body)).into_response()))
        }
        Decided::Progress(Progress::Complete) => {
            let mut response = StatusCode::CREATED.into_response();
            let location = format!("/attachments/{session}");
            if let Ok(v) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            (Some(201), None, finish(&ctx, response))
        }
        Decided::Refused(err) => (Some(err.status.as_u16()), err.logged_code(), err.into_response(&ctx)),
        Decided::Dropped => (None, None, faults::dropped_response(&parts.extensions)),
    };
    if lose_answer {
        response = faults::dropped_response(&parts.extensions);
    }
    tracing::info!(%mailbox, step = "upload", status = ?status, error_code = ?error_code, "draft step");
    state.drafts.log(DraftStep {
        step: "upload".to_owned(),
        mailbox,
        draft_id: None,
        client_request_id: ctx.client_request_id.clone(),
        had_authorization: parts.headers.contains_key(header::AUTHORIZATION),
        content_range: header_str(&parts.headers, &header::CONTENT_RANGE),
        body_bytes,
        status,
        error_code,
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 0-9/10"), Some((0, 9, 10)));
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("bytes 0-10/10"), None);
        assert_eq!(parse_content_range("0-9/10"), None);
        assert_eq!(parse_content_range("bytes 0-/10"), None);
    }
}
