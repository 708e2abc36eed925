//! The HTTP surface. Each resource has its own module; `api()` puts them together with the OpenAPI document.

pub mod access;
pub mod admin;
pub mod allowlist;
pub mod audit;
pub mod body_budget;
pub mod graph;
pub mod health;
pub mod json_body;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod readiness;
pub mod ui;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::startup::AppState;

/// Every route that belongs in the OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(messages::post::send))
        .routes(routes!(messages::get::status))
        .routes(routes!(graph::send_mail::send_mail))
        .routes(routes!(audit::list::list))
        .routes(routes!(audit::stats::stats))
        .routes(routes!(audit::series::timeseries))
        .routes(routes!(audit::export::export))
        .routes(routes!(admin::apps::list, admin::apps::create))
        .routes(routes!(admin::apps::get, admin::apps::change, admin::apps::remove))
        .routes(routes!(admin::keys::list, admin::keys::issue))
        .routes(routes!(admin::keys::revoke))
        .routes(routes!(admin::groups::list, admin::groups::create))
        .routes(routes!(admin::groups::get, admin::groups::change, admin::groups::remove))
        .routes(routes!(admin::groups::add_member))
        .routes(routes!(admin::groups::remove_member))
        .routes(routes!(admin::policies::list, admin::policies::create))
        .routes(routes!(admin::policies::get, admin::policies::change, admin::policies::remove))
        .routes(routes!(admin::mailboxes::list))
        .routes(routes!(admin::mailboxes::get, admin::mailboxes::put, admin::mailboxes::remove))
        .routes(routes!(admin::rbac::list_principals, admin::rbac::create_principal))
        .routes(routes!(admin::rbac::get_principal, admin::rbac::remove_principal))
        .routes(routes!(admin::rbac::list_scopes, admin::rbac::create_scope))
        .routes(routes!(admin::rbac::get_scope, admin::rbac::change_scope, admin::rbac::remove_scope))
        .routes(routes!(admin::rbac::list_assignments, admin::rbac::create_assignment))
        .routes(routes!(admin::rbac::get_assignment, admin::rbac::change_assignment, admin::rbac::remove_assignment))
        .routes(routes!(allowlist::test))
        .routes(routes!(allowlist::drift))
        .routes(routes!(allowlist::apps))
        .routes(routes!(audit::changes::changes))
        .routes(routes!(admin::sync::import))
        .routes(routes!(admin::sync::export))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}
