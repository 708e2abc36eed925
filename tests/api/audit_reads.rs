//! Audit readers cannot starve the senders: they read through a small pool of their own, each statement under a
//! timeout, and statistics count over a bounded range.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use crate::support::audit::past_partitions;
use crate::support::logins::SERVICE_LOGIN;
use crate::support::seed::{ALLOWED, app_with_roles, message};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::wait_until;

/// Sessions of the service login in this test's database waiting on a lock.
async fn waiting_on_locks(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        // Only sessions waiting for the locked change trail: a worker may wait a moment on a row lock of its own.
        "SELECT count(DISTINCT a.pid) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
          WHERE a.datname = current_database() AND a.usename = $1 AND l.relation = 'change_events'::regclass",
    )
    .bind(SERVICE_LOGIN)
    .fetch_one(&app.pool)
    .await
    .expect("pg_stat_activity")
}

#[sqlx::test]
async fn readers_stuck_in_the_database_leave_the_senders_their_connections(pool: PgPool) {
    // The senders' pool has 6 connections in these tests; the audit reads get 4 of their own.
    let app = spawn().env("MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS", "120").start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    // The change trail is locked: every read of it waits, holding its connection, as a slow query would.
    let mut lock = app.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE change_events IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.expect("lock");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(180)).build().expect("client");
    let readers: Vec<_> = (0..10)
        .map(|_| {
            let (http, url, key) = (http.clone(), app.url("/v1/audit/changes"), auditor.clone());
            tokio::spawn(async move { http.get(url).bearer_auth(key).send().await })
        })
        .collect();
    wait_until("the readers wait on the lock", Duration::from_secs(30), || async { waiting_on_locks(&app).await >= 4 })
        .await;
    // Sends are answered from their own pool. Before, the readers held every connection and sends got 503.
    for _ in 0..3 {
        let r = app.post_message(&message(ALLOWED)).await;
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    }
    let waiting = waiting_on_locks(&app).await;
    assert!(waiting <= 4, "{waiting} sessions read at once, more than the audit pool's 4 connections");
    lock.rollback().await.expect("unlock");
    let mut answered = 0;
    for r in readers {
        let r = r.await.expect("task").expect("answered");
        // Readers beyond the pool's four waited for a connection and may have been told to come back.
        assert!(r.status() == 200 || r.status() == 503, "{}", r.status());
        answered += usize::from(r.status() == 200);
    }
    assert!(answered >= 4, "{answered} of 10 readers were answered");
}

#[sqlx::test]
async fn an_audit_query_past_the_statement_timeout_is_cancelled_and_answered_503(pool: PgPool) {
    let app = spawn().env("MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS", "1").start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    let mut lock = app.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE change_events IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.expect("lock");
    // Before, the read waited for as long as the lock was held.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    let r = http.get(app.url("/v1/audit/changes")).bearer_auth(&auditor).send().await.expect("answered");
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "query_timeout", "{body}");
    assert!(body["detail"].as_str().expect("detail").contains("MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS"), "{body}");
    lock.rollback().await.expect("unlock");
    assert_eq!(http.get(app.url("/v1/audit/changes")).bearer_auth(&auditor).send().await.expect("get").status(), 200);
    // The cancelled statement took nothing with it: sending works.
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
}

#[sqlx::test]
async fn statistics_count_the_last_day_unless_asked_and_never_more_than_the_retention(pool: PgPool) {
    let app = spawn().env("MAILGATE_AUDIT_RETENTION_DAYS", "30").start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    past_partitions(&app.pool, 1).await;
    sqlx::query(
        "INSERT INTO audit_events (at, outcome, app_name) VALUES
           (now() - interval '2 days', 'sent', 'old-app'), (now() - interval '1 minute', 'sent', 'old-app')",
    )
    .execute(&app.pool)
    .await
    .expect("insert");
    let get = |query: &'static str| {
        let (http, url, key) = (app.http.clone(), app.url(query), auditor.clone());
        async move { http.get(url).bearer_auth(key).send().await.expect("get") }
    };
    // No range given: the last 24 hours, and the answer says which.
    let stats: Value = get("/v1/audit/stats?app=old-app").await.json().await.expect("json");
    assert_eq!(stats["total"], 1, "{stats}");
    let (since, until) = (stats["since"].as_str().expect("since"), stats["until"].as_str().expect("until"));
    let at = |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("time");
    assert_eq!(at(until) - at(since), time::Duration::DAY, "{stats}");
    // A range asked for is counted.
    let three_days = (time::OffsetDateTime::now_utc() - time::Duration::days(3))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    // RFC 3339 in UTC (`…Z`) needs no escaping in a query.
    let r = app
        .http
        .get(app.url(&format!("/v1/audit/stats?app=old-app&since={three_days}")))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("get");
    assert_eq!(r.json::<Value>().await.expect("json")["total"], 2);
    // Longer than the retention: refused, naming the parameter and the setting, for both counting endpoints.
    let long_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(31))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    for path in ["/v1/audit/stats", "/v1/audit/timeseries"] {
        let r = app.http.get(app.url(&format!("{path}?since={long_ago}"))).bearer_auth(&auditor).send().await;
        let r = r.expect("get");
        assert_eq!(r.status(), 422, "{path}");
        let body: Value = r.json().await.expect("json");
        assert_eq!((body["code"].as_str(), body["field"].as_str()), (Some("range_too_long"), Some("since")), "{body}");
        assert!(body["detail"].as_str().expect("detail").contains("MAILGATE_AUDIT_RETENTION_DAYS"), "{body}");
    }
}
