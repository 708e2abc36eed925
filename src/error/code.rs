//! Every `code` mailgate answers with, declared once: its wire spelling, its HTTP status, its meaning (the doc
//! comment, which docs/errors.md is generated from) and how the Graph-shaped endpoint says it. A code is a variant,
//! so a misspelt one does not compile and every match over codes names each of them.

use axum::http::StatusCode;

/// How the Graph-shaped endpoint (`/v1.0/…`) names a code: Graph SDKs branch on Graph's codes, not on mailgate's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphCode {
    /// Graph's own code for it, and the status Graph answers it with.
    Is(StatusCode, &'static str),
    /// By the field at fault: a recipient list is `ErrorInvalidRecipients`, a header
    /// `InvalidInternetMessageHeader`, anything else `BadRequest`; always 400, as Graph answers them.
    ByField,
    /// Graph's generic code for the answer's status, which for these codes is the framework's (any 4xx or 5xx).
    ByStatus,
}

/// Declares the codes, each with its meaning as a doc comment:
///
/// ```ignore
/// error_codes! {
///     /// what it means, as docs/errors.md says it
///     NotFound = "not_found", NOT_FOUND, GraphCode::Is(StatusCode::NOT_FOUND, "ResourceNotFound");
/// }
/// ```
macro_rules! error_codes {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident = $wire:literal, $status:ident, $graph:expr;
    )+) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order docs/errors.md lists them.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as callers see it in `code` (and in `type`, `urn:mailgate:problem:<code>`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)+
                }
            }

            /// The status this code is answered with.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)+
                }
            }

            /// How the Graph-shaped endpoint names it.
            pub const fn graph(self) -> GraphCode {
                match self {
                    $(ErrorCode::$variant => $graph,)+
                }
            }

            /// What it means, for the documentation.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => concat!($($doc),+),)+
                }
            }
        }
    };
}

use GraphCode::{ByField, ByStatus, Is};

