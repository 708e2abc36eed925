//! Least privilege in Postgres: the service role `mailgate serve` runs as reads and appends to the audit log but can
//! neither change it nor the schema; the change trail believes a claimed actor only from the service or the owner;
//! migrations run as the owner, through their own setting.

use std::process::Command;
use std::time::Duration;

use graph_sim::SimConfig;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::support::client::post_once;
use crate::support::db::database_url;
use crate::support::logins::{SERVICE_LOGIN, ensure_login, service_url, with_login};
use crate::support::process::Mailgate;
use crate::support::seed::{ALLOWED, message, seed_demo};
use crate::support::wait::{try_poll, wait_until};

const INSUFFICIENT_PRIVILEGE: &str = "42501";

async fn connect(url: &str) -> PgPool {
    PgPoolOptions::new().max_connections(2).connect(url).await.unwrap_or_else(|e| panic!("connect as {url}: {e}"))
}

/// The service login's own pool on the per-test database.
async fn as_service(pool: &PgPool) -> PgPool {
    connect(&service_url(pool, &database_url(pool).await).await).await
}

/// Runs `sql`, which must fail for want of a privilege; returns the error's message.
async fn refused(db: &PgPool, sql: &str) -> String {
    let err = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(db).await.expect_err(sql);
    let db_err = err.as_database_error().unwrap_or_else(|| panic!("{sql}: not a database error: {err}"));
    assert_eq!(db_err.code().as_deref(), Some(INSUFFICIENT_PRIVILEGE), "{sql}: {db_err}");
    db_err.message().to_owned()
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(db).await.expect(sql)
}

/// Inserts an app in a transaction that claims `actor`, as the admin API does; returns the app's id.
async fn insert_app_as(db: &PgPool, actor: &str, name: &str) -> String {
    let mut tx = db.begin().await.expect("begin");
    sqlx::query("SELECT set_config('mailgate.actor', $1, true)").bind(actor).execute(&mut *tx).await.expect("actor");
    let id: String =
        sqlx::query_scalar("INSERT INTO apps (id, name) VALUES (gen_random_uuid(), $1) RETURNING id::text")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .expect("insert app");
    sqlx::query("UPDATE apps SET roles = '{Audit.Read}' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .expect("update app");
    tx.commit().await.expect("commit");
    id
}

async fn actors_of(owner: &PgPool, id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT actor FROM change_events WHERE object_type = 'apps' AND object_key = $1 ORDER BY id")
        .bind(id)
        .fetch_all(owner)
        .await
        .expect("actors")
}

#[sqlx::test]
async fn the_service_role_appends_to_the_audit_log_but_cannot_change_it(pool: PgPool) {
    let svc = as_service(&pool).await;
    sqlx::query("INSERT INTO audit_events (outcome, detail) VALUES ('queued', 'kept')")
        .execute(&svc)
        .await
        .expect("the service appends audit events");
    insert_app_as(&svc, "http:admin-app", "kept-app").await;
    let audit = count(&svc, "SELECT count(*) FROM audit_events").await;
    let changes = count(&svc, "SELECT count(*) FROM change_events").await;
    assert_eq!((audit, changes), (1, 2), "the service reads both logs");

    for sql in [
        "UPDATE audit_events SET detail = 'rewritten'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE change_events SET actor = 'someone else'",
        "DELETE FROM change_events",
        "TRUNCATE change_events",
        // Only the triggers write the change trail: no row the database did not see happen.
        "INSERT INTO change_events (actor, action, object_type) VALUES ('http:admin-app', 'delete', 'apps')",
    ] {
        refused(&svc, sql).await;
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_events WHERE detail = 'kept'").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM change_events").await, 2);
}

