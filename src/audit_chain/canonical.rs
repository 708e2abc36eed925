//! The canonical bytes of an audit row: the exact input its link hashes. Fixed and versioned by this file; `verify`
//! and the sealer share it, and a column added to audit_events must be added here (a test compares the lists).
//!
//! Every column of audit_events, in table order, each as one field:
//! NULL is the single byte 0x00; a value is 0x01, its length as a 4-byte big-endian unsigned integer, then its bytes.
//! `id` is 8 bytes big-endian; `at` the microseconds since 1970-01-01T00:00:00Z (Postgres keeps microseconds) as
//! 8 bytes big-endian signed; uuids their 16 bytes; integers 4 bytes big-endian signed; text its UTF-8 bytes.
//! So NULL and the empty string differ, and no two rows share bytes.

use crate::db::audit_chain::ChainRow;

/// The columns, in the order they are serialized: every field of `ChainRow`, which `db::audit_chain::SELECT` reads.
pub const COLUMNS: [&str; 14] = [
    "id",
    "at",
    "outcome",
    "app_id",
    "app_name",
    "mailbox",
    "message_id",
    "attempt",
    "http_status",
    "graph_code",
    "graph_request_id",
    "latency_ms",
    "request_id",
    "detail",
];

/// The row's canonical bytes.
pub fn bytes(row: &ChainRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let micros = i64::try_from(row.at.unix_timestamp_nanos().div_euclid(1000)).unwrap_or(i64::MAX);
    field(&mut out, Some(row.id.to_be_bytes().as_slice()));
    field(&mut out, Some(micros.to_be_bytes().as_slice()));
    field(&mut out, Some(row.outcome.as_bytes()));
    field(&mut out, row.app_id.as_ref().map(|u| u.as_bytes().as_slice()));
    text(&mut out, &row.app_name);
    text(&mut out, &row.mailbox);
    field(&mut out, row.message_id.as_ref().map(|u| u.as_bytes().as_slice()));
    int(&mut out, row.attempt);
    int(&mut out, row.http_status);
    text(&mut out, &row.graph_code);
    text(&mut out, &row.graph_request_id);
    int(&mut out, row.latency_ms);
    text(&mut out, &row.request_id);
    text(&mut out, &row.detail);
    out
}

fn field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            // Text columns are far below 4 GiB (Postgres caps a value at 1 GB).
            out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(v);
        }
    }
}

fn text(out: &mut Vec<u8>, value: &Option<String>) {
    field(out, value.as_deref().map(str::as_bytes));
}

fn int(out: &mut Vec<u8>, value: Option<i32>) {
    field(out, value.map(i32::to_be_bytes).as_ref().map(<[u8; 4]>::as_slice));
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::db::audit_chain::SELECT;

    fn row() -> ChainRow {
        ChainRow {
            id: 7,
            at: OffsetDateTime::from_unix_timestamp_nanos(1_000_000_123_456_000).expect("time"),
            outcome: "sent".into(),
            app_id: None,
            app_name: Some(String::new()),
            mailbox: None,
            message_id: None,
            attempt: Some(1),
            http_status: None,
            graph_code: None,
            graph_request_id: None,
            latency_ms: None,
            request_id: None,
            detail: None,
        }
    }

    #[test]
    fn fields_are_length_prefixed_and_null_is_not_empty() {
        let encoded = bytes(&row());
        let mut want = vec![1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7];
        want.extend([1, 0, 0, 0, 8]);
        want.extend(1_000_000_123_456i64.to_be_bytes());
        want.extend([1, 0, 0, 0, 4, b's', b'e', b'n', b't']);
        want.extend([0, 1, 0, 0, 0, 0, 0, 0]); // app_id NULL, app_name '', mailbox NULL, message_id NULL
        want.extend([1, 0, 0, 0, 4, 0, 0, 0, 1]);
        want.extend([0; 6]); // http_status … detail NULL
        assert_eq!(encoded, want);
        let mut null_name = row();
        null_name.app_name = None;
        assert_ne!(bytes(&null_name), encoded);
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_bytes() {
        let mut a = row();
        a.graph_code = Some("ab".into());
        a.graph_request_id = Some("c".into());
        let mut b = row();
        b.graph_code = Some("a".into());
        b.graph_request_id = Some("bc".into());
        assert_ne!(bytes(&a), bytes(&b));
    }

    #[test]
    fn the_rows_are_read_with_every_column() {
        let read: Vec<&str> = SELECT.split(',').map(str::trim).collect();
        assert_eq!(read, COLUMNS);
    }
}
