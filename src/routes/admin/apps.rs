//! `/v1/admin/apps`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::routes;

use crate::admin::Actor;
use crate::admin::apps::{self, AppChange, AppInput};
use crate::auth::Caller;
use crate::auth::Role::Admin;
use crate::db;
use crate::db::apps::App;
use crate::error::{ApiError, Problem};
use crate::routes::access::Routes;
use crate::routes::json_body::ApiJson;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().guarded(&[Admin], routes!(list, create)).guarded(&[Admin], routes!(get, change, remove))
}

/// Every registered app.
#[utoipa::path(get, path = "/v1/admin/apps", tag = "admin", responses((status = 200, body = Vec<App>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<App>>, ApiError> {
    Ok(Json(db::apps::list(&state.pool).await?))
}

/// Register an app. It sends as no mailbox until an access policy or role assignment of its own names it, or it is
/// registered `unrestricted`.
#[utoipa::path(
    post, path = "/v1/admin/apps", tag = "admin", request_body = AppInput,
    responses(
        (status = 201, body = App),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The name or Entra ids are taken"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<AppInput>,
) -> Result<(StatusCode, Json<App>), ApiError> {
    let home = apps::home_tenant(&state.settings);
    Ok((StatusCode::CREATED, Json(apps::create(&state.pool, &Actor::http(&caller), &input, home).await?)))
}

/// One app, by name or Entra app id.
#[utoipa::path(
    get, path = "/v1/admin/apps/{name}", tag = "admin",
    params(("name" = String, Path)),
    responses((status = 200, body = App), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<App>, ApiError> {
    Ok(Json(apps::get(&state.pool, &name).await?))
}

/// Change an app's Entra ids, roles, whether it holds the tenant-wide Entra Mail.Send grant, or whether it is
/// unrestricted (sends as every mailbox its access policies do not exclude, with no policy of its own).
#[utoipa::path(
    patch, path = "/v1/admin/apps/{name}", tag = "admin",
    params(("name" = String, Path)), request_body = AppChange,
    responses(
        (status = 200, body = App),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<AppChange>,
) -> Result<Json<App>, ApiError> {
    let home = apps::home_tenant(&state.settings);
    let app = apps::change(&state.pool, &Actor::http(&caller), &name, &input, home).await?;
    Ok(Json(app))
}

/// Delete an app that has never sent (its keys go with it); one with messages is kept for the audit trail.
#[utoipa::path(
    delete, path = "/v1/admin/apps/{name}", tag = "admin",
    params(("name" = String, Path)),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    apps::remove(&state.pool, &Actor::http(&caller), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
