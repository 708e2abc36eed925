//! The one error type at the HTTP edge: RFC 9457 problem+json with a stable `code` (declared in `code.rs`).
//! Anything unexpected becomes an opaque 500 and is logged once, with its chain of causes, inside the request's span.

mod code;
#[cfg(test)]
mod docs;

use std::error::Error;
use std::fmt::Display;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

pub use code::{ErrorCode, GraphCode};

use crate::domain::DomainError;

/// What a caller is told about a fault in mailgate: nothing of its cause.
const INTERNAL_DETAIL: &str = "an internal error occurred; it has been logged";

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
    /// The code's own status, except for the framework's rejections (`ApiError::framework`).
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub field: Option<String>,
    // Boxed: rarely present, and it keeps `Result<_, ApiError>` small.
    pub extra: Option<Box<serde_json::Map<String, Value>>>,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { status: code.status(), code, detail: detail.into(), field: None, extra: None, headers: Vec::new() }
    }

    /// A rejection of the HTTP framework's own (answered in plain text) as a problem. Its status is kept as the
    /// framework chose it, the one case where an answer's status is not its code's: `bad_request` stands for every
    /// 4xx without a code of its own, `internal` for every 5xx.
    pub fn framework(status: StatusCode, detail: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            s if s.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::BadRequest,
        };
        Self { status, ..Self::new(code, detail) }
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
        Self::new(ErrorCode::InvalidField, detail).field(field)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
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
        Self::new(ErrorCode::Unauthorized, detail).header(header::WWW_AUTHENTICATE, value)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, detail).header(header::RETRY_AFTER, HeaderValue::from_static("5"))
    }

    /// A fault described in words (an invariant that does not hold): logged here, the caller sees an opaque 500.
    pub fn internal(what: impl Display) -> Self {
        tracing::error!(error = %what, "internal error");
        Self::opaque()
    }

    /// A fault with an error behind it: logged here with its whole chain of causes, the caller sees an opaque 500.
    pub fn fault(cause: &(dyn Error + 'static)) -> Self {
        tracing::error!(error = %chain(cause), "internal error");
        Self::opaque()
    }

    /// The answer to a fault, which says nothing of its cause.
    pub fn opaque() -> Self {
        Self::new(ErrorCode::Internal, INTERNAL_DETAIL)
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
                ApiError::new(ErrorCode::UnsupportedProperty, detail).field(field)
            }
            DomainError::MessageTooLarge { field, detail } => {
                ApiError::new(ErrorCode::MessageTooLarge, detail).field(field)
            }
            DomainError::Internal(cause) => ApiError::fault(cause.as_ref()),
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
            ApiError::fault(err)
        }
    }
}

/// An error and its causes, outermost first: `building MIME: invalid header: …`.
fn chain(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let said = e.to_string();
        // Many errors repeat their cause in their own message (sqlx's `error communicating with database: …`).
        if !text.ends_with(&said) {
            text = format!("{text}: {said}");
        }
        cause = e.source();
    }
    text
}

impl ApiError {
    /// The problem document this error answers with.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:mailgate:problem:{}", self.code.as_str()),
            title: self.title(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
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
            assert_eq!((e.status, e.code.as_str(), e.field.as_deref()), (status, code, field));
            if e.code == ErrorCode::Internal {
                // The cause is logged, never shown.
                assert!(!e.detail.contains("MIME"), "{}", e.detail);
            } else {
                assert_eq!(e.detail, detail);
            }
        }
    }

    #[test]
    fn a_fault_is_logged_with_each_cause_once() {
        let io = std::io::Error::other("connection reset");
        let cause = anyhow::Error::new(io).context("reading the outbox").context("claiming a batch");
        assert_eq!(chain(cause.as_ref()), "claiming a batch: reading the outbox: connection reset");
        // sqlx says its cause in its own message; it is not said twice.
        let sqlx = sqlx::Error::Io(std::io::Error::other("broken pipe"));
        assert_eq!(chain(&sqlx), sqlx.to_string());
    }

    #[test]
    fn the_framework_keeps_its_status_under_a_code_by_status() {
        let cases = [
            (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed),
            (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BodyTooLarge),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType),
            (StatusCode::LENGTH_REQUIRED, ErrorCode::BadRequest),
            (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            (StatusCode::BAD_GATEWAY, ErrorCode::Internal),
        ];
        for (status, code) in cases {
            let e = ApiError::framework(status, "said");
            assert_eq!((e.status, e.code), (status, code));
            assert_eq!(e.problem().title, status.canonical_reason().unwrap_or_default());
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
