//! The message as relayed: read with `mail-parser`, its headers brought in line with the SMTP envelope, since Graph
//! delivers to the recipients in the headers while SMTP delivers to the envelope.
//!
//! - The header `From` must name the envelope sender's mailbox (a message without one gets it).
//! - Envelope recipients missing from To/Cc go in as Bcc; To/Cc/Bcc addresses that are not envelope recipients are
//!   taken out (the original To and Cc are kept in `X-Mailgate-Original-To`/`-Cc`, which Graph delivers to no one),
//!   so nobody gets a copy the client did not ask for and a message split into several transactions is never
//!   delivered twice.
//! - `X-MS-Exchange-Organization-*`, `X-Forefront-*` and `X-Microsoft-Antispam*` are dropped: Exchange trusts them,
//!   and its own edge strips them from submissions it does not trust.
//!
//! Every other header, and the body, is kept byte for byte.

use std::collections::BTreeSet;

use mail_parser::{HeaderName, HeaderValue, MessageParser};

use crate::domain::mime::header;

/// Headers Exchange trusts from inside the organisation, never taken from a relayed message (lower-case prefixes).
const UNTRUSTED: &[&str] = &["x-ms-exchange-organization-", "x-forefront-", "x-microsoft-antispam"];

#[derive(Debug)]
pub struct Reconciled {
    pub mime: Vec<u8>,
    pub subject: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not a message mail-parser can read.
    Unreadable,
    /// The header From names another mailbox: (header's, envelope's).
    OtherSender { header: String, envelope: String },
}

/// `raw` as Graph should receive it. `sender` is the envelope sender's canonical mailbox address, `canonical`
/// resolves a name through the directory, `envelope` holds the recipients (lower-cased).
pub fn reconcile(
    raw: &[u8],
    sender: &str,
    canonical: impl Fn(&str) -> String,
    envelope: &[String],
) -> Result<Reconciled, Refused> {
    let message = MessageParser::default().parse(raw).ok_or(Refused::Unreadable)?;
    let root = message.root_part();
    let body_at = (root.offset_body as usize).min(raw.len());
    if let Some(from) = message.from() {
        let named = from.iter().filter_map(|a| a.address()).next().unwrap_or_default();
        if canonical(named) != sender.to_lowercase() {
            return Err(Refused::OtherSender { header: named.to_owned(), envelope: sender.to_owned() });
        }
    }
    let wanted: BTreeSet<&str> = envelope.iter().map(String::as_str).collect();
    let mut delivered = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len() + 256);
    if message.from().is_none() {
        header::field(&mut out, "From", header::addresses([(sender, None)]));
    }
    let mut bcc_kept: Vec<(String, Option<String>)> = Vec::new();
    for h in root.headers() {
        let field = &raw[(h.offset_field as usize).min(body_at)..(h.offset_end as usize).min(body_at)];
        let lower = h.name().to_ascii_lowercase();
        if UNTRUSTED.iter().any(|p| lower.starts_with(p)) {
            continue;
        }
        let kind = match h.name {
            HeaderName::To => "To",
            HeaderName::Cc => "Cc",
            HeaderName::Bcc => "Bcc",
            _ => {
                push_field(&mut out, field);
                continue;
            }
        };
        let list: Vec<(String, Option<String>)> = match &h.value {
            HeaderValue::Address(a) => {
                a.iter().filter_map(|a| Some((a.address()?.to_lowercase(), a.name().map(str::to_owned)))).collect()
            }
            _ => Vec::new(),
        };
        let kept: Vec<_> = list.iter().filter(|(a, _)| wanted.contains(a.as_str()) && !delivered.contains(a)).collect();
        delivered.extend(kept.iter().map(|(a, _)| a.clone()));
        if kind == "Bcc" {
            bcc_kept.extend(kept.into_iter().cloned());
            continue;
        }
        if kept.len() == list.len() {
            push_field(&mut out, field);
            continue;
        }
        // Kept for people to read, under a name Graph delivers to no one.
        out.extend_from_slice(format!("X-Mailgate-Original-{kind}:").as_bytes());
        push_field(&mut out, &field[(h.offset_start - h.offset_field) as usize..]);
        if !kept.is_empty() {
            header::field(&mut out, kind, header::addresses(kept.iter().map(|(a, n)| (a.as_str(), n.as_deref()))));
        }
    }
    let missing = envelope.iter().filter(|a| !delivered.contains(a.as_str())).map(|a| (a.clone(), None));
    bcc_kept.extend(missing);
    if !bcc_kept.is_empty() {
        header::field(&mut out, "Bcc", header::addresses(bcc_kept.iter().map(|(a, n)| (a.as_str(), n.as_deref()))));
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&raw[body_at..]);
    let subject = message.subject().unwrap_or_default().chars().take(255).collect();
    Ok(Reconciled { mime: out, subject })
}

/// A header field as it was, ending in CRLF.
fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(field);
    if !field.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str, envelope: &[&str]) -> Result<String, Refused> {
        let envelope: Vec<String> = envelope.iter().map(|s| (*s).to_owned()).collect();
        let alias = |n: &str| {
            if n.eq_ignore_ascii_case("alias@contoso.test") { "box@contoso.test".into() } else { n.to_lowercase() }
        };
        reconcile(raw.as_bytes(), "box@contoso.test", alias, &envelope)
            .map(|r| String::from_utf8(r.mime).expect("text"))
    }

    #[test]
    fn the_envelope_decides_who_receives_it() {
        let raw = "From: Box <Alias@contoso.test>\r\nTo: a@x.test, \"Not asked\" <b@x.test>\r\nCc: c@x.test\r\n\
                   Subject: Hi\r\nX-Forefront-Antispam-Report: SCL:-1\r\nX-MS-Exchange-Organization-SCL: -1\r\n\r\n\
                   Body\r\n.. not a dot\r\n";
        let out = run(raw, &["a@x.test", "c@x.test", "d@x.test"]).expect("relayed");
        assert!(out.starts_with("From: Box <Alias@contoso.test>\r\n"), "{out}");
        assert!(
            out.contains("X-Mailgate-Original-To: a@x.test, \"Not asked\" <b@x.test>\r\nTo: a@x.test\r\n"),
            "{out}"
        );
        assert!(out.contains("Cc: c@x.test\r\n"), "{out}");
        assert!(out.contains("Bcc: d@x.test\r\n\r\nBody\r\n.. not a dot\r\n"), "{out}");
        assert!(!out.contains("Forefront") && !out.contains("X-MS-Exchange"), "{out}");
    }

    #[test]
    fn a_missing_from_comes_from_the_envelope_and_another_sender_is_refused() {
        let out = run("To: a@x.test\r\nSubject: S\r\n\r\nB", &["a@x.test"]).expect("relayed");
        assert!(out.starts_with("From: box@contoso.test\r\nTo: a@x.test\r\n"), "{out}");
        let err = run("From: ceo@contoso.test\r\nTo: a@x.test\r\n\r\nB", &["a@x.test"]).expect_err("other sender");
        assert_eq!(
            err,
            Refused::OtherSender { header: "ceo@contoso.test".into(), envelope: "box@contoso.test".into() }
        );
    }

    #[test]
    fn bcc_keeps_only_envelope_recipients() {
        let out = run("From: box@contoso.test\r\nBcc: e@x.test, f@x.test\r\n\r\nB", &["e@x.test"]).expect("relayed");
        assert!(out.contains("Bcc: e@x.test\r\n\r\nB"), "{out}");
        assert!(!out.contains("f@x.test"), "{out}");
    }
}
