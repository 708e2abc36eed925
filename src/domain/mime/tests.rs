use mail_parser::{Address, MessageParser, MimeHeaders};

use super::*;

fn people(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let name = match i % 3 {
                0 => format!("Someone With A Rather Long Display Name Number {i} Of The Finance Department"),
                1 => format!("Zoë Ünterwëger-Øster, Büro Zürich, Abteilung für Rechnungswesen {i} 東京"),
                _ => format!("O'Brien \"Quoted\" {i}"),
            };
            (format!("recipient.number.{i}@subsidiary-{}.example.com", i % 7), name)
        })
        .collect()
}

fn recipients(list: &[(String, String)]) -> Vec<Recipient<'_>> {
    list.iter().map(|(a, n)| Recipient { address: a, name: Some(n) }).collect()
}

fn parsed_list(address: Option<&Address<'_>>) -> Vec<(String, String)> {
    address
        .map(|a| a.iter().map(|x| (x.address().unwrap_or("").to_owned(), x.name().unwrap_or("").to_owned())).collect())
        .unwrap_or_default()
}

#[test]
fn five_hundred_named_recipients_fold_within_the_line_limits_and_parse_back() {
    let to = people(500);
    let cc = people(3);
    let subject = "Relatório trimestral — Q3 résultats financiers et prévisions pour l'exercice 2027 🎉";
    let m = Message {
        from: Some("notifications@contoso.test"),
        to: recipients(&to),
        cc: recipients(&cc),
        subject,
        headers: vec![("x-job", "nightly run with a value long enough to need folding somewhere along the line")],
        text: "plain",
        html: "<p>rich</p>",
        ..Message::default()
    };
    let mime = build(m).expect("built");
    let text = String::from_utf8(mime.clone()).expect("utf-8");
    let head = text.split("\r\n\r\n").next().expect("headers");
    for line in text.split("\r\n") {
        assert!(line.len() <= 998, "a line of {} octets", line.len());
    }
    for line in head.split("\r\n") {
        assert!(line.len() <= header::FOLD_AT, "header line of {}: {line}", line.len());
    }
    for word in head.split([' ', '\t', '"', '\r', '\n']).filter(|w| w.starts_with("=?")) {
        assert!(word.len() <= 75 && word.ends_with("?="), "encoded-word {word}");
    }

    let parsed = MessageParser::default().parse(&mime).expect("parses");
    assert_eq!(parsed_list(parsed.to()), to);
    assert_eq!(parsed_list(parsed.cc()), cc);
    assert_eq!(parsed.subject(), Some(subject));
    assert_eq!(parsed.body_text(0).as_deref(), Some("plain"));
    assert_eq!(parsed.body_html(0).as_deref(), Some("<p>rich</p>"));
    // An unknown header comes back as written; unfolding it (RFC 5322 2.2.3) restores the value.
    let job = parsed.header("x-job").and_then(|h| h.as_text()).map(|v| v.replace("\r\n", ""));
    assert_eq!(job.as_deref(), Some("nightly run with a value long enough to need folding somewhere along the line"));
}

#[test]
fn attachments_keep_their_names_bytes_and_ids() {
    let long_name = format!("{} — Übersicht.pdf", "Quartalsbericht ".repeat(12));
    let m = Message {
        from: Some("notifications@contoso.test"),
        to: vec![Recipient { address: "a@example.com", name: None }],
        bcc: vec![Recipient { address: "b@example.com", name: Some("B") }],
        subject: "Report",
        importance: Some("high"),
        text: "plain",
        html: "<p>rich <img src=\"cid:logo\"></p>",
        attachments: vec![
            Attachment {
                name: &long_name,
                content_type: "application/pdf",
                content: (0..=255).collect(),
                inline: false,
                content_id: None,
            },
            Attachment {
                name: "logo.png",
                content_type: "image/png",
                content: vec![1, 2, 3],
                inline: true,
                content_id: Some("logo"),
            },
        ],
        ..Message::default()
    };
    let mime = build(m).expect("built");
    let text = String::from_utf8(mime.clone()).expect("utf-8");
    assert!(text.starts_with("From: notifications@contoso.test\r\nTo: a@example.com\r\nBcc: \"B\" <b@example.com>\r\nSubject: Report\r\nImportance: high\r\n"), "{text}");
    assert!(text.split("\r\n").all(|l| l.len() <= 998));
    let parsed = MessageParser::default().parse(&mime).expect("parses");
    let names: Vec<_> = parsed.attachments().map(|a| a.attachment_name().unwrap_or("").to_owned()).collect();
    assert_eq!(names, [long_name.as_str(), "logo.png"]);
    let bytes: Vec<_> = parsed.attachments().map(|a| a.contents().to_vec()).collect();
    assert_eq!(bytes, [(0..=255).collect::<Vec<u8>>(), vec![1, 2, 3]]);
    assert_eq!(parsed.attachments().nth(1).and_then(|a| a.content_id()), Some("logo"));
}
