//! `verify`: reads rows and links in id order through two cursors in one read-only repeatable-read transaction (one
//! consistent view, constant memory), walks them, then checks each seal's head against the link it ends on.

use std::collections::VecDeque;
use std::time::Duration;

use sqlx::{FromRow, PgConnection, PgPool, Postgres, Transaction};

use super::canonical::{ChainRow, SELECT};
use super::walk::{Extent, Finding, Walk, What};
use super::{Link, to_link};

/// Rows fetched per round trip from each cursor.
const PAGE: i64 = 2000;

#[derive(Debug)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// All findings, including any beyond those kept.
    pub found: u64,
    pub rows_verified: u64,
    pub rows_unsealed: u64,
    /// Rows after the last link written longer ago than the horizon: the sealer is stopped or held back.
    pub unsealed_late: Vec<(i64, i64)>,
    /// All such rows, including any beyond those kept.
    pub late: u64,
    /// The last link: (id, link).
    pub head: Option<(i64, Link)>,
    pub seals: u64,
    /// Where the expected head was found, when one was given: Some(None) if nowhere.
    pub expected_at: Option<Option<i64>>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.found == 0 && self.late == 0 && !matches!(self.expected_at, Some(None))
    }
}

/// Walks the whole chain. `expected`: a head anchored outside the database, which must be one of the links.
/// `horizon`: rows after the last link older than this are reported as left unsealed.
pub async fn verify(pool: &PgPool, expected: Option<Link>, horizon: Duration) -> Result<Report, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let (first, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT min(id), max(id) FROM audit_chain").fetch_one(&mut *tx).await?;
    let extent = match (first, last) {
        (Some(first_link), Some(last_link)) => {
            let genesis: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT FROM audit_seals WHERE genesis AND first_id = $1)")
                    .bind(first_link)
                    .fetch_one(&mut *tx)
                    .await?;
            Some(Extent { first_link, last_link, genesis })
        }
        _ => None,
    };
    // Ids up to the sequence's last value were given to rows; a link past it never had one.
    let issued: i64 =
        sqlx::query_scalar("SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('audit_events', 'id')), 0)")
            .fetch_one(&mut *tx)
            .await?;
    let mut walk = Walk::new(extent, issued);
    let mut expected_at = expected.map(|_| None);
    let mut rows =
        Cursor::<ChainRow>::open(&mut tx, "chain_rows", &format!("SELECT {SELECT} FROM audit_events ORDER BY id"))
            .await?;
    let mut links =
        Cursor::<(i64, Vec<u8>)>::open(&mut tx, "chain_links", "SELECT id, link FROM audit_chain ORDER BY id").await?;
    loop {
        let row_id = rows.peek(&mut tx).await?.map(|r| r.id);
        let link_id = links.peek(&mut tx).await?.map(|l| l.0);
        let id = match (row_id, link_id) {
            (None, None) => break,
            (Some(r), Some(l)) => r.min(l),
            (Some(r), None) => r,
            (None, Some(l)) => l,
        };
        let row = if row_id == Some(id) { rows.next() } else { None };
        let stored = if link_id == Some(id) { links.next().map(|(_, l)| to_link(&l)) } else { None };
        if expected.is_some() && expected == stored {
            expected_at = Some(Some(id));
        }
        walk.step(id, row.map(|r| r.canonical()).as_deref(), stored);
    }
    let witness: Option<Vec<u8>> = match last {
        Some(last) => {
            sqlx::query_scalar("SELECT head FROM audit_seals WHERE last_id = $1 ORDER BY seq DESC LIMIT 1")
                .bind(last)
                .fetch_optional(&mut *tx)
                .await?
        }
        None => None,
    };
    walk.finish(witness.map(|w| to_link(&w)));
    let seals = check_seals(&mut tx, first.unwrap_or(i64::MAX), &mut walk).await?;
    let (late, unsealed_late) = unsealed_since(&mut tx, last.unwrap_or(i64::MIN), horizon).await?;
    tx.commit().await?;
    Ok(Report {
        head: walk.head(),
        findings: std::mem::take(&mut walk.findings),
        found: walk.found,
        rows_verified: walk.rows_verified,
        rows_unsealed: walk.rows_unsealed,
        unsealed_late,
        late,
        seals,
        expected_at,
    })
}

/// Rows kept of those left unsealed too long.
const LATE_KEPT: i64 = 1000;

/// Rows after the last link written before now − `horizon`: how many, and the first (id, age in seconds).
async fn unsealed_since(
    tx: &mut PgConnection,
    last_link: i64,
    horizon: Duration,
) -> Result<(u64, Vec<(i64, i64)>), sqlx::Error> {
    const LATE: &str = "FROM audit_events WHERE id > $1 AND at < now() - make_interval(secs => $2)";
    let secs = horizon.as_secs_f64();
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {LATE}")))
        .bind(last_link)
        .bind(secs)
        .fetch_one(&mut *tx)
        .await?;
    let kept: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, floor(extract(epoch FROM now() - at))::bigint {LATE} ORDER BY id LIMIT $3"
    )))
    .bind(last_link)
    .bind(secs)
    .bind(LATE_KEPT)
    .fetch_all(&mut *tx)
    .await?;
    Ok((u64::try_from(count).unwrap_or(0), kept))
}

/// A seal's number, last id and head, and the link at that id if any.
type SealEnd = (i64, i64, Vec<u8>, Option<Vec<u8>>);

/// Each seal over the remaining links must end on a link equal to its head. Returns the seals checked.
async fn check_seals(tx: &mut PgConnection, first_link: i64, walk: &mut Walk) -> Result<u64, sqlx::Error> {
    let seals: Vec<SealEnd> = sqlx::query_as(
        "SELECT s.seq, s.last_id, s.head, c.link FROM audit_seals s LEFT JOIN audit_chain c ON c.id = s.last_id
          WHERE s.last_id >= $1 ORDER BY s.seq",
    )
    .bind(first_link)
    .fetch_all(&mut *tx)
    .await?;
    for (seq, last_id, head, link) in &seals {
        match link {
            None => walk.report(*last_id, What::SealLinkMissing { seq: *seq }),
            Some(l) if l != head => walk.report(*last_id, What::SealHeadDiffers { seq: *seq }),
            Some(_) => {}
        }
    }
    Ok(seals.len() as u64)
}

/// A server-side cursor read a page at a time.
struct Cursor<T> {
    name: &'static str,
    buf: VecDeque<T>,
    done: bool,
}

impl<T> Cursor<T>
where
    T: for<'r> FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    async fn open(tx: &mut Transaction<'_, Postgres>, name: &'static str, sql: &str) -> Result<Self, sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!("DECLARE {name} NO SCROLL CURSOR FOR {sql}")))
            .execute(&mut **tx)
            .await?;
        Ok(Self { name, buf: VecDeque::new(), done: false })
    }

    async fn peek(&mut self, tx: &mut Transaction<'_, Postgres>) -> Result<Option<&T>, sqlx::Error> {
        if self.buf.is_empty() && !self.done {
            let page: Vec<T> = sqlx::query_as(sqlx::AssertSqlSafe(format!("FETCH {PAGE} FROM {}", self.name)))
                .fetch_all(&mut **tx)
                .await?;
            self.done = (page.len() as i64) < PAGE;
            self.buf.extend(page);
        }
        Ok(self.buf.front())
    }

    fn next(&mut self) -> Option<T> {
        self.buf.pop_front()
    }
}
