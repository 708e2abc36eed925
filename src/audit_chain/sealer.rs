//! The sealer: in `serve`, every MAILGATE_AUDIT_SEAL_SECS, appends the links of audit rows up to a settled horizon
//! and records the batch in audit_seals. Replicas all run it; a transaction-scoped advisory lock lets one seal at a
//! time (another replica's tick finds it taken and leaves the work to the holder).

use std::time::Duration;

use futures::TryStreamExt;
use sqlx::PgPool;

use super::horizon::{self, Horizon};
use super::{GENESIS, Link, canonical, hex, link, to_link};
use crate::db;

pub use crate::db::audit_chain::SEAL_LOCK;

/// Rows linked per transaction (and per seal), so that a long backlog is sealed in bounded steps.
const BATCH: i64 = 5000;

/// Ticks a horizon may wait on its holders before the wait is logged as a warning.
const PATIENCE: u32 = 12;

/// One sealing batch, as recorded in audit_seals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    pub seq: i64,
    pub first_id: i64,
    pub last_id: i64,
    pub rows: i64,
    pub head: Link,
}

/// A sealer's memory between ticks: the horizon it is waiting on.
#[derive(Debug, Default)]
pub struct Sealer {
    pending: Option<Horizon>,
    waited: u32,
}

impl Sealer {
    /// One tick: seal up to the pending horizon if it has settled, then read the next one (and seal at once if
    /// nothing holds it). Returns the seals made.
    pub async fn tick(&mut self, pool: &PgPool) -> anyhow::Result<Vec<Seal>> {
        let mut sealed = Vec::new();
        if let Some(h) = &self.pending {
            if !horizon::settled(pool, h).await? {
                self.waited += 1;
                if self.waited.is_multiple_of(PATIENCE) {
                    tracing::warn!(
                        upto = h.upto,
                        holders = ?h.holders,
                        ticks = self.waited,
                        "audit rows are not sealed: transactions that drew audit ids are still open"
                    );
                }
                return Ok(sealed);
            }
            sealed.extend(seal_up_to(pool, h.upto).await?);
            self.pending = None;
            self.waited = 0;
        }
        let next = horizon::observe(pool).await?;
        if next.holders.is_empty() {
            sealed.extend(seal_up_to(pool, next.upto).await?);
        } else {
            self.pending = Some(next);
        }
        Ok(sealed)
    }
}

/// Links every row after the last link up to `upto` (which must be settled), in batches.
pub async fn seal_up_to(pool: &PgPool, upto: i64) -> Result<Vec<Seal>, sqlx::Error> {
    let mut seals = Vec::new();
    loop {
        let mut tx = pool.begin().await?;
        let mine = db::audit_chain::try_seal_lock(&mut tx).await?;
        if !mine {
            return Ok(seals);
        }
        let last = db::audit_chain::last_link(&mut tx).await?;
        let (after, mut prev) = last.as_ref().map_or((0, GENESIS), |(id, l)| (*id, to_link(l)));
        // Streamed, not gathered: the rows can be large (a detail is up to a Graph error's text), and only their ids
        // and links are kept, so a batch costs the same memory whatever its rows hold.
        let mut ids = Vec::new();
        let mut links = Vec::new();
        let mut rows = db::audit_chain::rows_between(&mut tx, after, upto, BATCH);
        while let Some(row) = rows.try_next().await? {
            prev = link(&prev, &canonical::bytes(&row));
            ids.push(row.id);
            links.push(prev.to_vec());
        }
        drop(rows);
        let (Some(&first_id), Some(&last_id)) = (ids.first(), ids.last()) else {
            return Ok(seals);
        };
        db::audit_chain::insert_links(&mut tx, &ids, &links).await?;
        let count = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let seq = db::audit_chain::insert_seal(&mut tx, first_id, last_id, count, &prev, last.is_none()).await?;
        tx.commit().await?;
        // The head, logged: kept by the log pipeline outside the database, it is what `verify --expect-head` checks.
        tracing::info!(seq, first_id, last_id, rows = count, head = %hex(&prev), "sealed audit rows");
        seals.push(Seal { seq, first_id, last_id, rows: count, head: prev });
        if count < BATCH {
            return Ok(seals);
        }
    }
}

/// The sealer task `serve` runs: a tick every `every`, for the life of the process.
pub async fn run(pool: PgPool, every: Duration) {
    let mut sealer = Sealer::default();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(e) = sealer.tick(&pool).await {
            tracing::warn!(error = %format!("{e:#}"), "could not seal audit rows");
        }
    }
}
