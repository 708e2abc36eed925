//! The Graph body as Graph's SDKs and hand-written callers write it, and what mailgate refuses in it.

use super::*;

const LIMITS: Limits = Limits { max_recipients: 500, max_message_bytes: 1 << 20, large_messages: false };

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
    let req = to_send_request("shared@contoso.test", body.clone()).expect("reads");
    assert_eq!(req.request.html.as_deref(), Some("<b>x</b>"));
    assert_eq!(req.request.attachments[0].content_base64, "aGk=");
    assert_eq!(req.request.to[0]["name"], "A");
    let m = req.validate(LIMITS).expect("valid");
    assert_eq!(m.recipients, 1);
    assert_eq!(m.graph_body["saveToSentItems"], false);
}

/// What Microsoft's kiota-generated SDKs write: `Message`, `SaveToSentItems`, annotations, lower-case enums.
#[test]
fn reads_what_graph_sdks_write() {
    let body = json!({
        "Message": {
            "@odata.type": "#microsoft.graph.message",
            "Subject": "Hi",
            "body": {"@odata.type": "#microsoft.graph.itemBody", "contentType": "html", "content": "<p>x</p>"},
            "toRecipients": [{"@odata.type": "#microsoft.graph.recipient",
                "emailAddress": {"@odata.type": "#microsoft.graph.emailAddress", "address": "a@example.com"}}],
            "importance": "normal",
            "IsReadReceiptRequested": true,
            "attachments@odata.context": "x",
            "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentBytes": "aGk="}]
        },
        "SaveToSentItems": false
    });
    let m = to_send_request("shared@contoso.test", body.clone()).expect("reads").validate(LIMITS).expect("valid");
    let sent = &m.graph_body["message"];
    // The content moved out of the body under its Graph spellings, in any letter case.
    assert_eq!(sent["attachments"][0]["contentBytes"], "aGk=");
    assert_eq!(sent["body"], json!({"contentType": "HTML", "content": "<p>x</p>"}));
    assert_eq!(sent["importance"], "normal");
    assert_eq!(sent["isReadReceiptRequested"], true);
    assert_eq!(sent["toRecipients"], json!([{"emailAddress": {"address": "a@example.com"}}]));
    assert_eq!(m.graph_body["saveToSentItems"], false);
    assert!(!m.graph_body.to_string().contains("odata.context"), "annotations are not forwarded");
}

#[test]
fn from_and_sender_are_read_for_the_caller_to_check_and_forwarded_clean() {
    let body = json!({"message": {
        "toRecipients": [{"emailAddress": {"address": "a@example.com"}}],
        "from": {"emailAddress": {"address": "CEO@contoso.test", "name": "The CEO"}},
        "Sender": {"emailAddress": {"address": "shared@contoso.test"}}
    }});
    let g = to_send_request("shared@contoso.test", body.clone()).expect("reads");
    let named: Vec<_> = g.send_as.iter().map(|s| (s.field, s.address.as_str())).collect();
    assert_eq!(named, [("from", "ceo@contoso.test"), ("sender", "shared@contoso.test")]);
    let m = g.validate(LIMITS).expect("valid");
    assert_eq!(
        m.graph_body["message"]["from"],
        json!({"emailAddress": {"address": "ceo@contoso.test", "name": "The CEO"}})
    );
}

#[test]
fn refuses_what_graph_would_and_what_mailgate_cannot_honour() {
    let err = |b: Value| to_send_request("shared@contoso.test", b).expect_err("refused");
    let field = |b: Value| err(b).field().unwrap_or_default().to_owned();
    assert_eq!(field(json!({})), "message");
    assert_eq!(
        field(json!({"message": {"from": {"emailAddress": {"address": "not an address"}}}})),
        "message.from.emailAddress.address"
    );
    assert_eq!(field(json!({"message": {"internetMessageHeaders": []}})), "headers");
    assert_eq!(field(json!({"message": {"toRecipients": ["a@b.com"]}})), "message.toRecipients[0]");
    assert_eq!(field(json!({"message": {}, "saveToSentItems": "false"})), "saveToSentItems");
    assert_eq!(field(json!({"message": {"isReadReceiptRequested": "yes"}})), "message.isReadReceiptRequested");
    let item = json!({"message": {"attachments": [{"@odata.type": "#microsoft.graph.itemAttachment"}]}});
    assert_eq!(field(item), "message.attachments[0].@odata.type");
    for unmodelled in ["singleValueExtendedProperties", "multiValueExtendedProperties", "extensions", "categories"] {
        let e = err(json!({"message": {unmodelled: [{"id": "String 0x007D", "value": "x"}]}}));
        assert!(
            matches!(&e, DomainError::UnsupportedProperty { field, .. } if *field == format!("message.{unmodelled}")),
            "{e:?}"
        );
    }
    assert_eq!(
        field(json!({"message": {"toRecipients": [{"emailAddress": {"address": "a@b.com", "routingType": "EX"}}]}})),
        "message.toRecipients[0].emailAddress.routingType"
    );
    assert_eq!(field(json!({"message": {}, "transactionId": "x"})), "transactionId");
}

#[test]
fn validation_names_fields_as_the_graph_body_spells_them() {
    let body = json!({"message": {"toRecipients": [
        {"emailAddress": {"address": "a@example.com"}}, {"emailAddress": {"address": "not-an-address"}}]}});
    let e = to_send_request("shared@contoso.test", body.clone()).expect("reads").validate(LIMITS).expect_err("refused");
    assert_eq!(e.field(), Some("message.toRecipients[1].emailAddress.address"));
    assert_eq!(graph_field("attachments[0].content_base64"), "message.attachments[0].contentBytes");
    assert_eq!(graph_field("headers.x-a"), "headers.x-a");
}

#[test]
fn from_and_sender_names_are_bounded_like_every_display_name() {
    let body = |name: &str| {
        json!({"message": {
            "toRecipients": [{"emailAddress": {"address": "a@example.com"}}],
            "sender": {"emailAddress": {"address": "shared@contoso.test", "name": name}}
        }})
    };
    let longest = "n".repeat(MAX_NAME_CHARS);
    to_send_request("shared@contoso.test", body(&longest)).expect("256 characters are kept");
    let e = to_send_request("shared@contoso.test", body(&format!("{longest}n"))).expect_err("257 are refused");
    assert_eq!(e.field(), Some("message.sender.emailAddress.name"));
}

/// RFC 5322 lets an `x-` field repeat and Graph takes a list, so a repeated name is forwarded, each value checked.
#[test]
fn a_repeated_header_name_is_forwarded_as_given() {
    let body = |headers: Value| {
        json!({"message": {
            "toRecipients": [{"emailAddress": {"address": "a@example.com"}}],
            "internetMessageHeaders": headers
        }})
    };
    let list = json!([{"name": "X-0", "value": "a"}, {"name": "x-1", "value": "b"}, {"name": "X-0", "value": "c"}]);
    let m = to_send_request("shared@contoso.test", body(list.clone())).expect("reads").validate(LIMITS).expect("valid");
    assert_eq!(m.graph_body["message"]["internetMessageHeaders"], list);
    let bad = json!([{"name": "X-0", "value": "a\r\nBcc: x@example.com"}, {"name": "X-0", "value": "c"}]);
    let e = to_send_request("shared@contoso.test", body(bad)).expect_err("each value is checked");
    assert_eq!(e.field(), Some("headers.X-0"));
}
