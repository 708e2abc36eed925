//! The outbox: messages waiting for, going through, or done with Graph.

use std::time::Duration;

use serde::Serialize;
use sqlx::{FromRow, PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

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
    /// `http`, `graph` or `smtp`.
    pub channel: String,
    /// The SMTP session's peer address.
    pub source_address: Option<String>,
}

/// Drops bodies of finished messages older than the retention, and idempotency keys older than their time to live.
pub async fn purge(db: &PgPool, body_retention: Duration, idempotency_ttl: Duration) -> Result<u64, sqlx::Error> {
    // A function of the owner's: the service may clear bodies but not write them (migration 20261208200001).
    let bodies: i64 =
        sqlx::query_scalar!(r#"SELECT purge_message_bodies($1) AS "purged!""#, body_retention.as_secs_f64())
            .fetch_one(db)
            .await?;
    sqlx::query!(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
        idempotency_ttl.as_secs_f64()
    )
    .execute(db)
    .await?;
    Ok(u64::try_from(bodies).unwrap_or(0))
}

#[tracing::instrument(skip(db))]
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<MessageRow>, sqlx::Error> {
    sqlx::query_as!(
        MessageRow,
        "SELECT id, app_id, mailbox, subject, recipients, status, attempts, last_error, created_at, updated_at,
                channel, source_address
           FROM messages WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn status(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT status FROM messages WHERE id = $1", id).fetch_optional(db).await
}

/// Messages being sent, messages queued, and when the oldest queued one was accepted. One statement, one snapshot:
/// a message moving from queued to sending meanwhile is counted once.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn queue_depth(db: impl PgExecutor<'_>) -> Result<(i64, i64, Option<OffsetDateTime>), sqlx::Error> {
    let depth = sqlx::query!(
        r#"SELECT (SELECT coalesce(sum(in_flight), 0)::bigint FROM mailbox_state) AS "sending!", count(*) AS "queued!",
                  min(created_at) AS oldest
             FROM messages WHERE status = 'queued'"#
    )
    .fetch_one(db)
    .await?;
    Ok((depth.sending, depth.queued, depth.oldest))
}
