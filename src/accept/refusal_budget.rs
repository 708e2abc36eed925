//! Refusals are metered: each 403 (the allowlist's `policy_denied` or `unknown_mailbox`, a missing role) costs
//! rows — the denied message and its audit event — so a stolen low-privilege key could write millions of them an hour
//! and bury the events that matter. Per app, the first `MAILGATE_APP_REFUSALS_PER_MINUTE` refusals of a minute are
//! answered and recorded one by one; the rest are answered 429 `too_many_refusals` and recorded together, as one audit
//! row per app and minute once the minute is over ("N further refusals").
//!
//! Counted per process, in memory: a refusal over the budget must cost no write, which a count shared through the
//! database would. With R replicas an app may so have up to R × the budget recorded one by one a minute, still a
//! bound. A minute is the app's own: it starts with its first refusal, as the failure limiter's windows do.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db;
use crate::db::audit::{NewEvent, Outcome};

const WINDOW: Duration = Duration::from_secs(60);
/// How often minutes that ended are written out.
const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// What to do with a refusal just counted.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the budget: answer and record it as always.
    Record,
    /// Over it: answer 429, write nothing; it is counted in the minute's row.
    OverBudget { retry_after: Duration },
}

struct Window {
    started: Instant,
    started_at: OffsetDateTime,
    app_name: String,
    refused: u32,
}

/// Refusals over the budget in one app's minute, to be recorded as one row.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow {
    pub app_id: Uuid,
    pub app_name: String,
    pub from: OffsetDateTime,
    pub further: u32,
}

pub struct RefusalBudget {
    /// Refusals recorded one by one per app and minute; 0: every one is.
    limit: u32,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Apps with refusals in their current minute: bounded by the apps that exist, since only authenticated callers
    /// are counted.
    windows: HashMap<Uuid, Window>,
    /// Minutes that ended over the budget, waiting to be written.
    ended: Vec<Overflow>,
}

impl Window {
    fn new(app_name: &str) -> Self {
        Window {
            started: Instant::now(),
            started_at: OffsetDateTime::now_utc(),
            app_name: app_name.to_owned(),
            refused: 0,
        }
    }

    fn overflow(self, app_id: Uuid, limit: u32) -> Option<Overflow> {
        (self.refused > limit).then(|| Overflow {
            app_id,
            app_name: self.app_name,
            from: self.started_at,
            further: self.refused - limit,
        })
    }
}

impl RefusalBudget {
    pub fn new(limit: u32) -> Self {
        Self::with_window(limit, WINDOW)
    }

    pub fn with_window(limit: u32, window: Duration) -> Self {
        Self { limit, window, state: Mutex::new(State::default()) }
    }

    /// Counts a refusal of `app_id` and says how to answer it.
    pub fn refuse(&self, app_id: Uuid, app_name: &str) -> Verdict {
        if self.limit == 0 {
            return Verdict::Record;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State { windows, ended } = &mut *state;
        let w = windows.entry(app_id).or_insert_with(|| Window::new(app_name));
        if w.started.elapsed() >= self.window {
            // A new minute: the last one's overflow waits for the next flush.
            let last = std::mem::replace(w, Window::new(app_name));
            ended.extend(last.overflow(app_id, self.limit));
        }
        w.refused = w.refused.saturating_add(1);
        if w.refused <= self.limit {
            Verdict::Record
        } else {
            let left = self.window.saturating_sub(w.started.elapsed());
            Verdict::OverBudget { retry_after: left.max(Duration::from_secs(1)) }
        }
    }

    /// Takes out the minutes that are over (every minute when `all`), returning those that went over the budget.
    pub fn take_ended(&self, all: bool) -> Vec<Overflow> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State { windows, ended } = &mut *state;
        let over: Vec<Uuid> =
            windows.iter().filter(|(_, w)| all || w.started.elapsed() >= self.window).map(|(id, _)| *id).collect();
        let mut out = std::mem::take(ended);
        out.extend(over.into_iter().filter_map(|id| windows.remove(&id)?.overflow(id, self.limit)));
        out
    }

