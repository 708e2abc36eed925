//! `/v1/admin/groups`: mail-enabled security groups and their members.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::routes;

use crate::admin::Actor;
use crate::admin::groups::{self, GroupChange, GroupInput, GroupView, MemberInput};
use crate::auth::Caller;
use crate::auth::Role::Admin;
use crate::db;
use crate::db::groups::GroupRow;
use crate::error::{ApiError, Problem};
use crate::routes::access::Routes;
use crate::routes::json_body::ApiJson;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .guarded(&[Admin], routes!(list, create))
        .guarded(&[Admin], routes!(get, change, remove))
        .guarded(&[Admin], routes!(add_member))
        .guarded(&[Admin], routes!(remove_member))
}

#[utoipa::path(get, path = "/v1/admin/groups", tag = "admin", responses((status = 200, body = Vec<GroupRow>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<GroupRow>>, ApiError> {
    Ok(Json(db::groups::list(&state.pool).await?))
}

/// Mirror a mail-enabled security group.
#[utoipa::path(post, path = "/v1/admin/groups", tag = "admin", request_body = GroupInput,
    responses((status = 201, body = GroupRow), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<GroupInput>,
) -> Result<(StatusCode, Json<GroupRow>), ApiError> {
    Ok((StatusCode::CREATED, Json(groups::create(&state.pool, &Actor::http(&caller), &input).await?)))
}

#[utoipa::path(get, path = "/v1/admin/groups/{address}", tag = "admin", params(("address" = String, Path, format = Email, max_length = 254)),
    responses((status = 200, body = GroupView), (status = 404, body = Problem)))]
pub async fn get(State(state): State<AppState>, Path(address): Path<String>) -> Result<Json<GroupView>, ApiError> {
    Ok(Json(groups::get(&state.pool, &address).await?))
}

/// Remove a group; refused while a policy is scoped to it.
#[utoipa::path(delete, path = "/v1/admin/groups/{address}", tag = "admin", params(("address" = String, Path, format = Email, max_length = 254)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(address): Path<String>,
) -> Result<StatusCode, ApiError> {
    groups::remove(&state.pool, &Actor::http(&caller), &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a member: a mailbox (address or object id) or another group.
#[utoipa::path(post, path = "/v1/admin/groups/{address}/members", tag = "admin", params(("address" = String, Path, format = Email, max_length = 254)),
    request_body = MemberInput,
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(address): Path<String>,
    ApiJson(input): ApiJson<MemberInput>,
) -> Result<StatusCode, ApiError> {
    groups::add_member(&state.pool, &Actor::http(&caller), &address, &input.member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member of a group, as the path names it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct MemberPath {
    #[param(schema_with = crate::admin::schema::address)]
    address: String,
    /// A mailbox (address or object id), or the address of another group.
    #[param(schema_with = crate::admin::schema::mailbox)]
    member: String,
}

#[utoipa::path(delete, path = "/v1/admin/groups/{address}/members/{member}", tag = "admin",
    params(MemberPath),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((address, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    groups::remove_member(&state.pool, &Actor::http(&caller), &address, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a group's display name (what `MemberOfGroup` filters may also name it by).
#[utoipa::path(patch, path = "/v1/admin/groups/{address}", tag = "admin", params(("address" = String, Path, format = Email, max_length = 254)),
    request_body = GroupChange,
    responses((status = 200, body = GroupView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(address): Path<String>,
    ApiJson(input): ApiJson<GroupChange>,
) -> Result<Json<GroupView>, ApiError> {
    Ok(Json(groups::change(&state.pool, &Actor::http(&caller), &address, &input).await?))
}
