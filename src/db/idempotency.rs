//! Idempotency keys: the first request with a key claims it inside the transaction that stores the message, so
//! concurrent duplicates (on any replica) wait for it and then find its answer.

use std::time::Duration;

use serde_json::Value;
use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, FromRow)]
pub struct Stored {
    pub request_hash: Vec<u8>,
    pub message_id: Uuid,
    pub status_code: Option<i32>,
    pub response: Option<Value>,
}

/// Claims `key` for this request. False when another request holds it (and is still within its time to live);
/// a stale claim is taken over.
pub async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    key: &str,
    hash: &[u8],
    message_id: Uuid,
    ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let row: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO idempotency_keys (app_id, key, request_hash, message_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (app_id, key) DO UPDATE
            SET request_hash = EXCLUDED.request_hash, message_id = EXCLUDED.message_id, status_code = NULL,
                response = NULL, created_at = now()
          WHERE idempotency_keys.created_at < now() - make_interval(secs => $5)
         RETURNING message_id",
    )
    .bind(app_id)
    .bind(key)
    .bind(hash)
    .bind(message_id)
    .bind(ttl.as_secs_f64())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.is_some())
}

pub async fn save_response(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    key: &str,
    status: u16,
    response: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE app_id = $1 AND key = $2")
        .bind(app_id)
        .bind(key)
        .bind(i32::from(status))
        .bind(response)
        .execute(&mut **tx)
        .await
        .map(drop)
}

/// The live record for `key`, if any.
pub async fn find(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    key: &str,
    ttl: Duration,
) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_hash, message_id, status_code, response FROM idempotency_keys
          WHERE app_id = $1 AND key = $2 AND created_at >= now() - make_interval(secs => $3)",
    )
    .bind(app_id)
    .bind(key)
    .bind(ttl.as_secs_f64())
    .fetch_optional(db)
    .await
}
