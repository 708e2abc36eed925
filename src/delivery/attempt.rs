//! One claimed message, one attempt: check that it may still be sent, call Graph, decide what the answer means, and
//! hand the outcome to the recorder.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::graph::{Attempt, Transport};
use super::lease::Lease;
use super::outcome::{Next, classify};
use super::recorder::{Recorded, Recorder};
use super::service::Delivery;
use crate::db::audit::Outcome;
use crate::db::delivery::{AttemptEvent, AttemptRecord, Claimed, DriftNote};
use crate::db::messages::Status;
use crate::telemetry;

/// The audit detail of a message whose time to live ran out before Graph was called.
pub const TTL_BEFORE_SEND: &str = "time to live passed before it could be sent";
/// A request must leave this soon after its claim, which counted it in the mailbox's pacing window then (the window
/// keeps each start a second longer than 60 s for this); later, the claim is given back as a retry.
const START_WITHIN: Duration = Duration::from_secs(1);

/// `traceparent`: the accepting request's trace context, which this attempt's span continues as its child.
pub async fn deliver(
    d: &Delivery,
    rec: &Recorder,
    m: &Claimed,
    body: &Value,
    traceparent: Option<&str>,
    claimed_at: Instant,
) {
    let span = tracing::info_span!("deliver", message_id = %m.id, mailbox = %m.mailbox, attempt = m.attempt);
    if let Some(parent) = traceparent {
        telemetry::set_remote_parent(&span, parent);
    }
    attempt(d, rec, m, body, claimed_at).instrument(span).await;
}

async fn attempt(d: &Delivery, rec: &Recorder, m: &Claimed, body: &Value, claimed_at: Instant) {
    let s = &d.settings;
    let lease = Lease::keep(d.pool.clone(), m.id, m.attempt, s.delivery.lease, claimed_at);
    let deadline = claimed_at + Duration::from_secs_f64(m.expires_in.max(0.0));
    let token = d.token.get().await;
    // Checked again just before the request: the token may have taken a while.
    if Instant::now() >= deadline {
        tracing::info!("time to live passed before the message could be sent");
        let event = AttemptEvent { detail: Some(TTL_BEFORE_SEND.to_owned()), ..AttemptEvent::new(Outcome::Failed) };
        let record = base(d, m, Status::Failed, Some("ttl_expired".to_owned()), vec![event]);
        report(rec.record(record).await);
        return;
    }
    let graph_span = graph_span(m);
    let attempt = match token {
        Err(e) => not_sent(format!("no Graph token: {e}")),
        Ok(_) if !lease.held() => not_sent("the lease ran out before the request could start".to_owned()),
        Ok(_) if claimed_at.elapsed() > START_WITHIN => not_sent(format!(
            "the request could not start within {START_WITHIN:?} of its claim, which paced it; queued again"
        )),
        Ok(token) => tokio::select! {
            a = d.graph.send_mail(&token, &m.mailbox, m.id, body).instrument(graph_span.clone()) => a,
            () = lease.lost() => {
                // Another worker or the sweep has the message now; whatever this one learns cannot be recorded.
                tracing::warn!("lease lost mid-send; the attempt is abandoned");
                return;
            }
        },
    };

    let (outcome, mut next) = classify(&attempt, m.attempt, s.delivery.max_attempts, s.delivery.guarantee);
    let mut expired = false;
    if let Next::RetryAfter(delay) = next
        && Instant::now() + delay > deadline
    {
        next = Next::Done(Status::Failed);
        expired = true;
    }
    record_graph_span(&graph_span, &attempt, outcome);
    tracing::info!(outcome = outcome.as_str(), status = ?attempt.status, code = ?attempt.code, "graph attempt");
    d.metrics.graph_attempt(outcome.as_str(), attempt.transport.is_none().then_some(attempt.latency));
    if outcome == Outcome::ExchangeDenied {
        d.metrics.drift();
    }
    if outcome == Outcome::Unknown {
        d.metrics.unknown_outcomes(1);
    }
    // The lease is kept until the outcome is written: a short outage of Postgres must not let the sweep take it.
    report(rec.record(outcome_record(d, m, &attempt, outcome, &next, expired)).await);
    drop(lease);
}

/// A claimed message whose body could not be read: back to the queue unattempted (the database was away), or failed
/// (it has none, which only a bug could cause).
pub async fn give_back(d: &Delivery, rec: &Recorder, m: &Claimed, unread: bool) {
    let record = if unread {
        let mut r = base(d, m, Status::Queued, Some("body unreadable".to_owned()), Vec::new());
        r.retry_secs = Some(1.0);
        r
    } else {
        tracing::error!(message_id = %m.id, "a claimed message has no body");
        let event = AttemptEvent {
            detail: Some("the message body is missing".to_owned()),
            ..AttemptEvent::new(Outcome::Failed)
        };
        base(d, m, Status::Failed, Some("body_missing".to_owned()), vec![event])
    };
    report(rec.record(record).await);
}

