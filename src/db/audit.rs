//! The append-only audit log: one event per decision and per Graph attempt.

use serde::Serialize;
use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

/// What happened, as recorded. Stable strings: dashboards and exports filter on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Accepted locally and queued.
    Queued,
    /// Refused by the local allowlist.
    Denied,
    /// Graph answered 202.
    Sent,
    /// Graph answered 403 ErrorAccessDenied: Exchange's policy refused.
    ExchangeDenied,
    /// Graph refused the request for another reason (4xx).
    Rejected,
    /// Graph answered 429.
    Throttled,
    /// Graph was unavailable (503 and other retryable faults), or no token could be had.
    Unavailable,
    /// The request may or may not have reached Graph (timeout, dropped connection, 5xx after sending).
    Unknown,
    /// Given up: attempts exhausted.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Denied => "denied",
            Self::Sent => "sent",
            Self::ExchangeDenied => "exchange_denied",
            Self::Rejected => "rejected",
            Self::Throttled => "throttled",
            Self::Unavailable => "unavailable",
            Self::Unknown => "unknown",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Default)]
pub struct NewEvent<'a> {
    pub app_id: Option<Uuid>,
    pub app_name: Option<&'a str>,
    pub mailbox: Option<&'a str>,
    pub message_id: Option<Uuid>,
    pub attempt: Option<i32>,
    pub http_status: Option<i32>,
    pub graph_code: Option<&'a str>,
    pub graph_request_id: Option<&'a str>,
    pub latency_ms: Option<i32>,
    pub request_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

pub async fn record(
    db: impl PgExecutor<'_>,
    outcome: Outcome,
    e: NewEvent<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (outcome, app_id, app_name, mailbox, message_id, attempt, http_status,
                                   graph_code, graph_request_id, latency_ms, request_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(outcome.as_str())
    .bind(e.app_id)
    .bind(e.app_name)
    .bind(e.mailbox)
    .bind(e.message_id)
    .bind(e.attempt)
    .bind(e.http_status)
    .bind(e.graph_code)
    .bind(e.graph_request_id)
    .bind(e.latency_ms)
    .bind(e.request_id)
    .bind(e.detail)
    .execute(db)
    .await
    .map(drop)
}

#[derive(Debug, FromRow, Serialize, utoipa::ToSchema)]
pub struct EventRow {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub outcome: String,
    pub attempt: Option<i32>,
    pub http_status: Option<i32>,
    pub graph_code: Option<String>,
    pub graph_request_id: Option<String>,
    pub latency_ms: Option<i32>,
    pub detail: Option<String>,
}

pub async fn for_message(
    db: impl PgExecutor<'_>,
    message_id: Uuid,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, outcome, attempt, http_status, graph_code, graph_request_id, latency_ms, detail
           FROM audit_events WHERE message_id = $1 ORDER BY id",
    )
    .bind(message_id)
    .fetch_all(db)
    .await
}
