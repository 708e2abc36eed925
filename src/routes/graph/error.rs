//! mailgate's errors in Graph's shape: `{"error": {"code", "message", "innerError": {...}}}`, so Graph SDKs
//! branch on the codes they already know.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;

/// Graph's code for one of mailgate's, and the status Graph would use.
fn graph_code(e: &ApiError) -> (StatusCode, &'static str) {
    let field = e.field.as_deref().unwrap_or("");
    match e.code {
        "policy_denied" => (StatusCode::FORBIDDEN, "ErrorAccessDenied"),
        "unauthorized" => (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
        "missing_role" | "unregistered_app" => (StatusCode::FORBIDDEN, "Authorization_RequestDenied"),
        "invalid_field"
            if field.contains("to")
                || field.contains("cc")
                || field.contains("Recipients")
                || field.contains("reply") =>
        {
            (StatusCode::BAD_REQUEST, "ErrorInvalidRecipients")
        }
        "invalid_field" if field.starts_with("headers") => (StatusCode::BAD_REQUEST, "InvalidInternetMessageHeader"),
        "invalid_field" | "malformed_json" | "unreadable_body" | "idempotency_key_reused" => {
            (StatusCode::BAD_REQUEST, "BadRequest")
        }
        "unsupported_media_type" => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType"),
        "body_too_large" | "message_too_large" => (StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge"),
        "quota_exceeded" => (StatusCode::TOO_MANY_REQUESTS, "ApplicationThrottled"),
        "unavailable" | "shutting_down" => (StatusCode::SERVICE_UNAVAILABLE, "ServiceNotAvailable"),
        "not_found" => (StatusCode::NOT_FOUND, "ResourceNotFound"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
    }
}

pub fn respond(e: ApiError, request_id: &str) -> Response {
    let (status, code) = graph_code(&e);
    // Graph's own words for a policy denial, so code written against Graph sees exactly what Graph would say;
    // mailgate's reason rides along in innerError.
    let message =
        if code == "ErrorAccessDenied" { "Access to OData is disabled.".to_owned() } else { e.detail.clone() };
    let date =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": request_id, "date": date, "mailgateCode": e.code, "mailgateDetail": e.detail},
        }
    });
    let mut response = (status, axum::Json(body)).into_response();
    for (name, value) in e.headers {
        if name == header::RETRY_AFTER || name == header::WWW_AUTHENTICATE {
            response.headers_mut().insert(name, value);
        }
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("request-id", id);
    }
    response
}
