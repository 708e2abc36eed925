//! Accepted messages into the outbox, many per statement: each message row with its audit event, and one notice to
//! the workers of every replica per batch rather than per message.

use serde_json::Value;
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

use super::audit::{Appended, NewEvent, Outcome};
use super::channels;

/// One accepted or locally denied message, with what its audit event says.
pub struct NewRow<'a> {
    pub id: Uuid,
    pub app_id: Uuid,
    pub app_name: &'a str,
    /// The canonical mailbox.
    pub mailbox: &'a str,
    pub subject: &'a str,
    pub recipients: i32,
    /// Queued for Graph; otherwise denied by the allowlist (kept for the audit trail, without its content).
    pub queued: bool,
    pub payload: Option<&'a Value>,
    /// `http`, `graph` or `smtp`.
    pub channel: &'a str,
    /// The SMTP session's peer address.
    pub source_address: Option<&'a str>,
    pub request_id: &'a str,
    /// The decision's reason.
    pub detail: &'a str,
    /// Someone waits for the outcome (`Prefer: wait`): finishing it sends a notice.
    pub notify_done: bool,
    /// W3C `traceparent` of the accepting request (NULL when traces are not exported).
    pub traceparent: Option<&'a str>,
}

/// Inserts the rows and their audit events in one statement (one round trip, and one commit when run outside a
/// transaction).
pub async fn insert(db: impl PgExecutor<'_>, rows: &[NewRow<'_>]) -> Result<(), sqlx::Error> {
    let status = |r: &NewRow| if r.queued { "queued" } else { "denied" };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let apps: Vec<Uuid> = rows.iter().map(|r| r.app_id).collect();
    let mailboxes: Vec<&str> = rows.iter().map(|r| r.mailbox).collect();
    let subjects: Vec<&str> = rows.iter().map(|r| r.subject).collect();
    let recipients: Vec<i32> = rows.iter().map(|r| r.recipients).collect();
    let statuses: Vec<&str> = rows.iter().map(status).collect();
    // A denied message keeps its metadata for the audit trail but never its content.
    let payloads: Vec<Option<&Value>> = rows.iter().map(|r| r.payload.filter(|_| r.queued)).collect();
    let request_ids: Vec<&str> = rows.iter().map(|r| r.request_id).collect();
    let notify_done: Vec<bool> = rows.iter().map(|r| r.notify_done).collect();
    let traceparents: Vec<Option<&str>> = rows.iter().map(|r| r.traceparent).collect();
    let channels: Vec<&str> = rows.iter().map(|r| r.channel).collect();
    let sources: Vec<Option<&str>> = rows.iter().map(|r| r.source_address).collect();
    let events: Vec<Appended> = rows
        .iter()
        .map(|r| Appended {
            outcome: if r.queued { Outcome::Queued } else { Outcome::Denied },
            event: NewEvent {
                app_id: Some(r.app_id),
                app_name: Some(r.app_name),
                mailbox: Some(r.mailbox),
                message_id: Some(r.id),
                http_status: (!r.queued).then_some(403),
                request_id: Some(r.request_id),
                detail: Some(r.detail),
                ..NewEvent::default()
            },
        })
        .collect();
    let any_queued = rows.iter().any(|r| r.queued);
    // The audit rows go through audit_append() like every other; a notification only when a worker has work.
    sqlx::query!(
        r#"WITH m AS (
             INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload, request_id, notify_done,
                                   traceparent, channel, source_address)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int4[], $6::text[], $7::jsonb[],
                                  $8::text[], $9::bool[], $10::text[], $14::text[], $15::text[]))
         SELECT audit_append($11) AS "appended!", CASE WHEN $12 THEN pg_notify($13, '')::text END AS notified"#,
        &ids,
        &apps,
        &mailboxes as _,
        &subjects as _,
        &recipients,
        &statuses as _,
        &payloads as _,
        &request_ids as _,
        &notify_done,
        &traceparents as _,
        Json(&events) as _,
        any_queued,
        channels::OUTBOX,
        &channels as _,
        &sources as _
    )
    .fetch_one(db)
    .await
    .map(drop)
}
