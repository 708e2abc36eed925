//! The audit log's hash chain, on real Postgres: the sealer links what the service audits, `mailgate audit verify`
//! passes on an untouched log and names the id of each change a superuser makes behind the service's back, the
//! sealer never seals past an id a still-open transaction may commit, and the service role cannot change the chain.

use std::time::Duration;

use mailgate::audit_chain::canonical::{self, COLUMNS};
use mailgate::audit_chain::sealer::Sealer;
use mailgate::audit_chain::{hex, link, to_link};
use mailgate::db::audit::{NewEvent, Outcome, record};
use mailgate::db::audit_chain::{ChainRow, SELECT};
use serde_json::Value;
use sqlx::PgPool;

use crate::support::audit::{behind_the_back, ids, sealed_log, service_pool, verified, verify};
use crate::support::db::database_url;
use crate::support::seed::{ALLOWED, OUTSIDE, message};
use crate::support::server::spawn;
use crate::support::wait::wait_until;

const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Verify must fail, and its output must hold `line`.
fn refuted(db: &str, line: &str) -> String {
    let (ok, stdout, stderr) = verify(db, &[]);
    assert!(!ok, "verify passed, expected `{line}`:\n{stdout}");
    assert!(stdout.lines().any(|l| l == line), "expected the line `{line}` in:\n{stdout}");
    assert!(stdout.contains("TAMPERED") && stderr.contains("does not match its hash chain"), "{stdout}{stderr}");
    stdout
}

#[sqlx::test]
async fn the_running_service_seals_what_it_audits(pool: PgPool) {
    let app = spawn().env("MAILGATE_AUDIT_SEAL_SECS", "1").start(pool).await;
    for _ in 0..3 {
        let posted: Value = app.post_message(&message(ALLOWED)).await.json().await.expect("json");
        app.wait_final(posted["id"].as_str().expect("id")).await;
    }
    assert_eq!(app.post_message(&message(OUTSIDE)).await.status(), 403);
    let last = *ids(&app.pool, "audit_events").await.last().expect("audit rows");
    wait_until("the sealer links every audit row", Duration::from_secs(60), || {
        let pool = app.pool.clone();
        async move { ids(&pool, "audit_chain").await.last() == Some(&last) }
    })
    .await;

    // As the service role, read-only.
    let rows = app.count("SELECT count(*) FROM audit_events").await;
    let out = verified(&app.db_url);
    assert!(out.contains(&format!("ok: {rows} rows verified")), "{out}");
    assert!(out.contains(&format!("last sealed id {last}")), "{out}");
    let head = out.trim_end().rsplit(' ').next().expect("head").to_owned();
    assert_eq!(head.len(), 64, "{out}");
    // The head was logged, so it can be kept outside the database; kept, it is checked.
    let logs = app.logs();
    assert!(logs.lines().any(|l| l.contains("sealed audit rows") && l.contains(&head)), "head not logged:\n{logs}");
    let (ok, out, _) = verify(&app.db_url, &["--expect-head", &head]);
    assert!(ok && out.contains(&format!("expected head: found at id {last}")), "{out}");
    let (ok, out, _) = verify(&app.db_url, &["--expect-head", &"ab".repeat(32)]);
    assert!(!ok && out.contains("expected head: not found"), "{out}");
    let (ok, _, err) = verify(&app.db_url, &["--expect-head", "abc"]);
    assert!(!ok && err.contains("--expect-head must be 64 hex digits"), "{err}");

    let sent: i64 = app.count("SELECT min(id) FROM audit_events WHERE outcome = 'sent'").await;
    behind_the_back(&app.pool, &format!("UPDATE audit_events SET http_status = 200 WHERE id = {sent}")).await;
    let (ok, out, _) = verify(&app.db_url, &[]);
    assert!(!ok && out.lines().any(|l| l.starts_with(&format!("id {sent}: row altered: "))), "{out}");
}

#[sqlx::test]
async fn an_untouched_log_verifies_for_the_service_and_the_owner(pool: PgPool) {
    let (svc, svc_url) = service_pool(&pool).await;
    let (rows, _) = sealed_log(&pool, &svc).await;
    for db in [svc_url, database_url(&pool).await] {
        let out = verified(&db);
        // The rolled-back id is a gap, not a finding.
        assert!(out.contains(&format!("ok: {} rows verified, 0 not sealed yet", rows.len())), "{out}");
    }
    // A row written after the last seal is not yet sealed, and not wrong.
    record(&svc, Outcome::Denied, NewEvent::default()).await.expect("record");
    assert!(verified(&database_url(&pool).await).contains(", 1 not sealed yet"));
}

