//! Who may call what, in one table. The middleware authenticates every non-public route and checks its roles
//! before the handler runs; the OpenAPI document is annotated from the same table.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::authenticate::AuthFailure;
use crate::auth::failures::Record;
use crate::auth::{Caller, Role};
use crate::body_budget::Reservation;
use crate::db::audit::{self, NewEvent, Outcome};
use crate::error::{ApiError, ErrorCode};
use crate::routes::body_budget;
use crate::routes::request_id::RequestId;
use crate::state::AppState;

pub enum Access {
    Public,
    /// Any one of these roles suffices.
    AnyOf(&'static [Role]),
}

pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

const fn roles(method: Method, path: &'static str, roles: &'static [Role]) -> Endpoint {
    Endpoint { method, path, access: Access::AnyOf(roles) }
}

const fn public(method: Method, path: &'static str) -> Endpoint {
    Endpoint { method, path, access: Access::Public }
}

use Role::{Admin, AuditRead, MailSend};

pub const ENDPOINTS: &[Endpoint] = &[
    public(Method::GET, "/healthz"),
    public(Method::GET, "/readyz"),
    public(Method::GET, "/metrics"),
    public(Method::GET, "/openapi.json"),
    // The dashboard's static files; its data comes from the audit endpoints below, with the auditor's credential.
    public(Method::GET, "/ui"),
    public(Method::GET, "/ui/{file}"),
    roles(Method::POST, "/v1/messages", &[MailSend]),
    roles(Method::POST, "/v1.0/users/{mailbox}/sendMail", &[MailSend]),
    // Senders see their own messages; auditors see every message.
    roles(Method::GET, "/v1/messages/{id}", &[MailSend, AuditRead]),
    roles(Method::GET, "/v1/audit", &[AuditRead]),
    roles(Method::GET, "/v1/audit/stats", &[AuditRead]),
    roles(Method::GET, "/v1/audit/timeseries", &[AuditRead]),
    roles(Method::GET, "/v1/audit/export", &[AuditRead]),
    roles(Method::GET, "/v1/admin/apps", &[Admin]),
    roles(Method::POST, "/v1/admin/apps", &[Admin]),
    roles(Method::GET, "/v1/admin/apps/{name}", &[Admin]),
    roles(Method::GET, "/v1/admin/apps/{name}/keys", &[Admin]),
    roles(Method::POST, "/v1/admin/apps/{name}/keys", &[Admin]),
    roles(Method::DELETE, "/v1/admin/keys/{id}", &[Admin]),
    roles(Method::PATCH, "/v1/admin/apps/{name}", &[Admin]),
    roles(Method::DELETE, "/v1/admin/apps/{name}", &[Admin]),
    roles(Method::PATCH, "/v1/admin/groups/{address}", &[Admin]),
    roles(Method::GET, "/v1/admin/service-principals/{id}", &[Admin]),
    roles(Method::GET, "/v1/admin/scopes/{name}", &[Admin]),
    roles(Method::GET, "/v1/admin/role-assignments/{name}", &[Admin]),
    roles(Method::PATCH, "/v1/admin/role-assignments/{name}", &[Admin]),
    roles(Method::GET, "/v1/admin/groups", &[Admin]),
    roles(Method::POST, "/v1/admin/groups", &[Admin]),
    roles(Method::GET, "/v1/admin/groups/{address}", &[Admin]),
    roles(Method::DELETE, "/v1/admin/groups/{address}", &[Admin]),
    roles(Method::POST, "/v1/admin/groups/{address}/members", &[Admin]),
    roles(Method::DELETE, "/v1/admin/groups/{address}/members/{member}", &[Admin]),
    roles(Method::GET, "/v1/admin/policies", &[Admin]),
    roles(Method::POST, "/v1/admin/policies", &[Admin]),
    roles(Method::GET, "/v1/admin/policies/{id}", &[Admin]),
    roles(Method::PATCH, "/v1/admin/policies/{id}", &[Admin]),
    roles(Method::DELETE, "/v1/admin/policies/{id}", &[Admin]),
    roles(Method::GET, "/v1/admin/mailboxes", &[Admin]),
    roles(Method::GET, "/v1/admin/mailboxes/{address}", &[Admin]),
    roles(Method::PUT, "/v1/admin/mailboxes/{address}", &[Admin]),
    roles(Method::DELETE, "/v1/admin/mailboxes/{address}", &[Admin]),
    roles(Method::GET, "/v1/admin/service-principals", &[Admin]),
    roles(Method::POST, "/v1/admin/service-principals", &[Admin]),
    roles(Method::DELETE, "/v1/admin/service-principals/{id}", &[Admin]),
    roles(Method::GET, "/v1/admin/scopes", &[Admin]),
    roles(Method::POST, "/v1/admin/scopes", &[Admin]),
    roles(Method::PATCH, "/v1/admin/scopes/{name}", &[Admin]),
    roles(Method::DELETE, "/v1/admin/scopes/{name}", &[Admin]),
    roles(Method::GET, "/v1/admin/role-assignments", &[Admin]),
    roles(Method::POST, "/v1/admin/role-assignments", &[Admin]),
    roles(Method::DELETE, "/v1/admin/role-assignments/{name}", &[Admin]),
    // "May app X send as mailbox Y, and why?" — for those who manage or audit the allowlist.
    roles(Method::POST, "/v1/access/test", &[Admin, AuditRead]),
    roles(Method::GET, "/v1/access/drift", &[Admin, AuditRead]),
    roles(Method::GET, "/v1/access/apps", &[Admin, AuditRead]),
    roles(Method::GET, "/v1/audit/changes", &[AuditRead]),
    roles(Method::POST, "/v1/admin/import", &[Admin]),
    roles(Method::GET, "/v1/admin/export", &[Admin]),
];

pub fn endpoint(method: &Method, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.method == method && e.path == path)
}

