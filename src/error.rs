//! The one error type at the HTTP edge: RFC 9457 problem+json with a stable `code`.
//! Anything unexpected becomes an opaque 500 and is logged once, inside the request's span.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::domain::DomainError;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `urn:mailgate:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable code; branch on this, never on `detail`.
    pub code: String,
    /// The request field at fault (a JSON path such as `to[2].address`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Further facts, such as the policy that denied a send.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    #[schema(value_type = Object)]
    pub extra: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    // Boxed: rarely present, and it keeps `Result<_, ApiError>` small.
    pub extra: Option<Box<serde_json::Map<String, Value>>>,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), field: None, extra: None, headers: Vec::new() }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn extra(mut self, extra: serde_json::Map<String, Value>) -> Self {
        self.extra = Some(Box::new(extra));
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", detail).field(field)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        // The description is ours, never an echo of the credential.
        let challenge = format!(
            "Bearer realm=\"mailgate\", error=\"invalid_token\", error_description=\"{}\"",
            detail.replace('"', "'")
        );
        let value =
            HeaderValue::from_str(&challenge).unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"mailgate\""));
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).header(header::WWW_AUTHENTICATE, value)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            .header(header::RETRY_AFTER, HeaderValue::from_static("5"))
    }

    /// An unexpected fault: the cause is logged here, the caller sees an opaque 500.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it has been logged")
    }

    fn title(&self) -> String {
        self.status.canonical_reason().unwrap_or("Error").to_owned()
    }
}

/// The one place a refusal from `domain` gets its status and code.
impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::InvalidField { field, detail } => ApiError::invalid(field, detail),
            DomainError::UnsupportedProperty { field, detail } => {
                ApiError::new(StatusCode::BAD_REQUEST, "unsupported_property", detail).field(field)
            }
            DomainError::MessageTooLarge { field, detail } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "message_too_large", detail).field(field)
            }
            DomainError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Self::store(&err)
    }
}

impl ApiError {
    /// A database error: a store we cannot reach is a 503 the caller may retry; anything else is a bug.
    pub fn store(err: &sqlx::Error) -> Self {
        if store_unavailable(err) {
            tracing::warn!(error = %err, "database unavailable");
            ApiError::unavailable("the message store is unavailable; retry later")
        } else {
            ApiError::internal(err)
        }
    }
}

impl ApiError {
    /// The problem document this error answers with.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:mailgate:problem:{}", self.code),
            title: self.title(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            field: self.field.clone(),
            extra: self.extra.clone().map(|b| *b),
        }
    }
}

/// Whether the store is unreachable or going away (a restart, a failover), rather than the query being wrong.
fn store_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        // A server shutting down ends its sessions with an error (57P01 on a fast shutdown) before the socket closes.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_sqlstate(&code)),
        _ => false,
    }
}

/// SQLSTATE class 08 (connection exception) and 57P (the server shutting down, crashed, or not yet accepting).
pub(crate) fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_domain_refusal_keeps_its_status_code_and_field() {
        let cases = [
            (DomainError::invalid("to[1]", "bad"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", Some("to[1]")),
            (
                DomainError::unsupported("message.x", "no"),
                StatusCode::BAD_REQUEST,
                "unsupported_property",
                Some("message.x"),
            ),
            (DomainError::too_large("text", "big"), StatusCode::PAYLOAD_TOO_LARGE, "message_too_large", Some("text")),
            (DomainError::internal("building MIME: x"), StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        ];
        for (domain, status, code, field) in cases {
            let detail = domain.to_string();
            let e = ApiError::from(domain);
            assert_eq!((e.status, e.code, e.field.as_deref()), (status, code, field));
            if code == "internal" {
                // The cause is logged, never shown.
                assert!(!e.detail.contains("MIME"), "{}", e.detail);
            } else {
                assert_eq!(e.detail, detail);
            }
        }
    }

    #[test]
    fn shutdown_and_connection_sqlstates_mean_unavailable() {
        for code in ["57P01", "57P02", "57P03", "08006", "08001", "08003"] {
            assert!(unavailable_sqlstate(code), "{code}");
        }
        // A cancelled statement, a unique violation, a syntax error: not an outage.
        for code in ["57014", "23505", "42601"] {
            assert!(!unavailable_sqlstate(code), "{code}");
        }
    }
}
