//! Audit reads on a hot standby (`MAILGATE_AUDIT_DATABASE_URL`): a real streaming replica of a private cluster, made
//! from a base backup. The reads are shown to come from it (an event the primary has is missing from the answers
//! while the standby's replay is paused, and appears once it resumes), and sends do not need it: with the standby
//! down, audit reads answer 503 and sends 202.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::PgPoolOptions;

use crate::support::logins::service_url;
use crate::support::private_pg::PrivatePostgres;
use crate::support::seed::{ALLOWED, OUTSIDE, app_with_roles, message};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::wait_until;

async fn denied_events(app: &TestApp, auditor: &str) -> reqwest::Response {
    app.http.get(app.url("/v1/audit?outcome=denied")).bearer_auth(auditor).send().await.expect("get")
}

async fn count_of(r: reqwest::Response) -> Option<usize> {
    if r.status() != 200 {
        return None;
    }
    Some(r.json::<Value>().await.expect("json")["events"].as_array().expect("events").len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reads_come_from_a_streaming_standby_and_sends_do_not_need_it() {
    let primary = Arc::new(tokio::task::spawn_blocking(PrivatePostgres::start).await.expect("start the primary"));
    let pool = PgPoolOptions::new().max_connections(4).connect(&primary.url()).await.expect("connect to the primary");
    mailgate::db::MIGRATOR.run(&pool).await.expect("migrate");
    let from = primary.clone();
    let standby = Arc::new(tokio::task::spawn_blocking(move || from.standby()).await.expect("start the standby"));
    let standby_admin =
        PgPoolOptions::new().max_connections(1).connect(&standby.url()).await.expect("connect to the standby");
    let in_recovery: bool =
        sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(&standby_admin).await.expect("recovery");
    assert!(in_recovery, "the standby is a standby");

    // The service login is made on the primary and reaches the standby by replication, as every role does.
    let standby_url = service_url(&pool, &standby.url()).await;
    let auditor = app_with_roles(&pool, "auditor", &["Audit.Read"]).await;
    let app = spawn()
        .env("MAILGATE_MIGRATE_ON_START", "false")
        .env("MAILGATE_AUDIT_DATABASE_URL", &standby_url)
        .start_on(pool, primary.url())
        .await;

    assert_eq!(app.post_message(&message(OUTSIDE)).await.status(), 403);
    wait_until("the standby has the first denial", Duration::from_secs(30), || async {
        count_of(denied_events(&app, &auditor).await).await == Some(1)
    })
    .await;

    // Replay paused: what the primary writes from now on does not reach the standby.
    sqlx::query("SELECT pg_wal_replay_pause()").execute(&standby_admin).await.expect("pause");
    wait_until("replay is paused", Duration::from_secs(30), || async {
        sqlx::query_scalar::<_, String>("SELECT pg_get_wal_replay_pause_state()")
            .fetch_one(&standby_admin)
            .await
            .is_ok_and(|s| s == "paused")
    })
    .await;
    assert_eq!(app.post_message(&message(OUTSIDE)).await.status(), 403);
    assert_eq!(app.count("SELECT count(*) FROM audit_events WHERE outcome = 'denied'").await, 2, "on the primary");
    // The audit API does not see it: it reads the standby.
    assert_eq!(count_of(denied_events(&app, &auditor).await).await, Some(1));
    let stats: Value = app
        .http
        .get(app.url("/v1/audit/stats"))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["by_outcome"]["denied"], 1, "{stats}");
    sqlx::query("SELECT pg_wal_replay_resume()").execute(&standby_admin).await.expect("resume");
    wait_until("the standby catches up", Duration::from_secs(30), || async {
        count_of(denied_events(&app, &auditor).await).await == Some(2)
    })
    .await;
    standby_admin.close().await;

    // The standby goes down: audit reads answer 503, sends and readiness carry on against the primary.
    let down = standby.clone();
    tokio::task::spawn_blocking(move || down.down()).await.expect("stop the standby");
    let r = denied_events(&app, &auditor).await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "unavailable", "{body}");
    assert!(body["detail"].as_str().expect("detail").contains("audit database"), "{body}");
    for _ in 0..3 {
        assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
    }
    assert_eq!(app.http.get(app.url("/readyz")).send().await.expect("readyz").status(), 200);

    // Back up, it serves the reads again, caught up.
    let up = standby.clone();
    tokio::task::spawn_blocking(move || up.up()).await.expect("start the standby");
    wait_until("audit reads are served again", Duration::from_secs(60), || async {
        count_of(denied_events(&app, &auditor).await).await == Some(2)
    })
    .await;
}
