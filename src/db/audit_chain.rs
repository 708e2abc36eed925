//! The audit chain's writes and the reads the sealer makes: the sequence horizon, the last link, the rows to link,
//! the links and seals appended. What the chain is: src/audit_chain/.

use futures::stream::BoxStream;
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// One audit row, every column: what its link covers (the bytes: audit_chain::canonical).
#[derive(Debug, Clone, FromRow)]
pub struct ChainRow {
    pub id: i64,
    pub at: OffsetDateTime,
    pub outcome: String,
    pub app_id: Option<Uuid>,
    pub app_name: Option<String>,
    pub mailbox: Option<String>,
    pub message_id: Option<Uuid>,
    pub attempt: Option<i32>,
    pub http_status: Option<i32>,
    pub graph_code: Option<String>,
    pub graph_request_id: Option<String>,
    pub latency_ms: Option<i32>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

/// `ChainRow`'s columns as a select list, in the canonical order (audit_chain::canonical::COLUMNS).
pub const SELECT: &str = "id, at, outcome, app_id, app_name, mailbox, message_id, attempt, http_status, graph_code,
                          graph_request_id, latency_ms, request_id, detail";

/// The advisory lock key sealing takes.
pub const SEAL_LOCK: i64 = 0x6d67_2d73_6561_6c73; // "mg-seals"

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

/// Whether audit_events.id owns a sequence, and that sequence's last value (0 before the first).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn sequence_last_value(pool: &PgPool) -> Result<(bool, i64), sqlx::Error> {
    // Dynamic: SEQUENCE is shared text, spliced in (a regclass expression, not a parameter).
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SEQUENCE} IS NOT NULL, coalesce(pg_sequence_last_value({SEQUENCE}), 0)"
    )))
    .fetch_one(pool)
    .await
}

/// The virtual transaction ids holding the sequence's lock now.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn sequence_holders(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    // Dynamic: the lock filter is shared by this and the next statement (holders_sql).
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{{}}') {}",
        holders_sql("")
    )))
    .fetch_one(pool)
    .await
}

/// Whether any of `holders` still holds the sequence's lock.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn any_still_holding(pool: &PgPool, holders: &[String]) -> Result<bool, sqlx::Error> {
    // Dynamic: the lock filter is shared with the statement above (holders_sql).
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT {} )",
        holders_sql("AND virtualtransaction = ANY ($1)")
    )))
    .bind(holders)
    .fetch_one(pool)
    .await
}

/// Takes the sealing lock for the transaction, unless another session holds it: then false.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn try_seal_lock(tx: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#, SEAL_LOCK).fetch_one(tx).await
}

/// The last link: (id, link).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn last_link(tx: &mut PgConnection) -> Result<Option<(i64, Vec<u8>)>, sqlx::Error> {
    let last = sqlx::query!("SELECT id, link FROM audit_chain ORDER BY id DESC LIMIT 1").fetch_optional(tx).await?;
    Ok(last.map(|l| (l.id, l.link)))
}

/// Audit rows with `after` < id <= `upto`, in id order, at most `limit`, streamed.
pub fn rows_between(
    tx: &mut PgConnection,
    after: i64,
    upto: i64,
    limit: i64,
) -> BoxStream<'_, Result<ChainRow, sqlx::Error>> {
    // Dynamic: the column list is the canonical one (SELECT), kept in one place.
    sqlx::query_as::<_, ChainRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SELECT} FROM audit_events WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3"
    )))
    .bind(after)
    .bind(upto)
    .bind(limit)
    .fetch(tx)
}

/// Appends links: `ids[i]`'s link is `links[i]`.
#[tracing::instrument(level = "debug", skip_all, fields(rows = ids.len()))]
pub async fn insert_links(tx: &mut PgConnection, ids: &[i64], links: &[Vec<u8>]) -> Result<(), sqlx::Error> {
    sqlx::query!("INSERT INTO audit_chain (id, link) SELECT * FROM unnest($1::bigint[], $2::bytea[])", ids, links)
        .execute(tx)
        .await
        .map(drop)
}

/// Records a seal over `first_id..=last_id`; returns its number.
#[tracing::instrument(level = "debug", skip_all, fields(first_id = first_id, last_id = last_id))]
pub async fn insert_seal(
    tx: &mut PgConnection,
    first_id: i64,
    last_id: i64,
    rows: i64,
    head: &[u8],
    genesis: bool,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "INSERT INTO audit_seals (first_id, last_id, rows, head, genesis) VALUES ($1, $2, $3, $4, $5) RETURNING seq",
        first_id,
        last_id,
        rows,
        head,
        genesis
    )
    .fetch_one(tx)
    .await
}
