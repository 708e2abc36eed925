//! Who may call what. Each route module declares its routes' access beside them (`Routes`, in `declare`), and that
//! one declaration is both enforced and documented: the guard below authenticates every route not declared public
//! and checks its roles before the handler runs, and the OpenAPI document's `security` is written by the same call.
//! A route declared nowhere is refused.

mod declare;
mod rules;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::authenticate::AuthFailure;
use crate::auth::failures::Record;
use crate::auth::{Caller, Role};
use crate::db::audit::{self, NewEvent, Outcome};
use crate::error::{ApiError, ErrorCode};
use crate::routes::body_budget::Reservation;
use crate::routes::request_id::RequestId;
use crate::state::AppState;

pub use declare::Routes;
pub use rules::Rules;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Any one of these roles suffices.
    AnyOf(&'static [Role]),
}

/// One operation's declared access: a method on a path template, as the router matches it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub method: Method,
    pub path: String,
    pub access: Access,
}

/// Codes answered as problem+json on every path, the Graph-shaped one included: they are about HTTP, not mail.
/// A 429 is not among them: Graph SDKs retry a throttled call only when it comes in Graph's shape.
const EDGE_CODES: [ErrorCode; 1] = [ErrorCode::MethodNotAllowed];

/// Authenticates and authorizes as each route declared; records request metrics for every routed request.
pub async fn guard(State((state, rules)): State<(AppState, Arc<Rules>)>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let request_id = RequestId::of(request.headers()).to_owned();
    let checked = match check(&state, &rules, &method, &route, &mut request).await {
        Ok(()) => read_body(&state, request).await,
        Err(e) => Err(e),
    };
    let response = match checked {
        Ok((request, held)) => {
            let response = next.run(request).await;
            // The body's share of the budget is given back once the handler is done with it.
            drop(held);
            response
        }
        // Callers of the Graph-shaped endpoint parse Graph's error shape.
        Err(e) if route.starts_with("/v1.0/") && !EDGE_CODES.contains(&e.code) => {
            crate::routes::graph::error::respond(e, &request_id)
        }
        Err(e) => e.into_response(),
    };
    state.metrics.http_request(known(&method), &route, response.status().as_u16(), started.elapsed());
    response
}

/// An authenticated caller's body, read within the process's budget for bodies; a public route's is never read.
async fn read_body(state: &AppState, request: Request) -> Result<(Request, Option<Reservation>), ApiError> {
    if request.extensions().get::<Caller>().is_none() {
        return Ok((request, None));
    }
    let (request, held) = state.body_budget.read(request).await?;
    Ok((request, Some(held)))
}

async fn check(
    state: &AppState,
    rules: &Rules,
    method: &Method,
    route: &str,
    request: &mut Request,
) -> Result<(), ApiError> {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) && route.starts_with("/v1") {
        // Both /v1/… and the Graph-shaped /v1.0/… are refused while draining.
        return Err(ApiError::new(ErrorCode::ShuttingDown, "this instance is shutting down; retry")
            .header(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1")));
    }
    let allowed = match rules.access(method, route)? {
        Access::Public => return Ok(()),
        Access::AnyOf(allowed) => allowed,
    };
    let request_id = RequestId::of(request.headers()).to_owned();
    let source = source(state, request);
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
    let caller = match authenticate(state, request.headers()).await {
        Ok(caller) => caller,
        Err(AuthFailure::Db(e)) => return Err(e.into()),
        Err(AuthFailure::Unavailable { detail }) => {
            state.metrics.auth_failure("keys_unavailable");
            return Err(ApiError::unavailable(detail));
        }
        Err(AuthFailure::Unauthenticated { reason, detail }) => {
            state.metrics.auth_failure(reason);
            let what = format!("{method} {route}: {reason}");
            record_failure(state, source, &request_id, &what).await;
            return Err(ApiError::unauthorized(detail));
        }
        Err(AuthFailure::Unregistered { detail }) => {
            state.metrics.auth_failure("unregistered_app");
            record_failure(state, source, &request_id, &detail).await;
            return Err(ApiError::new(ErrorCode::UnregisteredApp, detail));
        }
    };
    if !allowed.iter().any(|r| caller.has(*r)) {
        state.metrics.auth_failure("missing_role");
        if let Err(retry_after) = crate::accept::over_budget(state, &caller) {
            let limit = state.settings.limits.app_refusals_per_minute;
            return Err(crate::accept::too_many_refusals(limit, retry_after));
        }
        let need: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
        let has: Vec<&str> = caller.roles.iter().map(|r| r.as_str()).collect();
        let detail = format!(
            "{method} {route} needs the role {}; app {} has {}",
            need.join(" or "),
            caller.app_name,
            if has.is_empty() { "none".to_owned() } else { has.join(", ") }
        );
        record_refusal(state, Outcome::Forbidden, Some(&caller), &request_id, &detail).await;
        return Err(ApiError::new(ErrorCode::MissingRole, detail));
    }
    request.extensions_mut().insert(caller);
    Ok(())
}

async fn authenticate(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Caller, AuthFailure> {
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

/// The method's name when it is one of HTTP's own, else `other`: a caller may invent any number of methods, and
/// neither the metrics' labels nor an answer should grow with them.
fn known(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    STANDARD.iter().find(|m| *m == method).map_or("other", |m| m.as_str())
}

/// A failed authentication: audited while its source is within its share of audit rows, else only counted.
pub(crate) async fn record_failure(state: &AppState, source: Option<IpAddr>, request_id: &str, detail: &str) {
    match state.auth_failures.fail(source) {
        Record::Audit => record_refusal(state, Outcome::Unauthenticated, None, request_id, detail).await,
        Record::CountOnly => state.metrics.auth_failure_unaudited(),
    }
}

/// Refusals are audited without the credential. A failure to record must not turn a 401 into a 500.
async fn record_refusal(state: &AppState, outcome: Outcome, caller: Option<&Caller>, request_id: &str, detail: &str) {
    let event = NewEvent {
        app_id: caller.map(|c| c.app_id),
        app_name: caller.map(|c| c.app_name.as_str()),
        request_id: Some(request_id),
        detail: Some(detail),
        http_status: Some(if outcome == Outcome::Forbidden { 403 } else { 401 }),
        ..NewEvent::default()
    };
    if let Err(e) = audit::record(&state.pool, outcome, event).await {
        tracing::warn!(error = %e, "could not audit a refused request");
    }
}
