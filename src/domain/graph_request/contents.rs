//! The large strings of a Graph body — its content and each attachment's `contentBytes` — moved into the request once
//! the body has been read and checked, so that a large message is held once, not twice.

use serde_json::Value;

use crate::domain::message::SendRequest;

/// A property of an object by its Graph name in any letter case, as `Props::read` found it (once, or it refused).
fn child<'v>(value: &'v mut Value, name: &str) -> Option<&'v mut Value> {
    value.as_object_mut()?.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn take_string(value: &mut Value) -> Option<String> {
    match value {
        Value::String(s) => Some(std::mem::take(s)),
        _ => None,
    }
}

/// Moves the body's content and each attachment's `contentBytes` from the checked body into `request`.
pub(super) fn take(request: &mut SendRequest, body: &mut Value) {
    let Some(message) = child(body, "message") else { return };
    let content = child(message, "body").and_then(|b| child(b, "content")).and_then(take_string);
    if let Some(content) = content {
        match (&mut request.text, &mut request.html) {
            (_, Some(html)) => *html = content,
            (Some(text), None) => *text = content,
            (None, None) => {}
        }
    }
    if let Some(Value::Array(list)) = child(message, "attachments") {
        for (value, a) in list.iter_mut().zip(request.attachments.iter_mut()) {
            if let Some(bytes) = child(value, "contentBytes").and_then(take_string) {
                a.content_base64 = bytes;
            }
        }
    }
}
