//! The fixed client: N concurrent loops, each on its own keep-alive HTTP/1.1 connection, POSTing the same small
//! message round-robin over the app's mailboxes, to mailgate or straight to the Graph simulator. Every answer that
//! completes inside the measured window is counted and its latency recorded; warm-up answers are not.
//!
//! Closed loops send the next message as soon as the last is answered. A paced run offers a fixed rate instead: the
//! n-th message is due at start + n / rate, and its latency is counted from when it was due, so a slow answer that
//! holds the next ones back shows in their latency too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use serde::Deserialize;

use crate::message;

/// Where the load goes.
#[derive(Clone)]
pub enum Target {
    /// `POST /v1/messages` with the app's key; a 202's body names the message.
    Mailgate { base: String, key: String },
    /// `POST /v1.0/users/{mailbox}/sendMail` with a token from the simulator's identity endpoint.
    Graph { base: String, token: String },
}

#[derive(Clone, Copy)]
pub enum Pace {
    Closed,
    /// Messages per second offered, whatever the answers' speed.
    Rate(f64),
}

pub struct Plan {
    pub clients: usize,
    pub warmup: Duration,
    pub measure: Duration,
    pub pace: Pace,
    pub mailboxes: Arc<Vec<String>>,
}

impl Plan {
    /// The measured window of a run that starts at `start`.
    pub fn window(&self, start: Instant) -> (Instant, Instant) {
        (start + self.warmup, start + self.warmup + self.measure)
    }
}

/// What one run saw inside its measured window.
pub struct Run {
    /// 202s.
    pub ok: u64,
    /// Every other answer, by status, and transport errors.
    pub errors: BTreeMap<String, u64>,
    /// Microseconds from sending (or, paced, from being due) to the whole answer.
    pub latency: Histogram<u64>,
    /// Mailgate's 202s: the message id and when the client had the answer.
    pub accepted: Vec<(String, SystemTime)>,
    pub measure: Duration,
}

impl Run {
    pub fn ok_per_sec(&self) -> f64 {
        self.ok as f64 / self.measure.as_secs_f64()
    }
}

pub fn histogram() -> Histogram<u64> {
    // 1 µs to 10 min at 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

#[derive(Deserialize)]
struct Queued {
    id: String,
}

/// Runs `plan` against `target`; the loops start at `start` (which may be a little in the future, so that the
/// caller can sample other counters over the same window).
pub async fn run(target: &Target, plan: &Plan, start: Instant) -> anyhow::Result<Run> {
    let counter = Arc::new(AtomicU64::new(0));
    let mut loops = Vec::with_capacity(plan.clients);
    for _ in 0..plan.clients {
        let client = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()?;
        let (target, counter, mailboxes) = (target.clone(), counter.clone(), plan.mailboxes.clone());
        let (window, pace) = (plan.window(start), plan.pace);
        loops
            .push(tokio::spawn(async move { one_loop(client, target, counter, mailboxes, start, window, pace).await }));
    }
    let mut run =
        Run { ok: 0, errors: BTreeMap::new(), latency: histogram(), accepted: Vec::new(), measure: plan.measure };
    for handle in loops {
        let part = handle.await?;
        run.ok += part.ok;
        for (k, v) in part.errors {
            *run.errors.entry(k).or_default() += v;
        }
        run.latency.add(&part.latency)?;
        run.accepted.extend(part.accepted);
    }
    Ok(run)
}

async fn one_loop(
    client: reqwest::Client,
    target: Target,
    counter: Arc<AtomicU64>,
    mailboxes: Arc<Vec<String>>,
    start: Instant,
    (from, until): (Instant, Instant),
    pace: Pace,
) -> Run {
    let mut run =
        Run { ok: 0, errors: BTreeMap::new(), latency: histogram(), accepted: Vec::new(), measure: until - from };
    tokio::time::sleep_until(start.into()).await;
    loop {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let due = match pace {
            Pace::Closed => Instant::now(),
            Pace::Rate(rate) => start + Duration::from_secs_f64(n as f64 / rate),
        };
        if due >= until {
            return run;
        }
        tokio::time::sleep_until(due.into()).await;
        let mailbox = &mailboxes[(n % mailboxes.len() as u64) as usize];
        let sent = request(&client, &target, n, mailbox).send().await;
        let answer = match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                r.bytes().await.map(|body| (status, body))
            }
            Err(e) => Err(e),
        };
        let (done, done_wall) = (Instant::now(), SystemTime::now());
        if done < from || done >= until {
            continue;
        }
        match answer {
            Ok((202, body)) => {
                run.ok += 1;
                let micros = (done - due).as_micros().max(1);
                let _ = run.latency.record(u64::try_from(micros).unwrap_or(u64::MAX));
                if let Target::Mailgate { .. } = target
                    && let Ok(q) = serde_json::from_slice::<Queued>(&body)
                {
                    run.accepted.push((q.id, done_wall));
                }
            }
            Ok((status, _)) => *run.errors.entry(status.to_string()).or_default() += 1,
            Err(e) => {
                *run.errors.entry(transport_error(&e)).or_default() += 1;
                // A refused connection fails at once; do not spin on it.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn request(client: &reqwest::Client, target: &Target, n: u64, mailbox: &str) -> reqwest::RequestBuilder {
    match target {
        Target::Mailgate { base, key } => client
            .post(format!("{base}/v1/messages"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(message::mailgate_body(n, mailbox)),
        Target::Graph { base, token } => client
            .post(format!("{base}/v1.0/users/{mailbox}/sendMail"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("client-request-id", uuid::Uuid::now_v7().to_string())
            .body(message::graph_body(n)),
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}
