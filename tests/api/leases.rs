//! Time limits on a message end to end: its time to live is enforced before it is sent, never after, and a send
//! that outlasts the lease keeps it.

use base64::Engine;
use graph_sim::{Fault, ScriptedFault, TOKEN_FAULT_KEY};
use mailgate::delivery::attempt::TTL_BEFORE_SEND;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, message};
use crate::support::server::{TestApp, spawn};

fn failed_unsent(app: &TestApp, done: &Value) {
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["last_error"], "ttl_expired", "{done}");
    assert_eq!(TestApp::outcomes(done), ["queued", "failed"]);
    assert_eq!(done["events"][1]["detail"], TTL_BEFORE_SEND);
    assert!(app.sim.sim.received().is_empty(), "Graph got a message past its time to live");
}

#[sqlx::test]
async fn a_message_whose_time_to_live_passes_while_queued_fails_and_is_never_sent(pool: PgPool) {
    let app = spawn().env("MAILGATE_MESSAGE_TTL_SECS", "2").start(pool).await;
    // The mailbox is paused for longer than the time to live, as after a long Retry-After.
    sqlx::query("INSERT INTO mailbox_state (mailbox, paused_until) VALUES ($1, clock_timestamp() + interval '1 hour')")
        .bind(ALLOWED)
        .execute(&app.pool)
        .await
        .expect("pause");
    let id = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&id).await;
    failed_unsent(&app, &done);
    // Lifting the pause changes nothing: the message is over.
    sqlx::query("UPDATE mailbox_state SET paused_until = NULL").execute(&app.pool).await.expect("unpause");
    // A later message from the same mailbox reaching Graph shows the workers have run past the expired one.
    let later = app.send(&message(ALLOWED)).await;
    assert_eq!(app.wait_final(&later).await["status"], "sent");
    let received: Vec<_> = app.sim.sim.received().into_iter().map(|r| r.client_request_id).collect();
    assert_eq!(received, [Some(later)], "only the later message reached Graph");
    assert_eq!(app.get_message(&id).await["status"], "failed");
}

#[sqlx::test]
async fn a_time_to_live_that_passes_while_the_token_is_fetched_stops_the_send(pool: PgPool) {
    let app = spawn().env("MAILGATE_MESSAGE_TTL_SECS", "2").start(pool).await;
    // The first token takes longer than the message may live; the claim came well within it.
    app.sim.sim.add_scripted_faults(TOKEN_FAULT_KEY, vec![ScriptedFault::once(Fault::Delay { ms: 3500 })]);
    let id = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&id).await;
    failed_unsent(&app, &done);
    let claims = app.count(&format!("SELECT attempts::bigint FROM messages WHERE id = '{id}'")).await;
    assert_eq!(claims, 1, "it was claimed once, in time: {done}");
}

#[sqlx::test]
async fn a_large_message_slower_than_its_lease_keeps_the_lease_and_is_sent_once(pool: PgPool) {
    let app = spawn()
        .env("MAILGATE_LARGE_MESSAGES", "true")
        .env("MAILGATE_GRAPH_TIMEOUT_SECS", "5")
        .env("MAILGATE_LEASE_SECS", "6")
        .start(pool)
        .await;
    // Six requests (draft, upload session, three chunks, send), each two seconds slow: twice the lease, and each
    // well within the Graph timeout even on a busy machine.
    app.sim.sim.add_scripted_faults(ALLOWED, vec![ScriptedFault::times(Fault::Delay { ms: 2000 }, 6)]);
    let bytes: Vec<u8> = (0..9 * 1024 * 1024).map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut body = message(ALLOWED);
    body["attachments"] = json!([{"name": "scan.pdf", "content_type": "application/pdf",
                                  "content_base64": base64::engine::general_purpose::STANDARD.encode(&bytes)}]);
    let id = app.send(&body).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "sent"]);
    let steps = app.sim.sim.draft_steps();
    assert_eq!(steps.len(), 6, "{steps:?}");
    assert_eq!(app.sim.sim.received().len(), 1);
}
