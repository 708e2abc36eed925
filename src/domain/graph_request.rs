//! Graph's own `sendMail` body, read into mailgate's send request so that one validation serves both endpoints.
//! Read as Graph reads it (property names in any letter case, OData annotations, enum values in any case), so
//! that Graph's SDKs work unchanged; only what mailgate models is read, and only what it validated is forwarded.

mod contents;
mod props;
pub mod schema;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use self::props::{Props, join};
use super::EmailAddress;
use super::message::{
    AttachmentInput, Importance, Limits, MAX_HEADERS, MAX_NAME_CHARS, NewMessage, SendRequest, check_headers,
};
use crate::domain::DomainError;

fn invalid(field: &str, detail: impl Into<String>) -> DomainError {
    DomainError::invalid(field, detail)
}

const BODY: &[&str] = &["message", "saveToSentItems"];
const MESSAGE: &[&str] = &[
    "subject",
    "body",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "importance",
    "internetMessageHeaders",
    "attachments",
    "from",
    "sender",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
];
const RECIPIENT: &[&str] = &["emailAddress"];
const EMAIL_ADDRESS: &[&str] = &["address", "name"];
const ITEM_BODY: &[&str] = &["contentType", "content"];
const HEADER: &[&str] = &["name", "value"];
const FILE_ATTACHMENT: &[&str] = &["name", "contentType", "contentBytes", "isInline", "contentId"];
/// Message flags forwarded as given once they are booleans.
const FLAGS: [&str; 2] = ["isDeliveryReceiptRequested", "isReadReceiptRequested"];

/// A mailbox the message says it is from (`from`) or sent by (`sender`), which Graph checks against the path's
/// Send As and Send on Behalf rights, and mailgate against its allowlist.
#[derive(Debug)]
pub struct SendAs {
    pub field: &'static str,
    pub address: EmailAddress,
}

/// A Graph `sendMail` body, read: mailgate's request plus the Graph-only parts it checked.
#[derive(Debug)]
pub struct GraphSend {
    pub request: SendRequest,
    /// `from` and `sender`, when set.
    pub send_as: Vec<SendAs>,
    /// Validated message properties `SendRequest` does not carry (`from`, `sender`, receipt flags, and the header
    /// list when a name repeats).
    extra: Map<String, Value>,
}

impl GraphSend {
    /// Validates as `/v1/messages` does; the body Graph receives is built from validated fields only.
    pub fn validate(self, limits: Limits) -> Result<NewMessage, DomainError> {
        let mut message = self.request.validate(limits).map_err(|e| e.map_field(graph_field))?;
        let Some(body) = message.graph_body.get_mut("message").and_then(Value::as_object_mut) else {
            // Only a message with two bodies goes as MIME, and Graph's body has one.
            return Err(DomainError::internal("a Graph-shaped send was built as MIME"));
        };
        body.extend(self.extra);
        Ok(message)
    }
}

/// A field of `/v1/messages` that validation named, in the Graph body's spelling (`to[1].address` →
/// `message.toRecipients[1].emailAddress.address`), so a Graph caller finds it in what it sent.
fn graph_field(field: &str) -> String {
    let end = field.find(['[', '.']).unwrap_or(field.len());
    let (head, rest) = field.split_at(end);
    let head = match head {
        "to" => "message.toRecipients",
        "cc" => "message.ccRecipients",
        "bcc" => "message.bccRecipients",
        "reply_to" => "message.replyTo",
        "subject" => "message.subject",
        "text" | "html" => "message.body.content",
        "attachments" => "message.attachments",
        "from" => "mailbox",
        "save_to_sent_items" => "saveToSentItems",
        _ => return field.to_owned(),
    };
    let rest = if head.ends_with("Recipients") || head.ends_with("replyTo") {
        rest.replacen(".address", ".emailAddress.address", 1).replacen(".name", ".emailAddress.name", 1)
    } else {
        rest.replacen(".content_base64", ".contentBytes", 1).replacen(".content_type", ".contentType", 1).replacen(
            ".content_id",
            ".contentId",
            1,
        )
    };
    format!("{head}{rest}")
}