#[sqlx::test]
async fn an_altered_row_is_named(pool: PgPool) {
    let (svc, url) = service_pool(&pool).await;
    let (rows, _) = sealed_log(&pool, &svc).await;
    behind_the_back(&pool, &format!("UPDATE audit_events SET detail = 'nothing happened' WHERE id = {}", rows[2]))
        .await;
    refuted(&url, &format!("id {}: row altered: it no longer matches its link", rows[2]));
}

#[sqlx::test]
async fn a_removed_row_is_named(pool: PgPool) {
    let (svc, url) = service_pool(&pool).await;
    let (rows, _) = sealed_log(&pool, &svc).await;
    behind_the_back(&pool, &format!("DELETE FROM audit_events WHERE id = {}", rows[3])).await;
    refuted(&url, &format!("id {}: row removed: its link remains", rows[3]));
}

#[sqlx::test]
async fn a_row_inserted_into_the_sealed_range_is_named(pool: PgPool) {
    let (svc, url) = service_pool(&pool).await;
    let (_, gap) = sealed_log(&pool, &svc).await;
    behind_the_back(&pool, &format!("INSERT INTO audit_events (id, outcome, detail) VALUES ({gap}, 'sent', 'forged')"))
        .await;
    refuted(&url, &format!("id {gap}: row inserted into the sealed range: the chain skips it"));
}

#[sqlx::test]
async fn an_altered_link_is_named(pool: PgPool) {
    let (svc, url) = service_pool(&pool).await;
    let (rows, _) = sealed_log(&pool, &svc).await;
    behind_the_back(&pool, &format!("UPDATE audit_chain SET link = sha256('forged') WHERE id = {}", rows[4])).await;
    refuted(&url, &format!("id {}: link altered: the row matches the chain, its stored link does not", rows[4]));
}

/// A superuser who rewrites a row and recomputes its link (the canonical bytes are documented) is caught by the seal;
/// one who rewrites the seal too, only by a head kept outside the database.
#[sqlx::test]
async fn a_consistent_rewrite_is_caught_by_the_seal_and_then_only_by_a_kept_head(pool: PgPool) {
    let (svc, url) = service_pool(&pool).await;
    let (rows, _) = sealed_log(&pool, &svc).await;
    let kept = verified(&url).trim_end().rsplit(' ').next().expect("head").to_owned();
    let last = rows[rows.len() - 1];
    behind_the_back(&pool, &format!("UPDATE audit_events SET detail = 'nothing happened' WHERE id = {last}")).await;
    let row: ChainRow =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {SELECT} FROM audit_events WHERE id = {last}")))
            .fetch_one(&pool)
            .await
            .expect("row");
    let prev: Vec<u8> = sqlx::query_scalar("SELECT link FROM audit_chain WHERE id < $1 ORDER BY id DESC LIMIT 1")
        .bind(last)
        .fetch_one(&pool)
        .await
        .expect("previous link");
    let forged = hex(&link(&to_link(&prev), &canonical::bytes(&row)));
    behind_the_back(&pool, &format!("UPDATE audit_chain SET link = decode('{forged}', 'hex') WHERE id = {last}")).await;
    let (ok, out, _) = verify(&url, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("id {last}: seal ")) && l.ends_with("its head is not the link at this id")),
        "{out}"
    );

    behind_the_back(&pool, &format!("UPDATE audit_seals SET head = decode('{forged}', 'hex') WHERE last_id = {last}"))
        .await;
    let out = verified(&url);
    assert!(out.contains(&forged), "{out}");
    let (ok, out, _) = verify(&url, &["--expect-head", &kept]);
    assert!(!ok && out.contains("expected head: not found"), "{out}");
}

#[sqlx::test]
async fn a_purged_prefix_is_not_tampering(pool: PgPool) {
    let (svc, url) = service_pool(&pool).await;
    let (rows, _) = sealed_log(&pool, &svc).await;
    // As the purge of old months does: rows and their links go together, by the owner; the seals stay.
    let cut = rows[4];
    behind_the_back(&pool, &format!("DELETE FROM audit_events WHERE id <= {cut}")).await;
    behind_the_back(&pool, &format!("DELETE FROM audit_chain WHERE id <= {cut}")).await;
    let out = verified(&url);
    // The first remaining link is the trusted start: its row is not checkable, the rest are.
    assert!(out.contains(&format!("ok: {} rows verified", rows.len() - 6)), "{out}");
    // Changes after the start are still found.
    behind_the_back(&pool, &format!("UPDATE audit_events SET detail = 'x' WHERE id = {}", rows[7])).await;
    refuted(&url, &format!("id {}: row altered: it no longer matches its link", rows[7]));
}

