//! A throttled call to the Graph-shaped endpoint is answered as Graph answers one: 429 in Graph's error shape with
//! `Retry-After`, which Graph SDKs' retry handlers read. problem+json there would be an error they cannot parse.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::ALLOWED;
use crate::support::server::{TestApp, spawn};

fn graph_body() -> Value {
    json!({
        "message": {
            "subject": "s",
            "body": {"contentType": "Text", "content": "t"},
            "toRecipients": [{"emailAddress": {"address": "someone@example.com"}}]
        }
    })
}

async fn send_mail(app: &TestApp, key: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/v1.0/users/{ALLOWED}/sendMail")))
        .bearer_auth(key)
        .header("x-request-id", "throttled-1")
        .json(&graph_body())
        .send()
        .await
        .expect("send")
}

/// The answer is a Graph 429: JSON (not problem+json), `error.code` as given, mailgate's code inside, and
/// `Retry-After` in whole seconds within the minute.
async fn assert_graph_429(r: reqwest::Response, graph_code: &str, mailgate_code: &str) {
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let content_type = r.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert_eq!(content_type, "application/json");
    let body: Value = r.json().await.expect("json");
    let error = &body["error"];
    assert_eq!(error["code"], graph_code, "{body}");
    assert!(!error["message"].as_str().expect("message").is_empty(), "{body}");
    assert_eq!(error["innerError"]["mailgateCode"], mailgate_code, "{body}");
    assert_eq!(error["innerError"]["request-id"], "throttled-1", "{body}");
    assert!(error["innerError"]["date"].is_string(), "{body}");
    assert!(body.get("code").is_none() && body.get("type").is_none(), "not a problem document: {body}");
}

#[sqlx::test]
async fn over_quota_is_graphs_application_throttled(pool: PgPool) {
    let app = spawn().env("MAILGATE_APP_MESSAGES_PER_MINUTE", "1").start(pool).await;
    assert_eq!(send_mail(&app, &app.demo.key).await.status(), 202);
    assert_graph_429(send_mail(&app, &app.demo.key).await, "ApplicationThrottled", "quota_exceeded").await;
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 1);
}

#[sqlx::test]
async fn a_source_over_its_failure_limit_is_told_in_graphs_words(pool: PgPool) {
    let app = spawn().env("MAILGATE_AUTH_FAILURES_PER_MINUTE", "2").start(pool).await;
    for _ in 0..2 {
        let r = send_mail(&app, "not-a-key").await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "InvalidAuthenticationToken");
    }
    // Even the good key waits out the window, and is told so as Graph would tell it.
    assert_graph_429(send_mail(&app, &app.demo.key).await, "TooManyRequests", "too_many_auth_failures").await;
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
}
