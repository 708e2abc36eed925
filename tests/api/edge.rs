//! The HTTP edge against hostile callers: stalled headers, too many requests at once, oversized request ids,
//! repeated failed authentication, and methods a route does not serve.

use std::time::{Duration, Instant};

use graph_sim::{Fault, ScriptedFault};
use mailgate::auth::ApiKey;
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::seed::{ALLOWED, message};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::wait_until;

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

async fn problem(r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], code, "{body}");
    body
}

#[sqlx::test]
async fn a_client_that_stalls_in_its_headers_is_disconnected(pool: PgPool) {
    let app = spawn().env("MAILGATE_HEADER_READ_TIMEOUT_SECS", "1").start(pool).await;
    let mut stream = tokio::net::TcpStream::connect(addr(&app)).await.expect("connect");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: mailgate\r\nX-Half: ").await.expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    // The server closes the connection (EOF or reset); before, it waited for the rest indefinitely.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the stalled connection was still open after 10 s");
    assert!(started.elapsed() < Duration::from_secs(5), "closed only after {:?}", started.elapsed());
    // A connection that finishes its request in time is answered.
    let r = app.http.get(app.url("/healthz")).send().await.expect("get");
    assert_eq!(r.status(), 200);
}

#[sqlx::test]
async fn beyond_the_concurrency_limit_requests_get_503_with_retry_after(pool: PgPool) {
    let app = spawn().env("MAILGATE_MAX_CONCURRENT_REQUESTS", "1").start(pool).await;
    // Graph takes 3 s, and the first caller waits for the outcome: it holds the only slot meanwhile.
    app.sim.sim.add_scripted_faults(ALLOWED, vec![ScriptedFault::times(Fault::Delay { ms: 3000 }, 1)]);
    let holder = {
        let (http, url, key) = (app.http.clone(), app.url("/v1/messages"), app.demo.key.clone());
        tokio::spawn(async move {
            http.post(url).bearer_auth(key).header("Prefer", "wait=20").json(&message(ALLOWED)).send().await
        })
    };
    // The holder's send is at Graph: it is inside its request, holding the slot.
    wait_until("the first request's send reaches Graph", Duration::from_secs(10), || async {
        app.sim.sim.received().len() == 1
    })
    .await;
    let r = app.post_message(&message(ALLOWED)).await;
    assert_eq!(r.headers()["retry-after"], "1");
    let body = problem(r, 503, "overloaded").await;
    assert!(body["detail"].as_str().expect("detail").contains("MAILGATE_MAX_CONCURRENT_REQUESTS"), "{body}");
    // Probes are answered all the same.
    assert_eq!(app.http.get(app.url("/healthz")).send().await.expect("get").status(), 200);
    let held = holder.await.expect("task").expect("answered");
    assert_eq!(held.status(), 200, "the held request finished normally");
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202, "the slot is free again");
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 2, "the shed request stored nothing");
}

#[sqlx::test]
async fn a_huge_request_id_is_neither_echoed_nor_audited(pool: PgPool) {
    let app = spawn().start(pool).await;
    let huge = "a".repeat(100 * 1024);
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .header("X-Request-Id", &huge)
        .json(&message(ALLOWED))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let echoed = r.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "not a fresh id: {} bytes", echoed.len());
    let audited = app.count("SELECT count(*) FROM audit_events WHERE outcome = 'unauthenticated'").await;
    assert_eq!(audited, 1, "the refusal is audited");
    let longest = app.count("SELECT coalesce(max(length(request_id)), 0)::bigint FROM audit_events").await;
    assert_eq!(longest, 36, "the audit row holds the fresh id, not the caller's");
    // A short, plain id is the caller's to keep.
    let r = app.http.get(app.url("/v1/audit")).header("X-Request-Id", "job-42.retry:1").send().await.expect("send");
    assert_eq!(r.headers()["x-request-id"], "job-42.retry:1");
    assert_eq!(app.count("SELECT count(*) FROM audit_events WHERE request_id = 'job-42.retry:1'").await, 1);
}

#[sqlx::test]
async fn failed_authentications_are_audited_only_up_to_a_share_per_source(pool: PgPool) {
    let app = spawn()
        .env("MAILGATE_AUTH_FAILURES_PER_MINUTE", "20")
        .env("MAILGATE_AUTH_FAILURES_AUDITED_PER_MINUTE", "3")
        .start(pool)
        .await;
    for _ in 0..12 {
        let r = app.post_message_as(ApiKey::generate().reveal(), &message(ALLOWED)).await;
        assert_eq!(r.status(), 401);
    }
    assert_eq!(app.count("SELECT count(*) FROM audit_events WHERE outcome = 'unauthenticated'").await, 3);
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("get").text().await.expect("text");
    assert!(metrics.contains("mailgate_auth_failures_unaudited_total 9"), "{metrics}");
    assert!(metrics.contains("mailgate_auth_failures_total{reason=\"unknown_key\"} 12"), "{metrics}");
}

