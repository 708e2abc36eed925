//! `Prefer: wait=N`: holding the answer until Graph's outcome is known, or N seconds pass.

use std::time::Duration;

use axum::http::HeaderMap;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::db;
use crate::db::messages::Status;
use crate::state::AppState;

/// The longest `Prefer: wait` honoured.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// `Prefer: wait=N`, capped at 30 s. Other preferences are ignored, as RFC 7240 allows.
pub fn prefer_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("wait=")?.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs).min(MAX_WAIT))
}

/// True once the message reached a final status within `wait`. `done` must be subscribed before the message
/// was stored, so its notice cannot slip past.
pub async fn for_outcome(
    state: &AppState,
    id: Uuid,
    mut done: broadcast::Receiver<Uuid>,
    wait: Duration,
) -> Result<bool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let is_final =
            db::messages::status(&state.pool, id).await?.and_then(|s| Status::parse(&s)).is_some_and(Status::is_final);
        if is_final {
            return Ok(true);
        }
        // Wake on this message's notice, or after a second anyway: notices can be lost when the listener reconnects.
        let next_check = (tokio::time::Instant::now() + Duration::from_secs(1)).min(deadline);
        let woke = tokio::time::timeout_at(next_check, async {
            loop {
                match done.recv().await {
                    Ok(done_id) if done_id == id => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        })
        .await;
        if woke.is_err() && tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn prefer_wait_is_parsed_and_capped() {
        let mut h = HeaderMap::new();
        assert_eq!(prefer_wait(&h), None);
        h.insert("prefer", HeaderValue::from_static("respond-async, wait=5"));
        assert_eq!(prefer_wait(&h), Some(Duration::from_secs(5)));
        h.insert("prefer", HeaderValue::from_static("wait=600"));
        assert_eq!(prefer_wait(&h), Some(MAX_WAIT));
        h.insert("prefer", HeaderValue::from_static("wait=soon"));
        assert_eq!(prefer_wait(&h), None);
    }
}
