//! Refused requests in the audit log: who was refused and why, never the credential.

use std::net::IpAddr;

use crate::auth::Caller;
use crate::auth::failures::Record;
use crate::db::audit::{self, NewEvent, Outcome};
use crate::state::AppState;

/// A failed authentication: audited while its source is within its share of audit rows, else only counted.
pub(crate) async fn record_failure(state: &AppState, source: Option<IpAddr>, request_id: &str, detail: &str) {
    match state.auth_failures.fail(source) {
        Record::Audit => record_refusal(state, Outcome::Unauthenticated, None, request_id, detail).await,
        Record::CountOnly => state.metrics.auth_failure_unaudited(),
    }
}

/// Refusals are audited without the credential. A failure to record must not turn a 401 into a 500.
pub(super) async fn record_refusal(
    state: &AppState,
    outcome: Outcome,
    caller: Option<&Caller>,
    request_id: &str,
    detail: &str,
) {
    let event = NewEvent {
        app_id: caller.map(|c| c.app_id),
        app_name: caller.map(|c| c.app_name.as_str()),
        request_id: Some(request_id),
        detail: Some(detail),
        http_status: Some(if outcome == Outcome::Forbidden { 403 } else { 401 }),
        ..NewEvent::default()
    };
    if let Err(e) = audit::record(&state.pool, outcome, event).await {
        tracing::warn!(error = %e, "could not audit a refused request");
    }
}
