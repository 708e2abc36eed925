//! Reading a JSON request body with precise refusals: 415 for another media type, 413 over the limit,
//! 400 for JSON that does not parse, 422 naming the field for JSON of the wrong shape (unknown fields included).
//! Handlers take `ApiJson<T>`; `parse`, `read` and `decode` are for those that need the body's bytes as well.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::{ApiError, ErrorCode};

/// A body that must be one JSON object of type `T`, refused as `parse` refuses (as problem+json, so not for the
/// Graph-shaped endpoint, whose refusals take Graph's shape).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await;
        parse(&headers, body).map(ApiJson)
    }
}

/// Like `ApiJson`, but no body at all, or JSON `null`, means `T::default()` (whatever its Content-Type).
pub struct ApiJsonOrDefault<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for ApiJsonOrDefault<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await;
        match &body {
            Ok(b) if b.is_empty() || b.trim_ascii() == b"null" => Ok(ApiJsonOrDefault(T::default())),
            _ => parse(&headers, body).map(ApiJsonOrDefault),
        }
    }
}

/// Reads a body that must be one JSON object (serde would also build a struct from an array of its fields).
pub fn parse<T: DeserializeOwned>(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = read(headers, body)?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
        return Err(ApiError::new(ErrorCode::InvalidField, "the body must be a JSON object"));
    }
    decode(&bytes)
}

/// The body's bytes, if it is JSON and within the size limit.
pub fn read(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/json" {
        let shown = if content_type.is_empty() { "none" } else { content_type };
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("the body must be application/json; Content-Type was {shown}"),
        ));
    }
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::BodyTooLarge, "the request body is larger than this server accepts")
        } else {
            ApiError::new(ErrorCode::UnreadableBody, rejection.body_text())
        }
    })
}

