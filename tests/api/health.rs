//! Liveness, readiness, and answers for unknown paths.

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::spawn;

#[sqlx::test]
async fn healthz_and_readyz_report_the_database_and_the_graph_token(pool: PgPool) {
    let app = spawn().start(pool).await;
    let r = app.http.get(app.url("/healthz")).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    let r = app.http.get(app.url("/readyz")).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!((body["database"].as_str(), body["graph_token"].as_str()), (Some("ok"), Some("ok")));
    let r = app.http.get(app.url("/nope")).send().await.expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[sqlx::test]
async fn readyz_fails_when_no_graph_token_can_be_had(pool: PgPool) {
    // The wrong identity header: the token endpoint refuses mailgate.
    let app = spawn().env("IDENTITY_HEADER", "wrong-secret").start(pool).await;
    let r = app.http.get(app.url("/readyz")).send().await.expect("get");
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["database"], "ok");
    assert!(body["graph_token"].as_str().expect("text").starts_with("error"), "{body}");
    assert!(!body.to_string().contains("wrong-secret"));
}
