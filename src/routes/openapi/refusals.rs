//! The refusals every operation shares, written into the document once instead of into every annotation:
//! 401/403 where a role is needed, 400/413/415/422 where a JSON body is read, 404 where the path names something,
//! 422 on every API operation (its query is read strictly), 429 when a source failed authentication too often,
//! 503 when the instance is overloaded, drains, its store is away, or the request timed out. Every problem answer
//! is `application/problem+json`.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr};

use crate::error::PROBLEM_JSON;

const PROBLEM_REF: &str = "#/components/schemas/Problem";

/// What an operation reads, which decides the ways it can be refused.
pub struct Shape {
    pub secured: bool,
    pub body: bool,
    pub path_params: bool,
    pub query_params: bool,
}

impl Shape {
    pub fn of(op: &Operation, secured: bool) -> Self {
        let params = op.parameters.as_deref().unwrap_or_default();
        let any_in = |place: ParameterIn| params.iter().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place));
        Shape {
            secured,
            body: op.request_body.is_some(),
            path_params: any_in(ParameterIn::Path),
            query_params: any_in(ParameterIn::Query),
        }
    }
}

/// Adds the shared refusals the operation does not describe itself, and labels problem bodies as problem+json.
pub fn add(op: &mut Operation, shape: &Shape, api: bool) {
    let responses = &mut op.responses.responses;
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response {
            relabel_problem(response);
            // OpenAPI requires a description; a bare `(status = 409, body = Problem)` leaves it empty.
            if response.description.is_empty() {
                response.description = status
                    .parse::<u16>()
                    .ok()
                    .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Answer")
                    .to_owned();
            }
        }
    }
    let mut common: Vec<(&str, Response)> = Vec::new();
    if shape.body {
        common.push(("400", problem("The body is not JSON")));
        common.push(("413", problem("The body is larger than this server accepts")));
        common.push(("415", problem("The body is not `application/json`")));
    }
    // Every API operation refuses a query parameter it does not declare (src/routes/query.rs).
    if shape.body || shape.query_params || shape.path_params || api {
        common.push(("422", problem("A field or parameter is invalid or unknown; `field` names it")));
    }
    if shape.path_params {
        common.push(("404", problem("Nothing by that name")));
    }
    if shape.secured {
        common.push((
            "401",
            with_header(problem("No credential, or one that is unknown, revoked or expired"), "WWW-Authenticate"),
        ));
        common.push(("403", problem("The caller lacks the role, or its Entra app is not registered")));
        common.push((
            "429",
            with_header(
                problem("Too many failed authentications from this source (`too_many_auth_failures`); retry later"),
                "Retry-After",
            ),
        ));
    }
    let unavailable = if api {
        "The instance is overloaded, shutting down, or its database is unavailable, or the request timed out; retry"
    } else {
        "The instance is overloaded or the request timed out; retry"
    };
    common.push(("503", with_header(problem(unavailable), "Retry-After")));
    for (status, response) in common {
        responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(response));
    }
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::new(PROBLEM_REF))).build())
        .build()
}

fn with_header(mut response: Response, name: &str) -> Response {
    let header = HeaderBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build();
    response.headers.insert(name.to_owned(), RefOr::T(header));
    response
}

/// A Problem body declared as plain JSON is really served as problem+json.
fn relabel_problem(response: &mut Response) {
    let is_problem = |content: &RefOr<utoipa::openapi::Content>| matches!(content, RefOr::T(c) if matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location == PROBLEM_REF));
    if let Some(index) = response.content.get_index_of("application/json")
        && response.content.get("application/json").is_some_and(is_problem)
        && let Some((_, content)) = response.content.shift_remove_index(index)
    {
        response.content.shift_insert(index, PROBLEM_JSON.to_owned(), content);
    }
}
