//! A claim's lease, kept alive while its worker is busy. The lease is short (twice the Graph timeout by default), so
//! that a crashed worker's messages are swept within about a minute; a send that takes longer than a third of it (a
//! large message's upload steps, a slow token) has its lease pushed forward, fenced by the claim's attempt number.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::db::delivery;

pub struct Lease {
    /// Until when this worker surely holds the message (by its own clock, counted from before the database set it).
    valid_until: Arc<Mutex<Instant>>,
    lost: watch::Receiver<bool>,
    keeper: JoinHandle<()>,
}

impl Lease {
    /// Starts keeping the lease of message `id`, claimed with `attempt` just after `claimed_at`.
    pub fn keep(pool: PgPool, id: Uuid, attempt: i32, lease: Duration, claimed_at: Instant) -> Lease {
        let valid_until = Arc::new(Mutex::new(claimed_at + lease));
        let (lost_tx, lost) = watch::channel(false);
        let until = valid_until.clone();
        let keeper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let asked = Instant::now();
                match delivery::extend_lease(&pool, id, attempt, lease).await {
                    Ok(true) => *until.lock().expect("lease clock") = asked + lease,
                    Ok(false) => {
                        tracing::warn!(message_id = %id, attempt, "the lease was lost while sending");
                        let _ = lost_tx.send(true);
                        return;
                    }
                    // The database is away; so is the sweep. Try again at the next tick.
                    Err(e) => tracing::warn!(message_id = %id, error = %e, "could not extend the lease"),
                }
            }
        });
        Lease { valid_until, lost, keeper }
    }

    /// Whether the lease surely still runs now.
    pub fn held(&self) -> bool {
        Instant::now() < *self.valid_until.lock().expect("lease clock") && !*self.lost.borrow()
    }

    /// Completes when the claim is known to have lost the message.
    pub async fn lost(&self) {
        let mut lost = self.lost.clone();
        // An error means the keeper ended without losing the lease (it never does while running): wait forever.
        if lost.wait_for(|l| *l).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}