error_codes! {
    /// The body is not valid JSON.
    MalformedJson = "malformed_json", BAD_REQUEST, Is(StatusCode::BAD_REQUEST, "BadRequest");
    /// The body could not be read: the connection broke, or `Content-Length` is not a number.
    UnreadableBody = "unreadable_body", BAD_REQUEST, Is(StatusCode::BAD_REQUEST, "BadRequest");
    /// The body is not `application/json`.
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE,
        Is(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType");
    /// The body is larger than this server accepts.
    BodyTooLarge = "body_too_large", PAYLOAD_TOO_LARGE, Is(StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge");
    /// A field, query parameter or header is invalid or unknown; `field` names it.
    InvalidField = "invalid_field", UNPROCESSABLE_ENTITY, ByField;
    // Graph's answer to a body it cannot read, such as a property its type does not have.
    /// A property of Graph's message that mailgate does not forward; `field` names it.
    UnsupportedProperty = "unsupported_property", BAD_REQUEST, Is(StatusCode::BAD_REQUEST, "RequestBodyRead");
    /// The message is larger than `MAILGATE_MAX_MESSAGE_BYTES`, or than one Graph request can carry.
    MessageTooLarge = "message_too_large", PAYLOAD_TOO_LARGE, Is(StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge");
    /// The `Idempotency-Key` was used before with a different request.
    IdempotencyKeyReused = "idempotency_key_reused", UNPROCESSABLE_ENTITY, Is(StatusCode::BAD_REQUEST, "BadRequest");
    /// An audit read's `since`..`until` spans more days than events are kept.
    RangeTooLong = "range_too_long", UNPROCESSABLE_ENTITY, Is(StatusCode::BAD_REQUEST, "invalidRequest");
    /// An admin change names something that resolves to nothing usable in the mirror as it is now.
    InvalidReference = "invalid_reference", UNPROCESSABLE_ENTITY, Is(StatusCode::BAD_REQUEST, "invalidRequest");
    /// An admin change's OPATH filter does not parse.
    InvalidFilter = "invalid_filter", UNPROCESSABLE_ENTITY, Is(StatusCode::BAD_REQUEST, "invalidRequest");
    /// No credential, or one that is unknown, revoked or expired (`WWW-Authenticate` says why).
    Unauthorized = "unauthorized", UNAUTHORIZED, Is(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    /// A valid Entra token from an app that is not registered with mailgate.
    UnregisteredApp = "unregistered_app", FORBIDDEN, Is(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    /// The caller lacks the role the operation needs.
    MissingRole = "missing_role", FORBIDDEN, Is(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    // Graph's code for throttling that is not about one app's mailbox traffic.
    /// Too many failed authentications from this source; `Retry-After` says when to try again.
    TooManyAuthFailures = "too_many_auth_failures", TOO_MANY_REQUESTS,
        Is(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
    /// The allowlist refused the mailbox; `decision` names the policy and rule.
    PolicyDenied = "policy_denied", FORBIDDEN, Is(StatusCode::FORBIDDEN, "ErrorAccessDenied");
    /// The sender names no mailbox mailgate knows.
    UnknownMailbox = "unknown_mailbox", FORBIDDEN, Is(StatusCode::NOT_FOUND, "ErrorInvalidUser");
    /// Over the app's quota of messages a minute or recipients a day; `Retry-After` says when it frees.
    QuotaExceeded = "quota_exceeded", TOO_MANY_REQUESTS, Is(StatusCode::TOO_MANY_REQUESTS, "ApplicationThrottled");
    /// The app was refused more than `MAILGATE_APP_REFUSALS_PER_MINUTE` times this minute.
    TooManyRefusals = "too_many_refusals", TOO_MANY_REQUESTS, Is(StatusCode::TOO_MANY_REQUESTS, "ApplicationThrottled");
    /// Nothing by that name, or no such endpoint.
    NotFound = "not_found", NOT_FOUND, Is(StatusCode::NOT_FOUND, "ResourceNotFound");
    /// The change conflicts with what exists, such as a name already taken.
    Conflict = "conflict", CONFLICT, Is(StatusCode::CONFLICT, "invalidRequest");
    /// The path does not take this method; `Allow` lists those it takes.
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED, Is(StatusCode::METHOD_NOT_ALLOWED, "notAllowed");
    /// Any other refusal of the HTTP framework's own, under the framework's status.
    BadRequest = "bad_request", BAD_REQUEST, ByStatus;
    /// The store (or the audit database) is unavailable; retry after `Retry-After`.
    Unavailable = "unavailable", SERVICE_UNAVAILABLE, Is(StatusCode::SERVICE_UNAVAILABLE, "ServiceNotAvailable");
    /// The instance is shutting down; retry (another instance answers).
    ShuttingDown = "shutting_down", SERVICE_UNAVAILABLE, Is(StatusCode::SERVICE_UNAVAILABLE, "ServiceNotAvailable");
    /// The instance is at its limit of concurrent requests or of request bodies held; retry.
    Overloaded = "overloaded", SERVICE_UNAVAILABLE, Is(StatusCode::SERVICE_UNAVAILABLE, "ServiceNotAvailable");
    // This code and the next were named by their status before codes were declared (Graph's generic
    // `serviceNotAvailable`, not `ServiceNotAvailable`); kept, as callers may branch on it.
    /// The request was not answered within `MAILGATE_REQUEST_TIMEOUT_SECS`; retry with the same `Idempotency-Key`.
    RequestTimeout = "request_timeout", SERVICE_UNAVAILABLE,
        Is(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable");
    /// An audit read ran longer than `MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS`; narrow it rather than retry.
    QueryTimeout = "query_timeout", SERVICE_UNAVAILABLE, Is(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable");
    /// A fault in mailgate; the cause is logged, never shown.
    Internal = "internal", INTERNAL_SERVER_ERROR, ByStatus;
}

impl ErrorCode {
    /// The code named by its wire spelling, as a stored answer holds it.
    pub fn from_wire(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == text)
    }

    /// The problem document's `title`: the status's own reason phrase.
    pub fn title(self) -> &'static str {
        self.status().canonical_reason().unwrap_or("Error")
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spellings_are_unique_snake_case_words() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            let wire = code.as_str();
            assert!(wire.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{wire}");
            assert!(ErrorCode::ALL[..i].iter().all(|o| o.as_str() != wire), "{wire} is declared twice");
            assert_eq!(ErrorCode::from_wire(wire), Some(*code));
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{wire}");
            assert!(!code.meaning().contains('|') && !code.meaning().trim().is_empty(), "{wire}'s meaning");
        }
        assert_eq!(ErrorCode::from_wire("policy_denid"), None);
    }
}
