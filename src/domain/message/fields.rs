//! Checks of the small fields of a send request: recipients, custom headers, attachment descriptions.
//! Each refusal names the field at fault; none decodes or copies anything large.

use std::collections::BTreeMap;

use serde_json::Value;

use super::AttachmentInput;
use super::size::base64_decoded_len;
use crate::domain::DomainError;
use crate::domain::EmailAddress;

/// Exchange keeps display names up to 256 characters; longer ones are refused rather than cut.
pub const MAX_NAME_CHARS: usize = 256;
/// Windows and Exchange keep file names up to 255 characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// Long enough for any header a mail system defines, short enough that `Name: ` always fits a folded line.
pub const MAX_HEADER_NAME_CHARS: usize = 64;
/// Headers Exchange writes and trusts itself — its transport and organisation headers, Exchange Online
/// Protection's spam verdicts — compared in lower case. A caller who set one could vouch for its own message
/// (mark it as already scanned, as internal, as not spam), so none may be set.
const RESERVED_HEADER_PREFIXES: [&str; 3] = ["x-ms-", "x-forefront-", "x-microsoft-antispam"];

/// A validated recipient, as the caller spelled it.
#[derive(Debug, Clone)]
pub struct Person {
    pub address: String,
    pub name: Option<String>,
}

pub fn no_line_breaks(field: &str, value: &str) -> Result<(), DomainError> {
    if value.contains(['\r', '\n']) {
        return Err(DomainError::invalid(field, format!("`{field}` must not contain CR or LF")));
    }
    Ok(())
}

fn at_most(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    // Counting characters, not bytes: the limits are the ones people see.
    if value.chars().nth(max).is_some() {
        return Err(DomainError::invalid(field, format!("`{field}` is longer than {max} characters")));
    }
    Ok(())
}

fn recipient(field: &str, raw: &Value) -> Result<Person, DomainError> {
    let (address, name) = match raw {
        Value::String(s) => (s.as_str(), None),
        Value::Object(map) => {
            if let Some(unknown) = map.keys().find(|k| *k != "address" && *k != "name") {
                return Err(DomainError::invalid(
                    format!("{field}.{unknown}"),
                    format!("unknown field `{unknown}` in `{field}`, expected `address` or `name`"),
                ));
            }
            let address = map.get("address").and_then(Value::as_str).ok_or_else(|| {
                DomainError::invalid(format!("{field}.address"), format!("`{field}.address` must be a string"))
            })?;
            let name = match map.get("name") {
                None | Some(Value::Null) => None,
                Some(Value::String(n)) => Some(n.as_str()),
                Some(_) => {
                    return Err(DomainError::invalid(
                        format!("{field}.name"),
                        format!("`{field}.name` must be a string"),
                    ));
                }
            };
            (address, name)
        }
        _ => {
            return Err(DomainError::invalid(
                field,
                format!("`{field}` must be an address string or an object with `address`"),
            ));
        }
    };
    let address_field = if raw.is_string() { field.to_owned() } else { format!("{field}.address") };
    EmailAddress::parse(address)
        .map_err(|e| DomainError::invalid(&address_field, format!("`{address_field}`: {e}")))?;
    if let Some(name) = name {
        let name_field = format!("{field}.name");
        no_line_breaks(&name_field, name)?;
        at_most(&name_field, name, MAX_NAME_CHARS)?;
    }
    Ok(Person { address: address.to_owned(), name: name.map(str::to_owned) })
}

pub fn recipients(list_name: &str, list: &[Value]) -> Result<Vec<Person>, DomainError> {
    list.iter().enumerate().map(|(i, r)| recipient(&format!("{list_name}[{i}]"), r)).collect()
}

/// Checks one attachment's description and content, and answers the content's decoded size.
pub fn attachment(i: usize, a: &AttachmentInput) -> Result<usize, DomainError> {
    let field = |f: &str| format!("attachments[{i}].{f}");
    if a.name.trim().is_empty() {
        return Err(DomainError::invalid(field("name"), "an attachment needs a name"));
    }
    no_line_breaks(&field("name"), &a.name)?;
    at_most(&field("name"), &a.name, MAX_FILE_NAME_CHARS)?;
    let ct = &a.content_type;
    let (kind, sub) = ct.split_once('/').unwrap_or(("", ""));
    let token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c));
    if !token(kind) || !token(sub.split(';').next().unwrap_or("").trim()) {
        return Err(DomainError::invalid(
            field("content_type"),
            format!("`{ct}` is not a media type such as `application/pdf`"),
        ));
    }
    // Media types and Content-IDs are ASCII in MIME; a bound in characters then bounds the header line too.
    if !ct.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(DomainError::invalid(field("content_type"), "a media type holds only printable ASCII"));
    }
    at_most(&field("content_type"), ct, 255)?;
    match &a.content_id {
        Some(cid) => {
            if cid.is_empty() || !cid.bytes().all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>') {
                return Err(DomainError::invalid(
                    field("content_id"),
                    "a `content_id` holds printable ASCII without spaces or `<` `>`",
                ));
            }
            at_most(&field("content_id"), cid, 255)?;
        }
        None if a.inline => {
            return Err(DomainError::invalid(field("content_id"), "an inline attachment needs a `content_id`"));
        }
        None => {}
    }
    base64_decoded_len(&a.content_base64).map_err(|e| DomainError::invalid(field("content_base64"), e))
}

/// Custom headers must be `x-` names (Graph's rule), plain ASCII tokens, at most `max` of them.
pub fn headers(headers: &BTreeMap<String, String>, max: usize) -> Result<(), DomainError> {
    if headers.len() > max {
        return Err(DomainError::invalid(
            "headers",
            format!("at most {max} headers are allowed, got {}", headers.len()),
        ));
    }
    for (name, value) in headers {
        let field = format!("headers.{name}");
        let rest = name.strip_prefix(['x', 'X']).and_then(|r| r.strip_prefix('-')).unwrap_or("");
        let is_token = rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if rest.is_empty() || !is_token {
            return Err(DomainError::invalid(
                &field,
                format!("header name `{name}` must start with `x-` and hold only ASCII letters, digits and `-`"),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if let Some(prefix) = RESERVED_HEADER_PREFIXES.iter().find(|p| lower.starts_with(*p)) {
            return Err(DomainError::invalid(
                &field,
                format!("header `{name}` is reserved: Exchange sets and trusts `{prefix}*` headers itself"),
            ));
        }
        at_most(&field, name, MAX_HEADER_NAME_CHARS)?;
        no_line_breaks(&field, value)?;
    }
    Ok(())
}
