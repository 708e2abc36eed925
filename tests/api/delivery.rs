//! Delivery under Graph's faults: throttling, outages, dropped connections, refusals.

use mailgate::sim::{Fault, ScriptedFault};
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{ALLOWED, TestApp, message, spawn};

async fn send(app: &TestApp) -> String {
    let r = app.post_message(&message(ALLOWED)).await;
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned()
}

fn at(event: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(event["at"].as_str().expect("at"), &Rfc3339).expect("rfc3339")
}

#[sqlx::test]
async fn a_429_is_retried_after_retry_after_and_then_sent(pool: PgPool) {
    let app = spawn().start(pool).await;
    app.sim.sim.add_faults(ALLOWED, vec![Fault::Throttle { retry_after_secs: 2 }]);
    let id = send(&app).await;
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
    let id = send(&app).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent");
    assert_eq!(TestApp::outcomes(&done), ["queued", "unavailable", "sent"]);

    app.sim
        .sim
        .add_scripted_faults(ALLOWED, vec![ScriptedFault::times(Fault::Unavailable { retry_after_secs: Some(1) }, 3)]);
    let id = send(&app).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "unavailable", "unavailable", "unavailable", "failed"]);
    assert_eq!(done["last_error"], "ServiceNotAvailable");
}

#[sqlx::test]
async fn a_dropped_connection_is_unknown_and_never_resent(pool: PgPool) {
    let app = spawn().start(pool).await;
    app.sim.sim.add_faults(ALLOWED, vec![Fault::Drop]);
    let id = send(&app).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "unknown", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "unknown"]);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.sim.sim.received().len(), 1, "at most once: Graph may have it already");
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
    let first = app.wait_final(&send(&app).await).await;
    assert_eq!(first["status"], "unknown");
    let second = app.wait_final(&send(&app).await).await;
    assert_eq!(second["status"], "rejected");
    assert_eq!(second["last_error"], "ErrorInvalidRecipients");
    assert_eq!(TestApp::outcomes(&second), ["queued", "rejected"]);
    assert_eq!(app.sim.sim.received().len(), 2);
}

#[sqlx::test]
async fn a_token_endpoint_outage_delays_but_does_not_lose_the_message(pool: PgPool) {
    let app = spawn().start(pool).await;
    app.sim.sim.add_scripted_faults(
        mailgate::sim::TOKEN_FAULT_KEY,
        vec![ScriptedFault::times(Fault::Unavailable { retry_after_secs: None }, 1)],
    );
    let done = app.wait_final(&send(&app).await).await;
    assert_eq!(done["status"], "sent", "{done}");
    assert!(app.sim.sim.stats().token_requests >= 2);
}
