//! The in-memory snapshot that decisions read, so a send never waits on policy queries.
//! Any change to the mirror (from this process, another replica or the CLI) fires a Postgres NOTIFY;
//! the listener bumps the generation, and the next decision loads a fresh snapshot.
//!
//! A reload that fails (the store unreachable for a moment) does not stop sending: decisions go on with the last
//! good snapshot, `/readyz` and `/metrics` say so, and the reload is tried again at most once a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use time::OffsetDateTime;

use super::Snapshot;

/// How soon a failed reload is tried again, while the last good snapshot is served.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Decisions are being made with an older snapshot because reloading failed.
#[derive(Clone, Debug)]
pub struct Stale {
    /// When the first failed reload happened.
    pub since: OffsetDateTime,
    pub error: String,
    retry_at: Instant,
}

#[derive(Default)]
pub struct PolicyCache {
    /// `MAILGATE_ALLOW_UNKNOWN_MAILBOXES`, stamped on every snapshot so every decision reads it the same way.
    allow_unknown_mailboxes: bool,
    generation: AtomicU64,
    current: RwLock<Option<(u64, Arc<Snapshot>)>>,
    loading: tokio::sync::Mutex<()>,
    stale: Mutex<Option<Stale>>,
}

impl PolicyCache {
    pub fn new(allow_unknown_mailboxes: bool) -> Self {
        Self { allow_unknown_mailboxes, ..Self::default() }
    }

    /// Marks the snapshot stale; called on every change notification and whenever notifications may have been lost.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Set while decisions are made with an older snapshot because reloading failed.
    pub fn stale(&self) -> Option<Stale> {
        self.stale.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn fresh(&self) -> Option<Arc<Snapshot>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.as_ref().filter(|(g, _)| *g == generation).map(|(_, s)| s.clone())
    }

    /// The last good snapshot, while a failed reload is not due to be tried again.
    fn last_good_while_failing(&self) -> Option<Arc<Snapshot>> {
        let waiting = self.stale().is_some_and(|s| Instant::now() < s.retry_at);
        waiting.then(|| self.last_good()).flatten()
    }

    fn last_good(&self) -> Option<Arc<Snapshot>> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).as_ref().map(|(_, s)| s.clone())
    }

    /// The snapshot to decide for an authenticated app. The app was found in the store, so a snapshot without it
    /// was loaded before the app was registered (its change notice not yet heard): load again rather than decide
    /// on an older picture, which would refuse a new app every mailbox for up to the notice's delay.
    pub async fn get_for_app(&self, pool: &PgPool, app: uuid::Uuid) -> Result<Arc<Snapshot>, sqlx::Error> {
        self.get_for_apps(pool, [app]).await
    }

    /// The snapshot to describe apps just read from the store: loaded again when it lacks any of them.
    pub async fn get_for_apps(
        &self,
        pool: &PgPool,
        apps: impl IntoIterator<Item = uuid::Uuid>,
    ) -> Result<Arc<Snapshot>, sqlx::Error> {
        let snapshot = self.get(pool).await?;
        if apps.into_iter().all(|app| snapshot.apps.contains_key(&app)) {
            return Ok(snapshot);
        }
        self.invalidate();
        self.get(pool).await
    }

    pub async fn get(&self, pool: &PgPool) -> Result<Arc<Snapshot>, sqlx::Error> {
        if let Some(s) = self.fresh().or_else(|| self.last_good_while_failing()) {
            return Ok(s);
        }
        // One load at a time; those who waited find it done.
        let _guard = self.loading.lock().await;
        if let Some(s) = self.fresh().or_else(|| self.last_good_while_failing()) {
            return Ok(s);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = super::load(pool).await;
        let mut stale = self.stale.lock().unwrap_or_else(|e| e.into_inner());
        match loaded {
            Ok(mut snapshot) => {
                snapshot.allow_unknown_mailboxes = self.allow_unknown_mailboxes;
                let snapshot = Arc::new(snapshot);
                // Stored under the generation read before loading: a change during the load leaves it stale.
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some((generation, snapshot.clone()));
                if stale.take().is_some() {
                    tracing::info!("policy snapshot reloaded after failures");
                }
                Ok(snapshot)
            }
            Err(e) => {
                let Some(last) = self.last_good() else { return Err(e) };
                tracing::warn!(error = %e, "could not reload the policy snapshot; deciding with the last good one");
                let since = stale.as_ref().map_or_else(OffsetDateTime::now_utc, |s| s.since);
                *stale = Some(Stale { since, error: e.to_string(), retry_at: Instant::now() + RETRY_AFTER_FAILURE });
                Ok(last)
            }
        }
    }
}
