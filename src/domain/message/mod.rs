//! A send request as callers write it, and its validation into the Graph `sendMail` body.
//! Validation happens once, here; everything after it handles only a `NewMessage`.

//! Every size is worked out from lengths before anything is decoded, copied or built (see [`size`]), so a
//! request too large to send costs little more than reading it.

mod build;
mod fields;
pub mod schema;
pub mod size;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::Mailbox;
use crate::domain::DomainError;
use fields::Person;
pub use fields::{MAX_NAME_CHARS, headers as check_headers};

/// Graph refuses request bodies above about 4 MB. Larger messages go through a draft and upload sessions
/// (`delivery::upload`) when `MAILGATE_LARGE_MESSAGES` is on, but the message without its attachments must
/// still fit one request.
pub const GRAPH_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Graph refuses more than five custom internet message headers.
pub const MAX_HEADERS: usize = 5;
/// Outlook and Exchange show and keep subjects up to 255 characters; a longer one would be cut somewhere
/// between the caller and the recipient, so it is refused instead.
pub const MAX_SUBJECT_CHARS: usize = 255;
/// Room in a Graph request for everything but the attachments' content when the draft path splits it.
const REQUEST_MARGIN: usize = 64 * 1024;

/// `POST /v1/messages`. Unknown fields are refused so that a typo never passes silently.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The mailbox to send as: its address or its Entra object id.
    #[schema(schema_with = crate::domain::schema::mailbox)]
    pub from: String,
    #[serde(default)]
    #[schema(value_type = Vec<RecipientSchema>)]
    pub to: Vec<Value>,
    #[serde(default)]
    #[schema(value_type = Vec<RecipientSchema>)]
    pub cc: Vec<Value>,
    #[serde(default)]
    #[schema(value_type = Vec<RecipientSchema>)]
    pub bcc: Vec<Value>,
    #[serde(default)]
    #[schema(value_type = Vec<RecipientSchema>)]
    pub reply_to: Vec<Value>,
    /// One line of at most 255 characters, Outlook's limit.
    #[serde(default)]
    #[schema(schema_with = schema::subject)]
    pub subject: String,
    /// Plain-text body. With `html` too, both are sent as multipart/alternative MIME (then at most 4 MB in all).
    pub text: Option<String>,
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
    pub importance: Option<Importance>,
    /// Custom internet headers; names must start with `x-` and be ASCII; at most five.
    #[serde(default)]
    #[schema(schema_with = schema::headers)]
    pub headers: BTreeMap<String, String>,
    /// Keep a copy in the mailbox's Sent Items (Graph's default: true).
    pub save_to_sent_items: Option<bool>,
}

/// A recipient in the document: `"a@b"` or `{"address": "a@b", "name": "A B"}` (see `schema::recipient`).
pub struct RecipientSchema;

impl utoipa::PartialSchema for RecipientSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::recipient().into()
    }
}

impl ToSchema for RecipientSchema {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInput {
    #[schema(schema_with = schema::file_name)]
    pub name: String,
    #[schema(schema_with = schema::media_type)]
    pub content_type: String,
    #[schema(schema_with = schema::base64)]
    pub content_base64: String,
    /// An inline attachment needs a `content_id`.
    #[serde(default)]
    pub inline: bool,
    #[schema(schema_with = schema::content_id_or_null)]
    pub content_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Importance {
    Low,
    Normal,
    High,
}

/// A request that passed every check, with the exact body Graph will receive.
#[derive(Debug)]
pub struct NewMessage {
    pub mailbox: Mailbox,
    pub subject: String,
    pub recipients: usize,
    pub graph_body: Value,
    /// The door it came in by (HTTP unless the caller says otherwise).
    pub origin: crate::domain::channel::Origin,
}

/// Limits that come from settings rather than from Graph.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_recipients: usize,
    /// Decoded size of the body sent plus every attachment.
    pub max_message_bytes: usize,
    /// `MAILGATE_LARGE_MESSAGES`: whether a message over Graph's 4 MB request may take the draft path, which
    /// needs Mail.ReadWrite. When off it is refused (413).
    pub large_messages: bool,
}

fn too_large(field: &str, detail: String) -> DomainError {
    DomainError::too_large(field, detail)
}

/// The request's recipients, checked.
struct Recipients {
    to: Vec<Person>,
    cc: Vec<Person>,
    bcc: Vec<Person>,
    reply_to: Vec<Person>,
}

impl SendRequest {
    /// Checks everything, sizes first by arithmetic, then builds the body Graph will receive, moving the
    /// request's strings into it rather than copying them. Without `limits.large_messages`, a message whose Graph
    /// request would pass 4 MB is refused here (413), since the draft path that would carry it needs Mail.ReadWrite.
    pub fn validate(self, limits: Limits) -> Result<NewMessage, DomainError> {
        let large_messages = limits.large_messages;
        let mailbox =
            Mailbox::parse(self.from.trim()).map_err(|e| DomainError::invalid("from", format!("`from`: {e}")))?;
        let people = Recipients {
            to: fields::recipients("to", &self.to)?,
            cc: fields::recipients("cc", &self.cc)?,
            bcc: fields::recipients("bcc", &self.bcc)?,
            reply_to: fields::recipients("reply_to", &self.reply_to)?,
        };
        let count = people.to.len() + people.cc.len() + people.bcc.len();
        if count == 0 {
            return Err(DomainError::invalid("to", "a message needs at least one recipient in `to`, `cc` or `bcc`"));
        }
        if count > limits.max_recipients {
            return Err(DomainError::invalid(
                "to",
                format!("{count} recipients in `to`, `cc` and `bcc`; at most {} are allowed", limits.max_recipients),
            ));
        }
        fields::no_line_breaks("subject", &self.subject)?;
        if self.subject.chars().nth(MAX_SUBJECT_CHARS).is_some() {
            return Err(DomainError::invalid(
                "subject",
                format!("`subject` is longer than {MAX_SUBJECT_CHARS} characters, the most Outlook keeps"),
            ));
        }
        if self.text.is_some() && self.html.is_some() && self.save_to_sent_items == Some(false) {
            return Err(DomainError::invalid(
                "save_to_sent_items",
                "a message with both `text` and `html` is sent as MIME, which Graph always keeps in Sent Items; \
                 send one body, or leave `save_to_sent_items` out",
            ));
        }
        let body_field = match (&self.html, &self.text) {
            (Some(_), _) => "html",
            (None, Some(_)) => "text",
            (None, None) => return Err(DomainError::invalid("text", "a message needs `text` or `html`")),
        };
        fields::headers(&self.headers, MAX_HEADERS)?;
        let decoded: Vec<usize> =
            self.attachments.iter().enumerate().map(|(i, a)| fields::attachment(i, a)).collect::<Result<_, _>>()?;
        let bodies = self.text.as_ref().map_or(0, String::len) + self.html.as_ref().map_or(0, String::len);
        let size = bodies + decoded.iter().sum::<usize>();
        if size > limits.max_message_bytes {
            return Err(too_large(
                "attachments",
                format!(
                    "the message is {size} bytes (body and decoded attachments), above the limit of {}",
                    limits.max_message_bytes
                ),
            ));
        }
        if self.text.is_some() && self.html.is_some() {
            return self.into_mime(mailbox, people, count);
        }
        self.into_graph_json(mailbox, people, count, body_field, large_messages)
    }
}

#[cfg(test)]
mod tests;
