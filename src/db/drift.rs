//! Drift: Exchange refused a pair the mirror granted. Recorded (with the attempt, by `record_attempts` in SQL),
//! counted, listed, and optionally cooled down.

use serde::Serialize;
use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, FromRow, Serialize, utoipa::ToSchema)]
pub struct DriftEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub app_name: String,
    pub mailbox: String,
    pub message_id: Option<Uuid>,
    pub graph_code: Option<String>,
    pub graph_request_id: Option<String>,
    /// Why the mirror had granted the pair, as decided when the message was accepted.
    pub local_rule: Option<String>,
    pub detail: Option<String>,
}

pub async fn list(
    db: impl PgExecutor<'_>,
    since: Option<OffsetDateTime>,
    limit: i64,
) -> Result<Vec<DriftEvent>, sqlx::Error> {
    sqlx::query_as!(
        DriftEvent,
        "SELECT id, at, app_name, mailbox, message_id, graph_code, graph_request_id, local_rule, detail
           FROM drift_events WHERE ($1::timestamptz IS NULL OR at >= $1) ORDER BY id DESC LIMIT $2",
        since,
        limit
    )
    .fetch_all(db)
    .await
}
