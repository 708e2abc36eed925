//! Graph's types as far as the simulator reads them: which properties each one has. Graph reads property names in
//! any letter case, passes over OData annotations (`@odata.type`, `name@odata.bind`) and refuses any other property
//! its type does not have with 400 `RequestBodyRead`.

use serde_json::{Map, Value};

use super::response::GraphError;

/// The parameters of the `sendMail` action.
pub const SEND_MAIL: &[&str] = &["message", "saveToSentItems"];
/// The parameters of the `createUploadSession` action.
pub const CREATE_UPLOAD_SESSION: &[&str] = &["AttachmentItem"];

/// `microsoft.graph.message` (v1.0), its properties and relationships.
const MESSAGE: &[&str] = &[
    "bccRecipients",
    "body",
    "bodyPreview",
    "categories",
    "ccRecipients",
    "changeKey",
    "conversationId",
    "conversationIndex",
    "createdDateTime",
    "flag",
    "from",
    "hasAttachments",
    "id",
    "importance",
    "inferenceClassification",
    "internetMessageHeaders",
    "internetMessageId",
    "isDeliveryReceiptRequested",
    "isDraft",
    "isRead",
    "isReadReceiptRequested",
    "lastModifiedDateTime",
    "parentFolderId",
    "receivedDateTime",
    "replyTo",
    "sender",
    "sentDateTime",
    "subject",
    "toRecipients",
    "uniqueBody",
    "webLink",
    "attachments",
    "extensions",
    "multiValueExtendedProperties",
    "singleValueExtendedProperties",
];
const RECIPIENT: &[&str] = &["emailAddress"];
const EMAIL_ADDRESS: &[&str] = &["address", "name"];
const ITEM_BODY: &[&str] = &["content", "contentType"];
const HEADER: &[&str] = &["name", "value"];
const ATTACHMENT: &[&str] = &["contentType", "id", "isInline", "lastModifiedDateTime", "name", "size"];
const FILE_ATTACHMENT: &[&str] = &[
    "contentType",
    "id",
    "isInline",
    "lastModifiedDateTime",
    "name",
    "size",
    "contentBytes",
    "contentId",
    "contentLocation",
];
const ATTACHMENT_ITEM: &[&str] = &["attachmentType", "contentId", "contentType", "isInline", "name", "size"];

/// `obj[name]`, the name in any letter case.
pub fn get<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// The first property of `obj` that is neither an annotation nor in `known`.
fn unknown<'a>(obj: &'a Map<String, Value>, known: &[&str]) -> Option<&'a str> {
    obj.keys().map(String::as_str).find(|k| !k.contains('@') && !known.iter().any(|n| n.eq_ignore_ascii_case(k)))
}

fn read_error(message: String) -> GraphError {
    GraphError::bad_request("RequestBodyRead", message)
}

/// Graph's refusal of a property that `microsoft.graph.{type_name}` does not have.
fn check_type(obj: &Map<String, Value>, type_name: &str, known: &[&str]) -> Result<(), GraphError> {
    match unknown(obj, known) {
        None => Ok(()),
        Some(key) => Err(read_error(format!(
            "The property '{key}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only use \
             property names that are defined by the type or mark the type as open type."
        ))),
    }
}

/// Graph's refusal of a parameter that the action `operation` does not take.
pub fn check_params(obj: &Map<String, Value>, operation: &str, known: &[&str]) -> Result<(), GraphError> {
    match unknown(obj, known) {
        None => Ok(()),
        Some(key) => Err(read_error(format!(
            "The parameter '{key}' in the request payload is not a valid parameter for the operation '{operation}'."
        ))),
    }
}

/// Each object of an optional list, checked as `type_name`; what is not a list or an object is left to the
/// checks that read it.
fn check_each(
    parent: &Map<String, Value>,
    key: &str,
    check: impl Fn(&Map<String, Value>) -> Result<(), GraphError>,
) -> Result<(), GraphError> {
    let Some(Value::Array(items)) = get(parent, key) else { return Ok(()) };
    items.iter().filter_map(Value::as_object).try_for_each(check)
}

