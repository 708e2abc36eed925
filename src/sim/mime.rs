//! sendMail's MIME form: `Content-Type: text/plain` and the message's MIME text in base64.

use base64::Engine;
use serde_json::{Value, json};

use super::response::GraphError;

/// Decodes the body and checks what Graph checks first: base64, and that there is someone to send to.
/// The record keeps the MIME text as `{"mime": "..."}`.
pub fn read(body: &[u8]) -> Result<Value, GraphError> {
    let text: String = String::from_utf8_lossy(body).chars().filter(|c| !c.is_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).map_err(|_| {
        GraphError::bad_request("ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
    })?;
    let mime = String::from_utf8_lossy(&decoded).into_owned();
    let headers = mime.split("\r\n\r\n").next().unwrap_or("");
    let has_recipient =
        headers.lines().any(|l| ["to:", "cc:", "bcc:"].iter().any(|h| l.to_ascii_lowercase().starts_with(h)));
    if !has_recipient {
        return Err(GraphError::bad_request("ErrorInvalidRecipients", "At least one recipient is not valid."));
    }
    Ok(json!({ "mime": mime }))
}
