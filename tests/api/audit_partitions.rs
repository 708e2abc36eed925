//! The audit log's month partitions: the migration keeps every event and its id, the service only adds partitions,
//! and `mailgate audit purge`, run as the owner, drops whole months past the retention and nothing else.

use std::process::Command;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::support::db::database_url;
use crate::support::logins::service_url;

const INSUFFICIENT_PRIVILEGE: &str = "42501";

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(db).await.expect(sql)
}

async fn partitions(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'audit_events'::regclass ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .expect("partitions")
}

fn purge(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["audit", "purge"])
        .args(args)
        .env_clear()
        .env("DATABASE_URL", db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run mailgate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[sqlx::test(migrations = false)]
async fn partitioning_the_audit_log_keeps_every_event_and_its_id(pool: PgPool) {
    const PARTITIONING: i64 = 20261205000001;
    assert!(mailgate::db::MIGRATOR.iter().any(|m| m.version == PARTITIONING), "the partitioning migration");
    let before_partitions =
        mailgate::db::MIGRATOR.iter().map(|m| m.version).filter(|v| *v < PARTITIONING).max().expect("one");
    mailgate::db::MIGRATOR.run_to(before_partitions, &pool).await.expect("migrations before partitioning");
    sqlx::query(
        "INSERT INTO audit_events (at, outcome, app_name, detail)
         SELECT now() - make_interval(days => i * 9), 'sent', 'old', 'event ' || i FROM generate_series(0, 99) i",
    )
    .execute(&pool)
    .await
    .expect("events before");
    let rows =
        "SELECT string_agg(concat_ws('|', id, at, outcome, app_name, detail), ',' ORDER BY id) FROM audit_events";
    let before: String = sqlx::query_scalar(rows).fetch_one(&pool).await.expect("rows");

    mailgate::db::MIGRATOR.run_to(PARTITIONING, &pool).await.expect("partitioning");
    let after: String = sqlx::query_scalar(rows).fetch_one(&pool).await.expect("rows");
    assert_eq!(after, before, "every event kept, with its id and time");
    // And the migrations after it leave them be.
    mailgate::db::MIGRATOR.run(&pool).await.expect("the later migrations");
    let after: String = sqlx::query_scalar(rows).fetch_one(&pool).await.expect("rows");
    assert_eq!(after, before, "every event kept by the later migrations");
    // About 30 months back, each with its partition, and this one and the next two.
    let parts = partitions(&pool).await;
    assert!(parts.len() >= 30 && parts.contains(&"audit_events_default".to_owned()), "{parts:?}");
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_events_default").await, 0, "every old month has its partition");
    let id: i64 = sqlx::query_scalar("INSERT INTO audit_events (outcome) VALUES ('queued') RETURNING id")
        .fetch_one(&pool)
        .await
        .expect("insert");
    assert_eq!(id, 101, "ids go on from the same sequence");
}

#[sqlx::test]
async fn the_service_adds_partitions_but_cannot_drop_or_delete(pool: PgPool) {
    let svc = PgPoolOptions::new()
        .max_connections(1)
        .connect(&service_url(&pool, &database_url(&pool).await).await)
        .await
        .expect("service");
    sqlx::query("INSERT INTO audit_events (outcome, detail) VALUES ('queued', 'kept')")
        .execute(&svc)
        .await
        .expect("append");
    let made: Vec<String> =
        sqlx::query_scalar("SELECT audit_events_ensure_partitions(4)").fetch_all(&svc).await.expect("ensure");
    assert_eq!(made.len(), 2, "the two months after the migration's three: {made:?}");
    let part = made[0].clone();
    let current: String = sqlx::query_scalar("SELECT tableoid::regclass::text FROM audit_events WHERE detail = 'kept'")
        .fetch_one(&pool)
        .await
        .expect("partition");
    for sql in [
        "SELECT * FROM audit_events_drop_partitions(1, false)".to_owned(),
        format!("DELETE FROM {current}"),
        format!("UPDATE {current} SET detail = 'rewritten'"),
        format!("TRUNCATE {current}"),
        format!("DROP TABLE {part}"),
        format!("ALTER TABLE audit_events DETACH PARTITION {part}"),
        format!("INSERT INTO {current} (outcome) VALUES ('sent')"),
        "SELECT audit_events_create_partition('2020-01-01')".to_owned(),
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&svc).await.expect_err(&sql);
        let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some(INSUFFICIENT_PRIVILEGE), "{sql}: {err}");
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_events WHERE detail = 'kept'").await, 1);
    assert!(partitions(&pool).await.contains(&part));
}

