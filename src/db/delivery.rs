//! The delivery state machine in the outbox: claims, leases, recorded attempts and the sweep. Each is one call to a
//! function of migrations 20261202000001 and 20261203000001 (one round trip), which holds the rules:
//! - a claim locks only the `mailbox_state` rows of the mailboxes it takes from, so replicas wait on each other only
//!   for the same mailbox, and Exchange's limits hold across all of them;
//! - a claim reads each mailbox's count of messages in flight and its cursor from that row (migration
//!   20261203000001, kept by triggers on `messages`), so its cost does not grow with the backlog;
//! - a claim's attempt number fences everything done for it afterwards: a worker whose lease was lost (swept, or
//!   claimed again by another worker) changes nothing and writes no audit row;
//! - a message whose time to live has passed is never handed out; the sweep fails it.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::Outcome;
use super::messages::Status;
use crate::config::Limits;

/// A message handed to one worker. `attempt` is the claim's fencing token.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub app_id: Uuid,
    pub app_name: String,
    pub mailbox: String,
    #[sqlx(rename = "attempts")]
    pub attempt: i32,
    pub created_at: OffsetDateTime,
    /// Seconds of its time to live left when it was claimed (by the database's clock).
    pub expires_in: f64,
}

/// Claims up to `limit` due messages within Exchange's per-mailbox limits (`limits`), each for `lease`, skipping any
/// whose time to live (`ttl`) has passed.
// `debug`: an idle worker claims every poll interval, and each would be a trace of its own.
#[tracing::instrument(level = "debug", skip(pool, limits))]
pub async fn claim(
    pool: &PgPool,
    limit: usize,
    lease: Duration,
    limits: &Limits,
    ttl: Duration,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as!(
        Claimed,
        r#"SELECT id AS "id!", app_id AS "app_id!", app_name AS "app_name!", mailbox AS "mailbox!",
                attempts AS "attempt!", created_at AS "created_at!", expires_in AS "expires_in!"
           FROM claim_messages($1, $2, $3, $4, $5)"#,
        i32::try_from(limit).unwrap_or(i32::MAX),
        lease.as_secs_f64(),
        i32::try_from(limits.mailbox_concurrency).unwrap_or(i32::MAX),
        i32::try_from(limits.mailbox_per_minute).unwrap_or(i32::MAX),
        ttl.as_secs_f64()
    )
    .fetch_all(pool)
    .await
}

/// A claimed message's Graph request body, and the trace context of the request that accepted it.
#[derive(Debug)]
pub struct Payload {
    pub body: Value,
    pub traceparent: Option<String>,
}

/// The Graph request bodies of claimed messages, read after the claim has committed so that the claim's locks are
/// held for ids only. A message missing from the answer has no body.
pub async fn payloads(pool: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, Payload>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT id, payload AS "payload!", traceparent FROM messages WHERE id = ANY($1) AND payload IS NOT NULL"#,
        ids
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, Payload { body: r.payload, traceparent: r.traceparent })).collect())
}

/// Pushes the lease of a message this claim holds to `lease` from now. False if the claim no longer holds it.
pub async fn extend_lease(pool: &PgPool, id: Uuid, attempt: i32, lease: Duration) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT extend_lease($1, $2, $3) AS "extended!""#, id, attempt, lease.as_secs_f64())
        .fetch_one(pool)
        .await
}

/// One finished attempt (or a claim given back unattempted), as `record_attempts` takes it.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub id: Uuid,
    /// The claim's fencing token.
    pub attempt: i32,
    /// `queued` for a retry after `retry_secs`, else the final status.
    pub status: Status,
    pub retry_secs: Option<f64>,
    pub last_error: Option<String>,
    /// Keep the body after a final status (a body retention is configured).
    pub keep_body: bool,
    pub app_id: Uuid,
    pub app_name: String,
    pub mailbox: String,
    /// Audit events, in order.
    pub events: Vec<AttemptEvent>,
    /// Graph throttled the mailbox: pause it this long in every replica.
    pub pause_secs: Option<f64>,
    /// Exchange refused a pair the mirror granted.
    pub drift: Option<DriftNote>,
    /// Deny the pair locally this long (`MAILGATE_DRIFT_COOLDOWN_SECS`).
    pub cooldown_secs: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptEvent {
    pub outcome: Outcome,
    pub attempt: Option<i32>,
    pub http_status: Option<i32>,
    pub graph_code: Option<String>,
    pub graph_request_id: Option<String>,
    pub latency_ms: Option<i32>,
    pub detail: Option<String>,
}

impl AttemptEvent {
    pub fn new(outcome: Outcome) -> Self {
        Self {
            outcome,
            attempt: None,
            http_status: None,
            graph_code: None,
            graph_request_id: None,
            latency_ms: None,
            detail: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftNote {
    pub graph_code: Option<String>,
    pub graph_request_id: Option<String>,
}

/// Records `batch` in one transaction; returns the ids whose claims still held their messages (the others changed
/// nothing).
pub async fn record_attempts(pool: &PgPool, batch: &[AttemptRecord]) -> Result<Vec<Uuid>, sqlx::Error> {
    let json = serde_json::to_value(batch).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query_scalar!(r#"SELECT record_attempts($1) AS "id!""#, json).fetch_all(pool).await
}

/// What one sweep ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct Swept {
    /// Messages whose lease expired (their worker stopped mid-send).
    pub lost: i64,
    /// Of those, queued again (at-least-once, with attempts and time left).
    pub requeued: i64,
    /// Queued messages failed because their time to live passed.
    pub expired: i64,
}

/// Ends expired leases and messages past their time to live, each with its audit event.
/// `resend`: at-least-once (an expired lease is queued again while `max_attempts` and `ttl` allow).
pub async fn sweep(
    pool: &PgPool,
    resend: bool,
    max_attempts: i32,
    ttl: Duration,
    keep_body: bool,
) -> Result<Swept, sqlx::Error> {
    sqlx::query_as!(Swept, r#"SELECT lost AS "lost!", requeued AS "requeued!", expired AS "expired!" FROM sweep_deliveries($1, $2, $3, $4)"#, resend, max_attempts, ttl.as_secs_f64(), keep_body)
        .fetch_one(pool)
        .await
}

/// Counts again the messages in flight of each mailbox, mends the counts claims read that are wrong, and returns how
/// many were (none, unless something changed the outbox by hand).
pub async fn recount_in_flight(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT recount_in_flight() AS "in_flight!""#).fetch_one(pool).await
}
