//! Who may call what. Each route module declares its routes' access beside them (`Routes`, in `declare`), and that
//! one declaration is both enforced and documented: the guard below authenticates every route not declared public
//! and checks its roles before the handler runs, and the OpenAPI document's `security` is written by the same call.
//! A route declared nowhere is refused.

mod authenticate;
mod authorize;
mod declare;
mod record;
mod rules;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, Role};
use crate::body_budget::Reservation;
use crate::error::{ApiError, ErrorCode};
use crate::routes::body_budget;
use crate::routes::request_id::RequestId;
use crate::state::AppState;

pub(crate) use authenticate::source;
pub use declare::Routes;
pub(crate) use record::record_failure;
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
    let (request, held) = body_budget::read(&state.body_budget, request).await?;
    Ok((request, Some(held)))
}

/// The guard's questions, in order: is the instance draining; who may call the route; who is calling; may they.
/// The caller, once allowed, goes on in the request's extensions.
async fn check(
    state: &AppState,
    rules: &Rules,
    method: &Method,
    route: &str,
    request: &mut Request,
) -> Result<(), ApiError> {
    refuse_while_draining(state, route)?;
    let allowed = match rules.access(method, route)? {
        Access::Public => return Ok(()),
        Access::AnyOf(allowed) => allowed,
    };
    let request_id = RequestId::of(request.headers()).to_owned();
    let source = authenticate::source(state, request);
    let caller = authenticate::caller(state, method, route, &request_id, source, request.headers()).await?;
    authorize::roles(state, &caller, allowed, method, route, &request_id).await?;
    request.extensions_mut().insert(caller);
    Ok(())
}

fn refuse_while_draining(state: &AppState, route: &str) -> Result<(), ApiError> {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) && route.starts_with("/v1") {
        // Both /v1/… and the Graph-shaped /v1.0/… are refused while draining.
        return Err(ApiError::new(ErrorCode::ShuttingDown, "this instance is shutting down; retry")
            .header(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1")));
    }
    Ok(())
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