#[sqlx::test]
async fn the_sealer_never_seals_past_an_open_transactions_id(pool: PgPool) {
    let (svc, url) = service_pool(&pool).await;
    let mut open = svc.begin().await.expect("begin");
    record(&mut *open, Outcome::Queued, NewEvent { detail: Some("committed last"), ..Default::default() })
        .await
        .expect("record");
    record(&svc, Outcome::Sent, NewEvent { detail: Some("committed first"), ..Default::default() })
        .await
        .expect("record");
    let later = ids(&pool, "audit_events").await;
    assert_eq!(later.len(), 1, "the open transaction's row is not visible yet");

    let mut sealer = Sealer::default();
    for _ in 0..3 {
        let sealed = sealer.tick(&svc).await.expect("tick");
        assert!(sealed.is_empty(), "sealed while a lower id was open: {sealed:?}");
    }
    assert!(ids(&pool, "audit_chain").await.is_empty());

    open.commit().await.expect("commit");
    let sealed = sealer.tick(&svc).await.expect("tick");
    let rows = ids(&pool, "audit_events").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(sealed.iter().map(|s| s.rows).sum::<i64>(), 2, "{sealed:?}");
    assert_eq!(ids(&pool, "audit_chain").await, rows);
    verified(&url);
}

/// An id drawn before its row is written belongs to a transaction without a transaction id yet (nextval assigns
/// none), which a snapshot's xmin does not see; the sequence's lock does. (The owner's session: the service may not
/// give a row an id of its choosing.)
#[sqlx::test]
async fn an_id_drawn_before_its_row_is_written_holds_the_seal_back(pool: PgPool) {
    let (svc, url) = service_pool(&pool).await;
    let mut open = pool.begin().await.expect("begin");
    let drawn: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('audit_events', 'id'))")
        .fetch_one(&mut *open)
        .await
        .expect("nextval");
    record(&svc, Outcome::Sent, NewEvent { detail: Some("committed first"), ..Default::default() })
        .await
        .expect("record");
    let mut sealer = Sealer::default();
    assert!(sealer.tick(&svc).await.expect("tick").is_empty());
    sqlx::query("INSERT INTO audit_events (id, outcome, detail) VALUES ($1, 'queued', 'written late')")
        .bind(drawn)
        .execute(&mut *open)
        .await
        .expect("insert");
    assert!(sealer.tick(&svc).await.expect("tick").is_empty());
    open.commit().await.expect("commit");
    sealer.tick(&svc).await.expect("tick");
    assert_eq!(ids(&pool, "audit_chain").await, ids(&pool, "audit_events").await);
    verified(&url);
}

#[sqlx::test]
async fn the_service_role_cannot_change_the_chain(pool: PgPool) {
    let (svc, _) = service_pool(&pool).await;
    sealed_log(&pool, &svc).await;
    for sql in [
        "UPDATE audit_chain SET link = sha256('x')",
        "DELETE FROM audit_chain",
        "TRUNCATE audit_chain",
        "UPDATE audit_seals SET head = sha256('x')",
        "DELETE FROM audit_seals",
        "TRUNCATE audit_seals",
        "ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_no_change",
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&svc).await.expect_err(sql);
        let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some(INSUFFICIENT_PRIVILEGE), "{sql}: {err}");
    }
    // Even the owner's UPDATE or DELETE meets the append-only guard unless it disables it first.
    for sql in ["UPDATE audit_chain SET link = sha256('x')", "DELETE FROM audit_seals"] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&pool).await.expect_err(sql);
        assert!(err.to_string().contains("is append-only"), "{sql}: {err}");
    }
    verified(&database_url(&pool).await);
}

/// A column added to audit_events must be added to the canonical bytes too, or the chain would not cover it.
#[sqlx::test]
async fn the_canonical_bytes_cover_every_column(pool: PgPool) {
    let mut columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = 'audit_events'",
    )
    .fetch_all(&pool)
    .await
    .expect("columns");
    columns.sort();
    let mut canonical: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    canonical.sort();
    assert_eq!(columns, canonical);
}
