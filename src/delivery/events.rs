//! One Postgres LISTEN connection per process, fanned out inside it: policy changes refresh the decision
//! snapshot, key and app changes empty the caller cache, new outbox rows wake the workers, and finished messages
//! release callers waiting with `Prefer: wait`.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use crate::auth::CallerCache;
use crate::db::channels;
use crate::policy::PolicyCache;

#[derive(Clone)]
pub struct Events {
    pub done: broadcast::Sender<Uuid>,
    pub wake: Arc<Notify>,
    pub policy: Arc<PolicyCache>,
    pub callers: Arc<CallerCache>,
}

impl Events {
    pub fn new(policy: Arc<PolicyCache>, callers: Arc<CallerCache>) -> Self {
        Self { done: broadcast::channel(1024).0, wake: Arc::new(Notify::new()), policy, callers }
    }

    /// Runs until the process ends, reconnecting by itself.
    pub async fn listen(self, pool: PgPool) {
        loop {
            if let Err(e) = self.listen_once(&pool).await {
                tracing::warn!(error = %e, "notification listener lost its connection; reconnecting");
            }
            // Notifications may have been missed: assume the worst, and serve no caller from memory until listening.
            self.callers.set_listening(false);
            self.policy.invalidate();
            self.wake.notify_one();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn listen_once(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen_all([channels::POLICY, channels::CALLERS, channels::OUTBOX, channels::DONE]).await?;
        self.policy.invalidate();
        self.callers.set_listening(true);
        loop {
            let Some(n) = listener.try_recv().await? else {
                return Ok(());
            };
            match n.channel() {
                channels::POLICY => self.policy.invalidate(),
                channels::CALLERS => self.callers.invalidate(),
                channels::OUTBOX => self.wake.notify_one(),
                channels::DONE => {
                    if let Ok(id) = Uuid::parse_str(n.payload()) {
                        // No receiver is the common case: nobody is waiting.
                        let _ = self.done.send(id);
                    }
                }
                _ => {}
            }
        }
    }
}