/// Decodes JSON bytes into `T`, naming the field at fault.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_nul_escape(bytes) {
        // Postgres cannot store U+0000 in text or jsonb; refused here rather than failing at the database.
        // `invalid_field`, the code every caller (the Graph-shaped endpoint's error mapping too) already knows.
        return Err(ApiError::new(ErrorCode::InvalidField, "text must not contain U+0000 (`\\u0000`)"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // A shape error found before a syntax error later on is still malformed JSON; look at the whole body.
        let syntax_ok = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        match inner.classify() {
            Category::Data if syntax_ok => {
                let field = field_name(&path, &inner.to_string());
                ApiError::invalid(field, strip_position(&inner.to_string()))
            }
            _ => ApiError::new(ErrorCode::MalformedJson, format!("the body is not valid JSON: {inner}")),
        }
    })?;
    de.end().map_err(|e| ApiError::new(ErrorCode::MalformedJson, format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Whether the JSON text holds the escape `\u0000` (raw NUL bytes are not JSON at all). A backslash run of even
/// length is escaped backslashes, so only an odd run starts an escape.
fn has_nul_escape(bytes: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\\' {
            backslashes += 1;
            continue;
        }
        if *b == b'u' && backslashes % 2 == 1 && bytes.get(i + 1..i + 5) == Some(&b"0000"[..]) {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// serde reports an unknown or missing field at its parent's path; name the field itself.
fn field_name(path: &str, message: &str) -> String {
    let unknown = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    match (path, unknown) {
        (".", Some(f)) => f.to_owned(),
        (p, Some(f)) if !p.ends_with(f) => format!("{p}.{f}"),
        (p, _) => p.to_owned(),
    }
}

fn strip_position(message: &str) -> String {
    message.split(" at line ").next().unwrap_or(message).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
        headers
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[allow(dead_code)]
    struct Pair {
        a: Option<String>,
        b: Option<String>,
    }

    #[test]
    fn a_body_must_be_an_object_not_the_fields_in_an_array() {
        let e = parse::<Pair>(&json_headers(), Ok(Bytes::from_static(b" [null, null]"))).expect_err("array");
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField));
        let e = parse::<Pair>(&json_headers(), Ok(Bytes::from_static(b"[null"))).expect_err("broken");
        assert_eq!(e.code, ErrorCode::MalformedJson);
        assert!(parse::<Pair>(&json_headers(), Ok(Bytes::from_static(b" {\"a\": \"x\"}"))).is_ok());
    }

    #[test]
    fn a_nul_in_any_string_is_refused_before_the_database_sees_it() {
        let e = decode::<Pair>(br#"{"a": "x\u0000"}"#).expect_err("nul");
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField));
        assert!(decode::<Pair>(br#"{"a": "x\\u0000"}"#).is_ok(), "a backslash, then text");
    }

    #[test]
    fn finds_only_real_nul_escapes() {
        assert!(has_nul_escape(br#"{"a":"x\u0000y"}"#));
        assert!(has_nul_escape(br#"{"a\u0000":1}"#));
        assert!(!has_nul_escape(br#"{"a":"x\\u0000y"}"#), "an escaped backslash, then text");
        assert!(has_nul_escape(br#"{"a":"x\\\u0000y"}"#));
        assert!(!has_nul_escape(br#"{"a":"\u0001"}"#));
    }

    fn request(content_type: Option<&'static str>, body: &'static [u8]) -> Request {
        let mut r = Request::builder().method("POST").uri("/v1/admin/apps");
        if let Some(t) = content_type {
            r = r.header(header::CONTENT_TYPE, t);
        }
        r.body(axum::body::Body::from(body)).expect("request")
    }

    #[tokio::test]
    async fn the_extractor_refuses_as_parse_does() {
        let cases: [(Option<&'static str>, &'static [u8]); 7] = [
            (Some("application/json"), b"{\"a\": \"x\"}"),
            (Some("text/plain"), b"{}"),
            (None, b"{}"),
            (Some("application/json"), b"[null, null]"),
            (Some("application/json"), b"{\"a\": "),
            (Some("application/json"), b"{\"c\": 1}"),
            (Some("application/json; charset=utf-8"), b"{\"a\": 5}"),
        ];
        for (content_type, body) in cases {
            let by_hand = parse::<Pair>(request(content_type, body).headers(), Ok(Bytes::from_static(body)));
            let extracted = ApiJson::<Pair>::from_request(request(content_type, body), &()).await.map(|j| j.0);
            match (by_hand, extracted) {
                (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
                (Err(a), Err(b)) => assert_eq!(
                    (a.status, a.code, a.field, a.detail),
                    (b.status, b.code, b.field, b.detail),
                    "{content_type:?} {body:?}"
                ),
                (a, b) => panic!("{content_type:?} {body:?}: by hand {:?}, extracted {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }

    #[tokio::test]
    async fn no_body_or_null_is_the_default() {
        for body in [&b""[..], b"null", b" null "] {
            let got = ApiJsonOrDefault::<Pair>::from_request(request(None, body), &()).await.expect("default").0;
            assert_eq!((got.a, got.b), (None, None));
        }
        let e = ApiJsonOrDefault::<Pair>::from_request(request(None, b"{}"), &()).await.err().expect("no type");
        assert_eq!(e.code, ErrorCode::UnsupportedMediaType);
        let got = ApiJsonOrDefault::<Pair>::from_request(request(Some("application/json"), b"{\"a\":\"x\"}"), &())
            .await
            .expect("given")
            .0;
        assert_eq!(got.a.as_deref(), Some("x"));
    }

    #[test]
    fn names_unknown_fields() {
        assert_eq!(field_name(".", "unknown field `tox`, expected one of"), "tox");
        assert_eq!(field_name("attachments[0]", "unknown field `nam`, expected"), "attachments[0].nam");
        assert_eq!(field_name("attachments[0].nam", "unknown field `nam`, expected"), "attachments[0].nam");
        assert_eq!(field_name("importance", "unknown variant `urgent`"), "importance");
    }
}
