//! The send path at volume: many accepts per commit with none lost or failed by a neighbour, quotas that are exact
//! under concurrency on any replica, callers cached in memory yet revoked everywhere at once, and answers that never
//! turn a stored message into an error.

use std::sync::Arc;
use std::time::Duration;

use mailgate::accept::Writer;
use mailgate::accept::group_commit::{KeyClaim, Request, Row, Written};
use mailgate::accept::quota::{Ask, Verdict};
use mailgate::db;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::support::client::Client;
use crate::support::seed::{ALLOWED, OUTSIDE, message};
use crate::support::server::spawn;
use crate::support::wait::{eventually, poll, wait_until};

fn row(app_id: Uuid, subject: &str) -> Row {
    Row {
        id: Uuid::now_v7(),
        app_id,
        app_name: "batch-app".into(),
        mailbox: ALLOWED.into(),
        subject: subject.into(),
        recipients: 1,
        queued: true,
        payload: Some(json!({"message": {"subject": subject}})),
        channel: Default::default(),
        source_address: None,
        request_id: String::new(),
        detail: "granted".into(),
        notify_done: false,
        traceparent: None,
    }
}

async fn app(pool: &PgPool) -> Uuid {
    db::apps::create(pool, &db::apps::NewApp { name: "batch-app", ..Default::default() }).await.expect("app").id
}

#[sqlx::test]
async fn concurrent_accepts_share_commits_and_a_bad_row_fails_alone(pool: PgPool) {
    let app_id = app(&pool).await;
    let writer = Writer::start(pool.clone(), Arc::new(Notify::new()), Duration::from_secs(3600));
    // 200 requests at once, one of them for an app that does not exist (its foreign key fails its batch).
    let writes = (0..200).map(|i| {
        let writer = writer.clone();
        let app = if i == 77 { Uuid::now_v7() } else { app_id };
        async move { writer.write(Request { row: row(app, &format!("m{i}")), key: None, quota: None }).await }
    });
    let results = futures::future::join_all(writes).await;
    for (i, r) in results.iter().enumerate() {
        if i == 77 {
            assert!(r.is_err(), "the row for a missing app was stored");
        } else {
            assert_eq!(r.as_ref().expect("stored"), &Written::Stored, "request {i}");
        }
    }
    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE status = 'queued'")
        .fetch_one(&pool)
        .await
        .expect("count");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events a JOIN messages m ON m.id = a.message_id WHERE a.outcome = 'queued'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!((messages, audited), (199, 199), "every acknowledged message is stored once, with its audit event");
}

#[sqlx::test]
async fn one_idempotency_key_in_a_batch_is_claimed_once(pool: PgPool) {
    let app_id = app(&pool).await;
    let writer = Writer::start(pool.clone(), Arc::new(Notify::new()), Duration::from_secs(3600));
    let writes = (0..20).map(|i| {
        let writer = writer.clone();
        let key = KeyClaim { key: "same".into(), hash: vec![1], status: 202, response: json!({"n": i}) };
        async move { writer.write(Request { row: row(app_id, "dup"), key: Some(key), quota: None }).await }
    });
    let results: Vec<Written> =
        futures::future::join_all(writes).await.into_iter().map(|r| r.expect("written")).collect();
    assert_eq!(results.iter().filter(|w| **w == Written::Stored).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|w| **w == Written::KeyTaken).count(), 19);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(&pool).await.expect("count");
    assert_eq!(stored, 1);
}

#[sqlx::test]
async fn quota_counters_admit_exactly_the_limit_under_concurrency(pool: PgPool) {
    let app_id = app(&pool).await;
    let writer = Writer::start(pool.clone(), Arc::new(Notify::new()), Duration::from_secs(3600));
    // Recipients per day: its bucket does not roll over during the test, as a minute's might.
    let ask = Ask { app_id, per_minute: 0, per_day: 25, recipients: 2 };
    let writes = (0..40).map(|i| {
        let writer = writer.clone();
        async move { writer.write(Request { row: row(app_id, &format!("q{i}")), key: None, quota: Some(ask) }).await }
    });
    let results: Vec<Written> =
        futures::future::join_all(writes).await.into_iter().map(|r| r.expect("written")).collect();
    let admitted = results.iter().filter(|w| **w == Written::Stored).count();
    assert_eq!(admitted, 12, "25 recipients a day, 2 per message: 12 fit");
    assert!(
        results
            .iter()
            .all(|w| *w == Written::Stored || matches!(w, Written::OverQuota(Verdict::Over { limit: 25, .. })))
    );
    let used: i64 = sqlx::query_scalar("SELECT used FROM app_usage WHERE app_id = $1 AND period = 'day'")
        .bind(app_id)
        .fetch_one(&pool)
        .await
        .expect("counter");
    assert_eq!(used, 24);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(&pool).await.expect("count");
    assert_eq!(stored, 12, "a refused message stores nothing");
}

