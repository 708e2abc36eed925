//! Apps written against Graph point their base URL at mailgate: Graph's body in, Graph's answers out.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{ALLOWED, OUTSIDE, TestApp, spawn};

fn graph_body() -> Value {
    json!({
        "message": {
            "subject": "From an app written for Graph",
            "body": {"contentType": "Text", "content": "Hello"},
            "toRecipients": [{"emailAddress": {"address": "someone@example.com"}}],
            "isDeliveryReceiptRequested": true
        },
        "saveToSentItems": false
    })
}

async fn send_mail(app: &TestApp, key: Option<&str>, mailbox: &str, body: &Value) -> reqwest::Response {
    let mut req = app.http.post(app.url(&format!("/v1.0/users/{mailbox}/sendMail"))).json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.expect("send")
}

#[sqlx::test]
async fn the_same_202_and_graph_receives_the_callers_body(pool: PgPool) {
    let app = spawn().start(pool).await;
    let r = send_mail(&app, Some(&app.demo.key), ALLOWED, &graph_body()).await;
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().expect("location").to_owned();
    assert!(r.text().await.expect("body").is_empty(), "Graph's 202 has no body");
    let id = location.trim_start_matches("/v1/messages/").to_owned();
    assert_eq!(app.wait_final(&id).await["status"], "sent");
    let received = app.sim.sim.received();
    assert_eq!(received.len(), 1);
    // Graph fields mailgate does not model travel through untouched.
    assert_eq!(received[0].body, graph_body());
}

#[sqlx::test]
async fn graph_shaped_refusals(pool: PgPool) {
    let app = spawn().start(pool).await;
    let r = send_mail(&app, Some(&app.demo.key), OUTSIDE, &graph_body()).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ErrorAccessDenied");
    assert_eq!(body["error"]["message"], "Access to OData is disabled.");
    assert!(body["error"]["innerError"]["mailgateDetail"].as_str().expect("why").contains("RestrictAccess"));

    let r = send_mail(&app, None, ALLOWED, &graph_body()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "InvalidAuthenticationToken");

    let mut bad = graph_body();
    bad["message"]["toRecipients"] = json!([{"emailAddress": {"address": "not an address"}}]);
    let r = send_mail(&app, Some(&app.demo.key), ALLOWED, &bad).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "ErrorInvalidRecipients");

    let mut bad = graph_body();
    bad["message"]["internetMessageHeaders"] = json!([{"name": "Reply-To", "value": "x@example.com"}]);
    let r = send_mail(&app, Some(&app.demo.key), ALLOWED, &bad).await;
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "InvalidInternetMessageHeader");

    assert_eq!(app.count("SELECT count(*) FROM messages WHERE status <> 'denied'").await, 0);
    assert!(app.sim.sim.received().is_empty());
}
