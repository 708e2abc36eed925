//! Drift: Exchange refused a pair the mirror granted. Recorded, counted, listed, and optionally cooled down.

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

pub struct NewDrift<'a> {
    pub app_id: Uuid,
    pub app_name: &'a str,
    pub mailbox: &'a str,
    pub message_id: Uuid,
    pub graph_code: Option<&'a str>,
    pub graph_request_id: Option<&'a str>,
}

pub async fn record(db: impl PgExecutor<'_>, d: &NewDrift<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO drift_events (app_id, app_name, mailbox, message_id, graph_code, graph_request_id, local_rule, detail)
         VALUES ($1, $2, $3, $4, $5, $6,
                 (SELECT detail FROM audit_events WHERE message_id = $4 AND outcome = 'queued' ORDER BY id LIMIT 1), $7)",
    )
    .bind(d.app_id)
    .bind(d.app_name)
    .bind(d.mailbox)
    .bind(d.message_id)
    .bind(d.graph_code)
    .bind(d.graph_request_id)
    .bind("Graph answered 403 ErrorAccessDenied although the mirror granted this pair: the mirror and Exchange disagree")
    .execute(db)
    .await
    .map(drop)
}

/// Denies the pair locally until `secs` from now (extending an earlier cool-down).
pub async fn cool_down(db: impl PgExecutor<'_>, app_id: Uuid, mailbox: &str, secs: f64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO access_cooldowns (app_id, mailbox, until, reason)
         VALUES ($1, $2, now() + make_interval(secs => $3), 'Exchange answered ErrorAccessDenied')
         ON CONFLICT (app_id, mailbox) DO UPDATE SET until = EXCLUDED.until",
    )
    .bind(app_id)
    .bind(mailbox)
    .bind(secs)
    .execute(db)
    .await
    .map(drop)
}

pub async fn list(
    db: impl PgExecutor<'_>,
    since: Option<OffsetDateTime>,
    limit: i64,
) -> Result<Vec<DriftEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, app_name, mailbox, message_id, graph_code, graph_request_id, local_rule, detail
           FROM drift_events WHERE ($1::timestamptz IS NULL OR at >= $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(db)
    .await
}
