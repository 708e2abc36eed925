//! The audit log as tests prepare and check it: rows and partitions written as the owner, the service role's pool,
//! `mailgate audit verify`, and the hash chain sealed and changed behind the service's back.

use std::process::Command;

use mailgate::audit_chain::sealer::Sealer;
use mailgate::db::audit::{NewEvent, Outcome, record};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::db::database_url;
use super::logins::service_url;
use super::seed::ALLOWED;

/// Rows straight into the log as the owner: `n` events of `app`, ten to each `at` (so that ties on `at` are broken by
/// id), a second apart, spread back from now over `spread_days` (into older partitions and the DEFAULT one).
pub async fn fill(pool: &PgPool, app: &str, n: i64, spread_days: i64) -> Vec<i64> {
    sqlx::query_scalar(
        "INSERT INTO audit_events (at, outcome, app_name, mailbox, message_id, detail)
         SELECT now() - make_interval(secs => (i / 10) * 10 * $3 * 86400.0 / $2), (ARRAY['sent', 'queued', 'denied'])[i % 3 + 1],
                $1, 'box' || (i % 7) || '@contoso.test', gen_random_uuid(), 'row ' || i
           FROM generate_series(0, $2 - 1) i
         RETURNING id",
    )
    .bind(app)
    .bind(n)
    .bind(spread_days)
    .fetch_all(pool)
    .await
    .expect("fill")
}

/// Month partitions for the `months` months before this one (migrations make this month's and the next ones').
pub async fn past_partitions(pool: &PgPool, months: i32) {
    sqlx::query(
        "SELECT audit_events_create_partition(now() - make_interval(months => m)) FROM generate_series(1, $1) m",
    )
    .bind(months)
    .execute(pool)
    .await
    .expect("partitions");
}

/// A pool on the test database as the service role, and its URL.
pub async fn service_pool(pool: &PgPool) -> (PgPool, String) {
    let url = service_url(pool, &database_url(pool).await).await;
    let svc = PgPoolOptions::new().max_connections(3).connect(&url).await.expect("connect as the service");
    (svc, url)
}

/// `mailgate audit verify` with `extra` arguments against `db`: (success, stdout, stderr).
pub fn verify(db: &str, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["audit", "verify"])
        .args(extra)
        .env_clear()
        .env("DATABASE_URL", db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run mailgate audit verify");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `mailgate audit verify` must pass on `db`; returns its output.
pub fn verified(db: &str) -> String {
    let (ok, stdout, stderr) = verify(db, &[]);
    assert!(ok, "verify failed:\n{stdout}{stderr}");
    assert!(stdout.starts_with("ok: "), "{stdout}");
    stdout
}

/// Runs `sql` as the superuser with every trigger skipped, as a superuser rewriting history would.
pub async fn behind_the_back(pool: &PgPool, sql: &str) {
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.expect("replica role");
    let done = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut *tx).await.expect(sql);
    assert!(done.rows_affected() > 0, "{sql} changed nothing");
    tx.commit().await.expect("commit");
}

/// The ids of `table`, in order.
pub async fn ids(pool: &PgPool, table: &str) -> Vec<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT id FROM {table} ORDER BY id")))
        .fetch_all(pool)
        .await
        .expect("ids")
}

/// Ten audit rows through the service's own insert, as the service role, with a rolled-back id among them; then
/// sealed. Returns the ids of the rows and the rolled-back id.
pub async fn sealed_log(pool: &PgPool, svc: &PgPool) -> (Vec<i64>, i64) {
    for i in 0..10 {
        if i == 5 {
            let mut tx = svc.begin().await.expect("begin");
            record(&mut *tx, Outcome::Queued, NewEvent { detail: Some("rolled back"), ..Default::default() })
                .await
                .expect("record");
            tx.rollback().await.expect("rollback");
        }
        let detail = format!("event {i}");
        let e = NewEvent {
            app_name: Some("logic-app"),
            mailbox: Some(ALLOWED),
            attempt: (i % 2 == 0).then_some(1),
            http_status: Some(202),
            detail: Some(&detail),
            request_id: (i == 3).then_some(""),
            ..Default::default()
        };
        record(svc, Outcome::Sent, e).await.expect("record");
    }
    seal_all(pool, svc).await;
    let rows = ids(pool, "audit_events").await;
    let gap = (rows[0]..rows[rows.len() - 1]).find(|id| !rows.contains(id)).expect("a rolled-back id");
    (rows, gap)
}

/// Ticks a sealer (as the service role) until every audit row has a link.
pub async fn seal_all(pool: &PgPool, svc: &PgPool) {
    let mut sealer = Sealer::default();
    for _ in 0..20 {
        sealer.tick(svc).await.expect("seal");
        if ids(pool, "audit_chain").await.last() == ids(pool, "audit_events").await.last() {
            return;
        }
    }
    panic!("the sealer did not seal every row");
}
