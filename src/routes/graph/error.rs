//! mailgate's errors in Graph's shape: `{"error": {"code", "message", "innerError": {...}}}`, so Graph SDKs
//! branch on the codes they already know.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::error::{ApiError, ErrorCode, GraphCode};

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
    in_graph(e.code, e.status, e.field.as_deref())
}

/// Graph's code for `code` answered with `status`, `field` at fault: as each code declares it (src/error/code.rs).
pub(crate) fn in_graph(code: ErrorCode, status: StatusCode, field: Option<&str>) -> (StatusCode, &'static str) {
    let field = field.unwrap_or("");
    match code.graph() {
        GraphCode::Is(status, code) => (status, code),
        GraphCode::ByField if recipient_field(field) => (StatusCode::BAD_REQUEST, "ErrorInvalidRecipients"),
        GraphCode::ByField if field.starts_with("headers") => (StatusCode::BAD_REQUEST, "InvalidInternetMessageHeader"),
        GraphCode::ByField => (StatusCode::BAD_REQUEST, "BadRequest"),
        GraphCode::ByStatus => by_status(status),
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
    let mut inner =
        json!({"request-id": request_id, "date": date, "mailgateCode": e.code.as_str(), "mailgateDetail": e.detail});
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
    fn a_code_graph_has_no_name_for_keeps_its_status() {
        let e = ApiError::framework(StatusCode::REQUEST_TIMEOUT, "slow");
        assert_eq!(graph_code(&e), (StatusCode::REQUEST_TIMEOUT, "timeout"));
        let e = ApiError::framework(StatusCode::UNPROCESSABLE_ENTITY, "long");
        assert_eq!(graph_code(&e), (StatusCode::BAD_REQUEST, "invalidRequest"));
        assert_eq!(graph_code(&ApiError::opaque()), (StatusCode::INTERNAL_SERVER_ERROR, "generalException"));
    }

    #[test]
    fn an_invalid_field_is_named_by_the_field() {
        let named = |field: &str| graph_code(&ApiError::invalid(field, "bad")).1;
        assert_eq!(named("message.toRecipients[0]"), "ErrorInvalidRecipients");
        assert_eq!(named("headers.x-a"), "InvalidInternetMessageHeader");
        assert_eq!(named("subject"), "BadRequest");
    }
}
