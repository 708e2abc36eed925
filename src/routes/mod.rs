//! The HTTP surface. Each resource has its own module; `api()` puts them together with the OpenAPI document.

pub mod access;
pub mod admin;
pub mod audit;
pub mod health;
pub mod json_body;
pub mod messages;
pub mod metrics;
pub mod openapi;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::startup::AppState;

/// Every route that belongs in the OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(messages::post::send))
        .routes(routes!(messages::get::status))
        .routes(routes!(audit::list::list))
        .routes(routes!(audit::stats::stats))
        .routes(routes!(admin::apps::list, admin::apps::create))
        .routes(routes!(admin::apps::get))
        .routes(routes!(admin::keys::list, admin::keys::issue))
        .routes(routes!(admin::keys::revoke))
        .routes(routes!(admin::sync::import))
        .routes(routes!(admin::sync::export))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}
