//! Each mailbox's row in `mailbox_state` holds its count of messages in flight and a cursor, so a claim reads a few
//! small rows instead of the outbox's indexes. These tests hold the two promises that make that safe: in every
//! snapshot the counts equal the outbox and no claimable message sits before its mailbox's cursor, whatever accepts,
//! claims and outcomes run at once; and a claim never moves a cursor past a message it cannot see yet.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mailgate::db::audit::Outcome;
use mailgate::db::delivery;
use mailgate::db::messages::Status;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::outbox::{claim, limits, new_app, queue, record, service};
use crate::support::wait::wait_until;

/// Rows breaking either promise, read in one snapshot: mailboxes whose count of messages in flight is wrong, and
/// claimable messages before their mailbox's cursor.
async fn broken_promises(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM mailbox_state s
                  WHERE s.in_flight <> (SELECT count(*) FROM messages m WHERE m.status = 'sending' AND m.mailbox = s.mailbox)),
                (SELECT count(*) FROM messages m JOIN mailbox_state s ON s.mailbox = m.mailbox
                  WHERE m.status = 'queued'
                    AND (s.due_at IS NULL OR (m.next_attempt_at, m.id) < (s.due_at, s.due_id)))",
    )
    .fetch_one(pool)
    .await
    .expect("promises")
}

#[sqlx::test]
async fn a_message_queued_by_an_open_transaction_holds_its_mailbox_until_it_commits(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let mailbox = "open-tx@contoso.test";
    let first = queue(&db, app, mailbox, 1).await;
    let l = limits(4, 100_000);

    // A writer queues a second message, after the first (so the cursor stays where it is), and has not committed
    // yet. A claim now would take the first message and, not seeing the second, leave the mailbox with no cursor:
    // the second would never be claimed. So the claim passes the mailbox by instead, without waiting.
    let mut writer = db.begin().await.expect("tx");
    let second = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload)
         VALUES ($1, $2, $3, 's', 1, 'queued', '{\"message\": {}}')",
    )
    .bind(second)
    .bind(app)
    .bind(mailbox)
    .execute(&mut *writer)
    .await
    .expect("insert");
    let claimed = tokio::time::timeout(Duration::from_secs(10), claim(&db, 8, &l)).await.expect("the claim waited");
    assert!(claimed.is_empty(), "{claimed:?}");
    writer.commit().await.expect("commit");

    let mut got: Vec<Uuid> = claim(&db, 8, &l).await.iter().map(|c| c.id).collect();
    got.sort();
    let mut want = vec![first[0], second];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(broken_promises(&pool).await, (0, 0));
}

#[sqlx::test]
async fn a_message_queued_behind_a_held_claim_lowers_the_cursor_the_claim_left(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let mailbox = "behind-claim@contoso.test";
    queue(&db, app, mailbox, 1).await;

    // A claim holds the mailbox's row; a writer queues a message meanwhile (after the first, so the cursor as the
    // writer's snapshot saw it needs no change) and must wait for the claim, then see where the claim left the
    // cursor.
    let mut claimer = db.begin().await.expect("tx");
    sqlx::query("SELECT FROM mailbox_state WHERE mailbox = $1 FOR UPDATE")
        .bind(mailbox)
        .execute(&mut *claimer)
        .await
        .expect("lock");
    let second = Uuid::now_v7();
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            sqlx::query(
                "INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload)
                 VALUES ($1, $2, $3, 's', 1, 'queued', '{\"message\": {}}')",
            )
            .bind(second)
            .bind(app)
            .bind("behind-claim@contoso.test")
            .execute(&db)
            .await
            .expect("insert")
        })
    };
    let waiting =
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    wait_until("the writer waits on a lock", Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>(waiting).fetch_one(&pool).await.expect("waiting") >= 1
    })
    .await;
    assert!(!writer.is_finished(), "the writer must wait for the claim's lock");
    // What a claim that took every message it saw does: the mailbox has nothing left.
    sqlx::query("UPDATE mailbox_state SET due_at = NULL, due_id = NULL WHERE mailbox = $1")
        .bind(mailbox)
        .execute(&mut *claimer)
        .await
        .expect("cursor");
    claimer.commit().await.expect("commit");
    writer.await.expect("writer");

    let (due_id,): (Option<Uuid>,) = sqlx::query_as("SELECT due_id FROM mailbox_state WHERE mailbox = $1")
        .bind(mailbox)
        .fetch_one(&pool)
        .await
        .expect("cursor");
    assert_eq!(due_id, Some(second));
}