#[sqlx::test]
async fn a_source_over_its_failure_limit_gets_429_before_any_lookup(pool: PgPool) {
    let app = spawn().env("MAILGATE_AUTH_FAILURES_PER_MINUTE", "5").start(pool).await;
    for _ in 0..5 {
        assert_eq!(app.post_message_as("not-a-key", &message(ALLOWED)).await.status(), 401);
    }
    let r = app.post_message_as("not-a-key", &message(ALLOWED)).await;
    let retry: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    problem(r, 429, "too_many_auth_failures").await;
    // Even a good key from this source waits out the window: it is not looked up (its last use stays unset).
    let r = app.post_message(&message(ALLOWED)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(app.count("SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
    // The Graph-shaped endpoint says the same in Graph's words (tests/api/graph_throttled.rs).
    let r = app
        .http
        .post(app.url(&format!("/v1.0/users/{ALLOWED}/sendMail")))
        .bearer_auth(&app.demo.key)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 429);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["innerError"]["mailgateCode"], "too_many_auth_failures", "{body}");
    assert_eq!(app.count("SELECT count(*) FROM audit_events WHERE outcome = 'unauthenticated'").await, 5);
    // Public endpoints stay answerable.
    assert_eq!(app.http.get(app.url("/healthz")).send().await.expect("get").status(), 200);
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("get").text().await.expect("text");
    assert!(metrics.contains("mailgate_auth_throttled_total 3"), "{metrics}");
}

#[sqlx::test]
async fn a_method_a_route_does_not_serve_gets_405_with_allow(pool: PgPool) {
    let app = spawn().start(pool).await;
    let cases = [
        ("PUT", "/v1/messages", "POST"),
        ("DELETE", "/v1/audit", "GET,HEAD"),
        ("POST", "/healthz", "GET,HEAD"),
        ("GET", "/v1.0/users/notifications@contoso.test/sendMail", "POST"),
        ("PUT", "/v1/admin/apps/logic-app", "GET,HEAD,DELETE,PATCH"),
        ("POST", "/v1/admin/keys/00000000-0000-0000-0000-000000000000", "DELETE"),
    ];
    for (method, path, allow) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = app.http.request(method.clone(), app.url(path)).bearer_auth(&app.demo.key).send().await.expect("send");
        let got = r.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let mut got_sorted: Vec<&str> = got.split(',').map(str::trim).collect();
        let mut want: Vec<&str> = allow.split(',').collect();
        got_sorted.sort_unstable();
        want.sort_unstable();
        assert_eq!(got_sorted, want, "{method} {path}: Allow {got}");
        let body = problem(r, 405, "method_not_allowed").await;
        assert!(body["detail"].as_str().expect("detail").contains(&method.to_string()), "{body}");
    }
    // HEAD is answered as GET is.
    let r = app.http.head(app.url("/healthz")).send().await.expect("head");
    assert_eq!(r.status(), 200);
    // Invented methods are neither echoed nor made into metric labels, however many there are.
    for i in 0..3 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).expect("method");
        let r = app.http.request(method, app.url("/v1/messages")).send().await.expect("send");
        let body = problem(r, 405, "method_not_allowed").await;
        assert!(!body["detail"].as_str().expect("detail").contains("INVENTED"), "{body}");
    }
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("get").text().await.expect("text");
    assert!(!metrics.contains("INVENTED"), "{metrics}");
    assert!(metrics.contains("method=\"other\",route=\"/v1/messages\",status=\"405\"} 3"), "{metrics}");
}

#[sqlx::test]
async fn behind_a_load_balancer_sources_are_told_apart_by_the_address_it_reports(pool: PgPool) {
    let app = spawn()
        .env("MAILGATE_AUTH_FAILURES_PER_MINUTE", "2")
        .env("MAILGATE_CLIENT_ADDRESS_HEADER", "X-Forwarded-For")
        .start(pool)
        .await;
    let from = |forwarded: &'static str| {
        app.http
            .post(app.url("/v1/messages"))
            .bearer_auth("not-a-key")
            .header("X-Forwarded-For", forwarded)
            .json(&message(ALLOWED))
            .send()
    };
    // The load balancer appends the address it saw; what comes before is the client's own claim.
    assert_eq!(from("198.51.100.1, 203.0.113.7").await.expect("send").status(), 401);
    assert_eq!(from("203.0.113.7").await.expect("send").status(), 401);
    assert_eq!(from("203.0.113.7").await.expect("send").status(), 429);
    assert_eq!(from("203.0.113.8, 203.0.113.7").await.expect("send").status(), 429, "a claimed address counted");
    // Another client behind the same load balancer is not held up.
    assert_eq!(from("203.0.113.8").await.expect("send").status(), 401);
}

#[sqlx::test]
async fn a_path_the_framework_cannot_read_gets_problem_json(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = crate::support::seed::app_with_roles(&app.pool, "ops", &["Admin"]).await;
    // `%FF` is not UTF-8: the router refuses the path segment before any handler runs.
    let r = app.http.get(app.url("/v1/admin/apps/%FF")).bearer_auth(&admin).send().await.expect("get");
    let body = problem(r, 400, "bad_request").await;
    assert!(!body["detail"].as_str().expect("detail").is_empty(), "{body}");
}
