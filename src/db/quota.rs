//! Per-app quotas as counters, one row per app, period and UTC bucket, raised in the transaction that accepts the
//! messages. Reading them locks them, so two batches for one app (on any replica) count one after the other.

use sqlx::{FromRow, PgPool, Postgres, Transaction};
use uuid::Uuid;

/// The counting period of a quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// Messages per UTC minute.
    Minute,
    /// Recipients per UTC day.
    Day,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Day => "day",
        }
    }

    fn seconds(self) -> i64 {
        match self {
            Self::Minute => 60,
            Self::Day => 86_400,
        }
    }
}

/// A counter as it stands, locked until the transaction ends.
#[derive(Debug, FromRow)]
pub struct Usage {
    pub app_id: Uuid,
    pub period: String,
    pub bucket: i64,
    pub used: i64,
    /// Seconds until the bucket ends and the counter starts again from zero.
    pub frees_in: f64,
}

/// Locks the current bucket of each (app, period), creating it at zero, and returns what it holds. Rows are taken in
/// the order given; callers sort them, so two transactions never wait on each other in a cycle.
pub async fn lock(tx: &mut Transaction<'_, Postgres>, keys: &[(Uuid, Period)]) -> Result<Vec<Usage>, sqlx::Error> {
    let apps: Vec<Uuid> = keys.iter().map(|(a, _)| *a).collect();
    let periods: Vec<&str> = keys.iter().map(|(_, p)| p.as_str()).collect();
    let seconds: Vec<i64> = keys.iter().map(|(_, p)| p.seconds()).collect();
    // The update to itself is what takes the row lock when the row exists; the bucket is the database's clock, so
    // every replica agrees on it.
    // Dynamic (not yet a macro): the `frees_in` and RETURNING nullability overrides are still to be written.
    sqlx::query_as(
        "WITH now AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS t)
         INSERT INTO app_usage AS u (app_id, period, bucket)
         SELECT k.app_id, k.period, floor(now.t / k.seconds)::bigint
           FROM unnest($1::uuid[], $2::text[], $3::int8[]) WITH ORDINALITY AS k (app_id, period, seconds, n), now
          ORDER BY k.n
         ON CONFLICT (app_id, period, bucket) DO UPDATE SET used = u.used
         RETURNING u.app_id, u.period, u.bucket, u.used,
                   ((u.bucket + 1) * (CASE u.period WHEN 'minute' THEN 60 ELSE 86400 END)
                    - extract(epoch FROM clock_timestamp()))::float8 AS frees_in",
    )
    .bind(&apps)
    .bind(&periods)
    .bind(&seconds)
    .fetch_all(&mut **tx)
    .await
}

/// Adds what this transaction admitted to the buckets it locked (`Usage::bucket`), even if the clock has since
/// moved into the next one.
pub async fn add(tx: &mut Transaction<'_, Postgres>, added: &[(&Usage, i64)]) -> Result<(), sqlx::Error> {
    let added: Vec<&(&Usage, i64)> = added.iter().filter(|(_, n)| *n > 0).collect();
    if added.is_empty() {
        return Ok(());
    }
    let apps: Vec<Uuid> = added.iter().map(|(u, _)| u.app_id).collect();
    let periods: Vec<&str> = added.iter().map(|(u, _)| u.period.as_str()).collect();
    let buckets: Vec<i64> = added.iter().map(|(u, _)| u.bucket).collect();
    let amounts: Vec<i64> = added.iter().map(|(_, n)| *n).collect();
    sqlx::query!(
        "UPDATE app_usage u SET used = u.used + k.amount
           FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::int8[]) AS k (app_id, period, bucket, amount)
          WHERE u.app_id = k.app_id AND u.period = k.period AND u.bucket = k.bucket",
        &apps,
        &periods as _,
        &buckets,
        &amounts
    )
    .execute(&mut **tx)
    .await
    .map(drop)
}

/// Deletes buckets that ended over a day ago.
pub async fn purge(db: &PgPool) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "DELETE FROM app_usage
          WHERE bucket < floor(extract(epoch FROM now()) / CASE period WHEN 'minute' THEN 60 ELSE 86400 END)::bigint
                         - CASE period WHEN 'minute' THEN 1440 ELSE 1 END"
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}