#[sqlx::test]
async fn counts_and_cursors_agree_with_the_outbox_while_writers_and_claims_race(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let mailboxes: Vec<String> = (0..5).map(|i| format!("race-{i}@contoso.test")).collect();
    let l = limits(3, 100_000);
    let accepting = Arc::new(AtomicBool::new(true));

    // Writers: batches over every mailbox, some in transactions that stay open a moment (their messages are due
    // from the transaction's start, so they land before cursors that claims moved meanwhile).
    let mut writers = Vec::new();
    for w in 0..3u64 {
        let (db, mailboxes) = (db.clone(), mailboxes.clone());
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for round in 0..40u64 {
                let mut tx = db.begin().await.expect("tx");
                let batch: Vec<Uuid> = (0..mailboxes.len()).map(|_| Uuid::now_v7()).collect();
                if (round + w) % 3 == 0 {
                    // A transaction held open a moment is the race under test, not a wait.
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
                sqlx::query(
                    "INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload)
                     SELECT i, $2, b, 's', 1, 'queued', '{\"message\": {}}' FROM unnest($1::uuid[], $3::text[]) AS x (i, b)",
                )
                .bind(&batch)
                .bind(app)
                .bind(&mailboxes)
                .execute(&mut *tx)
                .await
                .expect("insert");
                if round % 4 == 1 {
                    // As above: open before its commit.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                tx.commit().await.expect("commit");
                ids.extend(batch);
            }
            ids
        }));
    }

    // Claimers: every other outcome sends the message back to the queue, due at once.
    let mut claimers = Vec::new();
    for c in 0..3usize {
        let (db, accepting) = (db.clone(), accepting.clone());
        claimers.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut idle_rounds = 0;
            loop {
                let claimed = claim(&db, 4, &l).await;
                if claimed.is_empty() {
                    if !accepting.load(Ordering::SeqCst) {
                        idle_rounds += 1;
                        if idle_rounds > 50 {
                            return sent;
                        }
                    }
                    // A worker's idle poll, as the service's own: part of the race, not a wait for a result.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle_rounds = 0;
                let records: Vec<_> = claimed
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        if m.attempt == 1 && (i + c) % 2 == 0 {
                            let mut again = record(m, Status::Queued, Outcome::Throttled);
                            again.retry_secs = Some(0.0);
                            again
                        } else {
                            sent.push(m.id);
                            record(m, Status::Sent, Outcome::Sent)
                        }
                    })
                    .collect();
                let held = delivery::record_attempts(&db, &records).await.expect("record");
                assert_eq!(held.len(), records.len(), "every claim still held its message");
            }
        }));
    }

    // Meanwhile, every snapshot keeps both promises.
    let mut checks = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        assert_eq!(broken_promises(&pool).await, (0, 0), "after {checks} checks");
        checks += 1;
        // The cadence of the snapshots taken during the race, not a wait.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut accepted = HashSet::new();
    for w in writers {
        accepted.extend(w.await.expect("writer"));
    }
    accepting.store(false, Ordering::SeqCst);
    let mut sent = Vec::new();
    for c in claimers {
        sent.extend(c.await.expect("claimer"));
    }

    // Every message was sent exactly once, none was stranded behind a cursor, and every mailbox is left empty.
    assert_eq!(sent.len(), accepted.len(), "sent {} of {}", sent.len(), accepted.len());
    assert_eq!(sent.iter().copied().collect::<HashSet<_>>(), accepted);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE status <> 'sent'")
        .fetch_one(&pool)
        .await
        .expect("left");
    assert_eq!(left, 0);
    let rows: Vec<(i32, Option<Uuid>)> =
        sqlx::query_as("SELECT in_flight, due_id FROM mailbox_state").fetch_all(&pool).await.expect("rows");
    assert_eq!(rows.len(), mailboxes.len());
    assert!(rows.iter().all(|r| *r == (0, None)), "{rows:?}");
    assert!(checks > 0);
}

/// Index entries of `messages` read so far, as this connection's statistics say once flushed.
async fn index_entries_read(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query("SELECT pg_stat_force_next_flush()").execute(&mut *conn).await.expect("flush");
    sqlx::query("SELECT pg_stat_clear_snapshot()").execute(&mut *conn).await.expect("snapshot");
    sqlx::query_scalar("SELECT sum(idx_tup_read)::bigint FROM pg_stat_user_indexes WHERE relname = 'messages'")
        .fetch_one(&mut *conn)
        .await
        .expect("index statistics")
}

