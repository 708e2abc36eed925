//! Request bodies are held within one budget of bytes for the whole process (`MAILGATE_MAX_INFLIGHT_BODY_BYTES`), so
//! that however many callers send their largest bodies at once, what is held for them stays bounded. A body's share
//! is reserved before it is read (routes::body_budget reads it) and held until its request is answered.
//!
//! A body is charged `COPIES` times its length: handling it holds that much at its peak. While it is decoded the
//! bytes read and the decoded message are both held (the bytes go right after); while it is stored, the message,
//! its encoding for the database and the connection's copy of that. Charging the bytes once would let the budget's
//! worth of bodies take three budgets of memory.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;

/// The budget is counted in KiB, so that a semaphore's `u32` permits can stand for up to 4 TiB.
pub const UNIT: usize = 1024;
/// How many times its length a body is charged (see the module's docs).
pub const COPIES: usize = 3;

pub struct BodyBudget {
    permits: Arc<Semaphore>,
    /// The largest body read at all (`MAILGATE_MAX_BODY_BYTES`).
    limit: usize,
    /// `MAILGATE_LARGE_MESSAGES`: without it the limit is Graph's request size, which a refusal says.
    large_messages: bool,
    metrics: Arc<Metrics>,
}

/// A body's share of the budget, given back when dropped.
pub struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
    metrics: Arc<Metrics>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.metrics.body_bytes_released(self.bytes);
    }
}

fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

impl BodyBudget {
    pub fn new(budget_bytes: usize, limit: usize, large_messages: bool, metrics: Arc<Metrics>) -> Self {
        let permits = Arc::new(Semaphore::new(units(budget_bytes) as usize));
        Self { permits, limit, large_messages, metrics }
    }

    /// The largest body read at all.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether messages past Graph's 4 MB request are sent at all (through drafts).
    pub fn large_messages(&self) -> bool {
        self.large_messages
    }

    /// The share of a body of `body_bytes`, `COPIES` times its length; None, counted as shed, when the budget cannot
    /// take it now.
    pub fn reserve(&self, body_bytes: usize) -> Option<Reservation> {
        let bytes = body_bytes.saturating_mul(COPIES);
        let permit = match units(bytes) {
            0 => None,
            n => match self.permits.clone().try_acquire_many_owned(n) {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.metrics.shed("body_budget");
                    return None;
                }
            },
        };
        self.metrics.body_bytes_reserved(bytes);
        Some(Reservation { _permit: permit, bytes, metrics: self.metrics.clone() })
    }
}
