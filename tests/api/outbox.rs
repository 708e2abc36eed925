//! The delivery state machine in Postgres, driven directly as the service role: claims within the per-mailbox limits
//! and without a global lock, fencing of stale workers, bounded lease expiry, and the time to live.

use std::time::Duration;

use mailgate::db::audit::Outcome;
use mailgate::db::delivery::{self, AttemptEvent, DriftNote, Swept};
use mailgate::db::messages::Status;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::support::outbox::{DAY, LEASE, claim, limits, new_app, queue, record, service};

async fn scalar<T>(pool: &PgPool, sql: &str, id: Uuid) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).bind(id).fetch_one(pool).await.expect(sql)
}

async fn status_of(pool: &PgPool, id: Uuid) -> (String, i32) {
    sqlx::query_as("SELECT status, attempts FROM messages WHERE id = $1").bind(id).fetch_one(pool).await.expect("row")
}

/// The audit events of a message after its acceptance: (outcome, attempt, detail).
async fn events(pool: &PgPool, id: Uuid) -> Vec<(String, Option<i32>, Option<String>)> {
    sqlx::query_as(
        "SELECT outcome, attempt, detail FROM audit_events WHERE message_id = $1 AND outcome <> 'queued' ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .expect("events")
}

async fn expire_leases(pool: &PgPool) {
    sqlx::query("UPDATE messages SET lease_until = clock_timestamp() - interval '1 second' WHERE status = 'sending'")
        .execute(pool)
        .await
        .expect("expire");
}

#[sqlx::test]
async fn a_stale_worker_changes_nothing_and_writes_no_audit_row(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let id = queue(&pool, app, "stale@contoso.test", 1).await[0];
    let l = limits(4, 30);

    let first = claim(&db, 8, &l).await;
    assert_eq!((first.len(), first[0].attempt), (1, 1));
    expire_leases(&pool).await;
    let swept = delivery::sweep(&db, true, 6, DAY, false).await.expect("sweep");
    assert_eq!(swept, Swept { lost: 1, requeued: 1, expired: 0 });
    let second = claim(&db, 8, &l).await;
    assert_eq!((second.len(), second[0].id, second[0].attempt), (1, id, 2));
    let before = events(&pool, id).await;
    assert_eq!(before.len(), 1, "the sweep's event: {before:?}");

    // The first worker comes back with Graph's 403: it may not end the message, record drift, cool the pair down,
    // pause the mailbox or extend the lease.
    let mut stale = record(&first[0], Status::Rejected, Outcome::ExchangeDenied);
    stale.drift = Some(DriftNote { graph_code: Some("ErrorAccessDenied".into()), graph_request_id: None });
    stale.cooldown_secs = Some(600.0);
    stale.pause_secs = Some(600.0);
    let held = delivery::record_attempts(&db, &[stale]).await.expect("record");
    assert!(held.is_empty(), "{held:?}");
    assert!(!delivery::extend_lease(&db, id, first[0].attempt, LEASE).await.expect("extend"));
    assert_eq!(status_of(&pool, id).await, ("sending".to_owned(), 2));
    assert_eq!(events(&pool, id).await, before, "no audit row for a lost claim");
    for table in ["drift_events", "access_cooldowns"] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(n, 0, "{table}");
    }
    let paused: i64 = sqlx::query_scalar("SELECT count(*) FROM mailbox_state WHERE paused_until IS NOT NULL")
        .fetch_one(&pool)
        .await
        .expect("paused");
    assert_eq!(paused, 0);

    // The holder of the current claim records its answer.
    let held =
        delivery::record_attempts(&db, &[record(&second[0], Status::Sent, Outcome::Sent)]).await.expect("record");
    assert_eq!(held, [id]);
    assert_eq!(status_of(&pool, id).await, ("sent".to_owned(), 2));
    let after = events(&pool, id).await;
    assert_eq!(after.len(), 2);
    assert_eq!((after[1].0.as_str(), after[1].1), ("sent", Some(2)));
    // A late duplicate of the same outcome is fenced too.
    let again =
        delivery::record_attempts(&db, &[record(&second[0], Status::Sent, Outcome::Sent)]).await.expect("again");
    assert!(again.is_empty());
    assert_eq!(events(&pool, id).await.len(), 2);
}

#[sqlx::test]
async fn under_at_most_once_a_lost_lease_is_unknown_and_its_late_answer_is_ignored(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let id = queue(&pool, app, "lost@contoso.test", 1).await[0];
    let first = claim(&db, 8, &limits(4, 30)).await;
    expire_leases(&pool).await;
    assert_eq!(delivery::sweep(&db, false, 6, DAY, false).await.expect("sweep").lost, 1);
    assert_eq!(status_of(&pool, id).await.0, "unknown");
    let held = delivery::record_attempts(&db, &[record(&first[0], Status::Sent, Outcome::Sent)]).await.expect("record");
    assert!(held.is_empty());
    assert_eq!(status_of(&pool, id).await.0, "unknown");
    let ev = events(&pool, id).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].0, "unknown");
    assert!(ev[0].2.as_deref().unwrap_or_default().contains("not resent (at-most-once)"), "{ev:?}");
}

