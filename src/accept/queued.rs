//! A message just accepted, as its sender is first told of it. The answer kept with its Idempotency-Key is built
//! here, as a refusal's is (refusal.rs), so that a retry gets back what the first request was answered.

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::messages::Status;
use crate::domain::message::NewMessage;

/// A message stored and queued just now: no attempts yet.
#[derive(Clone, Debug)]
pub struct QueuedMessage {
    pub id: Uuid,
    /// The canonical mailbox it is sent as.
    pub from: String,
    pub subject: String,
    pub recipients: i32,
    pub at: OffsetDateTime,
    /// The door it came in by (`http`, `graph`, `smtp`).
    pub channel: &'static str,
    /// For SMTP, the session's peer.
    pub source_address: Option<String>,
}

impl QueuedMessage {
    pub(super) fn new(id: Uuid, mailbox: &str, message: &NewMessage) -> Self {
        Self {
            id,
            from: mailbox.to_owned(),
            subject: message.subject.clone(),
            recipients: i32::try_from(message.recipients).unwrap_or(i32::MAX),
            at: OffsetDateTime::now_utc(),
            channel: message.origin.channel.as_str(),
            source_address: message.origin.source_address.clone(),
        }
    }

    /// The answer kept for a retry: the message as `GET /v1/messages/{id}` shows it at this moment, field for field
    /// (routes::messages::view's `MessageView`, whose test holds the two together).
    pub fn answer(&self) -> Value {
        let at = rfc3339(self.at);
        json!({
            "id": self.id,
            "status": Status::Queued.as_str(),
            "from": self.from,
            "subject": self.subject,
            "recipients": self.recipients,
            "created_at": at,
            "updated_at": at,
            "last_error": null,
            "channel": self.channel,
            "source_address": self.source_address,
            "events": [],
        })
    }
}

/// As the view writes a time (`time::serde::rfc3339`); the current time always has this form.
fn rfc3339(at: OffsetDateTime) -> Value {
    time::serde::rfc3339::serialize(&at, serde_json::value::Serializer).unwrap_or(Value::Null)
}
