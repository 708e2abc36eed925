//! Three `mailgate serve` replicas on one database: each message delivered once, and Exchange's per-mailbox
//! concurrency cap held across all of them.

use std::time::Duration;

use graph_sim::{Fault, ScriptedFault};
use serde_json::json;
use sqlx::PgPool;

use crate::support::invariants::assert_delivered_at_most_once;
use crate::support::load::{all_acknowledged, post_concurrently};
use crate::support::seed::other_app;
use crate::support::server::spawn;

const MAILBOXES: usize = 3;
/// Exchange's limit, mailgate's default `MAILGATE_MAILBOX_CONCURRENCY`.
const CAP: u32 = 4;

fn mailbox(i: usize) -> String {
    format!("shared{i}@contoso.test")
}

/// 600 by default; `MAILGATE_TEST_REPLICA_MESSAGES=10000` for the full run.
fn messages() -> usize {
    std::env::var("MAILGATE_TEST_REPLICA_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(600)
}

#[sqlx::test]
async fn three_replicas_deliver_each_message_once_and_keep_the_mailbox_cap(pool: PgPool) {
    let n = messages();
    let key = other_app(&pool, "bulk").await;
    let app = spawn()
        .env("MAILGATE_MAILBOX_MESSAGES_PER_MINUTE", "100000")
        .env("MAILGATE_APP_MESSAGES_PER_MINUTE", "0")
        .env("MAILGATE_APP_RECIPIENTS_PER_DAY", "0")
        .start(pool)
        .await;
    let (second, third) = (app.replica(), app.replica());
    for i in 0..MAILBOXES {
        app.sim.sim.add_mailboxes(&[mailbox(i)]);
        // Sends that take a little while, so that concurrency builds up.
        app.sim.sim.add_scripted_faults(&mailbox(i), vec![ScriptedFault::times(Fault::Delay { ms: 20 }, u32::MAX)]);
    }

    let bases = [app.base.clone(), second.base.clone(), third.base.clone()];
    let posted = post_concurrently(&app.http, &bases, &key, n, 16, |i| {
        json!({"from": mailbox(i % MAILBOXES), "to": ["someone@example.com"], "subject": format!("replicas {i}"),
               "text": "three replicas"})
    })
    .await;
    let acknowledged = all_acknowledged(&posted);
    app.wait_settled(Duration::from_secs(60 + n as u64 / 20)).await;

    let statuses = assert_delivered_at_most_once(&app, &acknowledged, &["sent"]).await;
    assert_eq!(statuses.len(), n);
    let stats = app.sim.sim.stats();
    assert_eq!(stats.accepted, n as u64);
    for i in 0..MAILBOXES {
        let peak = stats.max_in_flight.get(&mailbox(i)).copied().unwrap_or(0);
        assert!(peak <= CAP, "{} had {peak} sends in flight at once, over Exchange's {CAP}", mailbox(i));
    }
    let highest = stats.max_in_flight.values().copied().max().unwrap_or(0);
    assert!(
        highest >= 2,
        "no mailbox ever had two sends in flight ({:?}): the cap was not tested",
        stats.max_in_flight
    );
    eprintln!("{n} messages over 3 replicas: peak in flight per mailbox {:?}", stats.max_in_flight);
}
