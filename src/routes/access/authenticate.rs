//! Who is calling: the caller behind the request's credential. A source that keeps failing is refused before its
//! credential is looked at, and each failure is counted and (within its source's share) audited.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, Method, header};

use super::record::record_failure;
use crate::auth::Caller;
use crate::auth::authenticate::AuthFailure;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The caller behind the credential in `headers`, or the refusal to answer: 429 for a source over its failures,
/// 401, 403 for an unregistered Entra app, 503 when keys cannot be checked.
pub(super) async fn caller(
    state: &AppState,
    method: &Method,
    route: &str,
    request_id: &str,
    source: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    // A source that keeps failing is refused before its credential costs a lookup, a signature check or a row (only a
    // source counted apart: see auth::failures).
    if let Err(retry_after) = state.auth_failures.check(source) {
        state.metrics.auth_throttled();
        return Err(ApiError::new(
            ErrorCode::TooManyAuthFailures,
            "too many failed authentications from this address; wait before trying again",
        )
        .header(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs())));
    }
    match authenticate(state, headers).await {
        Ok(caller) => Ok(caller),
        Err(AuthFailure::Db(e)) => Err(e.into()),
        Err(AuthFailure::Unavailable { detail }) => {
            state.metrics.auth_failure("keys_unavailable");
            Err(ApiError::unavailable(detail))
        }
        Err(AuthFailure::Unauthenticated { reason, detail }) => {
            state.metrics.auth_failure(reason);
            let what = format!("{method} {route}: {reason}");
            record_failure(state, source, request_id, &what).await;
            Err(ApiError::unauthorized(detail))
        }
        Err(AuthFailure::Unregistered { detail }) => {
            state.metrics.auth_failure("unregistered_app");
            record_failure(state, source, request_id, &detail).await;
            Err(ApiError::new(ErrorCode::UnregisteredApp, detail))
        }
    }
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, AuthFailure> {
    crate::auth::authenticate::authenticate(&state.pool, &state.callers, state.entra.as_ref(), headers).await
}

/// Where a request comes from, for the failure limit: the address the load balancer in front reports, when one is
/// configured and its header holds one, else the TCP peer.
pub(crate) fn source(state: &AppState, request: &Request) -> Option<IpAddr> {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let Some(name) = &state.settings.http.client_address_header else {
        return peer;
    };
    // The last entry is the one the nearest proxy appended; entries before it are the client's to invent.
    let last = request.headers().get_all(name).iter().next_back().and_then(|v| v.to_str().ok());
    last.and_then(|v| v.rsplit(',').next()).and_then(crate::auth::failures::parse_address).or(peer)
}
