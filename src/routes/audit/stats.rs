//! `GET /v1/audit/stats`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};

use super::params::{self, AuditParams};
use crate::db::audit::{self, Stats};
use crate::error::{ApiError, Problem};
use crate::startup::AppState;

/// Counts by outcome, app and mailbox, and Graph latency percentiles, over the same filters as `/v1/audit`.
#[utoipa::path(
    get, path = "/v1/audit/stats", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, body = Stats),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn stats(
    State(state): State<AppState>,
    query: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<Stats>, ApiError> {
    let p = params::parse(query, false)?;
    for (field, set) in [("limit", p.limit != 100), ("cursor", p.before.is_some()), ("format", p.csv)] {
        if set {
            return Err(ApiError::invalid(field, format!("`{field}` does not apply to statistics")));
        }
    }
    Ok(Json(audit::stats(&state.pool, &p.filter).await?))
}