#[sqlx::test]
async fn audit_purge_drops_whole_months_past_the_retention(pool: PgPool) {
    let db = database_url(&pool).await;
    sqlx::query("SELECT audit_events_create_partition('2024-01-15Z')").execute(&pool).await.expect("old month");
    sqlx::query(
        "INSERT INTO audit_events (at, outcome, detail)
         SELECT '2024-01-15Z'::timestamptz, 'sent', 'old' FROM generate_series(1, 10)
         UNION ALL SELECT '2023-06-01Z', 'sent', 'in default' -- no partition for that month: the DEFAULT one
         UNION ALL SELECT now(), 'sent', 'new' FROM generate_series(1, 5)",
    )
    .execute(&pool)
    .await
    .expect("events");

    // Sealed into the hash chain, as the running service would: the purge must take the dropped rows' links too.
    let mut sealer = mailgate::audit_chain::sealer::Sealer::default();
    while count(&pool, "SELECT count(*) FROM audit_chain").await < 16 {
        sealer.tick(&pool).await.expect("seal");
    }

    let (ok, out, err) = purge(&db, &["--dry-run", "--older-than-days", "30"]);
    assert!(ok, "{err}");
    assert!(out.contains("would drop audit_events_2024_01 ") && out.contains("10 events"), "{out}");
    assert!(out.ends_with("would drop 1 partitions, 10 events, older than 30 days\n"), "{out}");
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_events").await, 16, "a dry run drops nothing");

    // A sealer mid-tick holds the seal lock: the purge waits for it (rather than deadlock with the sealer's write of
    // links), but at most its lock timeout, and then changes nothing.
    let mut sealing = pool.begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(mailgate::audit_chain::sealer::SEAL_LOCK)
        .execute(&mut *sealing)
        .await
        .expect("the seal lock");
    let (ok, _, err) = purge(&db, &[]);
    assert!(!ok && err.contains("lock timeout"), "{err}");
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_events").await, 16, "a timed-out purge drops nothing");
    sealing.rollback().await.expect("release");

    // The default retention, 400 days, is past January 2024 too; the setting is read.
    let (ok, out, err) = purge(&db, &[]);
    assert!(ok, "{err}");
    assert!(out.contains("dropped audit_events_2024_01 "), "{out}");
    assert!(out.ends_with("older than 400 days\n"), "{out}");
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_events WHERE detail = 'old'").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_events WHERE detail <> 'old'").await, 6, "the rest kept");
    let parts = partitions(&pool).await;
    assert!(!parts.contains(&"audit_events_2024_01".to_owned()) && parts.contains(&"audit_events_default".to_owned()));
    assert_eq!(parts.len(), 4, "this month, the next two and DEFAULT: {parts:?}");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_chain c WHERE NOT EXISTS (SELECT FROM audit_events e WHERE e.id = c.id)"
        )
        .await,
        0,
        "the dropped rows' links go with them"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_chain").await, 6, "the kept rows' links stay");
    let verified = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["audit", "verify"])
        .env_clear()
        .env("DATABASE_URL", &db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run mailgate audit verify");
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success(),
        "a purge is not tampering: {stdout}{}",
        String::from_utf8_lossy(&verified.stderr)
    );

    let (ok, out, _) = purge(&db, &["--older-than-days", "30"]);
    assert!(ok && out.ends_with("dropped 0 partitions, 0 events, older than 30 days\n"), "{out}");
    let (ok, _, err) = purge(&db, &["--older-than-days", "0"]);
    assert!(!ok && err.contains("--older-than-days"), "{err}");
}
