//! How far the sealer may seal: past no id a transaction could still commit.
//!
//! Ids come from audit_events' sequence at insert but commit in any order, and a transaction may draw an id before it
//! has a transaction id (nextval assigns none), so a snapshot's xmin cannot say which ids are still in flight. What
//! can: every transaction that drew an id holds a lock on the sequence until it ends. So a horizon is read in two
//! steps — first S, the sequence's last value, then the transactions holding that lock — and every id up to S is
//! settled (committed or gone for good) once those transactions have ended: any other that drew an id up to S had
//! drawn it, so taken the lock, before S was read, and had already ended when the holders were read.

use sqlx::PgPool;

use crate::db;

/// A sequence value and the transactions (virtual transaction ids, which also name prepared transactions) that held
/// the sequence's lock just after it was read.
#[derive(Debug, Clone)]
pub struct Horizon {
    pub upto: i64,
    pub holders: Vec<String>,
}

/// Reads S, then its holders: in two statements, in this order (see the module's comment).
pub async fn observe(pool: &PgPool) -> anyhow::Result<Horizon> {
    let (owned, upto) = db::audit_chain::sequence_last_value(pool).await?;
    // Without it the horizon would stay at 0 and nothing would ever be sealed, silently.
    anyhow::ensure!(owned, "audit_events.id has no sequence of its own (ALTER SEQUENCE … OWNED BY audit_events.id)");
    let holders = db::audit_chain::sequence_holders(pool).await?;
    Ok(Horizon { upto, holders })
}

/// Whether every holder has ended, so every id up to `upto` is settled.
pub async fn settled(pool: &PgPool, h: &Horizon) -> Result<bool, sqlx::Error> {
    if h.holders.is_empty() {
        return Ok(true);
    }
    let left = db::audit_chain::any_still_holding(pool, &h.holders).await?;
    Ok(!left)
}
