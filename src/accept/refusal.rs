//! Why a message was not accepted, and how each reason is answered over HTTP (the same answer is kept for an
//! idempotent retry).

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use serde_json::json;
use uuid::Uuid;

use super::quota::Verdict;
use crate::db::quota::Period;
use crate::error::{ApiError, ErrorCode};
use crate::policy::{Decision, Rule};

#[derive(Debug)]
pub enum Refusal {
    /// The allowlist denied it; the message row (`denied`) and its audit event are recorded.
    Denied {
        id: Uuid,
        decision: Box<Decision>,
    },
    /// Over the app's quota; nothing was recorded.
    OverQuota {
        quota: &'static str,
        detail: String,
        retry_after: u64,
    },
    /// The app is over its refusal budget (`MAILGATE_APP_REFUSALS_PER_MINUTE`): this refusal is answered 429 and
    /// counted in the minute's one audit row; nothing of its own was recorded.
    TooManyRefusals {
        limit: u32,
        retry_after: u64,
    },
    /// It could not be stored; nothing was acknowledged.
    Store(Arc<sqlx::Error>),
    Internal(String),
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(Arc::new(e))
    }
}

/// The answer to a refusal over the app's budget.
pub fn too_many_refusals(limit: u32, retry_after: u64) -> ApiError {
    let value = HeaderValue::from_str(&retry_after.to_string()).unwrap_or(HeaderValue::from_static("60"));
    ApiError::new(
        ErrorCode::TooManyRefusals,
        format!(
            "this app was refused more than {limit} times this minute (MAILGATE_APP_REFUSALS_PER_MINUTE); further \
             refusals are answered 429 and recorded together; retry after {retry_after} s"
        ),
    )
    .header(header::RETRY_AFTER, value)
}

impl Refusal {
    pub(super) fn quota(app: &str, verdict: Verdict) -> Self {
        let Verdict::Over { period, limit, frees_in } = verdict else {
            return Self::Internal("a quota refusal without a quota".into());
        };
        let retry_after = frees_in.ceil().max(1.0) as u64;
        let (quota, detail) = match period {
            Period::Minute => ("messages_per_minute", format!("app {app} may send {limit} messages a minute")),
            Period::Day => ("recipients_per_day", format!("app {app} may reach {limit} recipients a day")),
        };
        Self::OverQuota { quota, detail, retry_after }
    }

    pub fn to_api_error(&self) -> ApiError {
        match self {
            Self::Denied { id, decision } => {
                let mut extra = serde_json::Map::new();
                extra.insert("message_id".into(), json!(id));
                extra.insert("decision".into(), json!(decision));
                let code = if decision.rule == Rule::UnknownMailbox {
                    ErrorCode::UnknownMailbox
                } else {
                    ErrorCode::PolicyDenied
                };
                ApiError::new(code, decision.reason.clone()).extra(extra)
            }
            Self::OverQuota { detail, retry_after, .. } => {
                let value = HeaderValue::from_str(&retry_after.to_string()).unwrap_or(HeaderValue::from_static("60"));
                ApiError::new(ErrorCode::QuotaExceeded, format!("{detail}; retry after {retry_after} s"))
                    .header(header::RETRY_AFTER, value)
            }
            Self::TooManyRefusals { limit, retry_after } => too_many_refusals(*limit, *retry_after),
            Self::Store(e) => ApiError::store(e),
            Self::Internal(what) => ApiError::internal(what),
        }
    }
}
