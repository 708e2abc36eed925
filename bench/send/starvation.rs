//! No caller can starve the others, measured: mailgate's peak memory with ten of the largest requests it accepts at
//! once (against its ceiling, the body budget plus 64 MiB), and sends while `/readyz` and `/metrics` are flooded and
//! the Graph token endpoint fails (not one send may be answered 503).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::load::{self, Pace, Plan, Target};
use crate::services;

/// mailgate's default `MAILGATE_MAX_INFLIGHT_BODY_BYTES`, which the benchmark leaves as it is.
pub const BODY_BUDGET_MIB: f64 = 256.0;
/// Room for everything but the bodies, in the ceiling.
const HEADROOM_MIB: f64 = 64.0;
/// The requests sent at once, each the largest message mailgate accepts with its defaults.
const PARALLEL: usize = 10;
/// Rounds of them: a peak that grows from round to round is memory kept, not held.
const ROUNDS: usize = 3;

#[derive(Serialize)]
pub struct MemoryPhase {
    pub requests: usize,
    pub body_bytes: usize,
    /// Answers by status, over every round.
    pub answers: BTreeMap<String, u64>,
    pub peak_rss_mib: f64,
    pub ceiling_mib: f64,
}

/// The largest message accepted without large messages: its body text just under Graph's 4 MB request, less the
/// room mailgate keeps for the rest of it (the request body is about 4 MiB; the limit read is 5 MiB).
fn largest_body(from: &str, n: usize) -> Vec<u8> {
    let text = "x".repeat(4 * 1024 * 1024 - 80 * 1024);
    let body = json!({
        "from": from,
        "to": ["data-team@example.com"],
        "subject": format!("The largest message, {n}"),
        "text": text,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Ten of the largest requests at once, `ROUNDS` times; mailgate's peak resident memory over all of it.
pub async fn memory(base: &str, key: &str, mailboxes: &[String], pid: u32) -> anyhow::Result<MemoryPhase> {
    services::reset_peak(pid);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let mut answers: BTreeMap<String, u64> = BTreeMap::new();
    let mut body_bytes = 0;
    for round in 0..ROUNDS {
        let mut sent = Vec::with_capacity(PARALLEL);
        for i in 0..PARALLEL {
            let body = largest_body(&mailboxes[i % mailboxes.len()], round * PARALLEL + i);
            body_bytes = body.len();
            let request = http
                .post(format!("{base}/v1/messages"))
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body);
            sent.push(tokio::spawn(async move { request.send().await }));
        }
        for s in sent {
            let status = match s.await? {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) => format!("transport: {e}"),
            };
            *answers.entry(status).or_default() += 1;
        }
    }
    let peak = services::memory(pid);
    Ok(MemoryPhase {
        requests: PARALLEL * ROUNDS,
        body_bytes,
        answers,
        peak_rss_mib: peak.peak_kib as f64 / 1024.0,
        ceiling_mib: BODY_BUDGET_MIB + HEADROOM_MIB,
    })
}

#[derive(Serialize, Default)]
pub struct Flood {
    pub offered_per_sec: f64,
    pub answered_per_sec: f64,
    /// Answers other than 200, and transport errors, by status.
    pub errors: BTreeMap<String, u64>,
}

#[derive(Serialize)]
pub struct ProbesPhase {
    pub readyz: Flood,
    pub metrics: Flood,
    pub senders: usize,
    pub accepted_per_sec: f64,
    /// Sends answered 503 (must be none), and the other answers that were not 202.
    pub sends_503: u64,
    pub send_errors: BTreeMap<String, u64>,
    /// Requests the token endpoint saw over the phase (every one of them failed).
    pub token_requests: u64,
}

/// `rate` GETs a second of `url`, each on its own task (at most 512 in flight), for `length`; what came back.
async fn flood(url: String, rate: f64, length: Duration) -> anyhow::Result<Flood> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(512).build()?;
    let gate = Arc::new(Semaphore::new(512));
    let answered = Arc::new(AtomicU64::new(0));
    let errors: Arc<std::sync::Mutex<BTreeMap<String, u64>>> = Arc::default();
    let start = Instant::now();
    let mut n: u64 = 0;
    let mut tasks = Vec::new();
    loop {
        let due = start + Duration::from_secs_f64(n as f64 / rate);
        if due >= start + length {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        n += 1;
        // Past 512 in flight the flood waits: the offered rate then shows what the server kept up with.
        let permit = gate.clone().acquire_owned().await?;
        let (http, url, answered, errors) = (http.clone(), url.clone(), answered.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let key = match http.get(url).send().await {
                Ok(r) if r.status() == 200 => {
                    let _ = r.bytes().await;
                    answered.fetch_add(1, Ordering::Relaxed);
                    None
                }
                Ok(r) => Some(r.status().as_u16().to_string()),
                Err(e) if e.is_timeout() => Some("timeout".to_owned()),
                Err(_) => Some("transport".to_owned()),
            };
            if let Some(k) = key {
                *errors.lock().unwrap_or_else(|e| e.into_inner()).entry(k).or_default() += 1;
            }
            drop(permit);
        }));
    }
    let offered = n as f64 / start.elapsed().as_secs_f64();
    for t in tasks {
        t.await?;
    }
    let took = start.elapsed().as_secs_f64();
    let errors = errors.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Flood { offered_per_sec: offered, answered_per_sec: answered.load(Ordering::Relaxed) as f64 / took, errors })
}

/// Sends from `senders` closed loops to a mailgate whose token endpoint always fails, while `/readyz` and
/// `/metrics` each get `rate` requests a second.
pub async fn probes(
    mailgate: &services::Mailgate,
    sim: &services::GraphSim,
    key: &str,
    mailboxes: Arc<Vec<String>>,
    (senders, rate, warmup, measure): (usize, f64, Duration, Duration),
) -> anyhow::Result<ProbesPhase> {
    let base = mailgate.base().to_owned();
    let tokens_before = sim.token_requests().await?;
    let plan = Plan { clients: senders, warmup, measure, pace: Pace::Closed, mailboxes };
    let target = Target::Mailgate { base: base.clone(), key: key.to_owned() };
    let length = warmup + measure;
    let start = Instant::now() + Duration::from_millis(100);
    let (sends, readyz, metrics) = tokio::join!(
        load::run(&target, &plan, start),
        flood(format!("{base}/readyz"), rate, length),
        flood(format!("{base}/metrics"), rate, length),
    );
    let sends = sends?;
    let mut send_errors = sends.errors.clone();
    let sends_503 = send_errors.remove("503").unwrap_or(0);
    Ok(ProbesPhase {
        readyz: readyz?,
        metrics: metrics?,
        senders,
        accepted_per_sec: sends.ok_per_sec(),
        sends_503,
        send_errors,
        token_requests: sim.token_requests().await? - tokens_before,
    })
}
