//! `GET /v1/audit/stats`.

use axum::Json;
use axum::extract::State;

use super::params::{self, StatsParams};
use crate::db::audit::{self, Stats};
use crate::error::{ApiError, Problem};
use crate::routes::query::StrictQuery;
use crate::state::AppState;

/// Counts by outcome, app and mailbox, and Graph latency percentiles, over the same filters as `/v1/audit`, over
/// the last 24 hours unless `since` and `until` say otherwise (at most the retention period,
/// `MAILGATE_AUDIT_RETENTION_DAYS`).
#[utoipa::path(
    get, path = "/v1/audit/stats", tag = "audit",
    params(StatsParams),
    responses(
        (status = 200, body = Stats),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A parameter is invalid (`field` names it); `range_too_long`: `since`..`until` spans more than the retention period"),
        (status = 503, body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String)), description = "The instance is overloaded, shutting down, or the request timed out; `unavailable`: the audit database cannot be reached; retry. `query_timeout`: the query ran past MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS: narrow it"),
    ),
)]
pub async fn stats(
    State(state): State<AppState>,
    StrictQuery(query): StrictQuery<StatsParams>,
) -> Result<Json<Stats>, ApiError> {
    // limit, cursor and format are unknown parameters here, refused by name like any other.
    let mut p = params::parse(query.into(), false)?.with_canonical_mailbox(&state).await?;
    let (since, until) =
        params::counted_range(p.filter.since, p.filter.until, state.settings.retention.audit_retention_days)?;
    (p.filter.since, p.filter.until) = (Some(since), Some(until));
    let failed = super::read_error(&state.audit);
    let mut tx = state.audit.begin().await.map_err(&failed)?;
    Ok(Json(audit::stats(&mut tx, &p.filter).await.map_err(&failed)?))
}
