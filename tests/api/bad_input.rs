//! Every kind of bad input gets a precise problem+json, and nothing is stored or sent.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::ALLOWED;
use crate::support::server::{TestApp, spawn};

fn valid() -> Value {
    json!({"from": ALLOWED, "to": ["someone@example.com"], "subject": "s", "text": "t"})
}

fn with(key: &str, value: Value) -> Value {
    let mut v = valid();
    v[key] = value;
    v
}

fn without(key: &str) -> Value {
    let mut v = valid();
    v.as_object_mut().expect("object").remove(key);
    v
}

async fn check(app: &TestApp, body: Value, status: u16, code: &str, field: Option<&str>) {
    let r = app.post_message(&body).await;
    let got = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned());
    let problem: Value = r.json().await.expect("problem json");
    assert_eq!(got, status, "body {body}: {problem}");
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["status"], status);
    assert_eq!(problem["field"].as_str(), field, "{problem}");
}

#[sqlx::test]
async fn each_bad_field_is_named_and_nothing_is_stored_or_sent(pool: PgPool) {
    let app = spawn().start(pool).await;
    let cases: Vec<(Value, &str)> = vec![
        (without("from"), "from"),
        (with("from", json!("not an address")), "from"),
        (with("from", json!(42)), "from"),
        (with("to", json!([])), "to"),
        (with("to", json!((0..501).map(|i| format!("r{i}@example.com")).collect::<Vec<_>>())), "to"),
        (with("to", json!(["someone@example.com", "nobody"])), "to[1]"),
        (with("cc", json!([{"address": "x@", "name": "X"}])), "cc[0].address"),
        (with("bcc", json!(["a@exa mple.com"])), "bcc[0]"),
        (with("reply_to", json!(["@example.com"])), "reply_to[0]"),
        (with("subject", json!("Hello\r\nBcc: victim@example.com")), "subject"),
        (with("to", json!([{"address": "a@example.com", "name": "A\nB"}])), "to[0].name"),
        (with("headers", json!({"x-ok": "fine\r\nInjected: yes"})), "headers.x-ok"),
        (with("headers", json!({"Reply-To": "x@example.com"})), "headers.Reply-To"),
        // Once a panic on byte slicing that dropped the connection without an answer.
        (with("headers", json!({"€€": "v"})), "headers.€€"),
        (with("headers", json!({"x-€": "v"})), "headers.x-€"),
        // Headers Exchange sets and trusts itself: a caller setting one could vouch for its own message.
        (with("headers", json!({"X-MS-Exchange-Organization-SCL": "-1"})), "headers.X-MS-Exchange-Organization-SCL"),
        (with("headers", json!({"x-forefront-antispam-report": "SFV:NSPM"})), "headers.x-forefront-antispam-report"),
        (with("headers", json!({"X-Microsoft-Antispam": "BCL:0"})), "headers.X-Microsoft-Antispam"),
        (with("subject", json!("é".repeat(256))), "subject"),
        (with("to", json!([{"address": "a@example.com", "name": "n".repeat(257)}])), "to[0].name"),
        (with("headers", json!({"x-1": "a", "x-2": "a", "x-3": "a", "x-4": "a", "x-5": "a", "x-6": "a"})), "headers"),
        (without("text"), "text"),
        (
            with(
                "attachments",
                json!([{"name": "a.bin", "content_type": "application/octet-stream", "content_base64": "not base64!"}]),
            ),
            "attachments[0].content_base64",
        ),
        (with("importance", json!("urgent")), "importance"),
        (with("tox", json!(["typo@example.com"])), "tox"),
        (
            with(
                "attachments",
                json!([{"name": "a", "content_type": "text/plain", "content_base64": "YQ==", "nmae": "x"}]),
            ),
            "attachments[0].nmae",
        ),
    ];
    for (body, field) in cases {
        check(&app, body, 422, "invalid_field", Some(field)).await;
    }

    // Malformed JSON: 400.
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("content-type", "application/json")
        .body("{\"from\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "malformed_json");
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("content-type", "application/json")
        .body("{} trailing")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);

    // Wrong content type: 415.
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("content-type", "text/plain")
        .body(valid().to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 415);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "unsupported_media_type");

    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_events").await, 0);
    assert!(app.sim.sim.received().is_empty());
}

#[sqlx::test]
async fn a_body_over_the_configured_limit_is_413(pool: PgPool) {
    let app = spawn().env("MAILGATE_MAX_BODY_BYTES", "4096").start(pool).await;
    let big = with("text", json!("x".repeat(5000)));
    let r = app.post_message(&big).await;
    assert_eq!(r.status(), 413);
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["code"], "body_too_large");
    // Just under the limit passes.
    assert_eq!(app.post_message(&with("text", json!("x".repeat(3000)))).await.status(), 202);
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 1);
}
