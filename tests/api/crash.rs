//! A `mailgate serve` killed with SIGKILL in the middle of a load, then started again on the same database.

use std::time::Duration;

use graph_sim::{Fault, ScriptedFault};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{assert_delivered_at_most_once, other_app, spawn};
use crate::process::{all_acknowledged, post_concurrently, wait_until};

const MESSAGES: usize = 2000;
const MAILBOXES: usize = 8;
/// Workers per process (the default): at most this many sends can be in flight when the process dies.
const WORKERS: usize = 8;

fn mailbox(i: usize) -> String {
    format!("bulk{i}@contoso.test")
}

#[sqlx::test]
async fn a_kill_9_under_load_loses_no_message_and_sends_none_twice(pool: PgPool) {
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
        // Every send takes a while, so that several are always in flight and the kill lands mid-load even when
        // posting is slow on a busy machine.
        app.sim.sim.add_scripted_faults(&mailbox(i), vec![ScriptedFault::times(Fault::Delay { ms: 80 }, 1_000_000)]);
    }

    let bases = [app.base.clone()];
    let posted = post_concurrently(&app.http, &bases, &key, MESSAGES, 16, |i| {
        json!({"from": mailbox(i % MAILBOXES), "to": ["someone@example.com"], "subject": format!("load {i}"),
               "text": "crash test"})
    })
    .await;
    let acknowledged = all_acknowledged(&posted);

    // Some sent, most not yet: kill the process where it stands.
    let sim = app.sim.sim.clone();
    wait_until("the simulator accepted 300 messages", Duration::from_secs(60), || {
        let accepted = sim.stats().accepted;
        async move { accepted >= 300 }
    })
    .await;
    app.process.kill();
    let accepted_at_kill = app.sim.sim.stats().accepted;
    assert!(
        accepted_at_kill < MESSAGES as u64 - 100,
        "delivery was nearly over ({accepted_at_kill} accepted) before the kill; the test proves nothing"
    );
    let stranded = app.count("SELECT count(*) FROM messages WHERE status = 'sending'").await;
    assert!(stranded <= WORKERS as i64, "{stranded} messages were sending in a process with {WORKERS} workers");

    app.restart();
    app.wait_settled(Duration::from_secs(90)).await;

    let statuses = assert_delivered_at_most_once(&app, &acknowledged, &["sent", "unknown"]).await;
    let unknown: Vec<&String> =
        acknowledged.iter().zip(&statuses).filter(|(_, s)| *s == "unknown").map(|(id, _)| id).collect();
    // Only what was in flight at the kill may be unknown (twice the workers: slack for a claim in progress).
    assert!(unknown.len() <= 2 * WORKERS, "{} messages ended unknown after one kill", unknown.len());
    eprintln!(
        "kill -9 after {accepted_at_kill} of {MESSAGES} accepted: {stranded} stranded sending, {} unknown",
        unknown.len()
    );
    for id in unknown {
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
