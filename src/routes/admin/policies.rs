//! `/v1/admin/policies`: application access policies.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::admin::Actor;
use crate::admin::policies::{self, PolicyChange, PolicyInput};
use crate::auth::Caller;
use crate::auth::Role::Admin;
use crate::db;
use crate::db::policies::PolicyView;
use crate::error::{ApiError, Problem};
use crate::routes::access::Routes;
use crate::routes::json_body::ApiJson;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().guarded(&[Admin], routes!(list, create)).guarded(&[Admin], routes!(get, change, remove))
}

fn id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("policy"))
}

#[utoipa::path(get, path = "/v1/admin/policies", tag = "admin", responses((status = 200, body = Vec<PolicyView>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<PolicyView>>, ApiError> {
    Ok(Json(db::policies::list(&state.pool).await?))
}

/// New-ApplicationAccessPolicy: refuses scopes Exchange refuses, and more policies than Exchange allows.
#[utoipa::path(post, path = "/v1/admin/policies", tag = "admin", request_body = PolicyInput,
    responses((status = 201, body = PolicyView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<PolicyInput>,
) -> Result<(StatusCode, Json<PolicyView>), ApiError> {
    Ok((StatusCode::CREATED, Json(policies::create(&state.pool, &Actor::http(&caller), &input).await?)))
}

#[utoipa::path(get, path = "/v1/admin/policies/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = PolicyView), (status = 404, body = Problem)))]
pub async fn get(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Json<PolicyView>, ApiError> {
    Ok(Json(policies::get(&state.pool, id(&raw)?).await?))
}

/// Set-ApplicationAccessPolicy: only the description changes.
#[utoipa::path(patch, path = "/v1/admin/policies/{id}", tag = "admin", params(("id" = Uuid, Path)), request_body = PolicyChange,
    responses((status = 200, body = PolicyView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    // Taken as a result so that an unknown id is answered 404 before the body is looked at.
    input: Result<ApiJson<PolicyChange>, ApiError>,
) -> Result<Json<PolicyView>, ApiError> {
    let id = id(&raw)?;
    let ApiJson(input) = input?;
    Ok(Json(policies::change(&state.pool, &Actor::http(&caller), id, &input).await?))
}

#[utoipa::path(delete, path = "/v1/admin/policies/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    policies::remove(&state.pool, &Actor::http(&caller), id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
