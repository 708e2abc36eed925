//! The delivery tables driven directly, as the service role: apps and queued messages written as acceptance would,
//! and claims and attempt records as a worker makes them.

use std::time::Duration;

use mailgate::config::Limits;
use mailgate::db::audit::Outcome;
use mailgate::db::delivery::{self, AttemptEvent, AttemptRecord, Claimed};
use mailgate::db::messages::Status;
use sqlx::PgPool;
use uuid::Uuid;

use super::db::database_url;
use super::logins::service_url;

pub const DAY: Duration = Duration::from_secs(86_400);
/// The lease `claim` takes.
pub const LEASE: Duration = Duration::from_secs(60);

pub fn limits(concurrency: i64, per_minute: i64) -> Limits {
    Limits {
        // What a message may hold: checked at acceptance, never by a claim.
        max_message_bytes: 36_700_160,
        max_recipients: 500,
        mailbox_concurrency: concurrency,
        mailbox_per_minute: per_minute,
        app_messages_per_minute: 0,
        app_recipients_per_day: 0,
        app_refusals_per_minute: 0,
        large_messages: false,
    }
}

/// The test database as `mailgate serve` sees it: through the service role, so the grants are tested too.
pub async fn service(pool: &PgPool) -> PgPool {
    let url = service_url(pool, &database_url(pool).await).await;
    PgPool::connect(&url).await.expect("connect as the service role")
}

pub async fn new_app(pool: &PgPool) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO apps (id, name) VALUES ($1, 'outbox-app')").bind(id).execute(pool).await.expect("app");
    id
}

/// `n` queued messages from `mailbox`, each with the audit event acceptance writes.
pub async fn queue(pool: &PgPool, app: Uuid, mailbox: &str, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload)
             VALUES ($1, $2, $3, 's', 1, 'queued', '{\"message\": {}}')",
        )
        .bind(id)
        .bind(app)
        .bind(mailbox)
        .execute(pool)
        .await
        .expect("message");
        sqlx::query("INSERT INTO audit_events (outcome, message_id, detail) VALUES ('queued', $1, 'granted by test')")
            .bind(id)
            .execute(pool)
            .await
            .expect("audit");
        ids.push(id);
    }
    ids
}

pub async fn claim(db: &PgPool, limit: usize, l: &Limits) -> Vec<Claimed> {
    delivery::claim(db, limit, LEASE, l, DAY).await.expect("claim")
}

/// What a worker records for an attempt of claim `m`.
pub fn record(m: &Claimed, status: Status, outcome: Outcome) -> AttemptRecord {
    let mut event = AttemptEvent::new(outcome);
    event.attempt = Some(m.attempt);
    AttemptRecord {
        id: m.id,
        attempt: m.attempt,
        status,
        retry_secs: (status == Status::Queued).then_some(30.0),
        last_error: (status != Status::Sent).then(|| "ErrorSomething".to_owned()),
        keep_body: false,
        app_id: m.app_id,
        app_name: m.app_name.clone(),
        mailbox: m.mailbox.clone(),
        events: vec![event],
        pause_secs: None,
        drift: None,
        cooldown_secs: None,
    }
}
