//! `Idempotency-Key`: a retried request with the same key gets the original answer; the same key with another
//! request is refused. A request is its body, and on the Graph endpoint also the mailbox in its path, which the body
//! does not name. Keys are per app and live `MAILGATE_IDEMPOTENCY_TTL_SECS` (24 h by default).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::idempotency::Stored;
use crate::error::{ApiError, ErrorCode, PROBLEM_JSON};

pub use crate::accept::Key;

pub const HEADER: &str = "idempotency-key";

/// The key from the header, with the fingerprint of the body it came with.
pub fn key(headers: &HeaderMap, body: &[u8]) -> Result<Option<Key>, ApiError> {
    let Some(text) = header(headers)? else { return Ok(None) };
    Ok(Some(Key { key: text, hash: Sha256::digest(body).to_vec() }))
}

/// The key, with the fingerprint of the body and of the mailbox the request sends as (`mailbox`: every name of
/// it, so that two spellings of one mailbox are one request and two mailboxes are two).
pub fn key_for_mailbox(headers: &HeaderMap, mailbox: &[String], body: &[u8]) -> Result<Option<Key>, ApiError> {
    let Some(text) = header(headers)? else { return Ok(None) };
    let mut hash = Sha256::new();
    // Length-prefixed, so no choice of names and body hashes like another; the label keeps it apart from a
    // plain body's hash.
    hash.update(b"mailbox+body\0");
    hash.update((mailbox.len() as u64).to_be_bytes());
    for name in mailbox {
        hash.update((name.len() as u64).to_be_bytes());
        hash.update(name.as_bytes());
    }
    hash.update(body);
    Ok(Some(Key { key: text, hash: hash.finalize().to_vec() }))
}

fn header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(HEADER) else { return Ok(None) };
    let text = value.to_str().unwrap_or("");
    let printable = text.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if text.is_empty() || text.len() > 255 || !printable {
        return Err(ApiError::invalid("Idempotency-Key", "`Idempotency-Key` must be 1-255 visible ASCII characters"));
    }
    Ok(Some(text.to_owned()))
}

/// The stored answer for a repeat of the same request, or a refusal for a different one.
pub fn replay(stored: Stored, key: &Key) -> Result<Response, ApiError> {
    if stored.request_hash != key.hash {
        return Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request (another body, or on the Graph endpoint another \
             mailbox); use a new key for a new message",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("k-1"));
        h
    }

    fn hash(mailbox: &[&str], body: &[u8]) -> Vec<u8> {
        let names: Vec<String> = mailbox.iter().map(|n| (*n).to_owned()).collect();
        key_for_mailbox(&headers(), &names, body).expect("valid").expect("present").hash
    }

    #[test]
    fn the_graph_fingerprint_tells_mailboxes_apart_and_a_plain_one_is_the_bodys_hash() {
        let body = br#"{"message":{}}"#;
        assert_eq!(hash(&["a@contoso.test", "a-id"], body), hash(&["a@contoso.test", "a-id"], body));
        assert_ne!(hash(&["a@contoso.test"], body), hash(&["b@contoso.test"], body));
        // Length prefixes: moving bytes between names, or from a name into the body, is another request.
        assert_ne!(hash(&["ab", "c"], body), hash(&["a", "bc"], body));
        assert_ne!(hash(&["a"], b"bc"), hash(&["ab"], b"c"));
        let plain = key(&headers(), body).expect("valid").expect("present").hash;
        assert_eq!(plain, Sha256::digest(body).to_vec());
        assert_ne!(plain, hash(&[], body));
        assert!(key(&HeaderMap::new(), body).expect("valid").is_none());
    }
}
