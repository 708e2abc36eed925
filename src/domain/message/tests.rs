use base64::Engine;
use serde_json::json;

use super::*;

const LIMITS: Limits = Limits { max_recipients: 500, max_message_bytes: 35 * 1024 * 1024, large_messages: true };

fn parse(v: Value) -> Result<NewMessage, DomainError> {
    let req: SendRequest = serde_json::from_value(v).expect("shape");
    req.validate(LIMITS)
}

fn field_of(v: Value) -> String {
    parse(v).expect_err("refused").field().unwrap_or_default().to_owned()
}

#[test]
fn builds_the_graph_body() {
    let m = parse(json!({
        "from": "Notifications@contoso.test",
        "to": ["a@example.com", {"address": "b@example.com", "name": "B"}],
        "bcc": ["c@example.com"],
        "subject": "hi", "text": "body",
        "headers": {"x-job": "nightly"},
        "importance": "high",
        "save_to_sent_items": false,
        "attachments": [{"name": "a.txt", "content_type": "text/plain", "content_base64": "aGk="}]
    }))
    .expect("valid");
    assert_eq!(m.mailbox.key(), "notifications@contoso.test");
    assert_eq!(m.recipients, 3);
    let msg = &m.graph_body["message"];
    assert_eq!(msg["toRecipients"][1]["emailAddress"]["name"], "B");
    assert_eq!(msg["bccRecipients"][0]["emailAddress"]["address"], "c@example.com");
    assert_eq!(msg["body"]["contentType"], "Text");
    assert_eq!(msg["importance"], "high");
    assert_eq!(msg["internetMessageHeaders"][0]["name"], "x-job");
    assert_eq!(msg["attachments"][0]["contentBytes"], "aGk=");
    assert!(msg.get("ccRecipients").is_none());
    assert_eq!(m.graph_body["saveToSentItems"], false);
}

#[test]
fn both_bodies_go_as_mime_and_cannot_skip_sent_items() {
    let both = json!({"from": "a@contoso.test", "to": ["b@contoso.test"], "text": "plain", "html": "<p>rich</p>"});
    let m = parse(both.clone()).expect("valid");
    let mime =
        base64::engine::general_purpose::STANDARD.decode(m.graph_body["mime"].as_str().expect("mime")).expect("b64");
    let mime = String::from_utf8(mime).expect("utf-8");
    assert!(mime.contains("multipart/alternative") && mime.contains("\r\nTo: b@contoso.test\r\n"), "{mime}");
    let mut no_copy = both;
    no_copy["save_to_sent_items"] = json!(false);
    assert_eq!(field_of(no_copy), "save_to_sent_items");
}

#[test]
fn names_the_field_at_fault() {
    let base = || json!({"from": "a@contoso.test", "to": ["b@contoso.test"], "text": "t"});
    let with = |k: &str, v: Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    assert_eq!(field_of(with("from", json!("nope"))), "from");
    assert_eq!(field_of(with("to", json!([]))), "to");
    assert_eq!(field_of(with("to", json!(["ok@x.com", "bad"]))), "to[1]");
    assert_eq!(field_of(with("cc", json!([{"address": "x@y"}]))), "cc[0].address");
    assert_eq!(field_of(with("to", json!([{"address": "a@b.com", "name": "A\r\nBcc: x"}]))), "to[0].name");
    assert_eq!(field_of(with("to", json!([{"adress": "a@b.com"}]))), "to[0].adress");
    assert_eq!(field_of(with("subject", json!("hi\nBcc: evil@x.com"))), "subject");
    assert_eq!(field_of(with("headers", json!({"Reply-To": "x"}))), "headers.Reply-To");
    assert_eq!(field_of(with("headers", json!({"x-a": "1\r\n2"}))), "headers.x-a");
    let six: serde_json::Map<String, Value> = (0..6).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    assert_eq!(field_of(with("headers", Value::Object(six))), "headers");
    let mut no_body = base();
    no_body.as_object_mut().expect("object").remove("text");
    assert_eq!(field_of(no_body), "text");
    let bad_b64 = json!([{"name": "a", "content_type": "text/plain", "content_base64": "%%%"}]);
    assert_eq!(field_of(with("attachments", bad_b64)), "attachments[0].content_base64");
    let many: Vec<Value> = (0..501).map(|i| json!(format!("r{i}@example.com"))).collect();
    assert_eq!(field_of(with("to", Value::Array(many))), "to");
}

fn with_attachment(len: usize) -> Value {
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; len]);
    json!({
        "from": "a@contoso.test", "to": ["b@contoso.test"], "text": "t",
        "attachments": [{"name": "big.bin", "content_type": "application/octet-stream", "content_base64": big}]
    })
}

