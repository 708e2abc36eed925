//! The delivery loop: claim due messages, send each under the per-mailbox limit, record the outcome.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::graph::{Attempt, Transport};
use super::limiter::MailboxLimiter;
use super::outcome::{Next, classify};
use super::{Events, GraphClient, GraphToken};
use crate::db::audit::{self, NewEvent, Outcome};
use crate::db::drift::{self, NewDrift};
use crate::db::messages::{self, Claimed, Status};
use crate::metrics::Metrics;

pub struct Delivery {
    pub pool: PgPool,
    pub graph: GraphClient,
    pub token: Arc<GraphToken>,
    pub events: Events,
    pub workers: usize,
    pub max_attempts: i32,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub limiter: MailboxLimiter,
    pub metrics: Arc<Metrics>,
    /// Deny a drifted pair locally for this long; None: only record the drift.
    pub drift_cooldown: Option<Duration>,
}

impl Delivery {
    /// Runs until `shutdown` turns true, then waits up to `drain` for sends in flight.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>, drain: Duration) {
        let slots = Arc::new(Semaphore::new(self.workers));
        let mut last_sweep = tokio::time::Instant::now();
        while !*shutdown.borrow() {
            if last_sweep.elapsed() >= self.poll_interval {
                self.expire_leases().await;
                last_sweep = tokio::time::Instant::now();
            }
            let free = slots.available_permits();
            let mut claimed_all = false;
            if free > 0 {
                match messages::claim_due(&self.pool, free as i64, self.lease).await {
                    Ok(batch) => {
                        claimed_all = batch.len() == free;
                        for message in batch {
                            let Ok(slot) = slots.clone().try_acquire_owned() else {
                                break;
                            };
                            tokio::spawn(self.clone().deliver(message, slot));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not claim messages"),
                }
            }
            if claimed_all {
                continue;
            }
            tokio::select! {
                () = self.events.wake.notified() => {}
                () = tokio::time::sleep(self.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Stop claiming; let what is in flight finish. Anything still unfinished keeps its lease.
        let all = u32::try_from(self.workers).unwrap_or(u32::MAX);
        if tokio::time::timeout(drain, slots.acquire_many(all)).await.is_err() {
            tracing::warn!("shutdown deadline passed with sends still in flight");
        }
    }

    async fn expire_leases(&self) {
        let result = async {
            let mut tx = self.pool.begin().await?;
            let expired = messages::expire_leases(&mut tx).await?;
            for (id, app_id, mailbox, attempt) in &expired {
                let event = NewEvent {
                    app_id: Some(*app_id),
                    mailbox: Some(mailbox),
                    message_id: Some(*id),
                    attempt: Some(*attempt),
                    detail: Some("the worker sending this message stopped before recording Graph's answer; not resent"),
                    ..NewEvent::default()
                };
                audit::record(&mut *tx, Outcome::Unknown, event).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(expired.len())
        }
        .await;
        match result {
            Ok(0) => {}
            Ok(n) => tracing::warn!(count = n, "messages whose lease expired are now unknown"),
            Err(e) => tracing::warn!(error = %e, "could not sweep expired leases"),
        }
    }

    #[tracing::instrument(skip_all, fields(message_id = %m.id, mailbox = %m.mailbox, attempt = m.attempts))]
    async fn deliver(self: Arc<Self>, m: Claimed, _slot: OwnedSemaphorePermit) {
        let attempt = {
            let _mailbox_slot = self.limiter.acquire(&m.mailbox).await;
            match self.token.get().await {
                Ok(token) => self.graph.send_mail(&token, &m.mailbox, m.id, &m.payload).await,
                Err(e) => Attempt {
                    transport: Some(Transport::NotSent(format!("no Graph token: {e}"))),
                    ..Attempt::default()
                },
            }
        };
        let (outcome, next) = classify(&attempt, m.attempts, self.max_attempts);
        tracing::info!(outcome = outcome.as_str(), status = ?attempt.status, code = ?attempt.code, "graph attempt");
        self.metrics.inc("mailgate_graph_attempts_total", &[("outcome", outcome.as_str())]);
        if outcome == Outcome::ExchangeDenied {
            self.metrics.inc("mailgate_drift_total", &[]);
        }
        if attempt.transport.is_none() {
            self.metrics.observe("mailgate_graph_request_duration_seconds", &[], attempt.latency);
        }
        // The answer is worth keeping: a short outage of Postgres must not turn a sent message into `unknown`.
        for pause in [1, 2, 4, 8, 0] {
            match self.record(&m, &attempt, outcome, &next).await {
                Ok(()) => break,
                Err(e) if pause > 0 => {
                    tracing::warn!(error = %e, "could not record the attempt; retrying");
                    tokio::time::sleep(Duration::from_secs(pause)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not record the attempt; its lease will expire")
                }
            }
        }
        self.events.wake.notify_one();
    }

    async fn record(&self, m: &Claimed, a: &Attempt, outcome: Outcome, next: &Next) -> Result<(), sqlx::Error> {
        let detail = match &a.transport {
            Some(Transport::NotSent(t) | Transport::MaybeSent(t)) => Some(t.as_str()),
            None => a.message.as_deref(),
        };
        let last_error = a.code.as_deref().or(detail);
        let event = |attempt| NewEvent {
            app_id: Some(m.app_id),
            app_name: Some(&m.app_name),
            mailbox: Some(&m.mailbox),
            message_id: Some(m.id),
            attempt,
            http_status: a.status.map(i32::from),
            graph_code: a.code.as_deref(),
            graph_request_id: a.request_id.as_deref(),
            latency_ms: Some(i32::try_from(a.latency.as_millis()).unwrap_or(i32::MAX)),
            detail,
            ..NewEvent::default()
        };
        let mut tx = self.pool.begin().await?;
        audit::record(&mut *tx, outcome, event(Some(m.attempts))).await?;
        if outcome == Outcome::ExchangeDenied {
            // The mirror granted this pair when the message was accepted; Exchange disagrees.
            let drift = NewDrift {
                app_id: m.app_id,
                app_name: &m.app_name,
                mailbox: &m.mailbox,
                message_id: m.id,
                graph_code: a.code.as_deref(),
                graph_request_id: a.request_id.as_deref(),
            };
            drift::record(&mut *tx, &drift).await?;
            if let Some(cooldown) = self.drift_cooldown {
                drift::cool_down(&mut *tx, m.app_id, &m.mailbox, cooldown.as_secs_f64()).await?;
            }
        }
        match next {
            Next::Done(status) => {
                if *status == Status::Failed {
                    let mut e = event(None);
                    e.detail = Some("retry attempts exhausted");
                    audit::record(&mut *tx, Outcome::Failed, e).await?;
                }
                let last_error = (*status != Status::Sent).then_some(last_error).flatten();
                messages::finish(&mut tx, m.id, *status, last_error).await?;
            }
            Next::RetryAfter(delay) => {
                messages::requeue(&mut tx, m.id, *delay, last_error.unwrap_or("retry")).await?;
            }
        }
        tx.commit().await
    }
}
