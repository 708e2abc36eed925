//! `/v1/admin/apps`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use crate::admin::apps::{self, AppInput};
use crate::db;
use crate::db::apps::App;
use crate::error::{ApiError, Problem};
use crate::routes::json_body;
use crate::startup::AppState;

/// Every registered app.
#[utoipa::path(get, path = "/v1/admin/apps", tag = "admin", responses((status = 200, body = Vec<App>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<App>>, ApiError> {
    Ok(Json(db::apps::list(&state.pool).await?))
}

/// Register an app.
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
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<App>), ApiError> {
    let input: AppInput = json_body::parse(&headers, body)?;
    Ok((StatusCode::CREATED, Json(apps::create(&state.pool, &input).await?)))
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
