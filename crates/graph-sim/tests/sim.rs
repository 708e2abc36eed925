//! The Graph simulator, exercised over a real loopback socket.

// Each test file uses only some of what `common` holds.
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::*;
use graph_sim::{AccessRight, Fault, GatewayBody, ReceivedRequest, ScriptedFault, Sim, SimConfig, SimPolicy, SimStats};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

const DEFAULT_APP: &str = "00000000-0000-0000-0000-00000000a11e";
const APP_A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const APP_B: &str = "bbbbbbbb-0000-0000-0000-000000000002";

#[tokio::test]
async fn token_requires_identity_header() {
    let h = start().await;
    let c = Client::new();
    let r = c.get(token_url(&h, None)).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.json::<Value>().await.expect("json")["error"].is_object());
    let r = c.get(token_url(&h, None)).header("X-IDENTITY-HEADER", "wrong").send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = c.get(token_url(&h, None)).header("X-IDENTITY-HEADER", SECRET).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    assert!(v["access_token"].as_str().expect("token").starts_with("sim-"));
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["resource"], "https://graph.microsoft.com");
    assert_eq!(v["client_id"], DEFAULT_APP);
    let expires: u64 = v["expires_on"].as_str().expect("string").parse().expect("epoch");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    assert!(expires >= now + 3590 && expires <= now + 3610, "{expires} vs {now}");

    let r = c.get(token_url(&h, Some(APP_A))).header("X-IDENTITY-HEADER", SECRET).send().await.expect("send");
    assert_eq!(r.json::<Value>().await.expect("json")["client_id"], APP_A);

    let r = c
        .get(format!("{}?api-version=2019-08-01", h.identity_endpoint()))
        .header("X-IDENTITY-HEADER", SECRET)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(h.sim.stats().token_requests, 5);
}

#[tokio::test]
async fn token_endpoint_faults() {
    let h = start().await;
    let c = Client::new();
    h.sim.add_faults("@token", vec![Fault::Unavailable { retry_after_secs: Some(1) }]);
    let r = c.get(token_url(&h, None)).header("X-IDENTITY-HEADER", SECRET).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "1");
    token_for(&c, &h, None).await;
}

#[tokio::test]
async fn send_mail_accepted_and_recorded() {
    let h = start().await;
    let c = Client::new();
    let token = token_for(&c, &h, None).await;
    let body = mail("rcpt@example.test");
    let r = c
        .post(send_url(&h, "Sender@Example.test"))
        .bearer_auth(&token)
        .header("client-request-id", "crid-1")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["client-request-id"], "crid-1");
    let request_id = r.headers()["request-id"].to_str().expect("ascii").to_string();
    assert!(r.headers().contains_key("date"));
    assert!(r.bytes().await.expect("body").is_empty());

    let got = h.sim.received();
    assert_eq!(got.len(), 1);
    let rec = &got[0];
    assert_eq!(rec.seq, 1);
    assert_eq!(rec.mailbox, "Sender@Example.test");
    assert_eq!(rec.body, body);
    assert_eq!(rec.status, Some(202));
    assert_eq!(rec.error_code, None);
    assert_eq!(rec.app_id.as_deref(), Some(DEFAULT_APP));
    assert_eq!(rec.authorization, Some(format!("Bearer {token}")));
    assert_eq!(rec.client_request_id.as_deref(), Some("crid-1"));
    assert_eq!(rec.request_id, request_id);
    assert!(rec.body_bytes > 0);
    let stats = h.sim.stats();
    assert_eq!((stats.send_requests, stats.accepted), (1, 1));
    assert_eq!(stats.max_in_flight.get("sender@example.test"), Some(&1));
}

