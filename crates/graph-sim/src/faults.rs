//! Turning a scripted fault into what the endpoint does next.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Extensions, StatusCode};
use axum::response::Response;

use super::conn::ConnHandle;
use super::response::GraphError;
use super::types::Fault;

/// What an endpoint does after consulting the fault queue.
#[derive(Debug)]
pub enum FaultOutcome {
    /// No fault, or a delay that has now elapsed: process the request normally.
    Continue,
    /// Answer with this error.
    Respond(GraphError),
    /// Close the connection without a response.
    Drop,
    /// Process the request normally, then close the connection instead of answering.
    LoseAnswer,
}

/// Apply `fault` (sleeping for a delay) and say what to do next.
pub async fn apply(fault: Option<Fault>) -> FaultOutcome {
    match fault {
        None => FaultOutcome::Continue,
        Some(Fault::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            FaultOutcome::Continue
        }
        Some(Fault::Throttle { retry_after_secs }) => FaultOutcome::Respond(
            GraphError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            )
            .retry_after(retry_after_secs),
        ),
        Some(Fault::Unavailable { retry_after_secs }) => FaultOutcome::Respond(
            GraphError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceNotAvailable",
                "The service is temporarily unavailable. Please retry later.",
            )
            .retry_after(retry_after_secs),
        ),
        Some(Fault::Status { status, code, message }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            FaultOutcome::Respond(GraphError::new(status, &code, message))
        }
        Some(Fault::Gateway { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            FaultOutcome::Respond(GraphError::gateway(status, body))
        }
        Some(Fault::Drop) => FaultOutcome::Drop,
        Some(Fault::LoseAnswer) => FaultOutcome::LoseAnswer,
    }
}

/// A response that never reaches the client: the connection is killed first.
///
/// Served through the simulator's own listener, the connection's kill switch is
/// flipped so nothing is written. Served any other way, the body fails at once,
/// which makes the server abort the connection mid-response.
pub fn dropped_response(extensions: &Extensions) -> Response {
    if let Some(ConnectInfo(conn)) = extensions.get::<ConnectInfo<ConnHandle>>() {
        conn.kill();
    }
    let failing = futures::stream::once(async {
        Err::<Bytes, io::Error>(io::Error::new(io::ErrorKind::ConnectionAborted, "connection dropped by fault"))
    });
    let mut response = Response::new(Body::from_stream(failing));
    *response.status_mut() = StatusCode::OK;
    response
}
