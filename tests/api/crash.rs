//! A `mailgate serve` killed with SIGKILL in the middle of a load — posts arriving, sends at Graph — then started
//! again on the same database. The simulator records each request when it arrives, so a send whose client died
//! mid-request is seen too, and a resend after the restart would show as a second arrival.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use graph_sim::{Fate, Fault, ReceivedRequest, ScriptedFault};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::helpers::{TestApp, other_app, spawn};
use crate::process::{Posted, post_once, wait_until};

const MAILBOXES: usize = 8;
/// Workers per process (the default): at most this many sends can be in flight when the process dies.
const WORKERS: usize = 8;
const POSTERS: usize = 16;

fn mailbox(i: usize) -> String {
    format!("bulk{i}@contoso.test")
}

/// Every request that reached the simulator, by message id (mailgate's `client-request-id`), in arrival order.
pub fn arrivals(app: &TestApp) -> BTreeMap<String, Vec<ReceivedRequest>> {
    let mut out: BTreeMap<String, Vec<ReceivedRequest>> = BTreeMap::new();
    for r in app.sim.sim.received() {
        out.entry(r.client_request_id.clone().unwrap_or_default()).or_default().push(r);
    }
    out
}

/// What a crash may leave, checked against the simulator's arrival records and the database once everything
/// settled: no message reached Graph twice, nothing reached Graph that has no row, every acknowledged message has
/// its row and ends `sent` or `unknown`, each `sent` one reached Graph once and was answered 202, and a request the
/// crash cut off at Graph (abandoned, or answered into a dead connection) belongs to an `unknown` message.
/// Returns the ids that ended `unknown`.
pub async fn assert_crash_lost_and_doubled_nothing(app: &TestApp, acknowledged: &[String]) -> BTreeSet<String> {
    let statuses = app.statuses().await;
    let arrived = arrivals(app);
    for (id, requests) in &arrived {
        let fates: Vec<_> = requests.iter().map(|r| (r.status, r.fate)).collect();
        assert_eq!(requests.len(), 1, "message {id} reached Graph {} times: {fates:?}", requests.len());
        let status = statuses.get(id).unwrap_or_else(|| panic!("Graph received {id}, which has no row"));
        let request = &requests[0];
        match status.as_str() {
            "sent" => assert_eq!((request.status, request.fate), (Some(202), Fate::Answered), "sent {id}"),
            "unknown" => {}
            other => panic!("message {id} reached Graph and ended {other}: {fates:?}"),
        }
    }
    let mut unknown = BTreeSet::new();
    for id in acknowledged {
        let status = statuses.get(id).unwrap_or_else(|| panic!("acknowledged message {id} is not in the database"));
        match status.as_str() {
            "sent" => assert!(arrived.contains_key(id), "{id} is sent and Graph never saw it"),
            "unknown" => {
                unknown.insert(id.clone());
            }
            other => panic!("acknowledged message {id} ended {other}"),
        }
    }
    unknown
}

/// Posters that post until stopped, each logging every answer (a post cut off by a crash has no status).
pub struct Posters {
    pub log: Arc<Mutex<Vec<Posted>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Posters {
    pub fn start(
        http: &reqwest::Client,
        base: &str,
        key: &str,
        posters: usize,
        body: impl Fn(usize) -> serde_json::Value + Send + Sync + 'static,
    ) -> Posters {
        let log: Arc<Mutex<Vec<Posted>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let body = Arc::new(body);
        let tasks = (0..posters)
            .map(|p| {
                let (http, base, key, log, stop, body) =
                    (http.clone(), base.to_owned(), key.to_owned(), log.clone(), stop.clone(), body.clone());
                tokio::spawn(async move {
                    let mut i = p;
                    while !stop.load(Ordering::Relaxed) {
                        let posted = post_once(&http, &base, &key, &body(i)).await;
                        log.lock().await.push(posted);
                        i += posters;
                    }
                })
            })
            .collect();
        Posters { log, stop, tasks }
    }

    /// How many posts were answered 202 so far.
    pub async fn accepted(&self) -> usize {
        self.log.lock().await.iter().filter(|p| p.acknowledged()).count()
    }

    /// Stops posting; returns every answer.
    pub async fn stop(self) -> Vec<Posted> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("poster");
        }
        self.log.lock().await.clone()
    }
}

