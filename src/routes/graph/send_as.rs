//! `from` and `sender` on the Graph endpoint: a message that says it is from (or sent by) a mailbox other than the
//! path's goes out only when the allowlist lets the app send as that mailbox too. Graph then checks the path
//! mailbox's Send As or Send on Behalf rights itself.

use serde_json::json;

use crate::auth::Caller;
use crate::db;
use crate::db::audit::{NewEvent, Outcome};
use crate::domain::graph_request::SendAs;
use crate::error::{ApiError, ErrorCode};
use crate::policy::{Access, Rule, Snapshot, decide};
use crate::state::AppState;

/// Refuses (403, recorded) a `from` or `sender` naming another mailbox than `path_names` that the allowlist does
/// not let this app send as.
pub async fn check(
    state: &AppState,
    snapshot: &Snapshot,
    caller: &Caller,
    path_names: &[String],
    send_as: &[SendAs],
    request_id: &str,
) -> Result<(), ApiError> {
    for who in send_as {
        let other = who.address.as_str();
        if path_names.iter().any(|n| n == other) {
            continue;
        }
        let decision = decide(snapshot, caller.app_id, &caller.app_name, other);
        let granted = decision.access == Access::Granted;
        state.metrics.decision(granted);
        if granted {
            continue;
        }
        if let Err(retry_after) = crate::accept::over_budget(&state.refusals, &state.metrics, caller) {
            let limit = state.settings.limits.app_refusals_per_minute;
            return Err(crate::accept::too_many_refusals(limit, retry_after));
        }
        let field = format!("message.{}", who.field);
        let reason = format!("`{field}` names {other}, another mailbox than the path's: {}", decision.reason);
        let event = NewEvent {
            app_id: Some(caller.app_id),
            app_name: Some(&caller.app_name),
            // Recorded under the mailbox the name resolves to, as every audit row is.
            mailbox: Some(&decision.mailbox),
            request_id: Some(request_id),
            http_status: Some(403),
            detail: Some(&reason),
            ..NewEvent::default()
        };
        db::audit::record(&state.pool, Outcome::Denied, event).await?;
        tracing::info!(app = %caller.app_name, mailbox = %decision.mailbox, field = %field, "denied by the allowlist");
        let mut extra = serde_json::Map::new();
        extra.insert("decision".into(), json!(decision));
        let code =
            if decision.rule == Rule::UnknownMailbox { ErrorCode::UnknownMailbox } else { ErrorCode::PolicyDenied };
        return Err(ApiError::new(code, reason).field(field).extra(extra));
    }
    Ok(())
}
