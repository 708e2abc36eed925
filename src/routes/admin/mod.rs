//! `/v1/admin`: the CLI's operations over HTTP, for the `Admin` role.

pub mod apps;
pub mod exchange_rbac;
pub mod exchange_sync;
pub mod groups;
pub mod keys;
pub mod mailboxes;
pub mod policies;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::routes::access::Routes;
use crate::state::AppState;

/// Every route here is for the Admin role; each file declares its own.
pub fn routes() -> Routes {
    Routes::new()
        .merge(apps::routes())
        .merge(keys::routes())
        .merge(groups::routes())
        .merge(policies::routes())
        .merge(mailboxes::routes())
        .merge(exchange_rbac::routes())
        .merge(exchange_sync::routes())
}

/// After a change through `/v1/admin` (or an import) succeeds, this replica decides with it at once: its policy
/// snapshot and callers are marked stale here, while other replicas follow the change notice from the database.
/// Without it the next request could still be decided on the picture before the change until the notice arrives.
pub async fn forget_on_change(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && request.uri().path().starts_with("/v1/admin/");
    let response = next.run(request).await;
    if changes && response.status().is_success() {
        state.policy.invalidate();
        state.callers.invalidate();
    }
    response
}