/// `{"emailAddress": {"address", "name"}}` as `/v1/messages` takes a recipient: `{"address", "name"}`.
fn recipient(value: &Value, field: &str) -> Result<Value, DomainError> {
    let r = Props::read(value, field, RECIPIENT)?;
    r.expect_type("recipient")?;
    let email_field = r.field("emailAddress");
    let email = r
        .get("emailAddress")
        .ok_or_else(|| invalid(field, format!("`{field}` must be {{\"emailAddress\": {{\"address\": …}}}}")))?;
    let email = Props::read(email, &email_field, EMAIL_ADDRESS)?;
    email.expect_type("emailAddress")?;
    let mut out = json!({ "address": email.get("address").cloned().unwrap_or(Value::Null) });
    if let Some(name) = email.str("name")? {
        out["name"] = json!(name);
    }
    Ok(out)
}

fn recipients(message: &Props, key: &str) -> Result<Vec<Value>, DomainError> {
    let Some(list) = message.get(key) else { return Ok(Vec::new()) };
    let field = message.field(key);
    let list = list.as_array().ok_or_else(|| invalid(&field, format!("`{field}` must be an array")))?;
    list.iter().enumerate().map(|(i, r)| recipient(r, &format!("{field}[{i}]"))).collect()
}

/// `from` or `sender`: one address, checked here, forwarded as `{"emailAddress": {"address", "name"?}}`.
fn send_as(message: &Props, key: &'static str) -> Result<Option<(SendAs, Value)>, DomainError> {
    let Some(value) = message.get(key) else { return Ok(None) };
    let field = message.field(key);
    let r = recipient(value, &field)?;
    let address_field = join(&field, "emailAddress.address");
    let raw =
        r["address"].as_str().ok_or_else(|| invalid(&address_field, format!("`{address_field}` must be a string")))?;
    let address = EmailAddress::parse(raw).map_err(|e| invalid(&address_field, format!("`{address_field}`: {e}")))?;
    let mut email = json!({ "address": address.as_str() });
    if let Some(name) = r.get("name").and_then(Value::as_str) {
        let name_field = join(&field, "emailAddress.name");
        if name.contains(['\r', '\n']) {
            return Err(invalid(&name_field, format!("`{name_field}` must not contain CR or LF")));
        }
        // The same bound as every other display name: Exchange keeps 256 characters and would cut the rest.
        if name.chars().nth(MAX_NAME_CHARS).is_some() {
            return Err(invalid(&name_field, format!("`{name_field}` is longer than {MAX_NAME_CHARS} characters")));
        }
        email["name"] = json!(name);
    }
    Ok(Some((SendAs { field: key, address }, json!({ "emailAddress": email }))))
}

/// An attachment, but for its content, which is moved out of the body afterwards (see `contents::take`).
fn attachment(value: &Value, field: &str) -> Result<AttachmentInput, DomainError> {
    let a = Props::read(value, field, FILE_ATTACHMENT)?;
    // Graph's default for an attachment without a type is a file attachment.
    a.expect_type("fileAttachment")?;
    a.str("contentBytes")?.ok_or_else(|| invalid(&a.field("contentBytes"), "an attachment needs contentBytes"))?;
    Ok(AttachmentInput {
        name: a.str("name")?.ok_or_else(|| invalid(&a.field("name"), "an attachment needs a name"))?.to_owned(),
        content_type: a.str("contentType")?.unwrap_or("application/octet-stream").to_owned(),
        content_base64: String::new(),
        inline: a.bool("isInline")?.unwrap_or(false),
        content_id: a.str("contentId")?.map(str::to_owned),
    })
}

/// The body as `text` or `html`, still empty: its content is moved out of the request afterwards.
fn item_body(message: &Props) -> Result<(Option<String>, Option<String>), DomainError> {
    let Some(value) = message.get("body") else { return Ok((Some(String::new()), None)) };
    let b = Props::read(value, &message.field("body"), ITEM_BODY)?;
    b.expect_type("itemBody")?;
    b.str("content")?;
    match b.str("contentType")?.map(str::to_ascii_lowercase).as_deref() {
        None | Some("text") => Ok((Some(String::new()), None)),
        Some("html") => Ok((None, Some(String::new()))),
        Some(other) => Err(invalid(&b.field("contentType"), format!("`{other}` is not text or html"))),
    }
}