fn check_recipient(r: &Map<String, Value>) -> Result<(), GraphError> {
    check_type(r, "recipient", RECIPIENT)?;
    match get(r, "emailAddress") {
        Some(Value::Object(e)) => check_type(e, "emailAddress", EMAIL_ADDRESS),
        _ => Ok(()),
    }
}

/// An attachment, in a message or posted on its own; without `@odata.type` it is a file attachment.
pub fn check_attachment(a: &Map<String, Value>) -> Result<(), GraphError> {
    let kind = get(a, "@odata.type").and_then(Value::as_str).unwrap_or("#microsoft.graph.fileAttachment");
    let kind = kind.trim_start_matches('#');
    let bare = kind.get(16..).filter(|_| kind.get(..16).is_some_and(|p| p.eq_ignore_ascii_case("microsoft.graph.")));
    match bare {
        Some(t) if t.eq_ignore_ascii_case("fileAttachment") => check_type(a, "fileAttachment", FILE_ATTACHMENT),
        _ => check_type(a, "attachment", ATTACHMENT),
    }
}

/// A `microsoft.graph.attachmentItem`.
pub fn check_attachment_item(item: &Map<String, Value>) -> Result<(), GraphError> {
    check_type(item, "attachmentItem", ATTACHMENT_ITEM)
}

/// A message: its own properties, and those of its recipients, bodies, headers and attachments.
pub fn check_message(m: &Map<String, Value>) -> Result<(), GraphError> {
    check_type(m, "message", MESSAGE)?;
    for key in ["toRecipients", "ccRecipients", "bccRecipients", "replyTo"] {
        check_each(m, key, check_recipient)?;
    }
    for key in ["from", "sender"] {
        if let Some(Value::Object(r)) = get(m, key) {
            check_recipient(r)?;
        }
    }
    for key in ["body", "uniqueBody"] {
        if let Some(Value::Object(b)) = get(m, key) {
            check_type(b, "itemBody", ITEM_BODY)?;
        }
    }
    check_each(m, "internetMessageHeaders", |h| check_type(h, "internetMessageHeader", HEADER))?;
    check_each(m, "attachments", check_attachment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(v: Value) -> Result<(), String> {
        check_message(v.as_object().expect("object")).map_err(|e| e.message)
    }

    #[test]
    fn names_in_any_case_and_annotations_pass() {
        let m = json!({"Subject": "s", "@odata.type": "#microsoft.graph.message", "subject@odata.etag": "x",
                       "TORECIPIENTS": [{"emailAddress": {"Address": "a@b.test"}}],
                       "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "contentBytes": "aGk="}]});
        assert_eq!(message(m), Ok(()));
    }

    #[test]
    fn an_unknown_property_anywhere_is_refused_naming_it_and_its_type() {
        let e = message(json!({"subjet": "s"})).expect_err("typo");
        assert!(e.starts_with("The property 'subjet' does not exist on type 'microsoft.graph.message'."), "{e}");
        let e = message(json!({"toRecipients": [{"emailAddress": {"address": "a@b.test", "display": "A"}}]}))
            .expect_err("nested");
        assert!(e.contains("'display'") && e.contains("microsoft.graph.emailAddress"), "{e}");
        let e = message(json!({"attachments": [{"name": "a", "contentBytes": "", "inline": true}]})).expect_err("att");
        assert!(e.contains("'inline'") && e.contains("fileAttachment"), "{e}");
        let e = message(json!({"body": {"contentType": "text", "text": "x"}})).expect_err("body");
        assert!(e.contains("microsoft.graph.itemBody"), "{e}");
        let params = json!({"message": {}, "saveToSentItems": true, "sendNow": true});
        let e = check_params(params.as_object().expect("object"), "sendMail", SEND_MAIL).expect_err("param");
        assert_eq!(e.code, "RequestBodyRead");
        assert!(e.message.contains("'sendNow'") && e.message.contains("'sendMail'"), "{}", e.message);
    }
}