/// The Graph call's client span, when traces are exported (otherwise none is made).
fn graph_span(m: &Claimed) -> Span {
    if !telemetry::on() {
        return Span::none();
    }
    tracing::info_span!(
        "graph sendMail",
        otel.name = "POST sendMail",
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = "POST",
        mailbox = %m.mailbox,
        message_id = %m.id,
        attempt = m.attempt,
        http.response.status_code = Empty,
        graph.request_id = Empty,
        graph.error_code = Empty,
        outcome = Empty,
        error.type = Empty,
    )
}

fn record_graph_span(span: &Span, a: &Attempt, outcome: Outcome) {
    if span.is_none() {
        return;
    }
    span.record("outcome", outcome.as_str());
    if let Some(status) = a.status {
        span.record("http.response.status_code", i64::from(status));
    }
    if let Some(id) = &a.request_id {
        span.record("graph.request_id", id.as_str());
    }
    if let Some(code) = &a.code {
        span.record("graph.error_code", code.as_str());
    }
    if let Some(Transport::NotSent(why) | Transport::MaybeSent(why)) = &a.transport {
        span.record("error.type", why.as_str());
    }
    if outcome != Outcome::Sent {
        span.record("otel.status_code", "ERROR");
    }
}

fn not_sent(why: String) -> Attempt {
    Attempt { transport: Some(Transport::NotSent(why)), ..Attempt::default() }
}

fn report(recorded: Recorded) {
    if recorded == Recorded::Lost {
        tracing::warn!("the lease was lost before the outcome was recorded; it changed nothing");
    }
}

fn base(
    d: &Delivery,
    m: &Claimed,
    status: Status,
    last_error: Option<String>,
    events: Vec<AttemptEvent>,
) -> AttemptRecord {
    AttemptRecord {
        id: m.id,
        attempt: m.attempt,
        status,
        retry_secs: None,
        last_error,
        keep_body: !d.settings.retention.body_retention.is_zero(),
        app_id: m.app_id,
        app_name: m.app_name.clone(),
        mailbox: m.mailbox.clone(),
        events,
        pause_secs: None,
        drift: None,
        cooldown_secs: None,
    }
}

fn outcome_record(
    d: &Delivery,
    m: &Claimed,
    a: &Attempt,
    outcome: Outcome,
    next: &Next,
    expired: bool,
) -> AttemptRecord {
    let detail = match &a.transport {
        Some(Transport::NotSent(t) | Transport::MaybeSent(t)) => Some(t.clone()),
        None => a.message.clone(),
    };
    let last_error = a.code.clone().or_else(|| detail.clone());
    let mut events = vec![AttemptEvent {
        attempt: Some(m.attempt),
        http_status: a.status.map(i32::from),
        graph_code: a.code.clone(),
        graph_request_id: a.request_id.clone(),
        latency_ms: Some(i32::try_from(a.latency.as_millis()).unwrap_or(i32::MAX)),
        detail,
        ..AttemptEvent::new(outcome)
    }];
    let mut r = match next {
        Next::Done(status) => {
            if *status == Status::Failed {
                let why = if expired { "the message's time to live passed" } else { "retry attempts exhausted" };
                events.push(AttemptEvent { detail: Some(why.to_owned()), ..AttemptEvent::new(Outcome::Failed) });
            }
            let last_error = if *status == Status::Sent { None } else { last_error };
            base(d, m, *status, last_error, events)
        }
        Next::RetryAfter(delay) => {
            let mut r = base(d, m, Status::Queued, Some(last_error.unwrap_or_else(|| "retry".to_owned())), events);
            r.retry_secs = Some(delay.as_secs_f64());
            r
        }
    };
    if outcome == Outcome::Throttled {
        // Exchange's limit is per app and mailbox: every worker in every replica waits it out.
        r.pause_secs = Some(a.retry_after.unwrap_or(Duration::from_secs(1)).as_secs_f64());
    }
    if outcome == Outcome::ExchangeDenied {
        // The mirror granted this pair when the message was accepted; Exchange disagrees.
        r.drift = Some(DriftNote { graph_code: a.code.clone(), graph_request_id: a.request_id.clone() });
        r.cooldown_secs = d.settings.delivery.drift_cooldown.map(|c| c.as_secs_f64());
    }
    r
}
