//! The reads `verify` makes of the audit chain, all in one read-only repeatable-read transaction: one consistent
//! view, with rows and links read through server-side cursors a page at a time (constant memory).

use std::collections::VecDeque;
use std::time::Duration;

use sqlx::{FromRow, PgConnection, PgPool, Postgres, Transaction};

use super::audit_chain::{ChainRow, SELECT};

/// Rows fetched per round trip from each cursor.
const PAGE: i64 = 2000;

/// A transaction with one snapshot for every read that follows.
#[tracing::instrument(skip_all)]
pub async fn begin_snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    Ok(tx)
}

/// The first and last linked ids.
#[tracing::instrument(skip_all)]
pub async fn link_extent(tx: &mut PgConnection) -> Result<(Option<i64>, Option<i64>), sqlx::Error> {
    let extent = sqlx::query!("SELECT min(id) AS first, max(id) AS last FROM audit_chain").fetch_one(tx).await?;
    Ok((extent.first, extent.last))
}

/// Whether a genesis seal starts at `first_link`.
#[tracing::instrument(skip_all, fields(first_link = first_link))]
pub async fn genesis_at(tx: &mut PgConnection, first_link: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT FROM audit_seals WHERE genesis AND first_id = $1) AS "genesis!""#,
        first_link
    )
    .fetch_one(tx)
    .await
}

/// The last id the sequence gave out: ids up to it were given to rows; a link past it never had one.
#[tracing::instrument(skip_all)]
pub async fn issued(tx: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('audit_events', 'id')), 0) AS "issued!""#
    )
    .fetch_one(tx)
    .await
}

/// The head of the latest seal ending at `last_id`.
#[tracing::instrument(skip_all, fields(last_id = last_id))]
pub async fn seal_head_at(tx: &mut PgConnection, last_id: i64) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar!("SELECT head FROM audit_seals WHERE last_id = $1 ORDER BY seq DESC LIMIT 1", last_id)
        .fetch_optional(tx)
        .await
}

/// Rows after `last_link` written before now − `horizon`: how many, and the first `kept` (id, age in seconds).
#[tracing::instrument(skip_all, fields(last_link = last_link))]
pub async fn unsealed_since(
    tx: &mut PgConnection,
    last_link: i64,
    horizon: Duration,
    kept: i64,
) -> Result<(i64, Vec<(i64, i64)>), sqlx::Error> {
    const LATE: &str = "FROM audit_events WHERE id > $1 AND at < now() - make_interval(secs => $2)";
    let secs = horizon.as_secs_f64();
    // Dynamic, as the next: LATE is shared by both statements, which must agree on the rows.
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {LATE}")))
        .bind(last_link)
        .bind(secs)
        .fetch_one(&mut *tx)
        .await?;
    let rows: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, floor(extract(epoch FROM now() - at))::bigint {LATE} ORDER BY id LIMIT $3"
    )))
    .bind(last_link)
    .bind(secs)
    .bind(kept)
    .fetch_all(&mut *tx)
    .await?;
    Ok((count, rows))
}

/// A seal's number, last id and head, and the link at that id if any.
pub type SealEnd = (i64, i64, Vec<u8>, Option<Vec<u8>>);

/// The seals ending at or after `first_link`, in order, with the link each ends on.
#[tracing::instrument(skip_all, fields(first_link = first_link))]
pub async fn seal_ends(tx: &mut PgConnection, first_link: i64) -> Result<Vec<SealEnd>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT s.seq, s.last_id, s.head, c.link AS "link?"
             FROM audit_seals s LEFT JOIN audit_chain c ON c.id = s.last_id
            WHERE s.last_id >= $1 ORDER BY s.seq"#,
        first_link
    )
    .fetch_all(tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.seq, r.last_id, r.head, r.link)).collect())
}

/// A server-side cursor read a page at a time.
pub struct Cursor<T> {
    name: &'static str,
    buf: VecDeque<T>,
    done: bool,
}

impl Cursor<ChainRow> {
    /// Every audit row, in id order.
    pub async fn rows(tx: &mut PgConnection) -> Result<Self, sqlx::Error> {
        Self::open(tx, "chain_rows", &format!("SELECT {SELECT} FROM audit_events ORDER BY id")).await
    }
}

impl Cursor<(i64, Vec<u8>)> {
    /// Every link, (id, link), in id order.
    pub async fn links(tx: &mut PgConnection) -> Result<Self, sqlx::Error> {
        Self::open(tx, "chain_links", "SELECT id, link FROM audit_chain ORDER BY id").await
    }
}

impl<T> Cursor<T>
where
    T: for<'r> FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    // Built with format!: a cursor's name and query are part of the statement, not parameters.
    async fn open(tx: &mut PgConnection, name: &'static str, sql: &str) -> Result<Self, sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!("DECLARE {name} NO SCROLL CURSOR FOR {sql}"))).execute(tx).await?;
        Ok(Self { name, buf: VecDeque::new(), done: false })
    }

    pub async fn peek(&mut self, tx: &mut PgConnection) -> Result<Option<&T>, sqlx::Error> {
        if self.buf.is_empty() && !self.done {
            // Dynamic: a cursor name is an identifier, not a parameter; the page size is spliced in likewise.
            let page: Vec<T> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("FETCH {PAGE} FROM {}", self.name))).fetch_all(tx).await?;
            self.done = (page.len() as i64) < PAGE;
            self.buf.extend(page);
        }
        Ok(self.buf.front())
    }

    // Not Iterator: the next item comes from `peek`'s page, which needs the transaction.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<T> {
        self.buf.pop_front()
    }
}