#[tokio::test]
async fn unauthorized_without_valid_token() {
    let h = start().await;
    let c = Client::new();
    let body = mail("rcpt@example.test");
    let r = send(&c, &h, "s@example.test", None, &body).await;
    assert_eq!(graph_error(r, StatusCode::UNAUTHORIZED).await, "InvalidAuthenticationToken");
    let r = send(&c, &h, "s@example.test", Some("bogus"), &body).await;
    assert_eq!(graph_error(r, StatusCode::UNAUTHORIZED).await, "InvalidAuthenticationToken");

    let expired = Sim::spawn(SimConfig { token_ttl: Duration::ZERO, ..SimConfig::default() }).await.expect("spawn");
    let token = token_for(&c, &expired, None).await;
    let r = send(&c, &expired, "s@example.test", Some(&token), &body).await;
    assert_eq!(graph_error(r, StatusCode::UNAUTHORIZED).await, "InvalidAuthenticationToken");

    // A token the simulator issued for another resource (a wrong scope, the database's) is not one for Graph.
    for resource in ["https://ossrdbms-aad.database.windows.net", "https://graph.microsoft.us", "api://mailgate"] {
        let url = format!("{}?api-version=2019-08-01&resource={resource}/.default", h.identity_endpoint());
        let r = c.get(url).header("X-IDENTITY-HEADER", SECRET).send().await.expect("token request");
        let other = r.json::<Value>().await.expect("json")["access_token"].as_str().expect("token").to_owned();
        let r = send(&c, &h, "s@example.test", Some(&other), &body).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{resource}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"]["code"], "InvalidAuthenticationToken", "{resource}");
        assert_eq!(v["error"]["message"], "Access token validation failure. Invalid audience.");
    }
    // Graph's own app id is another name of its audience.
    let url = format!("{}?api-version=2019-08-01&resource=00000003-0000-0000-c000-000000000000", h.identity_endpoint());
    let r = c.get(url).header("X-IDENTITY-HEADER", SECRET).send().await.expect("token request");
    let by_id = r.json::<Value>().await.expect("json")["access_token"].as_str().expect("token").to_owned();
    assert_eq!(send(&c, &h, "s@example.test", Some(&by_id), &body).await.status(), StatusCode::ACCEPTED);

    let got: Vec<_> = h.sim.received().into_iter().filter(|r| r.status != Some(202)).collect();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|r| r.status == Some(401) && r.app_id.is_none()));
    assert_eq!(got[1].authorization.as_deref(), Some("Bearer bogus"));
    assert_eq!(h.sim.stats().accepted, 1);
}

#[tokio::test]
async fn invalid_bodies_are_rejected() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    let s = "s@example.test";
    let cases: Vec<(Value, &str)> = vec![
        (json!({"message": {"subject": "x"}}), "ErrorInvalidRecipients"),
        (mail("not-an-address"), "ErrorInvalidRecipients"),
        (json!({"message": {"toRecipients": [{"emailAddress": {}}]}}), "ErrorInvalidRecipients"),
        (json!({"saveToSentItems": true}), "BadRequest"),
    ];
    for (body, code) in cases {
        let r = send(&c, &h, s, Some(&t), &body).await;
        assert_eq!(graph_error(r, StatusCode::BAD_REQUEST).await, code, "{body}");
    }
    let mut html = mail("r@example.test");
    html["message"]["body"]["contentType"] = json!("html");
    assert_eq!(send(&c, &h, s, Some(&t), &html).await.status(), StatusCode::ACCEPTED);
    html["message"]["body"]["contentType"] = json!("markdown");
    let r = send(&c, &h, s, Some(&t), &html).await;
    graph_error(r, StatusCode::BAD_REQUEST).await;

    let r = c
        .post(send_url(&h, s))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(graph_error(r, StatusCode::BAD_REQUEST).await, "BadRequest");
    let last = h.sim.received().pop().expect("recorded");
    assert_eq!(last.body, Value::Null);
    assert_eq!(last.body_bytes, 9);
}

#[tokio::test]
async fn internet_message_headers_are_checked() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    let with_headers = |headers: Value| {
        let mut m = mail("r@example.test");
        m["message"]["internetMessageHeaders"] = headers;
        m
    };
    let hdr = |n: &str| json!({"name": n, "value": "v"});
    let ok = with_headers(json!([hdr("x-one"), hdr("X-Two")]));
    assert_eq!(send(&c, &h, "s@e.test", Some(&t), &ok).await.status(), StatusCode::ACCEPTED);
    let six: Vec<Value> = (0..6).map(|i| hdr(&format!("x-h{i}"))).collect();
    let reserved = |n: &str| json!([hdr("x-ok"), hdr(n)]);
    for bad in [
        json!([hdr("Reply-By")]),
        json!(six),
        json!([]),
        reserved("X-MS-Exchange-Organization-AuthAs"),
        reserved("x-forefront-antispam-report"),
        reserved("X-Microsoft-Antispam"),
    ] {
        let r = send(&c, &h, "s@e.test", Some(&t), &with_headers(bad.clone())).await;
        let code = graph_error(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "InvalidInternetMessageHeader", "{bad}");
    }
}

