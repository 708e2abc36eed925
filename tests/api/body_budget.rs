//! Request bodies are held within one budget per process: past it, a body is refused (503 `overloaded`) before it is
//! read, while smaller ones still fit, and its share comes back once its request is answered.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::AsyncWriteExt;

use crate::support::seed::{ALLOWED, message};
use crate::support::server::spawn;
use crate::support::wait::wait_until;

fn large_message(chars: usize) -> Value {
    let mut m = message(ALLOWED);
    m["text"] = json!("a".repeat(chars));
    m
}

#[sqlx::test]
async fn bodies_past_the_budget_are_refused_until_the_one_holding_it_is_answered(pool: PgPool) {
    let app = spawn()
        .env("MAILGATE_MAX_BODY_BYTES", "100000")
        // Each body is charged three times its length: room for the held one and a small one, not a 60 kB one.
        .env("MAILGATE_MAX_INFLIGHT_BODY_BYTES", "400000")
        .start(pool)
        .await;
    // A caller declares a 100 kB body and sends only its start: its share is held while the rest is awaited.
    let mut slow = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.expect("connect");
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: mailgate\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\n\r\n{{\"from\": ",
        app.demo.key
    );
    slow.write_all(head.as_bytes()).await.expect("write");
    wait_until("the slow body holds its share of the budget", Duration::from_secs(20), || async {
        app.metric("mailgate_http_inflight_body_bytes").await >= 300_000.0
    })
    .await;

    // 60 kB more (charged 180 kB) would pass 400 kB: refused without being held, with a time to come back.
    let r = app.post_message(&large_message(60_000)).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "overloaded", "{body}");
    assert!(body["detail"].as_str().expect("detail").contains("MAILGATE_MAX_INFLIGHT_BODY_BYTES"), "{body}");
    // The Graph-shaped endpoint refuses in Graph's words.
    let graph_body = json!({"message": {
        "subject": "big", "body": {"contentType": "Text", "content": "b".repeat(60_000)},
        "toRecipients": [{"emailAddress": {"address": "someone@example.com"}}],
    }});
    let r = app
        .http
        .post(app.url(&format!("/v1.0/users/{ALLOWED}/sendMail")))
        .bearer_auth(&app.demo.key)
        .json(&graph_body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ServiceNotAvailable", "{body}");
    assert_eq!(body["error"]["innerError"]["mailgateCode"], "overloaded", "{body}");
    // A small body still fits beside the held one.
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);

    // The slow caller gives up: its share comes back, and the large body is read and accepted.
    drop(slow);
    wait_until("the departed body's share is given back", Duration::from_secs(20), || async {
        app.metric("mailgate_http_inflight_body_bytes").await == 0.0
    })
    .await;
    assert_eq!(app.post_message(&large_message(60_000)).await.status(), 202);
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 2, "the refused bodies stored nothing");
    let page = app.http.get(app.url("/metrics")).send().await.expect("get").text().await.expect("text");
    assert!(page.contains("mailgate_http_shed_total{reason=\"body_budget\"} 2"), "{page}");
}

#[sqlx::test]
async fn without_large_messages_the_body_limit_is_what_graph_takes(pool: PgPool) {
    let app = spawn().start(pool).await;
    // Over 5 MiB: refused by its declared length, never read, whatever it holds.
    let (status, body) = app.client().post_declared("/v1/messages", 5 * 1024 * 1024 + 1).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "body_too_large", "{body}");
    // Just under Graph's 4 MB request: read, and accepted.
    assert_eq!(app.post_message(&large_message(3_900_000)).await.status(), 202);
}