#[sqlx::test]
async fn expired_leases_are_requeued_only_while_attempts_and_time_to_live_remain(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let l = limits(4, 30);

    // Out of attempts: two claims, two lost leases, then `failed` (at-least-once, two attempts).
    let id = queue(&pool, app, "attempts@contoso.test", 1).await[0];
    for round in 1..=2 {
        assert_eq!(claim(&db, 8, &l).await[0].attempt, round);
        expire_leases(&pool).await;
        let swept = delivery::sweep(&db, true, 2, DAY, false).await.expect("sweep");
        assert_eq!(swept.requeued, i64::from(round == 1), "round {round}");
    }
    assert_eq!(status_of(&pool, id).await, ("failed".to_owned(), 2));
    let ev = events(&pool, id).await;
    let outcomes: Vec<_> = ev.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(outcomes, ["unknown", "unknown", "failed"]);
    assert!(ev[1].2.as_deref().unwrap_or_default().contains("no attempt or time left"), "{ev:?}");
    assert_eq!(ev[2].2.as_deref(), Some("retry attempts exhausted"));
    assert!(claim(&db, 8, &l).await.is_empty(), "a failed message is never claimed again");

    // Out of time: the time to live passed while the lease ran.
    let id = queue(&pool, app, "ttl@contoso.test", 1).await[0];
    assert_eq!(claim(&db, 8, &l).await.len(), 1);
    sqlx::query("UPDATE messages SET created_at = created_at - interval '2 days' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .expect("age");
    expire_leases(&pool).await;
    assert_eq!(delivery::sweep(&db, true, 6, DAY, false).await.expect("sweep").requeued, 0);
    assert_eq!(status_of(&pool, id).await.0, "failed");
    let ev = events(&pool, id).await;
    assert_eq!(ev.last().and_then(|e| e.2.as_deref()), Some("the message's time to live passed"), "{ev:?}");
    let body: i64 = scalar(&pool, "SELECT count(payload) FROM messages WHERE id = $1", id).await;
    assert_eq!(body, 0, "the body goes with the final status");
}

#[sqlx::test]
async fn a_message_past_its_time_to_live_is_never_claimed_and_the_sweep_fails_it(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let late = queue(&pool, app, "late@contoso.test", 1).await[0];
    let fresh = queue(&pool, app, "late@contoso.test", 1).await[0];
    // Its sender waits for the outcome (`Prefer: wait`), so its end is announced.
    sqlx::query(
        "UPDATE messages SET created_at = clock_timestamp() - interval '2 minutes', notify_done = true WHERE id = $1",
    )
    .bind(late)
    .execute(&pool)
    .await
    .expect("age");
    let ttl = Duration::from_secs(60);
    let claimed = delivery::claim(&db, 8, LEASE, &limits(4, 30), ttl).await.expect("claim");
    assert_eq!(claimed.iter().map(|c| c.id).collect::<Vec<_>>(), [fresh]);
    assert!(claimed[0].expires_in > 0.0 && claimed[0].expires_in <= 60.0, "{}", claimed[0].expires_in);

    let mut done = PgListener::connect_with(&db).await.expect("listen");
    done.listen("mailgate_done").await.expect("listen");
    let swept = delivery::sweep(&db, false, 6, ttl, false).await.expect("sweep");
    assert_eq!(swept, Swept { lost: 0, requeued: 0, expired: 1 });
    let row: (String, Option<String>, bool) =
        sqlx::query_as("SELECT status, last_error, payload IS NULL FROM messages WHERE id = $1")
            .bind(late)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(row, ("failed".to_owned(), Some("ttl_expired".to_owned()), true));
    assert_eq!(events(&pool, late).await, [("failed".to_owned(), None, Some(attempt_ttl()))]);
    let n = tokio::time::timeout(Duration::from_secs(10), done.recv()).await.expect("notified").expect("recv");
    assert_eq!(n.payload(), late.to_string(), "a caller waiting on it learns its final status");
}

fn attempt_ttl() -> String {
    mailgate::delivery::attempt::TTL_BEFORE_SEND.to_owned()
}

#[sqlx::test]
async fn the_window_counts_every_start_of_the_last_60_seconds_conservatively(pool: PgPool) {
    // Starts per second, newest first; a start in second s counts until second s + 62 begins: a second for the
    // claim's place in its second, a second for its request to leave.
    let used = |counts: &str, newest: i64, at: i64| {
        let pool = pool.clone();
        let counts = counts.to_owned();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT mailbox_window_used($1::integer[], $2, $3)")
                .bind(counts)
                .bind(newest)
                .bind(at)
                .fetch_one(&pool)
                .await
                .expect("used")
        }
    };
    assert_eq!(used("{1,2,3}", 100, 100).await, 6);
    assert_eq!(used("{1,2,3}", 100, 159).await, 6, "second 98 still counts at second 159");
    assert_eq!(used("{1,2,3}", 100, 160).await, 3, "second 98 left at 160");
    assert_eq!(used("{1,2,3}", 100, 161).await, 1);
    assert_eq!(used("{1,2,3}", 100, 162).await, 0);
    assert_eq!(used("{1,2,3}", 100, 90).await, 6, "a clock that went back keeps every count");
    let added: Vec<i32> = sqlx::query_scalar("SELECT mailbox_window_add(array_fill(1, ARRAY[62]), 100, 102, 5)")
        .fetch_one(&pool)
        .await
        .expect("add");
    assert_eq!(added.len(), 62, "the window never grows past 62 seconds");
    assert_eq!(&added[..4], [5, 0, 1, 1]);
}

