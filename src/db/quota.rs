//! Per-app quotas, counted from the outbox itself: messages in the last minute, recipients in the last day.

use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

#[derive(Debug, FromRow)]
pub struct Usage {
    /// The app's limits (its own, else the service-wide setting); 0 = none.
    pub per_minute: i64,
    pub per_day: i64,
    pub last_minute: i64,
    pub last_day: i64,
    /// Seconds until the oldest message of the window leaves it.
    pub minute_frees_in: Option<f64>,
    pub day_frees_in: Option<f64>,
}

pub async fn usage(db: impl PgExecutor<'_>, app_id: Uuid, per_minute: i64, per_day: i64) -> Result<Usage, sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE(a.messages_per_minute, $2)::bigint AS per_minute,
                COALESCE(a.recipients_per_day, $3)::bigint AS per_day,
                count(m.id) FILTER (WHERE m.created_at > now() - interval '1 minute') AS last_minute,
                COALESCE(sum(m.recipients), 0)::bigint AS last_day,
                EXTRACT(EPOCH FROM min(m.created_at) FILTER (WHERE m.created_at > now() - interval '1 minute')
                                   + interval '1 minute' - now())::float8 AS minute_frees_in,
                EXTRACT(EPOCH FROM min(m.created_at) + interval '1 day' - now())::float8 AS day_frees_in
           FROM apps a
           LEFT JOIN messages m ON m.app_id = a.id AND m.created_at > now() - interval '1 day' AND m.status <> 'denied'
          WHERE a.id = $1
          GROUP BY a.id",
    )
    .bind(app_id)
    .bind(per_minute)
    .bind(per_day)
    .fetch_one(db)
    .await
}
