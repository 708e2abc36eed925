//! Idempotent sends (also across replicas), per-app quotas, and bodies purged after delivery.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, OUTSIDE, message};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::poll;

async fn post_with_key(app: &TestApp, base: &str, key: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(format!("{base}/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("send")
}

#[sqlx::test]
async fn a_retried_send_with_the_same_key_gets_the_original_answer(pool: PgPool) {
    let app = spawn().start(pool).await;
    let body = message(ALLOWED);
    let first = post_with_key(&app, &app.base, "nightly-2026-11-26", &body).await;
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first: Value = first.json().await.expect("json");
    let again = post_with_key(&app, &app.base, "nightly-2026-11-26", &body).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    assert_eq!(again.headers()["location"], format!("/v1/messages/{}", first["id"].as_str().expect("id")));
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 1);

    // The same key with another body is refused, and changes nothing.
    let mut other = body.clone();
    other["subject"] = json!("Different");
    let r = post_with_key(&app, &app.base, "nightly-2026-11-26", &other).await;
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.expect("json");
    assert_eq!(
        (problem["code"].as_str(), problem["field"].as_str()),
        (Some("idempotency_key_reused"), Some("Idempotency-Key"))
    );
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 1);

    // A denial is replayed as the same 403.
    let denied = post_with_key(&app, &app.base, "to-the-ceo", &message(OUTSIDE)).await;
    assert_eq!(denied.status(), 403);
    let denied: Value = denied.json().await.expect("json");
    let replayed = post_with_key(&app, &app.base, "to-the-ceo", &message(OUTSIDE)).await;
    assert_eq!(replayed.status(), 403);
    assert_eq!(replayed.headers()["content-type"], "application/problem+json");
    assert_eq!(replayed.json::<Value>().await.expect("json")["message_id"], denied["message_id"]);

    let r = post_with_key(&app, &app.base, "", &body).await;
    assert_eq!(r.status(), 422, "an empty key is refused");
    app.wait_final(first["id"].as_str().expect("id")).await;
    assert_eq!(app.sim.sim.received().len(), 1, "sent once");
}

#[sqlx::test]
async fn concurrent_duplicates_on_two_replicas_create_one_message(pool: PgPool) {
    let app = spawn().start(pool).await;
    let other = app.replica();
    let body = message(ALLOWED);
    let bases = [app.base.clone(), other.base.clone()];
    let sends = (0..12).map(|i| post_with_key(&app, &bases[i % 2], "once-only", &body));
    let answers = futures::future::join_all(sends).await;
    let mut ids = Vec::new();
    for r in answers {
        assert_eq!(r.status(), 202);
        ids.push(r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every duplicate got the same id");
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 1);
    assert_eq!(app.wait_final(&ids[0]).await["status"], "sent");
    assert_eq!(app.sim.sim.received().len(), 1);
}

#[sqlx::test]
async fn quotas_answer_429_with_retry_after_and_store_nothing(pool: PgPool) {
    let app = spawn().env("MAILGATE_APP_MESSAGES_PER_MINUTE", "2").start(pool).await;
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
    let r = app.post_message(&message(ALLOWED)).await;
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "quota_exceeded");
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 2);

    // An app's own quota overrides the service-wide one: three recipients a day.
    sqlx::query("UPDATE apps SET messages_per_minute = 100, recipients_per_day = 3 WHERE name = 'logic-app'")
        .execute(&app.pool)
        .await
        .expect("update");
    // Replicas learn of the change from its notice, within a second; until then the minute's quota still refuses.
    poll("the app's own quota applies", std::time::Duration::from_secs(10), || async {
        let r = app.post_message(&message(ALLOWED)).await;
        if r.status() != 429 {
            assert_eq!(r.status(), 202, "2 + 1 recipients fit in 3");
            return Some(());
        }
        let detail = r.json::<Value>().await.expect("json")["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains("2 messages a minute"), "refused for another reason: {detail}");
        None
    })
    .await;
    let r = app.post_message(&message(ALLOWED)).await;
    assert_eq!(r.status(), 429, "a fourth recipient does not");
    assert!(r.json::<Value>().await.expect("json")["detail"].as_str().expect("detail").contains("3 recipients a day"));
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 3);
}

#[sqlx::test]
async fn bodies_are_purged_after_delivery_unless_kept(pool: PgPool) {
    let app = spawn().start(pool).await;
    let id = app.post_message(&message(ALLOWED)).await.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(app.wait_final(&id).await["status"], "sent");
    let kept = app.count(&format!("SELECT count(*) FROM messages WHERE id = '{id}' AND payload IS NOT NULL")).await;
    assert_eq!(kept, 0, "the body is gone once delivered");
    assert_eq!(
        app.count(&format!("SELECT count(*) FROM audit_events WHERE message_id = '{id}'")).await,
        2,
        "metadata and audit stay"
    );
}
