//! The Graph-shaped send.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::GraphError;
use super::send_as;
use crate::accept::{Accepted, accept};
use crate::auth::Caller;
use crate::domain::Mailbox;
use crate::domain::graph_request::to_send_request;
use crate::error::{ApiError, ErrorCode};
use crate::routes::json_body;
use crate::routes::messages::idempotent;
use crate::routes::request_id::RequestId;
use crate::state::AppState;

/// Graph's `sendMail`, through mailgate's allowlist and outbox. 202 with an empty body, as Graph answers;
/// `Location` names mailgate's record of the message. Only what mailgate validated reaches Graph: a message
/// property it does not model is refused, and `from` or `sender` naming another mailbox must be allowed too.
#[utoipa::path(
    post, path = "/v1.0/users/{mailbox}/sendMail", tag = "graph",
    params(
        ("mailbox" = inline(crate::domain::graph_request::schema::PathMailbox), Path, description = "The mailbox to send as: any of its addresses, its user principal name or its object id (percent-encoded or not)"),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$", description = "As on /v1/messages; the request it stands for is the body and the path's mailbox; 1-255 visible ASCII characters"),
    ),
    request_body(content = crate::domain::graph_request::schema::GraphSendMail, description = "Graph's body: `{\"message\": {...}, \"saveToSentItems\": bool}`; property names in any letter case, `@odata.*` annotations allowed"),
    responses(
        (status = 202, description = "Stored durably and queued"),
        (status = 400, body = GraphError, description = "ErrorInvalidRecipients, InvalidInternetMessageHeader, RequestBodyRead (a property mailgate does not forward), BadRequest"),
        (status = 401, body = GraphError, description = "InvalidAuthenticationToken"),
        (status = 403, body = GraphError, description = "ErrorAccessDenied (\"Access to OData is disabled.\") when the allowlist denies the path's mailbox, or `from`/`sender` names another mailbox it denies; Authorization_RequestDenied without the Mail.Send role"),
        (status = 404, body = GraphError, description = "ErrorInvalidUser: the mailbox is not in the directory"),
        (status = 413, body = GraphError, description = "RequestBodyTooLarge"),
        (status = 415, body = GraphError, description = "UnsupportedMediaType: the body is not JSON"),
        (status = 429, body = GraphError, headers(("Retry-After" = String, description = "Seconds to wait")), description = "ApplicationThrottled: over the app's quota, or refused more often than its refusal budget allows (`innerError.mailgateCode` `too_many_refusals`); TooManyRequests: too many failed authentications from this source; `Retry-After` says when"),
        (status = 503, body = GraphError, description = "ServiceNotAvailable: the message could not be stored, or this instance holds as many request bodies as it may (`overloaded`); `Retry-After` says when"),
    )
)]
pub async fn send_mail(
    State(state): State<AppState>,
    caller: Caller,
    Path(mailbox): Path<String>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle(&state, &caller, &mailbox, &headers, body, &request_id).await {
        Ok(response) => response,
        Err(e) => super::error::respond(e, &request_id),
    }
}

async fn handle(
    state: &AppState,
    caller: &Caller,
    mailbox: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    request_id: &str,
) -> Result<Response, ApiError> {
    let bytes = json_body::read(headers, body)?;
    // The path arrives percent-decoded: `notifications%40contoso.test` is `notifications@contoso.test`.
    let path_mailbox = Mailbox::parse(mailbox.trim())
        .map_err(|e| ApiError::invalid("mailbox", format!("the mailbox in the path: {e}")))?;
    // Resolved before validation, as on /v1/messages, so the message names the mailbox as Graph is called with it.
    let snapshot = state.policy.get_for_app(&state.pool, caller.app_id).await?;
    let identity = snapshot.directory.identify(&path_mailbox.key());
    let sender = identity.entry.map_or_else(|| path_mailbox.key(), |r| r.address.clone());
    let names = identity.names;
    // The body is fingerprinted, decoded and let go before anything else is built from it, and its large strings
    // move from the decoded body into the message: a large body is held once, not three times.
    let key = idempotent::key_for_mailbox(headers, &names, &bytes)?;
    let graph_body: Value = json_body::decode(&bytes)?;
    drop(bytes);
    let mut graph = to_send_request(&sender, graph_body)?;
    let claimed = std::mem::take(&mut graph.send_as);
    let mut message = graph.validate(state.settings.message_limits())?;
    message.origin.channel = crate::domain::channel::Channel::Graph;
    send_as::check(state, &snapshot, caller, &names, &claimed, request_id).await?;
    let id = match accept(&state.accepting(), &snapshot, caller, message, key.as_ref(), request_id, None).await? {
        Accepted::Queued { message, .. } => message.id,
        Accepted::Replay(stored) => {
            let key = key.as_ref().ok_or_else(|| ApiError::internal("replay without a key"))?;
            // The original refusal's own code, so Graph's words for it come back the same (403 or 404).
            let refused = stored.response.as_ref().and_then(|r| r.get("code")).and_then(serde_json::Value::as_str);
            let code = match refused.and_then(ErrorCode::from_wire) {
                Some(ErrorCode::UnknownMailbox) => ErrorCode::UnknownMailbox,
                _ => ErrorCode::PolicyDenied,
            };
            let replayed = idempotent::replay(stored, key)?;
            if !replayed.status().is_success() {
                // The original was a denial: say it again in Graph's words.
                return Err(ApiError::new(code, "denied by the allowlist (replayed)"));
            }
            return Ok(replayed_empty(replayed));
        }
    };
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/messages/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if let Some(client) = headers.get("client-request-id") {
        response.headers_mut().insert("client-request-id", client.clone());
    }
    Ok(response)
}

/// Graph's 202 has no body; keep the replay's headers.
fn replayed_empty(replayed: Response) -> Response {
    let (parts, _) = replayed.into_parts();
    let mut response = StatusCode::ACCEPTED.into_response();
    for name in [header::LOCATION.as_str(), "idempotency-replayed"] {
        if let Some(v) = parts.headers.get(name) {
            response.headers_mut().insert(name, v.clone());
        }
    }
    response
}