#[sqlx::test]
async fn claims_hold_the_per_minute_limit_against_starts_already_in_the_window(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let mailbox = "paced@contoso.test";
    queue(&pool, app, mailbox, 6).await;
    let seed = |age: i64, count: i32| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO mailbox_state (mailbox, window_second, window_counts)
                 VALUES ($1, floor(extract(epoch FROM clock_timestamp()))::bigint - $2, ARRAY[$3])
                 ON CONFLICT (mailbox) DO UPDATE SET window_second = EXCLUDED.window_second,
                                                     window_counts = EXCLUDED.window_counts",
            )
            .bind(mailbox)
            .bind(age)
            .bind(count)
            .execute(&pool)
            .await
            .expect("seed");
        }
    };
    let l = limits(4, 3);
    seed(30, 3).await;
    assert!(claim(&db, 8, &l).await.is_empty(), "three starts 30 s ago fill a limit of three");
    seed(30, 2).await;
    assert_eq!(claim(&db, 8, &l).await.len(), 1, "two starts 30 s ago leave room for one");
    assert!(claim(&db, 8, &l).await.is_empty(), "the claim's own start counts");
    // Once those starts are over a minute old, the limit (3, under the concurrency of 4) is free again.
    sqlx::query("UPDATE messages SET status = 'sent' WHERE status = 'sending'").execute(&pool).await.expect("done");
    seed(65, 3).await;
    assert_eq!(claim(&db, 8, &l).await.len(), 3);
    let counts: Vec<i32> = sqlx::query_scalar("SELECT window_counts FROM mailbox_state WHERE mailbox = $1")
        .bind(mailbox)
        .fetch_one(&pool)
        .await
        .expect("window");
    assert_eq!(counts.iter().sum::<i32>(), 3, "{counts:?}");
}

#[sqlx::test]
async fn a_full_paused_or_locked_mailbox_leaves_the_others_their_turn(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let (full, paused, locked, free) =
        ("full@contoso.test", "paused@contoso.test", "locked@contoso.test", "free@contoso.test");
    queue(&pool, app, full, 5).await;
    let l = limits(2, 100_000);
    assert_eq!(claim(&db, 8, &l).await.len(), 2, "two in flight at most");
    queue(&pool, app, paused, 3).await;
    sqlx::query("UPDATE mailbox_state SET paused_until = clock_timestamp() + interval '1 hour' WHERE mailbox = $1")
        .bind(paused)
        .execute(&pool)
        .await
        .expect("pause");
    queue(&pool, app, locked, 3).await;
    let free_ids = queue(&pool, app, free, 2).await;

    // Another claim holds `locked`'s row, and an import holds its lock: neither is waited for.
    let mut other = pool.begin().await.expect("tx");
    sqlx::query("SELECT FROM mailbox_state WHERE mailbox = $1 FOR UPDATE")
        .bind(locked)
        .execute(&mut *other)
        .await
        .expect("lock");
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(mailgate::exchange_sync::apply::IMPORT_LOCK)
        .execute(&mut *other)
        .await
        .expect("import lock");
    let claimed = tokio::time::timeout(Duration::from_secs(20), claim(&db, 8, &l)).await.expect("the claim waited");
    let mut got: Vec<_> = claimed.iter().map(|c| c.id).collect();
    got.sort();
    assert_eq!(got, free_ids);
    other.rollback().await.expect("rollback");
    let claimed = claim(&db, 8, &l).await;
    assert!(claimed.iter().all(|c| c.mailbox == locked) && claimed.len() == 2, "{claimed:?}");
}

