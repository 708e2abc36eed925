//! `verify`: reads rows and links in id order through two cursors in one read-only repeatable-read transaction (one
//! consistent view, constant memory), walks them, then checks each seal's head against the link it ends on.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

use super::walk::{Extent, Finding, Walk, What};
use super::{Link, canonical, to_link};
use crate::db::audit_verify::{self as read, Cursor};

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
    let mut tx = read::begin_snapshot(pool).await?;
    let (first, last) = read::link_extent(&mut tx).await?;
    let extent = match (first, last) {
        (Some(first_link), Some(last_link)) => {
            let genesis = read::genesis_at(&mut tx, first_link).await?;
            Some(Extent { first_link, last_link, genesis })
        }
        _ => None,
    };
    // Ids up to the sequence's last value were given to rows; a link past it never had one.
    let issued = read::issued(&mut tx).await?;
    let mut walk = Walk::new(extent, issued);
    let mut expected_at = expected.map(|_| None);
    let mut rows = Cursor::rows(&mut tx).await?;
    let mut links = Cursor::links(&mut tx).await?;
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
        walk.step(id, row.as_ref().map(canonical::bytes).as_deref(), stored);
    }
    let witness: Option<Vec<u8>> = match last {
        Some(last) => read::seal_head_at(&mut tx, last).await?,
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
    let (count, kept) = read::unsealed_since(tx, last_link, horizon, LATE_KEPT).await?;
    Ok((u64::try_from(count).unwrap_or(0), kept))
}

/// Each seal over the remaining links must end on a link equal to its head. Returns the seals checked.
async fn check_seals(tx: &mut PgConnection, first_link: i64, walk: &mut Walk) -> Result<u64, sqlx::Error> {
    let seals = read::seal_ends(tx, first_link).await?;
    for (seq, last_id, head, link) in &seals {
        match link {
            None => walk.report(*last_id, What::SealLinkMissing { seq: *seq }),
            Some(l) if l != head => walk.report(*last_id, What::SealHeadDiffers { seq: *seq }),
            Some(_) => {}
        }
    }
    Ok(seals.len() as u64)
}