/// The rule for a request: HEAD is answered by the GET handler, so it follows GET's rule.
fn rule(method: &Method, path: &str) -> Option<&'static Endpoint> {
    endpoint(if method == Method::HEAD { &Method::GET } else { method }, path)
}

/// Codes answered as problem+json on every path, the Graph-shaped one included: they are about HTTP, not mail.
/// A 429 is not among them: Graph SDKs retry a throttled call only when it comes in Graph's shape.
const EDGE_CODES: [ErrorCode; 1] = [ErrorCode::MethodNotAllowed];

/// Authenticates and authorizes per the table; records request metrics for every routed request.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let request_id = RequestId::of(request.headers()).to_owned();
    let checked = match check(&state, &method, &route, &mut request).await {
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
    let (request, held) = body_budget::read(&state.body_budget, request).await?;
    Ok((request, Some(held)))
}

async fn check(state: &AppState, method: &Method, route: &str, request: &mut Request) -> Result<(), ApiError> {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) && route.starts_with("/v1") {
        // Both /v1/… and the Graph-shaped /v1.0/… are refused while draining.
        return Err(ApiError::new(ErrorCode::ShuttingDown, "this instance is shutting down; retry")
            .header(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1")));
    }
    // Default deny: a route missing from the table is a bug, and nobody may call it.
    let Some(endpoint) = rule(method, route) else {
        return Err(method_not_allowed(method, route));
    };
    let allowed = match endpoint.access {
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
        if let Err(retry_after) = crate::accept::over_budget(&state.refusals, &state.metrics, &caller) {
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

/// 405 for a method the path does not serve; a path missing from the table altogether is a bug (500).
/// The `Allow` header is added by the router, which knows the methods it serves.
fn method_not_allowed(method: &Method, route: &str) -> ApiError {
    let mut served: Vec<&str> = ENDPOINTS.iter().filter(|e| e.path == route).map(|e| e.method.as_str()).collect();
    if served.is_empty() {
        return ApiError::internal(format!("no access rule for {} {route}", known(method)));
    }
    if served.contains(&"GET") {
        served.push("HEAD");
    }
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{route} does not take {}; it takes {}", known(method), served.join(", ")),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_listed_once() {
        for (i, a) in ENDPOINTS.iter().enumerate() {
            for b in &ENDPOINTS[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "{} {} twice", a.method, a.path);
            }
        }
    }
}
