//! What reached Graph, read only from outside mailgate: the simulator's `accepted` counter and request log (its
//! `client_request_id` is the message id), and the outbox's statuses in SQL.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Deserialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::load;

pub struct SimControl {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct Stats {
    accepted: u64,
}

#[derive(Deserialize)]
struct Received {
    client_request_id: Option<String>,
    received_at: String,
    status: Option<u16>,
}

impl SimControl {
    pub fn new(base: &str) -> SimControl {
        SimControl { http: reqwest::Client::new(), base: base.to_owned() }
    }

    /// sendMail requests answered 202 since the last reset.
    pub async fn accepted(&self) -> anyhow::Result<u64> {
        let stats: Stats = self.http.get(format!("{}/sim/stats", self.base)).send().await?.json().await?;
        Ok(stats.accepted)
    }

    /// `accepted` at the start and the end of `plan`'s window for a run starting at `start`.
    pub async fn accepted_over(&self, plan: &load::Plan, start: Instant) -> anyhow::Result<(u64, u64)> {
        let (from, until) = plan.window(start);
        tokio::time::sleep_until(from.into()).await;
        let first = self.accepted().await?;
        tokio::time::sleep_until(until.into()).await;
        Ok((first, self.accepted().await?))
    }

    /// Clears the simulator's log and counters.
    pub async fn reset(&self) -> anyhow::Result<()> {
        self.http.post(format!("{}/sim/reset", self.base)).send().await?.error_for_status()?;
        Ok(())
    }

    /// When each message was accepted, by id.
    pub async fn received(&self) -> anyhow::Result<HashMap<String, OffsetDateTime>> {
        let log: Vec<Received> = self.http.get(format!("{}/sim/received", self.base)).send().await?.json().await?;
        let mut out = HashMap::with_capacity(log.len());
        for r in log.into_iter().filter(|r| r.status == Some(202)) {
            let at = OffsetDateTime::parse(&r.received_at, &Rfc3339).context("received_at")?;
            if let Some(id) = r.client_request_id {
                out.insert(id, at);
            }
        }
        Ok(out)
    }
}

/// Waits until no message is queued or being sent; false if `timeout` passed first.
pub async fn drained(owner: &PgPool, timeout: Duration) -> anyhow::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        // One count per status, so that each can use its partial index over a full outbox.
        let pending: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM messages WHERE status = 'queued')
                  + (SELECT count(*) FROM messages WHERE status = 'sending')",
        )
        .fetch_one(owner)
        .await?;
        if pending == 0 {
            return Ok(true);
        }
        if Instant::now() > deadline {
            eprintln!("bench: {pending} messages still queued or sending after {timeout:?}");
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// From the 202 the client saw to the simulator's receipt of the same message.
pub struct AcceptToGraph {
    /// Microseconds; a receipt before the client had its 202 (a worker can be that quick) counts as 0.
    pub latency: Histogram<u64>,
    /// Received before the client had the 202.
    pub before_202: u64,
    /// Accepted but never received.
    pub missing: u64,
}

pub fn accept_to_graph(accepted: &[(String, SystemTime)], received: &HashMap<String, OffsetDateTime>) -> AcceptToGraph {
    let mut out = AcceptToGraph { latency: load::histogram(), before_202: 0, missing: 0 };
    for (id, at) in accepted {
        let Some(got) = received.get(id) else {
            out.missing += 1;
            continue;
        };
        let micros = (*got - OffsetDateTime::from(*at)).whole_microseconds();
        if micros < 0 {
            out.before_202 += 1;
        }
        let _ = out.latency.record(u64::try_from(micros.max(1)).unwrap_or(u64::MAX));
    }
    out
}
