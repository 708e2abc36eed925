//! How far the sealer may seal: past no id a transaction could still commit.
//!
//! Ids come from audit_events' sequence at insert but commit in any order, and a transaction may draw an id before it
//! has a transaction id (nextval assigns none), so a snapshot's xmin cannot say which ids are still in flight. What
//! can: every transaction that drew an id holds a lock on the sequence until it ends. So a horizon is read in two
//! steps — first S, the sequence's last value, then the transactions holding that lock — and every id up to S is
//! settled (committed or gone for good) once those transactions have ended: any other that drew an id up to S had
//! drawn it, so taken the lock, before S was read, and had already ended when the holders were read.

use sqlx::PgPool;

/// A sequence value and the transactions (virtual transaction ids, which also name prepared transactions) that held
/// the sequence's lock just after it was read.
#[derive(Debug, Clone)]
pub struct Horizon {
    pub upto: i64,
    pub holders: Vec<String>,
}

const SEQUENCE: &str = "pg_get_serial_sequence('audit_events', 'id')::regclass";

/// Lockers of the sequence in this database, other than this session, in the mode `nextval` takes (RowExclusiveLock,
/// held to the end of the transaction): a reader of the sequence (`pg_dump`, a monitoring query) holds nothing back.
fn holders_sql(filter: &str) -> String {
    format!(
        "FROM pg_locks
          WHERE locktype = 'relation' AND relation = {SEQUENCE} AND mode = 'RowExclusiveLock'
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND pid IS DISTINCT FROM pg_backend_pid() {filter}"
    )
}

/// Reads S, then its holders: in two statements, in this order (see the module's comment).
pub async fn observe(pool: &PgPool) -> anyhow::Result<Horizon> {
    let (owned, upto): (bool, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SEQUENCE} IS NOT NULL, coalesce(pg_sequence_last_value({SEQUENCE}), 0)"
    )))
    .fetch_one(pool)
    .await?;
    // Without it the horizon would stay at 0 and nothing would ever be sealed, silently.
    anyhow::ensure!(owned, "audit_events.id has no sequence of its own (ALTER SEQUENCE … OWNED BY audit_events.id)");
    let holders: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{{}}') {}",
        holders_sql("")
    )))
    .fetch_one(pool)
    .await?;
    Ok(Horizon { upto, holders })
}

/// Whether every holder has ended, so every id up to `upto` is settled.
pub async fn settled(pool: &PgPool, h: &Horizon) -> Result<bool, sqlx::Error> {
    if h.holders.is_empty() {
        return Ok(true);
    }
    let left: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT {} )",
        holders_sql("AND virtualtransaction = ANY ($1)")
    )))
    .bind(&h.holders)
    .fetch_one(pool)
    .await?;
    Ok(!left)
}
