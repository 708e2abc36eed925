//! Accepted messages into the outbox, many per statement: each message row with its audit event, and one notice to
//! the workers of every replica per batch rather than per message.

use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

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
    let app_names: Vec<&str> = rows.iter().map(|r| r.app_name).collect();
    let details: Vec<&str> = rows.iter().map(|r| r.detail).collect();
    let traceparents: Vec<Option<&str>> = rows.iter().map(|r| r.traceparent).collect();
    let any_queued = rows.iter().any(|r| r.queued);
    sqlx::query!(
        "WITH m AS (
             INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload, request_id, notify_done,
                                   traceparent)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int4[], $6::text[], $7::jsonb[],
                                  $8::text[], $9::bool[], $14::text[])),
         a AS (
             INSERT INTO audit_events (outcome, app_id, app_name, mailbox, message_id, http_status, request_id, detail)
             SELECT r.status, r.app_id, r.app_name, r.mailbox, r.id,
                    CASE WHEN r.status = 'denied' THEN 403 END, r.request_id, r.detail
               FROM unnest($1::uuid[], $2::uuid[], $10::text[], $3::text[], $6::text[], $8::text[], $11::text[])
                    WITH ORDINALITY AS r (id, app_id, app_name, mailbox, status, request_id, detail, n)
              ORDER BY r.n)
         SELECT pg_notify($12, '') WHERE $13",
        &ids,
        &apps,
        &mailboxes as _,
        &subjects as _,
        &recipients,
        &statuses as _,
        &payloads as _,
        &request_ids as _,
        &notify_done,
        &app_names as _,
        &details as _,
        channels::OUTBOX,
        any_queued,
        &traceparents as _
    )
    .execute(db)
    .await
    .map(drop)
}
