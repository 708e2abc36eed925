//! Fuzzes the MIME builder with messages that passed validation: whatever the names, subject, headers, bodies and
//! attachments, every line of the MIME is at most 998 octets, every header line folds within 78 where its tokens
//! allow, every encoded-word is at most 75 characters, and a MIME parser reads back the same recipients.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use mail_parser::MessageParser;
use mailgate::domain::message::{AttachmentInput, Limits, SendRequest};
use serde_json::{Value, json};

#[derive(Arbitrary, Debug)]
struct Input {
    to: Vec<(u16, Option<String>)>,
    cc: Vec<(u16, Option<String>)>,
    subject: String,
    headers: Vec<(String, String)>,
    text: String,
    html: String,
    attachments: Vec<(String, bool, Vec<u8>, Option<String>)>,
}

/// Valid addresses, so that what is fuzzed is everything around them.
fn people(list: &[(u16, Option<String>)]) -> Vec<Value> {
    list.iter().map(|(n, name)| json!({"address": format!("r{n}@example.com"), "name": name})).collect()
}

fuzz_target!(|input: Input| {
    let request = SendRequest {
        from: "notifications@contoso.test".to_owned(),
        to: people(&input.to),
        cc: people(&input.cc),
        bcc: Vec::new(),
        reply_to: Vec::new(),
        subject: input.subject,
        text: Some(input.text),
        html: Some(input.html),
        attachments: input
            .attachments
            .into_iter()
            .map(|(name, inline, bytes, content_id)| AttachmentInput {
                name,
                content_type: "application/octet-stream".to_owned(),
                content_base64: STANDARD.encode(bytes),
                inline,
                content_id,
            })
            .collect(),
        importance: None,
        headers: input.headers.into_iter().collect::<BTreeMap<_, _>>(),
        save_to_sent_items: None,
    };
    let expected: Vec<String> =
        request.to.iter().chain(&request.cc).filter_map(|r| r["address"].as_str().map(str::to_owned)).collect();
    let Ok(message) = request.validate(Limits { max_recipients: 500, max_message_bytes: 1 << 20, large_messages: false }) else {
        return;
    };
    let mime = STANDARD.decode(message.graph_body["mime"].as_str().expect("MIME")).expect("base64");
    let head_end = mime.windows(4).position(|w| w == b"\r\n\r\n").expect("a blank line ends the header");
    for line in mime.split(|&b| b == b'\n') {
        assert!(line.len() <= 999, "a line of {} octets", line.len());
    }
    for line in mime[..head_end].split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        for word in line.split([' ', '\r', '"']).filter(|w| w.starts_with("=?")) {
            assert!(word.len() <= 75, "encoded-word of {}: {word}", word.len());
        }
        // Only an address or a quoted display name can stand alone past 78.
        if line.len() > 79 {
            assert!(line.contains('@') || line.contains('"'), "unfolded header line: {line}");
        }
    }
    let parsed = MessageParser::default().parse(&mime).expect("parses");
    let mut read: Vec<String> = Vec::new();
    for list in [parsed.to(), parsed.cc()].into_iter().flatten() {
        read.extend(list.iter().filter_map(|a| a.address().map(str::to_owned)));
    }
    assert_eq!(read, expected);
});