#[sqlx::test]
async fn the_service_role_cannot_change_the_schema(pool: PgPool) {
    let svc = as_service(&pool).await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(&pool)
            .await
            .expect("tables");
    assert!(tables.contains(&"audit_events".to_owned()) && tables.contains(&"messages".to_owned()), "{tables:?}");
    for table in &tables {
        refused(&svc, &format!("DROP TABLE {table} CASCADE")).await;
        refused(&svc, &format!("ALTER TABLE {table} DISABLE TRIGGER ALL")).await;
    }
    for sql in [
        "DROP TRIGGER audit_events_no_change ON audit_events",
        "DROP TRIGGER audit_events_no_truncate ON audit_events",
        "DROP TRIGGER change_events_no_change ON change_events",
        "DROP TRIGGER apps_audit ON apps",
        "DROP FUNCTION record_change() CASCADE",
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
        "ALTER TABLE audit_events ADD COLUMN note text",
        "CREATE INDEX ON audit_events (detail)",
        "CREATE TABLE shadow (id int)",
        "CREATE TEMPORARY TABLE shadow (id int)",
        "CREATE FUNCTION shadow() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE SCHEMA shadow",
        // Replica mode would skip every trigger.
        "SET session_replication_role = replica",
    ] {
        refused(&svc, sql).await;
    }

    // What a later migration could get wrong, checked in the catalog: the service owns nothing, holds no TRUNCATE,
    // REFERENCES or TRIGGER anywhere, and every append-only table (one with the guard trigger) is guarded against
    // UPDATE, DELETE and TRUNCATE and is not the service's to change.
    let owned = count(
        &pool,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND pg_has_role('mailgate_service', c.relowner, 'MEMBER')",
    )
    .await;
    assert_eq!(owned, 0, "the service role owns objects");
    let broad: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            AND has_table_privilege('mailgate_service', c.oid, 'TRUNCATE, REFERENCES, TRIGGER')",
    )
    .fetch_all(&pool)
    .await
    .expect("privileges");
    assert!(broad.is_empty(), "the service may truncate, reference or add triggers to {broad:?}");
    let append_only: Vec<(String, bool, bool, bool)> = sqlx::query_as(
        // Append-only: every table the service may add rows to but not change, and the change trail, which only
        // the database's triggers write. Each must carry both guards, whatever a future migration forgets.
        "SELECT c.relname::text,
                has_any_column_privilege('mailgate_service', c.oid, 'UPDATE')
                    OR has_table_privilege('mailgate_service', c.oid, 'DELETE'),
                coalesce(bool_or(t.tgfoid = 'audit_events_append_only'::regproc AND t.tgtype & 27 = 27), false),
                coalesce(bool_or(t.tgfoid = 'audit_events_append_only'::regproc AND t.tgtype & 34 = 34), false)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_trigger t ON t.tgrelid = c.oid
          WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            -- A policy's apps: never changed, removed only with their policy (a cascade, run as the owner).
            AND c.relname <> 'access_policy_apps'
            AND (c.relname = 'change_events'
                 -- Column grants count: the service inserts some columns of audit_events, updates some of messages.
                 OR (has_any_column_privilege('mailgate_service', c.oid, 'INSERT')
                     AND NOT has_any_column_privilege('mailgate_service', c.oid, 'UPDATE')
                     AND NOT has_table_privilege('mailgate_service', c.oid, 'DELETE')))
          GROUP BY c.oid, c.relname ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("append-only tables");
    let names: Vec<&str> = append_only.iter().map(|(t, ..)| t.as_str()).collect();
    assert_eq!(names, ["audit_chain", "audit_events", "audit_seals", "change_events", "drift_events"]);
    for &(ref table, service_changes, row_guard, truncate_guard) in &append_only {
        assert!(!service_changes, "the service may update or delete {table}");
        assert!(row_guard && truncate_guard, "{table} lacks a guard: row {row_guard}, truncate {truncate_guard}");
    }
    // The audit log's partitions: each guarded as its parent, and none the service may touch but through it.
    let partitions: Vec<(String, bool, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text,
                has_table_privilege('mailgate_service', c.oid, 'SELECT, INSERT, UPDATE, DELETE'),
                coalesce(bool_or(t.tgfoid = 'audit_events_append_only'::regproc AND t.tgtype & 27 = 27), false),
                coalesce(bool_or(t.tgfoid = 'audit_events_append_only'::regproc AND t.tgtype & 34 = 34), false)
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           LEFT JOIN pg_trigger t ON t.tgrelid = c.oid
          WHERE i.inhparent = 'audit_events'::regclass
          GROUP BY c.oid, c.relname ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("partitions");
    assert!(partitions.len() >= 4, "this month, the next two and DEFAULT: {partitions:?}");
    for &(ref part, service_may, row_guard, truncate_guard) in &partitions {
        assert!(!service_may, "the service may read or write {part} directly");
        assert!(row_guard && truncate_guard, "{part} lacks a guard: row {row_guard}, truncate {truncate_guard}");
    }
}

#[sqlx::test]
async fn truncating_the_audit_log_is_refused_even_for_the_owner(pool: PgPool) {
    sqlx::query("INSERT INTO audit_events (outcome) VALUES ('queued')").execute(&pool).await.expect("insert");
    insert_app_as(&pool, "cli:root", "an-app").await;
    for table in ["audit_events", "change_events"] {
        let message = refused(&pool, &format!("TRUNCATE {table}")).await;
        assert_eq!(message, format!("{table} is append-only"));
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_events").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM change_events").await, 2);
}

