//! The outbox: messages waiting for, going through, or done with Graph.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::channels;
use crate::domain::message::NewMessage;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Sending,
    Sent,
    Denied,
    Rejected,
    Failed,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Denied => "denied",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Sending, Self::Sent, Self::Denied, Self::Rejected, Self::Failed, Self::Unknown]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Sending)
    }
}

#[derive(Debug, FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub app_id: Uuid,
    pub mailbox: String,
    pub subject: String,
    pub recipients: i32,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A message handed to one worker, with the lease that marks it as in flight.
#[derive(Debug, FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub app_id: Uuid,
    pub app_name: String,
    pub mailbox: String,
    pub payload: Value,
    pub attempts: i32,
}

pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    app_id: Uuid,
    msg: &NewMessage,
    status: Status,
    request_id: &str,
) -> Result<(), sqlx::Error> {
    // A denied message keeps its metadata for the audit trail but never its content.
    let payload = (status == Status::Queued).then_some(&msg.graph_body);
    sqlx::query(
        "INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(app_id)
    .bind(msg.mailbox.key())
    .bind(&msg.subject)
    .bind(i32::try_from(msg.recipients).unwrap_or(i32::MAX))
    .bind(status.as_str())
    .bind(payload)
    .bind(request_id)
    .execute(&mut **tx)
    .await?;
    if status == Status::Queued {
        sqlx::query("SELECT pg_notify($1, '')").bind(channels::OUTBOX).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Hands up to `limit` due messages to the caller, each to exactly one worker across all replicas.
#[tracing::instrument(skip(db))]
pub async fn claim_due(db: impl PgExecutor<'_>, limit: i64, lease: Duration) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE messages m
            SET status = 'sending', attempts = m.attempts + 1, updated_at = now(),
                lease_until = now() + make_interval(secs => $2)
           FROM apps a
          WHERE a.id = m.app_id
            AND m.id IN (SELECT id FROM messages
                          WHERE status = 'queued' AND next_attempt_at <= now()
                          ORDER BY next_attempt_at
                          LIMIT $1
                          FOR UPDATE SKIP LOCKED)
      RETURNING m.id, m.app_id, a.name AS app_name, m.mailbox, m.payload, m.attempts",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(db)
    .await
}

/// Ends a message this worker holds. Returns false if the lease was lost meanwhile (then nothing changes).
pub async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: Status,
    last_error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE messages SET status = $2, last_error = $3, lease_until = NULL, updated_at = now()
          WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(last_error)
    .execute(&mut **tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)").bind(channels::DONE).bind(id.to_string()).execute(&mut **tx).await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a message this worker holds back in the queue, due after `delay`.
pub async fn requeue(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    delay: Duration,
    last_error: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE messages SET status = 'queued', last_error = $3, lease_until = NULL, updated_at = now(),
                next_attempt_at = now() + make_interval(secs => $2)
          WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(delay.as_secs_f64())
    .bind(last_error)
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Messages whose worker vanished mid-send (crash, kill). Graph may or may not have them, so they are not
/// sent again: they become `unknown`. Returns (id, app id, mailbox, attempts) of each.
#[tracing::instrument(skip(tx))]
pub async fn expire_leases(tx: &mut Transaction<'_, Postgres>) -> Result<Vec<(Uuid, Uuid, String, i32)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE messages SET status = 'unknown', last_error = 'lease_expired', lease_until = NULL, updated_at = now()
          WHERE status = 'sending' AND lease_until < now()
      RETURNING id, app_id, mailbox, attempts",
    )
    .fetch_all(&mut **tx)
    .await
}

#[tracing::instrument(skip(db))]
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<MessageRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, app_id, mailbox, subject, recipients, status, attempts, last_error, created_at, updated_at
           FROM messages WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn status(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM messages WHERE id = $1").bind(id).fetch_optional(db).await
}
