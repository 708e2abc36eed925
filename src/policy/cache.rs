//! The in-memory snapshot that decisions read, so a send never waits on policy queries.
//! Any change to the mirror (from this process, another replica or the CLI) fires a Postgres NOTIFY;
//! the listener bumps the generation, and the next decision loads a fresh snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use sqlx::PgPool;

use super::Snapshot;
use crate::db;

#[derive(Default)]
pub struct PolicyCache {
    /// `MAILGATE_ALLOW_UNKNOWN_MAILBOXES`, stamped on every snapshot so every decision reads it the same way.
    allow_unknown_mailboxes: bool,
    generation: AtomicU64,
    current: RwLock<Option<(u64, Arc<Snapshot>)>>,
    loading: tokio::sync::Mutex<()>,
}

impl PolicyCache {
    pub fn new(allow_unknown_mailboxes: bool) -> Self {
        Self { allow_unknown_mailboxes, ..Self::default() }
    }

    /// Marks the snapshot stale; called on every change notification and whenever notifications may have been lost.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn fresh(&self) -> Option<Arc<Snapshot>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.as_ref().filter(|(g, _)| *g == generation).map(|(_, s)| s.clone())
    }

    pub async fn get(&self, pool: &PgPool) -> Result<Arc<Snapshot>, sqlx::Error> {
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        // One load at a time; those who waited find it done.
        let _guard = self.loading.lock().await;
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let mut snapshot = db::snapshot::load(pool).await?;
        snapshot.allow_unknown_mailboxes = self.allow_unknown_mailboxes;
        let snapshot = Arc::new(snapshot);
        // Stored under the generation read before loading: a change during the load leaves it stale.
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some((generation, snapshot.clone()));
        Ok(snapshot)
    }
}
