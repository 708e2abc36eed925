//! Graph's own `sendMail` body, read into mailgate's send request so that one validation serves both endpoints.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::message::{AttachmentInput, Importance, SendRequest};
use crate::error::ApiError;

fn invalid(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::invalid(field, detail)
}

fn recipients(message: &Value, key: &str) -> Result<Vec<Value>, ApiError> {
    let Some(list) = message.get(key) else { return Ok(Vec::new()) };
    let list =
        list.as_array().ok_or_else(|| invalid(&format!("message.{key}"), format!("`{key}` must be an array")))?;
    list.iter()
        .enumerate()
        .map(|(i, r)| {
            let field = format!("message.{key}[{i}]");
            let email = r.get("emailAddress").filter(|e| e.is_object()).ok_or_else(|| {
                invalid(&field, format!("`{field}` must be {{\"emailAddress\": {{\"address\": …}}}}"))
            })?;
            let mut out = json!({ "address": email.get("address").cloned().unwrap_or(Value::Null) });
            if let Some(name) = email.get("name").filter(|n| !n.is_null()) {
                out["name"] = name.clone();
            }
            Ok(out)
        })
        .collect()
}

fn attachment(i: usize, a: &Value) -> Result<AttachmentInput, ApiError> {
    let field = |f: &str| format!("message.attachments[{i}].{f}");
    let kind = a.get("@odata.type").and_then(Value::as_str).unwrap_or("#microsoft.graph.fileAttachment");
    if kind != "#microsoft.graph.fileAttachment" {
        return Err(invalid(
            &field("@odata.type"),
            format!("only file attachments can be sent through mailgate, not {kind}"),
        ));
    }
    let text = |f: &str| a.get(f).and_then(Value::as_str).map(str::to_owned);
    Ok(AttachmentInput {
        name: text("name").ok_or_else(|| invalid(&field("name"), "an attachment needs a name"))?,
        content_type: text("contentType").unwrap_or_else(|| "application/octet-stream".into()),
        content_base64: text("contentBytes")
            .ok_or_else(|| invalid(&field("contentBytes"), "an attachment needs contentBytes"))?,
        inline: a.get("isInline").and_then(Value::as_bool).unwrap_or(false),
        content_id: text("contentId"),
    })
}

/// Reads `{"message": {...}, "saveToSentItems": bool}` sent to `/users/{mailbox}/sendMail`.
pub fn to_send_request(mailbox: &str, body: &Value) -> Result<SendRequest, ApiError> {
    let message = body
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| invalid("message", "the body needs a `message` object"))?;
    if let Some(from) = message.get("from").and_then(|f| f.pointer("/emailAddress/address")).and_then(Value::as_str)
        && !from.eq_ignore_ascii_case(mailbox)
    {
        return Err(invalid("message.from", "mailgate sends as the mailbox in the path; leave `from` unset"));
    }
    let (text, html) = match message.get("body") {
        None | Some(Value::Null) => (Some(String::new()), None),
        Some(b) => {
            let content = b.get("content").and_then(Value::as_str).unwrap_or("").to_owned();
            match b.get("contentType").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                None | Some("text") => (Some(content), None),
                Some("html") => (None, Some(content)),
                Some(other) => {
                    return Err(invalid("message.body.contentType", format!("`{other}` is not text or html")));
                }
            }
        }
    };
    let mut headers = BTreeMap::new();
    if let Some(list) = message.get("internetMessageHeaders") {
        let list = list.as_array().ok_or_else(|| invalid("headers", "`internetMessageHeaders` must be an array"))?;
        if list.is_empty() {
            return Err(invalid("headers", "`internetMessageHeaders` must not be empty; leave it out instead"));
        }
        for h in list {
            let (Some(name), Some(value)) =
                (h.get("name").and_then(Value::as_str), h.get("value").and_then(Value::as_str))
            else {
                return Err(invalid("headers", "each internet message header needs a `name` and a `value`"));
            };
            headers.insert(name.to_owned(), value.to_owned());
        }
    }
    let attachments = match message.get("attachments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().enumerate().map(|(i, a)| attachment(i, a)).collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("message.attachments", "`attachments` must be an array")),
    };
    let importance = match message.get("importance").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("low") => Some(Importance::Low),
        Some("normal") => Some(Importance::Normal),
        Some("high") => Some(Importance::High),
        Some(other) => return Err(invalid("message.importance", format!("`{other}` is not low, normal or high"))),
    };
    let save_to_sent_items = match body.get("saveToSentItems") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("saveToSentItems", "`saveToSentItems` must be a boolean")),
    };
    Ok(SendRequest {
        from: mailbox.to_owned(),
        to: recipients(message, "toRecipients")?,
        cc: recipients(message, "ccRecipients")?,
        bcc: recipients(message, "bccRecipients")?,
        reply_to: recipients(message, "replyTo")?,
        subject: message.get("subject").and_then(Value::as_str).unwrap_or("").to_owned(),
        text,
        html,
        attachments,
        importance,
        headers,
        save_to_sent_items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::Limits;

    #[test]
    fn reads_graphs_body_and_keeps_its_meaning() {
        let body = json!({
            "message": {
                "subject": "Hi",
                "body": {"contentType": "HTML", "content": "<b>x</b>"},
                "toRecipients": [{"emailAddress": {"address": "a@example.com", "name": "A"}}],
                "internetMessageHeaders": [{"name": "x-job", "value": "1"}],
                "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentType": "text/plain", "contentBytes": "aGk="}]
            },
            "saveToSentItems": false
        });
        let req = to_send_request("shared@contoso.test", &body).expect("reads");
        assert_eq!(req.html.as_deref(), Some("<b>x</b>"));
        assert_eq!(req.to[0]["name"], "A");
        let m = req.validate(Limits { max_recipients: 500, max_message_bytes: 1 << 20 }).expect("valid");
        assert_eq!(m.recipients, 1);
        assert_eq!(m.graph_body["saveToSentItems"], false);
    }

    #[test]
    fn refuses_what_graph_would_and_what_mailgate_cannot_honour() {
        let field =
            |b: Value| to_send_request("shared@contoso.test", &b).expect_err("refused").field.unwrap_or_default();
        assert_eq!(field(json!({})), "message");
        assert_eq!(
            field(json!({"message": {"from": {"emailAddress": {"address": "ceo@contoso.test"}}}})),
            "message.from"
        );
        assert_eq!(field(json!({"message": {"internetMessageHeaders": []}})), "headers");
        assert_eq!(field(json!({"message": {"toRecipients": ["a@b.com"]}})), "message.toRecipients[0]");
        assert_eq!(field(json!({"message": {}, "saveToSentItems": "false"})), "saveToSentItems");
        let item = json!({"message": {"attachments": [{"@odata.type": "#microsoft.graph.itemAttachment"}]}});
        assert_eq!(field(item), "message.attachments[0].@odata.type");
    }
}
