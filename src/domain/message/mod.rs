//! A send request as callers write it, and its validation into the Graph `sendMail` body.
//! Validation happens once, here; everything after it handles only a `NewMessage`.

//! Every size is worked out from lengths before anything is decoded, copied or built (see [`size`]), so a
//! request too large to send costs little more than reading it.

mod fields;
pub mod size;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::Mailbox;
use super::mime;
use crate::error::ApiError;
use fields::Person;

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
    #[schema(example = "notifications@contoso.test")]
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
    /// At most 255 characters, Outlook's limit.
    #[serde(default)]
    #[schema(max_length = 255)]
    pub subject: String,
    /// Plain-text body. With `html` too, both are sent as multipart/alternative MIME (then at most 4 MB in all).
    pub text: Option<String>,
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
    pub importance: Option<Importance>,
    /// Custom internet headers; names must start with `x-` and be ASCII; at most five.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Keep a copy in the mailbox's Sent Items (Graph's default: true).
    pub save_to_sent_items: Option<bool>,
}

/// A recipient: `"a@b"` or `{"address": "a@b", "name": "A B"}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum RecipientSchema {
    Address(String),
    Named { address: String, name: Option<String> },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInput {
    pub name: String,
    pub content_type: String,
    pub content_base64: String,
    #[serde(default)]
    pub inline: bool,
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
}

/// Limits that come from settings rather than from Graph.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_recipients: usize,
    /// Decoded size of the body sent plus every attachment.
    pub max_message_bytes: usize,
}

fn too_large(field: &str, detail: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "message_too_large", detail).field(field)
}

fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn graph_recipients(list: &[Person]) -> Vec<Value> {
    let one = |p: &Person| match &p.name {
        Some(name) => json!({ "emailAddress": { "address": p.address, "name": name } }),
        None => json!({ "emailAddress": { "address": p.address } }),
    };
    list.iter().map(one).collect()
}

fn mime_recipients(list: &[Person]) -> Vec<mime::Recipient<'_>> {
    list.iter().map(|p| mime::Recipient { address: &p.address, name: p.name.as_deref() }).collect()
}

/// The request's recipients, checked.
struct Recipients {
    to: Vec<Person>,
    cc: Vec<Person>,
    bcc: Vec<Person>,
    reply_to: Vec<Person>,
}

impl SendRequest {
    /// Validates with the large-message path available, as before `MAILGATE_LARGE_MESSAGES` existed.
    /// Callers that know the setting use [`SendRequest::validate_with`].
    pub fn validate(self, limits: Limits) -> Result<NewMessage, ApiError> {
        self.validate_with(limits, true)
    }

