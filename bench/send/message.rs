//! The message every load sends: a small, realistic notification from a batch job (about 1 KB of JSON), as
//! mailgate's `POST /v1/messages` takes it and as Graph's `sendMail` takes it, from one of the app's mailboxes.
//! bench/send/accept.sql stores rows of the same sizes.

use serde_json::json;

pub const DOMAIN: &str = "bench.contoso.test";
/// The group the app's RestrictAccess policy is scoped to; every sending mailbox is a member.
pub const SCOPE_GROUP: &str = "bench-senders@bench.contoso.test";

pub fn mailbox(i: usize) -> String {
    format!("sender{i:03}@{DOMAIN}")
}

fn subject(n: u64) -> String {
    format!("Nightly export finished: orders, 48,213 rows (run {n})")
}

fn text(n: u64) -> String {
    format!(
        "The nightly export of the orders table finished at 02:14 UTC.\n\n\
         Rows exported: 48,213\nFile: orders-2026-11-29.csv.gz (3.1 MB)\nDuration: 4 min 12 s\n\n\
         The file is in the shared drive under Exports/Orders. Reply to this message if anything looks wrong; \
         the export runs again tomorrow night.\n\n-- Export service, run {n}"
    )
}

/// `POST /v1/messages`.
pub fn mailgate_body(n: u64, from: &str) -> Vec<u8> {
    let body = json!({
        "from": from,
        "to": [{"address": "data-team@example.com", "name": "Data team"}],
        "cc": ["ops@example.com"],
        "subject": subject(n),
        "text": text(n),
        "importance": "normal",
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `POST /v1.0/users/{mailbox}/sendMail`, what mailgate itself would send for the same message.
pub fn graph_body(n: u64) -> Vec<u8> {
    let body = json!({
        "message": {
            "subject": subject(n),
            "body": {"contentType": "Text", "content": text(n)},
            "toRecipients": [{"emailAddress": {"address": "data-team@example.com", "name": "Data team"}}],
            "ccRecipients": [{"emailAddress": {"address": "ops@example.com"}}],
            "importance": "normal",
        },
        "saveToSentItems": false,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}