    /// Writes one audit row per minute that went over the budget. A row that cannot be written is logged with its
    /// count, so the number is never lost silently.
    pub async fn flush(&self, pool: &PgPool, all: bool) {
        for o in self.take_ended(all) {
            let detail = format!(
                "{} further refusals of app {} in the minute from {}: over MAILGATE_APP_REFUSALS_PER_MINUTE ({}), \
                 answered 429 too_many_refusals and not recorded one by one",
                o.further,
                o.app_name,
                o.from.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                self.limit
            );
            let event = NewEvent {
                app_id: Some(o.app_id),
                app_name: Some(&o.app_name),
                http_status: Some(429),
                detail: Some(&detail),
                ..NewEvent::default()
            };
            if let Err(e) = db::audit::record(pool, Outcome::Denied, event).await {
                tracing::warn!(error = %e, app = %o.app_name, further = o.further, "could not record refusals over the budget");
            }
        }
    }

    /// Writes out each minute once it is over, for as long as the process runs.
    pub async fn keep_flushing(self: std::sync::Arc<Self>, pool: PgPool) {
        let mut every = tokio::time::interval(FLUSH_EVERY);
        loop {
            every.tick().await;
            self.flush(&pool, false).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: Uuid = Uuid::from_u128(1);
    const OTHER: Uuid = Uuid::from_u128(2);

    #[test]
    fn past_the_budget_refusals_are_answered_429_and_counted_for_one_row() {
        let budget = RefusalBudget::new(2);
        assert_eq!(budget.refuse(APP, "app"), Verdict::Record);
        assert_eq!(budget.refuse(APP, "app"), Verdict::Record);
        for _ in 0..5 {
            assert!(matches!(budget.refuse(APP, "app"), Verdict::OverBudget { retry_after } if retry_after <= WINDOW));
        }
        // Another app's budget is its own.
        assert_eq!(budget.refuse(OTHER, "other"), Verdict::Record);
        // The minute is not over: nothing to write yet, unless everything is taken (at shutdown).
        assert!(budget.take_ended(false).is_empty());
        let all = budget.take_ended(true);
        assert_eq!(all.len(), 1, "only the app over its budget gets a row: {all:?}");
        assert_eq!((all[0].app_id, all[0].app_name.as_str(), all[0].further), (APP, "app", 5));
    }

    #[test]
    fn a_new_minute_starts_a_new_budget_and_the_old_one_is_written() {
        let budget = RefusalBudget::with_window(1, Duration::from_millis(100));
        budget.refuse(APP, "app");
        assert!(matches!(budget.refuse(APP, "app"), Verdict::OverBudget { .. }));
        std::thread::sleep(Duration::from_millis(150));
        let ended = budget.take_ended(false);
        assert_eq!(ended.iter().map(|o| o.further).collect::<Vec<_>>(), [1]);
        assert_eq!(budget.refuse(APP, "app"), Verdict::Record);
    }

    #[test]
    fn a_minute_over_before_its_flush_is_kept_and_the_next_one_counted_afresh() {
        let budget = RefusalBudget::with_window(1, Duration::from_millis(100));
        budget.refuse(APP, "app");
        budget.refuse(APP, "app");
        budget.refuse(APP, "app");
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(budget.refuse(APP, "app"), Verdict::Record);
        assert!(matches!(budget.refuse(APP, "app"), Verdict::OverBudget { .. }));
        let all = budget.take_ended(true);
        assert_eq!(all.iter().map(|o| o.further).collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn no_limit_records_every_refusal() {
        let budget = RefusalBudget::new(0);
        for _ in 0..100 {
            assert_eq!(budget.refuse(APP, "app"), Verdict::Record);
        }
        assert!(budget.take_ended(true).is_empty());
    }
}
