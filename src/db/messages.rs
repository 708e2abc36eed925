//! The outbox: messages waiting for, going through, or done with Graph.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgExecutor, PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::channels;
use crate::config::Limits;

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
    pub created_at: OffsetDateTime,
}

/// The key of the advisory lock that makes claims one at a time across replicas, so per-mailbox counts are exact.
const CLAIM_LOCK: i64 = 0x6d61_696c_6761_7465; // "mailgate"

/// Hands up to `limit` due messages to the caller, each to exactly one worker across all replicas, and never
/// more than Exchange's limits allow per mailbox: `concurrency` in flight, `per_minute` started per minute,
/// nothing while Graph has paused the mailbox.
#[tracing::instrument(skip(pool, limits))]
pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
    limits: &Limits,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CLAIM_LOCK).execute(&mut *tx).await?;
    let claimed: Vec<Claimed> = sqlx::query_as(
        "WITH blocked AS (
             -- Mailboxes that cannot start a send now, so their backlog never crowds out the others' messages.
             SELECT mailbox FROM mailbox_state
              WHERE paused_until > now()
                 OR (window_start > now() - interval '1 minute' AND sent_in_window >= $4)
             UNION
             SELECT mailbox FROM messages WHERE status = 'sending' GROUP BY mailbox HAVING count(*) >= $3),
         due AS (
             SELECT id, mailbox, next_attempt_at FROM messages
              WHERE status = 'queued' AND next_attempt_at <= now()
                AND mailbox NOT IN (SELECT mailbox FROM blocked)
              ORDER BY next_attempt_at, id
              LIMIT 2000
                FOR UPDATE SKIP LOCKED),
         in_flight AS (
             SELECT mailbox, count(*) AS n FROM messages
              WHERE status = 'sending' AND mailbox IN (SELECT mailbox FROM due)
              GROUP BY mailbox),
         capacity AS (
             SELECT d.mailbox,
                    LEAST($3 - COALESCE(f.n, 0),
                          $4 - CASE WHEN s.window_start > now() - interval '1 minute' THEN s.sent_in_window ELSE 0 END)
                        AS free
               FROM (SELECT DISTINCT mailbox FROM due) d
               LEFT JOIN in_flight f ON f.mailbox = d.mailbox
               LEFT JOIN mailbox_state s ON s.mailbox = d.mailbox
              WHERE s.paused_until IS NULL OR s.paused_until <= now()),
         ranked AS (
             SELECT d.id, d.next_attempt_at, c.free,
                    row_number() OVER (PARTITION BY d.mailbox ORDER BY d.next_attempt_at, d.id) AS rank
               FROM due d JOIN capacity c ON c.mailbox = d.mailbox),
         chosen AS (
             SELECT id FROM ranked WHERE rank <= free ORDER BY next_attempt_at, id LIMIT $1)
         UPDATE messages m
            SET status = 'sending', attempts = m.attempts + 1, updated_at = now(),
                lease_until = now() + make_interval(secs => $2)
           FROM apps a
          WHERE a.id = m.app_id AND m.id IN (SELECT id FROM chosen)
      RETURNING m.id, m.app_id, a.name AS app_name, m.mailbox, m.payload, m.attempts, m.created_at",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .bind(limits.mailbox_concurrency)
    .bind(limits.mailbox_per_minute)
    .fetch_all(&mut *tx)
    .await?;
    if !claimed.is_empty() {
        let mut per_mailbox: std::collections::BTreeMap<&str, i32> = std::collections::BTreeMap::new();
        for c in &claimed {
            *per_mailbox.entry(c.mailbox.as_str()).or_default() += 1;
        }
        let (mailboxes, counts): (Vec<&str>, Vec<i32>) = per_mailbox.into_iter().unzip();
        sqlx::query(
            "INSERT INTO mailbox_state (mailbox, window_start, sent_in_window)
             SELECT mailbox, now(), n FROM unnest($1::text[], $2::int[]) AS t (mailbox, n)
             ON CONFLICT (mailbox) DO UPDATE SET
                 sent_in_window = CASE WHEN mailbox_state.window_start > now() - interval '1 minute'
                                       THEN mailbox_state.sent_in_window + EXCLUDED.sent_in_window
                                       ELSE EXCLUDED.sent_in_window END,
                 window_start = CASE WHEN mailbox_state.window_start > now() - interval '1 minute'
                                     THEN mailbox_state.window_start ELSE now() END",
        )
        .bind(&mailboxes)
        .bind(&counts)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(claimed)
}

/// Graph throttled this mailbox: no worker in any replica sends from it until `until`.
pub async fn pause_mailbox(
    tx: &mut Transaction<'_, Postgres>,
    mailbox: &str,
    delay: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mailbox_state (mailbox, paused_until) VALUES ($1, now() + make_interval(secs => $2))
         ON CONFLICT (mailbox) DO UPDATE
            SET paused_until = GREATEST(COALESCE(mailbox_state.paused_until, now()), EXCLUDED.paused_until)",
    )
    .bind(mailbox)
    .bind(delay.as_secs_f64())
    .execute(&mut **tx)
    .await
    .map(drop)
}

/// Ends a message this worker holds. Returns false if the lease was lost meanwhile (then nothing changes).
pub async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: Status,
    last_error: Option<&str>,
    keep_body: bool,
) -> Result<bool, sqlx::Error> {
    // The body is not kept after delivery unless a retention is configured.
    let done = sqlx::query(
        "UPDATE messages SET status = $2, last_error = $3, lease_until = NULL, updated_at = now(),
                payload = CASE WHEN $4 THEN payload END
          WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(last_error)
    .bind(keep_body)
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

/// Messages whose worker vanished mid-send (crash, kill). Graph may or may not have them: under at-most-once
/// they become `unknown` and are not resent; under at-least-once they are queued again.
/// Returns (id, app id, mailbox, attempts) of each.
#[tracing::instrument(skip(tx))]
pub async fn expire_leases(
    tx: &mut Transaction<'_, Postgres>,
    resend: bool,
) -> Result<Vec<(Uuid, Uuid, String, i32)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE messages
            SET status = CASE WHEN $1 THEN 'queued' ELSE 'unknown' END, last_error = 'lease_expired',
                lease_until = NULL, updated_at = now(), next_attempt_at = now(),
                payload = CASE WHEN $1 THEN payload END
          WHERE status = 'sending' AND lease_until < now()
      RETURNING id, app_id, mailbox, attempts",
    )
    .bind(resend)
    .fetch_all(&mut **tx)
    .await
}

/// Drops bodies of finished messages older than the retention, and idempotency keys older than their time to live.
pub async fn purge(db: &PgPool, body_retention: Duration, idempotency_ttl: Duration) -> Result<u64, sqlx::Error> {
    let bodies = sqlx::query(
        "UPDATE messages SET payload = NULL
          WHERE payload IS NOT NULL AND status IN ('sent', 'denied', 'rejected', 'failed', 'unknown')
            AND updated_at < now() - make_interval(secs => $1)",
    )
    .bind(body_retention.as_secs_f64())
    .execute(db)
    .await?;
    sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)")
        .bind(idempotency_ttl.as_secs_f64())
        .execute(db)
        .await?;
    Ok(bodies.rows_affected())
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
