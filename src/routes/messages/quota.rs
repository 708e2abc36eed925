//! Per-app quotas at the API: messages per minute and recipients per day, answered with 429 and `Retry-After`.

use axum::http::{HeaderValue, StatusCode, header};

use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::startup::AppState;

pub async fn check(state: &AppState, caller: &Caller, recipients: usize) -> Result<(), ApiError> {
    let limits = state.settings.limits;
    let u = db::quota::usage(&state.pool, caller.app_id, limits.app_messages_per_minute, limits.app_recipients_per_day)
        .await?;
    let recipients = i64::try_from(recipients).unwrap_or(i64::MAX);
    let refusal = if u.per_minute > 0 && u.last_minute >= u.per_minute {
        Some((
            "messages_per_minute",
            format!("app {} may send {} messages a minute", caller.app_name, u.per_minute),
            u.minute_frees_in,
        ))
    } else if u.per_day > 0 && u.last_day + recipients > u.per_day {
        Some((
            "recipients_per_day",
            format!("app {} may reach {} recipients a day", caller.app_name, u.per_day),
            u.day_frees_in,
        ))
    } else {
        None
    };
    let Some((quota, detail, frees_in)) = refusal else { return Ok(()) };
    state.metrics.inc("mailgate_quota_refusals_total", &[("quota", quota)]);
    let retry_after = frees_in.map_or(60, |s| s.ceil().max(1.0) as u64);
    let value = HeaderValue::from_str(&retry_after.to_string()).unwrap_or(HeaderValue::from_static("60"));
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
        format!("{detail}; retry after {retry_after} s"),
    )
    .header(header::RETRY_AFTER, value))
}
