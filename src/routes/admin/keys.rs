//! `/v1/admin/apps/{name}/keys` and `/v1/admin/keys/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::admin::keys::{self, IssuedKey, KeyInput};
use crate::admin::{Actor, apps};
use crate::auth::Caller;
use crate::auth::Role::Admin;
use crate::db;
use crate::db::keys::KeyInfo;
use crate::error::{ApiError, Problem};
use crate::routes::access::Routes;
use crate::routes::json_body::ApiJsonOrDefault;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().guarded(&[Admin], routes!(list, issue)).guarded(&[Admin], routes!(revoke))
}

/// An app's keys: prefixes, state and last use — never the secrets.
#[utoipa::path(
    get, path = "/v1/admin/apps/{name}/keys", tag = "admin",
    params(("name" = String, Path)),
    responses((status = 200, body = Vec<KeyInfo>), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn list(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    let app = apps::get(&state.pool, &name).await?;
    Ok(Json(db::keys::list(&state.pool, Some(app.id)).await?))
}

/// Issue a key. The answer holds the key; it is never shown again.
#[utoipa::path(
    post, path = "/v1/admin/apps/{name}/keys", tag = "admin",
    params(("name" = String, Path)), request_body(content = Option<KeyInput>, description = "Optional: an empty body means defaults"),
    responses(
        (status = 201, body = IssuedKey),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    // An empty body, or JSON null, means "defaults".
    ApiJsonOrDefault(input): ApiJsonOrDefault<KeyInput>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    Ok((StatusCode::CREATED, Json(keys::issue(&state.pool, &Actor::http(&caller), &name, &input).await?)))
}

/// Revoke a key. It is refused on the next request, on every replica.
#[utoipa::path(
    delete, path = "/v1/admin/keys/{id}", tag = "admin",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("key"))?;
    keys::revoke(&state.pool, &Actor::http(&caller), &id.to_string()).await?;
    Ok(StatusCode::NO_CONTENT)
}
