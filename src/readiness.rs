//! The database check behind `/readyz`, made at most once per `FRESH` and never twice at once. Probes are exempt from
//! the concurrency limit (a loaded instance must not be restarted for being loaded), so nothing else bounds them: a
//! query per probe would let a flood of them take the pool from the senders. Here a flood costs one connection for
//! one `SELECT 1` every two seconds.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Notify;

/// How long one check's answer is reused.
pub const FRESH: Duration = Duration::from_secs(2);
/// A check not answered within this is an error (the pool is exhausted or the server does not answer).
const PATIENCE: Duration = Duration::from_secs(3);

#[derive(Default)]
pub struct DatabaseCheck {
    /// Never held across an await.
    last: Mutex<Option<(Instant, String)>>,
    checking: AtomicBool,
    checked: Notify,
}

/// Clears the flag and wakes the waiters however the check ends, its probe dropped by a departed client included.
struct Checking<'a>(&'a DatabaseCheck);

impl Drop for Checking<'_> {
    fn drop(&mut self) {
        self.0.checking.store(false, Ordering::Release);
        self.0.checked.notify_waiters();
    }
}

impl DatabaseCheck {
    fn last(&self) -> Option<(Instant, String)> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `ok`, or `error: <why>`: the last answer while it is fresh, else a new one. While another probe checks, the
    /// last answer is given at once; only before the first answer does a probe wait for the check in flight.
    pub async fn status(&self, pool: &PgPool) -> String {
        loop {
            let last = self.last();
            if let Some((at, answer)) = &last
                && at.elapsed() < FRESH
            {
                return answer.clone();
            }
            if self.checking.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                let _checking = Checking(self);
                let answer = check(pool).await;
                *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), answer.clone()));
                return answer;
            }
            if let Some((_, answer)) = last {
                return answer;
            }
            let checked = self.checked.notified();
            // The check may have ended between the flag and the subscription.
            if !self.checking.load(Ordering::Acquire) {
                continue;
            }
            if tokio::time::timeout(PATIENCE, checked).await.is_err() {
                return "error: timed out".to_owned();
            }
        }
    }
}

async fn check(pool: &PgPool) -> String {
    match tokio::time::timeout(PATIENCE, crate::db::health::ping(pool)).await {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: timed out".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_answer_is_reused_without_a_database() {
        let check = DatabaseCheck::default();
        *check.last.lock().expect("lock") = Some((Instant::now(), "ok".to_owned()));
        // A pool that could never connect: a fresh answer must not touch it.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(100))
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("lazy pool");
        assert_eq!(check.status(&pool).await, "ok");
        *check.last.lock().expect("lock") = Some((Instant::now() - FRESH, "ok".to_owned()));
        assert!(check.status(&pool).await.starts_with("error: "));
    }

    #[tokio::test]
    async fn while_one_probe_checks_the_others_get_the_last_answer_at_once() {
        let check = DatabaseCheck::default();
        *check.last.lock().expect("lock") = Some((Instant::now() - FRESH, "ok".to_owned()));
        check.checking.store(true, Ordering::Release);
        let pool =
            sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:1/none").expect("pool");
        assert_eq!(check.status(&pool).await, "ok");
    }
}
