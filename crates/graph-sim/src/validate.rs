//! sendMail body validation, following the errors Graph returns.

use serde_json::{Map, Value};

use super::props::{self, get};
use super::response::GraphError;

const MAX_INTERNET_HEADERS: usize = 5;
/// Header names Exchange reads as its own verdicts (spam, transport, authentication): a message may not set them.
const RESERVED_HEADER_PREFIXES: [&str; 3] = ["x-ms-", "x-forefront-", "x-microsoft-antispam"];

/// Whether `address` looks like an SMTP address (`local@domain`, no spaces).
pub fn looks_like_address(address: &str) -> bool {
    let a = address.trim();
    if a.is_empty() || a.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@')
}

fn read_error(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("RequestBodyRead", message)
}

fn invalid_recipients(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("ErrorInvalidRecipients", message)
}

fn header_error(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("InvalidInternetMessageHeader", message)
}

/// The entries of an optional array property; `null` counts as absent.
fn array<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a Vec<Value>>, GraphError> {
    match get(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => {
            Err(read_error(format!("An unexpected value was found for property '{key}'; an array was expected.")))
        }
    }
}

/// Validate a recipient list and return how many recipients it holds.
fn check_recipients(message: &Map<String, Value>, key: &str) -> Result<usize, GraphError> {
    let Some(items) = array(message, key)? else {
        return Ok(0);
    };
    for item in items {
        let address = item
            .as_object()
            .and_then(|r| get(r, "emailAddress"))
            .and_then(Value::as_object)
            .and_then(|e| get(e, "address"))
            .and_then(Value::as_str);
        match address {
            Some(a) if looks_like_address(a) => {}
            Some(a) => {
                return Err(invalid_recipients(format!(
                    "At least one recipient is not valid., Recipient '{a}' is not resolved. \
                     All recipients must be resolved before a message can be submitted."
                )));
            }
            None => {
                return Err(invalid_recipients(
                    "At least one recipient is not valid., A recipient has no email address.",
                ));
            }
        }
    }
    Ok(items.len())
}

fn check_headers(message: &Map<String, Value>) -> Result<(), GraphError> {
    let Some(headers) = array(message, "internetMessageHeaders")? else {
        return Ok(());
    };
    if headers.is_empty() {
        return Err(header_error("The internet message header collection must not be empty."));
    }
    if headers.len() > MAX_INTERNET_HEADERS {
        return Err(header_error(format!(
            "Maximum number of headers in one message should be less than or equal to \
             {MAX_INTERNET_HEADERS}."
        )));
    }
    for h in headers {
        let name = h.as_object().and_then(|h| get(h, "name")).and_then(Value::as_str).unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        if !lower.starts_with("x-") || lower.len() <= 2 {
            return Err(header_error(format!(
                "The internet message header name '{name}' should start with 'x-' or 'X-'."
            )));
        }
        if RESERVED_HEADER_PREFIXES.iter().any(|p| lower.starts_with(p)) {
            return Err(header_error(format!(
                "The internet message header name '{name}' is reserved and cannot be set on a message."
            )));
        }
    }
    Ok(())
}

fn check_body_content(message: &Map<String, Value>) -> Result<(), GraphError> {
    let body = match get(message, "body") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(b)) => b,
        Some(_) => return Err(read_error("The property 'body' must be an object.")),
    };
    match get(body, "contentType") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("text") || t.eq_ignore_ascii_case("html") => Ok(()),
        Some(other) => Err(read_error(format!(
            "Requested value '{}' was not found.",
            other.as_str().map_or_else(|| other.to_string(), str::to_string)
        ))),
    }
}

/// Validate a parsed sendMail body: `{"message": {...}, "saveToSentItems": bool?}`.
pub fn validate_send_mail(body: &Value) -> Result<(), GraphError> {
    let Some(root) = body.as_object() else {
        return Err(read_error("The request body must be a JSON object."));
    };
    props::check_params(root, "sendMail", props::SEND_MAIL)?;
    match get(root, "saveToSentItems") {
        None | Some(Value::Null) | Some(Value::Bool(_)) => {}
        Some(other) => {
            return Err(read_error(format!(
                "Cannot convert the literal '{other}' to the expected type 'Edm.Boolean'."
            )));
        }
    }
    let message = match get(root, "message") {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => {
            return Err(GraphError::bad_request("BadRequest", "Required parameter 'message' is missing."));
        }
        Some(_) => return Err(read_error("The property 'message' must be an object.")),
    };
    props::check_message(message)?;
    let total = check_recipients(message, "toRecipients")?
        + check_recipients(message, "ccRecipients")?
        + check_recipients(message, "bccRecipients")?;
    check_recipients(message, "replyTo")?;
    if total == 0 {
        return Err(invalid_recipients("At least one recipient is not valid., The message has no recipients."));
    }
    check_headers(message)?;
    check_body_content(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(v: Value) -> String {
        validate_send_mail(&v).map_or_else(|e| e.code, |()| "ok".to_string())
    }

    #[test]
    fn addresses() {
        assert!(looks_like_address("a@b.test"));
        assert!(looks_like_address("a@localhost"));
        assert!(!looks_like_address("nobody"));
        assert!(!looks_like_address("a b@c.test"));
        assert!(!looks_like_address("@c.test"));
        assert!(!looks_like_address("a@"));
    }

    #[test]
    fn shapes() {
        let to = json!([{"emailAddress": {"address": "x@y.test"}}]);
        assert_eq!(code(json!({"message": {"toRecipients": to}})), "ok");
        assert_eq!(code(json!({"message": {}})), "ErrorInvalidRecipients");
        assert_eq!(code(json!({})), "BadRequest");
        assert_eq!(code(json!([])), "RequestBodyRead");
        let bad_save = json!({"message": {"toRecipients": to}, "saveToSentItems": "yes"});
        assert_eq!(code(bad_save), "RequestBodyRead");
        let md = json!({"message": {"toRecipients": to, "body": {"contentType": "md"}}});
        assert_eq!(code(md), "RequestBodyRead");
        let hdr = json!({"message": {"toRecipients": to, "internetMessageHeaders": [{"name": "X-A", "value": "1"}]}});
        assert_eq!(code(hdr), "ok");
        let pascal =
            json!({"Message": {"ToRecipients": [{"EmailAddress": {"Address": "x@y.test"}}]}, "SaveToSentItems": false});
        assert_eq!(code(pascal), "ok");
        let unknown = json!({"message": {"toRecipients": to, "sendLater": true}});
        assert_eq!(code(unknown), "RequestBodyRead");
    }

    #[test]
    fn reserved_header_names_are_refused_in_any_case() {
        let to = json!([{"emailAddress": {"address": "x@y.test"}}]);
        for name in ["X-MS-Exchange-Organization-SCL", "x-forefront-antispam-report", "X-Microsoft-Antispam-Mailbox"] {
            let h = json!({"message": {"toRecipients": to, "internetMessageHeaders": [{"name": name, "value": "-1"}]}});
            assert_eq!(code(h), "InvalidInternetMessageHeader", "{name}");
        }
        let ok =
            json!({"message": {"toRecipients": to, "internetMessageHeaders": [{"name": "X-Msg-Id", "value": "1"}]}});
        assert_eq!(code(ok), "ok");
    }
}