#[tokio::test]
async fn oversized_body_is_413() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    let mut big = mail("r@example.test");
    big["message"]["body"]["content"] = json!("a".repeat(4 * 1024 * 1024 + 1));
    let r = send(&c, &h, "s@e.test", Some(&t), &big).await;
    assert_eq!(graph_error(r, StatusCode::PAYLOAD_TOO_LARGE).await, "RequestBodyTooLarge");
    let rec = h.sim.received().pop().expect("recorded");
    assert!(rec.body_bytes > 4 * 1024 * 1024);
    assert_eq!(rec.body, Value::Null);
    // Just under the limit still passes.
    big["message"]["body"]["content"] = json!("a".repeat(3 * 1024 * 1024));
    let r = send(&c, &h, "s@e.test", Some(&t), &big).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

fn policy(app: &str, right: AccessRight, scope: &[&str]) -> SimPolicy {
    SimPolicy { app_id: app.to_string(), access_right: right, scope: scope.iter().map(|s| s.to_string()).collect() }
}

#[tokio::test]
async fn access_policies_decide_like_exchange() {
    let h = start().await;
    let c = Client::new();
    let ta = token_for(&c, &h, Some(APP_A)).await;
    let tb = token_for(&c, &h, Some(APP_B)).await;
    let body = mail("r@example.test");
    h.sim.set_policies(vec![
        policy(APP_A, AccessRight::RestrictAccess, &["allowed@example.test"]),
        policy(APP_B, AccessRight::DenyAccess, &["secret@example.test"]),
    ]);
    let status = |r: Response| r.status();
    assert_eq!(status(send(&c, &h, "Allowed@example.test", Some(&ta), &body).await), StatusCode::ACCEPTED);
    let r = send(&c, &h, "other@example.test", Some(&ta), &body).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "ErrorAccessDenied");
    assert_eq!(v["error"]["message"], "Access to OData is disabled.");
    let r = send(&c, &h, "secret@example.test", Some(&tb), &body).await;
    assert_eq!(graph_error(r, StatusCode::FORBIDDEN).await, "ErrorAccessDenied");
    assert_eq!(status(send(&c, &h, "other@example.test", Some(&tb), &body).await), StatusCode::ACCEPTED);

    // A wildcard DenyAccess applies to every app, and beats APP_A's RestrictAccess.
    h.sim.set_policies(vec![
        policy(APP_A, AccessRight::RestrictAccess, &["allowed@example.test"]),
        policy("*", AccessRight::DenyAccess, &["allowed@example.test"]),
    ]);
    let r = send(&c, &h, "allowed@example.test", Some(&ta), &body).await;
    assert_eq!(graph_error(r, StatusCode::FORBIDDEN).await, "ErrorAccessDenied");
    let r = send(&c, &h, "allowed@example.test", Some(&tb), &body).await;
    assert_eq!(graph_error(r, StatusCode::FORBIDDEN).await, "ErrorAccessDenied");
    assert_eq!(status(send(&c, &h, "other@example.test", Some(&tb), &body).await), StatusCode::ACCEPTED);

    // A wildcard RestrictAccess confines every app.
    h.sim.set_policies(vec![policy("*", AccessRight::RestrictAccess, &["only@example.test"])]);
    assert_eq!(status(send(&c, &h, "only@example.test", Some(&tb), &body).await), StatusCode::ACCEPTED);
    let r = send(&c, &h, "other@example.test", Some(&ta), &body).await;
    assert_eq!(graph_error(r, StatusCode::FORBIDDEN).await, "ErrorAccessDenied");
}

#[tokio::test]
async fn a_mailbox_exists_only_once_it_is_in_the_directory() {
    let h = Sim::spawn(SimConfig::default()).await.expect("spawn sim");
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    let body = mail("r@example.test");
    // A fresh simulator knows no mailbox, as a tenant knows none it was not given.
    let r = send(&c, &h, "known@example.test", Some(&t), &body).await;
    assert_eq!(graph_error(r, StatusCode::NOT_FOUND).await, "ErrorInvalidUser");
    h.sim.set_mailboxes(&["Known@Example.test"]);
    assert_eq!(send(&c, &h, "known@example.test", Some(&t), &body).await.status(), StatusCode::ACCEPTED);
    let r = send(&c, &h, "ghost@example.test", Some(&t), &body).await;
    assert_eq!(graph_error(r, StatusCode::NOT_FOUND).await, "ErrorInvalidUser");
    h.sim.add_mailboxes(&["ghost@example.test"]);
    assert_eq!(send(&c, &h, "GHOST@example.test", Some(&t), &body).await.status(), StatusCode::ACCEPTED);
    assert_eq!(h.sim.mailboxes(), ["ghost@example.test", "known@example.test"]);
}

