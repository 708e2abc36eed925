//! Delivery against Graph where it is strict: a mailbox it does not have, a token for another audience, a gateway's
//! page instead of Graph's JSON, a throttle without `Retry-After`, and an answer lost after Graph accepted.

use graph_sim::{Fate, Fault, GatewayBody};
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::seed::{ALLOWED, SCOPE_GROUP, message};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::eventually;

/// What the simulator recorded for message `id`, one entry per request that reached it.
fn arrivals(app: &TestApp, id: &str) -> Vec<(Option<u16>, Fate)> {
    let all = app.sim.sim.received();
    all.into_iter().filter(|r| r.client_request_id.as_deref() == Some(id)).map(|r| (r.status, r.fate)).collect()
}

/// `mailgate_unknown_outcomes_total`, from the Prometheus text page.
async fn unknown_outcomes(app: &TestApp) -> f64 {
    app.metric("mailgate_unknown_outcomes_total").await
}

#[sqlx::test]
async fn an_answer_lost_after_graph_accepted_is_unknown_counted_and_never_resent(pool: PgPool) {
    let app = spawn().start(pool).await;
    assert_eq!(unknown_outcomes(&app).await, 0.0);
    app.sim.sim.add_faults(ALLOWED, vec![Fault::LoseAnswer]);
    let lost = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&lost).await;
    assert_eq!(done["status"], "unknown", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "unknown"]);
    assert!(unknown_outcomes(&app).await >= 1.0, "the lost answer is not counted");

    // The next message for the mailbox goes out and is answered: the lost one had its chance to be resent.
    let next = app.send(&message(ALLOWED)).await;
    assert_eq!(app.wait_final(&next).await["status"], "sent");
    assert_eq!(arrivals(&app, &lost), [(Some(202), Fate::Dropped)], "Graph has it once, and only once");
    assert_eq!(arrivals(&app, &next), [(Some(202), Fate::Answered)]);
    assert_eq!(app.sim.sim.stats().accepted, 2);
}

#[sqlx::test]
async fn a_mailbox_graph_does_not_have_is_rejected_at_once(pool: PgPool) {
    // The allowlist grants the name (its directory lists no mailboxes); Graph's tenant has no such mailbox.
    let app = spawn().start(pool).await;
    let ghost = "left-the-company@contoso.test";
    let mut tx = app.pool.begin().await.expect("tx");
    mailgate::db::groups::add_member(&mut tx, SCOPE_GROUP, ghost).await.expect("add to the demo's scope");
    tx.commit().await.expect("commit");
    let body = message(ghost);
    let r = eventually(202, || app.post_message(&body)).await;
    assert_eq!(r.status(), 202, "the allowlist never granted {ghost}");
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "rejected", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "rejected"]);
    assert_eq!(done["last_error"], "ErrorInvalidUser");
    assert_eq!(done["events"][1]["http_status"], 404);
    assert_eq!(arrivals(&app, &id), [(Some(404), Fate::Answered)], "asked once, not retried");
}

#[sqlx::test]
async fn a_token_for_another_resource_fails_every_send_instead_of_passing(pool: PgPool) {
    // The database's scope where Graph's belongs: the managed identity hands out a token, Graph refuses it.
    let app = spawn()
        .env("MAILGATE_GRAPH_SCOPE", "https://ossrdbms-aad.database.windows.net/.default")
        .env("MAILGATE_MAX_ATTEMPTS", "2")
        .start(pool)
        .await;
    let id = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["last_error"], "InvalidAuthenticationToken");
    let answers: Vec<_> = arrivals(&app, &id).into_iter().map(|(status, _)| status).collect();
    assert_eq!(answers, [Some(401), Some(401)]);
    assert_eq!(app.sim.sim.stats().accepted, 0);
    assert!(app.sim.sim.tokens_issued_for("https://ossrdbms-aad.database.windows.net") >= 1);
    assert_eq!(app.sim.sim.tokens_issued_for("https://graph.microsoft.com"), 0);
}

#[sqlx::test]
async fn the_default_scope_asks_for_a_graph_token(pool: PgPool) {
    let app = spawn().start(pool).await;
    let id = app.send(&message(ALLOWED)).await;
    assert_eq!(app.wait_final(&id).await["status"], "sent");
    assert!(app.sim.sim.tokens_issued_for("https://graph.microsoft.com") >= 1);
}

#[sqlx::test]
async fn a_gateways_page_is_read_by_its_status_alone(pool: PgPool) {
    let app = spawn().start(pool).await;
    app.sim.sim.add_faults(
        ALLOWED,
        vec![
            Fault::Gateway { status: 502, body: GatewayBody::Html },
            Fault::Gateway { status: 504, body: GatewayBody::Empty },
            Fault::Gateway { status: 503, body: GatewayBody::Html },
        ],
    );
    // 502 and 504: Graph may have the message behind the gateway.
    for (status, what) in [(502, "text/html"), (504, "no body")] {
        let id = app.send(&message(ALLOWED)).await;
        let done = app.wait_final(&id).await;
        assert_eq!(done["status"], "unknown", "{done}");
        assert_eq!(done["events"][1]["http_status"], status);
        assert!(done["events"][1]["graph_code"].is_null(), "{done}");
        let said = done["last_error"].as_str().unwrap_or_default();
        assert!(said.contains(&status.to_string()) && said.contains("Graph error"), "{status}: {said}");
        assert!(said.contains(what), "{status}: {said}");
        assert_eq!(arrivals(&app, &id).len(), 1, "never resent");
    }
    // 503: refused before processing, so retried.
    let id = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "unavailable", "sent"]);
}

fn at(event: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(event["at"].as_str().expect("at"), &Rfc3339).expect("rfc3339")
}

#[sqlx::test]
async fn a_429_without_retry_after_waits_its_own_backoff(pool: PgPool) {
    let app = spawn().start(pool).await;
    app.sim.sim.add_faults(ALLOWED, vec![Fault::Throttle { retry_after_secs: None }]);
    let id = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "throttled", "sent"]);
    // Correctness, not speed: without Retry-After the first backoff is a second, never an immediate retry.
    let events = done["events"].as_array().expect("events");
    let gap = at(&events[2]) - at(&events[1]);
    assert!(gap >= time::Duration::milliseconds(900), "retried after only {gap}");
    let answers: Vec<_> = arrivals(&app, &id).into_iter().map(|(status, _)| status).collect();
    assert_eq!(answers, [Some(429), Some(202)]);
}
