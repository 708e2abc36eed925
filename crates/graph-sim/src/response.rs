//! Graph-shaped responses: the common headers and the `{"error": {...}}` body.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::types::GatewayBody;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
pub const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");

/// Per-request identifiers echoed in headers and error bodies.
#[derive(Debug, Clone)]
pub struct ReqCtx {
    pub request_id: String,
    pub client_request_id: Option<String>,
}

impl ReqCtx {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            request_id: uuid::Uuid::new_v4().to_string(),
            client_request_id: header_str(headers, &CLIENT_REQUEST_ID),
        }
    }
}

/// A header's value as a string, when present and valid UTF-8.
pub fn header_str(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// RFC 3339 timestamp of now (UTC).
pub fn rfc3339_now() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// An IMF-fixdate for the `Date` header.
fn http_date() -> String {
    let fmt = format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");
    OffsetDateTime::now_utc().format(&fmt).unwrap_or_else(|_| String::from("Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// Add `request-id`, `client-request-id` (when the client sent one) and `Date`.
pub fn finish(ctx: &ReqCtx, mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert(REQUEST_ID, v);
    }
    if let Some(v) = ctx.client_request_id.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert(CLIENT_REQUEST_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date()) {
        headers.insert(header::DATE, v);
    }
    response
}

/// A Graph error: status, code, message and an optional `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Extra top-level members of the body, next to `error` (an upload's `nextExpectedRanges`).
    pub extra: Vec<(String, serde_json::Value)>,
    /// Set when a gateway in front of Graph answers instead: its own body, none of Graph's headers.
    pub gateway: Option<GatewayBody>,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
            extra: Vec::new(),
            gateway: None,
        }
    }

    /// A gateway's answer with `status`: an HTML page or nothing, never Graph's JSON.
    pub fn gateway(status: StatusCode, body: GatewayBody) -> Self {
        Self { gateway: Some(body), ..Self::new(status, "", "") }
    }

    /// The Graph error code to log; a gateway's answer has none.
    pub fn logged_code(&self) -> Option<String> {
        self.gateway.is_none().then(|| self.code.clone())
    }

    pub fn retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after = secs;
        self
    }

    pub fn with(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra.push((key.to_string(), value));
        self
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The response, with Graph's body shape and the common headers.
    pub fn into_response(self, ctx: &ReqCtx) -> Response {
        if let Some(body) = self.gateway {
            return gateway_response(self.status, body);
        }
        let date = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|d| d.format(&Rfc3339).ok())
            .unwrap_or_else(rfc3339_now);
        let mut body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "request-id": ctx.request_id,
                    "date": date,
                    "client-request-id": ctx
                        .client_request_id
                        .clone()
                        .unwrap_or_else(|| ctx.request_id.clone()),
                }
            }
        });
        for (key, value) in self.extra {
            body[key] = value;
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        finish(ctx, response)
    }
}

fn gateway_response(status: StatusCode, body: GatewayBody) -> Response {
    match body {
        GatewayBody::Empty => status.into_response(),
        GatewayBody::Html => {
            let reason = status.canonical_reason().unwrap_or("Error");
            let page = format!(
                "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1>\
                 </center>\r\n</body>\r\n</html>\r\n",
                code = status.as_u16()
            );
            (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
        }
    }
}