#[sqlx::test]
async fn a_batch_of_outcomes_is_recorded_in_one_call_each_by_its_own_claim(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    queue(&pool, app, "batch-a@contoso.test", 1).await;
    queue(&pool, app, "batch-b@contoso.test", 1).await;
    queue(&pool, app, "batch-c@contoso.test", 1).await;
    let mut claimed = claim(&db, 8, &limits(4, 30)).await;
    claimed.sort_by(|a, b| a.mailbox.cmp(&b.mailbox));
    assert_eq!(claimed.len(), 3);

    let sent = record(&claimed[0], Status::Sent, Outcome::Sent);
    let mut throttled = record(&claimed[1], Status::Queued, Outcome::Throttled);
    throttled.pause_secs = Some(120.0);
    let mut denied = record(&claimed[2], Status::Rejected, Outcome::ExchangeDenied);
    denied.drift =
        Some(DriftNote { graph_code: Some("ErrorAccessDenied".into()), graph_request_id: Some("r1".into()) });
    denied.cooldown_secs = Some(300.0);
    denied.events.push(AttemptEvent { detail: Some("second event".into()), ..AttemptEvent::new(Outcome::Failed) });

    // Only the sent message's sender waits for its outcome.
    sqlx::query("UPDATE messages SET notify_done = (id = $1)").bind(claimed[0].id).execute(&pool).await.expect("wait");
    let mut done = PgListener::connect_with(&db).await.expect("listen");
    done.listen("mailgate_done").await.expect("listen");
    let mut held = delivery::record_attempts(&db, &[sent, throttled, denied]).await.expect("record");
    held.sort();
    let mut want: Vec<_> = claimed.iter().map(|c| c.id).collect();
    want.sort();
    assert_eq!(held, want);

    let statuses: Vec<(String, bool)> =
        sqlx::query_as("SELECT status, payload IS NOT NULL FROM messages WHERE id = ANY($1) ORDER BY mailbox")
            .bind(&want)
            .fetch_all(&pool)
            .await
            .expect("statuses");
    assert_eq!(statuses, [("sent".into(), false), ("queued".into(), true), ("rejected".into(), false)]);
    let retry_in: f64 = scalar(
        &pool,
        "SELECT extract(epoch FROM next_attempt_at - clock_timestamp())::float8 FROM messages WHERE id = $1",
        claimed[1].id,
    )
    .await;
    assert!(retry_in > 20.0 && retry_in <= 30.0, "{retry_in}");
    let paused: i64 = scalar(
        &pool,
        "SELECT count(*) FROM mailbox_state
          WHERE mailbox = (SELECT mailbox FROM messages WHERE id = $1) AND paused_until > clock_timestamp() + interval '100 s'",
        claimed[1].id,
    )
    .await;
    assert_eq!(paused, 1);
    let drift: (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT mailbox, graph_request_id, local_rule FROM drift_events")
            .fetch_one(&pool)
            .await
            .expect("drift");
    assert_eq!(drift, ("batch-c@contoso.test".into(), Some("r1".into()), Some("granted by test".into())));
    let cooled: i64 = scalar(&pool, "SELECT count(*) FROM access_cooldowns WHERE app_id = $1", app).await;
    assert_eq!(cooled, 1);
    let ev = events(&pool, claimed[2].id).await;
    assert_eq!(ev.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["exchange_denied", "failed"]);

    // One notification per final status someone waits for; none for the retry, none for the unwatched rejection.
    // Notices arrive in commit order, so everything before the marker came from the recorded batch.
    sqlx::query("SELECT pg_notify('mailgate_done', 'marker')").execute(&pool).await.expect("marker");
    let mut notified = Vec::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), done.recv()).await.expect("notified").expect("recv");
        if n.payload() == "marker" {
            break;
        }
        notified.push(n.payload().to_owned());
    }
    assert_eq!(notified, [claimed[0].id.to_string()]);
}

#[sqlx::test]
async fn a_held_lease_can_be_extended_by_its_claim_alone(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let id = queue(&pool, app, "long@contoso.test", 1).await[0];
    let m = claim(&db, 8, &limits(4, 30)).await.remove(0);
    let left = "SELECT extract(epoch FROM lease_until - clock_timestamp())::float8 FROM messages WHERE id = $1";
    assert!(scalar::<f64>(&pool, left, id).await <= 60.0);
    assert!(delivery::extend_lease(&db, id, m.attempt, Duration::from_secs(600)).await.expect("extend"));
    assert!(scalar::<f64>(&pool, left, id).await > 500.0);
    assert!(!delivery::extend_lease(&db, id, m.attempt + 1, Duration::from_secs(600)).await.expect("another claim's"));
}
