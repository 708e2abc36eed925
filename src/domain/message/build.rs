//! The body Graph receives, built from a request that passed every check: Graph's JSON with the caller's strings
//! moved in rather than copied, or, for a message with both bodies, base64 MIME.

use base64::Engine;
use serde_json::{Value, json};

use super::fields::Person;
use super::{
    GRAPH_MAX_REQUEST_BYTES, Importance, NewMessage, REQUEST_MARGIN, Recipients, SendRequest, size, too_large,
};
use crate::domain::DomainError;
use crate::domain::{Mailbox, mime};

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

impl SendRequest {
    /// Graph's JSON form: the caller's strings moved into it, its length counted, not written.
    pub(super) fn into_graph_json(
        self,
        mailbox: Mailbox,
        people: Recipients,
        count: usize,
        body_field: &str,
        large_messages: bool,
    ) -> Result<NewMessage, DomainError> {
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
        // A draft's `/send` always keeps the message in Sent Items, so the caller's wish could not be honoured.
        if request > GRAPH_MAX_REQUEST_BYTES && self.save_to_sent_items == Some(false) {
            return Err(DomainError::invalid(
                "save_to_sent_items",
                format!(
                    "the message's Graph request would be {request} bytes, above Graph's 4 MB, so it is sent \
                     through a draft, which Graph always keeps in Sent Items; leave `save_to_sent_items` out or \
                     send a smaller message"
                ),
            ));
        }
        Ok(NewMessage { mailbox, subject, recipients: count, graph_body, origin: Default::default() })
    }

    /// Both bodies: multipart/alternative MIME, which Graph takes only in one request, so its size is checked
    /// from the lengths before anything is decoded or built.
    pub(super) fn into_mime(
        self,
        mailbox: Mailbox,
        people: Recipients,
        count: usize,
    ) -> Result<NewMessage, DomainError> {
        // At least the bodies and the attachments' base64 end up in the MIME, which is base64-encoded again.
        let content = self.text.as_ref().map_or(0, String::len)
            + self.html.as_ref().map_or(0, String::len)
            + self.attachments.iter().map(|a| a.content_base64.len()).sum::<usize>();
        let field = if self.attachments.is_empty() { "html" } else { "attachments" };
        let refuse = |bytes: usize| {
            too_large(
                field,
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
                DomainError::invalid(format!("attachments[{i}].content_base64"), format!("not valid base64: {e}"))
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
        .map_err(|e| DomainError::fault(e, "building MIME"))?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(built);
        if encoded.len() > GRAPH_MAX_REQUEST_BYTES {
            return Err(refuse(encoded.len()));
        }
        Ok(NewMessage {
            mailbox,
            subject: self.subject,
            recipients: count,
            graph_body: json!({ "mime": encoded }),
            origin: Default::default(),
        })
    }
}