#[sqlx::test]
async fn a_kill_9_with_posts_and_sends_in_flight_loses_nothing_and_sends_nothing_twice(pool: PgPool) {
    let key = other_app(&pool, "bulk").await;
    let mut app = spawn()
        .env("MAILGATE_WORKERS", &WORKERS.to_string())
        .env("MAILGATE_LEASE_SECS", "3")
        .env("MAILGATE_GRAPH_TIMEOUT_SECS", "2")
        .env("MAILGATE_POLL_INTERVAL_MS", "100")
        .env("MAILGATE_MAILBOX_MESSAGES_PER_MINUTE", "100000")
        .env("MAILGATE_APP_MESSAGES_PER_MINUTE", "0")
        .env("MAILGATE_APP_RECIPIENTS_PER_DAY", "0")
        .start(pool)
        .await;
    for i in 0..MAILBOXES {
        app.sim.sim.add_mailboxes(&[mailbox(i)]);
        // Every send takes a while, so that several are always at Graph when the process dies.
        app.sim.sim.add_scripted_faults(&mailbox(i), vec![ScriptedFault::times(Fault::Delay { ms: 80 }, 1_000_000)]);
    }

    let posters = Posters::start(&app.http, &app.base, &key, POSTERS, |i| {
        json!({"from": mailbox(i % MAILBOXES), "to": ["someone@example.com"], "subject": format!("load {i}"),
               "text": "crash test"})
    });
    // Posts still arriving and sends at Graph (workers claim in batches, so this is not always so): kill the process
    // where it stands.
    let sim = app.sim.sim.clone();
    wait_until("the simulator accepted 300 messages and has sends in progress", Duration::from_secs(120), || {
        let mid_send = sim.stats().accepted >= 300 && sim.received().iter().any(|r| r.fate == Fate::InProgress);
        async move { mid_send }
    })
    .await;
    app.process.kill();
    let accepted_at_kill = app.sim.sim.stats().accepted;
    let posted = posters.stop().await;
    let stranded: BTreeSet<String> = sqlx::query_scalar("SELECT id::text FROM messages WHERE status = 'sending'")
        .fetch_all(&app.pool)
        .await
        .expect("stranded")
        .into_iter()
        .collect();
    assert!(stranded.len() <= WORKERS, "{} messages were sending in a process with {WORKERS} workers", stranded.len());
    // The crash met requests in flight on both sides; the simulator saw its side as it happened.
    let cut_off_posts = posted.iter().filter(|p| p.status.is_none()).count();
    assert!(cut_off_posts >= 1, "no post was in flight when the process died");
    wait_until("the simulator noticed every connection of the dead process close", Duration::from_secs(30), || {
        let settled = sim.received().iter().all(|r| r.fate != Fate::InProgress);
        async move { settled }
    })
    .await;
    let abandoned: BTreeSet<String> = app
        .sim
        .sim
        .received()
        .into_iter()
        .filter(|r| r.fate == Fate::Abandoned)
        .filter_map(|r| r.client_request_id)
        .collect();
    assert!(!abandoned.is_empty(), "no send was at Graph when the process died; the test proves nothing");

    app.restart();
    app.wait_settled(Duration::from_secs(90)).await;

    let acknowledged: Vec<String> = posted.iter().filter_map(|p| p.id.clone()).collect();
    let unknown = assert_crash_lost_and_doubled_nothing(&app, &acknowledged).await;
    // `unknown` is exactly what was being sent when the process died, every send cut off at Graph among it.
    let all_unknown: BTreeSet<String> =
        app.statuses().await.into_iter().filter(|(_, s)| s == "unknown").map(|(id, _)| id).collect();
    assert_eq!(all_unknown, stranded, "unknown must be what was sending at the kill");
    assert!(abandoned.is_subset(&all_unknown), "a send cut off at Graph did not end unknown: {abandoned:?}");
    eprintln!(
        "kill -9 after {accepted_at_kill} accepted, {} acknowledged: {cut_off_posts} posts cut off, {} sends \
         abandoned at Graph, {} stranded sending, {} acknowledged ones unknown",
        acknowledged.len(),
        abandoned.len(),
        stranded.len(),
        unknown.len()
    );
    for id in &all_unknown {
        let explained = app
            .count(&format!(
                "SELECT count(*) FROM audit_events WHERE message_id = '{id}' AND outcome = 'unknown'
                    AND detail LIKE '%stopped before recording Graph''s answer%'"
            ))
            .await;
        assert_eq!(explained, 1, "unknown message {id} has no audit event explaining the expired lease");
        let last_error = app
            .count(&format!("SELECT count(*) FROM messages WHERE id = '{id}' AND last_error = 'lease_expired'"))
            .await;
        assert_eq!(last_error, 1, "unknown message {id} does not say its lease expired");
    }
}
