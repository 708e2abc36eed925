//! A send request as callers write it, and its validation into the Graph `sendMail` body.
//! Validation happens once, here; everything after it handles only a `NewMessage`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{EmailAddress, Mailbox};
use crate::error::ApiError;

/// Graph refuses request bodies above about 4 MB. Larger messages go through a draft and upload sessions
/// (`delivery::upload`), but the message without its attachments must still fit one request.
pub const GRAPH_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Graph refuses more than five custom internet message headers.
pub const MAX_HEADERS: usize = 5;

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
    #[serde(default)]
    pub subject: String,
    /// Plain-text body. With `html` too, both are sent as multipart/alternative MIME (then at most 4 MB in all).
    pub text: Option<String>,
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
    pub importance: Option<Importance>,
    /// Custom internet headers; names must start with `x-`; at most five.
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

fn no_line_breaks(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains(['\r', '\n']) {
        return Err(ApiError::invalid(field, format!("`{field}` must not contain CR or LF")));
    }
    Ok(())
}

fn recipient(field: &str, raw: &Value) -> Result<Value, ApiError> {
    let (address, name) = match raw {
        Value::String(s) => (s.as_str(), None),
        Value::Object(map) => {
            if let Some(unknown) = map.keys().find(|k| *k != "address" && *k != "name") {
                return Err(ApiError::invalid(
                    format!("{field}.{unknown}"),
                    format!("unknown field `{unknown}` in `{field}`, expected `address` or `name`"),
                ));
            }
            let address = map.get("address").and_then(Value::as_str).ok_or_else(|| {
                ApiError::invalid(format!("{field}.address"), format!("`{field}.address` must be a string"))
            })?;
            let name = match map.get("name") {
                None | Some(Value::Null) => None,
                Some(Value::String(n)) => Some(n.as_str()),
                Some(_) => {
                    return Err(ApiError::invalid(format!("{field}.name"), format!("`{field}.name` must be a string")));
                }
            };
            (address, name)
        }
        _ => {
            return Err(ApiError::invalid(
                field,
                format!("`{field}` must be an address string or an object with `address`"),
            ));
        }
    };
    let address_field = if raw.is_string() { field.to_owned() } else { format!("{field}.address") };
    EmailAddress::parse(address).map_err(|e| ApiError::invalid(&address_field, format!("`{address_field}`: {e}")))?;
    let mut email = json!({ "address": address });
    if let Some(name) = name {
        no_line_breaks(&format!("{field}.name"), name)?;
        email["name"] = json!(name);
    }
    Ok(json!({ "emailAddress": email }))
}

fn recipients(list_name: &str, list: &[Value]) -> Result<Vec<Value>, ApiError> {
    list.iter().enumerate().map(|(i, r)| recipient(&format!("{list_name}[{i}]"), r)).collect()
}

/// The Graph `fileAttachment` and the decoded size of its content.
fn attachment(i: usize, a: &AttachmentInput) -> Result<(Value, usize), ApiError> {
    let field = |f: &str| format!("attachments[{i}].{f}");
    if a.name.trim().is_empty() {
        return Err(ApiError::invalid(field("name"), "an attachment needs a name"));
    }
    no_line_breaks(&field("name"), &a.name)?;
    let ct = &a.content_type;
    let (kind, sub) = ct.split_once('/').unwrap_or(("", ""));
    let token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c));
    if !token(kind) || !token(sub.split(';').next().unwrap_or("").trim()) {
        return Err(ApiError::invalid(
            field("content_type"),
            format!("`{ct}` is not a media type such as `application/pdf`"),
        ));
    }
    no_line_breaks(&field("content_type"), ct)?;
    let size = base64::engine::general_purpose::STANDARD
        .decode(a.content_base64.as_bytes())
        .map_err(|e| ApiError::invalid(field("content_base64"), format!("not valid base64: {e}")))?
        .len();
    let mut out = json!({
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": a.name,
        "contentType": ct,
        "contentBytes": a.content_base64,
        "isInline": a.inline,
    });
    if let Some(cid) = &a.content_id {
        no_line_breaks(&field("content_id"), cid)?;
        out["contentId"] = json!(cid);
    } else if a.inline {
        return Err(ApiError::invalid(field("content_id"), "an inline attachment needs a `content_id`"));
    }
    Ok((out, size))
}

fn headers(headers: &BTreeMap<String, String>) -> Result<Vec<Value>, ApiError> {
    if headers.len() > MAX_HEADERS {
        return Err(ApiError::invalid(
            "headers",
            format!("at most {MAX_HEADERS} headers are allowed, got {}", headers.len()),
        ));
    }
    headers
        .iter()
        .map(|(name, value)| {
            let field = format!("headers.{name}");
            let is_token = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !(name.len() > 2 && name[..2].eq_ignore_ascii_case("x-") && is_token) {
                return Err(ApiError::invalid(
                    &field,
                    format!("header name `{name}` must start with `x-` and hold only letters, digits and `-`"),
                ));
            }
            no_line_breaks(&field, value)?;
            Ok(json!({ "name": name, "value": value }))
        })
        .collect()
}

