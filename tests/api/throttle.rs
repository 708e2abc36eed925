//! A Graph 429 pauses its mailbox for every worker of every replica until Retry-After has passed.

use std::time::Duration;

use graph_sim::Fault;
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::graph_sim::received_by_message;
use crate::support::load::{all_acknowledged, post_concurrently};
use crate::support::seed::{ALLOWED, message};
use crate::support::server::spawn;
use crate::support::wait::wait_until;

const MORE: usize = 6;

#[sqlx::test]
async fn a_429_pauses_the_mailbox_for_every_replica(pool: PgPool) {
    let app = spawn().start(pool).await;
    let other = app.replica();
    app.sim.sim.add_faults(ALLOWED, vec![Fault::Throttle { retry_after_secs: Some(2) }]);

    let r = app.post_message(&message(ALLOWED)).await;
    assert_eq!(r.status(), 202);
    let first = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let paused = format!(
        "SELECT count(*) FROM mailbox_state WHERE mailbox = '{ALLOWED}' AND paused_until > now() + interval '1 second'"
    );
    wait_until("the 429 has paused the mailbox", Duration::from_secs(10), || async { app.count(&paused).await == 1 })
        .await;

    // More mail for the paused mailbox, through both replicas: every idle worker is woken, none may send yet.
    let bases = [app.base.clone(), other.base.clone()];
    let posted = post_concurrently(&app.http, &bases, &app.demo.key, MORE, MORE, |_| message(ALLOWED)).await;
    let mut ids = all_acknowledged(&posted);
    ids.push(first.clone());
    app.wait_settled(Duration::from_secs(30)).await;

    let at = |s: &str| OffsetDateTime::parse(s, &Rfc3339).expect("rfc3339");
    let received = app.sim.sim.received();
    let throttled: Vec<_> = received.iter().filter(|r| r.status == Some(429)).collect();
    assert_eq!(throttled.len(), 1, "{received:?}");
    assert_eq!(throttled[0].client_request_id.as_deref(), Some(first.as_str()));
    let resume = at(&throttled[0].received_at) + time::Duration::seconds(2);
    // The pause starts when mailgate records the 429, a little after Graph received the request.
    let tolerance = time::Duration::milliseconds(100);
    for r in received.iter().filter(|r| r.status != Some(429)) {
        let gap = at(&r.received_at) - at(&throttled[0].received_at);
        assert!(at(&r.received_at) >= resume - tolerance, "a request for {} came {gap} after the 429", r.mailbox);
    }

    let by_message = received_by_message(&app.sim);
    for id in &ids {
        let view = app.get_message(id).await;
        assert_eq!(view["status"], "sent", "{view}");
        let want = if *id == first { vec![Some(429), Some(202)] } else { vec![Some(202)] };
        assert_eq!(by_message.get(id), Some(&want), "message {id}");
    }
    assert_eq!(by_message.len(), MORE + 1);
}

#[sqlx::test]
async fn a_paused_mailbox_with_a_large_backlog_does_not_hold_up_the_others(pool: PgPool) {
    let key = crate::support::seed::other_app(&pool, "bulk").await;
    let app = spawn().env("MAILGATE_APP_MESSAGES_PER_MINUTE", "0").start(pool).await;
    let busy = "bulk-busy@contoso.test";
    app.sim.sim.add_faults(busy, vec![Fault::Throttle { retry_after_secs: Some(60) }]);
    let mut first = message(busy);
    let r = app.post_message_as(&key, &first).await;
    assert_eq!(r.status(), 202);
    let paused = format!("SELECT count(*) FROM mailbox_state WHERE mailbox = '{busy}' AND paused_until > now()");
    wait_until("the 429 has paused the mailbox", Duration::from_secs(10), || async { app.count(&paused).await == 1 })
        .await;
    // A backlog larger than one claim looks at, all due, all for the paused mailbox.
    first["subject"] = serde_json::json!("backlog");
    sqlx::query(
        "INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload)
         SELECT gen_random_uuid(), a.id, $1, 'backlog', 1, 'queued', m.payload
           FROM apps a, generate_series(1, 2500), (SELECT payload FROM messages WHERE payload IS NOT NULL LIMIT 1) m
          WHERE a.name = 'bulk'",
    )
    .bind(busy)
    .execute(&app.pool)
    .await
    .expect("backlog");

    // Another mailbox's message is claimed and sent at once, not after the pause.
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&key)
        .header("Prefer", "wait=20")
        .json(&message("bulk-quiet@contoso.test"))
        .send()
        .await
        .expect("send");
    let view: Value = r.json().await.expect("json");
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM messages WHERE mailbox = '{busy}' AND status = 'sent'")).await,
        0
    );
}
