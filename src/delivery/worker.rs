//! The delivery loop: claim due messages within Exchange's limits, read their bodies, send each, record the outcome.
//! Round trips per batch: one claim, one read of the bodies, and a share of one outcome transaction (`recorder`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use super::attempt;
use super::recorder::Recorder;
use super::service::Delivery;
use crate::config::Guarantee;
use crate::db::delivery::{self, Claimed, Payload};
use crate::db::messages;

/// How often the counts of messages in flight are checked against the outbox (a scan of the messages in flight).
const RECOUNT_EVERY: Duration = Duration::from_secs(60);

impl Delivery {
    /// Runs until `shutdown` turns true, then waits up to the shutdown grace for sends in flight.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let s = &self.settings;
        let slots = Arc::new(Semaphore::new(s.delivery.workers));
        let (recorder, writer) = Recorder::spawn(self.pool.clone());
        let mut last_sweep = Instant::now() - s.delivery.poll_interval;
        let mut last_recount = Instant::now();
        while !*shutdown.borrow() {
            if last_sweep.elapsed() >= s.delivery.poll_interval {
                self.sweep().await;
                last_sweep = Instant::now();
            }
            if last_recount.elapsed() >= RECOUNT_EVERY {
                self.recount().await;
                last_recount = Instant::now();
            }
            let free = slots.available_permits();
            let mut claimed_all = false;
            if free > 0 {
                let claimed_at = Instant::now();
                match delivery::claim(&self.pool, free, s.delivery.lease, &s.limits, s.delivery.message_ttl).await {
                    Ok(batch) if !batch.is_empty() => {
                        claimed_all = batch.len() == free;
                        let held: Vec<_> = batch
                            .into_iter()
                            .filter_map(|m| slots.clone().try_acquire_owned().ok().map(|slot| (m, slot)))
                            .collect();
                        tokio::spawn(self.clone().start(held, claimed_at, recorder.clone()));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not claim messages"),
                }
            }
            if claimed_all {
                continue;
            }
            tokio::select! {
                () = self.events.wake.notified() => {}
                () = tokio::time::sleep(s.delivery.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Stop claiming; let what is in flight finish and be recorded. Unclaimed messages stay queued for the next
        // process.
        let all = u32::try_from(s.delivery.workers).unwrap_or(u32::MAX);
        let deadline = Instant::now() + s.delivery.shutdown_grace;
        if tokio::time::timeout_at(deadline, slots.acquire_many(all)).await.is_err() {
            tracing::warn!("shutdown grace passed with sends still in flight; their leases will expire");
            return;
        }
        drop(recorder);
        let _ = tokio::time::timeout_at(deadline, writer).await;
    }

    /// Reads the bodies of a claimed batch (one query), then sends each message in its own task.
    async fn start(self: Arc<Self>, batch: Vec<(Claimed, OwnedSemaphorePermit)>, claimed_at: Instant, rec: Recorder) {
        let ids: Vec<_> = batch.iter().map(|(m, _)| m.id).collect();
        let mut bodies = None;
        for pause in [1, 2, 4, 0] {
            match delivery::payloads(&self.pool, &ids).await {
                Ok(found) => {
                    bodies = Some(found);
                    break;
                }
                Err(e) if pause > 0 => {
                    tracing::warn!(error = %e, "could not read the claimed messages; retrying");
                    tokio::time::sleep(Duration::from_secs(pause)).await;
                }
                Err(e) => tracing::error!(error = %e, "could not read the claimed messages"),
            }
        }
        for (m, slot) in batch {
            let body: Option<Payload> = bodies.as_mut().and_then(|b| b.remove(&m.id));
            let this = self.clone();
            let rec = rec.clone();
            let unread = bodies.is_none();
            tokio::spawn(async move {
                match body {
                    Some(p) => attempt::deliver(&this, &rec, &m, &p.body, p.traceparent.as_deref(), claimed_at).await,
                    None => attempt::give_back(&this, &rec, &m, unread).await,
                }
                drop(slot);
                this.events.wake.notify_one();
            });
        }
    }

    /// Claims trust each mailbox's count of messages in flight; a count made wrong by hand would hold the mailbox
    /// back (or let too many through) until mended.
    async fn recount(&self) {
        match delivery::recount_in_flight(&self.pool).await {
            Ok(0) => {}
            Ok(mended) => tracing::warn!(mended, "mended mailboxes' counts of messages in flight"),
            Err(e) => tracing::warn!(error = %e, "could not recount messages in flight"),
        }
    }

    /// Leases of vanished workers, messages past their time to live, bodies and idempotency keys past retention.
    async fn sweep(&self) {
        let s = &self.settings;
        let resend = s.delivery.guarantee == Guarantee::AtLeastOnce;
        let keep_body = !s.retention.body_retention.is_zero();
        match delivery::sweep(&self.pool, resend, s.delivery.max_attempts, s.delivery.message_ttl, keep_body).await {
            Ok(swept) if swept == delivery::Swept::default() => {}
            Ok(swept) => {
                // A lost lease means nobody knows whether Graph sent the message: an outcome operators must see.
                self.metrics.unknown_outcomes(u64::try_from(swept.lost).unwrap_or(0));
                tracing::warn!(
                    lost = swept.lost,
                    requeued = swept.requeued,
                    expired = swept.expired,
                    "swept expired leases and messages past their time to live"
                )
            }
            Err(e) => tracing::warn!(error = %e, "could not sweep expired leases"),
        }
        if let Err(e) = messages::purge(&self.pool, s.retention.body_retention, s.retention.idempotency_ttl).await {
            tracing::warn!(error = %e, "could not purge bodies and idempotency keys");
        }
    }
}
