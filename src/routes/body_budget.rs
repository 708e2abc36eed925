//! Request bodies are read within the process's budget for bodies (crate::body_budget). A body is read here, after
//! its caller was authenticated, into one buffer of its declared size: the handler then takes that buffer as it is,
//! without another copy. Its share of the budget is held until the handler has answered.
//!
//! A body the budget cannot take now is refused (503 `overloaded`, `Retry-After`) without being held: waiting would
//! only hold the connection, and the caller's retry lands on a replica with room. Its bytes are received and dropped
//! as they come, so that the caller, still sending, reads the answer rather than a reset connection.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use futures::StreamExt;

use crate::body_budget::{BodyBudget, Reservation};
use crate::error::{ApiError, ErrorCode};

/// Reads `request`'s body within the budget and puts it back whole; the reservation must be held until the
/// request is answered.
pub async fn read(budget: &BodyBudget, request: Request) -> Result<(Request, Reservation), ApiError> {
    let hint = request.body().size_hint();
    if hint.exact() == Some(0) {
        return Ok((request, budget.reserve(0).ok_or_else(overloaded)?));
    }
    let declared = match request.headers().get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| ApiError::new(ErrorCode::UnreadableBody, "Content-Length is not a number"))?,
        ),
    };
    if declared.is_some_and(|n| n > budget.limit()) {
        return Err(too_large(budget));
    }
    // A body of unknown length takes the largest share it may grow to: the budget bounds what could be held.
    let expected = declared.unwrap_or(budget.limit());
    let Some(reservation) = budget.reserve(expected) else {
        discard(request.into_body(), expected).await;
        return Err(overloaded());
    };
    let (parts, body) = request.into_parts();
    let mut buffer = Vec::with_capacity(declared.unwrap_or(0));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::new(ErrorCode::UnreadableBody, format!("the body could not be read: {e}")))?;
        if buffer.len() + chunk.len() > expected {
            return Err(too_large(budget));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok((Request::from_parts(parts, Body::from(Bytes::from(buffer))), reservation))
}

/// Receives up to `most` bytes of `body` and drops each chunk at once.
async fn discard(body: Body, most: usize) {
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len();
        if seen > most {
            return;
        }
    }
}

fn overloaded() -> ApiError {
    ApiError::new(
        ErrorCode::Overloaded,
        "this instance is reading as many request bodies as it is set to hold at once \
         (MAILGATE_MAX_INFLIGHT_BODY_BYTES); retry",
    )
    .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

fn too_large(budget: &BodyBudget) -> ApiError {
    let why = if budget.large_messages() {
        String::new()
    } else {
        // Without large messages nothing over Graph's 4 MB request can be sent, which is what the limit holds.
        "; a message must fit Graph's 4 MB request unless MAILGATE_LARGE_MESSAGES=true sends larger ones through \
         drafts"
            .to_owned()
    };
    ApiError::new(
        ErrorCode::BodyTooLarge,
        format!("the request body is larger than this server accepts ({} bytes){why}", budget.limit()),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::StatusCode;

    use super::*;
    use crate::body_budget::{COPIES, UNIT};
    use crate::metrics::Metrics;

    fn post(body: &'static [u8], declared: Option<usize>) -> Request {
        let mut b = Request::builder().method("POST").uri("/v1/messages");
        if let Some(n) = declared {
            b = b.header(header::CONTENT_LENGTH, n);
        }
        b.body(Body::from(body)).expect("request")
    }

    #[tokio::test]
    async fn bodies_past_the_budget_are_refused_until_one_is_answered() {
        let metrics = Arc::new(Metrics::default());
        let budget = BodyBudget::new(3 * COPIES * UNIT, 2 * UNIT, false, metrics.clone());
        let (_, first) = read(&budget, post(&[b'a'; 2048], Some(2048))).await.expect("fits");
        let refused = read(&budget, post(&[b'b'; 1500], Some(1500))).await.err().expect("over the budget");
        assert_eq!((refused.status, refused.code), (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Overloaded));
        assert!(refused.headers.iter().any(|(n, _)| n == header::RETRY_AFTER));
        // A small one still fits beside it.
        let (request, _small) = read(&budget, post(b"{}", Some(2))).await.expect("fits");
        let got = axum::body::to_bytes(request.into_body(), 10).await.expect("body");
        assert_eq!(&got[..], b"{}");
        drop(first);
        assert!(read(&budget, post(&[b'b'; 1500], Some(1500))).await.is_ok());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_before_or_while_it_is_read() {
        let budget = BodyBudget::new(10 * COPIES * UNIT, 100, false, Arc::new(Metrics::default()));
        let declared = read(&budget, post(&[b'x'; 50], Some(101))).await.err().expect("declared too large");
        assert_eq!(declared.code, ErrorCode::BodyTooLarge);
        assert!(declared.detail.contains("MAILGATE_LARGE_MESSAGES=true"), "{}", declared.detail);
        let streamed =
            Body::from_stream(futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 101]))]));
        let request = Request::builder().method("POST").uri("/").body(streamed).expect("request");
        assert_eq!(read(&budget, request).await.err().expect("grew too large").code, ErrorCode::BodyTooLarge);
    }
}
