//! A `mailgate serve` killed with SIGKILL in the middle of a load — posts arriving, sends at Graph — then started
//! again on the same database. The simulator records each request when it arrives, so a send whose client died
//! mid-request is seen too, and a resend after the restart would show as a second arrival.

use std::collections::BTreeSet;
use std::time::Duration;

use graph_sim::{Fate, Fault, ScriptedFault};
use serde_json::json;
use sqlx::PgPool;

use crate::support::invariants::assert_crash_lost_and_doubled_nothing;
use crate::support::load::Posters;
use crate::support::seed::other_app;
use crate::support::server::spawn;
use crate::support::wait::wait_until;

const MAILBOXES: usize = 8;
/// Workers per process (the default): at most this many sends can be in flight when the process dies.
const WORKERS: usize = 8;
const POSTERS: usize = 16;

fn mailbox(i: usize) -> String {
    format!("bulk{i}@contoso.test")
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
