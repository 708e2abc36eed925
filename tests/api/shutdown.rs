//! SIGTERM: the process stops taking work, finishes the sends in flight, and exits by itself.

use std::time::{Duration, Instant};

use graph_sim::{Fate, Fault, ScriptedFault};
use sqlx::PgPool;

use crate::support::client::post_once;
use crate::support::invariants::assert_delivered_at_most_once;
use crate::support::seed::{ALLOWED, message};
use crate::support::server::spawn;
use crate::support::wait::wait_until;

const MESSAGES: usize = 10;
/// Exchange's (and mailgate's default) cap on sends in flight per mailbox: this many are mid-send at SIGTERM.
const IN_FLIGHT: i64 = 4;
const GRAPH_TIMEOUT_SECS: u64 = 5;

#[sqlx::test]
async fn sigterm_finishes_sends_in_flight_and_leaves_the_rest_queued(pool: PgPool) {
    let mut app = spawn().env("MAILGATE_GRAPH_TIMEOUT_SECS", &GRAPH_TIMEOUT_SECS.to_string()).start(pool).await;
    // Each send takes 1.5 s at Graph.
    app.sim.sim.add_scripted_faults(ALLOWED, vec![ScriptedFault::times(Fault::Delay { ms: 1500 }, 100)]);
    let mut ids = Vec::new();
    for _ in 0..MESSAGES {
        ids.push(app.send(&message(ALLOWED)).await);
    }
    let sending = "SELECT count(*) FROM messages WHERE status = 'sending'";
    wait_until("four messages are sending", Duration::from_secs(10), || async {
        app.count(sending).await == IN_FLIGHT
    })
    .await;
    // The requests reach Graph (they are claimed just before they are sent), which is still working on them.
    let sim = app.sim.sim.clone();
    wait_until("four sends are at Graph", Duration::from_secs(10), || {
        let arrived = sim.received().len() as i64;
        async move { arrived == IN_FLIGHT }
    })
    .await;
    let answered = app.sim.sim.received().into_iter().filter(|r| r.fate != Fate::InProgress).count();
    assert_eq!(answered, 0, "a send finished before SIGTERM; the delay is too short");

    app.process.terminate();
    let signalled = Instant::now();
    wait_until("mailgate logs that SIGTERM started the drain", Duration::from_secs(10), || async {
        app.logs().contains("SIGTERM: refusing new work")
    })
    .await;
    // While it drains, a new request is refused: 503, or no connection at all.
    let fresh = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let during = post_once(&fresh, &app.base, &app.demo.key, &message(ALLOWED)).await;
    assert!(
        during.status.is_none() || during.status == Some(503),
        "a request during the drain was answered {:?} ({:?})",
        during.status,
        during.error
    );

    // The grace is the Graph timeout plus 5 s; the in-flight sends need about 1.5 s of it.
    let grace = Duration::from_secs(GRAPH_TIMEOUT_SECS + 5);
    let exit = app.process.wait_exit(grace + Duration::from_secs(5)).await;
    let exit = exit.unwrap_or_else(|| panic!("mailgate still running {:?} after SIGTERM", signalled.elapsed()));
    assert!(exit.success(), "mailgate exited with {exit} after SIGTERM");
    assert!(app.process.logs().contains("finishing sends in flight"), "{}", app.process.logs());

    // The sends in flight finished and were recorded; nothing else was started or given up on.
    let count = |status: &str| format!("SELECT count(*) FROM messages WHERE status = '{status}'");
    assert_eq!(app.count(&count("sent")).await, IN_FLIGHT);
    assert_eq!(app.count(&count("queued")).await, MESSAGES as i64 - IN_FLIGHT);
    assert_eq!(app.count(&count("sending")).await + app.count(&count("unknown")).await, 0);
    assert_eq!(app.sim.sim.received().len() as i64, IN_FLIGHT);

    // A new process delivers what was left, each message once.
    app.restart();
    app.wait_settled(Duration::from_secs(30)).await;
    let statuses = assert_delivered_at_most_once(&app, &ids, &["sent"]).await;
    assert_eq!(statuses.len(), MESSAGES);
}
