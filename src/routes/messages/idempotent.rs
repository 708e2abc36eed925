//! `Idempotency-Key`: a retried request with the same key and body gets the original answer; the same key with
//! another body is refused. Keys are per app and live `MAILGATE_IDEMPOTENCY_TTL_SECS` (24 h by default).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::idempotency::Stored;
use crate::error::{ApiError, PROBLEM_JSON};

pub const HEADER: &str = "idempotency-key";

/// A caller's key for one logical send.
pub struct Key {
    pub key: String,
    pub hash: Vec<u8>,
}

/// The key from the header, with the hash of the body it came with.
pub fn key(headers: &HeaderMap, body: &[u8]) -> Result<Option<Key>, ApiError> {
    let Some(value) = headers.get(HEADER) else { return Ok(None) };
    let text = value.to_str().unwrap_or("");
    let printable = text.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if text.is_empty() || text.len() > 255 || !printable {
        return Err(ApiError::invalid("Idempotency-Key", "`Idempotency-Key` must be 1-255 visible ASCII characters"));
    }
    Ok(Some(Key { key: text.to_owned(), hash: Sha256::digest(body).to_vec() }))
}

/// The stored answer for a repeat of the same request, or a refusal for a different one.
pub fn replay(stored: Stored, key: &Key) -> Result<Response, ApiError> {
    if stored.request_hash != key.hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body; use a new key for a new message",
        )
        .field("Idempotency-Key"));
    }
    let (Some(code), Some(body)) = (stored.status_code, stored.response) else {
        return Err(ApiError::internal("an idempotency key was stored without its answer"));
    };
    let status = u16::try_from(code).ok().and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::ACCEPTED);
    let content_type = if status.is_success() { "application/json" } else { PROBLEM_JSON };
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], body_text(&body)).into_response();
    let headers = response.headers_mut();
    headers.insert("idempotency-replayed", HeaderValue::from_static("true"));
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/messages/{}", stored.message_id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok(response)
}

fn body_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
