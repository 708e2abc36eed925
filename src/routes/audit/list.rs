//! `GET /v1/audit`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::params::{self, AuditParams, encode_cursor};
use crate::db::audit::{self, AuditRow};
use crate::error::{ApiError, Problem};
use crate::startup::AppState;

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditRow>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Audit events, newest first, filtered by app, mailbox, outcome and time; JSON or CSV.
#[utoipa::path(
    get, path = "/v1/audit", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of events; with `format=csv` or `Accept: text/csv`, CSV with a header row and a `Link: rel=next` header",
            content((AuditPage = "application/json"), (String = "text/csv"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let accept_csv = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"));
    let p = params::parse(query, accept_csv)?.with_canonical_mailbox(&state).await?;
    // One more than asked tells whether another page exists.
    let mut events = audit::search(&state.pool, &p.filter, p.before, p.limit + 1).await?;
    let more = events.len() as i64 > p.limit;
    events.truncate(p.limit as usize);
    let next_cursor = more.then(|| events.last().map(|e| encode_cursor(e.id))).flatten();
    if !p.csv {
        return Ok(Json(AuditPage { events, next_cursor }).into_response());
    }
    let mut response =
        ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], super::csv::render(&events)).into_response();
    if let Some(c) = next_cursor
        && let Ok(link) = HeaderValue::from_str(&format!("<?cursor={c}>; rel=\"next\""))
    {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}
