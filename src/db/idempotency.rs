//! Idempotency keys: the first request with a key claims it, with its answer, inside the transaction that stores the
//! message, so concurrent duplicates (on any replica) wait for it and then find that answer.

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

/// A key to claim, with the answer its request gets (known before the transaction commits).
pub struct NewKey<'a> {
    pub app_id: Uuid,
    pub key: &'a str,
    pub hash: &'a [u8],
    pub message_id: Uuid,
    pub status: u16,
    pub response: &'a Value,
}

/// Claims each key with its answer, all in one statement. Returns the message ids whose key was claimed; a key
/// another request holds (within its time to live) is left as it is, and its request is answered as that one was.
/// A stale claim is taken over. Keys must be distinct: one statement cannot claim a row twice.
pub async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    keys: &[NewKey<'_>],
    ttl: Duration,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let apps: Vec<Uuid> = keys.iter().map(|k| k.app_id).collect();
    let names: Vec<&str> = keys.iter().map(|k| k.key).collect();
    let hashes: Vec<&[u8]> = keys.iter().map(|k| k.hash).collect();
    let ids: Vec<Uuid> = keys.iter().map(|k| k.message_id).collect();
    let statuses: Vec<i32> = keys.iter().map(|k| i32::from(k.status)).collect();
    let responses: Vec<&Value> = keys.iter().map(|k| k.response).collect();
    sqlx::query_scalar!(
        "INSERT INTO idempotency_keys AS k (app_id, key, request_hash, message_id, status_code, response)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::uuid[], $5::int4[], $6::jsonb[])
         ON CONFLICT (app_id, key) DO UPDATE
            SET request_hash = EXCLUDED.request_hash, message_id = EXCLUDED.message_id,
                status_code = EXCLUDED.status_code, response = EXCLUDED.response, created_at = now()
          WHERE k.created_at < now() - make_interval(secs => $7)
         RETURNING message_id",
        &apps,
        &names as _,
        &hashes as _,
        &ids,
        &statuses,
        &responses as _,
        ttl.as_secs_f64()
    )
    .fetch_all(&mut **tx)
    .await
}

/// The live record for `key`, if any.
pub async fn find(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    key: &str,
    ttl: Duration,
) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as!(
        Stored,
        "SELECT request_hash, message_id, status_code, response FROM idempotency_keys
          WHERE app_id = $1 AND key = $2 AND created_at >= now() - make_interval(secs => $3)",
        app_id,
        key,
        ttl.as_secs_f64()
    )
    .fetch_optional(db)
    .await
}
