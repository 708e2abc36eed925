//! The HTTP surface. Each resource has its own module, which declares its routes and who may call them
//! (`access::Routes`); `api()` puts them together with the OpenAPI document.

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

use std::sync::Arc;

use access::Routes;

/// Every route that belongs in the OpenAPI document, each with who may call it, as its module declares.
pub fn api() -> Routes {
    Routes::with_openapi(openapi::base())
        .merge(messages::routes())
        .merge(graph::routes())
        .merge(audit::routes())
        .merge(admin::routes())
        .merge(allowlist::routes())
        .merge(health::routes())
}

/// The routes the document leaves out, all public: the document itself (as served), the metrics and the dashboard.
pub fn undocumented(openapi_json: Arc<String>) -> Routes {
    openapi::served(openapi_json).merge(metrics::routes()).merge(ui::routes())
}