#[tokio::test]
async fn throttle_unavailable_and_status_faults() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    let body = mail("r@example.test");
    let mb = "busy@example.test";
    h.sim.add_faults(
        "BUSY@example.test",
        vec![
            Fault::Throttle { retry_after_secs: Some(2) },
            Fault::Unavailable { retry_after_secs: None },
            Fault::Unavailable { retry_after_secs: Some(5) },
            Fault::Status { status: 500, code: "InternalServerError".to_string(), message: "boom".to_string() },
        ],
    );
    let r = send(&c, &h, mb, Some(&t), &body).await;
    assert_eq!(r.headers()["retry-after"], "2");
    let r2 = r;
    let v: Value = {
        assert_eq!(r2.status(), StatusCode::TOO_MANY_REQUESTS);
        r2.json().await.expect("json")
    };
    assert_eq!(v["error"]["code"], "ApplicationThrottled");
    assert_eq!(v["error"]["message"], "Application is over its MailboxConcurrency limit.");

    let r = send(&c, &h, mb, Some(&t), &body).await;
    assert!(!r.headers().contains_key("retry-after"));
    assert_eq!(graph_error(r, StatusCode::SERVICE_UNAVAILABLE).await, "ServiceNotAvailable");
    let r = send(&c, &h, mb, Some(&t), &body).await;
    assert_eq!(r.headers()["retry-after"], "5");
    assert_eq!(graph_error(r, StatusCode::SERVICE_UNAVAILABLE).await, "ServiceNotAvailable");
    let r = send(&c, &h, mb, Some(&t), &body).await;
    assert_eq!(graph_error(r, StatusCode::INTERNAL_SERVER_ERROR).await, "InternalServerError");
    assert_eq!(send(&c, &h, mb, Some(&t), &body).await.status(), StatusCode::ACCEPTED);

    // Faults for one mailbox do not touch another; a 401 does not consume a fault.
    h.sim.add_faults(mb, vec![Fault::Throttle { retry_after_secs: Some(1) }]);
    assert_eq!(send(&c, &h, "calm@example.test", Some(&t), &body).await.status(), StatusCode::ACCEPTED);
    assert_eq!(send(&c, &h, mb, None, &body).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(send(&c, &h, mb, Some(&t), &body).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let codes: Vec<Option<String>> = h.sim.received().into_iter().map(|r| r.error_code).collect();
    assert_eq!(codes[0].as_deref(), Some("ApplicationThrottled"));
}

#[tokio::test]
async fn delay_fault_delays() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    h.sim.add_faults("slow@example.test", vec![Fault::Delay { ms: 300 }]);
    let started = Instant::now();
    let r = send(&c, &h, "slow@example.test", Some(&t), &mail("r@example.test")).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    send(&c, &h, "slow@example.test", Some(&t), &mail("r@example.test")).await;
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn drop_fault_closes_the_connection() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    h.sim.add_faults("drop@example.test", vec![Fault::Drop]);
    let result = c.post(send_url(&h, "drop@example.test")).bearer_auth(&t).json(&mail("r@example.test")).send().await;
    let err = result.expect_err("a dropped connection, not a response");
    assert!(!err.is_timeout(), "{err:?}");
    let rec = h.sim.received().pop().expect("recorded");
    assert_eq!(rec.status, None);
    assert_eq!(rec.body, mail("r@example.test"));
    // The next request goes through on a fresh connection.
    let r = send(&c, &h, "drop@example.test", Some(&t), &mail("r@example.test")).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn max_in_flight_counts_concurrency() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    let mb = "Conc@example.test";
    h.sim.add_scripted_faults(mb, vec![ScriptedFault::times(Fault::Delay { ms: 300 }, 6)]);
    let body = mail("r@example.test");
    let requests = (0..6).map(|_| send(&c, &h, mb, Some(&t), &body));
    let responses = futures::future::join_all(requests).await;
    assert!(responses.iter().all(|r| r.status() == StatusCode::ACCEPTED));
    let max = h.sim.stats().max_in_flight["conc@example.test"];
    assert!((2..=6).contains(&max), "max_in_flight {max}");
    assert_eq!(h.sim.stats().accepted, 6);
}

