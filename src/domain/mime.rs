//! A message with both a text and an HTML body as MIME (multipart/alternative), the one form in which Graph's
//! sendMail takes both: `POST …/sendMail` with `Content-Type: text/plain` and the MIME text in base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::Mailbox;

/// `=?utf-8?B?…?=` for header text that is not plain ASCII (RFC 2047); plain text as it is.
fn header_text(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        text.to_owned()
    } else {
        format!("=?utf-8?B?{}?=", STANDARD.encode(text))
    }
}

fn address_list(list: Option<&Value>) -> Option<String> {
    let items: Vec<String> = list?
        .as_array()?
        .iter()
        .filter_map(|r| {
            let email = r.get("emailAddress")?;
            let address = email.get("address")?.as_str()?;
            Some(match email.get("name").and_then(Value::as_str) {
                Some(name) if name.chars().all(|c| c.is_ascii() && c != '"' && c != '\\') => {
                    format!("\"{name}\" <{address}>")
                }
                Some(name) => format!("{} <{address}>", header_text(name)),
                None => address.to_owned(),
            })
        })
        .collect();
    (!items.is_empty()).then(|| items.join(", "))
}

/// Base64 wrapped at 76 characters, as MIME bodies must be.
fn wrapped(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    encoded.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\r\n")
}

fn part(content_type: &str, body: &[u8]) -> String {
    format!("Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n", wrapped(body))
}

/// The MIME text of a validated Graph `message` (recipients, subject, headers, attachments) with both bodies.
/// `boundary` separates the parts; it must not occur in the content (base64 and headers never hold `=_mg`).
pub fn build(mailbox: &Mailbox, message: &Value, text: &str, html: &str, boundary: &str) -> String {
    let mut out = String::new();
    if let Mailbox::Address(address) = mailbox {
        out.push_str(&format!("From: {address}\r\n"));
    }
    for (header, key) in
        [("To", "toRecipients"), ("Cc", "ccRecipients"), ("Bcc", "bccRecipients"), ("Reply-To", "replyTo")]
    {
        if let Some(list) = address_list(message.get(key)) {
            out.push_str(&format!("{header}: {list}\r\n"));
        }
    }
    let subject = message.get("subject").and_then(Value::as_str).unwrap_or("");
    out.push_str(&format!("Subject: {}\r\n", header_text(subject)));
    if let Some(importance) = message.get("importance").and_then(Value::as_str) {
        out.push_str(&format!("Importance: {importance}\r\n"));
    }
    for h in message.get("internetMessageHeaders").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(name), Some(value)) =
            (h.get("name").and_then(Value::as_str), h.get("value").and_then(Value::as_str))
        {
            out.push_str(&format!("{name}: {}\r\n", header_text(value)));
        }
    }
    out.push_str("MIME-Version: 1.0\r\n");
    let alternative = format!("{boundary}_alt");
    let alternative_part = format!(
        "Content-Type: multipart/alternative; boundary=\"{alternative}\"\r\n\r\n--{alternative}\r\n{}--{alternative}\r\n{}--{alternative}--\r\n",
        part("text/plain; charset=utf-8", text.as_bytes()),
        part("text/html; charset=utf-8", html.as_bytes()),
    );
    let attachments = message.get("attachments").and_then(Value::as_array).cloned().unwrap_or_default();
    if attachments.is_empty() {
        out.push_str(&alternative_part);
        return out;
    }
    out.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n{alternative_part}"
    ));
    for a in attachments {
        let field = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("");
        let inline = a.get("isInline").and_then(Value::as_bool).unwrap_or(false);
        let bytes = STANDARD.decode(field("contentBytes")).unwrap_or_default();
        let name = header_text(field("name")).replace('"', "'");
        out.push_str(&format!("--{boundary}\r\nContent-Type: {}; name=\"{name}\"\r\n", field("contentType")));
        out.push_str(&format!(
            "Content-Disposition: {}; filename=\"{name}\"\r\n",
            if inline { "inline" } else { "attachment" }
        ));
        if let Some(cid) = a.get("contentId").and_then(Value::as_str) {
            out.push_str(&format!("Content-ID: <{cid}>\r\n"));
        }
        out.push_str(&format!("Content-Transfer-Encoding: base64\r\n\r\n{}\r\n", wrapped(&bytes)));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn both_bodies_become_alternatives_and_attachments_follow() {
        let mailbox = Mailbox::parse("notifications@contoso.test").expect("mailbox");
        let message = json!({
            "subject": "Café report",
            "toRecipients": [{"emailAddress": {"address": "a@example.com", "name": "A"}}],
            "bccRecipients": [{"emailAddress": {"address": "b@example.com"}}],
            "importance": "high",
            "internetMessageHeaders": [{"name": "x-job", "value": "nightly"}],
            "attachments": [{"name": "r.csv", "contentType": "text/csv", "contentBytes": "YSxi", "isInline": false}]
        });
        let mime = build(&mailbox, &message, "plain", "<p>rich</p>", "=_mg1");
        assert!(
            mime.starts_with("From: notifications@contoso.test\r\nTo: \"A\" <a@example.com>\r\nBcc: b@example.com\r\n"),
            "{mime}"
        );
        assert!(mime.contains(&format!("Subject: =?utf-8?B?{}?=\r\n", STANDARD.encode("Café report"))), "{mime}");
        assert!(mime.contains("Importance: high\r\nx-job: nightly\r\nMIME-Version: 1.0\r\n"), "{mime}");
        assert!(mime.contains("Content-Type: multipart/mixed; boundary=\"=_mg1\""), "{mime}");
        assert!(mime.contains(&format!(
            "text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            STANDARD.encode("plain")
        )));
        assert!(mime.contains(&STANDARD.encode("<p>rich</p>")));
        assert!(mime.contains("Content-Disposition: attachment; filename=\"r.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\nYSxi\r\n"), "{mime}");
        assert!(mime.ends_with("--=_mg1--\r\n"));
    }

    #[test]
    fn long_bodies_are_wrapped() {
        let wrapped = wrapped(&[7u8; 200]);
        assert!(wrapped.split("\r\n").all(|line| line.len() <= 76));
    }
}
