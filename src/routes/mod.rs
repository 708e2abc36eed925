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
pub mod request_id;
pub mod ui;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

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
        .routes(routes!(admin::exchange_rbac::list_principals, admin::exchange_rbac::create_principal))
        .routes(routes!(admin::exchange_rbac::get_principal, admin::exchange_rbac::remove_principal))
        .routes(routes!(admin::exchange_rbac::list_scopes, admin::exchange_rbac::create_scope))
        .routes(routes!(
            admin::exchange_rbac::get_scope,
            admin::exchange_rbac::change_scope,
            admin::exchange_rbac::remove_scope
        ))
        .routes(routes!(admin::exchange_rbac::list_assignments, admin::exchange_rbac::create_assignment))
        .routes(routes!(
            admin::exchange_rbac::get_assignment,
            admin::exchange_rbac::change_assignment,
            admin::exchange_rbac::remove_assignment
        ))
        .routes(routes!(allowlist::test))
        .routes(routes!(allowlist::drift))
        .routes(routes!(allowlist::apps))
        .routes(routes!(audit::changes::changes))
        .routes(routes!(admin::exchange_sync::import))
        .routes(routes!(admin::exchange_sync::export))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
}
