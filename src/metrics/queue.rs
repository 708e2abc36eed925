//! Queue depth for `GET /metrics`, without a scan of the outbox per scrape: `sending` is the sum of the per-mailbox
//! `in_flight` counts (kept exact by triggers, one row per mailbox); the queued count and the oldest queued message
//! come from the partial index `messages_queued_created`, and are measured at most once per `FRESH` however often
//! Prometheus (or several of them) scrape. Between measurements the two counts come from different moments, so a
//! message may briefly count in both or neither; each measurement itself reads both in one snapshot.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use time::OffsetDateTime;

/// How long a measurement of the queued messages is reused.
pub const FRESH: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Depth {
    pub queued: i64,
    pub sending: i64,
    /// 0 when nothing is queued.
    pub oldest_queued_secs: f64,
}

#[derive(Clone, Copy, Debug)]
struct Queued {
    at: Instant,
    count: i64,
    oldest: Option<OffsetDateTime>,
}

#[derive(Debug, Default)]
pub struct QueueCache {
    /// Held across the query, so concurrent scrapes wait for one measurement instead of each making their own.
    last: tokio::sync::Mutex<Option<Queued>>,
}

impl QueueCache {
    pub async fn measure(&self, pool: &PgPool) -> Result<Depth, sqlx::Error> {
        let mut last = self.last.lock().await;
        let (sending, queued) = match *last {
            Some(q) if q.at.elapsed() < FRESH => {
                let sending: i64 = sqlx::query_scalar("SELECT coalesce(sum(in_flight), 0)::bigint FROM mailbox_state")
                    .fetch_one(pool)
                    .await?;
                (sending, q)
            }
            _ => {
                // One statement, one snapshot: a message moving from queued to sending meanwhile is counted once.
                let (sending, count, oldest): (i64, i64, Option<OffsetDateTime>) = sqlx::query_as(
                    "SELECT (SELECT coalesce(sum(in_flight), 0)::bigint FROM mailbox_state), count(*), min(created_at)
                       FROM messages WHERE status = 'queued'",
                )
                .fetch_one(pool)
                .await?;
                let q = Queued { at: Instant::now(), count, oldest };
                *last = Some(q);
                (sending, q)
            }
        };
        // The age is taken now, from the cached oldest time, so it keeps growing between measurements.
        let oldest_queued_secs =
            queued.oldest.map_or(0.0, |t| (OffsetDateTime::now_utc() - t).as_seconds_f64().max(0.0));
        Ok(Depth { queued: queued.count, sending, oldest_queued_secs })
    }
}
