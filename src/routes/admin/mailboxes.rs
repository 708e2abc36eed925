//! `/v1/admin/mailboxes`: the mailbox directory that filters and scopes are checked against.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::routes;

use crate::admin::Actor;
use crate::admin::directory::{self, MailboxInput};
use crate::auth::Caller;
use crate::auth::Role::Admin;
use crate::db;
use crate::db::directory::RecipientRow;
use crate::error::{ApiError, Problem};
use crate::routes::access::Routes;
use crate::routes::json_body::ApiJson;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().guarded(&[Admin], routes!(list)).guarded(&[Admin], routes!(get, put, remove))
}

#[utoipa::path(get, path = "/v1/admin/mailboxes", tag = "admin", responses((status = 200, body = Vec<RecipientRow>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<RecipientRow>>, ApiError> {
    Ok(Json(db::directory::list(&state.pool).await?))
}

#[utoipa::path(get, path = "/v1/admin/mailboxes/{address}", tag = "admin", params(("address" = String, Path, format = Email, max_length = 254)),
    responses((status = 200, body = RecipientRow), (status = 404, body = Problem)))]
pub async fn get(State(state): State<AppState>, Path(address): Path<String>) -> Result<Json<RecipientRow>, ApiError> {
    Ok(Json(directory::get(&state.pool, &address).await?))
}

/// Create or replace a directory entry.
#[utoipa::path(put, path = "/v1/admin/mailboxes/{address}", tag = "admin", params(("address" = String, Path, format = Email, max_length = 254)),
    request_body = MailboxInput,
    responses((status = 201, body = RecipientRow), (status = 200, body = RecipientRow), (status = 409, body = Problem, description = "Another mailbox has that object id"), (status = 422, body = Problem)))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(address): Path<String>,
    ApiJson(input): ApiJson<MailboxInput>,
) -> Result<(StatusCode, Json<RecipientRow>), ApiError> {
    let (row, created) = directory::put(&state.pool, &Actor::http(&caller), &address, input).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(row)))
}

#[utoipa::path(delete, path = "/v1/admin/mailboxes/{address}", tag = "admin", params(("address" = String, Path, format = Email, max_length = 254)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(address): Path<String>,
) -> Result<StatusCode, ApiError> {
    directory::remove(&state.pool, &Actor::http(&caller), &address).await?;
    Ok(StatusCode::NO_CONTENT)
}
