//! Request bodies are read within one budget of bytes for the whole process (`MAILGATE_MAX_INFLIGHT_BODY_BYTES`), so
//! that however many callers send their largest bodies at once, what is held for them stays bounded. A body is read
//! here, after its caller was authenticated, into one buffer of its declared size: the handler then takes that
//! buffer as it is, without another copy. Its share of the budget is held until the handler has answered.
//!
//! A body is charged `COPIES` times its length: handling it holds that much at its peak. While it is decoded the
//! bytes read and the decoded message are both held (the bytes go right after); while it is stored, the message,
//! its encoding for the database and the connection's copy of that. Charging the bytes once would let the budget's
//! worth of bodies take three budgets of memory.
//!
//! A body the budget cannot take now is refused (503 `overloaded`, `Retry-After`) without being held: waiting would
//! only hold the connection, and the caller's retry lands on a replica with room. Its bytes are received and dropped
//! as they come, so that the caller, still sending, reads the answer rather than a reset connection.

use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;

/// The budget is counted in KiB, so that a semaphore's `u32` permits can stand for up to 4 TiB.
const UNIT: usize = 1024;
/// How many times its length a body is charged (see the module's docs).
pub const COPIES: usize = 3;

pub struct BodyBudget {
    permits: Arc<Semaphore>,
    /// The largest body read at all (`MAILGATE_MAX_BODY_BYTES`).
    limit: usize,
    /// `MAILGATE_LARGE_MESSAGES`: without it the limit is Graph's request size, which a refusal says.
    large_messages: bool,
    metrics: Arc<Metrics>,
}

/// A body's share of the budget, given back when dropped.
pub struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
    metrics: Arc<Metrics>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.metrics.body_bytes_released(self.bytes);
    }
}

fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

impl BodyBudget {
    pub fn new(budget_bytes: usize, limit: usize, large_messages: bool, metrics: Arc<Metrics>) -> Self {
        let permits = Arc::new(Semaphore::new(units(budget_bytes) as usize));
        Self { permits, limit, large_messages, metrics }
    }

    fn reserve(&self, bytes: usize) -> Result<Reservation, ApiError> {
        let permit = match units(bytes) {
            0 => None,
            n => Some(self.permits.clone().try_acquire_many_owned(n).map_err(|_| {
                self.metrics.shed("body_budget");
                overloaded()
            })?),
        };
        self.metrics.body_bytes_reserved(bytes);
        Ok(Reservation { _permit: permit, bytes, metrics: self.metrics.clone() })
    }

    /// Reads `request`'s body within the budget and puts it back whole; the reservation must be held until the
    /// request is answered.
    pub async fn read(&self, request: Request) -> Result<(Request, Reservation), ApiError> {
        let hint = request.body().size_hint();
        if hint.exact() == Some(0) {
            return Ok((request, self.reserve(0)?));
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
        if declared.is_some_and(|n| n > self.limit) {
            return Err(self.too_large());
        }
        // A body of unknown length takes the largest share it may grow to: the budget bounds what could be held.
        let expected = declared.unwrap_or(self.limit);
        let reservation = match self.reserve(expected.saturating_mul(COPIES)) {
            Ok(r) => r,
            Err(refused) => {
                discard(request.into_body(), expected).await;
                return Err(refused);
            }
        };
        let (parts, body) = request.into_parts();
        let mut buffer = Vec::with_capacity(declared.unwrap_or(0));
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::new(ErrorCode::UnreadableBody, format!("the body could not be read: {e}")))?;
            if buffer.len() + chunk.len() > expected {
                return Err(self.too_large());
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok((Request::from_parts(parts, Body::from(Bytes::from(buffer))), reservation))
    }
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

impl BodyBudget {
    fn too_large(&self) -> ApiError {
        let why = if self.large_messages {
            String::new()
        } else {
            // Without large messages nothing over Graph's 4 MB request can be sent, which is what the limit holds.
            "; a message must fit Graph's 4 MB request unless MAILGATE_LARGE_MESSAGES=true sends larger ones through \
             drafts"
                .to_owned()
        };
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the request body is larger than this server accepts ({} bytes){why}", self.limit),
        )
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

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
        let (_, first) = budget.read(post(&[b'a'; 2048], Some(2048))).await.expect("fits");
        let refused = budget.read(post(&[b'b'; 1500], Some(1500))).await.err().expect("over the budget");
        assert_eq!((refused.status, refused.code), (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Overloaded));
        assert!(refused.headers.iter().any(|(n, _)| n == header::RETRY_AFTER));
        // A small one still fits beside it.
        let (request, _small) = budget.read(post(b"{}", Some(2))).await.expect("fits");
        let read = axum::body::to_bytes(request.into_body(), 10).await.expect("body");
        assert_eq!(&read[..], b"{}");
        drop(first);
        assert!(budget.read(post(&[b'b'; 1500], Some(1500))).await.is_ok());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_before_or_while_it_is_read() {
        let budget = BodyBudget::new(10 * COPIES * UNIT, 100, false, Arc::new(Metrics::default()));
        let declared = budget.read(post(&[b'x'; 50], Some(101))).await.err().expect("declared too large");
        assert_eq!(declared.code, ErrorCode::BodyTooLarge);
        assert!(declared.detail.contains("MAILGATE_LARGE_MESSAGES=true"), "{}", declared.detail);
        let streamed =
            Body::from_stream(futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 101]))]));
        let request = Request::builder().method("POST").uri("/").body(streamed).expect("request");
        assert_eq!(budget.read(request).await.err().expect("grew too large").code, ErrorCode::BodyTooLarge);
    }
}
