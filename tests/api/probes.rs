//! Probes and scrapes cannot starve the senders: `/readyz` reads the Graph token's health instead of asking for a
//! token, and `/metrics` never waits on a measurement another scrape is making.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use crate::support::seed::app_with_roles;
use crate::support::server::spawn;
use crate::support::wait::try_poll;

#[sqlx::test]
async fn readiness_probes_never_ask_the_failing_token_endpoint_themselves(pool: PgPool) {
    // The wrong identity header: every token request fails.
    let app = spawn().env("IDENTITY_HEADER", "wrong-secret").start(pool).await;
    let admin = app_with_roles(&app.pool, "platform-admin", &["Admin"]).await;
    // Positive signal first: mailgate asked for its token (at start) and readiness reports the failure.
    let readyz = || async {
        let r = app.http.get(app.url("/readyz")).bearer_auth(&admin).send().await.expect("get");
        r.json::<Value>().await.expect("json")
    };
    let failed = |r: &Value| {
        r["graph_token"].as_str().is_some_and(|t| t.starts_with("degraded: ") && !t.ends_with("no token yet"))
    };
    let first = match try_poll(Duration::from_secs(10), || async { Some(readyz().await).filter(failed) }).await {
        Some(first) => first,
        None => readyz().await,
    };
    assert!(first["graph_token"].as_str().is_some_and(|t| !t.ends_with("no token yet")), "{first}");
    let before = app.sim.sim.stats().token_requests;
    assert!(before >= 1, "mailgate asked for its token at start");
    let probes: Vec<_> = (0..200)
        .map(|_| {
            let (http, url) = (app.http.clone(), app.url("/readyz"));
            tokio::spawn(async move { http.get(url).send().await.expect("probe") })
        })
        .collect();
    for p in probes {
        let r = p.await.expect("task");
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.expect("json")["graph_token"], "degraded");
    }
    // Only the periodic check asked meanwhile (1 s, 2 s, 4 s … apart), never a probe: before, 200 probes asked 200 times.
    let asked = app.sim.sim.stats().token_requests - before;
    assert!(asked < 20, "200 probes made {asked} token requests");
}

#[sqlx::test]
async fn scrapes_are_answered_while_the_queue_measurement_is_blocked(pool: PgPool) {
    let app = spawn().start(pool).await;
    // The outbox's per-mailbox counts are locked: the queue measurement blocks behind the lock for as long as it is
    // held, as it would behind a saturated database.
    let mut tx = app.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE mailbox_state IN ACCESS EXCLUSIVE MODE").execute(&mut *tx).await.expect("lock");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let scrapes: Vec<_> = (0..20)
        .map(|_| {
            let (http, url) = (http.clone(), app.url("/metrics"));
            tokio::spawn(async move { http.get(url).send().await })
        })
        .collect();
    for s in scrapes {
        // Before, the first scrape held a lock across its query and every other scrape waited on it: none answered.
        let r = s.await.expect("task").expect("a scrape is answered while the lock is held");
        assert_eq!(r.status(), 200);
        let page = r.text().await.expect("text");
        assert!(page.contains("mailgate_outbox_messages{status=\"queued\"}"), "{page}");
    }
    tx.rollback().await.expect("rollback");
}
