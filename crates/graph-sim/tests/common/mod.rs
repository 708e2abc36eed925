//! What the simulator's tests share: a simulator with a small tenant, a token, a sendMail, and Graph's error shape.

use graph_sim::{Sim, SimConfig, SimHandle};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

pub const SECRET: &str = "sim-identity-secret";

/// The mailboxes these tests send as; every other name is unknown to the simulator.
pub const DIRECTORY: &[&str] = &[
    "sender@example.test",
    "s@example.test",
    "s@e.test",
    "allowed@example.test",
    "other@example.test",
    "secret@example.test",
    "only@example.test",
    "busy@example.test",
    "calm@example.test",
    "slow@example.test",
    "drop@example.test",
    "lost@example.test",
    "gw@example.test",
    "conc@example.test",
    "a@example.test",
    "b@example.test",
    "d@example.test",
    "a@contoso.test",
];

pub async fn start() -> SimHandle {
    let h = Sim::spawn(SimConfig::default()).await.expect("spawn sim");
    h.sim.set_mailboxes(DIRECTORY);
    h
}

pub fn token_url(h: &SimHandle, client_id: Option<&str>) -> String {
    let mut url = format!("{}?api-version=2019-08-01&resource=https://graph.microsoft.com", h.identity_endpoint());
    if let Some(id) = client_id {
        url.push_str(&format!("&client_id={id}"));
    }
    url
}

pub async fn token_for(c: &Client, h: &SimHandle, client_id: Option<&str>) -> String {
    let r = c.get(token_url(h, client_id)).header("X-IDENTITY-HEADER", SECRET).send().await.expect("token request");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("token json");
    v["access_token"].as_str().expect("access_token").to_string()
}

pub fn mail(to: &str) -> Value {
    json!({
        "message": {
            "subject": "Hello",
            "body": {"contentType": "text", "content": "Hi there"},
            "toRecipients": [{"emailAddress": {"address": to, "name": "Someone"}}]
        },
        "saveToSentItems": false
    })
}

pub fn send_url(h: &SimHandle, mailbox: &str) -> String {
    format!("{}/v1.0/users/{mailbox}/sendMail", h.base_url())
}

pub async fn send(c: &Client, h: &SimHandle, mailbox: &str, token: Option<&str>, body: &Value) -> Response {
    let mut req = c.post(send_url(h, mailbox)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("sendMail request")
}

/// Assert a Graph-shaped error and return its code.
pub async fn graph_error(r: Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status);
    let request_id = r.headers()["request-id"].to_str().expect("ascii").to_string();
    assert!(r.headers().contains_key("date"));
    assert!(r.headers()["content-type"].to_str().expect("ascii").starts_with("application/json"));
    let v: Value = r.json().await.expect("error json");
    let err = &v["error"];
    assert!(err["message"].is_string(), "{v}");
    assert_eq!(err["innerError"]["request-id"], json!(request_id));
    assert!(err["innerError"]["date"].is_string());
    assert!(err["innerError"]["client-request-id"].is_string());
    err["code"].as_str().expect("code").to_string()
}
