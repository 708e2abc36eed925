//! The request's id, which the edge gives every request that does not bring a plain one (src/startup/edge.rs):
//! handlers take `RequestId`, layers that hold the request read it with `RequestId::of`.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};

/// The header the edge sets on each request and echoes on its response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The `x-request-id` of the request being answered; empty only if the edge did not run (a test calling a handler
/// directly), which is why it never refuses.
pub struct RequestId(pub String);

impl RequestId {
    pub fn of(headers: &HeaderMap) -> &str {
        headers.get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(RequestId(Self::of(&parts.headers).to_owned()))
    }
}
