//! May the caller call the route: any one of the roles the route declared suffices. A refusal counts against the
//! app's budget of refusals and is audited, naming the roles needed and held.

use axum::http::Method;

use super::record::record_refusal;
use crate::auth::{Caller, Role};
use crate::db::audit::Outcome;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// 403 `missing_role` unless the caller holds one of `allowed` (429 once the app is over its refusals).
pub(super) async fn roles(
    state: &AppState,
    caller: &Caller,
    allowed: &[Role],
    method: &Method,
    route: &str,
    request_id: &str,
) -> Result<(), ApiError> {
    if allowed.iter().any(|r| caller.has(*r)) {
        return Ok(());
    }
    state.metrics.auth_failure("missing_role");
    if let Err(retry_after) = crate::accept::over_budget(&state.refusals, &state.metrics, caller) {
        let limit = state.settings.limits.app_refusals_per_minute;
        return Err(crate::accept::too_many_refusals(limit, retry_after));
    }
    let need: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
    let has: Vec<&str> = caller.roles.iter().map(|r| r.as_str()).collect();
    let detail = format!(
        "{method} {route} needs the role {}; app {} has {}",
        need.join(" or "),
        caller.app_name,
        if has.is_empty() { "none".to_owned() } else { has.join(", ") }
    );
    record_refusal(state, Outcome::Forbidden, Some(caller), request_id, &detail).await;
    Err(ApiError::new(ErrorCode::MissingRole, detail))
}