impl SendRequest {
    pub fn validate(&self, limits: Limits) -> Result<NewMessage, ApiError> {
        let mailbox =
            Mailbox::parse(self.from.trim()).map_err(|e| ApiError::invalid("from", format!("`from`: {e}")))?;
        let to = recipients("to", &self.to)?;
        let cc = recipients("cc", &self.cc)?;
        let bcc = recipients("bcc", &self.bcc)?;
        let reply_to = recipients("reply_to", &self.reply_to)?;
        let count = to.len() + cc.len() + bcc.len();
        if count == 0 {
            return Err(ApiError::invalid("to", "a message needs at least one recipient in `to`, `cc` or `bcc`"));
        }
        if count > limits.max_recipients {
            return Err(ApiError::invalid(
                "to",
                format!("{count} recipients in `to`, `cc` and `bcc`; at most {} are allowed", limits.max_recipients),
            ));
        }
        no_line_breaks("subject", &self.subject)?;
        if self.text.is_some() && self.html.is_some() && self.save_to_sent_items == Some(false) {
            return Err(ApiError::invalid(
                "save_to_sent_items",
                "a message with both `text` and `html` is sent as MIME, which Graph always keeps in Sent Items; \
                 send one body, or leave `save_to_sent_items` out",
            ));
        }
        let (body, body_field, body_len) = match (&self.html, &self.text) {
            (Some(html), _) => (json!({ "contentType": "HTML", "content": html }), "html", html.len()),
            (None, Some(text)) => (json!({ "contentType": "Text", "content": text }), "text", text.len()),
            (None, None) => {
                return Err(ApiError::invalid("text", "a message needs `text` or `html`"));
            }
        };
        let mut message = json!({
            "subject": self.subject,
            "body": body,
            "toRecipients": to,
        });
        for (key, list) in [("ccRecipients", cc), ("bccRecipients", bcc), ("replyTo", reply_to)] {
            if !list.is_empty() {
                message[key] = Value::Array(list);
            }
        }
        if let Some(importance) = self.importance {
            message["importance"] = json!(importance);
        }
        // Some Graph versions refuse an empty header list, so it is left out rather than sent empty.
        let headers = headers(&self.headers)?;
        if !headers.is_empty() {
            message["internetMessageHeaders"] = Value::Array(headers);
        }
        // Everything but the attachments travels in one Graph request (sendMail, or the draft), so must fit it.
        let bare = serde_json::to_vec(&message).map(|v| v.len()).unwrap_or(usize::MAX);
        if bare > GRAPH_MAX_REQUEST_BYTES - 64 * 1024 {
            return Err(too_large(
                body_field,
                format!("the message without attachments encodes to {bare} bytes; Graph takes about 4 MB for it"),
            ));
        }
        let mut size = body_len + if self.html.is_some() { self.text.as_ref().map_or(0, String::len) } else { 0 };
        if !self.attachments.is_empty() {
            let (list, sizes): (Vec<_>, Vec<_>) = self
                .attachments
                .iter()
                .enumerate()
                .map(|(i, a)| attachment(i, a))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .unzip();
            size += sizes.iter().sum::<usize>();
            message["attachments"] = Value::Array(list);
        }
        if size > limits.max_message_bytes {
            return Err(too_large(
                "attachments",
                format!(
                    "the message is {size} bytes (body and decoded attachments), above the limit of {}",
                    limits.max_message_bytes
                ),
            ));
        }
        let graph_body = json!({
            "message": message,
            "saveToSentItems": self.save_to_sent_items.unwrap_or(true),
        });
        // Graph's JSON takes one body; both go as multipart/alternative MIME, which must fit one request.
        let graph_body = match (&self.text, &self.html) {
            (Some(text), Some(html)) => {
                let boundary = format!("=_mg{}", uuid::Uuid::new_v4().simple());
                let mime = super::mime::build(&mailbox, &graph_body["message"], text, html, &boundary);
                let encoded = base64::engine::general_purpose::STANDARD.encode(mime);
                if encoded.len() > GRAPH_MAX_REQUEST_BYTES {
                    return Err(too_large(
                        "attachments",
                        format!(
                            "with both `text` and `html` the message goes as one MIME request of {} bytes, above \
                             Graph's 4 MB; send one body to use the large-message path",
                            encoded.len()
                        ),
                    ));
                }
                json!({ "mime": encoded })
            }
            _ => graph_body,
        };
        Ok(NewMessage { mailbox, subject: self.subject.clone(), recipients: count, graph_body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_recipients: 500, max_message_bytes: 35 * 1024 * 1024 };

    fn parse(v: Value) -> Result<NewMessage, ApiError> {
        let req: SendRequest = serde_json::from_value(v).expect("shape");
        req.validate(LIMITS)
    }

    fn field_of(v: Value) -> String {
        parse(v).expect_err("refused").field.unwrap_or_default()
    }

    #[test]
    fn builds_the_graph_body() {
        let m = parse(json!({
            "from": "Notifications@contoso.test",
            "to": ["a@example.com", {"address": "b@example.com", "name": "B"}],
            "bcc": ["c@example.com"],
            "subject": "hi", "text": "body",
            "headers": {"x-job": "nightly"},
            "importance": "high",
            "save_to_sent_items": false,
            "attachments": [{"name": "a.txt", "content_type": "text/plain", "content_base64": "aGk="}]
        }))
        .expect("valid");
        assert_eq!(m.mailbox.key(), "notifications@contoso.test");
        assert_eq!(m.recipients, 3);
        let msg = &m.graph_body["message"];
        assert_eq!(msg["toRecipients"][1]["emailAddress"]["name"], "B");
        assert_eq!(msg["bccRecipients"][0]["emailAddress"]["address"], "c@example.com");
        assert_eq!(msg["body"]["contentType"], "Text");
        assert_eq!(msg["importance"], "high");
        assert_eq!(msg["internetMessageHeaders"][0]["name"], "x-job");
        assert_eq!(msg["attachments"][0]["contentBytes"], "aGk=");
        assert!(msg.get("ccRecipients").is_none());
        assert_eq!(m.graph_body["saveToSentItems"], false);
    }

    #[test]
    fn both_bodies_go_as_mime_and_cannot_skip_sent_items() {
        let both = json!({"from": "a@contoso.test", "to": ["b@contoso.test"], "text": "plain", "html": "<p>rich</p>"});
        let m = parse(both.clone()).expect("valid");
        let mime = base64::engine::general_purpose::STANDARD
            .decode(m.graph_body["mime"].as_str().expect("mime"))
            .expect("b64");
        let mime = String::from_utf8(mime).expect("utf-8");
        assert!(mime.contains("multipart/alternative") && mime.contains("To: b@contoso.test"), "{mime}");
        let mut no_copy = both;
        no_copy["save_to_sent_items"] = json!(false);
        assert_eq!(field_of(no_copy), "save_to_sent_items");
    }

    #[test]
    fn names_the_field_at_fault() {
        let base = || json!({"from": "a@contoso.test", "to": ["b@contoso.test"], "text": "t"});
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            b
        };
        assert_eq!(field_of(with("from", json!("nope"))), "from");
        assert_eq!(field_of(with("to", json!([]))), "to");
        assert_eq!(field_of(with("to", json!(["ok@x.com", "bad"]))), "to[1]");
        assert_eq!(field_of(with("cc", json!([{"address": "x@y"}]))), "cc[0].address");
        assert_eq!(field_of(with("to", json!([{"address": "a@b.com", "name": "A\r\nBcc: x"}]))), "to[0].name");
        assert_eq!(field_of(with("to", json!([{"adress": "a@b.com"}]))), "to[0].adress");
        assert_eq!(field_of(with("subject", json!("hi\nBcc: evil@x.com"))), "subject");
        assert_eq!(field_of(with("headers", json!({"Reply-To": "x"}))), "headers.Reply-To");
        assert_eq!(field_of(with("headers", json!({"x-a": "1\r\n2"}))), "headers.x-a");
        let six: serde_json::Map<String, Value> = (0..6).map(|i| (format!("x-h{i}"), json!("v"))).collect();
        assert_eq!(field_of(with("headers", Value::Object(six))), "headers");
        let mut no_body = base();
        no_body.as_object_mut().expect("object").remove("text");
        assert_eq!(field_of(no_body), "text");
        let bad_b64 = json!([{"name": "a", "content_type": "text/plain", "content_base64": "%%%"}]);
        assert_eq!(field_of(with("attachments", bad_b64)), "attachments[0].content_base64");
        let many: Vec<Value> = (0..501).map(|i| json!(format!("r{i}@example.com"))).collect();
        assert_eq!(field_of(with("to", Value::Array(many))), "to");
    }

    fn with_attachment(len: usize) -> Value {
        let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; len]);
        json!({
            "from": "a@contoso.test", "to": ["b@contoso.test"], "text": "t",
            "attachments": [{"name": "big.bin", "content_type": "application/octet-stream", "content_base64": big}]
        })
    }

    #[test]
    fn refuses_a_message_over_the_size_limit_and_not_one_over_graphs_request_limit() {
        // Over Graph's 4 MB request limit: accepted, delivery goes through upload sessions.
        assert!(parse(with_attachment(3_200_000)).is_ok());
        let req: SendRequest = serde_json::from_value(with_attachment(3_200_000)).expect("shape");
        let err = req.validate(Limits { max_message_bytes: 3_000_000, ..LIMITS }).expect_err("too large");
        assert_eq!((err.status, err.code), (StatusCode::PAYLOAD_TOO_LARGE, "message_too_large"));
        // The body itself must fit one Graph request.
        let mut huge_text = with_attachment(10);
        huge_text["text"] = json!("x".repeat(GRAPH_MAX_REQUEST_BYTES));
        let err = parse(huge_text).expect_err("body too large");
        assert_eq!((err.status, err.field.as_deref()), (StatusCode::PAYLOAD_TOO_LARGE, Some("text")));
    }
}
