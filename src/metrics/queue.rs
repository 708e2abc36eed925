//! Queue depth for `GET /metrics`, without a scan of the outbox per scrape: `sending` is the sum of the per-mailbox
//! `in_flight` counts (kept exact by triggers, one row per mailbox); the queued count and the oldest queued message
//! come from the partial index `messages_queued_created`. Both are read in one statement, one snapshot, at most once
//! per `FRESH` however often Prometheus (or anyone) scrapes.
//!
//! No scrape waits for another's measurement: the scrape that finds the last one stale measures (one at a time), and
//! scrapes meanwhile answer with the last values at once. A slow or blocked database thus holds one scrape, never
//! all of them, and a flood of scrapes costs the pool one connection at most.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use time::OffsetDateTime;

/// How long a measurement is reused.
pub const FRESH: Duration = Duration::from_secs(2);
/// A measurement taking longer is given up (the scrape answers with the last values).
const PATIENCE: Duration = Duration::from_secs(3);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Depth {
    pub queued: i64,
    pub sending: i64,
    /// 0 when nothing is queued.
    pub oldest_queued_secs: f64,
}

#[derive(Clone, Copy, Debug)]
struct Measured {
    at: Instant,
    sending: i64,
    queued: i64,
    oldest: Option<OffsetDateTime>,
}

#[derive(Debug, Default)]
pub struct QueueCache {
    /// Never held across an await.
    last: Mutex<Option<Measured>>,
    /// Set while one scrape measures.
    measuring: AtomicBool,
}

/// Clears the flag however the measurement ends, its scrape dropped by a departed client included.
struct Measuring<'a>(&'a AtomicBool);

impl Drop for Measuring<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl QueueCache {
    /// The queue's depth as last measured, measuring it first when that is stale and no one else is. None before
    /// any measurement succeeded.
    pub async fn measure(&self, pool: &PgPool) -> Option<Depth> {
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        let stale = last.is_none_or(|m| m.at.elapsed() >= FRESH);
        let measured =
            match stale && self.measuring.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                true => {
                    let _measuring = Measuring(&self.measuring);
                    match tokio::time::timeout(PATIENCE, read(pool)).await {
                        Ok(Ok(m)) => {
                            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
                            Some(m)
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "could not measure the outbox for /metrics");
                            last
                        }
                        Err(_) => {
                            tracing::warn!(
                                "measuring the outbox for /metrics took over 3 s; answering with the last values"
                            );
                            last
                        }
                    }
                }
                false => last,
            };
        // The age is taken now, from the measured oldest time, so it keeps growing between measurements.
        measured.map(|m| Depth {
            queued: m.queued,
            sending: m.sending,
            oldest_queued_secs: m.oldest.map_or(0.0, |t| (OffsetDateTime::now_utc() - t).as_seconds_f64().max(0.0)),
        })
    }
}

async fn read(pool: &PgPool) -> Result<Measured, sqlx::Error> {
    let (sending, queued, oldest) = crate::db::messages::queue_depth(pool).await?;
    Ok(Measured { at: Instant::now(), sending, queued, oldest })
}
