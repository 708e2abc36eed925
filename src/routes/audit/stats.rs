//! `GET /v1/audit/stats`.

use axum::Json;
use axum::extract::State;

use super::params::{self, StatsParams};
use crate::db::audit::{self, Stats};
use crate::error::{ApiError, Problem};
use crate::routes::query::StrictQuery;
use crate::startup::AppState;

/// Counts by outcome, app and mailbox, and Graph latency percentiles, over the same filters as `/v1/audit`.
#[utoipa::path(
    get, path = "/v1/audit/stats", tag = "audit",
    params(StatsParams),
    responses(
        (status = 200, body = Stats),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn stats(
    State(state): State<AppState>,
    StrictQuery(query): StrictQuery<StatsParams>,
) -> Result<Json<Stats>, ApiError> {
    // limit, cursor and format are unknown parameters here, refused by name like any other.
    let p = params::parse(query.into(), false)?.with_canonical_mailbox(&state).await?;
    Ok(Json(audit::stats(&state.pool, &p.filter).await?))
}
