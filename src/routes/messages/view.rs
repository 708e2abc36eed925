//! How a message is shown to its sender.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::accept::QueuedMessage;
use crate::db;
use crate::db::audit::AuditRow;
use crate::db::messages::{MessageRow, Status};

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    /// queued, sending, sent, denied, rejected, failed or unknown.
    pub status: String,
    pub from: String,
    pub subject: String,
    pub recipients: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
    /// Graph's error code or the transport fault of the latest failed attempt.
    pub last_error: Option<String>,
    /// The door it came in by: `http` (`POST /v1/messages`), `graph` (the Graph-shaped sendMail) or `smtp`.
    #[schema(example = "http")]
    pub channel: String,
    /// For SMTP, the address of the session's peer.
    pub source_address: Option<String>,
    /// Every recorded event for this message: acceptance, each Graph attempt, and the end.
    pub events: Vec<AuditRow>,
}

impl MessageView {
    pub async fn load(db: impl sqlx::PgExecutor<'_>, row: MessageRow) -> Result<Self, sqlx::Error> {
        let events = db::audit::for_message(db, row.id).await?;
        Ok(Self {
            id: row.id,
            status: row.status,
            from: row.mailbox,
            subject: row.subject,
            recipients: row.recipients,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_error: row.last_error,
            channel: row.channel,
            source_address: row.source_address,
            events,
        })
    }
}

impl From<QueuedMessage> for MessageView {
    /// A message just accepted, as stored: queued, no attempts yet.
    fn from(m: QueuedMessage) -> Self {
        Self {
            id: m.id,
            status: Status::Queued.as_str().to_owned(),
            from: m.from,
            subject: m.subject,
            recipients: m.recipients,
            created_at: m.at,
            updated_at: m.at,
            last_error: None,
            channel: m.channel.to_owned(),
            source_address: m.source_address,
            events: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A retry with the Idempotency-Key is answered with what was kept: the view the first request got.
    #[test]
    fn the_answer_kept_for_a_retry_is_the_view_of_the_queued_message() {
        let queued = QueuedMessage {
            id: Uuid::now_v7(),
            from: "notifications@contoso.test".to_owned(),
            subject: "Weekly report".to_owned(),
            recipients: 3,
            at: time::OffsetDateTime::now_utc(),
            channel: "smtp",
            source_address: Some("192.0.2.10".to_owned()),
        };
        let view = serde_json::to_value(MessageView::from(queued.clone())).expect("json");
        assert_eq!(view, queued.answer());
    }
}
