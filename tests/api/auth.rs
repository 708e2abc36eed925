//! Callers without a valid API key get 401 with a Bearer challenge, and nothing is stored.

use mailgate::auth::ApiKey;
use mailgate::db;
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::support::seed::{ALLOWED, message};
use crate::support::server::spawn;

async fn assert_401(r: reqwest::Response, needle: &str) {
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
    assert!(challenge.starts_with("Bearer realm=\"mailgate\", error=\"invalid_token\""), "{challenge}");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["code"], "unauthorized");
    assert!(problem["detail"].as_str().expect("detail").contains(needle), "{problem}");
}

#[sqlx::test]
async fn missing_malformed_unknown_revoked_and_expired_keys_are_refused(pool: PgPool) {
    let app = spawn().start(pool).await;
    let url = app.url("/v1/messages");
    let body = message(ALLOWED);

    assert_401(app.http.post(&url).json(&body).send().await.expect("send"), "no Authorization header").await;
    let basic =
        app.http.post(&url).header("Authorization", "Basic dXNlcjpwdw==").json(&body).send().await.expect("send");
    assert_401(basic, "scheme must be Bearer").await;
    assert_401(app.post_message_as("not-a-key", &body).await, "not a mailgate API key").await;
    let unknown = ApiKey::generate();
    assert_401(app.post_message_as(unknown.reveal(), &body).await, "unknown, revoked or expired").await;

    // The right prefix with a wrong secret is still unknown.
    let real = &app.demo.key;
    let forged = format!("{}{}", &real[..real.len() - 4], if real.ends_with("AAAA") { "BBBB" } else { "AAAA" });
    assert_401(app.post_message_as(&forged, &body).await, "unknown, revoked or expired").await;

    // Revoked behind the service's back (as the CLI does): refused once the change notice arrives, within a second.
    assert_eq!(app.post_message(&body).await.status(), 202);
    assert_eq!(db::keys::revoke(&app.pool, real).await.expect("revoke"), 1);
    // Polled with a read, so that the polls store nothing.
    let read = || app.http.get(app.url("/v1/messages/00000000-0000-0000-0000-000000000000")).bearer_auth(real).send();
    let refused = crate::support::wait::eventually(401, || async { read().await.expect("get") }).await;
    assert_401(refused, "unknown, revoked or expired").await;
    assert_401(app.post_message(&body).await, "unknown, revoked or expired").await;

    // Expired.
    let expired = ApiKey::generate();
    let past = OffsetDateTime::now_utc() - time::Duration::minutes(1);
    db::keys::insert(&app.pool, app.demo.app_id, expired.prefix(), &expired.digest(), Some(past), None)
        .await
        .expect("insert");
    assert_401(app.post_message_as(expired.reveal(), &body).await, "unknown, revoked or expired").await;

    assert_eq!(app.count("SELECT count(*) FROM messages").await, 1, "only the one authenticated send was stored");
    let r = app.http.get(app.url("/v1/messages/00000000-0000-0000-0000-000000000000")).send().await.expect("get");
    assert_eq!(r.status(), 401);
}

#[sqlx::test]
async fn a_key_is_never_written_to_the_log_or_the_database(pool: PgPool) {
    // Even at the most verbose log level.
    let app = spawn().env("RUST_LOG", "trace").start(pool).await;
    let key = app.demo.key.clone();
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
    let stored: i64 = app
        .count(&format!(
            "SELECT count(*) FROM (SELECT to_jsonb(k)::text AS t FROM api_keys k UNION ALL SELECT to_jsonb(e)::text FROM audit_events e
               UNION ALL SELECT to_jsonb(m)::text FROM messages m) x WHERE t LIKE '%{}%'",
            &key[16..]
        ))
        .await;
    assert_eq!(stored, 0);
    let secret_part = key[16..].to_owned();
    drop(app.http.get(app.url("/healthz")).send().await);
    let logs = app_logs(&app);
    assert!(!logs.contains(&secret_part), "the key's secret appeared in the log");
    assert!(logs.contains("queued"), "the log was captured: {logs}");
}

fn app_logs(app: &crate::support::server::TestApp) -> String {
    app.logs()
}