#[sqlx::test]
async fn an_unrelated_login_cannot_claim_an_actor_in_the_change_trail(pool: PgPool) {
    const INTRUDER: &str = "mailgate_test_intruder";
    ensure_login(&pool, INTRUDER, "intruder-password", None).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("GRANT SELECT, INSERT, UPDATE ON apps TO {INTRUDER}")))
        .execute(&pool)
        .await
        .expect("grant");
    let intruder = connect(&with_login(&database_url(&pool).await, INTRUDER, "intruder-password")).await;

    let forged = insert_app_as(&intruder, "http:admin-app", "forged").await;
    assert_eq!(actors_of(&pool, &forged).await, vec![format!("{INTRUDER} (direct SQL)"); 2]);
    refused(&intruder, "INSERT INTO change_events (actor, action, object_type) VALUES ('http:admin-app', 'x', 'apps')")
        .await;

    // The same claim from the service role, and from the owner, is believed.
    let svc = as_service(&pool).await;
    let real = insert_app_as(&svc, "http:admin-app", "real").await;
    assert_eq!(actors_of(&pool, &real).await, vec!["http:admin-app".to_owned(); 2]);
    let by_owner = insert_app_as(&pool, "cli:root", "by-owner").await;
    assert_eq!(actors_of(&pool, &by_owner).await, vec!["cli:root".to_owned(); 2]);
}

/// Runs the binary to its end with a clean environment plus `env`; (success, stderr).
async fn run_mailgate(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = tokio::process::Command::from(Command::new(env!("CARGO_BIN_EXE_mailgate")));
    cmd.args(args)
        .env_clear()
        .env("MAILGATE_LISTEN", "127.0.0.1:0")
        .env("MAILGATE_GRAPH_URL", "http://127.0.0.1:9")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("mailgate {args:?} did not finish"))
        .expect("run mailgate");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[sqlx::test(migrations = false)]
async fn the_service_role_alone_cannot_migrate_and_the_error_names_the_setting(pool: PgPool) {
    let owner = database_url(&pool).await;
    let svc = service_url(&pool, &owner).await;
    for command in ["migrate", "serve"] {
        let (ok, stderr) = run_mailgate(&[command], &[("DATABASE_URL", &svc)]).await;
        assert!(!ok, "{command} as the service role migrated");
        assert!(stderr.contains("MAILGATE_MIGRATION_DATABASE_URL"), "{command}: {stderr}");
        assert!(stderr.contains("permission denied"), "{command}: {stderr}");
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").await, 0);

    let (ok, stderr) =
        run_mailgate(&["migrate"], &[("DATABASE_URL", &svc), ("MAILGATE_MIGRATION_DATABASE_URL", &owner)]).await;
    assert!(ok, "{stderr}");
    let by_others =
        count(&pool, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> current_user").await;
    assert_eq!(by_others, 0, "every table belongs to the owner that migrated");
    let applied = count(&pool, "SELECT count(*) FROM _sqlx_migrations WHERE success").await;
    assert_eq!(applied, mailgate::db::MIGRATOR.iter().count() as i64);
}

#[sqlx::test(migrations = false)]
async fn serve_migrates_as_the_owner_at_start_and_sends_as_the_service_role(pool: PgPool) {
    let owner = database_url(&pool).await;
    let svc = service_url(&pool, &owner).await;
    let sim = crate::support::graph_sim::sim(SimConfig::default()).await;
    let env = [("MAILGATE_MIGRATION_DATABASE_URL".to_owned(), owner.clone())];
    let mailgate = Mailgate::start(&svc, &sim, &env);
    assert!(count(&pool, "SELECT count(*) FROM pg_tables WHERE tablename = 'audit_events'").await == 1);

    let demo = seed_demo(&pool).await;
    let http = reqwest::Client::new();
    // The new policy reaches the process through NOTIFY; until then the answer may be a denial.
    let accepted = try_poll(Duration::from_secs(10), || async {
        post_once(&http, &mailgate.base, &demo.key, &message(ALLOWED)).await.id
    });
    let id = match accepted.await {
        Some(id) => id,
        None => {
            let posted = post_once(&http, &mailgate.base, &demo.key, &message(ALLOWED)).await;
            panic!("never accepted: {posted:?}\n{}", mailgate.logs())
        }
    };
    wait_until("the message is sent", Duration::from_secs(20), || {
        let (pool, id) = (pool.clone(), id.clone());
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM messages WHERE id = $1::uuid")
                .bind(&id)
                .fetch_one(&pool)
                .await
                .is_ok_and(|s| s == "sent")
        }
    })
    .await;
    let logins: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT usename::text FROM pg_stat_activity WHERE datname = current_database() AND usename <> current_user",
    )
    .fetch_all(&pool)
    .await
    .expect("logins");
    assert_eq!(logins, vec![SERVICE_LOGIN.to_owned()], "serve's connections");
}

#[sqlx::test(migrations = false)]
async fn with_one_url_naming_the_owner_serve_still_migrates_at_start(pool: PgPool) {
    let owner = database_url(&pool).await;
    let sim = crate::support::graph_sim::sim(SimConfig::default()).await;
    let _mailgate = Mailgate::start(&owner, &sim, &[]);
    let applied = count(&pool, "SELECT count(*) FROM _sqlx_migrations WHERE success").await;
    assert_eq!(applied, mailgate::db::MIGRATOR.iter().count() as i64);
}