#[sqlx::test]
async fn a_claim_reads_what_it_takes_even_when_statistics_say_nothing_is_queued(pool: PgPool) {
    let app = new_app(&pool).await;
    // Statistics taken on a quiet night: a hundred thousand messages sent, nothing queued.
    sqlx::query(
        "INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, attempts)
         SELECT gen_random_uuid(), $1, 'night-' || (g % 10) || '@contoso.test', 's', 1, 'sent', 1
           FROM generate_series(1, 100000) AS g",
    )
    .bind(app)
    .execute(&pool)
    .await
    .expect("history");
    sqlx::query("ANALYZE messages").execute(&pool).await.expect("analyze");
    // Then a morning's backlog, over ten mailboxes.
    sqlx::query(
        "INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload)
         SELECT gen_random_uuid(), $1, 'night-' || (g % 10) || '@contoso.test', 's', 1, 'queued', '{\"message\": {}}'
           FROM generate_series(1, 3000) AS g",
    )
    .bind(app)
    .execute(&pool)
    .await
    .expect("backlog");

    let mut conn = pool.acquire().await.expect("connection");
    let before = index_entries_read(&mut conn).await;
    let claimed: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT id FROM claim_messages(8, 60, 4, 100000, 86400)")
        .fetch_all(&mut *conn)
        .await
        .expect("claim");
    sqlx::query("SELECT * FROM sweep_deliveries(true, 5, 86400, false)").execute(&mut *conn).await.expect("sweep");
    let read = index_entries_read(&mut conn).await - before;
    assert_eq!(claimed.len(), 8);
    // Eight messages from eight mailboxes: a few entries each (the cursor's and the one after what fits) and one
    // primary-key probe per message; a scan of the backlog would read thousands.
    assert!(read <= 100, "a claim of 8 read {read} index entries of messages");
}

#[sqlx::test]
async fn a_message_moved_by_hand_is_found_and_a_count_broken_by_hand_is_mended(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let (from, to) = ("moved-from@contoso.test", "moved-to@contoso.test");
    queue(&pool, app, to, 1).await;
    let ids = queue(&pool, app, from, 2).await;
    let l = limits(1, 100_000);
    let first: Vec<Uuid> = claim(&db, 8, &l).await.iter().map(|c| c.id).collect();
    assert_eq!(first.len(), 2, "one from each mailbox");

    // An operator moves the second message of `from`, still queued, to `to`: `to` must find it once it has room.
    sqlx::query("UPDATE messages SET mailbox = $1 WHERE id = $2")
        .bind(to)
        .bind(ids[1])
        .execute(&pool)
        .await
        .expect("move");
    assert_eq!(broken_promises(&pool).await, (0, 0));
    sqlx::query("UPDATE messages SET status = 'sent' WHERE status = 'sending'").execute(&pool).await.expect("done");
    let moved: Vec<(Uuid, String)> = claim(&db, 8, &l).await.into_iter().map(|c| (c.id, c.mailbox)).collect();
    assert_eq!(moved, vec![(ids[1], to.to_owned())]);

    // A count set wrong by hand holds `from` back until the recount mends it.
    queue(&pool, app, from, 1).await;
    sqlx::query("UPDATE mailbox_state SET in_flight = 9 WHERE mailbox = $1")
        .bind(from)
        .execute(&pool)
        .await
        .expect("break");
    assert!(claim(&db, 8, &l).await.is_empty());
    assert_eq!(delivery::recount_in_flight(&db).await.expect("recount"), 1);
    assert_eq!(broken_promises(&pool).await, (0, 0));
    assert_eq!(claim(&db, 8, &l).await.len(), 1);
}

#[sqlx::test]
async fn a_message_past_one_time_to_live_is_still_found_under_a_longer_one(pool: PgPool) {
    let db = service(&pool).await;
    let app = new_app(&pool).await;
    let mailbox = "ttl-raised@contoso.test";
    let ids = queue(&pool, app, mailbox, 1).await;
    sqlx::query("UPDATE messages SET created_at = clock_timestamp() - interval '2 hours' WHERE id = $1")
        .bind(ids[0])
        .execute(&pool)
        .await
        .expect("age");
    let l = limits(4, 100_000);
    let hour = Duration::from_secs(3600);
    let claimed = delivery::claim(&db, 8, Duration::from_secs(60), &l, hour).await.expect("claim");
    assert!(claimed.is_empty(), "past a time to live of an hour");
    // A replica configured with a day, or the setting raised: the message is still there to take.
    let claimed =
        delivery::claim(&db, 8, Duration::from_secs(60), &l, Duration::from_secs(86_400)).await.expect("claim");
    assert_eq!(claimed.iter().map(|c| c.id).collect::<Vec<_>>(), ids);
}
