//! Waiting for a positive signal instead of sleeping: every poll in the tests goes through `poll`, at one short
//! interval, with a deadline generous enough for a loaded machine and a failure that names what was awaited.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::server::TestApp;

/// How often a condition is checked again: short next to any deadline, long enough not to load a shared machine.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Calls `check` every `POLL_INTERVAL` until it returns `Some`, and returns that; None once `timeout` has passed.
pub async fn try_poll<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// As `try_poll`, panicking with `what` (what was awaited) after `timeout`.
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    try_poll(timeout, check).await.unwrap_or_else(|| panic!("timed out after {timeout:?} waiting until {what}"))
}

/// Polls `check` until it holds; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let check = || {
        let holds = check();
        async move { holds.await.then_some(()) }
    };
    poll(what, timeout, check).await
}

/// Repeats `request` until it answers `want` (or 10 s pass), and returns the last answer. For a change made behind
/// the service's back (the CLI, SQL, another replica), which replicas hear of by a change notice within a second.
pub async fn eventually<F, Fut>(want: u16, mut request: F) -> reqwest::Response
where
    F: FnMut() -> Fut,
    Fut: Future<Output = reqwest::Response>,
{
    let last = std::cell::RefCell::new(None);
    let wanted = try_poll(Duration::from_secs(10), || {
        let answer = request();
        let last = &last;
        async move {
            let r = answer.await;
            if r.status() == want {
                return Some(r);
            }
            *last.borrow_mut() = Some(r);
            None
        }
    })
    .await;
    wanted.unwrap_or_else(|| last.into_inner().expect("at least one answer"))
}

impl TestApp {
    /// Polls until the message reaches a final status; returns its view.
    pub async fn wait_final(&self, id: &str) -> Value {
        let what = format!("message {id} reaches a final status");
        poll(&what, Duration::from_secs(30), || async {
            let m = self.get_message(id).await;
            (!matches!(m["status"].as_str(), Some("queued" | "sending"))).then_some(m)
        })
        .await
    }

    /// Waits until no message is `queued` or `sending`.
    pub async fn wait_settled(&self, timeout: Duration) {
        let pending = "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending')";
        if try_poll(timeout, || async { (self.count(pending).await == 0).then_some(()) }).await.is_none() {
            let left = self.count(pending).await;
            panic!("{left} messages still queued or sending after {timeout:?}");
        }
    }
}

/// For code that cannot await (a `Drop`, a blocking helper): calls `check` every `POLL_INTERVAL` until it holds;
/// false once `timeout` has passed.
pub fn holds_within(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
