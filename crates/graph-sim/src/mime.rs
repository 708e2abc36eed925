//! sendMail's MIME form: `Content-Type: text/plain` and the message's MIME text in base64.

use base64::Engine;
use mail_parser::{Address, MessageParser};
use serde_json::{Value, json};

use super::response::GraphError;

/// Graph's `recipient` objects for one address header, as Graph reads them out of the MIME.
fn recipients(address: Option<&Address<'_>>) -> Vec<Value> {
    let Some(address) = address else { return Vec::new() };
    address
        .iter()
        .filter_map(|a| {
            let mut email = json!({ "address": a.address()? });
            if let Some(name) = a.name() {
                email["name"] = json!(name);
            }
            Some(json!({ "emailAddress": email }))
        })
        .collect()
}

/// Decodes the body and reads the MIME as Graph does, refusing what Graph refuses first: bad base64, text that
/// is not a message, no one to send to. The record keeps the MIME text as `mime`, and what was read out of it in
/// Graph's names (`subject`, `toRecipients`, `ccRecipients`, `bccRecipients`).
pub fn read(body: &[u8]) -> Result<Value, GraphError> {
    let text: String = String::from_utf8_lossy(body).chars().filter(|c| !c.is_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).map_err(|_| {
        GraphError::bad_request("ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
    })?;
    let message = MessageParser::default()
        .parse(&decoded)
        .ok_or_else(|| GraphError::bad_request("ErrorMimeContentInvalid", "The MIME content is not a message."))?;
    let record = json!({
        "mime": String::from_utf8_lossy(&decoded),
        "subject": message.subject().unwrap_or_default(),
        "toRecipients": recipients(message.to()),
        "ccRecipients": recipients(message.cc()),
        "bccRecipients": recipients(message.bcc()),
    });
    let count = ["toRecipients", "ccRecipients", "bccRecipients"]
        .iter()
        .filter_map(|k| record[k].as_array())
        .map(Vec::len)
        .sum::<usize>();
    if count == 0 {
        return Err(GraphError::bad_request("ErrorInvalidRecipients", "At least one recipient is not valid."));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_folded_encoded_recipients_and_refuses_a_message_without_any() {
        let mime = "To: \"A\" <a@example.com>,\r\n =?utf-8?B?WsO2ZQ==?= <z@example.com>\r\nSubject: =?utf-8?B?Q2Fmw6k=?=\r\n\r\nbody";
        let b64 = base64::engine::general_purpose::STANDARD.encode(mime);
        let record = read(b64.as_bytes()).expect("read");
        assert_eq!(record["subject"], "Café");
        assert_eq!(record["toRecipients"][1]["emailAddress"], json!({"address": "z@example.com", "name": "Zöe"}));
        let none = base64::engine::general_purpose::STANDARD.encode("Subject: x\r\n\r\nbody");
        assert_eq!(read(none.as_bytes()).expect_err("no recipients").code, "ErrorInvalidRecipients");
        assert_eq!(read(b"%%%").expect_err("bad base64").code, "ErrorMimeContentInvalidBase64String");
    }
}