#[tokio::test]
async fn control_api_over_http() {
    let h = start().await;
    let c = Client::new();
    let base = h.base_url();
    let t = token_for(&c, &h, Some(APP_A)).await;
    let body = mail("r@example.test");

    let faults = json!({"mailbox": "a@example.test", "faults": [
        {"kind": "throttle", "retry_after_secs": 2, "times": 2},
        {"kind": "drop"},
    ]});
    let r = c.post(format!("{base}/sim/faults")).json(&faults).send().await.expect("send");
    assert!(r.status().is_success());
    for _ in 0..2 {
        assert_eq!(send(&c, &h, "a@example.test", Some(&t), &body).await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(c.post(send_url(&h, "a@example.test")).bearer_auth(&t).json(&body).send().await.is_err());

    let policies = json!([{"app_id": APP_A, "access_right": "RestrictAccess", "scope": ["a@example.test"]}]);
    let r = c.put(format!("{base}/sim/policies")).json(&policies).send().await.expect("send");
    assert!(r.status().is_success());
    assert_eq!(send(&c, &h, "b@example.test", Some(&t), &body).await.status(), StatusCode::FORBIDDEN);
    let r = c.put(format!("{base}/sim/mailboxes")).json(&json!(["b@example.test"])).send().await.expect("send");
    assert!(r.status().is_success());
    assert_eq!(send(&c, &h, "a@example.test", Some(&t), &body).await.status(), StatusCode::NOT_FOUND);
    let r = c.post(format!("{base}/sim/mailboxes")).json(&json!(["A@example.test"])).send().await.expect("send");
    assert!(r.status().is_success());
    let listed: Vec<String> =
        c.get(format!("{base}/sim/mailboxes")).send().await.expect("send").json().await.expect("json");
    assert_eq!(listed, ["a@example.test", "b@example.test"]);
    assert_eq!(send(&c, &h, "a@example.test", Some(&t), &body).await.status(), StatusCode::ACCEPTED);

    let all: Vec<ReceivedRequest> =
        c.get(format!("{base}/sim/received")).send().await.expect("send").json().await.expect("json");
    assert_eq!(all.len(), 6);
    let seqs: Vec<u64> = all.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    let only_b: Vec<ReceivedRequest> = c
        .get(format!("{base}/sim/received?mailbox=B@example.test"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].error_code.as_deref(), Some("ErrorAccessDenied"));
    assert_eq!(only_b[0].app_id.as_deref(), Some(APP_A));

    let stats: SimStats = c.get(format!("{base}/sim/stats")).send().await.expect("send").json().await.expect("json");
    assert_eq!((stats.token_requests, stats.send_requests, stats.accepted), (1, 6, 1));

    let r = c.post(format!("{base}/sim/reset")).send().await.expect("send");
    assert!(r.status().is_success());
    assert!(h.sim.received().is_empty());
    assert_eq!(h.sim.stats(), SimStats::default());
    // Policies and tokens survive a reset.
    assert_eq!(send(&c, &h, "b@example.test", Some(&t), &body).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(h.sim.received()[0].seq, 1);
}

#[test]
fn scripted_fault_json_shape() {
    let f = ScriptedFault::once(Fault::Throttle { retry_after_secs: Some(2) });
    assert_eq!(serde_json::to_value(&f).expect("json"), json!({"kind": "throttle", "retry_after_secs": 2, "times": 1}));
    let parsed: ScriptedFault = serde_json::from_value(json!({"kind": "throttle"})).expect("parse");
    assert_eq!(parsed.fault, Fault::Throttle { retry_after_secs: None });
    let parsed: ScriptedFault = serde_json::from_value(json!({"kind": "gateway", "status": 504})).expect("parse");
    assert_eq!(parsed.fault, Fault::Gateway { status: 504, body: GatewayBody::Html });
    let parsed: ScriptedFault =
        serde_json::from_value(json!({"kind": "gateway", "status": 502, "body": "empty"})).expect("parse");
    assert_eq!(parsed.fault, Fault::Gateway { status: 502, body: GatewayBody::Empty });
    let parsed: ScriptedFault = serde_json::from_value(json!({"kind": "lose_answer"})).expect("parse");
    assert_eq!(parsed.fault, Fault::LoseAnswer);
    let parsed: ScriptedFault = serde_json::from_value(json!({"kind": "delay", "ms": 5})).expect("parse");
    assert_eq!(parsed, ScriptedFault::times(Fault::Delay { ms: 5 }, 1));
    let parsed: ScriptedFault = serde_json::from_value(json!({"kind": "unavailable", "times": 3})).expect("parse");
    assert_eq!(parsed, ScriptedFault::times(Fault::Unavailable { retry_after_secs: None }, 3));
    let p = policy("*", AccessRight::DenyAccess, &["x@y.test"]);
    assert_eq!(
        serde_json::to_value(&p).expect("json"),
        json!({"app_id": "*", "access_right": "DenyAccess", "scope": ["x@y.test"]})
    );
}

#[tokio::test]
async fn drop_fault_also_fails_when_router_is_served_plainly() {
    let sim = Sim::new(SimConfig::default());
    sim.set_mailboxes(DIRECTORY);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = sim.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let c = Client::new();
    let token: Value = c
        .get(format!("http://{addr}/msi/token?resource=https://graph.microsoft.com"))
        .header("X-IDENTITY-HEADER", SECRET)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    sim.add_faults("d@example.test", vec![Fault::Drop]);
    let result = c
        .post(format!("http://{addr}/v1.0/users/d@example.test/sendMail"))
        .bearer_auth(token["access_token"].as_str().expect("token"))
        .json(&mail("r@example.test"))
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    server.abort();
}

#[tokio::test]
async fn a_light_log_keeps_who_and_when_but_not_the_body() {
    let h = Sim::spawn(SimConfig { light_log: true, ..SimConfig::default() }).await.expect("spawn sim");
    h.sim.set_mailboxes(DIRECTORY);
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    let r = c
        .post(send_url(&h, "s@e.test"))
        .bearer_auth(&t)
        .header("client-request-id", "0190aaaa-0000-7000-8000-000000000001")
        .json(&mail("r@example.test"))
        .send()
        .await
        .expect("sendMail request");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let rec = h.sim.received().pop().expect("recorded");
    assert_eq!(rec.client_request_id.as_deref(), Some("0190aaaa-0000-7000-8000-000000000001"));
    assert_eq!(rec.status, Some(202));
    assert!(rec.received_at.starts_with("20"), "{}", rec.received_at);
    assert!(rec.body_bytes > 0);
    assert_eq!((rec.body, rec.authorization), (Value::Null, None));
    assert_eq!(h.sim.stats().accepted, 1);
}

#[tokio::test]
async fn a_pinned_token_is_what_every_request_for_its_resource_gets_until_unpinned() {
    let h = start().await;
    let c = Client::new();
    let db = "https://ossrdbms-aad.database.windows.net";
    let token = |resource: &'static str| {
        let (c, url) = (c.clone(), format!("{}?api-version=2019-08-01&resource={resource}", h.identity_endpoint()));
        async move {
            let r = c.get(url).header("X-IDENTITY-HEADER", SECRET).send().await.expect("token request");
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.expect("token json");
            v["access_token"].as_str().expect("access_token").to_owned()
        }
    };
    let pin = |token: Option<&str>| {
        let body = json!({ "resource": format!("{db}/.default"), "token": token });
        let (c, url) = (c.clone(), format!("{}/sim/tokens", h.base_url()));
        async move { c.put(url).json(&body).send().await.expect("pin").status() }
    };

    assert_eq!(pin(Some("the-role-password")).await, StatusCode::NO_CONTENT);
    assert_eq!(token(db).await, "the-role-password");
    assert_eq!(token("https://ossrdbms-aad.database.windows.net/").await, "the-role-password");
    assert_ne!(token("https://graph.microsoft.com").await, "the-role-password", "other resources are not pinned");
    assert_eq!(h.sim.tokens_issued_for(db), 2);
    // A pinned token is a real one, for its own resource: Graph refuses it as it refuses the database's token.
    let r = send(&c, &h, "a@contoso.test", Some("the-role-password"), &mail("b@example.com")).await;
    assert_eq!(graph_error(r, StatusCode::UNAUTHORIZED).await, "InvalidAuthenticationToken");

    assert_eq!(pin(None).await, StatusCode::NO_CONTENT);
    let (first, second) = (token(db).await, token(db).await);
    assert!(first != "the-role-password" && first != second, "fresh tokens again: {first} {second}");
}