/// The headers as `/v1/messages` takes them (one value per name), and, when a name repeats, the whole list as
/// Graph should receive it: RFC 5322 lets an `x-` field appear more than once, and Graph takes a list.
fn headers(message: &Props) -> Result<(BTreeMap<String, String>, Option<Value>), DomainError> {
    let Some(list) = message.get("internetMessageHeaders") else { return Ok((BTreeMap::new(), None)) };
    let list = list.as_array().ok_or_else(|| invalid("headers", "`internetMessageHeaders` must be an array"))?;
    if list.is_empty() {
        return Err(invalid("headers", "`internetMessageHeaders` must not be empty; leave it out instead"));
    }
    if list.len() > MAX_HEADERS {
        return Err(invalid("headers", format!("at most {MAX_HEADERS} headers are allowed, got {}", list.len())));
    }
    let mut pairs = Vec::with_capacity(list.len());
    for (i, h) in list.iter().enumerate() {
        let h = Props::read(h, &format!("headers[{i}]"), HEADER)?;
        h.expect_type("internetMessageHeader")?;
        let (Some(name), Some(value)) = (h.str("name")?, h.str("value")?) else {
            return Err(invalid("headers", "each internet message header needs a `name` and a `value`"));
        };
        // Each one passes the checks `/v1/messages` applies, not only the last of a repeated name.
        check_headers(&BTreeMap::from([(name.to_owned(), value.to_owned())]), MAX_HEADERS)?;
        pairs.push((name, value));
    }
    let map: BTreeMap<String, String> = pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    let repeated = (map.len() < pairs.len())
        .then(|| Value::Array(pairs.iter().map(|(name, value)| json!({ "name": name, "value": value })).collect()));
    Ok((map, repeated))
}

fn importance(message: &Props) -> Result<Option<Importance>, DomainError> {
    match message.str("importance")?.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("low") => Ok(Some(Importance::Low)),
        Some("normal") => Ok(Some(Importance::Normal)),
        Some("high") => Ok(Some(Importance::High)),
        Some(other) => Err(invalid(&message.field("importance"), format!("`{other}` is not low, normal or high"))),
    }
}

/// Reads `{"message": {...}, "saveToSentItems": bool}` sent to `/users/{mailbox}/sendMail`. The body's large strings
/// (its content and the attachments') are moved into the request, not copied: a large message is held once.
pub fn to_send_request(mailbox: &str, mut body: Value) -> Result<GraphSend, DomainError> {
    let mut send = read(mailbox, &body)?;
    contents::take(&mut send.request, &mut body);
    Ok(send)
}

/// Reads and checks everything but the large strings, which stay empty here.
fn read(mailbox: &str, body: &Value) -> Result<GraphSend, DomainError> {
    let top = Props::read(body, "", BODY)?;
    let message = top
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| invalid("message", "the body needs a `message` object"))?;
    let message = Props::read(message, "message", MESSAGE)?;
    message.expect_type("message")?;
    let mut extra = Map::new();
    let mut send_as_list = Vec::new();
    for key in ["from", "sender"] {
        if let Some((who, value)) = send_as(&message, key)? {
            extra.insert(key.to_owned(), value);
            send_as_list.push(who);
        }
    }
    for flag in FLAGS {
        if let Some(on) = message.bool(flag)? {
            extra.insert(flag.to_owned(), Value::Bool(on));
        }
    }
    let (text, html) = item_body(&message)?;
    let attachments = match message.get("attachments") {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, a)| attachment(a, &format!("message.attachments[{i}]")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("message.attachments", "`attachments` must be an array")),
    };
    let (headers, repeated_headers) = headers(&message)?;
    if let Some(list) = repeated_headers {
        extra.insert("internetMessageHeaders".to_owned(), list);
    }
    let request = SendRequest {
        from: mailbox.to_owned(),
        to: recipients(&message, "toRecipients")?,
        cc: recipients(&message, "ccRecipients")?,
        bcc: recipients(&message, "bccRecipients")?,
        reply_to: recipients(&message, "replyTo")?,
        subject: message.str("subject")?.unwrap_or("").to_owned(),
        text,
        html,
        attachments,
        importance: importance(&message)?,
        headers,
        save_to_sent_items: top.bool("saveToSentItems")?,
    };
    Ok(GraphSend { request, send_as: send_as_list, extra })
}

#[cfg(test)]
mod tests;