    /// Checks everything, sizes first by arithmetic, then builds the body Graph will receive, moving the
    /// request's strings into it rather than copying them. `large_messages` is `MAILGATE_LARGE_MESSAGES`:
    /// when off, a message whose Graph request would pass 4 MB is refused here (413), since the draft path that
    /// would carry it needs Mail.ReadWrite.
    pub fn validate_with(self, limits: Limits, large_messages: bool) -> Result<NewMessage, ApiError> {
        let mailbox =
            Mailbox::parse(self.from.trim()).map_err(|e| ApiError::invalid("from", format!("`from`: {e}")))?;
        let people = Recipients {
            to: fields::recipients("to", &self.to)?,
            cc: fields::recipients("cc", &self.cc)?,
            bcc: fields::recipients("bcc", &self.bcc)?,
            reply_to: fields::recipients("reply_to", &self.reply_to)?,
        };
        let count = people.to.len() + people.cc.len() + people.bcc.len();
        if count == 0 {
            return Err(ApiError::invalid("to", "a message needs at least one recipient in `to`, `cc` or `bcc`"));
        }
        if count > limits.max_recipients {
            return Err(ApiError::invalid(
                "to",
                format!("{count} recipients in `to`, `cc` and `bcc`; at most {} are allowed", limits.max_recipients),
            ));
        }
        fields::no_line_breaks("subject", &self.subject)?;
        if self.subject.chars().nth(MAX_SUBJECT_CHARS).is_some() {
            return Err(ApiError::invalid(
                "subject",
                format!("`subject` is longer than {MAX_SUBJECT_CHARS} characters, the most Outlook keeps"),
            ));
        }
        if self.text.is_some() && self.html.is_some() && self.save_to_sent_items == Some(false) {
            return Err(ApiError::invalid(
                "save_to_sent_items",
                "a message with both `text` and `html` is sent as MIME, which Graph always keeps in Sent Items; \
                 send one body, or leave `save_to_sent_items` out",
            ));
        }
        let body_field = match (&self.html, &self.text) {
            (Some(_), _) => "html",
            (None, Some(_)) => "text",
            (None, None) => return Err(ApiError::invalid("text", "a message needs `text` or `html`")),
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

    /// Graph's JSON form: the caller's strings moved into it, its length counted, not written.
    fn into_graph_json(
        self,
        mailbox: Mailbox,
        people: Recipients,
        count: usize,
        body_field: &str,
        large_messages: bool,
    ) -> Result<NewMessage, ApiError> {
        // `json!` would copy the strings it is given; the large ones are moved in as values instead.
        let body = match (self.html, self.text) {
            (Some(html), _) => object([("contentType", json!("HTML")), ("content", Value::String(html))]),
            (None, text) => {
                object([("contentType", json!("Text")), ("content", Value::String(text.unwrap_or_default()))])
            }
        };
        let subject = self.subject;
        let mut message = object([
            ("subject", Value::String(subject.clone())),
            ("body", body),
            ("toRecipients", Value::Array(graph_recipients(&people.to))),
        ]);
        for (key, list) in [("ccRecipients", &people.cc), ("bccRecipients", &people.bcc), ("replyTo", &people.reply_to)]
        {
            if !list.is_empty() {
                message[key] = Value::Array(graph_recipients(list));
            }
        }
        if let Some(importance) = self.importance {
            message["importance"] = json!(importance);
        }
        // Some Graph versions refuse an empty header list, so it is left out rather than sent empty.
        if !self.headers.is_empty() {
            let list = self.headers.into_iter().map(|(name, value)| json!({ "name": name, "value": value }));
            message["internetMessageHeaders"] = Value::Array(list.collect());
        }
        // Everything but the attachments travels in one Graph request (sendMail, or the draft), so must fit it.
        let bare = size::json_len(&message);
        if bare > GRAPH_MAX_REQUEST_BYTES - REQUEST_MARGIN {
            return Err(too_large(
                body_field,
                format!("the message without attachments encodes to {bare} bytes; Graph takes about 4 MB for it"),
            ));
        }
        if !self.attachments.is_empty() {
            let list = self.attachments.into_iter().map(|a| {
                let mut out = object([
                    ("@odata.type", json!("#microsoft.graph.fileAttachment")),
                    ("name", Value::String(a.name)),
                    ("contentType", Value::String(a.content_type)),
                    ("contentBytes", Value::String(a.content_base64)),
                    ("isInline", Value::Bool(a.inline)),
                ]);
                if let Some(cid) = a.content_id {
                    out["contentId"] = json!(cid);
                }
                out
            });
            message["attachments"] = Value::Array(list.collect());
        }
        let graph_body =
            object([("message", message), ("saveToSentItems", Value::Bool(self.save_to_sent_items.unwrap_or(true)))]);
        let request = size::json_len(&graph_body);
        if request > GRAPH_MAX_REQUEST_BYTES && !large_messages {
            return Err(too_large(
                "attachments",
                format!(
                    "the message's Graph request would be {request} bytes, above Graph's 4 MB for one request; \
                     larger messages go through drafts, which need the Mail.ReadWrite permission and are off \
                     unless MAILGATE_LARGE_MESSAGES=true"
                ),
            ));
        }
        Ok(NewMessage { mailbox, subject, recipients: count, graph_body })
    }

    /// Both bodies: multipart/alternative MIME, which Graph takes only in one request, so its size is checked
    /// from the lengths before anything is decoded or built.
    fn into_mime(self, mailbox: Mailbox, people: Recipients, count: usize) -> Result<NewMessage, ApiError> {
        // At least the bodies and the attachments' base64 end up in the MIME, which is base64-encoded again.
        let content = self.text.as_ref().map_or(0, String::len)
            + self.html.as_ref().map_or(0, String::len)
            + self.attachments.iter().map(|a| a.content_base64.len()).sum::<usize>();
        let refuse = |bytes: usize| {
            too_large(
                "attachments",
                format!(
                    "with both `text` and `html` the message goes as one MIME request of at least {bytes} bytes, \
                     above Graph's 4 MB; send one body to use the large-message path"
                ),
            )
        };
        if size::base64_len(content) > GRAPH_MAX_REQUEST_BYTES {
            return Err(refuse(size::base64_len(content)));
        }
        let mut attachments = Vec::with_capacity(self.attachments.len());
        for (i, a) in self.attachments.iter().enumerate() {
            let content = base64::engine::general_purpose::STANDARD.decode(&a.content_base64).map_err(|e| {
                ApiError::invalid(format!("attachments[{i}].content_base64"), format!("not valid base64: {e}"))
            })?;
            attachments.push(mime::Attachment {
                name: &a.name,
                content_type: &a.content_type,
                content,
                inline: a.inline,
                content_id: a.content_id.as_deref(),
            });
        }
        let from = match &mailbox {
            Mailbox::Address(address) => Some(address.as_str()),
            Mailbox::ObjectId(_) => None,
        };
        let importance = self.importance.map(|i| match i {
            Importance::Low => "low",
            Importance::Normal => "normal",
            Importance::High => "high",
        });
        let built = mime::build(mime::Message {
            from,
            to: mime_recipients(&people.to),
            cc: mime_recipients(&people.cc),
            bcc: mime_recipients(&people.bcc),
            reply_to: mime_recipients(&people.reply_to),
            subject: &self.subject,
            importance,
            headers: self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(),
            text: self.text.as_deref().unwrap_or_default(),
            html: self.html.as_deref().unwrap_or_default(),
            attachments,
        })
        .map_err(|e| ApiError::internal(format!("building MIME: {e}")))?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(built);
        if encoded.len() > GRAPH_MAX_REQUEST_BYTES {
            return Err(refuse(encoded.len()));
        }
        Ok(NewMessage { mailbox, subject: self.subject, recipients: count, graph_body: json!({ "mime": encoded }) })
    }
}

#[cfg(test)]
mod tests;
