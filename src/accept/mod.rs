//! Accepting a validated message: the service both send endpoints (`POST /v1/messages` and the Graph-shaped
//! `sendMail`) call. It replays an idempotent retry, decides with the allowlist, and hands the message, its audit
//! event, its key and its quota count to the group-commit writer, which answers once they are durable.

pub mod group_commit;
pub mod queued;
pub mod quota;
mod refusal;
pub mod refusal_budget;

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use tokio::sync::broadcast;
use tracing::field::Empty;
use uuid::Uuid;

pub use self::group_commit::Writer;
use self::group_commit::{KeyClaim, Request, Row, Written};
pub use self::queued::QueuedMessage;
pub use self::refusal::{Refusal, too_many_refusals};
use self::refusal_budget::RefusalBudget;
use crate::auth::Caller;
use crate::config::Limits;
use crate::db;
use crate::db::idempotency::Stored;
use crate::domain::message::NewMessage;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::policy::{Access, Decision, Snapshot, decide};
use crate::telemetry;

/// What accepting uses of the process's shared state, lent for one call (`AppState::accepting` lends it).
pub struct Context<'a> {
    pub pool: &'a PgPool,
    pub writer: &'a Writer,
    /// Where a message's outcome is announced, for a caller who waits for it.
    pub done: &'a broadcast::Sender<Uuid>,
    pub metrics: &'a Metrics,
    pub refusals: &'a RefusalBudget,
    pub limits: Limits,
    pub idempotency_ttl: Duration,
}

/// A caller's Idempotency-Key for one logical send, with the fingerprint of the request it came with.
pub struct Key {
    pub key: String,
    pub hash: Vec<u8>,
}

pub enum Accepted {
    /// Stored now. `done` is subscribed when the caller wants to wait for the outcome.
    Queued { message: QueuedMessage, done: Option<broadcast::Receiver<Uuid>> },
    /// A retry of an earlier request with the same Idempotency-Key.
    Replay(Stored),
}

/// `snapshot` is the one the caller resolved `from` with (to the mailbox's primary address, before validating, so
/// the message itself names the mailbox as Graph is called with it): one snapshot per send, so resolution and
/// decision cannot disagree. A local denial is recorded before it is returned.
pub async fn accept(
    cx: &Context<'_>,
    snapshot: &Snapshot,
    caller: &Caller,
    message: NewMessage,
    key: Option<&Key>,
    request_id: &str,
    wait: Option<Duration>,
) -> Result<Accepted, Refusal> {
    let ttl = cx.idempotency_ttl;
    if let Some(k) = key
        && let Some(stored) = db::idempotency::find(cx.pool, caller.app_id, &k.key, ttl).await?
    {
        return Ok(Accepted::Replay(stored));
    }
    let decision = decided(snapshot, caller, &message.mailbox.key());
    let granted = decision.access == Access::Granted;
    cx.metrics.decision(granted);
    if !granted {
        over_budget(cx.refusals, cx.metrics, caller).map_err(|retry_after| Refusal::TooManyRefusals {
            limit: cx.limits.app_refusals_per_minute,
            retry_after,
        })?;
    }
    let id = Uuid::now_v7();
    // From here on the mailbox is the canonical one, whatever name the caller used: the audit row, the outbox row
    // (and so pacing and the Graph call) all carry it.
    let mailbox = decision.mailbox.clone();
    let queued = granted.then(|| QueuedMessage::new(id, &mailbox, &message));
    let refusal = (!granted).then(|| Refusal::Denied { id, decision: Box::new(decision.clone()) });
    let claim = key.map(|k| KeyClaim {
        key: k.key.clone(),
        hash: k.hash.clone(),
        status: if granted { 202 } else { 403 },
        response: match (&queued, &refusal) {
            (Some(queued), _) => queued.answer(),
            (None, Some(refusal)) => json!(refusal.to_api_error().problem()),
            (None, None) => json!(null),
        },
    });
    let limits = cx.limits;
    let quota = granted
        .then(|| quota::Ask {
            app_id: caller.app_id,
            per_minute: caller.quota.messages_per_minute.map_or(limits.app_messages_per_minute, i64::from),
            per_day: caller.quota.recipients_per_day.map_or(limits.app_recipients_per_day, i64::from),
            recipients: i64::try_from(message.recipients).unwrap_or(i64::MAX),
        })
        .filter(|ask| ask.per_minute > 0 || ask.per_day > 0);
    // Subscribed before the row exists, so the outcome cannot slip past between insert and wait.
    let done = wait.map(|_| cx.done.subscribe());
    let request = Request {
        row: Row {
            id,
            app_id: caller.app_id,
            app_name: caller.app_name.clone(),
            mailbox: mailbox.clone(),
            subject: message.subject,
            recipients: i32::try_from(message.recipients).unwrap_or(i32::MAX),
            queued: granted,
            payload: granted.then_some(message.graph_body),
            channel: message.origin.channel,
            source_address: message.origin.source_address,
            request_id: request_id.to_owned(),
            detail: decision.reason,
            notify_done: wait.is_some(),
            // The request's span: the delivery attempts are traced as its children.
            traceparent: telemetry::current_traceparent(),
        },
        key: claim,
        quota,
    };
    match cx.writer.write(request).await.map_err(Refusal::Store)? {
        Written::Stored => {}
        Written::KeyTaken => {
            // A concurrent request with this key committed first: answer as it was answered.
            let k = key_of(key)?;
            let stored = db::idempotency::find(cx.pool, caller.app_id, &k.key, ttl).await?;
            return Ok(Accepted::Replay(
                stored.ok_or_else(|| Refusal::Internal("an idempotency key vanished".into()))?,
            ));
        }
        Written::OverQuota(verdict) => {
            let refusal = Refusal::quota(&caller.app_name, verdict);
            if let Refusal::OverQuota { quota, .. } = &refusal {
                cx.metrics.quota_refusal(quota);
            }
            return Err(refusal);
        }
    }
    if let Some(refusal) = refusal {
        tracing::info!(%id, app = %caller.app_name, %mailbox, "denied by the allowlist");
        return Err(refusal);
    }
    tracing::info!(%id, app = %caller.app_name, %mailbox, "queued");
    let queued = queued.ok_or_else(|| Refusal::Internal("a queued message without its view".into()))?;
    Ok(Accepted::Queued { message: queued, done })
}

