//! Exchange allows 4 concurrent requests per app and mailbox; more only earn 429s. This keeps each
//! process within that. (Across replicas the limit is enforced by a later change.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub const PER_MAILBOX: usize = 4;

#[derive(Default)]
pub struct MailboxLimiter {
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl MailboxLimiter {
    pub async fn acquire(&self, mailbox: &str) -> OwnedSemaphorePermit {
        let sem = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(mailbox.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(PER_MAILBOX))).clone()
        };
        sem.acquire_owned().await.expect("limiter semaphores are never closed")
    }
}
