//! How a message is shown to its sender.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db;
use crate::db::audit::AuditRow;
use crate::db::messages::{MessageRow, Status};
use crate::domain::message::NewMessage;

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
    /// A message just accepted, as stored: queued, no attempts yet.
    pub fn queued(id: Uuid, mailbox: &str, message: &NewMessage) -> Self {
        let now = time::OffsetDateTime::now_utc();
        Self {
            id,
            status: Status::Queued.as_str().to_owned(),
            from: mailbox.to_owned(),
            subject: message.subject.clone(),
            recipients: i32::try_from(message.recipients).unwrap_or(i32::MAX),
            created_at: now,
            updated_at: now,
            last_error: None,
            channel: message.origin.channel.as_str().to_owned(),
            source_address: message.origin.source_address.clone(),
            events: Vec::new(),
        }
    }

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