/// Counts a refusal about to be answered and recorded: `Err(retry_after)` when the app is over its refusal budget
/// and it must be answered 429 instead, recording nothing of its own.
pub fn over_budget(refusals: &RefusalBudget, metrics: &Metrics, caller: &Caller) -> Result<(), u64> {
    match refusals.refuse(caller.app_id, &caller.app_name) {
        refusal_budget::Verdict::Record => Ok(()),
        refusal_budget::Verdict::OverBudget { retry_after } => {
            metrics.quota_refusal("refusals_per_minute");
            Err(retry_after.as_secs_f64().ceil() as u64)
        }
    }
}

/// The allowlist's decision, in a span of its own when traces are exported (otherwise no span is made).
fn decided(snapshot: &Snapshot, caller: &Caller, mailbox: &str) -> Decision {
    if !telemetry::on() {
        return decide(snapshot, caller.app_id, &caller.app_name, mailbox);
    }
    let span = tracing::info_span!(
        "allowlist decision",
        app = %caller.app_name,
        mailbox,
        decision.result = Empty,
        decision.rule = Empty,
        decision.policy_id = Empty,
        decision.assignment_id = Empty,
    );
    let decision = span.in_scope(|| decide(snapshot, caller.app_id, &caller.app_name, mailbox));
    let result = if decision.access == Access::Granted { "granted" } else { "denied" };
    span.record("decision.result", result);
    span.record("decision.rule", decision.rule.as_str());
    if let Some(id) = decision.policy_id {
        span.record("decision.policy_id", tracing::field::display(id));
    }
    if let Some(id) = decision.assignment_id {
        span.record("decision.assignment_id", tracing::field::display(id));
    }
    decision
}

/// Deletes quota buckets that ended long ago, every ten minutes, for as long as the process runs.
pub async fn purge_usage(pool: sqlx::PgPool) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        if let Err(e) = db::quota::purge(&pool).await {
            tracing::warn!(error = %e, "could not purge old quota buckets");
        }
    }
}

fn key_of(key: Option<&Key>) -> Result<&Key, Refusal> {
    key.ok_or_else(|| Refusal::Internal("a key conflict without a key".into()))
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        r.to_api_error()
    }
}
