//! The delivery loop: claim due messages within Exchange's limits, send each, record the outcome.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::graph::{Attempt, Transport};
use super::outcome::{Next, classify};
use super::{Events, GraphClient, GraphToken};
use crate::config::{Guarantee, Settings};
use crate::db::audit::{self, NewEvent, Outcome};
use crate::db::drift::{self, NewDrift};
use crate::db::messages::{self, Claimed, Status};
use crate::metrics::Metrics;

pub struct Delivery {
    pub pool: PgPool,
    pub graph: GraphClient,
    pub token: Arc<GraphToken>,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
}

impl Delivery {
    /// Runs until `shutdown` turns true, then waits up to the shutdown grace for sends in flight.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let s = &self.settings;
        let slots = Arc::new(Semaphore::new(s.workers));
        let mut last_sweep = tokio::time::Instant::now() - s.poll_interval;
        while !*shutdown.borrow() {
            if last_sweep.elapsed() >= s.poll_interval {
                self.sweep().await;
                last_sweep = tokio::time::Instant::now();
            }
            let free = slots.available_permits();
            let mut claimed_all = false;
            if free > 0 {
                match messages::claim_due(&self.pool, free as i64, s.lease, &s.limits).await {
                    Ok(batch) => {
                        claimed_all = batch.len() == free;
                        for message in batch {
                            let Ok(slot) = slots.clone().try_acquire_owned() else { break };
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
                () = tokio::time::sleep(s.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Stop claiming; let what is in flight finish. Unclaimed messages stay queued for the next process.
        let all = u32::try_from(s.workers).unwrap_or(u32::MAX);
        if tokio::time::timeout(s.shutdown_grace, slots.acquire_many(all)).await.is_err() {
            tracing::warn!("shutdown grace passed with sends still in flight; their leases will expire");
        }
    }

    /// Leases of vanished workers, and bodies and idempotency keys past their retention.
    async fn sweep(&self) {
        let resend = self.settings.guarantee == Guarantee::AtLeastOnce;
        let result = async {
            let mut tx = self.pool.begin().await?;
            let expired = messages::expire_leases(&mut tx, resend).await?;
            let detail = if resend {
                "the worker sending this message stopped before recording Graph's answer; queued again (at-least-once)"
            } else {
                "the worker sending this message stopped before recording Graph's answer; not resent (at-most-once)"
            };
            for (id, app_id, mailbox, attempt) in &expired {
                let event = NewEvent {
                    app_id: Some(*app_id),
                    mailbox: Some(mailbox),
                    message_id: Some(*id),
                    attempt: Some(*attempt),
                    detail: Some(detail),
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
            Ok(n) => tracing::warn!(count = n, "messages whose lease expired"),
            Err(e) => tracing::warn!(error = %e, "could not sweep expired leases"),
        }
        if let Err(e) = messages::purge(&self.pool, self.settings.body_retention, self.settings.idempotency_ttl).await {
            tracing::warn!(error = %e, "could not purge bodies and idempotency keys");
        }
    }

    #[tracing::instrument(skip_all, fields(message_id = %m.id, mailbox = %m.mailbox, attempt = m.attempts))]
    async fn deliver(self: Arc<Self>, m: Claimed, _slot: OwnedSemaphorePermit) {
        let attempt = match self.token.get().await {
            Ok(token) => self.graph.send_mail(&token, &m.mailbox, m.id, &m.payload).await,
            Err(e) => {
                Attempt { transport: Some(Transport::NotSent(format!("no Graph token: {e}"))), ..Attempt::default() }
            }
        };
        let s = &self.settings;
        let (outcome, mut next) = classify(&attempt, m.attempts, s.max_attempts, s.guarantee);
        let mut expired = false;
        if let Next::RetryAfter(delay) = next {
            let deadline = m.created_at + s.message_ttl;
            if OffsetDateTime::now_utc() + delay > deadline {
                next = Next::Done(Status::Failed);
                expired = true;
            }
        }
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
            match self.record(&m, &attempt, outcome, &next, expired).await {
                Ok(()) => break,
                Err(e) if pause > 0 => {
                    tracing::warn!(error = %e, "could not record the attempt; retrying");
                    tokio::time::sleep(Duration::from_secs(pause)).await;
                }
                Err(e) => tracing::error!(error = %e, "could not record the attempt; its lease will expire"),
            }
        }
        self.events.wake.notify_one();
    }

    async fn record(
        &self,
        m: &Claimed,
        a: &Attempt,
        outcome: Outcome,
        next: &Next,
        expired: bool,
    ) -> Result<(), sqlx::Error> {
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
        if outcome == Outcome::Throttled {
            // Exchange's limit is per app and mailbox: every worker in every replica waits it out.
            let pause = a.retry_after.unwrap_or(Duration::from_secs(1));
            messages::pause_mailbox(&mut tx, &m.mailbox, pause).await?;
        }
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
            if let Some(cooldown) = self.settings.drift_cooldown {
                drift::cool_down(&mut *tx, m.app_id, &m.mailbox, cooldown.as_secs_f64()).await?;
            }
        }
        match next {
            Next::Done(status) => {
                if *status == Status::Failed {
                    let mut e = event(None);
                    e.detail =
                        Some(if expired { "the message's time to live passed" } else { "retry attempts exhausted" });
                    audit::record(&mut *tx, Outcome::Failed, e).await?;
                }
                let last_error = (*status != Status::Sent).then_some(last_error).flatten();
                let keep_body = !self.settings.body_retention.is_zero();
                messages::finish(&mut tx, m.id, *status, last_error, keep_body).await?;
            }
            Next::RetryAfter(delay) => {
                messages::requeue(&mut tx, m.id, *delay, last_error.unwrap_or("retry")).await?;
            }
        }
        tx.commit().await
    }
}
