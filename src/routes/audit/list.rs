//! `GET /v1/audit`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::params::{self, AuditParams, encode_page_cursor};
use crate::db::audit::{self, AuditRow};
use crate::error::{ApiError, Problem};
use crate::routes::query::StrictQuery;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditRow>,
    /// Pass as `cursor` for the next (older) page; absent on the last page. Also in the `Link: rel="next"` header.
    pub next_cursor: Option<String>,
}

/// Audit events, newest first, filtered by app, mailbox, outcome, message and time; JSON or CSV, a page at a time.
/// For everything at once, `/v1/audit/export`.
#[utoipa::path(
    get, path = "/v1/audit", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of events; with `format=csv` or `Accept: text/csv`, CSV with a header row. Unless it is the last page, a `Link: rel=next` header",
            content((AuditPage = "application/json"), (String = "text/csv"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String)), description = "The instance is overloaded, shutting down, or the request timed out; `unavailable`: the audit database cannot be reached; retry. `query_timeout`: the query ran past MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS: narrow it"),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    StrictQuery(query): StrictQuery<AuditParams>,
) -> Result<Response, ApiError> {
    let query_string = uri.query().unwrap_or("").to_owned();
    let accept_csv = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"));
    let p = params::parse(query, accept_csv)?.with_canonical_mailbox(&state).await?;
    // One more than asked tells whether another page exists.
    let failed = super::read_error(&state.audit);
    let mut tx = state.audit.begin().await.map_err(&failed)?;
    let mut events = audit::search(&mut *tx, &p.filter, p.after, p.limit + 1).await.map_err(&failed)?;
    drop(tx);
    let more = events.len() as i64 > p.limit;
    events.truncate(p.limit as usize);
    let next_cursor = more.then(|| events.last().map(|e| encode_page_cursor(e.cursor()))).flatten();
    let link = next_cursor.as_deref().and_then(|c| next_link(&query_string, c));
    let mut response = if p.csv {
        ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], super::csv::render(&events)).into_response()
    } else {
        Json(AuditPage { events, next_cursor }).into_response()
    };
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// The same query with the next page's cursor in place of any previous one.
fn next_link(query: &str, cursor: &str) -> Option<HeaderValue> {
    let mut parts: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("cursor=")).collect();
    let cursor = format!("cursor={cursor}");
    parts.push(&cursor);
    HeaderValue::from_str(&format!("</v1/audit?{}>; rel=\"next\"", parts.join("&"))).ok()
}
