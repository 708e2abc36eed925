//! The HTTP surface. Each resource has its own module; `api()` puts them together with the OpenAPI document.

pub mod health;
pub mod json_body;
pub mod messages;
pub mod openapi;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::startup::AppState;

/// Every route that belongs in the OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(messages::post::send))
        .routes(routes!(messages::get::status))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}