#[sqlx::test]
async fn quotas_hold_exactly_across_two_replicas_and_cost_nothing_when_off(pool: PgPool) {
    let app = spawn()
        .env("MAILGATE_APP_MESSAGES_PER_MINUTE", "0")
        .env("MAILGATE_APP_RECIPIENTS_PER_DAY", "0")
        .start(pool)
        .await;
    let other = app.replica();
    for _ in 0..3 {
        assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
    }
    assert_eq!(app.count("SELECT count(*) FROM app_usage").await, 0, "quotas off: no counter is kept");

    // The app's own quota: 10 recipients a day. Changed behind both replicas' backs, it reaches each through the
    // change notice (the contract: within a second); each replica is probed with single sends until one is counted.
    sqlx::query("UPDATE apps SET recipients_per_day = 10 WHERE name = 'logic-app'")
        .execute(&app.pool)
        .await
        .expect("quota");
    let bases = [app.base.clone(), other.base.clone()];
    let used = || app.count("SELECT coalesce(sum(used), 0)::bigint FROM app_usage WHERE period = 'day'");
    let mut probes = 0;
    for base in &bases {
        let client = Client::new(&app.http, base, &app.demo.key);
        let probes = &mut probes;
        wait_until(&format!("{base} applies the new quota"), Duration::from_secs(10), || {
            *probes += 1;
            let (used, client) = (&used, &client);
            async move {
                let before = used().await;
                client.send(&message(ALLOWED)).await;
                used().await > before
            }
        })
        .await;
    }
    // What is left of the 10, asked for by 40 concurrent sends on the two replicas: exactly that many get through.
    let left = usize::try_from(10 - used().await).expect("within the quota");
    let sends = (0..40).map(|i| {
        app.http.post(format!("{}/v1/messages", bases[i % 2])).bearer_auth(&app.demo.key).json(&message(ALLOWED)).send()
    });
    let answers = futures::future::join_all(sends).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.as_ref().expect("answer").status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), left, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 40 - left, "{statuses:?}");
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 3 + probes + i64::try_from(left).expect("small"));
}

#[sqlx::test]
async fn a_revoked_key_is_refused_on_every_replica(pool: PgPool) {
    let app = spawn().start(pool).await;
    let other = app.replica();
    let bases = [app.base.clone(), other.base.clone()];
    // Both replicas have now seen (and cached) the key.
    for base in &bases {
        let r = app.http.post(format!("{base}/v1/messages")).bearer_auth(&app.demo.key).json(&message(ALLOWED)).send();
        assert_eq!(r.await.expect("send").status(), 202);
    }
    // Revoked behind both replicas' backs, as the CLI or another replica would.
    sqlx::query("UPDATE api_keys SET revoked_at = now()").execute(&app.pool).await.expect("revoke");
    for base in &bases {
        let client = Client::new(&app.http, base, &app.demo.key);
        let body = message(ALLOWED);
        let r = eventually(401, || client.post_message(&body)).await;
        assert_eq!(r.status(), 401, "{base} still accepts a revoked key");
    }
}

#[sqlx::test]
async fn prefer_wait_answers_202_when_watching_the_stored_message_fails(pool: PgPool) {
    let app = spawn().start(pool).await;
    // Graph takes its time, so the caller is still waiting when the store goes away.
    app.sim
        .sim
        .add_scripted_faults(ALLOWED, vec![graph_sim::ScriptedFault::times(graph_sim::Fault::Delay { ms: 3_000 }, 1)]);
    let post = app
        .http
        .post(format!("{}/v1/messages", app.base))
        .bearer_auth(&app.demo.key)
        .header("Prefer", "wait=20")
        .json(&message(ALLOWED))
        .send();
    let cut = async {
        // Once the message is stored, the service can no longer read it (any store fault would do).
        let stored = || async { app.count("SELECT count(*) FROM messages").await == 1 };
        wait_until("the message is stored", Duration::from_secs(20), stored).await;
        sqlx::query("REVOKE SELECT ON messages FROM mailgate_service").execute(&app.pool).await.expect("revoke");
    };
    let (answer, ()) = tokio::join!(post, cut);
    let answer = answer.expect("answer");
    sqlx::query("GRANT SELECT ON messages TO mailgate_service").execute(&app.pool).await.expect("grant");
    assert_eq!(answer.status(), 202, "a stored message must not be answered with an error");
    let view: Value = answer.json().await.expect("json");
    let stored: String = sqlx::query_scalar("SELECT id::text FROM messages").fetch_one(&app.pool).await.expect("id");
    assert_eq!(view["id"], stored);
}

#[sqlx::test]
async fn a_failed_policy_reload_keeps_deciding_with_the_last_good_snapshot(pool: PgPool) {
    let app = spawn().start(pool).await;
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
    // The service can no longer read the policies; a change notice makes it try.
    sqlx::query("REVOKE SELECT ON access_policies FROM mailgate_service").execute(&app.pool).await.expect("revoke");
    sqlx::query("SELECT pg_notify('mailgate_policy', '')").execute(&app.pool).await.expect("notify");
    let readyz = || async {
        let r = app.http.get(app.url("/readyz")).send().await.expect("readyz");
        r.json::<Value>().await.expect("json")
    };
    poll("readyz says the policy is stale", Duration::from_secs(10), || async {
        let ready = readyz().await;
        // Anonymous callers get the word; the time and the error are for admins.
        if ready["policy"] == "stale" {
            assert_eq!(ready["status"], "ready", "a stale policy does not take the replica out of rotation");
            return Some(());
        }
        // Each send makes it try to reload.
        assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202, "the last good snapshot still grants");
        None
    })
    .await;
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
    assert_eq!(app.post_message(&message(OUTSIDE)).await.status(), 403, "and still denies");
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("mailgate_policy_snapshot_stale 1"), "{metrics}");

    sqlx::query("GRANT SELECT ON access_policies TO mailgate_service").execute(&app.pool).await.expect("grant");
    wait_until("the policy recovers", Duration::from_secs(10), || async {
        assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
        readyz().await["policy"] == "ok"
    })
    .await;
}
