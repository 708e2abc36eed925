//! `/v1/admin/service-principals`, `/v1/admin/scopes`, `/v1/admin/role-assignments`: RBAC for Applications.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::admin::Actor;
use crate::admin::exchange_rbac::{self, AssignmentChange, AssignmentInput, PrincipalInput, ScopeChange, ScopeInput};
use crate::auth::Caller;
use crate::auth::Role::Admin;
use crate::db;
use crate::db::exchange_rbac::{AssignmentRow, ScopeRow, ServicePrincipalRow};
use crate::error::{ApiError, Problem};
use crate::routes::access::Routes;
use crate::routes::json_body::ApiJson;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .guarded(&[Admin], routes!(list_principals, create_principal))
        .guarded(&[Admin], routes!(get_principal, remove_principal))
        .guarded(&[Admin], routes!(list_scopes, create_scope))
        .guarded(&[Admin], routes!(get_scope, change_scope, remove_scope))
        .guarded(&[Admin], routes!(list_assignments, create_assignment))
        .guarded(&[Admin], routes!(get_assignment, change_assignment, remove_assignment))
}

#[utoipa::path(get, path = "/v1/admin/service-principals", tag = "admin", responses((status = 200, body = Vec<ServicePrincipalRow>)))]
pub async fn list_principals(State(state): State<AppState>) -> Result<Json<Vec<ServicePrincipalRow>>, ApiError> {
    Ok(Json(db::exchange_rbac::list_principals(&state.pool).await?))
}

/// New-ServicePrincipal.
#[utoipa::path(post, path = "/v1/admin/service-principals", tag = "admin", request_body = PrincipalInput,
    responses((status = 201, body = ServicePrincipalRow), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_principal(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<PrincipalInput>,
) -> Result<(StatusCode, Json<ServicePrincipalRow>), ApiError> {
    Ok((StatusCode::CREATED, Json(exchange_rbac::create_principal(&state.pool, &Actor::http(&caller), &input).await?)))
}

/// Remove a service principal (by app id or object id) and its role assignments.
#[utoipa::path(delete, path = "/v1/admin/service-principals/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove_principal(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&raw).map_err(|_| ApiError::not_found("service principal"))?;
    exchange_rbac::remove_principal(&state.pool, &Actor::http(&caller), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/admin/scopes", tag = "admin", responses((status = 200, body = Vec<ScopeRow>)))]
pub async fn list_scopes(State(state): State<AppState>) -> Result<Json<Vec<ScopeRow>>, ApiError> {
    Ok(Json(db::exchange_rbac::list_scopes(&state.pool).await?))
}

/// New-ManagementScope with a RecipientRestrictionFilter; a bad filter is refused with its position.
#[utoipa::path(post, path = "/v1/admin/scopes", tag = "admin", request_body = ScopeInput,
    responses((status = 201, body = ScopeRow), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_scope(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<ScopeInput>,
) -> Result<(StatusCode, Json<ScopeRow>), ApiError> {
    Ok((StatusCode::CREATED, Json(exchange_rbac::create_scope(&state.pool, &Actor::http(&caller), &input).await?)))
}

/// Set-ManagementScope: a new filter.
#[utoipa::path(patch, path = "/v1/admin/scopes/{name}", tag = "admin", params(("name" = String, Path)), request_body = ScopeChange,
    responses((status = 200, body = ScopeRow), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn change_scope(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<ScopeChange>,
) -> Result<Json<ScopeRow>, ApiError> {
    Ok(Json(exchange_rbac::change_scope(&state.pool, &Actor::http(&caller), &name, &input).await?))
}

#[utoipa::path(delete, path = "/v1/admin/scopes/{name}", tag = "admin", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove_scope(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    exchange_rbac::remove_scope(&state.pool, &Actor::http(&caller), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/admin/role-assignments", tag = "admin", responses((status = 200, body = Vec<AssignmentRow>)))]
pub async fn list_assignments(State(state): State<AppState>) -> Result<Json<Vec<AssignmentRow>>, ApiError> {
    Ok(Json(db::exchange_rbac::list_assignments(&state.pool).await?))
}

/// New-ManagementRoleAssignment -App … -Role … [-CustomResourceScope …].
#[utoipa::path(post, path = "/v1/admin/role-assignments", tag = "admin", request_body = AssignmentInput,
    responses((status = 201, body = AssignmentRow), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<AssignmentInput>,
) -> Result<(StatusCode, Json<AssignmentRow>), ApiError> {
    Ok((StatusCode::CREATED, Json(exchange_rbac::create_assignment(&state.pool, &Actor::http(&caller), &input).await?)))
}

#[utoipa::path(delete, path = "/v1/admin/role-assignments/{name}", tag = "admin", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove_assignment(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    exchange_rbac::remove_assignment(&state.pool, &Actor::http(&caller), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/admin/service-principals/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = ServicePrincipalRow), (status = 404, body = Problem)))]
pub async fn get_principal(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<ServicePrincipalRow>, ApiError> {
    let id = Uuid::parse_str(&raw).map_err(|_| ApiError::not_found("service principal"))?;
    Ok(Json(exchange_rbac::get_principal(&state.pool, id).await?))
}

#[utoipa::path(get, path = "/v1/admin/scopes/{name}", tag = "admin", params(("name" = String, Path)),
    responses((status = 200, body = ScopeRow), (status = 404, body = Problem)))]
pub async fn get_scope(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<ScopeRow>, ApiError> {
    Ok(Json(exchange_rbac::get_scope(&state.pool, &name).await?))
}

#[utoipa::path(get, path = "/v1/admin/role-assignments/{name}", tag = "admin", params(("name" = String, Path)),
    responses((status = 200, body = AssignmentRow), (status = 404, body = Problem)))]
pub async fn get_assignment(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<AssignmentRow>, ApiError> {
    Ok(Json(exchange_rbac::get_assignment(&state.pool, &name).await?))
}

/// Set-ManagementRoleAssignment: move the assignment to another scope, or organisation-wide.
#[utoipa::path(patch, path = "/v1/admin/role-assignments/{name}", tag = "admin", params(("name" = String, Path)),
    request_body = AssignmentChange,
    responses((status = 200, body = AssignmentRow), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn change_assignment(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<AssignmentChange>,
) -> Result<Json<AssignmentRow>, ApiError> {
    Ok(Json(exchange_rbac::change_assignment(&state.pool, &Actor::http(&caller), &name, &input).await?))
}
