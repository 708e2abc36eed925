//! What keeps the audit log's upkeep going against a session holding the service's credentials: links appended only
//! in turn (one out of turn stopped the sealer for good), audit rows whose id and time the database chooses (a
//! future one blocked its month's partition), and `mailgate audit verify` failing on rows left unsealed too long.

use mailgate::audit_chain::sealer::Sealer;
use mailgate::db::audit::{NewEvent, Outcome, record};
use sqlx::PgPool;

use crate::support::audit::{behind_the_back, ids, sealed_log, service_pool, verified, verify};
use crate::support::db::database_url;

const INSUFFICIENT_PRIVILEGE: &str = "42501";
const CHECK_VIOLATION: &str = "23514";

/// Runs `sql` on `db`, which must refuse it with SQLSTATE `code`; returns the message.
async fn refused_with(db: &PgPool, code: &str, sql: &str) -> String {
    let err = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(db).await.expect_err(sql);
    let db_err = err.as_database_error().unwrap_or_else(|| panic!("{sql}: {err}"));
    assert_eq!(db_err.code().as_deref(), Some(code), "{sql}: {db_err}");
    db_err.message().to_owned()
}

#[sqlx::test]
async fn links_are_appended_only_in_turn(pool: PgPool) {
    let (svc, url) = service_pool(&pool).await;
    let (rows, gap) = sealed_log(&pool, &svc).await;
    for _ in 0..2 {
        record(&svc, Outcome::Sent, NewEvent { detail: Some("after the seal"), ..Default::default() })
            .await
            .expect("record");
    }
    let all = ids(&pool, "audit_events").await;
    let (next, after) = (all[rows.len()], all[rows.len() + 1]);

    // One link far ahead used to stop the sealer for good: it continues after the highest link.
    let far =
        refused_with(&svc, CHECK_VIOLATION, "INSERT INTO audit_chain VALUES (9223372036854775807, sha256('x'))").await;
    assert!(far.contains("without its audit row"), "{far}");
    // A real row's link that skips the one before it, one inside the sealed range, one for a rolled-back id.
    let skipping =
        refused_with(&svc, CHECK_VIOLATION, &format!("INSERT INTO audit_chain VALUES ({after}, sha256('x'))")).await;
    assert!(skipping.contains("cover every audit row"), "{skipping}");
    let below =
        refused_with(&svc, CHECK_VIOLATION, &format!("INSERT INTO audit_chain VALUES ({}, sha256('x'))", rows[0] - 1))
            .await;
    assert!(below.contains("without its audit row") || below.contains("after the last link"), "{below}");
    refused_with(&svc, CHECK_VIOLATION, &format!("INSERT INTO audit_chain VALUES ({gap}, sha256('x'))")).await;
    // The owner is held to the same order (only disabling the trigger, as a superuser rewriting history may, skips it).
    refused_with(&pool, CHECK_VIOLATION, "INSERT INTO audit_chain VALUES (9223372036854775807, sha256('x'))").await;

    // The sealer carries on, and the log verifies.
    let mut sealer = Sealer::default();
    let sealed = sealer.tick(&svc).await.expect("tick");
    assert_eq!(sealed.iter().map(|s| s.rows).sum::<i64>(), 2, "{sealed:?}");
    assert_eq!(ids(&pool, "audit_chain").await.last(), Some(&after));
    assert!(ids(&pool, "audit_chain").await.contains(&next));
    verified(&url);
}

#[sqlx::test]
async fn the_database_chooses_an_audit_rows_id_and_time(pool: PgPool) {
    let (svc, _) = service_pool(&pool).await;
    for sql in [
        "INSERT INTO audit_events (id, outcome) VALUES (9223372036854775807, 'sent')",
        "INSERT INTO audit_events (at, outcome) VALUES (now() + interval '1 year', 'sent')",
        "INSERT INTO audit_events (at, outcome) VALUES (now() - interval '1 year', 'sent')",
    ] {
        refused_with(&svc, INSUFFICIENT_PRIVILEGE, sql).await;
    }
    record(&svc, Outcome::Queued, NewEvent::default()).await.expect("the service still appends");

    // A row dated in a month without its partition yet would land in DEFAULT and block that month: refused from
    // anyone. Past rows that no partition takes are still kept there.
    let ahead =
        "INSERT INTO audit_events (at, outcome) VALUES (date_trunc('month', now()) + interval '7 months', 'sent')";
    let msg = refused_with(&pool, CHECK_VIOLATION, ahead).await;
    assert!(msg.contains("in the future"), "{msg}");
    sqlx::query("INSERT INTO audit_events (at, outcome) VALUES ('2020-03-01Z', 'sent')")
        .execute(&pool)
        .await
        .expect("a past row in DEFAULT");
    let made: Vec<String> =
        sqlx::query_scalar("SELECT audit_events_ensure_partitions(8)").fetch_all(&svc).await.expect("ensure");
    assert_eq!(made.len(), 6, "every month up to eight ahead is made: {made:?}");
    sqlx::query(ahead).execute(&pool).await.expect("its partition takes the row now");
}

#[sqlx::test]
async fn verify_fails_on_a_link_without_a_row_and_on_rows_left_unsealed(pool: PgPool) {
    let (svc, url) = service_pool(&pool).await;
    sealed_log(&pool, &svc).await;
    let owner = database_url(&pool).await;

    // A row written an hour ago and never sealed (the sealer stopped, or never ran): past the default horizon.
    behind_the_back(
        &pool,
        "INSERT INTO audit_events (at, outcome, detail) VALUES (now() - interval '1 hour', 'sent', 'stale')",
    )
    .await;
    let stale: i64 =
        sqlx::query_scalar("SELECT id FROM audit_events WHERE detail = 'stale'").fetch_one(&pool).await.expect("id");
    let (ok, out, err) = verify(&url, &[]);
    assert!(!ok, "{out}");
    assert!(out.lines().any(|l| l.starts_with(&format!("id {stale}: not sealed "))), "{out}");
    assert!(err.contains("--max-unsealed-secs"), "{err}");
    let (ok, out, _) = verify(&url, &["--max-unsealed-secs", "7200"]);
    assert!(ok, "within a longer horizon it is only not sealed yet: {out}");
    let (ok, _, err) = verify(&url, &["--max-unsealed-secs", "0"]);
    assert!(!ok && err.contains("--max-unsealed-secs"), "{err}");

    // Sealed, it verifies; then a link without its row, written behind the database's back.
    Sealer::default().tick(&svc).await.expect("tick");
    verified(&owner);
    behind_the_back(&pool, "INSERT INTO audit_chain VALUES (9223372036854775807, sha256('x'))").await;
    let (ok, out, _) = verify(&url, &[]);
    assert!(!ok, "{out}");
    assert!(out.lines().any(|l| l.starts_with("id 9223372036854775807: link without a row")), "{out}");
}
