//! Delivery under Graph's faults: throttling, outages, dropped connections, refusals.

use std::time::Duration;

use graph_sim::{Fault, ScriptedFault};
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::graph_sim::received_by_message;
use crate::support::seed::{ALLOWED, message};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::wait_until;

fn at(event: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(event["at"].as_str().expect("at"), &Rfc3339).expect("rfc3339")
}

#[sqlx::test]
async fn a_429_is_retried_after_retry_after_and_then_sent(pool: PgPool) {
    let app = spawn().start(pool).await;
    app.sim.sim.add_faults(ALLOWED, vec![Fault::Throttle { retry_after_secs: Some(2) }]);
    let id = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "throttled", "sent"]);
    let events = done["events"].as_array().expect("events");
    assert_eq!(events[1]["http_status"], 429);
    assert_eq!(events[1]["graph_code"], "ApplicationThrottled");
    assert_eq!((events[1]["attempt"].clone(), events[2]["attempt"].clone()), (1.into(), 2.into()));
    // Correctness, not speed: the retry must not come before Graph's Retry-After.
    let gap = at(&events[2]) - at(&events[1]);
    assert!(gap >= time::Duration::milliseconds(1900), "retried after only {gap}");
    let received = app.sim.sim.received();
    assert_eq!(received.iter().map(|r| r.status).collect::<Vec<_>>(), [Some(429), Some(202)]);
}

#[sqlx::test]
async fn a_503_is_retried_and_attempts_are_bounded(pool: PgPool) {
    let app = spawn().env("MAILGATE_MAX_ATTEMPTS", "3").start(pool).await;
    app.sim.sim.add_faults(ALLOWED, vec![Fault::Unavailable { retry_after_secs: Some(1) }]);
    let id = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent");
    assert_eq!(TestApp::outcomes(&done), ["queued", "unavailable", "sent"]);

    app.sim
        .sim
        .add_scripted_faults(ALLOWED, vec![ScriptedFault::times(Fault::Unavailable { retry_after_secs: Some(1) }, 3)]);
    let id = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "unavailable", "unavailable", "unavailable", "failed"]);
    assert_eq!(done["last_error"], "ServiceNotAvailable");
}

#[sqlx::test]
async fn a_dropped_connection_is_unknown_and_never_resent(pool: PgPool) {
    let app = spawn().start(pool).await;
    app.sim.sim.add_faults(ALLOWED, vec![Fault::Drop]);
    let id = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "unknown", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "unknown"]);
    // A later message for the mailbox is sent: the dropped one had its chance to be resent by then.
    let next = app.send(&message(ALLOWED)).await;
    assert_eq!(app.wait_final(&next).await["status"], "sent");
    let by_message = received_by_message(&app.sim);
    assert_eq!(by_message.get(&id), Some(&vec![None]), "at most once: Graph may have it already");
    assert_eq!(by_message.len(), 2);
}

#[sqlx::test]
async fn a_500_is_ambiguous_and_a_400_is_final(pool: PgPool) {
    let app = spawn().start(pool).await;
    app.sim.sim.add_faults(
        ALLOWED,
        vec![
            Fault::Status { status: 500, code: "InternalServerError".into(), message: "boom".into() },
            Fault::Status { status: 400, code: "ErrorInvalidRecipients".into(), message: "bad".into() },
        ],
    );
    let first = app.wait_final(&app.send(&message(ALLOWED)).await).await;
    assert_eq!(first["status"], "unknown");
    let second = app.wait_final(&app.send(&message(ALLOWED)).await).await;
    assert_eq!(second["status"], "rejected");
    assert_eq!(second["last_error"], "ErrorInvalidRecipients");
    assert_eq!(TestApp::outcomes(&second), ["queued", "rejected"]);
    assert_eq!(app.sim.sim.received().len(), 2);
}

#[sqlx::test]
async fn a_token_endpoint_outage_delays_but_does_not_lose_the_message(pool: PgPool) {
    let app = spawn().start(pool).await;
    app.sim.sim.add_scripted_faults(
        graph_sim::TOKEN_FAULT_KEY,
        vec![ScriptedFault::times(Fault::Unavailable { retry_after_secs: None }, 1)],
    );
    let done = app.wait_final(&app.send(&message(ALLOWED)).await).await;
    assert_eq!(done["status"], "sent", "{done}");
    assert!(app.sim.sim.stats().token_requests >= 2);
}

#[sqlx::test]
async fn a_connection_never_established_is_retried_and_sent_once(pool: PgPool) {
    // Graph's address names a port nothing listens on yet (the token endpoint is up).
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let app = spawn().env("MAILGATE_GRAPH_URL", &format!("http://127.0.0.1:{port}")).start(pool).await;
    let id = app.send(&message(ALLOWED)).await;
    let refused = format!("SELECT count(*) FROM audit_events WHERE message_id = '{id}' AND outcome = 'unavailable'");
    wait_until("the first attempt was refused", Duration::from_secs(30), || async { app.count(&refused).await >= 1 })
        .await;
    let view = app.get_message(&id).await;
    assert_eq!(view["status"], "queued", "a refused connection cannot have sent it: {view}");
    let detail = view["events"][1]["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains("onnect"), "{detail}");

    // Graph comes up on that port: the same simulator, served there too.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the port is still free");
    let graph = tokio::spawn(graph_sim::serve(listener, app.sim.sim.clone(), std::future::pending()));
    let done = app.wait_final(&id).await;
    graph.abort();
    assert_eq!(done["status"], "sent", "{done}");
    let outcomes = TestApp::outcomes(&done);
    assert_eq!(outcomes.last().map(String::as_str), Some("sent"), "{outcomes:?}");
    assert!(outcomes[1..outcomes.len() - 1].iter().all(|o| o == "unavailable"), "{outcomes:?}");
    assert_eq!(received_by_message(&app.sim).get(&id), Some(&vec![Some(202)]), "sent exactly once");
}