#[test]
fn a_header_name_beyond_ascii_is_refused_not_sliced() {
    let mut b = json!({"from": "a@contoso.test", "to": ["b@contoso.test"], "text": "t"});
    for name in ["€€", "x€", "x-€", "€-x", "x-", "xé-a"] {
        b["headers"] = json!({ name: "v" });
        let err = parse(b.clone()).expect_err(name);
        assert!(
            matches!(&err, DomainError::InvalidField { field, .. } if *field == format!("headers.{name}")),
            "{err:?}"
        );
    }
    b["headers"] = json!({ "X-Job": "v" });
    assert!(parse(b).is_ok());
}

#[test]
fn headers_exchange_trusts_are_refused_in_any_case() {
    let mut b = json!({"from": "a@contoso.test", "to": ["b@contoso.test"], "text": "t"});
    for name in [
        "X-MS-Exchange-Organization-SCL",
        "x-ms-exchange-crosstenant-authas",
        "X-Forefront-Antispam-Report",
        "x-microsoft-antispam",
        "X-Microsoft-Antispam-Mailbox-Delivery",
    ] {
        b["headers"] = json!({ "x-job": "nightly", name: "-1" });
        let err = parse(b.clone()).expect_err(name);
        assert!(
            matches!(&err, DomainError::InvalidField { field, detail }
                if *field == format!("headers.{name}") && detail.contains("reserved")),
            "{err:?}"
        );
    }
    // Names that only look alike are the caller's own.
    b["headers"] = json!({ "X-Msg-Id": "1", "X-Microsoft-Teams": "2", "x-forefronted": "3" });
    assert!(parse(b).is_ok());
}

#[test]
fn the_subject_is_bounded_in_characters() {
    let mut b = json!({"from": "a@contoso.test", "to": ["b@contoso.test"], "text": "t"});
    b["subject"] = json!("é".repeat(MAX_SUBJECT_CHARS));
    assert!(parse(b.clone()).is_ok());
    b["subject"] = json!("é".repeat(MAX_SUBJECT_CHARS + 1));
    assert_eq!(field_of(b), "subject");
}

#[test]
fn over_graphs_request_limit_needs_large_messages_on() {
    let req = || serde_json::from_value::<SendRequest>(with_attachment(3_200_000)).expect("shape");
    let err = req().validate(Limits { large_messages: false, ..LIMITS }).expect_err("off");
    assert!(matches!(err, DomainError::MessageTooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("MAILGATE_LARGE_MESSAGES=true"), "{err}");
    assert!(req().validate(LIMITS).is_ok());
    let small = serde_json::from_value::<SendRequest>(with_attachment(2_000_000)).expect("shape");
    assert!(small.validate(Limits { large_messages: false, ..LIMITS }).is_ok(), "under 4 MB needs no setting");
}

#[test]
fn a_message_for_the_draft_path_cannot_stay_out_of_sent_items() {
    let mut b = with_attachment(3_200_000);
    b["save_to_sent_items"] = json!(false);
    let err = parse(b.clone()).expect_err("a draft's send keeps a copy");
    assert!(matches!(&err, DomainError::InvalidField { field, .. } if field == "save_to_sent_items"), "{err:?}");
    assert!(err.to_string().contains("Sent Items"), "{err}");
    b["save_to_sent_items"] = json!(true);
    assert!(parse(b).is_ok());
    // Under Graph's request limit it goes by sendMail, which honours it.
    let mut small = with_attachment(2_000_000);
    small["save_to_sent_items"] = json!(false);
    let m = parse(small).expect("sendMail keeps no copy");
    assert_eq!(m.graph_body["saveToSentItems"], false);
}

#[test]
fn both_bodies_over_graphs_request_are_refused_from_their_lengths() {
    let mut b = with_attachment(3_200_000);
    b["html"] = json!("<p>h</p>");
    let err = parse(b).expect_err("too large for one MIME request");
    assert!(matches!(&err, DomainError::MessageTooLarge { field, .. } if field == "attachments"), "{err:?}");
    assert!(err.to_string().contains("at least"), "{err}");
}

#[test]
fn refuses_a_message_over_the_size_limit_and_not_one_over_graphs_request_limit() {
    // Over Graph's 4 MB request limit: accepted, delivery goes through upload sessions.
    assert!(parse(with_attachment(3_200_000)).is_ok());
    let req: SendRequest = serde_json::from_value(with_attachment(3_200_000)).expect("shape");
    let err = req.validate(Limits { max_message_bytes: 3_000_000, ..LIMITS }).expect_err("too large");
    assert!(matches!(err, DomainError::MessageTooLarge { .. }), "{err:?}");
    // The body itself must fit one Graph request.
    let mut huge_text = with_attachment(10);
    huge_text["text"] = json!("x".repeat(GRAPH_MAX_REQUEST_BYTES));
    let err = parse(huge_text).expect_err("body too large");
    assert!(matches!(&err, DomainError::MessageTooLarge { field, .. } if field == "text"), "{err:?}");
}
