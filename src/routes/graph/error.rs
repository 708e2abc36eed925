//! mailgate's errors in Graph's shape: `{"error": {"code", "message", "innerError": {...}}}`, so Graph SDKs
//! branch on the codes they already know.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::error::ApiError;

/// Graph's error document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GraphError {
    pub error: GraphErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GraphErrorDetail {
    /// Graph's code; branch on this, never on `message`.
    pub code: String,
    pub message: String,
    /// `request-id` and `date` as Graph gives them, and mailgate's own `mailgateCode`, `mailgateDetail` and, when
    /// one field is at fault, `mailgateField`.
    #[serde(rename = "innerError")]
    #[schema(value_type = Object)]
    pub inner_error: serde_json::Value,
}

/// Whether a field names a recipient list, in mailgate's spelling (`to[0]`) or Graph's (`message.toRecipients[0]`).
fn recipient_field(field: &str) -> bool {
    let head = field.strip_prefix("message.").unwrap_or(field).split(['[', '.']).next().unwrap_or("");
    matches!(head, "to" | "cc" | "bcc" | "reply_to" | "toRecipients" | "ccRecipients" | "bccRecipients" | "replyTo")
}

/// Graph's code for one of mailgate's, and the status Graph would use.
fn graph_code(e: &ApiError) -> (StatusCode, &'static str) {
    let field = e.field.as_deref().unwrap_or("");
    match e.code {
        "policy_denied" => (StatusCode::FORBIDDEN, "ErrorAccessDenied"),
        "unauthorized" => (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
        "missing_role" | "unregistered_app" => (StatusCode::FORBIDDEN, "Authorization_RequestDenied"),
        "unknown_mailbox" => (StatusCode::NOT_FOUND, "ErrorInvalidUser"),
        "invalid_field" if recipient_field(field) => (StatusCode::BAD_REQUEST, "ErrorInvalidRecipients"),
        "invalid_field" if field.starts_with("headers") => (StatusCode::BAD_REQUEST, "InvalidInternetMessageHeader"),
        // Graph's answer to a body it cannot read, such as a property its type does not have.
        "unsupported_property" => (StatusCode::BAD_REQUEST, "RequestBodyRead"),
        "invalid_field" | "malformed_json" | "unreadable_body" | "idempotency_key_reused" => {
            (StatusCode::BAD_REQUEST, "BadRequest")
        }
        "unsupported_media_type" => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType"),
        "body_too_large" | "message_too_large" => (StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge"),
        "quota_exceeded" | "too_many_refusals" => (StatusCode::TOO_MANY_REQUESTS, "ApplicationThrottled"),
        // Graph's code for throttling that is not about one app's mailbox traffic.
        "too_many_auth_failures" => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
        "unavailable" | "shutting_down" | "overloaded" => (StatusCode::SERVICE_UNAVAILABLE, "ServiceNotAvailable"),
        "not_found" => (StatusCode::NOT_FOUND, "ResourceNotFound"),
        // A code added elsewhere keeps its status, under Graph's generic code for it.
        _ => by_status(e.status),
    }
}

/// Graph's generic codes, by status.
fn by_status(status: StatusCode) -> (StatusCode, &'static str) {
    let code = match status.as_u16() {
        400 | 422 => return (StatusCode::BAD_REQUEST, "invalidRequest"),
        401 => "unauthenticated",
        403 => "accessDenied",
        404 => "itemNotFound",
        405 => "notAllowed",
        408 | 504 => "timeout",
        413 => "RequestBodyTooLarge",
        429 => "activityLimitReached",
        503 => "serviceNotAvailable",
        s if (400..500).contains(&s) => "invalidRequest",
        _ => return (StatusCode::INTERNAL_SERVER_ERROR, "generalException"),
    };
    (status, code)
}

pub fn respond(e: ApiError, request_id: &str) -> Response {
    let (status, code) = graph_code(&e);
    // Graph's own words for a policy denial, so code written against Graph sees exactly what Graph would say;
    // mailgate's reason rides along in innerError.
    let message =
        if code == "ErrorAccessDenied" { "Access to OData is disabled.".to_owned() } else { e.detail.clone() };
    let date =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let mut inner = json!({"request-id": request_id, "date": date, "mailgateCode": e.code, "mailgateDetail": e.detail});
    if let Some(field) = &e.field {
        inner["mailgateField"] = json!(field);
    }
    let body = GraphError { error: GraphErrorDetail { code: code.to_owned(), message, inner_error: inner } };
    let mut response = (status, axum::Json(body)).into_response();
    for (name, value) in e.headers {
        if name == header::RETRY_AFTER || name == header::WWW_AUTHENTICATE || name == header::ALLOW {
            response.headers_mut().insert(name, value);
        }
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("request-id", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_fields_in_either_spelling() {
        for f in ["to[1]", "cc[0].address", "reply_to[0]", "message.toRecipients[0].emailAddress", "message.replyTo"] {
            assert!(recipient_field(f), "{f}");
        }
        for f in ["headers.x-token", "message.attachments[0].contentType", "subject", "message.from"] {
            assert!(!recipient_field(f), "{f}");
        }
    }

    #[test]
    fn a_code_without_a_graph_name_keeps_its_status() {
        let e = ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "slow");
        assert_eq!(graph_code(&e), (StatusCode::REQUEST_TIMEOUT, "timeout"));
        let e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "subject_too_long", "long");
        assert_eq!(graph_code(&e), (StatusCode::BAD_REQUEST, "invalidRequest"));
    }
}
